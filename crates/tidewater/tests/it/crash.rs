use std::os::unix::process::ExitStatusExt;
use std::path::Path;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::project::{TestProject, task_states, text};
use crate::service::{eventually, is_running, runs, start_server, stop_server};

/// The second attempt of `slow` finishes at once; the first blocks until killed.
const WORKFLOW: &str = r#"
tasks:
  first:
    sh: echo first >> ran.txt
  slow:
    needs: [first]
    sh: |
      if [ -f slow.started ]; then echo slow >> ran.txt; exit 0; fi
      touch slow.started
      sleep 600 &
      echo $! > sleeper.pid
      wait
  last:
    needs: [slow]
    sh: echo last >> ran.txt
"#;

fn wait_for_file(path: &Path) -> String {
    // Polling for a file a real process writes; bounded so a broken test cannot hang.
    crate::service::eventually(&format!("{} to appear", path.display()), || {
        std::fs::read_to_string(path)
            .ok()
            .filter(|text| text.ends_with('\n'))
    })
}

#[test]
fn killing_tidewater_mid_run_then_retry_finishes_the_run_without_orphans() {
    let project = TestProject::new("", &[("crashy.yaml", WORKFLOW)]);
    let mut child = project
        .command(&["run", "crashy", "--date", "2026-01-01"])
        .spawn()
        .expect("spawn");
    let sleeper: i32 = wait_for_file(&project.path("sleeper.pid"))
        .trim()
        .parse()
        .expect("pid");
    assert!(is_running(sleeper));
    kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).expect("kill");
    let status = child.wait().expect("wait");
    assert_eq!(status.signal(), Some(9));
    assert!(
        is_running(sleeper),
        "the task process outlives its killed supervisor"
    );

    let retried = project.run(&["retry", "1"]);
    assert_eq!(retried.status.code(), Some(0), "{}", text(&retried.stderr));
    assert!(
        !is_running(sleeper),
        "recovery killed the orphaned task process"
    );
    assert_eq!(
        project.read("ran.txt"),
        "first\nslow\nlast\n",
        "first ran once; slow and last finished"
    );
    let status = project.status_json("1");
    assert_eq!(status["run"]["state"], "succeeded");
    let slow = &status["tasks"][1]["attempts"];
    assert_eq!(slow[0]["outcome"], "failed");
    assert_eq!(slow[0]["reason"], "lost: the supervising process died");
    assert_eq!(slow[1]["outcome"], "succeeded");
    let said = text(&retried.stderr);
    assert!(
        said.contains("slow attempt 1 lost: the supervising process died; starting it again"),
        "the resume says the attempt was lost: {said}"
    );
    assert_eq!(
        status["tasks"][0]["attempts"].as_array().map(Vec::len),
        Some(1),
        "first did not run again"
    );
}

#[test]
fn ctrl_c_cancels_the_run_cleanly_and_retry_resumes_it() {
    let project = TestProject::new("", &[("crashy.yaml", WORKFLOW)]);
    let child = project
        .command(&["run", "crashy", "--date", "2026-01-01"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let sleeper: i32 = wait_for_file(&project.path("sleeper.pid"))
        .trim()
        .parse()
        .expect("pid");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).expect("interrupt");
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(130), "{}", text(&output.stderr));
    assert!(
        !is_running(sleeper),
        "the running task's process group was stopped"
    );
    assert_eq!(
        task_states(&project.status_json("1")),
        vec![
            ("first".to_owned(), "succeeded".to_owned()),
            ("slow".to_owned(), "cancelled".to_owned()),
            ("last".to_owned(), "cancelled".to_owned()),
        ]
    );
    let retried = project.run(&["retry", "1"]);
    assert_eq!(retried.status.code(), Some(0), "{}", text(&retried.stderr));
    assert_eq!(project.read("ran.txt"), "first\nslow\nlast\n");
}

/// Regression (issue 15, item 4): an attempt lost because the server was killed was retried
/// by the task's own policy, so with the default `retries: 0` the restarted server failed
/// the task ("slow attempt 1 failed") and the run with it.
#[test]
fn a_lost_attempt_without_retries_finishes_its_run_when_a_restarted_server_resumes_it() {
    let project = TestProject::new("", &[("crashy.yaml", WORKFLOW)]);
    let mut server = start_server(&project);
    let triggered = project.run(&["trigger", "crashy"]);
    assert!(triggered.status.success(), "{}", text(&triggered.stderr));
    let sleeper: i32 = wait_for_file(&project.path("sleeper.pid"))
        .trim()
        .parse()
        .expect("pid");
    assert_eq!(
        runs(&project)[0]["orphaned"],
        false,
        "a run a live server executes is not orphaned"
    );
    server.kill().expect("SIGKILL the server");
    server.wait().expect("reaped");
    assert_eq!(runs(&project)[0]["orphaned"], true, "its server died");

    let server = start_server(&project);
    let state = eventually("the run to end", || {
        let runs = runs(&project);
        let state = runs.first()?["state"].as_str()?.to_owned();
        (state != "running" && state != "queued").then_some(state)
    });
    stop_server(server);
    let log = project.read("server.log");
    assert_eq!(state, "succeeded", "{log}");
    assert!(
        !is_running(sleeper),
        "recovery killed the orphaned task process"
    );
    assert_eq!(project.read("ran.txt"), "first\nslow\nlast\n");
    let status = project.status_json("1");
    let slow = &status["tasks"][1]["attempts"];
    assert_eq!(slow[0]["reason"], "lost: the supervising process died");
    assert_eq!(slow[1]["outcome"], "succeeded");
    assert!(
        log.contains(
            "crashy run 1: slow attempt 1 lost: the supervising process died; starting it again"
        ),
        "the resume says the attempt was lost: {log}"
    );
    assert!(!log.contains("slow attempt 1 failed"), "{log}");
}

/// Regression (issue 15, item 5): after `kill -9` of `tidewater run`, `runs`, `status` and
/// `queue` said "running" and "upstream slow running" forever, though the store records
/// the dead owner.
#[test]
fn a_run_whose_process_was_killed_shows_as_orphaned_until_retry_resumes_it() {
    let project = TestProject::new("", &[("crashy.yaml", WORKFLOW)]);
    let mut child = project
        .command(&["run", "crashy", "--date", "2026-01-01"])
        .spawn()
        .expect("spawn");
    wait_for_file(&project.path("sleeper.pid"));
    let pid = child.id();
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("kill");
    child.wait().expect("wait");
    let advice = "`tidewater retry 1` resumes it";
    let died = format!("the process executing it (pid {pid}) died");

    let runs_text = project.run(&["runs"]);
    let runs_text = text(&runs_text.stdout);
    assert!(runs_text.contains("orphaned"), "{runs_text}");
    assert!(
        runs_text.contains(&died) && runs_text.contains(advice),
        "{runs_text}"
    );
    let listed = runs(&project);
    assert_eq!(listed[0]["state"], "running", "the recorded state is kept");
    assert_eq!(listed[0]["orphaned"], true);

    let status = project.run(&["status", "1"]);
    let status = text(&status.stdout);
    assert!(
        status.starts_with("run 1 of crashy: orphaned\n"),
        "{status}"
    );
    assert!(status.contains(advice), "{status}");
    assert!(!status.contains("running"), "{status}");
    assert_eq!(project.status_json("1")["run"]["orphaned"], true);

    let queue = project.run(&["queue"]);
    let queue = text(&queue.stdout);
    assert!(
        queue.contains("orphaned") && queue.contains(advice),
        "{queue}"
    );
    assert!(!queue.contains("running"), "{queue}");
    let queue_json = project.run(&["queue", "--json"]);
    let queue_json: serde_json::Value =
        serde_json::from_slice(&queue_json.stdout).expect("queue --json");
    assert_eq!(queue_json[0]["state"], "orphaned", "{queue_json}");

    let health = project.run(&["status"]);
    let health = text(&health.stdout);
    assert!(health.contains(advice), "{health}");

    let retried = project.run(&["retry", "1"]);
    assert_eq!(retried.status.code(), Some(0), "{}", text(&retried.stderr));
    let listed = runs(&project);
    assert_eq!(listed[0]["state"], "succeeded");
    assert_eq!(listed[0]["orphaned"], false);
}
