//! `tidewater logs` while a task runs: lines reach the log as the task prints them, `--follow`
//! prints them as they come, and a crash of Tidewater loses none it had read.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use std::sync::{Arc, Mutex};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::project::{TestProject, text};
use crate::service::eventually;

/// Prints a line, then waits until the test writes a word into the fifo `gate`, then prints
/// a second line with that word.
const TALK: &str = r#"
tasks:
  talk:
    sh: |
      mkfifo gate
      echo first
      read word < gate
      echo "second $word"
"#;

/// The first attempt prints a line, waits at the gate, and fails; the retry succeeds.
const FLAKY: &str = r#"
tasks:
  flaky:
    retries: 1
    retry_delay: 0s
    sh: |
      if [ ! -e tried ]; then
        touch tried
        mkfifo gate
        echo "try one"
        read word < gate
        exit 1
      fi
      echo "try two"
"#;

/// A `tidewater run` whose task waits at `gate`. Dropped (a test failed), it opens the gate
/// if the task waits there and kills the run, so that no process outlives the test.
struct GatedRun {
    child: Child,
    gate: std::path::PathBuf,
}

impl Drop for GatedRun {
    fn drop(&mut self) {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        // Non-blocking: fails at once if nobody reads the fifo.
        if let Ok(mut gate) = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(&self.gate)
        {
            let _ = gate.write_all(b"stop\n");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_run(project: &TestProject, workflow: &str) -> GatedRun {
    let child = project
        .command(&["run", workflow, "--date", "2026-01-01"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run starts");
    GatedRun {
        child,
        gate: project.path("gate"),
    }
}

/// `tidewater logs ARGS` once it prints `wanted`.
fn logs_showing(project: &TestProject, args: &[&str], wanted: &str) -> String {
    eventually(&format!("`logs` to show {wanted:?}"), || {
        let output = project.run(&[&["logs"], args].concat());
        let printed = text(&output.stdout);
        printed.contains(wanted).then_some(printed)
    })
}

/// Lets the task past its gate.
fn open_gate(project: &TestProject, word: &str) {
    // Opening a fifo for writing waits for its reader: the task, already at its `read`.
    std::fs::write(project.path("gate"), format!("{word}\n")).expect("write to the gate");
}

/// A `tidewater logs --follow` and what it has printed so far.
struct Follower {
    child: Child,
    printed: Arc<Mutex<String>>,
    reader: std::thread::JoinHandle<()>,
}

impl Follower {
    fn start(project: &TestProject, args: &[&str]) -> Follower {
        let mut child = project
            .command(&[&["logs"], args, &["--follow"]].concat())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("logs --follow starts");
        let stdout = child.stdout.take().expect("piped");
        let printed = Arc::new(Mutex::new(String::new()));
        let reader = {
            let printed = printed.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let line = line.expect("a line of the log");
                    let mut printed = printed.lock().expect("not poisoned");
                    printed.push_str(&line);
                    printed.push('\n');
                }
            })
        };
        Follower {
            child,
            printed,
            reader,
        }
    }

    fn printed(&self) -> String {
        self.printed.lock().expect("not poisoned").clone()
    }

    fn wait_for(&self, wanted: &str) {
        eventually(&format!("--follow to print {wanted:?}"), || {
            self.printed().contains(wanted).then_some(())
        });
    }

    fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Waits for it to exit by itself; returns its exit code, stdout and stderr.
    fn finish(mut self) -> (Option<i32>, String, String) {
        let status = eventually("--follow to exit", || {
            self.child.try_wait().expect("try_wait")
        });
        let reader = self.reader;
        reader.join().expect("reader thread");
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut self.child.stderr.take().expect("piped"), &mut stderr)
            .expect("stderr");
        let printed = self.printed.lock().expect("not poisoned").clone();
        (status.code(), printed, stderr)
    }
}

/// Regression: output waited in memory (up to 8 KiB) until the task ended, so `logs` of a
/// running task printed nothing.
#[test]
fn logs_of_a_running_task_show_the_lines_it_has_printed() {
    let project = TestProject::new("", &[("talk.yaml", TALK)]);
    let mut run = start_run(&project, "talk");
    let printed = logs_showing(&project, &["1", "talk"], "out| first");
    assert!(!printed.contains("out| second"), "{printed}");
    assert!(
        run.child.try_wait().expect("try_wait").is_none(),
        "the task still runs"
    );
    open_gate(&project, "go");
    assert!(run.child.wait().expect("run ends").success());
    let printed = text(&project.run(&["logs", "1", "talk"]).stdout);
    assert!(printed.contains("out| second go"), "{printed}");
}

/// Waits at its gate before printing anything.
const QUIET: &str = r#"
tasks:
  quiet:
    sh: |
      mkfifo gate
      touch waiting
      read word < gate
      echo "said $word"
"#;

/// A running task that has printed nothing has an empty log (its first line is written with
/// its first output): `logs` says it runs rather than print nothing at all.
#[test]
fn logs_of_a_silent_running_task_say_that_it_runs() {
    let project = TestProject::new("", &[("quiet.yaml", QUIET)]);
    let mut run = start_run(&project, "quiet");
    eventually("the task to wait at its gate", || {
        project.path("waiting").exists().then_some(())
    });
    let output = project.run(&["logs", "1", "quiet"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "");
    assert!(
        text(&output.stderr)
            .contains("attempt 1 of task `quiet` is running and has printed nothing yet"),
        "{}",
        text(&output.stderr)
    );
    open_gate(&project, "go");
    assert!(run.child.wait().expect("run ends").success());
    let printed = text(&project.run(&["logs", "1", "quiet"]).stdout);
    assert!(printed.contains("out| said go"), "{printed}");
}

/// Regression: there was no `--follow`.
#[test]
fn logs_follow_prints_lines_as_they_come_and_exits_when_the_task_ends() {
    let project = TestProject::new("", &[("talk.yaml", TALK)]);
    let mut run = start_run(&project, "talk");
    logs_showing(&project, &["1", "talk"], "out| first");
    let mut follower = Follower::start(&project, &["1", "talk"]);
    follower.wait_for("out| first");
    assert!(follower.is_running(), "it waits while the task runs");
    open_gate(&project, "go");
    let (code, printed, stderr) = follower.finish();
    assert_eq!(code, Some(0), "{stderr}");
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 4, "{printed}");
    assert!(
        lines[0].contains(" tidewater| attempt 1: sh -c "),
        "{printed}"
    );
    assert!(lines[1].ends_with("       out| first"), "{printed}");
    assert!(lines[2].ends_with("       out| second go"), "{printed}");
    // The attempt's last line, written just after its end is recorded, is not missed.
    assert!(
        lines[3].contains(" tidewater| succeeded after "),
        "{printed}"
    );
    assert!(run.child.wait().expect("run ends").success());
}

/// Ctrl-C ends `--follow` quietly, with the code of an interrupted command.
#[test]
fn ctrl_c_ends_logs_follow_quietly() {
    let project = TestProject::new("", &[("talk.yaml", TALK)]);
    let mut run = start_run(&project, "talk");
    logs_showing(&project, &["1", "talk"], "out| first");
    let follower = Follower::start(&project, &["1", "talk"]);
    follower.wait_for("out| first");
    kill(Pid::from_raw(follower.child.id() as i32), Signal::SIGINT).expect("Ctrl-C");
    let (code, _, stderr) = follower.finish();
    assert_eq!(code, Some(130));
    assert_eq!(stderr, "");
    open_gate(&project, "go");
    assert!(run.child.wait().expect("run ends").success());
}

/// Without `--attempt`, `--follow` follows the task: a retry's log follows the failed
/// attempt's, and it exits once the task has finished.
#[test]
fn logs_follow_follows_a_retry_until_the_task_has_finished() {
    let project = TestProject::new("", &[("flaky.yaml", FLAKY)]);
    let mut run = start_run(&project, "flaky");
    logs_showing(&project, &["1", "flaky"], "out| try one");
    let follower = Follower::start(&project, &["1", "flaky"]);
    follower.wait_for("out| try one");
    open_gate(&project, "go");
    let (code, printed, stderr) = follower.finish();
    assert_eq!(code, Some(0), "{stderr}");
    let order: Vec<&str> = printed
        .lines()
        .filter_map(|line| line.split_once("| ").map(|(_, text)| text))
        .filter(|text| !text.starts_with("attempt "))
        .map(|text| text.split(" after ").next().unwrap_or(text))
        .collect();
    assert_eq!(
        order,
        ["try one", "failed", "try two", "succeeded"],
        "{printed}"
    );
    assert!(run.child.wait().expect("run ends").success());
}

/// Regression: lines waited in memory, so every line of an attempt was lost when `tidewater
/// run` was killed.
#[test]
fn lines_printed_before_tidewater_is_killed_are_in_the_log() {
    let project = TestProject::new("", &[("talk.yaml", TALK)]);
    let mut run = start_run(&project, "talk");
    // Once Tidewater has read the line (it is in the log file, which is all a kill can
    // leave), the kill must not lose it.
    let log = project.path(".tidewater/logs/1/talk.1.log");
    eventually("the first line in the log file", || {
        let written = std::fs::read_to_string(&log).ok()?;
        written.contains("out| first").then_some(())
    });
    kill(Pid::from_raw(run.child.id() as i32), Signal::SIGKILL).expect("kill -9");
    run.child.wait().expect("run ends");

    let printed = text(&project.run(&["logs", "1", "talk"]).stdout);
    assert!(printed.contains("out| first"), "{printed}");
    // `--follow` of an attempt that nobody runs any more says so, rather than wait forever.
    let (code, printed, stderr) = Follower::start(&project, &["1", "talk"]).finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(printed.contains("out| first"), "{printed}");
    assert!(
        stderr.contains("run 1 is orphaned") && stderr.contains("`tidewater retry 1`"),
        "{stderr}"
    );
    // The orphaned task waits at its gate; let it end.
    open_gate(&project, "go");
}
