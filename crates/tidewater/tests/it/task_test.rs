//! `tidewater test WORKFLOW TASK`: one task rendered and run in the foreground, recording
//! nothing.

use std::collections::BTreeMap;
use std::path::Path;

use crate::project::{TestProject, text};

const HELLO: &str = r#"
params:
  who: world
tasks:
  greet:
    sh: echo "hello {{ params.who }} {{ ds }} $TIDEWATER_DS $TIDEWATER_PARAM_WHO run $TIDEWATER_RUN_ID"; echo oops >&2
  fail:
    sh: echo "about to fail"; exit 3
  count:
    sh: |
      echo '{"rows": 7}' > "$TIDEWATER_OUTPUT"
  report:
    needs: [count]
    sh: echo "rows={{ tasks.count.output.rows }}"
  join:
    needs: [greet]
    empty: {}
"#;

/// Every file under `dir` with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("read the folder") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                folders.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read a file");
                found.insert(path.display().to_string(), bytes);
            }
        }
    }
    found
}

/// Regression (new command): there was no way to try one task without creating a run. `test`
/// renders the task as a run would, runs it with the environment of a real attempt and its log
/// on the terminal, exits with the command's status, and leaves the store and the logs
/// byte for byte as they were.
#[test]
fn test_runs_one_sh_task_as_an_attempt_would_and_records_nothing() {
    let project = TestProject::new("", &[("hello.yaml", HELLO)]);
    // A store with a run in it, to compare before and after.
    let run = project.run(&["run", "hello", "--date", "2026-01-01"]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run.stderr));
    let state_dir = project.path(".tidewater");
    let before = files(&state_dir);
    assert!(before.keys().any(|file| file.ends_with("tidewater.db")));

    let greet = project.run(&[
        "test",
        "hello",
        "greet",
        "--date",
        "2026-03-04",
        "--param",
        "who=you",
    ]);
    assert_eq!(greet.status.code(), Some(0), "{}", text(&greet.stderr));
    let log = text(&greet.stdout);
    assert!(
        log.lines()
            .any(|line| line.ends_with("out| hello you 2026-03-04 2026-03-04 you run 0")),
        "{log}"
    );
    assert!(log.lines().any(|line| line.ends_with("err| oops")), "{log}");
    assert!(
        text(&greet.stderr).contains("nothing is recorded"),
        "{}",
        text(&greet.stderr)
    );

    let fail = project.run(&["test", "hello", "fail", "--date", "2026-03-04"]);
    assert_eq!(
        fail.status.code(),
        Some(3),
        "the command's own status: {}",
        text(&fail.stderr)
    );
    assert!(text(&fail.stdout).contains("out| about to fail"));

    let join = project.run(&["test", "hello", "join"]);
    assert_eq!(join.status.code(), Some(0), "{}", text(&join.stderr));
    assert!(
        text(&join.stderr).contains("join is an `empty` task: there is nothing to run"),
        "{}",
        text(&join.stderr)
    );

    assert!(
        before == files(&state_dir),
        "the store and the logs are byte for byte as before"
    );
    let runs = project.run(&["runs", "--json"]);
    let runs: Vec<serde_json::Value> = serde_json::from_slice(&runs.stdout).expect("json");
    assert_eq!(runs.len(), 1, "no run was added");
}

/// Upstream tasks do not run in a test, so their outputs exist only when given: a task that
/// reads one is refused with what to pass, and runs with `--output`.
#[test]
fn test_asks_for_upstream_outputs_the_task_reads() {
    let project = TestProject::new("", &[("hello.yaml", HELLO)]);
    let refused = project.run(&["test", "hello", "report", "--date", "2026-03-04"]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = text(&refused.stderr);
    assert!(
        stderr.contains("reads the output of count")
            && stderr.contains("upstream tasks do not run in a test")
            && stderr.contains("--output count="),
        "{stderr}"
    );

    let given = project.run(&[
        "test",
        "hello",
        "report",
        "--date",
        "2026-03-04",
        "--output",
        r#"count={"rows": 7}"#,
    ]);
    assert_eq!(given.status.code(), Some(0), "{}", text(&given.stderr));
    assert!(
        text(&given.stdout).contains("out| rows=7"),
        "{}",
        text(&given.stdout)
    );

    let not_object = project.run(&["test", "hello", "report", "--output", "count=7"]);
    assert_eq!(not_object.status.code(), Some(2));
    assert!(text(&not_object.stderr).contains("is not a JSON object"));
    let unknown = project.run(&["test", "hello", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        text(&unknown.stderr).contains("hello has no task `nope` (its tasks: greet, fail"),
        "{}",
        text(&unknown.stderr)
    );
    assert!(
        !project.path(".tidewater").exists(),
        "no store or log folder was created"
    );
}

/// A `sql` task's query runs and its rows are shown, and nothing is written without
/// `--write`; a `wait` task looks once. With `--write` the table is written as a run would.
#[test]
fn test_of_sql_and_wait_tasks_reads_and_writes_only_when_asked() {
    let project = TestProject::example();
    let day = ["--date", "2026-01-01"];
    let test = |task: &str, extra: &[&str]| {
        let mut args = vec!["test", "daily_orders", task];
        args.extend_from_slice(&day);
        args.extend_from_slice(extra);
        project.run(&args)
    };

    let not_landed = test("landed", &[]);
    assert_eq!(
        not_landed.status.code(),
        Some(1),
        "{}",
        text(&not_landed.stderr)
    );
    assert!(text(&not_landed.stderr).contains("the condition does not hold yet"));

    let extract = test("extract", &[]);
    assert_eq!(extract.status.code(), Some(0), "{}", text(&extract.stderr));
    let landed = test("landed", &[]);
    assert_eq!(landed.status.code(), Some(0), "{}", text(&landed.stderr));
    assert!(text(&landed.stderr).contains("the condition holds"));

    let load = test("load_raw", &[]);
    assert_eq!(load.status.code(), Some(0), "{}", text(&load.stderr));
    assert!(
        text(&load.stdout).contains("500 rows"),
        "{}",
        text(&load.stdout)
    );
    assert!(
        text(&load.stderr).contains(
            "nothing was written; with --write, load_raw would write into raw.orders (replace_partition, partition dt = 2026-01-01)"
        ),
        "{}",
        text(&load.stderr)
    );
    let tables = project.run(&["tables", "--json"]);
    assert!(tables.status.success(), "{}", text(&tables.stderr));
    let listed: serde_json::Value = serde_json::from_slice(&tables.stdout).expect("json");
    assert_eq!(listed, serde_json::json!([]), "no Delta table was created");

    let written = test("load_raw", &["--write"]);
    assert_eq!(written.status.code(), Some(0), "{}", text(&written.stderr));
    let count = project.run(&[
        "query",
        "SELECT count(*) AS n FROM raw.orders",
        "--format",
        "json",
    ]);
    assert!(count.status.success(), "{}", text(&count.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&count.stdout).expect("json");
    assert_eq!(rows[0]["n"], 500, "{rows}");
}

/// Ctrl-C stops a tested task as it stops a run's: its whole process group ends, and the
/// command exits 130.
#[test]
fn ctrl_c_stops_the_tested_task_and_everything_it_started() {
    let project = TestProject::new(
        "",
        &[(
            "slow.yaml",
            "tasks:\n  slow:\n    sh: |\n      sleep 600 &\n      echo $! > sleeper.pid\n      wait\n",
        )],
    );
    let child = project
        .command(&["test", "slow", "slow"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let sleeper: i32 = crate::service::eventually("the task to start its sleeper", || {
        std::fs::read_to_string(project.path("sleeper.pid"))
            .ok()
            .filter(|text| text.ends_with('\n'))
            .and_then(|text| text.trim().parse().ok())
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("interrupt");
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(130), "{}", text(&output.stderr));
    // The group's SIGKILL is delivered before `test` exits, but the kernel may still be
    // tearing the sleeper down: wait for it to end (bounded), rather than look once.
    crate::service::eventually("the task's process group to be stopped", || {
        (!crate::service::is_running(sleeper)).then_some(())
    });
    assert!(!project.path(".tidewater").exists(), "nothing was recorded");
}
