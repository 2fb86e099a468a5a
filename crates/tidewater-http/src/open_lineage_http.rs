//! OpenLineage run events, POSTed as JSON to a lineage server (`[lineage] url`).

use std::sync::OnceLock;
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};
use tidewater_core::Timestamp;
use tidewater_runner::{LineageDataset, LineageEvent, LineageEventKind, LineageSink};

/// Who made the events: OpenLineage asks for a URI naming the producer and its version.
const PRODUCER: &str = concat!("urn:tidewater:", env!("CARGO_PKG_VERSION"));

/// The versions of the OpenLineage schemas the events follow (the spec's `$id`s; the tests
/// validate against these files, vendored in `crates/tidewater/tests/fixtures/openlineage/`).
const RUN_EVENT_SCHEMA: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
const NOMINAL_TIME_SCHEMA: &str =
    "https://openlineage.io/spec/facets/1-0-1/NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet";
const ERROR_MESSAGE_SCHEMA: &str = "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet";
const SQL_SCHEMA: &str =
    "https://openlineage.io/spec/facets/1-1-0/SQLJobFacet.json#/$defs/SQLJobFacet";
const JOB_TYPE_SCHEMA: &str =
    "https://openlineage.io/spec/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet";
const PARENT_SCHEMA: &str =
    "https://openlineage.io/spec/facets/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet";
const SYMLINKS_SCHEMA: &str = "https://openlineage.io/spec/facets/1-0-1/SymlinksDatasetFacet.json#/$defs/SymlinksDatasetFacet";

/// Sends lineage events to an OpenLineage HTTP endpoint (Marquez, or any server that takes
/// `POST` of a run event as JSON). One client serves every attempt, built at the first
/// event (as [`crate::HttpRunner`]'s is, for the same reason: reading the system's CA
/// certificates costs every command that never sends one).
pub struct OpenLineageHttp {
    url: String,
    namespace: String,
    timeout: Duration,
    client: OnceLock<Result<reqwest::Client, String>>,
}

impl OpenLineageHttp {
    /// Events go to `url` (checked when tidewater.toml was read) with jobs in `namespace`;
    /// each one is given up after `timeout`.
    pub fn new(url: String, namespace: String, timeout: Duration) -> OpenLineageHttp {
        OpenLineageHttp {
            url,
            namespace,
            timeout,
            client: OnceLock::new(),
        }
    }

    fn client(&self) -> Result<&reqwest::Client, String> {
        self.client
            .get_or_init(|| {
                reqwest::Client::builder()
                    .timeout(self.timeout)
                    .user_agent(concat!("tidewater/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|error| format!("cannot set up the HTTP client: {error}"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

#[async_trait::async_trait]
impl LineageSink for OpenLineageHttp {
    async fn send(&self, event: &LineageEvent) -> Result<(), String> {
        let body = RunEvent::new(event, &self.namespace);
        let response = self
            .client()?
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|error| {
                if error.is_timeout() {
                    format!("{} gave no answer within {:?}", self.url, self.timeout)
                } else {
                    format!("cannot reach {}: {}", self.url, error_chain(&error))
                }
            })?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("{} answered {status}", self.url))
        }
    }
}

/// An error and its causes, one after the other: reqwest's own message is only the top.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// OpenLineage's `RunEvent`, as much of it as Tidewater fills.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RunEvent<'a> {
    event_type: &'static str,
    event_time: Timestamp,
    producer: &'static str,
    #[serde(rename = "schemaURL")]
    schema_url: &'static str,
    run: Run<'a>,
    job: Job<'a>,
    inputs: Vec<Dataset<'a>>,
    outputs: Vec<Dataset<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run<'a> {
    run_id: String,
    facets: RunFacets<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RunFacets<'a> {
    nominal_time: NominalTime,
    /// The workflow run the task's attempt belongs to, so that a lineage server groups a
    /// run's tasks under it (as Airflow's integration does with its DAG run).
    parent: Parent<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<ErrorMessage>,
}

/// The fields every facet carries: who made it and which schema it follows.
#[derive(Serialize)]
struct FacetHeader {
    #[serde(rename = "_producer")]
    producer: &'static str,
    #[serde(rename = "_schemaURL")]
    schema_url: &'static str,
}

impl FacetHeader {
    fn new(schema_url: &'static str) -> FacetHeader {
        FacetHeader {
            producer: PRODUCER,
            schema_url,
        }
    }
}

/// The workflow run of an attempt: its own id and its job, the workflow.
#[derive(Serialize)]
struct Parent<'a> {
    #[serde(flatten)]
    header: FacetHeader,
    run: ParentRun,
    job: ParentJob<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ParentRun {
    run_id: String,
}

#[derive(Serialize)]
struct ParentJob<'a> {
    namespace: &'a str,
    name: String,
}

/// The run's data interval.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NominalTime {
    #[serde(flatten)]
    header: FacetHeader,
    nominal_start_time: Timestamp,
    nominal_end_time: Timestamp,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorMessage {
    #[serde(flatten)]
    header: FacetHeader,
    message: String,
    /// Required by the facet; the failure is Tidewater's (or DataFusion's), both Rust.
    programming_language: &'static str,
}

#[derive(Serialize)]
struct Job<'a> {
    namespace: &'a str,
    /// `workflow.task`.
    name: String,
    facets: JobFacets<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JobFacets<'a> {
    sql: Sql<'a>,
    job_type: JobType,
}

#[derive(Serialize)]
struct Sql<'a> {
    #[serde(flatten)]
    header: FacetHeader,
    query: &'a str,
    dialect: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JobType {
    #[serde(flatten)]
    header: FacetHeader,
    processing_type: &'static str,
    integration: &'static str,
    job_type: &'static str,
}

#[derive(Serialize)]
struct Dataset<'a> {
    namespace: &'a str,
    name: &'a str,
    facets: DatasetFacets<'a>,
}

#[derive(Serialize)]
struct DatasetFacets<'a> {
    /// The table's name in the warehouse, `schema.table`, beside its location.
    symlinks: Symlinks<'a>,
}

#[derive(Serialize)]
struct Symlinks<'a> {
    #[serde(flatten)]
    header: FacetHeader,
    identifiers: [SymlinkIdentifier<'a>; 1],
}

#[derive(Serialize)]
struct SymlinkIdentifier<'a> {
    namespace: &'a str,
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
}

impl<'a> RunEvent<'a> {
    fn new(event: &'a LineageEvent, namespace: &'a str) -> RunEvent<'a> {
        let attempt = &event.attempt;
        let (event_type, error_message) = match &event.kind {
            LineageEventKind::Start => ("START", None),
            LineageEventKind::Complete => ("COMPLETE", None),
            LineageEventKind::Abort => ("ABORT", None),
            LineageEventKind::Fail { message } => (
                "FAIL",
                Some(ErrorMessage {
                    header: FacetHeader::new(ERROR_MESSAGE_SCHEMA),
                    message: message.clone(),
                    programming_language: "Rust",
                }),
            ),
        };
        let datasets = |datasets: &'a [LineageDataset]| {
            datasets
                .iter()
                .map(|dataset| Dataset {
                    namespace: &dataset.namespace,
                    name: &dataset.name,
                    facets: DatasetFacets {
                        symlinks: Symlinks {
                            header: FacetHeader::new(SYMLINKS_SCHEMA),
                            identifiers: [SymlinkIdentifier {
                                namespace: &dataset.warehouse,
                                name: dataset.table.to_string(),
                                kind: "TABLE",
                            }],
                        },
                    },
                })
                .collect::<Vec<_>>()
        };
        RunEvent {
            event_type,
            event_time: event.event_time,
            producer: PRODUCER,
            schema_url: RUN_EVENT_SCHEMA,
            run: Run {
                run_id: run_id(namespace, event),
                facets: RunFacets {
                    nominal_time: NominalTime {
                        header: FacetHeader::new(NOMINAL_TIME_SCHEMA),
                        nominal_start_time: attempt.interval.start,
                        nominal_end_time: attempt.interval.end,
                    },
                    error_message,
                    parent: Parent {
                        header: FacetHeader::new(PARENT_SCHEMA),
                        run: ParentRun {
                            run_id: workflow_run_id(namespace, event),
                        },
                        job: ParentJob {
                            namespace,
                            name: attempt.workflow.to_string(),
                        },
                    },
                },
            },
            job: Job {
                namespace,
                name: format!("{}.{}", attempt.workflow, attempt.task),
                facets: JobFacets {
                    sql: Sql {
                        header: FacetHeader::new(SQL_SCHEMA),
                        query: &event.sql,
                        dialect: "datafusion",
                    },
                    job_type: JobType {
                        header: FacetHeader::new(JOB_TYPE_SCHEMA),
                        processing_type: "BATCH",
                        integration: "TIDEWATER",
                        job_type: "TASK",
                    },
                },
            },
            inputs: datasets(&event.inputs),
            outputs: datasets(&event.outputs),
        }
    }
}

/// The attempt's OpenLineage run id: a UUIDv7 (the spec's recommendation: ids sort by
/// time) whose time is the attempt's start and whose other bits are a hash of the
/// attempt's identity. The start and end events of an attempt compute the same id without
/// sharing state, and two attempts (or two projects' runs with the same number) never do.
fn run_id(namespace: &str, event: &LineageEvent) -> String {
    let attempt = &event.attempt;
    let identity = format!(
        "{namespace}\0{}\0{}\0{}\0{}",
        attempt.workflow, attempt.run_id, attempt.task, attempt.attempt
    );
    let digest = Sha256::digest(identity.as_bytes());
    let mut bits = [0; 10];
    bits.copy_from_slice(&digest[..10]);
    let millis = u64::try_from(attempt.started_at.timestamp_millis()).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &bits)
        .into_uuid()
        .to_string()
}

/// The OpenLineage run id of the workflow run an attempt belongs to: the same for every
/// attempt of every task of the run, computed alike without shared state: a UUIDv7 whose
/// time is the run's data interval start and whose other bits are a hash of the run's identity.
fn workflow_run_id(namespace: &str, event: &LineageEvent) -> String {
    let attempt = &event.attempt;
    let identity = format!("{namespace}\0{}\0{}", attempt.workflow, attempt.run_id);
    let digest = Sha256::digest(identity.as_bytes());
    let mut bits = [0; 10];
    bits.copy_from_slice(&digest[..10]);
    let millis = u64::try_from(attempt.interval.start.timestamp_millis()).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &bits)
        .into_uuid()
        .to_string()
}
