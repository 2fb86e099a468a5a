use tidewater_flow::{FlowError, WriteMode, WriteOutcome};

use crate::support::{Project, commit, committed_version, lines, spec};

const DAY_ONE: &str = "SELECT * FROM (VALUES (1, 'apple', 3), (2, 'pear', 5)) AS t(id, item, qty)";
const DAY_TWO: &str = "SELECT * FROM (VALUES (3, 'plum', 7)) AS t(id, item, qty)";
const ALL_ROWS: &str = "SELECT id, item, qty, dt FROM mart.sales";

#[tokio::test]
async fn replacing_the_same_partition_twice_leaves_one_copy() {
    let project = Project::new();
    let target = spec(
        "mart.sales",
        WriteMode::ReplacePartition,
        &[("dt", "2026-01-01")],
    );

    project
        .write(DAY_ONE, &target, &commit(1, "daily_mart", 1))
        .await;
    let second = project
        .write(DAY_ONE, &target, &commit(1, "daily_mart", 2))
        .await;

    assert_eq!(
        project.rows(ALL_ROWS).await,
        lines(&["1,apple,3,2026-01-01", "2,pear,5,2026-01-01"])
    );
    let WriteOutcome::Committed {
        rows_written,
        files_removed,
        ..
    } = second.outcome
    else {
        panic!("expected a commit: {second:?}");
    };
    assert_eq!(rows_written, 2);
    assert!(files_removed >= 1, "the first copy's files were removed");
}

#[tokio::test]
async fn other_days_are_untouched_when_a_day_is_replaced() {
    let project = Project::new();
    let day_one = spec(
        "mart.sales",
        WriteMode::ReplacePartition,
        &[("dt", "2026-01-01")],
    );
    let day_two = spec(
        "mart.sales",
        WriteMode::ReplacePartition,
        &[("dt", "2026-01-02")],
    );

    project
        .write(DAY_ONE, &day_one, &commit(1, "daily_mart", 1))
        .await;
    project
        .write(DAY_TWO, &day_two, &commit(2, "daily_mart", 1))
        .await;
    assert_eq!(
        project.rows(ALL_ROWS).await,
        lines(&[
            "1,apple,3,2026-01-01",
            "2,pear,5,2026-01-01",
            "3,plum,7,2026-01-02",
        ])
    );

    let corrected = "SELECT * FROM (VALUES (1, 'apple', 4)) AS t(id, item, qty)";
    project
        .write(corrected, &day_one, &commit(3, "daily_mart", 1))
        .await;
    assert_eq!(
        project.rows(ALL_ROWS).await,
        lines(&["1,apple,4,2026-01-01", "3,plum,7,2026-01-02"])
    );
}

#[tokio::test]
async fn a_query_that_returns_the_partition_column_must_match_the_declared_value() {
    let project = Project::new();
    let target = spec(
        "mart.sales",
        WriteMode::ReplacePartition,
        &[("dt", "2026-01-01")],
    );
    let matching = "SELECT 1 AS id, '2026-01-01' AS dt";
    project
        .write(matching, &target, &commit(1, "daily_mart", 1))
        .await;
    let version = project.version("mart.sales").await;

    let straying = "SELECT * FROM (VALUES (1, '2026-01-01'), (2, '2026-01-03')) AS t(id, dt)";
    let error = project
        .warehouse
        .write(straying, &target, &commit(2, "daily_mart", 1))
        .await
        .expect_err("rows outside the partition are refused");

    match error {
        FlowError::PartitionMismatch {
            column,
            expected,
            found,
        } => {
            assert_eq!(column, "dt");
            assert_eq!(expected, "2026-01-01");
            assert_eq!(found, "2026-01-03");
        }
        other => panic!("expected PartitionMismatch, got {other:?}"),
    }
    assert_eq!(
        project.version("mart.sales").await,
        version,
        "no commit was made"
    );
    assert_eq!(
        project.rows("SELECT id, dt FROM mart.sales").await,
        lines(&["1,2026-01-01"])
    );
}

#[tokio::test]
async fn a_null_partition_value_in_the_query_is_a_mismatch() {
    let project = Project::new();
    let target = spec(
        "mart.sales",
        WriteMode::ReplacePartition,
        &[("dt", "2026-01-01")],
    );
    let error = project
        .warehouse
        .write(
            "SELECT 1 AS id, CAST(NULL AS VARCHAR) AS dt",
            &target,
            &commit(1, "daily_mart", 1),
        )
        .await
        .expect_err("a NULL partition value is not the declared one");
    assert!(
        matches!(&error, FlowError::PartitionMismatch { found, .. } if found == "NULL"),
        "{error:?}"
    );
    assert!(
        project.warehouse.tables().await.unwrap().is_empty(),
        "no table was created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_replacements_of_different_partitions_both_commit() {
    let project = Project::new();
    let day = |dt| spec("mart.sales", WriteMode::ReplacePartition, &[("dt", dt)]);
    project
        .write(DAY_ONE, &day("2026-01-01"), &commit(1, "daily_mart", 1))
        .await;

    let (day_two, day_three) = (day("2026-01-02"), day("2026-01-03"));
    let (run_two, run_three) = (commit(2, "daily_mart", 1), commit(3, "daily_mart", 1));
    let (second, third) = tokio::join!(
        project.warehouse.write(DAY_ONE, &day_two, &run_two),
        project.warehouse.write(DAY_TWO, &day_three, &run_three),
    );
    let (second, third) = (second.expect("day two"), third.expect("day three"));

    assert_ne!(committed_version(&second), committed_version(&third));
    assert_eq!(
        project.rows(ALL_ROWS).await,
        lines(&[
            "1,apple,3,2026-01-01",
            "2,pear,5,2026-01-01",
            "1,apple,3,2026-01-02",
            "2,pear,5,2026-01-02",
            "3,plum,7,2026-01-03",
        ])
    );
}

// Two first writes may race to create the table; whichever loses the commit of version 0 must
// be retried against the table the winner created. (Whether they overlap depends on timing;
// the outcome must be the same either way.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_writes_both_commit_when_they_race_to_create_the_table() {
    let project = Project::new();
    let day = |dt| spec("mart.sales", WriteMode::ReplacePartition, &[("dt", dt)]);

    let (day_one, day_two) = (day("2026-01-01"), day("2026-01-02"));
    let (run_one, run_two) = (commit(1, "daily_mart", 1), commit(2, "daily_mart", 1));
    let (first, second) = tokio::join!(
        project.warehouse.write(DAY_ONE, &day_one, &run_one),
        project.warehouse.write(DAY_TWO, &day_two, &run_two),
    );
    first.expect("day one");
    second.expect("day two");

    assert_eq!(
        project.rows(ALL_ROWS).await,
        lines(&[
            "1,apple,3,2026-01-01",
            "2,pear,5,2026-01-01",
            "3,plum,7,2026-01-02",
        ])
    );
}

#[tokio::test]
async fn replace_partition_without_a_partition_is_refused() {
    let project = Project::new();
    let error = project
        .warehouse
        .write(
            DAY_ONE,
            &spec("mart.sales", WriteMode::ReplacePartition, &[]),
            &commit(1, "t", 1),
        )
        .await
        .expect_err("nothing to replace");
    assert!(
        matches!(error, FlowError::InvalidWriteSpec { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_write_declaring_other_partition_columns_than_the_table_is_refused() {
    let project = Project::new();
    project
        .write(
            DAY_ONE,
            &spec(
                "mart.sales",
                WriteMode::ReplacePartition,
                &[("dt", "2026-01-01")],
            ),
            &commit(1, "t", 1),
        )
        .await;
    let error = project
        .warehouse
        .write(
            DAY_ONE,
            &spec(
                "mart.sales",
                WriteMode::ReplacePartition,
                &[("region", "kr")],
            ),
            &commit(2, "t", 1),
        )
        .await
        .expect_err("the table is partitioned by dt");
    match error {
        FlowError::PartitionColumnsMismatch {
            table_columns,
            declared,
            ..
        } => {
            assert_eq!(table_columns, ["dt"]);
            assert_eq!(declared, ["region"]);
        }
        other => panic!("expected PartitionColumnsMismatch, got {other:?}"),
    }
}

/// Regression test: two writes creating one table at once (as two `trigger`ed runs under one
/// server do) both committed a table creation, versions 0 and 1, and every row was there twice.
#[tokio::test]
async fn two_writes_creating_one_table_in_one_process_create_it_once() {
    let project = Project::new();
    for race in 0..10 {
        let name = format!("mart.sales_{race}");
        let target = spec(&name, WriteMode::ReplacePartition, &[("dt", "2026-01-01")]);
        let (first_commit, second_commit) =
            (commit(1, "daily_mart", 1), commit(2, "daily_mart", 1));
        let (first, second) = tokio::join!(
            project.write(DAY_ONE, &target, &first_commit),
            project.write(DAY_ONE, &target, &second_commit),
        );
        let log = project
            .root()
            .join(format!("warehouse/mart/sales_{race}/_delta_log"));
        let creations = std::fs::read_dir(&log)
            .expect("the table has a log")
            .map(|entry| std::fs::read_to_string(entry.expect("entry").path()).expect("commit"))
            .filter(|commit| commit.contains("\"metaData\""))
            .count();
        assert_eq!(creations, 1, "{name} created by {first:?} and {second:?}");
        assert_eq!(
            project
                .rows(&format!("SELECT id, item, qty, dt FROM {name}"))
                .await,
            lines(&["1,apple,3,2026-01-01", "2,pear,5,2026-01-01"])
        );
    }
}
