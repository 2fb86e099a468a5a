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

/// `validate` (and loading the workflow for a run) refuses a literal syntax error, so the
/// syntax error here appears only in what the run renders: `validate` renders with the
/// sample date 2026-01-01, the run is for 2026-01-02.
#[test]
fn sql_errors_name_the_task_and_the_position() {
    let project = TestProject::new(
        "",
        &[(
            "broken.yaml",
            "tasks:\n  bad_syntax:\n    sql: \"{% if ds == '2026-01-01' %}SELECT{% else %}SELEC{% endif %} 1\"\n  unknown_table:\n    sql: SELECT * FROM raw.nowhere\n",
        )],
    );
    let output = project.run(&["run", "broken", "--date", "2026-01-02"]);
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

/// How two writers of 100 rows each are told to write a table that does not exist yet
/// (`into:` without the table), and how many rows the table must hold after both.
const CREATE_RACE_MODES: &[(&str, &str, i64)] = &[
    (
        "replace_partition",
        r#"partition: { dt: "{{ ds }}" }, mode: replace_partition"#,
        100,
    ),
    ("overwrite", "mode: overwrite", 100),
    (
        "merge",
        r#"partition: { dt: "{{ ds }}" }, mode: merge, keys: [id]"#,
        100,
    ),
    // Two runs append their rows once each.
    (
        "append_atomic",
        r#"partition: { dt: "{{ ds }}" }, mode: append_atomic"#,
        200,
    ),
    (
        "append",
        r#"partition: { dt: "{{ ds }}" }, mode: append"#,
        200,
    ),
];

/// Fresh tables raced per mode.
const CREATE_RACES_PER_MODE: usize = 10;

/// The actions of every commit of a local Delta table, in version order.
fn delta_log_actions(table: &std::path::Path) -> Vec<(String, serde_json::Value)> {
    let mut commits: Vec<_> = std::fs::read_dir(table.join("_delta_log"))
        .expect("the table has a log")
        .map(|entry| entry.expect("log entry").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "json")
        })
        .collect();
    commits.sort();
    commits
        .iter()
        .flat_map(|commit| {
            let name = commit
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            std::fs::read_to_string(commit)
                .expect("read commit")
                .lines()
                .map(|line| {
                    (
                        name.clone(),
                        serde_json::from_str(line).expect("a JSON action"),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Regression test: two writers creating the same table at once both committed a table
/// creation (versions 0 and 1 each with `protocol` + `metaData`, version 1 removing nothing),
/// so every row was there twice. Two real `tidewater run` processes (two workflows, one
/// interval) race on fresh tables in every write mode; the table must be created once and
/// hold exactly the rows the mode promises.
#[test]
fn two_processes_creating_one_table_at_once_create_it_once_and_write_exactly() {
    let mut workflows = Vec::new();
    for (mode, into, _) in CREATE_RACE_MODES {
        for race in 0..CREATE_RACES_PER_MODE {
            for writer in ["a", "b"] {
                workflows.push((
                    format!("{mode}_{race}_{writer}.yaml"),
                    format!(
                        "tasks:\n  load:\n    sql: SELECT id, '{writer}' AS writer FROM read_csv('input/ids.csv')\n    into: {{ table: race.{mode}_{race}, {into} }}\n"
                    ),
                ));
            }
        }
    }
    let files: Vec<(&str, &str)> = workflows
        .iter()
        .map(|(name, text)| (name.as_str(), text.as_str()))
        .collect();
    let project = TestProject::new("", &files);
    std::fs::create_dir_all(project.path("input")).expect("mkdir");
    let ids: String = (0..100).map(|id| format!("{id}\n")).collect();
    std::fs::write(project.path("input/ids.csv"), format!("id\n{ids}")).expect("write");

    let started = std::time::Instant::now();
    for race in 0..CREATE_RACES_PER_MODE {
        // All modes of one round race at once: each table still has exactly two writers.
        let children: Vec<_> = CREATE_RACE_MODES
            .iter()
            .flat_map(|(mode, _, _)| ["a", "b"].map(|writer| format!("{mode}_{race}_{writer}")))
            .map(|workflow| {
                let child = project
                    .command(&["run", &workflow, "--date", "2026-01-01"])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("spawn");
                (workflow, child)
            })
            .collect();
        for (workflow, child) in children {
            let output = child.wait_with_output().expect("wait");
            let stderr = text(&output.stderr);
            assert_eq!(output.status.code(), Some(0), "{workflow}: {stderr}");
            // A lost commit race is handled, not a warning for the user.
            assert!(!stderr.contains("deltalake"), "{workflow}: {stderr}");
        }
    }
    let elapsed = started.elapsed();

    let mut problems = Vec::new();
    let mut counts = Vec::new();
    for (mode, _, expected_rows) in CREATE_RACE_MODES {
        for race in 0..CREATE_RACES_PER_MODE {
            let table = format!("race.{mode}_{race}");
            let actions =
                delta_log_actions(&project.path(&format!("warehouse/race/{mode}_{race}")));
            let creations: Vec<&str> = actions
                .iter()
                .filter(|(_, action)| action.get("metaData").is_some())
                .map(|(commit, _)| commit.as_str())
                .collect();
            let protocols = actions
                .iter()
                .filter(|(_, action)| action.get("protocol").is_some())
                .count();
            if (creations.len(), protocols) != (1, 1) {
                problems.push(format!(
                    "{table}: {} metaData and {protocols} protocol actions, in {creations:?}",
                    creations.len()
                ));
            }
            counts.push(format!(
                "SELECT '{table}' AS t, count(*) AS n, count(DISTINCT id) AS ids, {expected_rows} AS expected FROM {table}"
            ));
        }
    }
    for row in query(&project, &counts.join(" UNION ALL ")) {
        if row["n"] != row["expected"] || row["ids"] != 100 {
            problems.push(format!("wrong rows: {row}"));
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems in {} races:\n{}",
        problems.len(),
        counts.len(),
        problems.join("\n")
    );

    // The race must have happened: a writer that lost the creation planned its write again.
    let mut collisions = 0;
    let mut folders = vec![project.path(".tidewater/logs")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(folder).expect("log folder") {
            let path = entry.expect("log entry").path();
            if path.is_dir() {
                folders.push(path);
            } else {
                let log = std::fs::read_to_string(&path).expect("read log");
                let attempts = log.split("\"commit_attempts\":").nth(1).map(|rest| {
                    rest.chars()
                        .take_while(char::is_ascii_digit)
                        .collect::<String>()
                });
                if attempts.is_some_and(|attempts| attempts != "1") {
                    collisions += 1;
                }
            }
        }
    }
    eprintln!(
        "{} races in {elapsed:?}; {collisions} writers lost the creation and wrote again",
        CREATE_RACE_MODES.len() * CREATE_RACES_PER_MODE
    );
    assert!(collisions > 0, "no two writers ever collided");
}

/// Regression test: a write whose data file cannot be stored printed deltalake's caught
/// `panicked at …object_store…/buffered.rs: Already shut down`, and deltalake's warnings with
/// raw ANSI colour codes although stderr was not a terminal.
#[test]
fn a_failed_write_prints_no_panic_and_no_colour_codes() {
    let project = TestProject::new("", &[("loader.yaml", LOADER)]);
    write_input(&project, "2026-01-01", 10);
    // A file where the partition's folder must go: the data file's upload fails when it is
    // completed (as on a full disk), the path on which deltalake catches its panic.
    std::fs::create_dir_all(project.path("warehouse/raw/numbers")).expect("mkdir");
    std::fs::write(project.path("warehouse/raw/numbers/dt=2026-01-01"), "").expect("write");
    let output = project
        .command(&["run", "loader", "--date", "2026-01-01"])
        // Colour is decided by stderr not being a terminal here, not by NO_COLOR.
        .env_remove("NO_COLOR")
        .output()
        .expect("run");
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Not a directory"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains('\x1b'), "{stderr}");
    assert!(!stderr.contains("deltalake_core"), "{stderr}");

    // Asked for, the libraries' log lines are shown, still without colour codes.
    let verbose = project
        .command(&["run", "loader", "--date", "2026-01-01"])
        .env_remove("NO_COLOR")
        .env("TIDEWATER_LOG", "info")
        .output()
        .expect("run");
    let stderr = text(&verbose.stderr);
    assert!(stderr.contains(" INFO "), "{stderr}");
    assert!(!stderr.contains('\x1b'), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Regression test: `vacuum --retention 0s` was accepted, while Delta's own tools refuse a
/// retention under 7 days without an explicit override (a reader or writer on an older version
/// can lose its files).
#[test]
fn vacuum_refuses_a_retention_under_seven_days_without_the_override() {
    let project = TestProject::new("", &[("loader.yaml", LOADER)]);
    write_input(&project, "2026-01-01", 10);
    for _ in 0..2 {
        let output = project.run(&["run", "loader", "--date", "2026-01-01"]);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    }
    let refused = project.run(&["vacuum", "raw.numbers", "--retention", "0s"]);
    let stderr = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("shorter than the minimum of 7 days")
            && stderr.contains("--allow-short-retention"),
        "{stderr}"
    );
    let files = |project: &TestProject| {
        std::fs::read_dir(project.path("warehouse/raw/numbers/dt=2026-01-01"))
            .expect("partition folder")
            .count()
    };
    assert_eq!(files(&project), 2, "nothing was deleted");

    let allowed = project.run(&[
        "vacuum",
        "raw.numbers",
        "--retention",
        "0s",
        "--allow-short-retention",
    ]);
    assert_eq!(allowed.status.code(), Some(0), "{}", text(&allowed.stderr));
    assert_eq!(files(&project), 1, "the replaced file was deleted");
}

/// The same minimum for a `maintain` task's `vacuum:`, found by `validate` before any run.
#[test]
fn a_maintain_task_with_a_short_vacuum_retention_needs_the_override() {
    let short = "tasks:\n  tidy:\n    maintain: { table: raw.numbers, vacuum: 1h }\n";
    let project = TestProject::new("", &[("tidy.yaml", short)]);
    let output = project.run(&["validate"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("`vacuum: 1h` is shorter than the minimum retention of 7 days")
            && stderr.contains("allow_short_retention: true"),
        "{stderr}"
    );

    let allowed = "tasks:\n  tidy:\n    maintain: { table: raw.numbers, vacuum: 1h, allow_short_retention: true }\n";
    let project = TestProject::new("", &[("tidy.yaml", allowed)]);
    let output = project.run(&["validate"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
}

/// Regression: a query without `into` logged every row (the bound counted record batches, not
/// rows), so a 500-row query put 500 rows into its log.
#[test]
fn a_query_without_a_target_logs_only_its_first_rows() {
    let project = TestProject::new(
        "",
        &[(
            "peek.yaml",
            "tasks:\n  peek:\n    sql: SELECT value FROM range(500)\n",
        )],
    );
    let output = project.run(&["run", "peek", "--date", "2026-01-01"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let log = project.run(&["logs", "1", "peek"]);
    assert!(log.status.success(), "{}", text(&log.stderr));
    let log = text(&log.stdout);
    assert!(
        log.contains("500 rows in") && log.contains("(the first 20 shown)"),
        "{log}"
    );
    let value_rows = log
        .lines()
        .filter(|line| {
            line.split('|')
                .nth(2)
                .is_some_and(|cell| cell.trim().parse::<u64>().is_ok())
        })
        .count();
    assert_eq!(value_rows, 20, "{log}");
}
