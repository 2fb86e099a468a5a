//! A full disk under a running server: a real, small tmpfs mounted over the project's state
//! folder and filled up.
//!
//! Why a tmpfs and not `prlimit --fsize`: a full tmpfs fails writes with ENOSPC exactly as a
//! full disk does, for every file on it and for every process, and freeing space is deleting
//! a file. A file-size limit fails only the writes of the limited process past a size, with
//! EFBIG and SIGXFSZ (which kills a process that does not ignore it), so it tests something
//! else. Mounting needs root (CAP_SYS_ADMIN), which the test and CI machines have; without
//! it the test fails saying so instead of passing without testing anything.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use crate::project::{TestProject, text};
use crate::service::{eventually, runs, start_server, stop_server};

/// A tmpfs mounted for the length of a test.
struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    fn mount(path: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(path).expect("mount point");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .expect("mount runs");
        assert!(
            mounted.status.success(),
            "this test mounts a small tmpfs as a full disk and needs root: {}",
            text(&mounted.stderr)
        );
        SmallDisk {
            path: path.to_owned(),
        }
    }

    /// Writes a file until the disk has no room left.
    fn fill(&self) -> PathBuf {
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).expect("filler");
        let block = vec![0u8; 64 * 1024];
        loop {
            if let Err(error) = file.write_all(&block) {
                assert_eq!(
                    error.raw_os_error(),
                    Some(nix::errno::Errno::ENOSPC as i32),
                    "{error}"
                );
                return filler;
            }
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazily: a process of a failed test may still hold a file open on it.
        let _ = Command::new("umount").arg("-l").arg(&self.path).output();
    }
}

/// Kills the server if the test fails before stopping it.
struct Server(Option<Child>);

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `b` waits for a file the test writes once the disk is full; then `b` ends and a hundred
/// more tasks run. A hundred, so that the run needs more room than the write-ahead log may
/// have kept from earlier writes (SQLite writes over a log it has checkpointed, which needs no
/// new room): some store write of the run fails whatever the log's size. (Twenty once fitted
/// in the kept log, in CI: the run succeeded with no write failing, and nothing backed off.)
fn workflow() -> String {
    let mut text = String::from(
        "tasks:\n  a:\n    sh: echo a\n  b:\n    needs: [a]\n    sh: |\n      \
         touch b.started\n      until [ -f go ]; do sleep 0.05; done\n",
    );
    for index in 0..100 {
        text.push_str(&format!(
            "  c{index}:\n    needs: [b]\n    sh: echo c{index}\n"
        ));
    }
    text
}

/// Regression (issue 15, item 6): with the disk full, every run failed its store write, was
/// stopped, resumed and failed again at once (about 950 log lines a second, most of a core),
/// and the attempts caught in it were recorded as "lost: the supervising process died".
#[test]
fn a_full_disk_makes_the_server_back_off_and_record_the_true_reason() {
    let project = TestProject::new("", &[("full.yaml", &workflow())]);
    let disk = SmallDisk::mount(&project.path(".tidewater"), "2m");
    let mut server = Server(Some(start_server(&project)));
    let triggered = project.run(&["trigger", "full"]);
    assert!(triggered.status.success(), "{}", text(&triggered.stderr));
    eventually("b to start", || {
        project.path("b.started").exists().then_some(())
    });

    let filler = disk.fill();
    // b ends now, and recording its end (or the next tasks') fails.
    std::fs::write(project.path("go"), "").expect("go");
    // Which write meets the full disk first depends on timing: a run's executor ("run N
    // stopped: …; runs start and resume again in 1 s") or the service's own turn ("could not
    // go on: …; trying again in 1 s"); and a checkpoint that empties the write-ahead log may
    // give back room, so whether a second failure follows is timing too. What must hold: the
    // server backs off, saying so once per wait (the old code looped, ~950 lines a second).
    let log = wait_for_log(&project, "a back-off after the first failed write", |log| {
        log.contains(" again in 1 s")
    });
    assert!(log.contains("database or disk is full"), "{log}");
    let has_executor_stopped = log.contains(" stopped: ");

    std::fs::remove_file(filler).expect("room again");
    let state = eventually("the run to end", || {
        let state = runs(&project).first()?["state"].as_str()?.to_owned();
        (state != "running" && state != "queued").then_some(state)
    });
    stop_server(server.0.take().expect("the server"));
    let log = project.read("server.log");
    assert_eq!(state, "succeeded", "{log}");
    let waits = log.matches(" again in ").count();
    assert!(
        (1..=6).contains(&waits),
        "one line per wait, not one per failed resume: {log}"
    );
    let status = project.status_json("1");
    let reasons: Vec<&str> = status["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .flat_map(|task| task["attempts"].as_array().expect("attempts"))
        .filter_map(|attempt| attempt["reason"].as_str())
        .collect();
    // An executor that stopped recorded the attempts it interrupted with the true reason when
    // it resumed. The write that fails may also come after the run's last change was
    // committed (seen once in CI: "run 1 stopped" with every task already succeeded), and
    // then no attempt was interrupted and no attempt has a reason at all.
    if has_executor_stopped && !reasons.is_empty() {
        assert!(
            reasons.iter().any(|reason| {
                reason.starts_with("interrupted: tidewater could not record the run: ")
                    && reason.contains("disk is full")
            }),
            "{reasons:?}\n{log}"
        );
    }
    assert!(
        reasons.iter().all(|reason| !reason.starts_with("lost")),
        "no attempt of a live server is lost: {reasons:?}"
    );
}

/// Polls the server's log until `is_done` holds; on a timeout the panic shows the log.
fn wait_for_log(project: &TestProject, what: &str, is_done: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + crate::service::EVENTUALLY_BOUND;
    while std::time::Instant::now() < deadline {
        let log = project.read("server.log");
        if is_done(&log) {
            return log;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!(
        "timed out waiting for {what}; the server's log:\n{}",
        project.read("server.log")
    );
}

/// Regression (issue 15, item 6): a task whose log write hit a full disk was recorded as
/// succeeded with its log silently cut off.
#[test]
fn a_task_whose_log_cannot_be_written_succeeds_saying_its_log_is_incomplete() {
    // 200 KB of output for a 64 KB disk that holds only the logs: the store has room.
    let project = TestProject::new(
        "",
        &[(
            "loud.yaml",
            "tasks:\n  loud:\n    sh: head -c 200000 /dev/zero | tr '\\0' x | fold -w 100\n",
        )],
    );
    let _disk = SmallDisk::mount(&project.path(".tidewater/logs"), "64k");
    let ran = project.run(&["run", "loud", "--date", "2026-01-01"]);
    assert_eq!(ran.status.code(), Some(0), "{}", text(&ran.stderr));

    let status = project.status_json("1");
    let attempt = &status["tasks"][0]["attempts"][0];
    assert_eq!(attempt["outcome"], "succeeded", "{status}");
    let incomplete = attempt["log_incomplete"].as_str().unwrap_or_default();
    assert!(incomplete.contains("No space left on device"), "{status}");
    let shown = project.run(&["status", "1"]);
    let shown = text(&shown.stdout);
    assert!(
        shown.contains("log incomplete: No space left on device"),
        "{shown}"
    );
}

/// Regression: under a file-size limit (`ulimit -f`, `prlimit --fsize`), a log growing past it
/// raised SIGXFSZ, which killed `tidewater run` (exit 153) with its run left orphaned. The
/// limit must end as an incomplete log, like a full disk. (That tasks get the signal back at
/// its default is `task_process`'s test.)
#[test]
fn a_file_size_limit_cuts_the_log_short_without_killing_tidewater() {
    // 2 MB of output under a 1 MB limit: the store stays far below it.
    let project = TestProject::new(
        "",
        &[(
            "loud.yaml",
            "tasks:\n  loud:\n    sh: head -c 2000000 /dev/zero | tr '\\0' x | fold -w 100\n",
        )],
    );
    let mut limited = std::process::Command::new("prlimit");
    limited
        .arg("--fsize=1000000")
        .arg(env!("CARGO_BIN_EXE_tidewater"))
        .arg("--project")
        .arg(project.root())
        .args(["run", "loud", "--date", "2026-01-01"])
        .env("NO_COLOR", "1");
    let ran = limited.output().expect("prlimit runs");
    assert_eq!(ran.status.code(), Some(0), "{}", text(&ran.stderr));

    let status = project.status_json("1");
    let loud = status["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .find(|task| task["task"] == "loud")
        .expect("loud");
    let attempt = &loud["attempts"][0];
    assert_eq!(attempt["outcome"], "succeeded", "{status}");
    let incomplete = attempt["log_incomplete"].as_str().unwrap_or_default();
    assert!(incomplete.contains("File too large"), "{status}");
}
