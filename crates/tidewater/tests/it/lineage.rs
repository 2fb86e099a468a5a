//! `[lineage]`: OpenLineage run events of `sql` tasks, received by a capture server on
//! loopback and validated against the official OpenLineage JSON schemas.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::http_tasks::{Reply, TestServer};
use crate::project::{TestProject, python_script, text};

/// `load` reads a CSV file (no table) and writes `raw.orders`; `summarise` reads it and
/// writes `mart.daily`; `broken` reads both and fails while running its query.
const ORDERS: &str = r#"
tasks:
  load:
    sql: SELECT id, amount FROM read_csv('input/orders.csv')
    into: { table: raw.orders, partition: { dt: "{{ ds }}" } }
  summarise:
    needs: [load]
    sql: SELECT COUNT(*) AS orders, SUM(amount) AS amount FROM raw.orders WHERE dt = '{{ ds }}'
    into: { table: mart.daily, partition: { dt: "{{ ds }}" } }
  broken:
    needs: [summarise]
    sql: SELECT o.id, CAST('not a number' AS BIGINT) AS n FROM raw.orders o JOIN mart.daily d ON o.dt = d.dt
    into: { table: mart.broken }
"#;

fn orders_project(lineage: &str) -> TestProject {
    let project = TestProject::new(lineage, &[("orders.yaml", ORDERS)]);
    std::fs::create_dir_all(project.path("input")).expect("mkdir input");
    std::fs::write(project.path("input/orders.csv"), "id,amount\n1,10\n2,32\n")
        .expect("write the input");
    project
}

/// The JSON bodies of the requests the server received, each checked to be a POST of JSON
/// to `path`.
fn events(server: &TestServer, path: &str) -> Vec<Value> {
    server
        .requests()
        .iter()
        .map(|request| {
            assert!(
                request.starts_with(&format!("POST {path} HTTP/1.1\r\n")),
                "{request}"
            );
            assert!(
                request
                    .to_lowercase()
                    .contains("content-type: application/json"),
                "{request}"
            );
            let body = request.split("\r\n\r\n").nth(1).expect("a body");
            serde_json::from_str(body).unwrap_or_else(|error| panic!("{error}: {body}"))
        })
        .collect()
}

/// Validates `events` with `tests/validate_openlineage.py` (Python's `jsonschema` against
/// the vendored OpenLineage schemas, every facet included).
fn assert_valid_openlineage(events: &[Value]) {
    let output = python_script(
        "validate_openlineage.py",
        &serde_json::to_vec(events).expect("JSON"),
    );
    assert!(
        output.status.success(),
        "the events follow the OpenLineage schemas (`python3 -m pip install \
         jsonschema==4.26.0`):\n{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// `(namespace, name, symlinked table name)` of each dataset of `side` of `event`.
fn datasets(event: &Value, side: &str) -> Vec<(String, String, String)> {
    event[side]
        .as_array()
        .unwrap_or_else(|| panic!("{side}: {event}"))
        .iter()
        .map(|dataset| {
            let symlinks = dataset["facets"]["symlinks"]["identifiers"]
                .as_array()
                .expect("symlinks");
            assert_eq!(symlinks.len(), 1, "{dataset}");
            (
                dataset["namespace"].as_str().expect("namespace").to_owned(),
                dataset["name"].as_str().expect("name").to_owned(),
                symlinks[0]["name"].as_str().expect("table").to_owned(),
            )
        })
        .collect()
}

#[test]
fn sql_attempts_send_start_and_complete_or_fail_with_the_tables_they_read_and_wrote() {
    let server = TestServer::start(vec![Reply::Status(201, String::new())]);
    let project = orders_project(&format!(
        "[lineage]\nurl = \"{}\"\nnamespace = \"analytics\"\n",
        server.url("")
    ));
    let output = project.run(&["run", "orders", "--date", "2026-01-03"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));

    let events = events(&server, "/api/v1/lineage");
    assert_valid_openlineage(&events);
    let summary: Vec<(String, String)> = events
        .iter()
        .map(|event| {
            (
                event["job"]["name"].as_str().expect("job name").to_owned(),
                event["eventType"].as_str().expect("type").to_owned(),
            )
        })
        .collect();
    let pairs = |job: &str| -> Vec<&str> {
        summary
            .iter()
            .filter(|(name, _)| name == job)
            .map(|(_, kind)| kind.as_str())
            .collect()
    };
    assert_eq!(pairs("orders.load"), ["START", "COMPLETE"], "{summary:?}");
    assert_eq!(
        pairs("orders.summarise"),
        ["START", "COMPLETE"],
        "{summary:?}"
    );
    assert_eq!(pairs("orders.broken"), ["START", "FAIL"], "{summary:?}");
    assert_eq!(events.len(), 6, "{summary:?}");

    let warehouse = project
        .path("warehouse")
        .canonicalize()
        .expect("the warehouse exists")
        .display()
        .to_string();
    let dataset = |table: &str| {
        (
            "file".to_owned(),
            format!("{warehouse}/{}", table.replace('.', "/")),
            table.to_owned(),
        )
    };
    let of_job = |job: &str| -> Vec<&Value> {
        events
            .iter()
            .filter(|event| event["job"]["name"] == job)
            .collect()
    };
    let expected = [
        ("orders.load", vec![], vec![dataset("raw.orders")]),
        (
            "orders.summarise",
            vec![dataset("raw.orders")],
            vec![dataset("mart.daily")],
        ),
        (
            "orders.broken",
            vec![dataset("mart.daily"), dataset("raw.orders")],
            vec![dataset("mart.broken")],
        ),
    ];
    let mut run_ids = Vec::new();
    let mut parents = Vec::new();
    for (job, inputs, outputs) in &expected {
        let [start, end] = of_job(job)[..] else {
            panic!("two events of {job}: {summary:?}");
        };
        for event in [start, end] {
            assert_eq!(&datasets(event, "inputs"), inputs, "{job}: {event}");
            assert_eq!(&datasets(event, "outputs"), outputs, "{job}: {event}");
            assert_eq!(event["job"]["namespace"], "analytics", "{event}");
            assert_eq!(
                event["run"]["facets"]["nominalTime"]["nominalStartTime"],
                "2026-01-03T00:00:00Z"
            );
            assert_eq!(
                event["run"]["facets"]["nominalTime"]["nominalEndTime"],
                "2026-01-04T00:00:00Z"
            );
            for dataset in event["outputs"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(event["inputs"].as_array().into_iter().flatten())
            {
                assert_eq!(
                    dataset["facets"]["symlinks"]["identifiers"][0]["namespace"],
                    format!("file://{warehouse}"),
                    "{dataset}"
                );
            }
        }
        // The workflow run is the parent of every attempt of its tasks.
        assert_eq!(
            event_parent(start),
            event_parent(end),
            "{job}: one parent for an attempt's events"
        );
        assert_eq!(start["run"]["facets"]["parent"]["job"]["name"], "orders");
        parents.push(event_parent(start));
        // One run id per attempt: its start and its end share it.
        assert_eq!(start["run"]["runId"], end["run"]["runId"], "{job}");
        let run_id = start["run"]["runId"].as_str().expect("run id").to_owned();
        assert_eq!(
            run_id.chars().nth(14),
            Some('7'),
            "a UUIDv7, as OpenLineage recommends: {run_id}"
        );
        run_ids.push(run_id);
    }
    run_ids.sort();
    run_ids.dedup();
    assert_eq!(run_ids.len(), 3, "each attempt has its own run id");
    parents.dedup();
    assert_eq!(
        parents.len(),
        1,
        "the tasks of one run share their parent: {parents:?}"
    );
    assert!(
        !run_ids.contains(&parents[0]),
        "the parent is not one of the attempts"
    );

    // The SQL facet is the query as it ran, templates rendered.
    let summarise = of_job("orders.summarise")[0];
    assert_eq!(
        summarise["job"]["facets"]["sql"]["query"],
        "SELECT COUNT(*) AS orders, SUM(amount) AS amount FROM raw.orders WHERE dt = '2026-01-03'"
    );
    let failed = of_job("orders.broken")[1];
    let message = failed["run"]["facets"]["errorMessage"]["message"]
        .as_str()
        .expect("the failure's message");
    assert!(message.contains("not a number"), "{message}");
    assert!(
        of_job("orders.load")[1]["run"]["facets"]
            .get("errorMessage")
            .is_none(),
        "a completed attempt has no error"
    );
}

/// A lineage server that accepts the connection and never answers must neither fail the
/// task nor hold it for long: each event is given up after `[lineage] timeout`, and the
/// attempt's log says so.
#[test]
fn a_lineage_server_that_never_answers_is_given_up_without_failing_the_task() {
    let server = TestServer::start(vec![Reply::Hang]);
    let project = TestProject::new(
        &format!(
            "[lineage]\nurl = \"{}\"\ntimeout = \"1s\"\n",
            server.url("/collect")
        ),
        &[(
            "numbers.yaml",
            "tasks:\n  count:\n    sql: SELECT 1 AS one\n    into: { table: raw.numbers }\n",
        )],
    );
    let started = Instant::now();
    let output = project.run(&["run", "numbers"]);
    let elapsed = started.elapsed();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    // Two events of at most a second each; a generous bound that a held task (the default
    // HTTP client waits forever) would break.
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");
    let events = events(&server, "/collect");
    assert_eq!(events.len(), 2, "START and COMPLETE were both tried");

    let log = text(&project.run(&["logs", "1", "count"]).stdout);
    assert!(
        log.contains("lineage: the START event was not delivered")
            && log.contains("gave no answer within 1s"),
        "{log}"
    );
    assert!(
        log.contains("lineage: the COMPLETE event was not delivered"),
        "{log}"
    );
}

/// A lineage URL that is no http URL is refused where it is written, before anything runs.
#[test]
fn a_malformed_lineage_url_is_refused_at_its_line_in_tidewater_toml() {
    for (url, says) in [
        ("not a url", "is not a URL"),
        ("ftp://127.0.0.1/lineage", "is not an http or https URL"),
    ] {
        let project = TestProject::new(
            &format!("parallelism = 2\n[lineage]\nurl = \"{url}\"\n"),
            &[(
                "numbers.yaml",
                "tasks:\n  count:\n    sql: SELECT 1 AS one\n",
            )],
        );
        // `validate` answers 1 for a project with problems; a command that cannot start, 2.
        for (args, code) in [(&["validate"][..], 1), (&["run", "numbers"], 2)] {
            let output = project.run(args);
            let stderr = text(&output.stderr);
            assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
            assert!(stderr.contains(says), "{args:?}: {stderr}");
            assert!(stderr.contains("tidewater.toml:3:7"), "{args:?}: {stderr}");
        }
        assert!(!project.path(".tidewater").exists(), "nothing ran");
    }
    let missing = TestProject::new("[lineage]\nnamespace = \"analytics\"\n", &[]);
    let output = missing.run(&["validate"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("`url`") && stderr.contains("tidewater.toml:1"),
        "{stderr}"
    );
}

/// The run id of an event's `parent` facet.
fn event_parent(event: &serde_json::Value) -> String {
    event["run"]["facets"]["parent"]["run"]["runId"]
        .as_str()
        .expect("a parent run id")
        .to_owned()
}
