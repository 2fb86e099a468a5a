use tidewater_flow::{FlowError, WriteMode, WriteOutcome};

use crate::support::{Project, commit, lines, spec};

#[tokio::test]
async fn merge_updates_rows_with_matching_keys_and_inserts_the_others() {
    let project = Project::new();
    let mut target = spec("mart.customers", WriteMode::Merge, &[]);
    target.keys = vec!["id".to_owned()];

    project
        .write(
            "SELECT * FROM (VALUES (1, 'ann', 'kr'), (2, 'bob', 'jp')) AS t(id, name, country)",
            &target,
            &commit(1, "customers", 1),
        )
        .await;
    let upsert = project
        .write(
            "SELECT * FROM (VALUES (2, 'bob', 'us'), (3, 'cy', 'kr')) AS t(id, name, country)",
            &target,
            &commit(2, "customers", 1),
        )
        .await;

    assert!(
        matches!(
            upsert.outcome,
            WriteOutcome::Committed {
                rows_written: 2,
                ..
            }
        ),
        "one update and one insert: {upsert:?}"
    );
    assert_eq!(
        project
            .rows("SELECT id, name, country FROM mart.customers")
            .await,
        lines(&["1,ann,kr", "2,bob,us", "3,cy,kr"])
    );
}

#[tokio::test]
async fn merging_the_same_rows_again_changes_nothing() {
    let project = Project::new();
    let mut target = spec("mart.customers", WriteMode::Merge, &[]);
    target.keys = vec!["id".to_owned()];
    let rows = "SELECT * FROM (VALUES (1, 'ann'), (2, 'bob')) AS t(id, name)";

    project
        .write(rows, &target, &commit(1, "customers", 1))
        .await;
    project
        .write(rows, &target, &commit(1, "customers", 2))
        .await;

    assert_eq!(
        project.rows("SELECT id, name FROM mart.customers").await,
        lines(&["1,ann", "2,bob"])
    );
}

#[tokio::test]
async fn merge_into_a_partition_matches_keys_only_within_it() {
    let project = Project::new();
    let day = |dt| {
        let mut target = spec("mart.balances", WriteMode::Merge, &[("dt", dt)]);
        target.keys = vec!["account".to_owned()];
        target
    };

    project
        .write(
            "SELECT 'a' AS account, 10 AS balance",
            &day("2026-01-01"),
            &commit(1, "balances", 1),
        )
        .await;
    project
        .write(
            "SELECT 'a' AS account, 12 AS balance",
            &day("2026-01-02"),
            &commit(2, "balances", 1),
        )
        .await;
    project
        .write(
            "SELECT 'a' AS account, 13 AS balance",
            &day("2026-01-02"),
            &commit(3, "balances", 1),
        )
        .await;

    assert_eq!(
        project
            .rows("SELECT account, balance, dt FROM mart.balances")
            .await,
        lines(&["a,10,2026-01-01", "a,13,2026-01-02"])
    );
}

#[tokio::test]
async fn merge_without_keys_is_refused() {
    let project = Project::new();
    let error = project
        .warehouse
        .write(
            "SELECT 1 AS id",
            &spec("mart.customers", WriteMode::Merge, &[]),
            &commit(1, "t", 1),
        )
        .await
        .expect_err("a merge needs keys");
    assert!(
        matches!(error, FlowError::InvalidWriteSpec { .. }),
        "{error:?}"
    );

    let mut unknown_key = spec("mart.customers", WriteMode::Merge, &[]);
    unknown_key.keys = vec!["customer_id".to_owned()];
    let error = project
        .warehouse
        .write("SELECT 1 AS id", &unknown_key, &commit(1, "t", 1))
        .await
        .expect_err("the key must be a column");
    assert!(
        matches!(&error, FlowError::InvalidWriteSpec { reason, .. } if reason.contains("customer_id")),
        "{error:?}"
    );
}

#[tokio::test]
async fn overwrite_replaces_the_whole_table() {
    let project = Project::new();
    let target = spec("mart.totals", WriteMode::Overwrite, &[]);

    project
        .write(
            "SELECT * FROM (VALUES ('kr', 10), ('jp', 20)) AS t(country, total)",
            &target,
            &commit(1, "totals", 1),
        )
        .await;
    project
        .write(
            "SELECT * FROM (VALUES ('us', 30)) AS t(country, total)",
            &target,
            &commit(2, "totals", 1),
        )
        .await;

    assert_eq!(
        project.rows("SELECT country, total FROM mart.totals").await,
        lines(&["us,30"])
    );
}
