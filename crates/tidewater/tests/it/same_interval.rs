//! Two runs of one workflow and interval at once (issue 15, item 2): `run` and `trigger`
//! refuse while a run of the same interval is queued or running, unless `--allow-concurrent`.

use std::process::{Child, ExitStatus, Stdio};

use crate::project::{TestProject, text};
use crate::service::{eventually, runs};

/// Each run blocks until the file `release-DS` exists, then says so in `ended.txt`.
const HOLDING: &str = r#"
schedule: "@daily"
timezone: UTC
tasks:
  hold:
    sh: |
      echo "{{ ds }}" >> started.txt
      while [ ! -f "release-{{ ds }}" ]; do sleep 0.05; done
      echo "{{ ds }}" >> ended.txt
"#;

fn spawn_run(project: &TestProject, date: &str, log: &str) -> Child {
    project
        .command(&["run", "daily", "--date", date])
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(project.path(log)).expect("log file"),
        ))
        .spawn()
        .expect("run starts")
}

fn started(project: &TestProject, date: &str) -> usize {
    std::fs::read_to_string(project.path("started.txt"))
        .unwrap_or_default()
        .lines()
        .filter(|line| *line == date)
        .count()
}

/// Regression (issue 15, item 2): two `tidewater run`s of the same date ran at once, each
/// writing the interval's partitions. Raced as two real processes, exactly one runs and the
/// other is refused with a message that names the active run and the way around it; the
/// check and the creation are one transaction, so no round lets both through.
#[test]
fn two_runs_of_one_interval_started_together_run_once() {
    let project = TestProject::new("", &[("daily.yaml", HOLDING)]);
    for date in [
        "2026-01-01",
        "2026-01-02",
        "2026-01-03",
        "2026-01-04",
        "2026-01-05",
    ] {
        let mut children = [
            spawn_run(&project, date, "first.log"),
            spawn_run(&project, date, "second.log"),
        ];
        // One is refused and exits at once; on a build without the check both would run.
        eventually("one run to be refused, or both to start", || {
            let exited = children
                .iter_mut()
                .any(|child| child.try_wait().expect("try_wait").is_some());
            (exited || started(&project, date) == 2).then_some(())
        });
        std::fs::write(project.path(&format!("release-{date}")), "").expect("release");
        let statuses: Vec<ExitStatus> = children
            .iter_mut()
            .map(|child| child.wait().expect("exits"))
            .collect();
        let logs = [project.read("first.log"), project.read("second.log")];
        assert_eq!(started(&project, date), 1, "{date} ran once: {logs:?}");
        let refused: Vec<&String> = statuses
            .iter()
            .zip(&logs)
            .filter(|(status, _)| !status.success())
            .map(|(_, log)| log)
            .collect();
        assert_eq!(refused.len(), 1, "{statuses:?} {logs:?}");
        assert!(
            refused[0].contains(&format!("of daily for {date} is "))
                && refused[0].contains("pass --allow-concurrent to start another"),
            "{}",
            refused[0]
        );
    }
    assert_eq!(runs(&project).len(), 5);
}

/// `trigger` refuses the same way while a run of the interval waits in the queue, and
/// `--allow-concurrent` queues a second one on purpose.
#[test]
fn trigger_refuses_a_queued_interval_unless_allowed() {
    let project = TestProject::new("", &[("daily.yaml", HOLDING)]);
    let first = project.run(&["trigger", "daily", "--date", "2026-01-01"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let id = text(&first.stdout).trim().to_owned();

    let again = project.run(&["trigger", "daily", "--date", "2026-01-01"]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again.stderr));
    assert!(
        text(&again.stderr).contains(&format!("run {id} of daily for 2026-01-01 is queued since"))
            && text(&again.stderr).contains(&format!("`tidewater status {id}`")),
        "{}",
        text(&again.stderr)
    );
    // Another interval is not affected.
    let other = project.run(&["trigger", "daily", "--date", "2026-01-02"]);
    assert!(other.status.success(), "{}", text(&other.stderr));

    let allowed = project.run(&[
        "trigger",
        "daily",
        "--date",
        "2026-01-01",
        "--allow-concurrent",
    ]);
    assert!(allowed.status.success(), "{}", text(&allowed.stderr));
    assert_eq!(runs(&project).len(), 3);
}

/// A run whose process was killed is left `running`: a new run of its interval is refused
/// with the way to resume it (`retry`), not told to follow a run that nobody executes.
#[test]
fn a_run_left_by_a_killed_process_is_pointed_to_retry() {
    let project = TestProject::new("", &[("daily.yaml", HOLDING)]);
    let mut child = spawn_run(&project, "2026-02-01", "first.log");
    eventually("the run to start", || {
        (started(&project, "2026-02-01") == 1).then_some(())
    });
    child.kill().expect("SIGKILL");
    child.wait().expect("exits");
    // Its task outlived the killed process: let it end (nobody records that; the run stays
    // `running` in the store), so that nothing is left behind and a second run would not wait.
    std::fs::write(project.path("release-2026-02-01"), "").expect("release");
    eventually("the leftover task to end", || {
        std::fs::read_to_string(project.path("ended.txt"))
            .ok()
            .filter(|ended| ended.contains("2026-02-01"))
    });
    let again = project.run(&["run", "daily", "--date", "2026-02-01"]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again.stderr));
    assert!(
        text(&again.stderr).contains("died; resume it with `tidewater retry 1`"),
        "{}",
        text(&again.stderr)
    );
}
