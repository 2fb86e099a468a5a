//! `tidewater server`, `pause`, `trigger` and `backfill` with the real binary: crash and
//! restart, files edited and broken while the server runs, backfills stopped and resumed.

use std::collections::BTreeMap;
use std::process::{Child, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::project::{TestProject, text};

/// How long [`eventually`] waits at most: far beyond any passing test's wait, so that a
/// loaded machine (CI building other crates meanwhile) is never taken for a broken test.
pub(crate) const EVENTUALLY_BOUND: Duration = Duration::from_secs(120);

/// A workflow whose two tasks both need the one slot of pool `single` (declare it with
/// `[pools.single] slots = 1`) and hold it until the file `go.pooled` exists, so that one of
/// them waits, with the pool as the reason.
pub(crate) const POOLED: &str = r#"
timezone: UTC
tasks:
  first:
    pool: single
    sh: while [ ! -f go.pooled ]; do sleep 0.1; done
  second:
    pool: single
    sh: while [ ! -f go.pooled ]; do sleep 0.1; done
"#;

/// Polls `check` (which reads what real processes wrote) until it gives a value; bounded by
/// [`EVENTUALLY_BOUND`], so that a broken test fails instead of hanging.
pub(crate) fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + EVENTUALLY_BOUND;
    while std::time::Instant::now() < deadline {
        if let Some(value) = check() {
            return value;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}

pub(crate) fn runs(project: &TestProject) -> Vec<serde_json::Value> {
    let output = project.run(&["runs", "--json", "--limit", "1000"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    serde_json::from_slice::<Vec<serde_json::Value>>(&output.stdout).expect("runs --json")
}

pub(crate) fn health(project: &TestProject) -> serde_json::Value {
    let output = project.run(&["status", "--json"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("status --json")
}

pub(crate) fn start_server(project: &TestProject) -> Child {
    start_server_listening(project, "127.0.0.1:0")
}

/// `tidewater server --listen LISTEN`, its stderr appended to `server.log`, once it has
/// recorded itself in the store.
pub(crate) fn start_server_listening(project: &TestProject, listen: &str) -> Child {
    let child = project
        .command(&["server", "--parallelism", "4", "--listen", listen])
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(project.path("server.log"))
                .expect("server log"),
        ))
        .spawn()
        .expect("server starts");
    eventually("the server to record itself", || {
        health(project)["server"]
            .as_i64()
            .filter(|&pid| pid == i64::from(child.id()))
    });
    child
}

pub(crate) fn stop_server(mut server: Child) {
    kill(Pid::from_raw(server.id() as i32), Signal::SIGTERM).expect("SIGTERM");
    let status = server.wait().expect("server exits");
    assert!(
        status.success(),
        "the server stops cleanly on SIGTERM: {status}"
    );
}

pub(crate) fn is_running(pid: i32) -> bool {
    // A zombie is not running; /proc tells the state.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit_once(") ")
                .is_some_and(|(_, rest)| !rest.starts_with('Z'))
        })
        .unwrap_or(false)
}

fn days_ago(days: i64) -> String {
    (chrono::Utc::now().date_naive() - chrono::Duration::days(days)).to_string()
}

fn lines(project: &TestProject, file: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in std::fs::read_to_string(project.path(file))
        .unwrap_or_default()
        .lines()
    {
        *counts.entry(line.to_owned()).or_default() += 1;
    }
    counts
}

/// Daily with catchup from three days ago: the server creates three runs at once, one at a
/// time (`max_active_runs` 1). The first run's `slow` blocks until killed.
fn catchup_workflow() -> String {
    format!(
        r#"
schedule: "@daily"
timezone: UTC
start: "{start}"
catchup: true
tasks:
  first:
    sh: echo "first {{{{ ds }}}}" >> ran.txt
  slow:
    needs: [first]
    sh: |
      if [ ! -f slow.started ]; then
        touch slow.started
        sleep 600 &
        echo $! > sleeper.pid
        wait
      fi
      echo "slow {{{{ ds }}}}" >> ran.txt
"#,
        start = days_ago(3)
    )
}

#[test]
fn a_killed_server_restarts_and_finishes_every_interval_exactly_once() {
    let project = TestProject::new("", &[("daily.yaml", &catchup_workflow())]);
    let server = start_server(&project);
    let sleeper: i32 = eventually("the first run's slow task to start", || {
        std::fs::read_to_string(project.path("sleeper.pid"))
            .ok()
            .and_then(|pid| pid.trim().parse().ok())
    });
    let mut server = server;
    server.kill().expect("SIGKILL the server");
    server.wait().expect("reaped");
    assert!(is_running(sleeper), "the task outlives its killed server");

    let server = start_server(&project);
    let finished = eventually("every run to succeed", || {
        let runs = runs(&project);
        (runs.len() == 3 && runs.iter().all(|run| run["state"] == "succeeded")).then_some(runs)
    });
    stop_server(server);

    assert!(!is_running(sleeper), "the orphaned task process was killed");
    let mut intervals: Vec<&str> = finished
        .iter()
        .map(|run| run["data_interval_start"].as_str().expect("start"))
        .collect();
    intervals.sort();
    intervals.dedup();
    assert_eq!(intervals.len(), 3, "one run per interval: {finished:?}");
    let expected: BTreeMap<String, usize> = (1..=3)
        .flat_map(|days| {
            let ds = days_ago(days);
            [(format!("first {ds}"), 1), (format!("slow {ds}"), 1)]
        })
        .collect();
    assert_eq!(
        lines(&project, "ran.txt"),
        expected,
        "no succeeded task ran twice; the interrupted one ran again once"
    );
    // The interrupted attempt is recorded as lost and ran again, though the task has no
    // retries: a lost attempt uses none.
    let first_run = finished
        .iter()
        .min_by_key(|run| run["data_interval_start"].as_str().map(str::to_owned))
        .expect("a run");
    let status = project.status_json(&first_run["id"].to_string());
    let slow = status["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .find(|task| task["task"] == "slow")
        .expect("slow");
    let attempts = slow["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 2, "{slow}");
    assert!(
        attempts[0]["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("lost")),
        "{slow}"
    );
}

#[test]
fn workflow_files_edited_or_broken_while_the_server_runs() {
    let version = |v: &str| format!("tasks:\n  hello:\n    sh: echo {v} >> versions.txt\n");
    let project = TestProject::new(
        "",
        &[
            ("manual.yaml", &version("v1")),
            (
                "other.yaml",
                "tasks:\n  a:\n    sh: echo other >> other.txt\n",
            ),
        ],
    );
    let server = start_server(&project);
    let hash_of = |project: &TestProject, file: &str| {
        health(project)["workflows"]
            .as_array()
            .expect("workflows")
            .iter()
            .find(|workflow| workflow["file"] == file)
            .map(|workflow| {
                (
                    workflow["workflow_hash"].clone(),
                    workflow["problem"].clone(),
                )
            })
    };
    let trigger_and_wait = |workflow: &str, file: &str, lines: usize| {
        let output = project.run(&["trigger", workflow]);
        assert!(output.status.success(), "{}", text(&output.stderr));
        eventually("the triggered run", || {
            let text = std::fs::read_to_string(project.path(file)).unwrap_or_default();
            (text.lines().count() == lines).then_some(text)
        })
    };
    assert_eq!(trigger_and_wait("manual", "versions.txt", 1), "v1\n");

    let (v1_hash, _) = hash_of(&project, "workflows/manual.yaml").expect("reported");
    std::fs::write(project.path("workflows/manual.yaml"), version("v2")).expect("edit");
    eventually("the server to load the edit", || {
        hash_of(&project, "workflows/manual.yaml").filter(|(hash, _)| *hash != v1_hash)
    });
    assert_eq!(trigger_and_wait("manual", "versions.txt", 2), "v1\nv2\n");

    // A broken new file is reported and stops nothing.
    std::fs::write(
        project.path("workflows/broken.yaml"),
        "tasks:\n  a:\n    shh: x\n",
    )
    .expect("write");
    let (_, problem) = eventually("the broken file to be reported", || {
        hash_of(&project, "workflows/broken.yaml").filter(|(_, problem)| !problem.is_null())
    });
    assert!(
        problem.as_str().is_some_and(|text| text.contains("shh")),
        "{problem}"
    );
    assert_eq!(trigger_and_wait("other", "other.txt", 1), "other\n");

    // Breaking a good file keeps its last good version scheduled.
    let (v2_hash, _) = hash_of(&project, "workflows/manual.yaml").expect("reported");
    std::fs::write(project.path("workflows/manual.yaml"), "tasks: [").expect("break");
    let (kept, _) = eventually("the broken edit to be reported", || {
        hash_of(&project, "workflows/manual.yaml").filter(|(_, problem)| !problem.is_null())
    });
    assert_eq!(kept, v2_hash, "the last good version stays");
    stop_server(server);
}

#[test]
fn a_paused_workflow_gets_no_runs_until_unpaused() {
    let project = TestProject::new("", &[("daily.yaml", &catchup_workflow())]);
    // Let every task finish at once.
    std::fs::write(project.path("slow.started"), "").expect("write");
    let output = project.run(&["pause", "daily"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let server = start_server(&project);
    // The server has published its health, so it has been through a scheduling turn.
    eventually("the workflow to be reported paused", || {
        health(&project)["workflows"][0]["paused"]
            .as_bool()
            .filter(|paused| *paused)
    });
    assert!(runs(&project).is_empty(), "no runs while paused");
    let output = project.run(&["unpause", "daily"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    eventually("the missed intervals to run", || {
        let runs = runs(&project);
        (runs.len() == 3 && runs.iter().all(|run| run["state"] == "succeeded")).then_some(())
    });
    stop_server(server);
}

#[test]
fn a_second_server_on_the_same_project_is_refused() {
    let project = TestProject::new("", &[]);
    let server = start_server(&project);
    let output = project.run(&["server"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("a server already runs"),
        "{}",
        text(&output.stderr)
    );
    stop_server(server);
}

const BACKFILLED: &str = r#"
schedule: "@daily"
timezone: UTC
tasks:
  load:
    sh: echo "{{ ds }}" >> loaded.txt
"#;

fn backfill(project: &TestProject, args: &[&str]) -> std::process::Output {
    let mut all = vec!["backfill", "daily"];
    all.extend_from_slice(args);
    project.run(&all)
}

#[test]
fn a_backfill_runs_each_interval_once_and_only_missing_skips_what_succeeded() {
    let project = TestProject::new("", &[("daily.yaml", BACKFILLED)]);
    let range = ["--from", "2026-01-01", "--to", "2026-01-05"];

    let dry = backfill(&project, &[&range[..], &["--dry-run"]].concat());
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    assert_eq!(
        text(&dry.stdout).matches("2026-01-0").count(),
        10,
        "{}",
        text(&dry.stdout)
    );
    assert!(runs(&project).is_empty(), "a dry run records nothing");

    let output = backfill(
        &project,
        &[&range[..], &["--max-active-runs", "2"]].concat(),
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let loaded = lines(&project, "loaded.txt");
    assert_eq!(loaded.len(), 5, "{loaded:?}");
    assert!(loaded.values().all(|&count| count == 1), "{loaded:?}");
    assert!(
        runs(&project)
            .iter()
            .all(|run| run["trigger"] == "backfill")
    );

    // Everything succeeded: only-missing has nothing to do.
    let again = backfill(&project, &[&range[..], &["--only-missing"]].concat());
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(runs(&project).len(), 5, "{}", text(&again.stderr));
    // Widening the range runs only the new days.
    let wider = backfill(
        &project,
        &[
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-07",
            "--only-missing",
        ],
    );
    assert!(wider.status.success(), "{}", text(&wider.stderr));
    let loaded = lines(&project, "loaded.txt");
    assert_eq!(loaded.len(), 7, "{loaded:?}");
    assert!(loaded.values().all(|&count| count == 1), "{loaded:?}");
}

#[test]
fn a_stopped_backfill_resumes_without_duplicates() {
    let workflow = r#"
schedule: "@daily"
timezone: UTC
tasks:
  load:
    sh: |
      if [ "{{ ds }}" = "2026-01-02" ] && [ ! -f resumed ]; then
        echo $$ > blocked.pid
        sleep 600
      fi
      echo "{{ ds }}" >> loaded.txt
"#;
    let project = TestProject::new("", &[("daily.yaml", workflow)]);
    let range = ["--from", "2026-01-01", "--to", "2026-01-04"];
    let mut child = project
        .command(
            &range
                .iter()
                .fold(vec!["backfill", "daily"], |mut all, arg| {
                    all.push(arg);
                    all
                }),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("backfill starts");
    eventually("day 2 to block", || {
        std::fs::read_to_string(project.path("blocked.pid")).ok()
    });
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).expect("SIGINT");
    let status = child.wait().expect("exits");
    assert_eq!(
        status.code(),
        Some(130),
        "a stopped backfill exits as cancelled"
    );
    // The interrupted run is queued again (its task recorded as cancelled), nothing runs.
    let stopped = runs(&project);
    assert!(
        stopped.iter().all(|run| run["state"] != "running")
            && stopped.iter().any(|run| run["state"] == "queued"),
        "{stopped:?}"
    );

    std::fs::write(project.path("resumed"), "").expect("write");
    let output = backfill(&project, &range);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("resuming backfill"),
        "{}",
        text(&output.stderr)
    );
    let runs = runs(&project);
    assert_eq!(runs.len(), 4, "no interval got a second run: {runs:?}");
    assert!(
        runs.iter().all(|run| run["state"] == "succeeded"),
        "{runs:?}"
    );
    let loaded = lines(&project, "loaded.txt");
    assert_eq!(loaded.len(), 4, "{loaded:?}");
    assert!(loaded.values().all(|&count| count == 1), "{loaded:?}");
}

#[test]
fn bad_requests_are_clear_errors_that_record_nothing() {
    let project = TestProject::new("", &[("daily.yaml", BACKFILLED)]);
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "backfill",
                "daily",
                "--from",
                "2026-02-01",
                "--to",
                "2026-01-01",
            ],
            "from 2026-02-01 is after to 2026-01-01",
        ),
        (
            &[
                "backfill",
                "dialy",
                "--from",
                "2026-01-01",
                "--to",
                "2026-01-02",
            ],
            "dialy",
        ),
        (&["trigger", "nope"], "nope"),
        (&["pause", "nope"], "nope"),
    ];
    for (args, expected) in cases {
        let output = project.run(args);
        assert!(!output.status.success(), "{args:?} must fail");
        let stderr = text(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert!(runs(&project).is_empty());
    assert_eq!(health(&project)["queued_runs"], 0);
}
