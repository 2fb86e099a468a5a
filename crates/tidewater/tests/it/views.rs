//! Serving views (`views/*.yaml`, queried as `serving.<name>`): the batch table's partition
//! where it exists, the stream table's rows elsewhere. The stream table is written by the
//! Python `deltalake` package (plain appends, as a stream would), the batch table by real
//! `replace_partition` runs, and the Python client applies the view's rule on its own to
//! check `tidewater query`.

use std::collections::BTreeMap;

use crate::project::{TestProject, text};

const VIEW: &str = "batch: mart.orders\nstream: stream.orders\nby: dt\nretention: 7d\n";

/// Recomputes a closed day from `batch/<ds>.csv`; a missing file fails the run.
const BATCH: &str = r#"
tasks:
  recompute:
    sql: SELECT order_id, CAST(amount AS DOUBLE) AS amount FROM read_csv('batch/{{ ds }}.csv')
    into: { table: mart.orders, partition: { dt: "{{ ds }}" }, mode: replace_partition }
"#;

const PRUNE: &str = r#"
tasks:
  prune:
    maintain: { table: stream.orders, compact: true }
"#;

fn project() -> TestProject {
    let project = TestProject::new(
        "",
        &[("orders_batch.yaml", BATCH), ("prune_stream.yaml", PRUNE)],
    );
    std::fs::create_dir_all(project.path("views")).expect("mkdir views");
    std::fs::write(project.path("views/orders.yaml"), VIEW).expect("write view");
    project
}

/// Runs `tests/lambda_view.py ACTION` with `request` on its standard input.
fn lambda_view(action: &str, request: serde_json::Value) -> serde_json::Value {
    use std::io::Write;
    use std::process::{Command, Stdio};

    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lambda_view.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request.to_string().as_bytes())
        .expect("write the script's input");
    let output = child.wait_with_output().expect("the script ends");
    assert!(output.status.success(), "{}", text(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("the script prints JSON")
}

/// Appends `rows` stream rows to each day, ids `s-<day>-<n>`, with the Python client.
fn write_stream(project: &TestProject, days: &[(&str, usize)]) {
    let rows: Vec<serde_json::Value> = days
        .iter()
        .flat_map(|(day, rows)| {
            (0..*rows).map(move |n| {
                serde_json::json!({"order_id": format!("s-{day}-{n}"), "amount": 1.0, "dt": day})
            })
        })
        .collect();
    lambda_view(
        "write-stream",
        serde_json::json!({"path": project.path("warehouse/stream/orders"), "rows": rows}),
    );
}

fn write_batch_input(project: &TestProject, day: &str, rows: usize) {
    std::fs::create_dir_all(project.path("batch")).expect("mkdir");
    let mut csv = String::from("order_id,amount\n");
    for n in 0..rows {
        csv.push_str(&format!("b-{day}-{n},10.0\n"));
    }
    std::fs::write(project.path(&format!("batch/{day}.csv")), csv).expect("write");
}

fn query(project: &TestProject, sql: &str) -> Vec<serde_json::Value> {
    let output = project.run(&["query", sql, "--format", "json"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("query --format json prints JSON")
}

/// Rows per day of the view and, per day, whether they are the batch's (`b-` ids) or the
/// stream's (`s-`): never both.
fn view_counts(project: &TestProject) -> BTreeMap<String, (i64, &'static str)> {
    query(
        project,
        "SELECT dt, count(*) AS n, sum(CASE WHEN order_id LIKE 'b-%' THEN 1 ELSE 0 END) AS from_batch \
         FROM serving.orders GROUP BY dt ORDER BY dt",
    )
    .into_iter()
    .map(|row| {
        let rows = row["n"].as_i64().expect("count");
        let from_batch = row["from_batch"].as_i64().expect("count");
        let source = match from_batch {
            0 => "stream",
            _ if from_batch == rows => "batch",
            _ => panic!("a day mixes batch and stream rows: {row}"),
        };
        (row["dt"].as_str().expect("dt").to_owned(), (rows, source))
    })
    .collect()
}

fn view_rows(project: &TestProject) -> serde_json::Value {
    let mut rows = query(
        project,
        "SELECT order_id, amount, CAST(dt AS VARCHAR) AS dt FROM serving.orders",
    );
    rows.sort_by_key(|row| row.to_string());
    serde_json::Value::Array(rows)
}

fn independent_union(project: &TestProject) -> serde_json::Value {
    let union = lambda_view(
        "union",
        serde_json::json!({
            "batch": project.path("warehouse/mart/orders"),
            "stream": project.path("warehouse/stream/orders"),
            "by": "dt",
        }),
    );
    let mut rows = union.as_array().expect("an array of rows").clone();
    rows.sort_by_key(|row| row.to_string());
    serde_json::Value::Array(rows)
}

fn coverage(project: &TestProject, range: &[&str]) -> Vec<(String, String, Option<i64>)> {
    let mut args = vec!["tables", "serving.orders", "--json"];
    args.extend_from_slice(range);
    let output = project.run(&args);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    json["intervals"]
        .as_array()
        .expect("intervals")
        .iter()
        .map(|interval| {
            (
                interval["value"].as_str().expect("value").to_owned(),
                interval["source"].as_str().expect("source").to_owned(),
                interval["rows"].as_i64(),
            )
        })
        .collect()
}

fn day(name: &str, rows: i64, source: &'static str) -> (String, (i64, &'static str)) {
    (name.to_owned(), (rows, source))
}

fn interval(name: &str, source: &str, rows: i64) -> (String, String, Option<i64>) {
    (name.to_owned(), source.to_owned(), Some(rows))
}

#[test]
fn a_batch_run_replaces_the_streams_rows_of_its_interval_and_a_failed_one_leaves_them() {
    let project = project();
    write_stream(
        &project,
        &[("2026-01-01", 3), ("2026-01-02", 4), ("2026-01-03", 5)],
    );
    // Before any batch run the view is the stream (the batch table does not exist yet).
    assert_eq!(
        view_counts(&project),
        BTreeMap::from([
            day("2026-01-01", 3, "stream"),
            day("2026-01-02", 4, "stream"),
            day("2026-01-03", 5, "stream"),
        ])
    );

    write_batch_input(&project, "2026-01-01", 10);
    let output = project.run(&["run", "orders_batch", "--date", "2026-01-01"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    // The second day's batch input has not arrived: the run fails and writes nothing.
    let failed = project.run(&["run", "orders_batch", "--date", "2026-01-02"]);
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed.stderr));

    assert_eq!(
        view_counts(&project),
        BTreeMap::from([
            day("2026-01-01", 10, "batch"),
            day("2026-01-02", 4, "stream"),
            day("2026-01-03", 5, "stream"),
        ])
    );
    // Late stream rows for a day the batch covers never show; for other days they do.
    write_stream(&project, &[("2026-01-01", 2), ("2026-01-03", 1)]);
    assert_eq!(
        view_counts(&project),
        BTreeMap::from([
            day("2026-01-01", 10, "batch"),
            day("2026-01-02", 4, "stream"),
            day("2026-01-03", 6, "stream"),
        ])
    );
    // An independent client applying the rule to the same tables agrees row for row.
    assert_eq!(view_rows(&project), independent_union(&project));

    // `tables` shows per interval where the view reads it, and the days neither table has.
    assert_eq!(
        coverage(&project, &["--from", "2026-01-01", "--to", "2026-01-05"]),
        vec![
            interval("2026-01-01", "batch", 10),
            interval("2026-01-02", "stream", 4),
            interval("2026-01-03", "stream", 6),
            interval("2026-01-04", "missing", 0),
            interval("2026-01-05", "missing", 0),
        ]
    );
    let human = project.run(&["tables", "serving.orders"]);
    let human = text(&human.stdout);
    assert!(
        human.contains("mart.orders") && human.contains("replaces 5 stream rows"),
        "{human}"
    );
    let list = project.run(&["tables"]);
    assert_eq!(
        text(&list.stdout).lines().collect::<Vec<_>>(),
        vec!["mart.orders", "stream.orders", "serving.orders (view)"]
    );

    // A `sql` task reads the view like a table.
    std::fs::write(
        project.path("workflows/summary.yaml"),
        "tasks:\n  summary:\n    sql: SELECT dt, count(*) AS orders FROM serving.orders GROUP BY dt\n    into: { table: mart.order_counts, mode: overwrite }\n",
    )
    .expect("write workflow");
    let output = project.run(&["run", "summary"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        query(
            &project,
            "SELECT CAST(dt AS VARCHAR) AS dt, orders FROM mart.order_counts ORDER BY dt"
        ),
        vec![
            serde_json::json!({"dt": "2026-01-01", "orders": 10}),
            serde_json::json!({"dt": "2026-01-02", "orders": 4}),
            serde_json::json!({"dt": "2026-01-03", "orders": 6}),
        ]
    );
}

#[test]
fn pruning_removes_only_covered_old_stream_partitions_and_leaves_the_view_unchanged() {
    let project = project();
    let today = chrono::Utc::now().date_naive().to_string();
    write_stream(
        &project,
        &[("2026-01-01", 3), ("2026-01-02", 4), (today.as_str(), 2)],
    );
    // Covered: an old day and today; 2026-01-02 stays stream only.
    for (covered, rows) in [("2026-01-01", 7), (today.as_str(), 5)] {
        write_batch_input(&project, covered, rows);
        let output = project.run(&["run", "orders_batch", "--date", covered]);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    }
    let before = view_rows(&project);

    let output = project.run(&["run", "prune_stream"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));

    // Only the old covered day left the stream table: the uncovered day and the covered
    // day younger than the retention (7d) stay.
    let mut kept = vec!["2026-01-02".to_owned(), today.clone()];
    kept.sort();
    assert_eq!(
        lambda_view(
            "partitions",
            serde_json::json!({"path": project.path("warehouse/stream/orders"), "by": "dt"}),
        ),
        serde_json::json!(kept)
    );
    assert_eq!(view_rows(&project), before, "pruning changes no answer");
    assert_eq!(view_rows(&project), independent_union(&project));
    let intervals = coverage(&project, &["--from", "2026-01-01", "--to", "2026-01-02"]);
    assert_eq!(
        intervals,
        vec![
            interval("2026-01-01", "batch", 7),
            interval("2026-01-02", "stream", 4)
        ]
    );
}

#[test]
fn validate_reports_a_views_unknown_table_bad_by_and_clashing_name_at_their_lines() {
    let project = project();
    write_stream(&project, &[("2026-01-01", 1)]);
    std::fs::write(
        project.path("views/broken.yaml"),
        "batch: mart.ordrs\nstream: stream.orders\nby: region\n",
    )
    .expect("write view");
    // A view named like a table the project writes.
    std::fs::write(
        project.path("views/clash.yaml"),
        "name: counts\nbatch: mart.orders\nstream: stream.orders\nby: dt\n",
    )
    .expect("write view");
    std::fs::write(
        project.path("workflows/counts.yaml"),
        "tasks:\n  count:\n    sql: SELECT 1 AS n\n    into: { table: serving.counts, mode: overwrite }\n",
    )
    .expect("write workflow");
    std::fs::write(
        project.path("views/typo.yaml"),
        "batch: mart.orders\nstream: stream.orders\nby: dt\nretension: 7d\n",
    )
    .expect("write view");

    let output = project.run(&["validate"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stdout));
    let stderr = text(&output.stderr);
    for expected in [
        "views/broken.yaml:1:8",
        "table `mart.ordrs`",
        "did you mean `mart.orders`?",
        "views/broken.yaml:3:5",
        "`by: region` is not a partition column of `stream.orders`",
        "views/clash.yaml:1:7",
        "the view `serving.counts` has the name of a table",
        "views/typo.yaml:4:1",
        "unknown key `retension`",
    ] {
        assert!(stderr.contains(expected), "{expected:?} in:\n{stderr}");
    }
    // The valid view still serves queries while another file is broken.
    assert_eq!(
        query(&project, "SELECT count(*) AS n FROM serving.orders"),
        vec![serde_json::json!({"n": 1})]
    );
}

#[test]
fn the_api_and_the_ui_show_a_view_per_interval_as_the_cli_does() {
    let project = project();
    write_stream(&project, &[("2026-01-01", 2), ("2026-01-03", 3)]);
    write_batch_input(&project, "2026-01-01", 4);
    let output = project.run(&["run", "orders_batch", "--date", "2026-01-01"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let server = crate::service::start_server(&project);
    let api = crate::api_client::Api::of(&project);

    let tables = api.get("/api/v1/tables");
    assert_eq!(
        tables.body,
        serde_json::json!(["mart.orders", "stream.orders", "serving.orders"])
    );
    let view = api.ask(
        "GET",
        "/api/v1/views/{name}",
        "/api/v1/views/serving.orders",
        None,
    );
    assert_eq!(view.status, 200, "{view:?}");
    let cli = project.run(&["tables", "serving.orders", "--json"]);
    let cli: serde_json::Value = serde_json::from_slice(&cli.stdout).expect("tables --json");
    assert_eq!(view.body, cli, "the API serves the CLI's JSON");
    let sources: Vec<&str> = view.body["intervals"]
        .as_array()
        .expect("intervals")
        .iter()
        .map(|interval| interval["source"].as_str().expect("source"))
        .collect();
    assert_eq!(sources, vec!["batch", "missing", "stream"]);
    // The short name is the same view; an unknown one is a 404 problem.
    let short = api.get("/api/v1/views/orders");
    assert_eq!(short.body, cli);
    let unknown = api.call("GET", "/api/v1/views/serving.nothing", None);
    assert_eq!(unknown.status, 404, "{unknown:?}");
    assert_eq!(unknown.header("content-type"), "application/problem+json");
    let half_range = api.call("GET", "/api/v1/views/orders?from=2026-01-01", None);
    assert_eq!(half_range.status, 422, "{half_range:?}");

    let document = api.get("/api/v1/openapi.json");
    assert!(
        document.body["paths"]["/api/v1/views/{name}"]["get"].is_object(),
        "the route is in the OpenAPI document"
    );

    let page = api.call("GET", "/tables/serving.orders", None);
    assert_eq!(page.status, 200, "{page:?}");
    let html = page.body.as_str().expect("an HTML page");
    for expected in [
        "✓ 2026-01-01",
        "✗ 2026-01-02",
        "~ 2026-01-03",
        "stream only",
    ] {
        assert!(html.contains(expected), "{expected:?} in {html}");
    }
    crate::service::stop_server(server);
}

/// Copies the view into `mart.view_copy`: what a `sql` task run by the server reads.
const COPY_VIEW: &str = r#"
tasks:
  copy:
    sql: SELECT order_id, CAST(dt AS VARCHAR) AS dt FROM serving.orders
    into: { table: mart.view_copy }
"#;

/// The same batch as [`BATCH`], into another table.
const OTHER_BATCH: &str = r#"
tasks:
  recompute:
    sql: SELECT concat('x', order_id) AS order_id, CAST(amount AS DOUBLE) AS amount FROM read_csv('batch/{{ ds }}.csv')
    into: { table: mart.orders_v2, partition: { dt: "{{ ds }}" }, mode: replace_partition }
"#;

/// Triggers `copy_view` on the server (its `copies`-th run), waits for it, and returns the
/// copy's order ids.
fn copy_through_server(project: &TestProject, copies: usize) -> Vec<String> {
    let date = format!("2026-02-0{copies}");
    let output = project.run(&["trigger", "copy_view", "--date", &date]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let state = crate::service::eventually("the copy to end", || {
        let copy_runs: Vec<_> = crate::service::runs(project)
            .into_iter()
            .filter(|run| run["workflow"] == "copy_view")
            .collect();
        let newest = copy_runs.iter().max_by_key(|run| run["id"].as_i64())?;
        let state = newest["state"].as_str()?.to_owned();
        (copy_runs.len() == copies && matches!(state.as_str(), "succeeded" | "failed"))
            .then_some(state)
    });
    assert_eq!(state, "succeeded", "{}", project.read("server.log"));
    let mut ids: Vec<String> = query(project, "SELECT order_id FROM mart.view_copy")
        .iter()
        .map(|row| row["order_id"].as_str().expect("order_id").to_owned())
        .collect();
    ids.sort();
    ids
}

#[test]
fn the_server_picks_up_a_new_changed_or_broken_view_file_without_a_restart() {
    let project = TestProject::new(
        "",
        &[
            ("orders_batch.yaml", BATCH),
            ("other_batch.yaml", OTHER_BATCH),
            ("copy_view.yaml", COPY_VIEW),
        ],
    );
    write_stream(&project, &[("2026-01-01", 2)]);
    write_batch_input(&project, "2026-01-02", 1);
    for workflow in ["orders_batch", "other_batch"] {
        let output = project.run(&["run", workflow, "--date", "2026-01-02"]);
        assert!(output.status.success(), "{}", text(&output.stderr));
    }
    let server = crate::service::start_server(&project);
    let api = crate::api_client::Api::of(&project);
    assert_eq!(api.call("GET", "/api/v1/views/orders", None).status, 404);

    // A new view file: the API answers it, and the server's own `sql` tasks read it.
    std::fs::create_dir_all(project.path("views")).expect("mkdir views");
    std::fs::write(project.path("views/orders.yaml"), VIEW).expect("write view");
    crate::service::eventually("the server to load the view", || {
        project
            .read("server.log")
            .contains("views/orders.yaml: view serving.orders loaded")
            .then_some(())
    });
    let view = api.get("/api/v1/views/orders");
    assert_eq!(view.body["batch"], "mart.orders", "{view:?}");
    assert_eq!(
        copy_through_server(&project, 1),
        ["b-2026-01-02-0", "s-2026-01-01-0", "s-2026-01-01-1"]
    );

    // Its batch table changed: both follow.
    std::fs::write(
        project.path("views/orders.yaml"),
        VIEW.replace("mart.orders", "mart.orders_v2"),
    )
    .expect("write view");
    crate::service::eventually("the server to read the changed view", || {
        project
            .read("server.log")
            .contains("views/orders.yaml: view serving.orders changed")
            .then_some(())
    });
    let view = api.get("/api/v1/views/orders");
    assert_eq!(view.body["batch"], "mart.orders_v2", "{view:?}");
    assert_eq!(
        copy_through_server(&project, 2),
        ["s-2026-01-01-0", "s-2026-01-01-1", "xb-2026-01-02-0"]
    );

    // A broken file is a diagnostic in the server's log; the view keeps its last good
    // version for the server's tasks, as a broken workflow file does.
    std::fs::write(
        project.path("views/orders.yaml"),
        "batch: mart.orders\nby: dt\n",
    )
    .expect("write view");
    let log = crate::service::eventually("the server to report the broken view", || {
        let log = project.read("server.log");
        log.contains(
            "views/orders.yaml has problems; view serving.orders keeps its last good version",
        )
        .then_some(log)
    });
    assert!(log.contains("views/orders.yaml:"), "{log}");
    assert_eq!(
        copy_through_server(&project, 3),
        ["s-2026-01-01-0", "s-2026-01-01-1", "xb-2026-01-02-0"]
    );
    crate::service::stop_server(server);
}
