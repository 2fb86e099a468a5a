//! `tidewater cancel` and `tidewater run` beside a server: a run is cancelled wherever it
//! executes (the server, a foreground `run`, nobody), and a `run` started while a server is
//! up executes in the server, under its task queue.

use std::process::{Child, Stdio};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::project::{TestProject, task_states, text};
use crate::service::{eventually, health, is_running, runs, start_server, stop_server};

/// Sleeps until stopped, unless `again` exists; writes the sleeping process's pid.
const SLOW: &str = r#"
max_active_runs: 1
tasks:
  slow:
    sh: |
      if [ -f again ]; then exit 0; fi
      echo $$ > slow.pid
      exec sleep 600
  after:
    needs: [slow]
    sh: echo after >> after.txt
"#;

fn slow_project() -> TestProject {
    TestProject::new("", &[("slow.yaml", SLOW)])
}

fn sleeper(project: &TestProject) -> i32 {
    let pid = eventually("the slow task to start", || {
        std::fs::read_to_string(project.path("slow.pid"))
            .ok()
            .and_then(|pid| pid.trim().parse().ok())
    });
    std::fs::remove_file(project.path("slow.pid")).expect("remove slow.pid");
    pid
}

fn trigger(project: &TestProject) -> String {
    // Runs of the same interval, one queued behind the other, on purpose.
    let output = project.run(&["trigger", "slow", "--allow-concurrent"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout).trim().to_owned()
}

fn state(project: &TestProject, run: &str) -> String {
    project.status_json(run)["run"]["state"]
        .as_str()
        .expect("state")
        .to_owned()
}

fn cancel(project: &TestProject, run: &str) -> String {
    let output = project.run(&["cancel", run]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stderr)
}

fn spawn_run(project: &TestProject) -> Child {
    project
        .command(&["run", "slow"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run starts")
}

#[test]
fn cancel_stops_a_server_run_and_a_queued_one_and_retry_resumes_it() {
    let project = slow_project();
    let server = start_server(&project);
    let first = trigger(&project);
    let pid = sleeper(&project);
    // `max_active_runs: 1`: the second waits in the queue.
    let second = trigger(&project);
    assert_eq!(state(&project, &second), "queued");

    let said = cancel(&project, &second);
    assert!(said.contains(&format!("run {second} cancelled")), "{said}");
    assert_eq!(
        task_states(&project.status_json(&second)),
        [
            ("slow".to_owned(), "cancelled".to_owned()),
            ("after".to_owned(), "cancelled".to_owned())
        ],
        "a queued run is cancelled without running anything"
    );
    assert!(is_running(pid), "the other run goes on");

    let said = cancel(&project, &first);
    assert!(said.contains(&format!("run {first} cancelled")), "{said}");
    assert!(!is_running(pid), "the task's process is stopped");
    assert_eq!(
        task_states(&project.status_json(&first)),
        [
            ("slow".to_owned(), "cancelled".to_owned()),
            ("after".to_owned(), "cancelled".to_owned())
        ]
    );
    assert!(!project.path("after.txt").exists());
    // Cancelled runs stay cancelled: the server does not queue them again.
    let again = project.run(&["cancel", &first]);
    assert!(again.status.success());
    assert!(
        text(&again.stderr).contains("already cancelled; nothing to cancel"),
        "{}",
        text(&again.stderr)
    );
    stop_server(server);
    assert_eq!(state(&project, &first), "cancelled");

    // The request ended with the run: resumed, it is not cancelled again.
    std::fs::write(project.path("again"), "").expect("write");
    let retried = project.run(&["retry", &first]);
    assert!(retried.status.success(), "{}", text(&retried.stderr));
    assert_eq!(state(&project, &first), "succeeded");
    assert_eq!(project.read("after.txt"), "after\n");
}

#[test]
fn cancel_stops_a_foreground_run_and_one_that_nobody_executes() {
    let project = slow_project();
    let foreground = spawn_run(&project);
    let pid = sleeper(&project);
    let run = runs(&project)[0]["id"].to_string();
    let said = cancel(&project, &run);
    assert!(said.contains(&format!("run {run} cancelled")), "{said}");
    let output = foreground.wait_with_output().expect("run exits");
    assert_eq!(output.status.code(), Some(130), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("cancel requested"),
        "{}",
        text(&output.stderr)
    );
    assert!(!is_running(pid));

    // A run whose process was killed (SIGKILL): nobody executes it; cancel kills what it
    // left running and records it cancelled.
    let mut killed = spawn_run(&project);
    let pid = sleeper(&project);
    killed.kill().expect("SIGKILL");
    killed.wait().expect("reaped");
    assert!(is_running(pid), "the task outlives its killed run");
    let run = runs(&project)[0]["id"].to_string();
    let said = cancel(&project, &run);
    assert!(said.contains(&format!("run {run} cancelled")), "{said}");
    // The kernel finishes a SIGKILLed process after `kill` returns; cancel waits for that
    // before it says the run is cancelled.
    assert!(!is_running(pid), "the orphan has ended when cancel returns");
    assert_eq!(state(&project, &run), "cancelled");

    let unknown = project.run(&["cancel", "999"]);
    assert!(!unknown.status.success());
    assert!(text(&unknown.stderr).contains("there is no run 999"));
}

#[test]
fn run_and_retry_beside_a_server_execute_in_the_server_and_ctrl_c_cancels() {
    let project = TestProject::new(
        "",
        &[
            ("slow.yaml", SLOW),
            (
                "where.yaml",
                "tasks:\n  parent:\n    sh: echo $PPID > parent.txt\n",
            ),
        ],
    );
    let server = start_server(&project);
    let output = project.run(&["run", "where"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains(&format!("the server (pid {})", server.id())),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(
        project.read("parent.txt").trim(),
        server.id().to_string(),
        "the task's process is the server's child"
    );

    let follower = spawn_run(&project);
    let pid = sleeper(&project);
    kill(Pid::from_raw(follower.id() as i32), Signal::SIGINT).expect("SIGINT");
    let output = follower.wait_with_output().expect("run exits");
    assert_eq!(output.status.code(), Some(130), "{}", text(&output.stderr));
    assert!(!is_running(pid), "the server stopped the task");
    let run = runs(&project)[0]["id"].to_string();
    assert_eq!(state(&project, &run), "cancelled");
    assert_eq!(
        health(&project)["server"].as_i64(),
        Some(i64::from(server.id())),
        "the server goes on"
    );

    // `retry` beside the server queues the run again and the server resumes it.
    std::fs::write(project.path("again"), "").expect("write");
    let retried = project.run(&["retry", &run]);
    assert!(retried.status.success(), "{}", text(&retried.stderr));
    assert!(
        text(&retried.stderr).contains(&format!("the server (pid {})", server.id())),
        "{}",
        text(&retried.stderr)
    );
    assert_eq!(state(&project, &run), "succeeded");
    assert_eq!(project.read("after.txt"), "after\n");
    stop_server(server);
}
