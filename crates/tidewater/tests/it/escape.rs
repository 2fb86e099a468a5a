//! Processes that leave their task's process group (`setsid cmd &`, a double fork) end with
//! the task: when it ends, when it times out, and when it is cancelled.

use std::process::Stdio;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::project::{TestProject, text};
use crate::service::{eventually, is_running, start_server, stop_server};

/// `setsid` puts the sleep in a session (and group) of its own, out of reach of the kill of
/// the task's group; in `double`, its parent (a subshell) exits at once, so it is orphaned
/// while the task still runs. Each task waits (on a fifo) until its sleep has left the group,
/// so that the group's kill cannot catch it first. The sleeps do not hold the task's output
/// (see `HOLDER` for one that does).
const ESCAPES: &str = r#"
tasks:
  single:
    sh: |
      mkfifo single.ready
      setsid sh -c 'echo $$ > single.pid; echo > single.ready; exec sleep 300' > /dev/null 2>&1 &
      read ready < single.ready
      echo started
  double:
    sh: |
      mkfifo double.ready
      (setsid sh -c 'echo $$ > double.pid; echo > double.ready; exec sleep 300' > /dev/null 2>&1 &)
      read ready < double.ready
      echo started
"#;

/// Kills the given processes when dropped, should a test fail with them still running.
struct Leftovers(Vec<i32>);

impl Drop for Leftovers {
    fn drop(&mut self) {
        for &pid in &self.0 {
            if is_running(pid) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}

fn pid_in(project: &TestProject, file: &str) -> i32 {
    eventually(&format!("{file} to be written"), || {
        let text = std::fs::read_to_string(project.path(file)).ok()?;
        text.ends_with('\n').then(|| text.trim().parse().ok())?
    })
}

/// The live processes whose environment carries an attempt marker of this project.
fn marked_processes(project: &TestProject) -> Vec<i32> {
    let needle = format!("TIDEWATER_ATTEMPT_KEY={}", project.root().display());
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| is_running(pid))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|environ| {
                environ
                    .split(|&byte| byte == 0)
                    .any(|variable| variable.starts_with(needle.as_bytes()))
            })
        })
        .collect()
}

/// Regression: a process started with `setsid` escaped the kill of its task's group and ran
/// on, unreported, after the task and the run had ended.
#[test]
fn processes_that_left_their_task_group_end_with_the_task() {
    let project = TestProject::new("", &[("escapes.yaml", ESCAPES)]);
    let output = project.run(&["run", "escapes", "--date", "2026-01-01"]);
    let pids = Leftovers(vec![
        pid_in(&project, "single.pid"),
        pid_in(&project, "double.pid"),
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    for &pid in &pids.0 {
        assert!(!is_running(pid), "process {pid} outlived its task");
    }
    assert_eq!(marked_processes(&project), Vec::<i32>::new());
    // Said where the user looks for what a task did. (Its command line is the `sh -c` or,
    // once that has run `exec`, the sleep.)
    for (task, &pid) in ["single", "double"].iter().zip(&pids.0) {
        let log = text(&project.run(&["logs", "1", task]).stdout);
        assert!(
            log.contains(&format!("tidewater| killed process {pid} (")),
            "{log}\n{}",
            text(&output.stderr)
        );
    }
}

/// Sleeps until stopped, with an escaped process beside it.
const STUCK: &str = r#"
tasks:
  stuck:
    timeout: 1s
    sh: |
      mkfifo stuck.ready
      setsid sh -c 'echo $$ > stuck.pid; echo > stuck.ready; exec sleep 300' > /dev/null 2>&1 &
      read ready < stuck.ready
      sleep 300
"#;

/// Regression: the escaped process outlived a task killed by its timeout.
#[test]
fn an_escaped_process_ends_with_a_task_that_timed_out() {
    let project = TestProject::new("", &[("stuck.yaml", STUCK)]);
    let output = project.run(&["run", "stuck", "--date", "2026-01-01"]);
    let pids = Leftovers(vec![pid_in(&project, "stuck.pid")]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert!(
        !is_running(pids.0[0]),
        "the escaped process outlived the timeout"
    );
    assert_eq!(marked_processes(&project), Vec::<i32>::new());
}

/// Regression: the escaped process outlived a task cancelled by Ctrl-C.
#[test]
fn an_escaped_process_ends_with_a_cancelled_task() {
    let project = TestProject::new("", &[("stuck.yaml", &STUCK.replace("timeout: 1s", ""))]);
    let run = project
        .command(&["run", "stuck", "--date", "2026-01-01"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run starts");
    let pids = Leftovers(vec![pid_in(&project, "stuck.pid")]);
    kill(Pid::from_raw(run.id() as i32), Signal::SIGINT).expect("Ctrl-C");
    let output = run.wait_with_output().expect("run ends");
    assert_eq!(output.status.code(), Some(130), "{}", text(&output.stderr));
    assert!(
        !is_running(pids.0[0]),
        "the escaped process outlived the cancel"
    );
    assert_eq!(marked_processes(&project), Vec::<i32>::new());
}

/// An escaped process that keeps the task's output open.
const HOLDER: &str = r#"
tasks:
  holder:
    sh: |
      mkfifo holder.ready
      setsid sh -c 'echo $$ > holder.pid; echo > holder.ready; exec sleep 300' &
      read ready < holder.ready
      echo started
"#;

/// Regression: an escaped process that kept the task's stdout open kept the task running
/// (the task ended when the process did) after its own process had exited.
#[test]
fn an_escaped_process_holding_the_task_output_does_not_keep_the_task_running() {
    let project = TestProject::new("", &[("holder.yaml", HOLDER)]);
    let mut run = project
        .command(&["run", "holder", "--date", "2026-01-01"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run starts");
    let pids = Leftovers(vec![pid_in(&project, "holder.pid")]);
    let status = eventually("the run to end", || run.try_wait().expect("try_wait"));
    assert!(status.success());
    assert!(
        !is_running(pids.0[0]),
        "the escaped process outlived its task"
    );
    let log = text(&project.run(&["logs", "1", "holder"]).stdout);
    assert!(
        log.contains(&format!("tidewater| killed process {} (", pids.0[0]))
            && log.contains("it had left the task's process group and outlived the task"),
        "{log}"
    );
}

/// `outlives` leaves a process running; `exits` leaves one that ends by itself while the
/// task still runs (the task waits until it is a zombie). The latter's parent, a subshell,
/// exits at once: the shell would reap a child of its own, but this one is Tidewater's.
const UNDER_A_SERVER: &str = r#"
tasks:
  outlives:
    sh: |
      mkfifo outlives.ready
      setsid sh -c 'echo $$ > outlives.pid; echo > outlives.ready; exec sleep 300' > /dev/null 2>&1 &
      read ready < outlives.ready
  exits:
    sh: |
      mkfifo exits.ready
      (setsid sh -c 'echo $$ > exits.pid; echo > exits.ready' > /dev/null 2>&1 &)
      read ready < exits.ready
      pid=$(cat exits.pid)
      while [ -e /proc/$pid ] && [ "$(cut -d' ' -f3 /proc/$pid/stat)" != Z ]; do :; done
"#;

/// Regression: under a server, an escaped process ran on after its run; and the server, which
/// adopts escaped processes, must reap those that end by themselves rather than collect
/// zombies.
#[test]
fn a_server_ends_escaped_processes_and_reaps_those_that_ended() {
    let project = TestProject::new("", &[("escapes.yaml", UNDER_A_SERVER)]);
    let server = Server(Some(start_server(&project)));
    let output = project.run(&["trigger", "escapes"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let run = text(&output.stdout).trim().to_owned();
    let pids = Leftovers(vec![
        pid_in(&project, "outlives.pid"),
        pid_in(&project, "exits.pid"),
    ]);
    eventually("the run to succeed", || {
        (project.status_json(&run)["run"]["state"] == "succeeded").then_some(())
    });
    assert!(
        !is_running(pids.0[0]),
        "the escaped process outlived its run"
    );
    for &pid in &pids.0 {
        eventually(&format!("process {pid} to be reaped"), || {
            (!std::path::Path::new(&format!("/proc/{pid}")).exists()).then_some(())
        });
    }
    let mut server = server;
    stop_server(server.0.take().expect("started"));
}

/// A server, killed when dropped unless stopped first (a test failed).
struct Server(Option<std::process::Child>);

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut server) = self.0.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}
