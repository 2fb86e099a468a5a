//! Data-aware schedules (`schedule: { on: [...] }`, issue 18) with the real binary and a real
//! server process: one downstream run per upstream commit of a partition, or per upstream
//! succeeded run, never two across a `kill -9` of the server.

use crate::api_client::Api;
use crate::project::{TestProject, text};
use crate::service::{eventually, runs, start_server, stop_server};

/// Writes the day's partition of `raw.orders`, one Delta commit per run.
const RAW_ORDERS: &str = r#"
tasks:
  load:
    sql: SELECT CAST(1 AS BIGINT) AS id, '{{ ds }}' AS note
    into: { table: raw.orders, partition: { dt: "{{ ds }}" } }
"#;

/// Runs once per commit of a partition of `raw.orders`, for that partition's day.
const ORDERS_MART: &str = r#"
schedule: { on: [{ table: raw.orders }] }
tasks:
  build: { sh: "echo building {{ ds }}" }
"#;

/// The `data` runs of `workflow`: (interval start, state), by run id.
fn data_runs(project: &TestProject, workflow: &str) -> Vec<(String, String)> {
    let mut found: Vec<(i64, String, String)> = runs(project)
        .into_iter()
        .filter(|run| run["workflow"] == workflow)
        .map(|run| {
            assert_eq!(run["trigger"], "data", "{run}");
            (
                run["id"].as_i64().expect("id"),
                run["data_interval_start"]
                    .as_str()
                    .expect("start")
                    .to_owned(),
                run["state"].as_str().expect("state").to_owned(),
            )
        })
        .collect();
    found.sort();
    found
        .into_iter()
        .map(|(_, start, state)| (start, state))
        .collect()
}

fn succeeded(days: &[&str]) -> Vec<(String, String)> {
    days.iter()
        .map(|day| (format!("{day}T00:00:00+00:00"), "succeeded".to_owned()))
        .collect()
}

fn write_day(project: &TestProject, day: &str) {
    let output = project.run(&["run", "raw_orders", "--date", day]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
}

/// Waits until `workflow` has exactly `count` data runs, all ended, and returns them.
fn ended_data_runs(project: &TestProject, workflow: &str, count: usize) -> Vec<(String, String)> {
    eventually(&format!("{count} ended runs of {workflow}"), || {
        let found = data_runs(project, workflow);
        let is_ended = found
            .iter()
            .all(|(_, state)| state != "queued" && state != "running");
        (found.len() >= count && is_ended).then_some(found)
    })
}

#[test]
fn each_upstream_commit_of_a_partition_starts_one_run_even_across_a_server_kill() {
    let project = TestProject::new(
        "",
        &[
            ("raw_orders.yaml", RAW_ORDERS),
            ("orders_mart.yaml", ORDERS_MART),
        ],
    );
    let mut server = start_server(&project);
    for day in ["2026-01-01", "2026-01-02", "2026-01-03"] {
        write_day(&project, day);
    }
    assert_eq!(
        ended_data_runs(&project, "orders_mart", 3),
        succeeded(&["2026-01-01", "2026-01-02", "2026-01-03"])
    );

    // Killed without a chance to clean up; meanwhile one day is written again.
    server.kill().expect("SIGKILL the server");
    server.wait().expect("reaped");
    write_day(&project, "2026-01-02");
    let server = start_server(&project);
    // The re-write is the newest commit: a restarted service that consumed the older ones
    // again would have created their runs in the same look, before this one's.
    assert_eq!(
        ended_data_runs(&project, "orders_mart", 4),
        succeeded(&["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-02"])
    );
    stop_server(server);
    // Neither a graceful restart.
    let server = start_server(&project);
    write_day(&project, "2026-01-04");
    assert_eq!(
        ended_data_runs(&project, "orders_mart", 5),
        succeeded(&[
            "2026-01-01",
            "2026-01-02",
            "2026-01-03",
            "2026-01-02",
            "2026-01-04"
        ])
    );
    stop_server(server);
}

#[test]
fn a_succeeded_upstream_run_starts_the_downstream_run_of_its_interval() {
    let project = TestProject::new(
        "",
        &[
            (
                "extract.yaml",
                // Fails for 2026-01-06 only.
                "tasks:\n  pull: { sh: 'test \"{{ ds }}\" != 2026-01-06' }\n",
            ),
            (
                "report.yaml",
                "schedule: { on: [{ workflow: extract }] }\ntasks:\n  send: { sh: 'echo {{ ds }}' }\n",
            ),
        ],
    );
    let server = start_server(&project);
    assert_eq!(
        project
            .run(&["run", "extract", "--date", "2026-01-05"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        project
            .run(&["run", "extract", "--date", "2026-01-06"])
            .status
            .code(),
        Some(1),
        "the upstream run of 2026-01-06 fails"
    );
    assert_eq!(
        project
            .run(&["run", "extract", "--date", "2026-01-07"])
            .status
            .code(),
        Some(0)
    );
    // The failed run started nothing: had it, its run would come before 2026-01-07's.
    assert_eq!(
        ended_data_runs(&project, "report", 2),
        succeeded(&["2026-01-05", "2026-01-07"])
    );
    stop_server(server);
}

#[test]
fn next_and_workflows_say_what_a_data_aware_workflow_waits_for() {
    let project = TestProject::new(
        "",
        &[
            ("raw_orders.yaml", RAW_ORDERS),
            ("orders_mart.yaml", ORDERS_MART),
        ],
    );
    let next = project.run(&["next", "orders_mart"]);
    assert_eq!(next.status.code(), Some(0), "{}", text(&next.stderr));
    assert!(
        text(&next.stdout).contains("orders_mart waits for a commit to raw.orders"),
        "{}",
        text(&next.stdout)
    );
    // As JSON: the due intervals, none for a data-only schedule; what it waits for on stderr.
    let next = project.run(&["next", "orders_mart", "--json"]);
    assert_eq!(next.status.code(), Some(0), "{}", text(&next.stderr));
    let due: serde_json::Value = serde_json::from_slice(&next.stdout).expect("next --json");
    assert_eq!(due, serde_json::json!([]));
    assert!(
        text(&next.stderr).contains("orders_mart waits for a commit to raw.orders"),
        "{}",
        text(&next.stderr)
    );
    let workflows = project.run(&["workflows", "--json"]);
    assert_eq!(
        workflows.status.code(),
        Some(0),
        "{}",
        text(&workflows.stderr)
    );
    let workflows: Vec<serde_json::Value> =
        serde_json::from_slice(&workflows.stdout).expect("workflows --json");
    let mart = workflows
        .iter()
        .find(|file| file["workflow"] == "orders_mart")
        .expect("orders_mart is listed");
    assert_eq!(mart["waits_for"], "waits for a commit to raw.orders");
    assert_eq!(mart["schedule"], serde_json::Value::Null);
}

/// The card of `workflow` on the workflows page (`/`): from its heading to the next card.
fn card<'h>(html: &'h str, workflow: &str) -> &'h str {
    let heading = format!("<h2><a href=\"/workflows/{workflow}\">{workflow}</a></h2>");
    let (_, rest) = html
        .split_once(&heading)
        .unwrap_or_else(|| panic!("a card for {workflow}: {html}"));
    rest.split("<li class=\"card").next().unwrap_or(rest)
}

#[test]
fn the_workflows_page_and_the_api_say_what_a_data_aware_workflow_waits_for() {
    let project = TestProject::new(
        "",
        &[
            ("raw_orders.yaml", RAW_ORDERS),
            ("orders_mart.yaml", ORDERS_MART),
            (
                "both.yaml",
                "schedule:\n  cron: \"@daily\"\n  on: [{ table: raw.orders }, { workflow: raw_orders }]\n\
                 start: 2026-01-01\ntasks:\n  build: { sh: 'true' }\n",
            ),
        ],
    );
    let output = project.run(&["pause", "both"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let server = start_server(&project);
    let api = Api::of(&project);

    let html = api.page("/");
    let mart = card(&html, "orders_mart");
    assert!(mart.contains("<code>on data</code>"), "{mart}");
    assert!(
        mart.contains("<dt>On data</dt><dd>waits for a commit to raw.orders</dd>"),
        "{mart}"
    );
    let both = card(&html, "both");
    assert!(both.contains("<code>@daily</code>"), "{both}");
    assert!(
        both.contains(
            "<dt>On data</dt><dd>waits for a commit to raw.orders \
             or a successful run of workflow raw_orders</dd>"
        ),
        "{both}"
    );
    let upstream = card(&html, "raw_orders");
    assert!(!upstream.contains("On data"), "{upstream}");

    let listed = api.get("/api/v1/workflows");
    assert_eq!(listed.status, 200, "{listed:?}");
    let waits_for: Vec<(&str, &serde_json::Value)> = listed
        .body
        .as_array()
        .expect("workflows")
        .iter()
        .map(|file| {
            (
                file["workflow"].as_str().expect("a name"),
                &file["waits_for"],
            )
        })
        .collect();
    assert_eq!(
        waits_for,
        [
            (
                "both",
                &serde_json::json!(
                    "waits for a commit to raw.orders or a successful run of workflow raw_orders"
                )
            ),
            (
                "orders_mart",
                &serde_json::json!("waits for a commit to raw.orders")
            ),
            ("raw_orders", &serde_json::Value::Null),
        ]
    );
    stop_server(server);
}

#[test]
fn a_data_aware_schedule_on_an_unknown_table_fails_validate_with_its_place() {
    let project = TestProject::new(
        "",
        &[
            ("raw_orders.yaml", RAW_ORDERS),
            (
                "orders_mart.yaml",
                "schedule:\n  on:\n    - table: raw.order\ntasks:\n  build: { sh: 'true' }\n",
            ),
        ],
    );
    let output = project.run(&["validate"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("the schedule starts runs on table `raw.order`")
            && stderr.contains("orders_mart.yaml:3")
            && stderr.contains("did you mean `raw.orders`?"),
        "{stderr}"
    );
    // A table the warehouse has is fine, though no workflow of the project writes it (any
    // Delta writer may commit to it).
    write_day(&project, "2026-01-01");
    std::fs::write(
        project.path("workflows/raw_orders.yaml"),
        "tasks:\n  other: { sh: 'true' }\n",
    )
    .expect("write");
    std::fs::write(project.path("workflows/orders_mart.yaml"), ORDERS_MART).expect("write");
    let output = project.run(&["validate"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
}
