//! `tidewater worker` with real processes on loopback (issue 21): a server offers the
//! attempts of tasks with a `queue`, workers in project folders of their own claim and run
//! them, and leases with fencing decide what happens when a worker dies, freezes or is
//! cancelled. Leases are short here (`[workers] lease = "1s"`); nothing sleeps for time:
//! every wait polls a condition with a deadline (`eventually`).

use std::path::Path;
use std::process::{Child, Stdio};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::api_client::Api;
use crate::project::{TestProject, text};
use crate::service::{eventually, is_running, runs, start_server, stop_server};

pub(crate) const TOML: &str = "[workers]\nheartbeat = \"200ms\"\nlease = \"1s\"\n";

/// A copy of the server's project files for a worker (as git or a shared volume would give
/// it), in a folder of its own.
pub(crate) fn worker_folder(project: &TestProject) -> tempfile::TempDir {
    let folder = tempfile::tempdir().expect("temp dir");
    std::fs::copy(
        project.path("tidewater.toml"),
        folder.path().join("tidewater.toml"),
    )
    .expect("copy toml");
    std::fs::create_dir_all(folder.path().join("workflows")).expect("mkdir");
    for entry in std::fs::read_dir(project.path("workflows")).expect("workflows") {
        let entry = entry.expect("entry");
        std::fs::copy(
            entry.path(),
            folder.path().join("workflows").join(entry.file_name()),
        )
        .expect("copy workflow");
    }
    folder
}

pub(crate) fn worker_token(project: &TestProject) -> String {
    let output = project.run(&["token", "create", "--name", "workers", "--scope", "worker"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout).trim().to_owned()
}

/// Starts `tidewater worker` in `folder`, its messages in `folder/worker.log`.
pub(crate) fn start_worker(folder: &Path, port: u16, token: &str, queues: &str) -> Child {
    crate::project::command(
        folder,
        &[
            "worker",
            "--server",
            &format!("http://127.0.0.1:{port}"),
            "--token",
            token,
            "--queues",
            queues,
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::from(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(folder.join("worker.log"))
            .expect("worker log"),
    ))
    .spawn()
    .expect("worker starts")
}

fn read_token(project: &TestProject) -> String {
    let output = project.run(&["token", "create", "--name", "reader", "--scope", "read"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout).trim().to_owned()
}

pub(crate) fn stop(mut child: Child) {
    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
    let _ = child.wait();
}

/// The one run's id, once it has reached `state`.
pub(crate) fn run_in_state(project: &TestProject, state: &str) -> i64 {
    eventually(&format!("the run to be {state}"), || {
        runs(project)
            .into_iter()
            .find(|run| run["state"] == state)
            .and_then(|run| run["id"].as_i64())
    })
}

pub(crate) fn trigger(project: &TestProject, workflow: &str) {
    let output = project.run(&["trigger", workflow]);
    assert!(output.status.success(), "{}", text(&output.stderr));
}

pub(crate) fn read_pid(path: &Path) -> i32 {
    eventually(&format!("{} to hold a pid", path.display()), || {
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    })
}

#[test]
fn a_queued_task_runs_on_a_worker_its_log_is_tailed_and_its_output_flows_downstream() {
    let project = TestProject::new(
        TOML,
        &[(
            "remote.yaml",
            r#"name: remote
tasks:
  produce:
    queue: gpu
    sh: 'echo "first line from $TIDEWATER_WORKER"; touch produced_here; while [ ! -e release ]; do sleep 0.02; done; echo "{\"rows\": 7}" > "$TIDEWATER_OUTPUT"'
  consume:
    needs: [produce]
    sh: 'echo "rows={{ tasks.produce.output.rows }}" > consumed.txt'
"#,
        )],
    );
    let token = worker_token(&project);
    let server = start_server(&project);
    let api = Api::of(&project);
    let folder = worker_folder(&project);
    let worker = start_worker(folder.path(), api.port, &token, "gpu,other");
    trigger(&project, "remote");
    let run = run_in_state(&project, "running");
    // The worker's line is on the server while the attempt still runs (it waits for
    // `release`).
    let log = eventually("the worker's first line in the server's log", || {
        let output = project.run(&["logs", &run.to_string(), "produce"]);
        let log = text(&output.stdout);
        log.contains("first line from").then_some(log)
    });
    assert!(!folder.path().join("release").exists());
    assert!(
        log.contains("offered to the workers of queue `gpu`"),
        "{log}"
    );
    assert!(log.contains("claimed by worker"), "{log}");
    // The workers' page shows the worker and the attempt it holds.
    *api.token.borrow_mut() = Some(read_token(&project));
    let page = api.call("GET", "/workers", None);
    assert_eq!(page.status, 200, "{page:?}");
    let html = page.body.as_str().expect("HTML");
    assert!(
        html.contains(r#"<a href="/workers" aria-current="page">Workers</a>"#),
        "{html}"
    );
    assert!(html.contains("gpu, other"), "{html}");
    assert!(html.contains(">1/1<"), "one slot of one in use: {html}");
    assert!(html.contains(">alive<"), "{html}");
    assert!(
        html.contains(&format!(
            r#"<a href="/runs/{run}/tasks/produce">#{run} produce</a> (attempt 1,"#
        )),
        "{html}"
    );
    let listed = api.call("GET", "/api/v1/workers", None);
    assert_eq!(
        listed.body[0]["attempts"][0]["task"], "produce",
        "{listed:?}"
    );
    std::fs::write(folder.path().join("release"), "").expect("release");
    run_in_state(&project, "succeeded");
    // It ran in the worker's folder, not the server's; its output reached `consume`, which
    // ran in the server.
    assert!(folder.path().join("produced_here").exists());
    assert!(!project.path("produced_here").exists());
    assert_eq!(project.read("consumed.txt"), "rows=7\n");
    let workers = project.run(&["workers", "--json"]);
    let workers: serde_json::Value = serde_json::from_slice(&workers.stdout).expect("JSON");
    assert_eq!(workers[0]["queues"], serde_json::json!(["gpu", "other"]));
    assert_eq!(workers[0]["is_alive"], true);
    assert_eq!(
        workers[0]["attempts"],
        serde_json::json!([]),
        "the attempt ended: its worker holds nothing"
    );
    stop(worker);
    stop_server(server);
}

#[test]
fn a_killed_workers_attempt_is_lost_after_its_lease_and_runs_on_another_worker() {
    let project = TestProject::new(
        TOML,
        &[(
            "remote.yaml",
            r#"name: remote
tasks:
  work:
    queue: gpu
    sh: 'if [ -e first ]; then echo done >> out; else touch first; echo $$ > leader; sleep 60 & echo $! > child; wait; fi'
"#,
        )],
    );
    let token = worker_token(&project);
    let server = start_server(&project);
    let api = Api::of(&project);
    let folder = worker_folder(&project);
    let first = start_worker(folder.path(), api.port, &token, "gpu");
    trigger(&project, "remote");
    let leader = read_pid(&folder.path().join("leader"));
    let child = read_pid(&folder.path().join("child"));
    stop(first);
    // The leader dies with its worker; the rest of its group is killed by the next worker
    // of the host, found by the attempt marker.
    let second = start_worker(folder.path(), api.port, &token, "gpu");
    eventually("the killed worker's task processes to be gone", || {
        (!is_running(leader) && !is_running(child)).then_some(())
    });
    let run = run_in_state(&project, "succeeded");
    assert_eq!(
        std::fs::read_to_string(folder.path().join("out")).expect("out"),
        "done\n"
    );
    let status = project.status_json(&run.to_string());
    let attempts = status["tasks"][0]["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 2, "{status}");
    stop(second);
    stop_server(server);
}

/// Appends three rows to the Delta table at `argv[1]` with Python's `deltalake` (as any
/// program a task starts could).
const WRITE_ROWS: &str = r#"
import os, sys
import pyarrow as pa
from deltalake import write_deltalake
write_deltalake(sys.argv[1], pa.table({"id": [1, 2, 3]}), mode="append")
# Skip interpreter teardown, where the deltalake extension's threads may hang.
os._exit(0)
"#;

/// The host of a worker freezes (a suspended VM, a stalled machine): the worker and its
/// task's processes stop together, past the lease; the attempt runs again on another worker.
/// When the worker wakes it kills the frozen attempt's group before it can write, so the
/// table the attempt was to write holds exactly one copy of the rows: the accepted attempt's.
#[test]
fn a_frozen_worker_past_its_lease_is_fenced_and_kills_its_attempt_on_waking() {
    let project = TestProject::new(TOML, &[]);
    let script = project.path("write_rows.py");
    std::fs::write(&script, WRITE_ROWS).expect("write the script");
    let table = project.path("warehouse/raw/events");
    std::fs::write(
        project.path("workflows/remote.yaml"),
        format!(
            r#"name: remote
tasks:
  work:
    queue: gpu
    sh: 'if [ -e first ]; then python3 {script} {table}; else touch first; echo $$ > leader; while [ ! -e release ]; do sleep 0.02; done; python3 {script} {table}; fi'
"#,
            script = script.display(),
            table = table.display(),
        ),
    )
    .expect("write the workflow");
    let token = worker_token(&project);
    let server = start_server(&project);
    let api = Api::of(&project);
    let folder = worker_folder(&project);
    let frozen = start_worker(folder.path(), api.port, &token, "gpu");
    trigger(&project, "remote");
    let leader = read_pid(&folder.path().join("leader"));
    kill(Pid::from_raw(frozen.id() as i32), Signal::SIGSTOP).expect("SIGSTOP the worker");
    kill(Pid::from_raw(-leader), Signal::SIGSTOP).expect("SIGSTOP its task's group");
    // Its lease expires by the server's clock; the attempt is lost and runs on another worker.
    let other = start_worker(folder.path(), api.port, &token, "gpu");
    run_in_state(&project, "succeeded");
    assert!(
        is_running(leader),
        "the frozen worker's task is still there"
    );
    // Were the frozen attempt let go on, it would now write its copy.
    std::fs::write(folder.path().join("release"), "").expect("release");
    kill(Pid::from_raw(frozen.id() as i32), Signal::SIGCONT).expect("SIGCONT");
    let log = eventually("the woken worker to fence its attempt", || {
        let log = std::fs::read_to_string(folder.path().join("worker.log")).ok()?;
        log.contains("reporting nothing").then_some(log)
    });
    // It stopped the attempt itself, on waking, or when the server answered `stale`.
    assert!(
        log.contains("could not be renewed") || log.contains("is stale"),
        "{log}"
    );
    // The host wakes whole: whatever is left of the task's group goes on (a stopped process
    // that was killed is gone already).
    let _ = kill(Pid::from_raw(-leader), Signal::SIGCONT);
    eventually("the fenced attempt to be killed", || {
        (!is_running(leader)).then_some(())
    });
    let rows = project.run(&[
        "query",
        "SELECT count(*) AS n FROM raw.events",
        "--format",
        "json",
    ]);
    assert!(rows.status.success(), "{}", text(&rows.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&rows.stdout).expect("JSON");
    assert_eq!(rows, serde_json::json!([{"n": 3}]), "one copy of the rows");
    stop(frozen);
    stop(other);
    stop_server(server);
}

#[test]
fn cancelling_a_run_reaches_the_workers_attempt() {
    let project = TestProject::new(
        TOML,
        &[(
            "remote.yaml",
            "name: remote\ntasks:\n  work:\n    queue: gpu\n    sh: 'echo $$ > leader; sleep 60'\n",
        )],
    );
    let token = worker_token(&project);
    let server = start_server(&project);
    let api = Api::of(&project);
    let folder = worker_folder(&project);
    let worker = start_worker(folder.path(), api.port, &token, "gpu");
    trigger(&project, "remote");
    let leader = read_pid(&folder.path().join("leader"));
    let run = run_in_state(&project, "running");
    let output = project.run(&["cancel", &run.to_string()]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    run_in_state(&project, "cancelled");
    eventually("the worker's task to be stopped", || {
        (!is_running(leader)).then_some(())
    });
    stop(worker);
    stop_server(server);
}

#[test]
fn a_worker_with_a_changed_workflow_file_refuses_the_attempt_and_says_why() {
    let project = TestProject::new(
        TOML,
        &[(
            "remote.yaml",
            "name: remote\ntasks:\n  work:\n    queue: gpu\n    sh: 'touch ran'\n",
        )],
    );
    let token = worker_token(&project);
    let server = start_server(&project);
    let api = Api::of(&project);
    let folder = worker_folder(&project);
    std::fs::write(
        folder.path().join("workflows/remote.yaml"),
        "name: remote\ntasks:\n  work:\n    queue: gpu\n    sh: 'touch ran; touch more'\n",
    )
    .expect("edit");
    let worker = start_worker(folder.path(), api.port, &token, "gpu");
    trigger(&project, "remote");
    let run = run_in_state(&project, "failed");
    assert!(!folder.path().join("ran").exists(), "nothing else ran");
    let status = project.status_json(&run.to_string());
    let shown = status.to_string();
    assert!(
        shown.contains("refused it") && shown.contains("pinned to a version of remote"),
        "{status}"
    );
    stop(worker);
    stop_server(server);
}

#[test]
fn worker_endpoints_need_a_worker_token_and_a_worker_token_opens_nothing_else() {
    let project = TestProject::new(TOML, &[]);
    let worker = worker_token(&project);
    let output = project.run(&["token", "create", "--name", "reader", "--scope", "read"]);
    let reader = text(&output.stdout).trim().to_owned();
    let server = start_server(&project);
    let api = Api::of(&project);
    let claim = r#"{"worker": {"id": "w1", "queues": ["gpu"], "slots": 1, "version": "0"}}"#;
    *api.token.borrow_mut() = Some(reader);
    let refused = api.call("POST", "/api/v1/workers/claim", Some(claim));
    assert_eq!(refused.status, 403, "{refused:?}");
    assert_eq!(api.call("GET", "/api/v1/workers", None).status, 200);
    *api.token.borrow_mut() = Some(worker);
    let claimed = api.call("POST", "/api/v1/workers/claim", Some(claim));
    assert_eq!(claimed.status, 200, "{claimed:?}");
    assert_eq!(claimed.body["attempt"], serde_json::Value::Null);
    assert_eq!(api.call("GET", "/api/v1/runs", None).status, 403);
    let stale = api.call(
        "POST",
        "/api/v1/workers/attempts/99/report",
        Some(r#"{"epoch": 1, "outcome": {"outcome": "failed", "reason": {"reason": "lost"}}}"#),
    );
    assert_eq!(stale.status, 409, "{stale:?}");
    stop_server(server);
}

#[test]
fn a_waiting_claim_gets_the_attempt_offered_while_it_waits() {
    let project = TestProject::new(
        TOML,
        &[(
            "remote.yaml",
            "name: remote\ntasks:\n  work:\n    queue: gpu\n    sh: 'true'\n",
        )],
    );
    let token = worker_token(&project);
    let server = start_server(&project);
    let api = Api::of(&project);
    let port = api.port;
    let waiting = std::thread::spawn({
        let token = token.clone();
        move || {
            let api = Api {
                port,
                asked: Default::default(),
                token: std::cell::RefCell::new(Some(token)),
            };
            let claim = r#"{"worker": {"id": "w1", "queues": ["gpu"], "slots": 1, "version": "0"}, "wait_ms": 20000}"#;
            api.call("POST", "/api/v1/workers/claim", Some(claim))
        }
    });
    // The claim has reached the server (it records its worker first), and no attempt is
    // offered yet: a server that does not wait answers `null` now.
    *api.token.borrow_mut() = Some(read_token(&project));
    eventually("the claim's worker to be recorded", || {
        let workers = api.call("GET", "/api/v1/workers", None);
        (workers.body[0]["id"] == "w1").then_some(())
    });
    trigger(&project, "remote");
    let claimed = waiting.join().expect("the claim returns");
    assert_eq!(claimed.status, 200, "{claimed:?}");
    assert_eq!(claimed.body["attempt"]["task"], "work", "{claimed:?}");
    stop_server(server);
}
