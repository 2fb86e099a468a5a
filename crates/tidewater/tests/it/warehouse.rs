use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::project::{TestProject, text};

/// Rows of a query, as JSON objects.
fn query(project: &TestProject, sql: &str) -> Vec<serde_json::Value> {
    let output = project.run(&["query", sql, "--format", "json"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("query --format json prints JSON")
}

fn counts_per_day(project: &TestProject) -> Vec<(String, i64)> {
    query(project, "SELECT dt, count(*) AS n, count(DISTINCT order_id) AS distinct_orders FROM raw.orders GROUP BY dt ORDER BY dt")
        .into_iter()
        .map(|row| {
            assert_eq!(row["n"], row["distinct_orders"], "no order appears twice: {row}");
            (row["dt"].as_str().expect("dt").to_owned(), row["n"].as_i64().expect("count"))
        })
        .collect()
}

#[test]
fn the_example_loads_days_and_rerunning_a_day_leaves_one_copy_of_every_row() {
    let project = TestProject::example();
    for day in ["2026-01-01", "2026-01-02", "2026-01-01"] {
        let output = project.run(&["run", "daily_orders", "--date", day]);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    }
    assert_eq!(
        counts_per_day(&project),
        vec![
            ("2026-01-01".to_owned(), 500),
            ("2026-01-02".to_owned(), 500)
        ]
    );
    let mart = query(
        &project,
        "SELECT dt, sum(orders) AS orders FROM mart.daily_revenue GROUP BY dt ORDER BY dt",
    );
    assert_eq!(
        mart,
        vec![
            serde_json::json!({"dt": "2026-01-01", "orders": 500}),
            serde_json::json!({"dt": "2026-01-02", "orders": 500})
        ]
    );

    let described = project.run(&["tables", "raw.orders", "--json"]);
    let described: serde_json::Value = serde_json::from_slice(&described.stdout).expect("json");
    let day_one = &described["partitions"][0];
    assert_eq!(
        day_one["values"][0],
        serde_json::json!(["dt", "2026-01-01"])
    );
    assert_eq!(day_one["rows"], 500);
    assert_eq!(
        day_one["last_write"]["writer"]["run_id"], 3,
        "the re-run wrote it last"
    );
    assert_eq!(day_one["last_write"]["writer"]["task"], "load_raw");

    let missing = project.run(&[
        "tables",
        "raw.orders",
        "--missing",
        "--workflow",
        "daily_orders",
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-03",
        "--json",
    ]);
    let missing: serde_json::Value = serde_json::from_slice(&missing.stdout).expect("json");
    assert_eq!(
        missing
            .as_array()
            .map(|rows| rows.iter().map(|row| row["ds"].clone()).collect::<Vec<_>>()),
        Some(vec![serde_json::json!("2026-01-03")])
    );
}

const LOADER: &str = r#"
tasks:
  load:
    sql: SELECT id, CAST(id * 2 AS BIGINT) AS doubled FROM read_csv('input/{{ ds }}.csv')
    into: { table: raw.numbers, partition: { dt: "{{ ds }}" } }
"#;

fn write_input(project: &TestProject, day: &str, rows: usize) {
    std::fs::create_dir_all(project.path("input")).expect("mkdir");
    let mut csv = String::from("id\n");
    for id in 0..rows {
        csv.push_str(&format!("{id}\n"));
    }
    std::fs::write(project.path(&format!("input/{day}.csv")), csv).expect("write");
}

#[test]
fn a_failed_sql_task_leaves_the_table_untouched_and_retry_loads_it_once() {
    let project = TestProject::new("", &[("loader.yaml", LOADER)]);
    write_input(&project, "2026-01-01", 10);
    assert_eq!(
        project
            .run(&["run", "loader", "--date", "2026-01-01"])
            .status
            .code(),
        Some(0)
    );
    // A source file that is missing fails the task with a clear error and writes nothing.
    let failed = project.run(&["run", "loader", "--date", "2026-01-02"]);
    assert_eq!(failed.status.code(), Some(1));
    let stderr = text(&failed.stderr);
    assert!(
        stderr.contains("load:") && stderr.contains("input/2026-01-02.csv"),
        "{stderr}"
    );
    assert_eq!(
        query(&project, "SELECT count(*) AS n FROM raw.numbers"),
        vec![serde_json::json!({"n": 10})]
    );

    write_input(&project, "2026-01-02", 5);
    let retried = project.run(&["retry", "2"]);
    assert_eq!(retried.status.code(), Some(0), "{}", text(&retried.stderr));
    let retried_again = project.run(&["clear", "2", "--task", "load"]);
    assert_eq!(
        retried_again.status.code(),
        Some(0),
        "{}",
        text(&retried_again.stderr)
    );
    let rows = query(
        &project,
        "SELECT dt, count(*) AS n, sum(doubled) AS total FROM raw.numbers GROUP BY dt ORDER BY dt",
    );
    assert_eq!(
        rows,
        vec![
            serde_json::json!({"dt": "2026-01-01", "n": 10, "total": 90}),
            serde_json::json!({"dt": "2026-01-02", "n": 5, "total": 20}),
        ]
    );
}

#[test]
fn sql_errors_name_the_task_and_the_position() {
    let project = TestProject::new(
        "",
        &[(
            "broken.yaml",
            "tasks:\n  bad_syntax:\n    sql: SELEC 1\n  unknown_table:\n    sql: SELECT * FROM raw.nowhere\n",
        )],
    );
    let output = project.run(&["run", "broken", "--date", "2026-01-01"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("bad_syntax: SQL syntax error") && stderr.contains("Line: 1, Column: 1"),
        "{stderr}"
    );
    assert!(
        stderr.contains("unknown_table: unknown table `raw.nowhere`"),
        "{stderr}"
    );
}

/// Also a regression test: two processes opening a fresh project's store together failed
/// with "database is locked" while one switched the new file to WAL.
#[test]
fn two_runs_writing_different_partitions_at_once_both_succeed() {
    let project = TestProject::new("", &[("loader.yaml", LOADER)]);
    write_input(&project, "2026-01-01", 100);
    write_input(&project, "2026-01-02", 200);
    let first = project
        .command(&["run", "loader", "--date", "2026-01-01"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let second = project
        .command(&["run", "loader", "--date", "2026-01-02"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    for child in [first, second] {
        let output = child.wait_with_output().expect("wait");
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    }
    let rows = query(
        &project,
        "SELECT dt, count(*) AS n FROM raw.numbers GROUP BY dt ORDER BY dt",
    );
    assert_eq!(
        rows,
        vec![
            serde_json::json!({"dt": "2026-01-01", "n": 100}),
            serde_json::json!({"dt": "2026-01-02", "n": 200})
        ]
    );
}

/// Kills `tidewater` at moments spread over a large partition replace (before, during and
/// after its commit): the table must always hold either the previous day or the new day
/// exactly, and `retry` then finishes the job.
#[test]
fn killing_tidewater_during_a_commit_leaves_the_old_or_the_new_partition_never_a_mix() {
    let project = TestProject::new("", &[("loader.yaml", LOADER)]);
    let count = || {
        let rows = query(
            &project,
            "SELECT count(*) AS n, count(DISTINCT id) AS ids FROM raw.numbers",
        );
        assert_eq!(rows[0]["n"], rows[0]["ids"], "no row twice");
        rows[0]["n"].as_i64().expect("count")
    };
    write_input(&project, "2026-01-01", 200_000);
    let started = std::time::Instant::now();
    assert_eq!(
        project
            .run(&["run", "loader", "--date", "2026-01-01"])
            .status
            .code(),
        Some(0)
    );
    let full_run = started.elapsed();
    let mut previous = 200_000;
    let mut run = 1;
    let mut outcomes = Vec::new();
    for (size, fraction) in [
        (150_000i64, 0.2),
        (160_000, 0.4),
        (170_000, 0.6),
        (180_000, 0.8),
        (190_000, 0.95),
        (140_000, 1.3),
    ] {
        write_input(&project, "2026-01-01", size as usize);
        let child = project
            // The killed runs are left running: the next one runs beside them on purpose.
            .command(&[
                "run",
                "loader",
                "--date",
                "2026-01-01",
                "--allow-concurrent",
            ])
            .spawn()
            .expect("spawn");
        run += 1;
        // The kill moments are spread over the length of a full run; the assertions must hold
        // at any moment, so the machine's speed changes which side of the commit each lands.
        std::thread::sleep(full_run.mul_f64(fraction));
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
        let _ = child.wait_with_output();
        let now = count();
        assert!(
            now == previous || now == size,
            "after a kill at {fraction} of a run the table holds {now} rows, neither {previous} nor {size}"
        );
        outcomes.push(if now == size {
            "after commit"
        } else {
            "before commit"
        });
        previous = now;
    }
    eprintln!("kills landed: {outcomes:?} (a full run took {full_run:?})");
    let retried = project.run(&["retry", &run.to_string()]);
    assert!(
        matches!(retried.status.code(), Some(0)),
        "{}",
        text(&retried.stderr)
    );
    assert_eq!(count(), 140_000);
}
