//! `tidewater workflows`: the project's workflows without a server.

use crate::project::{TestProject, text};

/// Next due times are fixed by a `start` far ahead, so that the listing does not depend on
/// today's date.
const DAILY: &str = "schedule: \"0 6 * * *\"\ntimezone: Asia/Tokyo\nstart: 2099-01-01\ntasks:\n  a:\n    empty: {}\n";
const NIGHTLY: &str = "schedule: \"30 2 * * *\"\ntimezone: America/New_York\nstart: 2099-03-01\ntasks:\n  a:\n    empty: {}\n";
const ADHOC: &str = "tasks:\n  a:\n    sh: \"true\"\n";
const BROKEN: &str = "schedule: \"0 6 * * *\"\ntasks:\n  a:\n    sh: echo a\n    retrys: 2\n  b:\n    needs: [c]\n    sh: echo b\n";

fn listed_project() -> TestProject {
    TestProject::new(
        "",
        &[
            ("daily.yaml", DAILY),
            ("nightly.yaml", NIGHTLY),
            ("adhoc.yaml", ADHOC),
            ("broken.yaml", BROKEN),
        ],
    )
}

/// Regression: no command listed the workflows without a server (`status` shows them only
/// from a running server's record). `workflows` reads the files, computes due times with the
/// core's schedule code, and reads paused state and last runs from the store.
#[test]
fn workflows_lists_schedules_due_times_pauses_last_runs_and_broken_files_without_a_server() {
    let project = listed_project();
    let paused = project.run(&["pause", "nightly"]);
    assert!(paused.status.success(), "{}", text(&paused.stderr));
    let ran = project.run(&["run", "adhoc", "--date", "2026-01-01"]);
    assert!(ran.status.success(), "{}", text(&ran.stderr));

    let output = project.run(&["workflows"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let listing = text(&output.stdout);
    // The last run's time is now; everything else is fixed.
    let run_line = listing
        .lines()
        .find(|line| line.starts_with("adhoc"))
        .unwrap_or_else(|| panic!("a row for adhoc:\n{listing}"));
    assert!(
        run_line.contains("succeeded") && run_line.contains("(run 1)"),
        "{listing}"
    );
    let listing: String = listing
        .lines()
        .map(|line| {
            if line.starts_with("adhoc") {
                let cut = line.find("succeeded").unwrap_or(line.len());
                format!("{}succeeded [TIME] (run 1)", &line[..cut])
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!("workflows_listing", listing);

    let json = project.run(&["workflows", "--json"]);
    assert!(json.status.success(), "{}", text(&json.stderr));
    let json: Vec<serde_json::Value> = serde_json::from_slice(&json.stdout).expect("json");
    let by_file = |file: &str| {
        json.iter()
            .find(|entry| entry["file"] == file)
            .unwrap_or_else(|| panic!("{file} in {json:?}"))
            .clone()
    };
    let daily = by_file("workflows/daily.yaml");
    assert_eq!(daily["workflow"], "daily");
    assert_eq!(daily["schedule"], "0 6 * * *");
    assert_eq!(daily["timezone"], "Asia/Tokyo");
    assert_eq!(daily["next_due"], "2099-01-02T06:00:00+09:00");
    assert_eq!(daily["paused"], false);
    let nightly = by_file("workflows/nightly.yaml");
    assert_eq!(nightly["paused"], true);
    assert_eq!(nightly["next_due"], serde_json::Value::Null);
    let adhoc = by_file("workflows/adhoc.yaml");
    assert_eq!(adhoc["schedule"], serde_json::Value::Null);
    assert_eq!(adhoc["last_run"]["id"], 1);
    assert_eq!(adhoc["last_run"]["state"], "succeeded");
    let broken = by_file("workflows/broken.yaml");
    assert_eq!(broken["workflow"], serde_json::Value::Null);
    assert_eq!(broken["problem"]["location"], "workflows/broken.yaml:5");
    assert_eq!(broken["problem"]["count"], 2);
}

/// Fails, for a run state other than success in the strip.
const FAILING: &str = "tasks:\n  a:\n    sh: exit 1\n";

/// "Recent run states" (issue 17): each workflow's newest runs, read for all workflows at
/// once, newest first and at most ten, with `last_run` kept for compatibility.
#[test]
fn workflows_json_gives_each_workflows_ten_newest_runs_newest_first() {
    let project = TestProject::new("", &[("adhoc.yaml", ADHOC), ("failing.yaml", FAILING)]);
    for day in 1..=11 {
        let ran = project.run(&["run", "adhoc", "--date", &format!("2026-01-{day:02}")]);
        assert!(ran.status.success(), "{}", text(&ran.stderr));
    }
    let ran = project.run(&["run", "failing", "--date", "2026-02-01"]);
    assert_eq!(ran.status.code(), Some(1), "{}", text(&ran.stderr));

    let json = project.run(&["workflows", "--json"]);
    assert!(json.status.success(), "{}", text(&json.stderr));
    let json: Vec<serde_json::Value> = serde_json::from_slice(&json.stdout).expect("json");
    let adhoc = &json[0];
    assert_eq!(adhoc["workflow"], "adhoc");
    let recent = adhoc["recent_runs"].as_array().expect("recent runs");
    let ids: Vec<i64> = recent
        .iter()
        .map(|run| run["id"].as_i64().expect("an id"))
        .collect();
    assert_eq!(ids, (2..=11).rev().collect::<Vec<i64>>());
    assert_eq!(
        recent[0],
        serde_json::json!({
            "id": 11,
            "state": "succeeded",
            "orphaned": false,
            "interval_start": "2026-01-11T00:00:00+00:00",
        })
    );
    assert_eq!(adhoc["last_run"]["id"], 11);
    let failing = &json[1];
    assert_eq!(failing["workflow"], "failing");
    assert_eq!(failing["recent_runs"][0]["id"], 12);
    assert_eq!(failing["recent_runs"][0]["state"], "failed");
    assert_eq!(failing["recent_runs"].as_array().map(Vec::len), Some(1));
}
