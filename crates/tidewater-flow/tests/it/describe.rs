use std::time::Duration;

use tidewater_flow::{CommitInfo, FlowError, PartitionDescription, WriteMode};

use crate::support::{Project, commit, lines, spec, table};

fn writer_of(partition: &PartitionDescription) -> Option<&CommitInfo> {
    partition
        .last_write
        .as_ref()
        .and_then(|write| write.writer.as_ref())
}

async fn project_with_three_writes() -> Project {
    let project = Project::new();
    let day = |dt| spec("mart.sales", WriteMode::ReplacePartition, &[("dt", dt)]);
    let two_rows = "SELECT * FROM (VALUES (1, 3), (2, 5)) AS t(id, qty)";
    let three_rows = "SELECT * FROM (VALUES (1, 3), (2, 5), (3, 7)) AS t(id, qty)";
    project
        .write(two_rows, &day("2026-01-01"), &commit(1, "daily_mart", 1))
        .await;
    project
        .write(three_rows, &day("2026-01-02"), &commit(2, "daily_mart", 1))
        .await;
    // Day one is recomputed by a later run, on its second attempt.
    project
        .write(three_rows, &day("2026-01-01"), &commit(3, "daily_mart", 2))
        .await;
    project
}

#[tokio::test]
async fn describe_shows_each_partition_with_its_rows_and_the_run_that_last_wrote_it() {
    let project = project_with_three_writes().await;

    let description = project
        .warehouse
        .describe(&table("mart.sales"))
        .await
        .unwrap();

    assert_eq!(description.version, 2);
    assert_eq!(description.partition_columns, ["dt"]);
    let columns: Vec<(&str, &str)> = description
        .columns
        .iter()
        .map(|column| (column.name.as_str(), column.data_type.as_str()))
        .collect();
    assert_eq!(columns, [("id", "long"), ("qty", "long"), ("dt", "string")]);

    let [day_one, day_two] = description.partitions.as_slice() else {
        panic!("two partitions expected: {description:?}");
    };
    assert_eq!(
        day_one.values,
        [("dt".to_owned(), Some("2026-01-01".to_owned()))]
    );
    assert_eq!(day_one.rows, Some(3));
    assert_eq!(writer_of(day_one), Some(&commit(3, "daily_mart", 2)));
    assert_eq!(day_one.last_write.as_ref().unwrap().version, 2);
    assert!(day_one.last_write.as_ref().unwrap().timestamp.is_some());

    assert_eq!(
        day_two.values,
        [("dt".to_owned(), Some("2026-01-02".to_owned()))]
    );
    assert_eq!(day_two.rows, Some(3));
    assert_eq!(writer_of(day_two), Some(&commit(2, "daily_mart", 1)));
    assert_eq!(day_two.last_write.as_ref().unwrap().version, 1);
}

#[tokio::test]
async fn compaction_does_not_change_who_wrote_a_partition() {
    let project = Project::new();
    let target = spec("raw.events", WriteMode::Append, &[("dt", "2026-01-01")]);
    for run in 1..=3 {
        project
            .write("SELECT 1 AS id", &target, &commit(run, "load", 1))
            .await;
    }

    let summary = project
        .warehouse
        .compact(&table("raw.events"))
        .await
        .unwrap();

    assert_eq!(summary.files_removed, 3, "{summary:?}");
    assert_eq!(summary.files_added, 1, "{summary:?}");
    assert_eq!(summary.version, Some(3));
    let description = project
        .warehouse
        .describe(&table("raw.events"))
        .await
        .unwrap();
    let [partition] = description.partitions.as_slice() else {
        panic!("one partition expected: {description:?}");
    };
    assert_eq!(partition.files, 1);
    assert_eq!(partition.rows, Some(3));
    assert_eq!(writer_of(partition), Some(&commit(3, "load", 1)));
    assert_eq!(
        project.rows("SELECT id FROM raw.events").await,
        lines(&["1", "1", "1"])
    );
}

#[tokio::test]
async fn missing_partitions_are_the_values_without_rows() {
    let project = project_with_three_writes().await;
    let wanted: Vec<String> = ["2025-12-31", "2026-01-01", "2026-01-02", "2026-01-03"]
        .map(str::to_owned)
        .to_vec();

    let missing = project
        .warehouse
        .missing_partitions(&table("mart.sales"), "dt", &wanted)
        .await
        .unwrap();
    assert_eq!(missing, ["2025-12-31", "2026-01-03"]);

    // A data column is answered with a query instead of the log.
    let ids: Vec<String> = ["1", "3", "4"].map(str::to_owned).to_vec();
    let missing = project
        .warehouse
        .missing_partitions(&table("mart.sales"), "id", &ids)
        .await
        .unwrap();
    assert_eq!(missing, ["4"]);

    let error = project
        .warehouse
        .missing_partitions(&table("mart.sales"), "day", &wanted)
        .await
        .expect_err("no such column");
    assert!(
        matches!(error, FlowError::UnknownColumn { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn describing_an_unknown_table_is_an_error_and_creates_nothing() {
    let project = project_with_three_writes().await;
    let error = project
        .warehouse
        .describe(&table("mart.sale"))
        .await
        .expect_err("no such table");
    assert!(
        matches!(&error, FlowError::UnknownTable { known, .. } if known == &["mart.sales"]),
        "{error:?}"
    );
    assert!(!project.root().join("warehouse/mart/sale").exists());
}

#[tokio::test]
async fn tables_lists_every_table_sorted() {
    let project = project_with_three_writes().await;
    project
        .write(
            "SELECT 1 AS id",
            &spec("raw.orders", WriteMode::Overwrite, &[]),
            &commit(1, "t", 1),
        )
        .await;
    std::fs::create_dir_all(project.root().join("warehouse/raw/not_a_table")).unwrap();

    let tables = project.warehouse.tables().await.unwrap();

    assert_eq!(tables, [table("mart.sales"), table("raw.orders")]);
}

#[tokio::test]
async fn vacuum_deletes_the_files_replaced_partitions_left_behind() {
    let project = project_with_three_writes().await;
    let sales = table("mart.sales");

    let dry_run = project
        .warehouse
        .vacuum(&sales, Duration::ZERO, true)
        .await
        .unwrap();
    assert!(dry_run.is_dry_run);
    assert_eq!(dry_run.files.len(), 1, "day one's first file: {dry_run:?}");
    let still_there = project.root().join("warehouse/mart/sales");
    assert_eq!(parquet_files(&still_there), 3, "a dry run deletes nothing");

    let vacuum = project
        .warehouse
        .vacuum(&sales, Duration::ZERO, false)
        .await
        .unwrap();
    assert!(!vacuum.is_dry_run);
    assert_eq!(vacuum.files.len(), 1);
    assert_eq!(parquet_files(&still_there), 2);
    assert_eq!(project.rows("SELECT count(*) FROM mart.sales").await, ["6"]);

    // The default retention keeps files removed a moment ago.
    let week = Duration::from_secs(7 * 24 * 3600);
    let kept = project.warehouse.vacuum(&sales, week, true).await.unwrap();
    assert!(kept.files.is_empty(), "{kept:?}");
}

fn parquet_files(folder: &std::path::Path) -> usize {
    let mut count = 0;
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            count += parquet_files(&path);
        } else if path
            .extension()
            .is_some_and(|extension| extension == "parquet")
        {
            count += 1;
        }
    }
    count
}
