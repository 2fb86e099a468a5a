//! Schemathesis (PyPI) against a real `tidewater server` on loopback: requests generated from
//! the OpenAPI document, and every answer checked against it (issue 17, "Checked by").
//!
//! Ignored by the README's `cargo test`, as it needs `schemathesis` installed; `.ci/run`
//! installs a pinned version and runs it with `--ignored`. The project is a throwaway one in
//! a temporary folder, and the server listens on 127.0.0.1 only: the generated requests
//! (runs triggered, backfills, cancels, pauses) reach nothing else. Its tasks only `echo`,
//! and its backfills are capped at a few intervals.

use std::process::Command;

use crate::api_client::Api;
use crate::project::{TestProject, text};
use crate::service::{eventually, runs, start_server, stop_server};

const DAILY: &str = r#"
schedule: "0 0 * * *"
timezone: UTC
params:
  region: eu
tasks:
  first:
    sh: echo "first {{ ds }} {{ params.region }}"
  numbers:
    needs: [first]
    sql: SELECT CAST(1 AS BIGINT) AS id
    into: { table: raw.numbers, partition: { dt: "{{ ds }}" } }
"#;

/// The checks that hold an answer to the document: no 5xx, documented statuses, content
/// types, headers and bodies. Left out: `positive_data_acceptance` and
/// `negative_data_rejection`, which take the document's schemas as the whole of what a
/// request may be, while a date, a range (`from` before `to`) or an interval is checked by
/// the use case, with a 4xx problem the document names.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_headers_conformance,response_schema_conformance";

#[test]
#[ignore = "needs schemathesis from PyPI; .ci/run installs it and runs this with --ignored"]
fn schemathesis_finds_no_server_error_and_no_answer_that_differs_from_the_document() {
    let project = TestProject::new("[backfill]\nmax_intervals = 5\n", &[("daily.yaml", DAILY)]);
    let server = start_server(&project);
    let api = Api::of(&project);
    // The scheduled run of the latest interval, so that runs, logs and a table exist.
    eventually("the scheduled run to succeed", || {
        runs(&project)
            .first()
            .filter(|run| run["state"] == "succeeded")
            .map(|_| ())
    });
    let output = Command::new("python3")
        .args(["-m", "schemathesis.cli", "run"])
        .arg(format!("http://127.0.0.1:{}/api/v1/openapi.json", api.port))
        .args([
            "--checks",
            CHECKS,
            // Bounded: about a minute on 2 cores, and the same requests every time.
            "--max-examples",
            "20",
            "--max-time",
            "90",
            "--seed",
            "1",
            "--request-timeout",
            "10",
            "--workers",
            "1",
            "--no-color",
        ])
        // Hypothesis keeps its database in the working folder: the throwaway project's.
        .current_dir(project.root())
        .output()
        .expect("schemathesis runs: `python3 -m pip install schemathesis==4.32.5`");
    stop_server(server);
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
}
