//! What a user reads when a run ends: the summary of a failed run, why a task has no log,
//! and the order of a followed run's lines.

use crate::project::{TestProject, text};
use crate::service::{start_server, stop_server};

const FAILING: &str = r#"
tasks:
  extract:
    sh: |
      echo "connecting to the source"
      echo "warning: slow source" >&2
      echo "ERROR: relation \"orders\" does not exist" >&2
      echo "" >&2
      exit 1
  load_raw:
    needs: [extract]
    sh: echo load
  publish:
    empty: {}
on_failure:
  sh: echo alerted
"#;

/// The summary lines of a run's stderr, from the last `run 1 of` line on, with the run's
/// duration replaced.
fn summary(stderr: &str) -> String {
    let start = stderr
        .rfind("run 1 of ")
        .unwrap_or_else(|| panic!("a summary line in:\n{stderr}"));
    let summary = &stderr[start..];
    let (first, rest) = summary.split_once('\n').unwrap_or((summary, ""));
    let first = match (first.split_once(" in "), first.split_once(": ")) {
        (Some((head, _)), Some((_, tail))) => format!("{head} in [DURATION]: {tail}"),
        _ => first.to_owned(),
    };
    format!("{first}\n{rest}")
}

/// Regression: a failed run's summary counted its `on_failure` handler among the tasks
/// ("1 succeeded" for a run whose only work failed) and gave `exited with status 1` instead
/// of the task's own last error line.
#[test]
fn a_failed_run_summary_counts_only_steps_and_quotes_the_last_error_line() {
    let project = TestProject::new("", &[("failing.yaml", FAILING)]);
    let output = project.run(&["run", "failing", "--date", "2026-01-01"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let summary = summary(&text(&output.stderr));
    assert!(
        summary.contains("1 succeeded, 1 failed, 1 upstream failed"),
        "publish succeeded; the handler is not counted: {summary}"
    );
    assert!(
        summary.contains("extract: ERROR: relation \"orders\" does not exist (attempt 1)"),
        "{summary}"
    );
    assert!(summary.contains("on_failure ran"), "{summary}");
    insta::assert_snapshot!("failed_run_summary", summary);
}

/// Regression: `logs` of an `empty` task that succeeded, or of a task whose upstream failed,
/// said "has not started yet"; it now says what happened.
#[test]
fn logs_of_a_task_without_a_log_say_what_happened_to_it() {
    let project = TestProject::new("", &[("failing.yaml", FAILING)]);
    let output = project.run(&["run", "failing", "--date", "2026-01-01"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));

    let publish = project.run(&["logs", "1", "publish"]);
    assert_eq!(publish.status.code(), Some(2));
    assert_eq!(
        text(&publish.stderr).trim(),
        "error: publish is an `empty` task: it succeeded without a process, so it has no log"
    );
    let load_raw = project.run(&["logs", "1", "load_raw"]);
    assert_eq!(load_raw.status.code(), Some(2));
    assert_eq!(
        text(&load_raw.stderr).trim(),
        "error: load_raw did not run: upstream_failed (extract failed), so it has no log"
    );
    // A task that ran still shows its log.
    let extract = project.run(&["logs", "1", "extract"]);
    assert!(extract.status.success(), "{}", text(&extract.stderr));
    assert!(text(&extract.stdout).contains("err| ERROR: relation"));
}

/// Regression: a run followed through the server printed "run N succeeded" before the lines
/// of its last tasks, when one look at the store found both changes.
#[test]
fn a_followed_run_ends_with_its_run_line() {
    let project = TestProject::new(
        "",
        &[(
            "chain.yaml",
            "tasks:\n  first:\n    sh: \"true\"\n  second:\n    needs: [first]\n    sh: \"true\"\n  third:\n    needs: [second]\n    empty: {}\n",
        )],
    );
    let server = start_server(&project);
    // Several runs: each has a chance to show the two changes in one look.
    for run in 1..=5 {
        let output = project.run(&["run", "chain", "--date", &format!("2026-01-0{run}")]);
        let stderr = text(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        let run_line = lines
            .iter()
            .position(|line| *line == format!("run {run} succeeded"))
            .unwrap_or_else(|| panic!("a `run {run} succeeded` line:\n{stderr}"));
        let last_task = lines
            .iter()
            .rposition(|line| line.starts_with("third ") || line.starts_with("second "))
            .unwrap_or_else(|| panic!("the tasks' lines:\n{stderr}"));
        assert!(
            run_line > last_task,
            "`run {run} succeeded` comes after every task's line:\n{stderr}"
        );
    }
    stop_server(server);
}
