//! Serving views: the batch partition where it exists, the stream's rows elsewhere, and
//! pruning that never changes the answer.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use tidewater_core::ServingView;
use tidewater_flow::WriteMode;

use crate::support::{Project, commit, lines, spec, table};

fn view(retention: Option<Duration>) -> ServingView {
    ServingView {
        name: table("serving.orders"),
        batch: table("mart.orders"),
        stream: table("stream.orders"),
        by: "dt".to_owned(),
        retention,
    }
}

/// A project whose stream has days 1–3 (ids `s…`) and whose batch has day 1 (ids `b…`).
async fn project(retention: Option<Duration>) -> Project {
    let mut project = Project::new();
    for (day, values) in [
        ("2026-01-01", "('s1', 1.0), ('s2', 1.0)"),
        ("2026-01-02", "('s3', 1.0)"),
        ("2026-01-03", "('s4', 1.0), ('s5', 1.0)"),
    ] {
        project
            .write(
                &format!("SELECT * FROM (VALUES {values}) AS t(order_id, amount)"),
                &spec("stream.orders", WriteMode::Append, &[("dt", day)]),
                &commit(1, "stream", 1),
            )
            .await;
    }
    project
        .write(
            "SELECT * FROM (VALUES ('b1', 10.0)) AS t(order_id, amount)",
            &spec(
                "mart.orders",
                WriteMode::ReplacePartition,
                &[("dt", "2026-01-01")],
            ),
            &commit(2, "recompute", 1),
        )
        .await;
    project.warehouse = project.warehouse.clone().with_views(vec![view(retention)]);
    project
}

const VIEW_ROWS: &str = "SELECT order_id, amount, dt FROM serving.orders";

#[tokio::test]
async fn a_view_reads_the_batch_partition_where_it_exists_and_the_stream_elsewhere() {
    let project = project(None).await;
    assert_eq!(
        project.rows(VIEW_ROWS).await,
        lines(&[
            "b1,10.0,2026-01-01",
            "s3,1.0,2026-01-02",
            "s4,1.0,2026-01-03",
            "s5,1.0,2026-01-03",
        ])
    );
    // Lineage names the view's two tables, not the view.
    assert_eq!(
        project
            .warehouse
            .tables_read("SELECT * FROM serving.orders JOIN mart.orders USING (order_id)")
            .expect("parses"),
        vec![table("mart.orders"), table("stream.orders")]
    );
}

#[tokio::test]
async fn pruning_deletes_covered_days_older_than_the_retention_and_changes_no_answer() {
    let project = project(Some(Duration::from_secs(7 * 86_400))).await;
    let before = project.rows(VIEW_ROWS).await;
    let view = view(Some(Duration::from_secs(7 * 86_400)));
    // Day 1 ends at 2026-01-02T00:00; 7 days later it is old enough, a minute before not.
    let almost = Utc
        .with_ymd_and_hms(2026, 1, 8, 23, 59, 0)
        .single()
        .expect("a time");
    let nothing = project
        .warehouse
        .prune_stream(&view, almost)
        .await
        .expect("prunes");
    assert!(nothing.partitions.is_empty(), "{nothing:?}");
    // Much later, only the covered day goes: days 2 and 3 have no batch partition.
    let later = Utc
        .with_ymd_and_hms(2027, 1, 1, 0, 0, 0)
        .single()
        .expect("a time");
    let pruned = project
        .warehouse
        .prune_stream(&view, later)
        .await
        .expect("prunes");
    assert_eq!(pruned.partitions, vec!["2026-01-01".to_owned()]);
    assert!(pruned.version.is_some());
    assert_eq!(
        project.rows("SELECT DISTINCT dt FROM stream.orders").await,
        lines(&["2026-01-02", "2026-01-03"])
    );
    assert_eq!(project.rows(VIEW_ROWS).await, before);
    let partitions = project
        .warehouse
        .view_partitions(&view)
        .await
        .expect("reads the logs");
    assert_eq!(partitions.batch.len(), 1);
    assert_eq!(partitions.stream.len(), 2);
}
