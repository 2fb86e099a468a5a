//! `sql` tasks: the query on the warehouse, its rows written as `into` says.

use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::record_batch::RecordBatch;

use tidewater_core::{FailureClass, SqlAction, SqlText};
use tidewater_runner::{AttemptReporter, LineageSink, StartRequest, StartedAttempt, TaskRunner};

use crate::attempt_work::AttemptWork;
use crate::sql_lineage::SqlLineage;
use crate::{
    CommitInfo, FlowError, OutputFormat, RemoteEngines, Warehouse, WriteOutcome, WriteSpec,
    format_batches,
};

/// How many rows of a query without `into` go to the log.
const LOGGED_ROWS: usize = 20;

/// Runs `sql` tasks: the query on the warehouse, its rows written as `into` says.
pub struct SqlRunner {
    warehouse: Arc<Warehouse>,
    lineage: Option<Arc<dyn LineageSink>>,
    /// Where tasks with `engine: NAME` run; `None` in a build without a cluster client.
    engines: Option<Arc<dyn RemoteEngines>>,
}

impl SqlRunner {
    pub fn new(warehouse: Arc<Warehouse>) -> SqlRunner {
        SqlRunner {
            warehouse,
            lineage: None,
            engines: None,
        }
    }

    /// Runs the tasks that name an `engine` on `engines` (`tidewater-ballista`). Without
    /// it such a task fails with [`FlowError::EngineNotBuilt`].
    pub fn with_engines(mut self, engines: Arc<dyn RemoteEngines>) -> SqlRunner {
        self.engines = Some(engines);
        self
    }

    /// Sends each attempt's start and end, with the tables it reads and writes, to `sink`
    /// (`[lineage]`). An attempt that cannot start (its SQL file missing, a template that
    /// does not render) sends nothing: it has no query, and it read and wrote nothing.
    pub fn with_lineage(mut self, sink: Arc<dyn LineageSink>) -> SqlRunner {
        self.lineage = Some(sink);
        self
    }
}

impl TaskRunner<SqlAction> for SqlRunner {
    fn start(
        &self,
        action: &SqlAction,
        request: StartRequest<'_>,
        reporter: AttemptReporter,
    ) -> StartedAttempt {
        let Some(prepared) = AttemptWork::new(&request, reporter) else {
            return StartedAttempt::finished();
        };
        let text = match &action.sql {
            SqlText::Inline(text) => text.clone(),
            SqlText::File(path) => match std::fs::read_to_string(request.project_root.join(path)) {
                Ok(text) => text,
                Err(error) => {
                    // A file the task names that is not there is the project's mistake;
                    // any other error reading it is the machine's.
                    let class = if error.kind() == std::io::ErrorKind::NotFound {
                        FailureClass::Input
                    } else {
                        FailureClass::Environment
                    };
                    prepared.fail_now(class, format!("cannot read {path}: {error}"));
                    return StartedAttempt::finished();
                }
            },
        };
        let sql = match request.template.render(&text) {
            Ok(sql) => sql,
            Err(error) => {
                prepared.fail_now(
                    FailureClass::Input,
                    format!("cannot render the SQL template: {error}"),
                );
                return StartedAttempt::finished();
            }
        };
        let target = match &action.into {
            None => None,
            Some(into) => match write_spec(into, &request) {
                Ok(spec) => Some(spec),
                Err(message) => {
                    prepared.fail_now(FailureClass::Input, message);
                    return StartedAttempt::finished();
                }
            },
        };
        let commit = CommitInfo {
            workflow: request.template.workflow.to_string(),
            run_id: request.template.run_id.0,
            task: request.task.name.to_string(),
            attempt: request.attempt.0,
        };
        prepared
            .log
            .note(format!("attempt {}: sql\n{sql}", request.attempt));
        if let Some(spec) = &target {
            let partition: Vec<String> = spec
                .partition
                .iter()
                .map(|(column, value)| format!("{column} = {value}"))
                .collect();
            prepared.log.note(format!(
                "into {} ({}{})",
                spec.table,
                spec.mode.as_str(),
                if partition.is_empty() {
                    String::new()
                } else {
                    format!(", partition {}", partition.join(", "))
                }
            ));
        }
        let lineage = self.lineage.clone().map(|sink| {
            let output = target.as_ref().map(|spec| &spec.table);
            SqlLineage::new(sink, &self.warehouse, &request, &sql, output)
        });
        let warehouse = self.warehouse.clone();
        let engine = action
            .engine
            .clone()
            .map(|name| (name, self.engines.clone()));
        if let Some((name, _)) = &engine {
            prepared.log.note(format!("on engine {name}"));
        }
        prepared.with_lineage(lineage).spawn(async move {
            let started = Instant::now();
            match target {
                Some(spec) => match &engine {
                    None => warehouse.write(&sql, &spec, &commit).await,
                    Some((name, Some(engines))) => {
                        engines.write(&warehouse, name, &sql, &spec, &commit).await
                    }
                    Some((name, None)) => Err(FlowError::EngineNotBuilt {
                        engine: name.to_string(),
                    }),
                }
                .map(|summary| {
                    let output = match summary.outcome {
                        WriteOutcome::Committed {
                            version,
                            rows_written,
                            files_added,
                            files_removed,
                            commit_attempts,
                        } => {
                            serde_json::json!({
                                "table": summary.table.to_string(),
                                "mode": summary.mode.as_str(),
                                "version": version,
                                "rows_written": rows_written,
                                "files_added": files_added,
                                "files_removed": files_removed,
                                "commit_attempts": commit_attempts,
                            })
                        }
                        WriteOutcome::AlreadyCommitted { attempt } => serde_json::json!({
                            "table": summary.table.to_string(),
                            "mode": summary.mode.as_str(),
                            "already_committed_by_attempt": attempt,
                            "rows_written": 0,
                        }),
                    };
                    (
                        format!(
                            "committed in {:.3}s: {output}",
                            started.elapsed().as_secs_f64()
                        ),
                        output,
                    )
                }),
                None => match &engine {
                    None => warehouse.query(&sql).await,
                    Some((name, Some(engines))) => engines.query(&warehouse, name, &sql).await,
                    Some((name, None)) => Err(FlowError::EngineNotBuilt {
                        engine: name.to_string(),
                    }),
                }
                .and_then(|batches| {
                    let rows: usize = batches.iter().map(|batch| batch.num_rows()).sum();
                    let table = format_batches(&first_rows(&batches), OutputFormat::Table)?;
                    let shown = if rows > LOGGED_ROWS {
                        format!(" (the first {LOGGED_ROWS} shown)")
                    } else {
                        String::new()
                    };
                    Ok((
                        format!(
                            "{rows} rows in {:.3}s{shown}\n{table}",
                            started.elapsed().as_secs_f64()
                        ),
                        serde_json::json!({ "rows": rows }),
                    ))
                }),
            }
        })
    }
}

/// The first [`LOGGED_ROWS`] rows of `batches`, however they are split into batches.
fn first_rows(batches: &[RecordBatch]) -> Vec<RecordBatch> {
    let mut left = LOGGED_ROWS;
    let mut shown = Vec::new();
    for batch in batches {
        if left == 0 {
            break;
        }
        let taken = batch.num_rows().min(left);
        shown.push(batch.slice(0, taken));
        left -= taken;
    }
    shown
}

fn write_spec(
    into: &tidewater_core::SqlTarget,
    request: &StartRequest<'_>,
) -> Result<WriteSpec, String> {
    let table = into.table.clone();
    let partition = into
        .partition
        .iter()
        .map(|(column, template)| {
            request
                .template
                .render(template)
                .map(|value| (column.clone(), value))
                .map_err(|error| {
                    format!("cannot render the partition value of `{column}`: {error}")
                })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(WriteSpec {
        table,
        partition,
        mode: into.mode,
        keys: into.keys.clone(),
        schema_policy: into.schema,
    })
}
