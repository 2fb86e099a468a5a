//! The store's files as users handle them: `tidewater.db` copied alone, its write-ahead log
//! deleted or damaged, `store backup` and `store check`, a store emptied or restored from an
//! older backup while the logs remain.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::project::{TestProject, text};
use crate::service::{eventually, runs, start_server, stop_server};

/// `ok` succeeds; `fail` fails; `slow` waits until killed, after writing its pid.
const WORKFLOWS: [(&str, &str); 3] = [
    (
        "ok.yaml",
        "tasks:\n  a:\n    sh: echo ok-$TIDEWATER_RUN_ID\n",
    ),
    ("fail.yaml", "tasks:\n  a:\n    sh: exit 3\n"),
    (
        "slow.yaml",
        "tasks:\n  a:\n    sh: |\n      echo $$ > slow.pid\n      exec sleep 600\n",
    ),
];

fn project() -> TestProject {
    TestProject::new("", &WORKFLOWS)
}

fn database(project: &TestProject) -> PathBuf {
    project.path(".tidewater/tidewater.db")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

fn run(project: &TestProject, workflow: &str) -> std::process::Output {
    project.run(&["run", workflow])
}

fn run_ok(project: &TestProject) {
    let output = run(project, "ok");
    assert!(output.status.success(), "{}", text(&output.stderr));
}

fn run_ids(project: &TestProject) -> Vec<i64> {
    let mut ids: Vec<i64> = runs(project)
        .iter()
        .map(|run| run["id"].as_i64().expect("id"))
        .collect();
    ids.sort_unstable();
    ids
}

/// A project holding only a copy of `file` as its store (no log, no logs folder).
fn project_with_store(file: &Path) -> TestProject {
    let copy = project();
    std::fs::create_dir_all(copy.path(".tidewater")).expect("state folder");
    std::fs::copy(file, database(&copy)).expect("copy the store");
    copy
}

/// Puts `file` in place of the project's store, as a user restores a backup: no tidewater
/// running, the old log and shared-memory files removed.
fn restore(project: &TestProject, file: &Path) {
    let database = database(project);
    std::fs::copy(file, &database).expect("restore");
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(with_suffix(&database, suffix));
    }
}

/// A server that is killed if the test fails before it stops it: a failing test must not
/// leave a server running.
struct Server(Option<Child>);

impl Server {
    fn start(project: &TestProject) -> Server {
        Server(Some(start_server(project)))
    }

    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("the server was not stopped yet")
    }

    fn stop(mut self) {
        stop_server(self.0.take().expect("the server was not stopped yet"));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn check(project: &TestProject) -> std::process::Output {
    project.run(&["store", "check"])
}

/// The runs a copy of the project's `tidewater.db` alone holds, newest first, as (id, state).
fn runs_in_the_file_alone(project: &TestProject) -> Vec<(i64, String)> {
    let copy = project_with_store(&database(project));
    runs(&copy)
        .iter()
        .map(|run| {
            (
                run["id"].as_i64().expect("id"),
                run["state"].as_str().expect("state").to_owned(),
            )
        })
        .collect()
}

/// Regression: commits stayed in `tidewater.db-wal` until it reached 2 MiB; copying
/// `tidewater.db` alone (the obvious backup) gave a store with no runs. Every way a command
/// ends (success, a failed run, Ctrl-C) must leave them in the database file.
#[test]
fn the_database_file_alone_holds_every_run_after_every_command() {
    let project = project();
    run_ok(&project);
    assert_eq!(
        runs_in_the_file_alone(&project),
        [(1, "succeeded".to_owned())]
    );

    let failed = run(&project, "fail");
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed.stderr));
    assert_eq!(
        runs_in_the_file_alone(&project)[0],
        (2, "failed".to_owned())
    );

    let mut interrupted = project
        .command(&["run", "slow"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run starts");
    eventually("the slow task to start", || {
        project.path("slow.pid").exists().then_some(())
    });
    kill(Pid::from_raw(interrupted.id() as i32), Signal::SIGINT).expect("SIGINT");
    assert_eq!(interrupted.wait().expect("exits").code(), Some(130));
    assert_eq!(
        runs_in_the_file_alone(&project),
        [
            (3, "cancelled".to_owned()),
            (2, "failed".to_owned()),
            (1, "succeeded".to_owned())
        ]
    );
}

/// Regression: deleting `tidewater.db-wal` after a few runs left "no runs yet", exit 0.
#[test]
fn deleting_the_write_ahead_log_after_a_command_loses_nothing() {
    let project = project();
    for _ in 0..3 {
        run_ok(&project);
    }
    std::fs::remove_file(with_suffix(&database(&project), "-wal")).expect("delete the log");
    assert_eq!(run_ids(&project), [1, 2, 3]);
    let status = check(&project);
    assert!(status.status.success(), "{}", text(&status.stderr));
}

/// Regression: a store that lost its history (here emptied to 0 bytes, the log gone) said
/// "no runs yet", and the next run was given id 1 and wrote its log over `logs/1/`.
#[test]
fn a_store_emptied_while_its_logs_remain_is_refused() {
    let project = project();
    for _ in 0..3 {
        run_ok(&project);
    }
    let first_log = project.read(".tidewater/logs/1/a.1.log");
    std::fs::write(database(&project), b"").expect("empty the store");
    let _ = std::fs::remove_file(with_suffix(&database(&project), "-wal"));

    let refused = run(&project, "ok");
    assert_eq!(refused.status.code(), Some(2));
    let said = text(&refused.stderr);
    assert!(
        said.contains("the store holds no runs, but .tidewater/logs holds logs of 3 runs (1–3)")
            && said.contains("tidewater store backup"),
        "{said}"
    );
    let listed = project.run(&["runs"]);
    assert_eq!(listed.status.code(), Some(2), "{}", text(&listed.stdout));
    assert_eq!(project.read(".tidewater/logs/1/a.1.log"), first_log);
    let checked = check(&project);
    assert_eq!(checked.status.code(), Some(1));
    assert!(
        text(&checked.stderr).contains("holds logs of 3 runs (1–3) that the store does not have"),
        "{}",
        text(&checked.stderr)
    );
}

/// Regression: a garbage write-ahead log was silently ignored (and then overwritten).
#[test]
fn a_damaged_write_ahead_log_is_a_clear_error() {
    let project = project();
    run_ok(&project);
    let log = with_suffix(&database(&project), "-wal");
    std::fs::write(&log, vec![0x42_u8; 8192]).expect("damage the log");
    let refused = project.run(&["runs"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        text(&refused.stderr).contains("is not a SQLite write-ahead log"),
        "{}",
        text(&refused.stderr)
    );
    let checked = check(&project);
    assert_eq!(checked.status.code(), Some(1));
    assert!(
        text(&checked.stderr)
            .contains("the write-ahead log (-wal) is not a SQLite write-ahead log"),
        "{}",
        text(&checked.stderr)
    );
    assert_eq!(std::fs::read(&log).expect("log"), vec![0x42_u8; 8192]);
}

#[test]
fn store_check_passes_on_a_good_store_and_fails_on_a_damaged_one() {
    let project = project();
    for _ in 0..20 {
        run_ok(&project);
    }
    let good = check(&project);
    assert!(good.status.success(), "{}", text(&good.stderr));
    let said = text(&good.stdout);
    assert!(said.contains("runs    20 (highest id 20)"), "{said}");
    assert!(said.contains("20 run folders (1–20)"), "{said}");

    let bytes = std::fs::read(database(&project)).expect("read");
    std::fs::write(database(&project), &bytes[..bytes.len() / 2]).expect("truncate");
    let truncated = check(&project);
    assert_eq!(
        truncated.status.code(),
        Some(1),
        "{}",
        text(&truncated.stdout)
    );
    assert!(
        text(&truncated.stderr).contains("problem: "),
        "{}",
        text(&truncated.stderr)
    );

    std::fs::write(database(&project), b"").expect("empty");
    let empty = check(&project);
    assert_eq!(empty.status.code(), Some(1));
    assert!(
        text(&empty.stderr).contains("the database file is empty (0 bytes)"),
        "{}",
        text(&empty.stderr)
    );
}

/// Regression: restoring an older store (a backup) gave new runs the ids of runs it did not
/// know, and their logs were written into those runs' folders.
#[test]
fn a_store_restored_from_an_older_backup_never_reuses_a_log_folder() {
    let project = project();
    run_ok(&project);
    let backup = project.path("backup.db");
    let made = project.run(&["store", "backup", backup.to_str().expect("utf-8")]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    run_ok(&project);
    run_ok(&project);
    let second_log = project.read(".tidewater/logs/2/a.1.log");

    restore(&project, &backup);
    let output = run(&project, "ok");
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("New runs are numbered from 4"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(run_ids(&project), [1, 4]);
    assert_eq!(project.read(".tidewater/logs/2/a.1.log"), second_log);
    let fourth_log = project.read(".tidewater/logs/4/a.1.log");
    assert!(fourth_log.contains("out| ok-4"), "{fourth_log}");
    let checked = check(&project);
    assert!(checked.status.success(), "{}", text(&checked.stderr));
}

#[test]
fn store_backup_while_a_server_runs_gives_a_store_with_the_same_runs() {
    let project = project();
    let server = Server::start(&project);
    for _ in 0..3 {
        // The three runs are of the same interval: without `--allow-concurrent` a trigger
        // is refused while the previous run is still queued or running (a flaky failure).
        let triggered = project.run(&["trigger", "ok", "--allow-concurrent"]);
        assert!(triggered.status.success(), "{}", text(&triggered.stderr));
    }
    eventually("the triggered runs to succeed", || {
        let runs = runs(&project);
        (runs.len() == 3 && runs.iter().all(|run| run["state"] == "succeeded")).then_some(())
    });
    let backup = project.path("backup.db");
    let backup_arg = backup.to_str().expect("utf-8");
    let made = project.run(&["store", "backup", backup_arg]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    assert!(
        text(&made.stderr).contains("(3 runs"),
        "{}",
        text(&made.stderr)
    );
    let again = project.run(&["store", "backup", backup_arg]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        text(&again.stderr).contains("exists; give --overwrite"),
        "{}",
        text(&again.stderr)
    );
    let replaced = project.run(&["store", "backup", backup_arg, "--overwrite"]);
    assert!(replaced.status.success(), "{}", text(&replaced.stderr));
    assert!(
        !project.path("backup.db-wal").exists() && !project.path("backup.db-shm").exists(),
        "a backup is one file"
    );
    server.stop();

    let copy = project_with_store(&backup);
    assert_eq!(run_ids(&copy), [1, 2, 3]);
    assert!(runs(&copy).iter().all(|run| run["state"] == "succeeded"));
}

/// Regression: a server whose write-ahead log was deleted under it went on writing into the
/// deleted file, and its restart re-ran a whole catchup on the emptied store.
#[test]
fn a_server_stops_when_its_write_ahead_log_is_deleted() {
    let project = project();
    let mut server = Server::start(&project);
    let triggered = project.run(&["trigger", "ok"]);
    assert!(triggered.status.success(), "{}", text(&triggered.stderr));
    // Deleted at once, before the server's first look at its files, as well as later.
    eventually("the run to succeed", || {
        runs(&project)
            .first()
            .filter(|run| run["state"] == "succeeded")
            .map(|_| ())
    });
    std::fs::remove_file(with_suffix(&database(&project), "-wal")).expect("delete the log");
    let status = eventually("the server to stop", || {
        server.child().try_wait().expect("wait")
    });
    assert_eq!(status.code(), Some(2));
    let said = project.read("server.log");
    assert!(
        said.contains("its write-ahead log (-wal) was deleted"),
        "{said}"
    );
    // The run `trigger` recorded is in the database file (its state there is as of the
    // server's last checkpoint, here perhaps none: a restarted server redoes at most that).
    assert_eq!(run_ids(&project), [1]);
}
