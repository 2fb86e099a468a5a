use crate::project::{TestProject, text};

/// One task whose query names a table that does not exist (its input is wrong) and one
/// whose command fails (the task's own failure), each with retries.
const TYPO: &str = r#"
tasks:
  report:
    sql: SELECT id FROM raw.missing
    retries: 3
    retry_delay: 0s
  flaky:
    sh: exit 3
    retries: 1
    retry_delay: 0s
"#;

/// Regression (issue 16, item 6): a query with a typo in a table's name and `retries: 3`
/// ran four times with back-off. A failure of the task's input fails the same way every
/// time: it runs once, and `status` says whose failure it was.
#[test]
fn a_task_that_fails_for_its_input_is_not_retried_and_status_shows_the_class() {
    let project = TestProject::new("", &[("typo.yaml", TYPO)]);
    let output = project.run(&["run", "typo"]);
    assert!(!output.status.success(), "{}", text(&output.stderr));

    let status = project.status_json("1");
    let attempts = |task: &str| -> Vec<serde_json::Value> {
        status["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .find(|entry| entry["task"] == task)
            .and_then(|entry| entry["attempts"].as_array())
            .unwrap_or_else(|| panic!("{task} has attempts: {status}"))
            .clone()
    };
    let report = attempts("report");
    assert_eq!(report.len(), 1, "not retried: {report:?}");
    assert_eq!(report[0]["class"], "input", "{report:?}");
    assert!(
        report[0]["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("raw.missing")),
        "the reason is kept: {report:?}"
    );
    let flaky = attempts("flaky");
    assert_eq!(
        flaky.len(),
        2,
        "the task's own failure is retried: {flaky:?}"
    );
    assert_eq!(flaky[1]["class"], "task", "{flaky:?}");

    let shown = project.run(&["status", "1"]);
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    let shown = text(&shown.stdout);
    let row = |task: &str| -> String {
        shown
            .lines()
            .find(|line| line.starts_with(task))
            .unwrap_or_else(|| panic!("a row for {task}: {shown}"))
            .to_owned()
    };
    assert!(shown.contains("CLASS"), "{shown}");
    assert!(row("report").contains(" input "), "{shown}");
    assert!(row("flaky").contains(" task "), "{shown}");
}
