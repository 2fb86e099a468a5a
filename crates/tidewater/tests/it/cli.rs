use crate::project::{TestProject, text};

#[test]
fn validate_reports_every_problem_of_every_file_and_exits_1() {
    let project = TestProject::new(
        "[pools.api]\nslots = 2\n",
        &[
            ("good.yaml", "tasks:\n  a:\n    sh: echo a\n"),
            (
                "bad.yaml",
                "schedule: \"61 * * * *\"\ntimezone: Europe/Lodnon\ntasks:\n  a:\n    sh: echo {{ ds\n    retries: three\n  b:\n    needs: [a, c]\n    sh: echo b\n    retrys: 2\n",
            ),
            (
                "cycle.yaml",
                "tasks:\n  x:\n    needs: [y]\n    empty: {}\n  y:\n    needs: [x]\n    empty: {}\n",
            ),
        ],
    );
    let output = project.run(&["validate"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    for expected in [
        "bad.yaml:1",
        "bad.yaml:2",
        "bad.yaml:5",
        "bad.yaml:6",
        "bad.yaml:8",
        "bad.yaml:10",
        "cycle.yaml",
    ] {
        assert!(
            stderr.contains(expected),
            "expected a diagnostic at {expected}:\n{stderr}"
        );
    }
    assert!(
        stderr.contains("retries"),
        "did-you-mean for `retrys`:\n{stderr}"
    );
    assert!(
        stderr.contains("Europe/London"),
        "did-you-mean for the time zone:\n{stderr}"
    );
    assert!(
        stderr.contains("x -> y -> x") || stderr.contains("y -> x -> y"),
        "the cycle is printed:\n{stderr}"
    );
    insta::assert_snapshot!(
        "validate_problems",
        stderr.replace(&project.root().display().to_string(), "[PROJECT]")
    );
}

#[test]
fn validate_exits_0_on_a_clean_project() {
    let project = TestProject::example();
    let output = project.run(&["validate"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout).trim(),
        "1 workflow(s) valid: daily_orders (6 tasks)"
    );
}

#[test]
fn next_prints_intervals_in_the_workflow_time_zone() {
    let project = TestProject::new(
        "",
        &[(
            "nightly.yaml",
            "schedule: \"30 2 * * *\"\ntimezone: America/New_York\ntasks:\n  a:\n    empty: {}\n",
        )],
    );
    let output = project.run(&[
        "next",
        "nightly",
        "-n",
        "3",
        "--after",
        "2026-03-07T12:00:00Z",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    insta::assert_snapshot!("next_across_spring_forward", text(&output.stdout));
    let json = project.run(&[
        "next",
        "nightly",
        "-n",
        "1",
        "--after",
        "2026-01-01",
        "--json",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(json[0]["ds"], "2025-12-31");
    assert_eq!(json[0]["data_interval_end"], "2026-01-01T02:30:00-05:00");
}

#[test]
fn show_prints_the_dag_as_text_dot_and_mermaid() {
    let project = TestProject::example();
    for format in ["text", "dot", "mermaid"] {
        let output = project.run(&["show", "daily_orders", "--format", format]);
        assert!(output.status.success(), "{}", text(&output.stderr));
        insta::assert_snapshot!(format!("show_{format}"), text(&output.stdout));
    }
}

#[test]
fn bad_command_line_input_gets_a_clear_error_and_records_nothing() {
    let project = TestProject::example();
    let cases: [(&[&str], &str); 6] = [
        (&["run", "daily_ordres"], "daily_orders"),
        (
            &["run", "daily_orders", "--date", "2026-13-01"],
            "is not a date",
        ),
        (
            &["run", "daily_orders", "--param", "nope"],
            "is not KEY=VALUE",
        ),
        (
            &["run", "daily_orders", "--param", "colour=red"],
            "has no such parameter",
        ),
        (
            &["run", "daily_orders", "--interval", "2026-01-02/2026-01-01"],
            "ends before it starts",
        ),
        (&["retry", "99"], "there is no run 99"),
    ];
    for (args, expected) in cases {
        let output = project.run(args);
        let stderr = text(&output.stderr);
        assert!(
            matches!(output.status.code(), Some(1 | 2)),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains(expected),
            "{args:?}: expected `{expected}` in:\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let runs = project.run(&["runs", "--json"]);
    assert_eq!(text(&runs.stdout).trim(), "[]", "no run was recorded");
}

#[test]
fn a_missing_project_file_says_what_to_do() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = crate::project::tidewater(dir.path(), &["validate"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("tidewater init"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn init_refuses_to_overwrite_a_project() {
    let project = TestProject::example();
    let output = project.run(&["init"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("already holds a project"));
}

/// Regression: `tidewater ... | head` panicked with "failed printing to stdout: Broken pipe".
#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let project = TestProject::example();
    let mut child = project
        .command(&["next", "daily_orders", "-n", "2000"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // 2,000 rows are more than a pipe holds: the writer is still writing when the reader goes.
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        !text(&output.stderr).contains("panicked"),
        "{}",
        text(&output.stderr)
    );
}

/// Regression: `into: { table: Raw.Orders }` passed `validate` and failed only when the task
/// ran; `validate` now reads table names by the rule the run uses.
#[test]
fn validate_refuses_a_table_name_that_a_run_would_refuse() {
    let project = TestProject::new(
        "",
        &[(
            "orders.yaml",
            "tasks:\n  load:\n    sql: SELECT 1 AS id\n    into: { table: Raw.Orders }\n",
        )],
    );
    let output = project.run(&["validate"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stdout));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("invalid table name `Raw.Orders`") && stderr.contains("orders.yaml:4:20"),
        "expected the table name at its value:\n{stderr}"
    );
}

/// Regression: `sql: "SELEC 1"` passed `validate` and failed only when it ran. Inline and
/// `file:` SQL are parsed; each error names its file, line and column.
#[test]
fn validate_reports_a_sql_syntax_error_at_its_line_and_column() {
    let project = TestProject::new(
        "",
        &[(
            "orders.yaml",
            "tasks:\n  load:\n    sql: \"SELEC 1\"\n  mart:\n    sql: file:sql/mart.sql\n",
        )],
    );
    std::fs::create_dir_all(project.path("sql")).expect("sql folder");
    std::fs::write(
        project.path("sql/mart.sql"),
        "SELECT id\nFROM raw.orders\nWHERE dt = '{{ ds }}' AND )\n",
    )
    .expect("write sql");
    let output = project.run(&["validate"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stdout));
    let stderr = text(&output.stderr);
    for expected in [
        "orders.yaml:3:11",
        "found: SELEC",
        "sql/mart.sql:3:27",
        "found: )",
    ] {
        assert!(
            stderr.contains(expected),
            "expected `{expected}` in:\n{stderr}"
        );
    }
}

/// Regression: task (and workflow) names had no length limit.
#[test]
fn validate_refuses_a_task_name_longer_than_250_characters() {
    let workflow = format!("tasks:\n  {}:\n    sh: echo hi\n", "t".repeat(300));
    let project = TestProject::new("", &[("long.yaml", workflow.as_str())]);
    let output = project.run(&["validate"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stdout));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("the task name is 300 characters long, longer than the limit of 250")
            && stderr.contains("long.yaml:2:3"),
        "expected the name limit at the task's key:\n{stderr}"
    );
}
