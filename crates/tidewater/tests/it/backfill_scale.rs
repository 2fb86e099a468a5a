//! Backfills at scale and backfills that share their runs (issue 15, items 9 and 10): Ctrl-C
//! of a large backfill, bounded summaries, `queue` on thousands of queued runs, two identical
//! backfills at once, and `queue` agreeing with the server on which runs start next.

use std::collections::BTreeSet;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::project::{TestProject, text};
use crate::service::{eventually, runs, start_server, stop_server};

/// Hourly, so that 100 days make 2,400 intervals. `a` takes a moment until the file `fast`
/// exists, so that a Ctrl-C finds runs in flight; `b` is an `empty` task downstream of it.
const HOURLY: &str = r#"
schedule: "0 * * * *"
timezone: UTC
tasks:
  a:
    sh: "[ -f fast ] || sleep 0.05"
  b:
    needs: [a]
    empty: {}
"#;

fn spawn_backfill(project: &TestProject, args: &[&str], log: &str) -> Child {
    let mut all = vec!["backfill", "hourly"];
    all.extend_from_slice(args);
    project
        .command(&all)
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(project.path(log)).expect("log file"),
        ))
        .spawn()
        .expect("backfill starts")
}

/// Waits for a backfill to exit, for up to five minutes: generous, because six test binaries
/// may share two cores, and bounded, so that a hang fails the test.
fn wait_for(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(300);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    panic!("the backfill did not exit within five minutes");
}

fn runs_in_state(project: &TestProject, state: &str) -> Vec<serde_json::Value> {
    let output = project.run(&["runs", "--json", "--limit", "100000", "--state", state]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("runs --json")
}

/// Regression (issue 15, item 9): a large backfill ignored Ctrl-C for up to a minute (every
/// turn of its scheduler read every queued run), and its closing line listed every unfinished
/// run id on one line (104 KB for 10,000 intervals). It must stop promptly, summarise with
/// counts and a few ids, leave its runs resumable, and `queue` must group its queued runs.
#[test]
fn a_large_backfill_stops_on_ctrl_c_with_a_bounded_summary_and_resumes() {
    let project = TestProject::new("", &[("hourly.yaml", HOURLY)]);
    let range = ["--from", "2025-01-01", "--to", "2025-04-10"];
    let mut child = spawn_backfill(
        &project,
        &[&range[..], &["--max-active-runs", "4"]].concat(),
        "first.log",
    );
    eventually("a few runs to succeed", || {
        std::fs::read_to_string(project.path("first.log"))
            .ok()
            .filter(|log| log.matches(" succeeded (").count() >= 8)
    });
    let interrupted = Instant::now();
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).expect("SIGINT");
    let status = wait_for(&mut child);
    // Reported, not asserted: the bound above is generous on purpose.
    eprintln!(
        "the backfill stopped {:?} after SIGINT",
        interrupted.elapsed()
    );
    assert_eq!(
        status.code(),
        Some(130),
        "a stopped backfill exits as cancelled"
    );

    let log = project.read("first.log");
    let summary: Vec<&str> = log
        .lines()
        .skip_while(|line| !line.starts_with("backfill 1: "))
        .collect();
    assert!(
        summary
            .first()
            .is_some_and(|line| line.contains("/2400 runs succeeded")),
        "{log}"
    );
    let queued_line = summary
        .iter()
        .find(|line| line.contains(" queued: "))
        .unwrap_or_else(|| panic!("a line for the queued runs: {summary:?}"));
    assert!(
        queued_line.contains("more;")
            && queued_line.contains("`tidewater runs hourly --backfill 1 --state queued"),
        "{queued_line}"
    );
    let ids_shown = queued_line
        .split_once(": ")
        .and_then(|(_, rest)| rest.split_once(" and "))
        .map(|(ids, _)| ids.split(", ").count())
        .unwrap_or_default();
    assert!((1..=5).contains(&ids_shown), "{queued_line}");
    assert!(
        summary.iter().all(|line| line.len() < 300),
        "every summary line is short: {summary:?}"
    );

    // Resumable: nothing left running, the rest queued.
    assert!(runs_in_state(&project, "running").is_empty());
    let queued = runs_in_state(&project, "queued");
    assert!(queued.len() > 2000, "{}", queued.len());

    // `queue`: one line per queue and reason, `--json` complete.
    let listed = project.run(&["queue"]);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let listed = text(&listed.stdout);
    assert!(listed.lines().count() <= 4, "{listed}");
    assert!(
        listed.contains(&format!("({} runs)", queued.len() - 4))
            && listed.contains("backfill 1's max_active_runs 4"),
        "{listed}"
    );
    let json = project.run(&["queue", "--json"]);
    assert!(json.status.success(), "{}", text(&json.stderr));
    let waiting: Vec<serde_json::Value> =
        serde_json::from_slice(&json.stdout).expect("queue --json");
    assert_eq!(waiting.len(), queued.len());

    // The same command resumes the backfill and finishes it, each interval once.
    std::fs::write(project.path("fast"), "").expect("write");
    let mut child = spawn_backfill(
        &project,
        &[&range[..], &["--max-active-runs", "16"]].concat(),
        "second.log",
    );
    let status = wait_for(&mut child);
    let log = project.read("second.log");
    assert!(status.success(), "{log}");
    assert!(log.contains("resuming backfill 1"), "{log}");
    assert!(
        log.contains("backfill 1: 2400/2400 runs succeeded"),
        "{log}"
    );
    assert_eq!(runs_in_state(&project, "succeeded").len(), 2400);
}

/// Two `tidewater backfill` commands of one range, both in the foreground.
fn two_backfills_at_once(stagger: bool) {
    let workflow = r#"
schedule: "0 * * * *"
timezone: UTC
tasks:
  load:
    sh: |
      echo "{{ data_interval_start }}" >> loaded.txt
      sleep 0.1
"#;
    let project = TestProject::new("", &[("hourly.yaml", workflow)]);
    let args = [
        "--from",
        "2025-01-01",
        "--to",
        "2025-01-02",
        "--max-active-runs",
        "2",
    ];
    let mut first = spawn_backfill(&project, &args, "first.log");
    if stagger {
        // The second starts while the first executes: it resumes the same backfill.
        eventually("the first backfill to run", || {
            std::fs::read_to_string(project.path("loaded.txt")).ok()
        });
    }
    let mut second = spawn_backfill(&project, &args, "second.log");
    let statuses = [wait_for(&mut first), wait_for(&mut second)];
    for (status, log) in statuses.iter().zip(["first.log", "second.log"]) {
        let log = project.read(log);
        assert!(status.success(), "{status}: {log}");
        assert!(
            log.lines()
                .any(|line| line
                    == "backfill 1: 48/48 runs succeeded, 0 failed, 0 cancelled, 0 to go"),
            "{log}"
        );
        assert!(!log.contains("being executed"), "{log}");
    }
    let runs = runs(&project);
    assert_eq!(runs.len(), 48, "one run per interval: {runs:?}");
    let loaded = project.read("loaded.txt");
    let distinct: BTreeSet<&str> = loaded.lines().collect();
    assert_eq!(
        loaded.lines().count(),
        48,
        "each interval loaded once: {loaded}"
    );
    assert_eq!(distinct.len(), 48);
}

/// Regression (issue 15, item 10): the second of two identical backfills exited 130 ("runs
/// not succeeded … give the same command again") while the first still executed the shared
/// runs, and said "run 4 run 4 is being executed by process N; stop it first". It must wait
/// for them and report how they ended.
#[test]
fn a_second_identical_backfill_follows_the_shared_runs_to_their_end() {
    two_backfills_at_once(true);
}

/// Regression: two identical backfills started at the same moment each created a backfill
/// of their own, and every interval ran twice (the lookup and the creation were two
/// transactions). They must share one backfill.
#[test]
fn identical_backfills_started_together_share_one_backfill() {
    two_backfills_at_once(false);
}

/// Issue 16, item 2: which queued runs start is one rule, used by the server and by `tidewater
/// queue`. The runs `queue` says start next are the ones the server starts.
#[test]
fn the_runs_queue_says_start_next_are_the_ones_the_server_starts() {
    let workflow = r#"
schedule: "@daily"
timezone: UTC
max_active_runs: 2
tasks:
  hold:
    sh: |
      echo "{{ ds }}" >> started.txt
      while [ ! -f release ]; do sleep 0.05; done
"#;
    let project = TestProject::new("", &[("daily.yaml", workflow)]);
    // Created out of date order: the oldest intervals start first, not the first created.
    for date in [
        "2026-01-05",
        "2026-01-02",
        "2026-01-09",
        "2026-01-01",
        "2026-01-03",
    ] {
        let output = project.run(&["trigger", "daily", "--date", date]);
        assert!(output.status.success(), "{}", text(&output.stderr));
    }
    let output = project.run(&["queue", "--json"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let waiting: Vec<serde_json::Value> =
        serde_json::from_slice(&output.stdout).expect("queue --json");
    let next: BTreeSet<i64> = waiting
        .iter()
        .filter(|row| row["why"] == "no server is running to start it")
        .filter_map(|row| row["run"].as_i64())
        .collect();
    assert_eq!(next.len(), 2, "{waiting:?}");

    let server = start_server(&project);
    let started: BTreeSet<i64> = eventually("two runs to start", || {
        let running: BTreeSet<i64> = runs_in_state(&project, "running")
            .iter()
            .filter_map(|run| run["id"].as_i64())
            .collect();
        (running.len() == 2).then_some(running)
    });
    std::fs::write(project.path("release"), "").expect("release");
    assert_eq!(started, next, "queue said {waiting:?}");
    // The server also creates the latest scheduled interval's run: wait for every run to end.
    eventually("every run to end", || {
        (runs_in_state(&project, "queued").is_empty()
            && runs_in_state(&project, "running").is_empty())
        .then_some(())
    });
    stop_server(server);
    let dates = project.read("started.txt");
    assert_eq!(
        dates.lines().take(2).collect::<BTreeSet<_>>(),
        BTreeSet::from(["2026-01-01", "2026-01-02"]),
        "{dates}"
    );
}
