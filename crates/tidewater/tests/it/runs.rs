use crate::project::{TestProject, task_states, text};

const FLAKY: &str = r#"
tasks:
  first:
    sh: echo first >> ran.txt
  middle:
    needs: [first]
    sh: test -f fixed && echo middle >> ran.txt
  last:
    needs: [middle]
    sh: echo last >> ran.txt
"#;

#[test]
fn retry_resumes_a_failed_run_without_rerunning_succeeded_tasks() {
    let project = TestProject::new("", &[("flaky.yaml", FLAKY)]);
    let failed = project.run(&["run", "flaky", "--date", "2026-01-01"]);
    assert_eq!(
        failed.status.code(),
        Some(1),
        "a failed run exits 1: {}",
        text(&failed.stderr)
    );
    let stderr = text(&failed.stderr);
    assert!(stderr.contains("middle: exited with status 1"), "{stderr}");
    assert!(stderr.contains("tidewater retry 1"), "{stderr}");
    assert_eq!(
        task_states(&project.status_json("1")),
        vec![
            ("first".to_owned(), "succeeded".to_owned()),
            ("middle".to_owned(), "failed".to_owned()),
            ("last".to_owned(), "upstream_failed".to_owned()),
        ]
    );

    std::fs::write(project.path("fixed"), "").expect("write");
    let resumed = project.run(&["retry", "1"]);
    assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed.stderr));
    assert_eq!(project.read("ran.txt"), "first\nmiddle\nlast\n");
    let status = project.status_json("1");
    assert_eq!(status["run"]["state"], "succeeded");
    let middle = &status["tasks"][1]["attempts"];
    assert_eq!(
        middle.as_array().map(Vec::len),
        Some(2),
        "middle has its failed and its new attempt: {middle}"
    );
}

#[test]
fn clear_with_downstream_runs_the_chosen_task_and_what_follows() {
    let project = TestProject::new("", &[("flaky.yaml", FLAKY)]);
    std::fs::write(project.path("fixed"), "").expect("write");
    assert_eq!(
        project
            .run(&["run", "flaky", "--date", "2026-01-01"])
            .status
            .code(),
        Some(0)
    );
    let cleared = project.run(&["clear", "1", "--task", "middle", "--downstream"]);
    assert_eq!(cleared.status.code(), Some(0), "{}", text(&cleared.stderr));
    assert_eq!(
        project.read("ran.txt"),
        "first\nmiddle\nlast\nmiddle\nlast\n"
    );
}

#[test]
fn logs_show_each_attempt_with_timestamps() {
    let project = TestProject::new(
        "",
        &[(
            "hello.yaml",
            "tasks:\n  hello:\n    sh: echo hello {{ ds }}; echo oops >&2\n",
        )],
    );
    assert_eq!(
        project
            .run(&["run", "hello", "--date", "2026-03-04"])
            .status
            .code(),
        Some(0)
    );
    let logs = project.run(&["logs", "1", "hello"]);
    assert!(logs.status.success());
    let log = text(&logs.stdout);
    let lines: Vec<&str> = log.lines().collect();
    assert!(
        lines
            .iter()
            .any(|line| line.ends_with("out| hello 2026-03-04")),
        "{log}"
    );
    assert!(
        lines.iter().any(|line| line.ends_with("err| oops")),
        "{log}"
    );
    assert!(
        lines.iter().all(|line| line
            .get(..4)
            .is_some_and(|year| year.parse::<u32>().is_ok())),
        "every line is timestamped: {log}"
    );
    let missing = project.run(&["logs", "1", "hello", "--attempt", "2"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("has no attempt 2"));
}

/// Guards the logs of runs recorded before one log folder per run
/// (`logs/<run>/<task>/<attempt>.log`): they stay readable.
#[test]
fn logs_of_a_run_recorded_with_a_folder_per_task_are_still_shown() {
    let project = TestProject::new("", &[("hello.yaml", "tasks:\n  hello:\n    sh: echo hi\n")]);
    assert_eq!(
        project
            .run(&["run", "hello", "--date", "2026-03-04"])
            .status
            .code(),
        Some(0)
    );
    std::fs::create_dir(project.path(".tidewater/logs/1/hello")).expect("create the old folder");
    std::fs::rename(
        project.path(".tidewater/logs/1/hello.1.log"),
        project.path(".tidewater/logs/1/hello/1.log"),
    )
    .expect("move the log where the old layout kept it");
    let logs = project.run(&["logs", "1", "hello"]);
    assert!(logs.status.success(), "{}", text(&logs.stderr));
    let log = text(&logs.stdout);
    assert!(log.lines().any(|line| line.ends_with("out| hi")), "{log}");
}

#[test]
fn trigger_rules_and_handlers_decide_what_runs_after_a_failure() {
    let project = TestProject::new(
        "",
        &[(
            "rules.yaml",
            r#"
tasks:
  boom:
    sh: exit 4
  after_boom:
    needs: [boom]
    sh: echo never >> ran.txt
  cleanup:
    needs: [boom]
    trigger: all_done
    sh: echo cleanup >> ran.txt
  alert:
    needs: [boom]
    trigger: one_failed
    sh: echo alert >> ran.txt
on_failure:
  sh: echo "handler {{ workflow }}" >> ran.txt
on_success:
  sh: echo success >> ran.txt
"#,
        )],
    );
    let output = project.run(&["run", "rules", "--date", "2026-01-01", "--parallelism", "1"]);
    assert_eq!(output.status.code(), Some(1));
    let mut ran: Vec<String> = project.read("ran.txt").lines().map(str::to_owned).collect();
    let handler_last = ran.pop();
    ran.sort();
    assert_eq!(ran, vec!["alert", "cleanup"]);
    assert_eq!(
        handler_last.as_deref(),
        Some("handler rules"),
        "the handler runs last"
    );
    let states = task_states(&project.status_json("1"));
    assert!(states.contains(&("after_boom".to_owned(), "upstream_failed".to_owned())));
    assert!(states.contains(&("on_success".to_owned(), "skipped".to_owned())));
}

/// `runs` shows a run's `ds` in the time zone of the workflow version the run was created
/// with: editing the file later changes new runs, not how earlier ones are dated.
#[test]
fn runs_dates_each_run_in_the_time_zone_it_was_created_with() {
    let tokyo = "timezone: Asia/Tokyo\ntasks:\n  only:\n    sh: \"true\"\n";
    let project = TestProject::new("", &[("daily.yaml", tokyo)]);
    let run = project.run(&["run", "daily", "--date", "2026-01-01"]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    // The interval starts at 2025-12-31T15:00Z: in UTC its date would be the day before.
    std::fs::write(
        project.path("workflows/daily.yaml"),
        tokyo.replace("Asia/Tokyo", "UTC"),
    )
    .expect("edit the workflow");

    let listed = project.run(&["runs"]);
    assert_eq!(listed.status.code(), Some(0), "{}", text(&listed.stderr));
    let table = text(&listed.stdout);
    let row = table
        .lines()
        .find(|line| line.contains("daily"))
        .unwrap_or_else(|| panic!("a row for the run: {table}"));
    assert!(row.contains("2026-01-01"), "{table}");
    assert!(!row.contains("2025-12-31"), "{table}");
}
