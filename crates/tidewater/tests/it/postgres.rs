//! A project whose store is PostgreSQL (`[store] url = "postgres://…"`, `schema = …`): runs
//! executed there, a SQLite history copied there with `tidewater store migrate-from-sqlite`,
//! a stream's owner, pause and commits kept there, and the errors of a store that cannot be
//! opened. Against the machine's PostgreSQL
//! (127.0.0.1:5432, trust auth; `TIDEWATER_TEST_POSTGRES_URL` names another), each test in a
//! schema of its own, read back with `psql` as an independent client. A server that cannot
//! be reached fails these tests; they are never skipped.

use std::process::Command;

use crate::project::{TestProject, text};
use crate::streams::{TestStream, order, stream_status};

pub(crate) fn test_url() -> String {
    std::env::var("TIDEWATER_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A schema of the test's own, dropped when it ends.
pub(crate) struct Schema(pub(crate) String);

impl Schema {
    pub(crate) fn new(purpose: &str) -> Schema {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
        Schema(format!("tw_e2e_{purpose}_{}_{nanos}", std::process::id()))
    }

    /// `tidewater.toml` of a project kept in this schema.
    pub(crate) fn toml(&self) -> String {
        format!(
            "[store]\nurl = \"{}\"\nschema = \"{}\"\n",
            test_url(),
            self.0
        )
    }

    /// One value `psql` reads from this schema.
    pub(crate) fn query(&self, sql: &str) -> String {
        let output = Command::new("psql")
            .args(["--no-psqlrc", "-At", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(test_url())
            .arg("-c")
            .arg(sql)
            .env("PGOPTIONS", format!("-csearch_path={}", self.0))
            .output()
            .expect("psql runs (Debian's postgresql-client)");
        assert!(
            output.status.success(),
            "psql failed on the PostgreSQL at {}: {}",
            test_url(),
            text(&output.stderr)
        );
        text(&output.stdout).trim().to_owned()
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args(["--no-psqlrc", "-q", "-d"])
            .arg(test_url())
            .arg("-c")
            .arg(format!("DROP SCHEMA IF EXISTS {} CASCADE", self.0))
            .output();
    }
}

const WORKFLOWS: [(&str, &str); 1] = [(
    "pipeline.yaml",
    "tasks:\n  extract:\n    sh: echo extracted\n  load:\n    sh: echo loaded\n    needs: [extract]\n",
)];

/// A workflow that fails until the file `ready` exists in the project.
fn add_waiting_workflow(project: &TestProject) {
    std::fs::write(
        project.path("workflows/waits.yaml"),
        format!(
            "tasks:\n  check:\n    sh: test -f {}\n",
            project.path("ready").display()
        ),
    )
    .expect("write waits.yaml");
}

fn runs_json(project: &TestProject) -> serde_json::Value {
    let output = project.run(&["runs", "--json"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("runs --json prints JSON")
}

#[test]
fn a_workflow_runs_on_a_postgres_store_and_its_run_is_recorded_there() {
    let schema = Schema::new("run");
    let project = TestProject::new(&schema.toml(), &WORKFLOWS);
    let output = project.run(&["run", "pipeline"]);
    assert!(output.status.success(), "{}", text(&output.stderr));

    let runs = runs_json(&project);
    let runs = runs.as_array().expect("a list of runs");
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["state"], "succeeded", "{runs:?}");
    // Read back by another client, from the project's own schema.
    assert_eq!(schema.query("SELECT state FROM runs"), "succeeded");
    assert_eq!(
        schema.query(
            "SELECT string_agg(task || '=' || state, ',' ORDER BY position) FROM task_instances"
        ),
        "extract=succeeded,load=succeeded"
    );
    assert_eq!(
        schema.query("SELECT count(*) FROM attempts WHERE outcome = 'succeeded'"),
        "2"
    );
    // Every state change is in the feed, in order: queued, then running, …, succeeded last.
    assert_eq!(
        schema.query("SELECT state FROM events WHERE kind = 'run' ORDER BY seq LIMIT 1"),
        "queued"
    );
    assert_eq!(
        schema.query("SELECT kind || ':' || state FROM events ORDER BY seq DESC LIMIT 1"),
        "run:succeeded"
    );
    // The SQLite file was never made.
    assert!(!project.path(".tidewater/tidewater.db").exists());
}

#[test]
fn an_embedded_history_is_copied_to_postgres_and_reads_and_retries_the_same_there() {
    let project = TestProject::new("", &WORKFLOWS);
    add_waiting_workflow(&project);
    for workflow in ["pipeline", "waits", "pipeline"] {
        project.run(&["run", workflow]);
    }
    // Besides runs: a token (and so access control), a paused workflow.
    let token = project.run(&["token", "create", "--name", "ci", "--scope", "read"]);
    assert!(token.status.success(), "{}", text(&token.stderr));
    let paused = project.run(&["pause", "waits"]);
    assert!(paused.status.success(), "{}", text(&paused.stderr));
    let tokens_before = project.run(&["token", "list"]);
    assert!(
        tokens_before.status.success(),
        "{}",
        text(&tokens_before.stderr)
    );
    let before = runs_json(&project);
    assert_eq!(before.as_array().map(Vec::len), Some(3), "{before}");
    let status_before = project.status_json("2");
    assert_eq!(status_before["run"]["state"], "failed", "{status_before}");

    let schema = Schema::new("migrate");
    std::fs::write(project.path("tidewater.toml"), schema.toml()).expect("write toml");
    let copied = project.run(&["store", "migrate-from-sqlite"]);
    assert!(copied.status.success(), "{}", text(&copied.stderr));
    let note = text(&copied.stderr);
    assert!(note.contains("3 runs"), "{note}");
    assert!(note.contains("the PostgreSQL database"), "{note}");

    assert_eq!(
        runs_json(&project),
        before,
        "`runs` reads the same on PostgreSQL"
    );
    assert_eq!(project.status_json("2"), status_before, "`status` too");
    assert_eq!(schema.query("SELECT count(*) FROM runs"), "3");
    assert_eq!(
        schema.query("SELECT string_agg(workflow, ',') FROM paused_workflows"),
        "waits"
    );
    let tokens_after = project.run(&["token", "list"]);
    assert_eq!(
        text(&tokens_after.stdout),
        text(&tokens_before.stdout),
        "the token is there, as it was"
    );
    assert_eq!(
        schema.query("SELECT (SELECT count(*) FROM events) > 0 AND (SELECT max(seq) FROM events) = (SELECT count(*) FROM events)"),
        "t",
        "every event was copied with its number"
    );

    // A second copy would mix two histories: refused, and nothing changes.
    let again = project.run(&["store", "migrate-from-sqlite"]);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("already holds runs"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(schema.query("SELECT count(*) FROM runs"), "3");

    // The failed run resumes on PostgreSQL and succeeds; the next run gets the next id.
    std::fs::write(project.path("ready"), "").expect("write ready");
    let retried = project.run(&["retry", "2"]);
    assert!(retried.status.success(), "{}", text(&retried.stderr));
    assert_eq!(project.status_json("2")["run"]["state"], "succeeded");
    let next = project.run(&["run", "pipeline"]);
    assert!(next.status.success(), "{}", text(&next.stderr));
    assert_eq!(schema.query("SELECT max(id) FROM runs"), "4");
}

#[test]
fn an_unreachable_postgres_store_is_a_clear_error_that_never_shows_the_password() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let project = TestProject::new(
        &format!("[store]\nurl = \"postgres://tw:hunter2-in-url@127.0.0.1:{port}/runs\"\n"),
        &WORKFLOWS,
    );
    let output = project.run(&["runs"]);
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("cannot reach the PostgreSQL store"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("tw@127.0.0.1:{port}/runs")),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn a_store_password_from_an_unset_variable_is_named_not_guessed() {
    let schema = Schema::new("password");
    let project = TestProject::new(
        &format!(
            "{}password = \"env:TW_TEST_UNSET_PASSWORD\"\n",
            schema.toml()
        ),
        &WORKFLOWS,
    );
    let output = project
        .command(&["runs"])
        .env_remove("TW_TEST_UNSET_PASSWORD")
        .output()
        .expect("the binary runs");
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("TW_TEST_UNSET_PASSWORD"), "{stderr}");
    assert!(stderr.contains("is not set"), "{stderr}");

    // Set, it is used (the trust cluster accepts any password) and never shown.
    let output = project
        .command(&["run", "pipeline"])
        .env("TW_TEST_UNSET_PASSWORD", "hunter2-from-env")
        .output()
        .expect("the binary runs");
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(!text(&output.stderr).contains("hunter2"));
    assert!(!text(&output.stdout).contains("hunter2"));
}

#[test]
fn a_stream_keeps_its_pause_and_commits_in_a_postgres_store() {
    let schema = Schema::new("stream");
    let stream = TestStream::new("postgres");
    stream.publish(&[order(1), "{broken".to_owned(), order(3)]);
    let project = stream.project_with(&schema.toml(), "{ every: 100ms, max_messages: 100 }");

    let paused = project.run(&["stream", "pause", "orders_live"]);
    assert!(paused.status.success(), "{}", text(&paused.stderr));
    assert_eq!(schema.query("SELECT paused FROM streams"), "t");
    let refused = project.run(&["stream", "run", "orders_live", "--until-caught-up"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    assert_eq!(stream_status(&project)["state"], "paused");

    let resumed = project.run(&["stream", "resume", "orders_live"]);
    assert!(resumed.status.success(), "{}", text(&resumed.stderr));
    let ran = project.run(&["stream", "run", "orders_live", "--until-caught-up"]);
    assert!(ran.status.success(), "{}", text(&ran.stderr));
    let status = stream_status(&project);
    assert_eq!(status["state"], "stopped", "{status}");
    assert_eq!(status["committed"], 3, "{status}");
    assert_eq!(status["dead_letters"], 1, "{status}");
    // Read back by another client: released, and the commit summed.
    assert_eq!(
        schema.query(
            "SELECT paused || ',' || (owner_pid IS NULL) || ',' || last_position || ',' || messages_total FROM streams"
        ),
        "false,true,3,3"
    );
    assert!(!project.path(".tidewater/tidewater.db").exists());
}
