use tidewater_flow::{FlowError, SchemaDifference, SchemaPolicy, WriteMode};

use crate::support::{Project, commit, lines, spec};

const ORIGINAL: &str = "SELECT * FROM (VALUES (1, 'apple')) AS t(id, item)";

async fn project_with_items() -> Project {
    let project = Project::new();
    project
        .write(
            ORIGINAL,
            &spec(
                "mart.items",
                WriteMode::ReplacePartition,
                &[("dt", "2026-01-01")],
            ),
            &commit(1, "items", 1),
        )
        .await;
    project
}

async fn refused_differences(project: &Project, sql: &str) -> Vec<SchemaDifference> {
    let version = project.version("mart.items").await;
    let error = project
        .warehouse
        .write(
            sql,
            &spec(
                "mart.items",
                WriteMode::ReplacePartition,
                &[("dt", "2026-01-02")],
            ),
            &commit(2, "items", 1),
        )
        .await
        .expect_err("a schema change is refused under the strict policy");
    assert_eq!(
        project.version("mart.items").await,
        version,
        "no commit was made"
    );
    assert_eq!(
        project.rows("SELECT id, item, dt FROM mart.items").await,
        lines(&["1,apple,2026-01-01"])
    );
    match error {
        FlowError::SchemaMismatch { table, differences } => {
            assert_eq!(table, "mart.items");
            differences
        }
        other => panic!("expected SchemaMismatch, got {other:?}"),
    }
}

#[tokio::test]
async fn an_added_column_is_a_schema_mismatch_and_the_table_is_untouched() {
    let project = project_with_items().await;
    let differences =
        refused_differences(&project, "SELECT 2 AS id, 'pear' AS item, 1.5 AS price").await;
    assert_eq!(
        differences,
        [SchemaDifference::Added {
            column: "price".to_owned(),
            data_type: "double".to_owned()
        }]
    );
}

#[tokio::test]
async fn a_missing_column_is_a_schema_mismatch() {
    let project = project_with_items().await;
    let differences = refused_differences(&project, "SELECT 2 AS id").await;
    assert_eq!(
        differences,
        [SchemaDifference::Removed {
            column: "item".to_owned(),
            data_type: "string".to_owned()
        }]
    );
}

#[tokio::test]
async fn a_changed_type_is_a_schema_mismatch() {
    let project = project_with_items().await;
    let differences = refused_differences(&project, "SELECT '2' AS id, 'pear' AS item").await;
    assert_eq!(
        differences,
        [SchemaDifference::TypeChanged {
            column: "id".to_owned(),
            table_type: "long".to_owned(),
            query_type: "string".to_owned(),
        }]
    );
}

#[tokio::test]
async fn the_evolve_policy_adds_the_new_column() {
    let project = project_with_items().await;
    let mut evolving = spec(
        "mart.items",
        WriteMode::ReplacePartition,
        &[("dt", "2026-01-02")],
    );
    evolving.schema_policy = SchemaPolicy::Evolve;

    project
        .write(
            "SELECT 2 AS id, 'pear' AS item, 1.5 AS price",
            &evolving,
            &commit(2, "items", 1),
        )
        .await;

    let description = project
        .warehouse
        .describe(&"mart.items".parse().unwrap())
        .await
        .unwrap();
    let columns: Vec<(&str, &str)> = description
        .columns
        .iter()
        .map(|column| (column.name.as_str(), column.data_type.as_str()))
        .collect();
    assert!(columns.contains(&("price", "double")), "{columns:?}");
    assert_eq!(
        project
            .rows("SELECT id, item, price, dt FROM mart.items")
            .await,
        lines(&["1,apple,,2026-01-01", "2,pear,1.5,2026-01-02"])
    );
}

#[tokio::test]
async fn the_evolve_policy_still_refuses_a_changed_type() {
    let project = project_with_items().await;
    let mut evolving = spec(
        "mart.items",
        WriteMode::ReplacePartition,
        &[("dt", "2026-01-02")],
    );
    evolving.schema_policy = SchemaPolicy::Evolve;
    let version = project.version("mart.items").await;

    let error = project
        .warehouse
        .write(
            "SELECT '2' AS id, 'pear' AS item, 1.5 AS price",
            &evolving,
            &commit(2, "items", 1),
        )
        .await
        .expect_err("a retyped column cannot evolve");

    match error {
        FlowError::SchemaMismatch { differences, .. } => assert_eq!(
            differences,
            [SchemaDifference::TypeChanged {
                column: "id".to_owned(),
                table_type: "long".to_owned(),
                query_type: "string".to_owned(),
            }],
            "only the type change is reported; the new column is allowed"
        ),
        other => panic!("expected SchemaMismatch, got {other:?}"),
    }
    assert_eq!(project.version("mart.items").await, version);
}

#[tokio::test]
async fn timestamps_are_written_as_utc_timestamps_and_the_table_stays_reader_1_writer_2() {
    let project = Project::new();
    project
        .write(
            "SELECT TIMESTAMP '2026-01-01 10:30:00' AS seen_at, arrow_cast('x', 'Utf8View') AS label",
            &spec("raw.seen", WriteMode::Overwrite, &[]),
            &commit(1, "seen", 1),
        )
        .await;

    let description = project
        .warehouse
        .describe(&"raw.seen".parse().unwrap())
        .await
        .unwrap();
    let types: Vec<(&str, &str)> = description
        .columns
        .iter()
        .map(|column| (column.name.as_str(), column.data_type.as_str()))
        .collect();
    assert_eq!(types, [("seen_at", "timestamp"), ("label", "string")]);

    let first_commit = std::fs::read_to_string(
        project
            .root()
            .join("warehouse/raw/seen/_delta_log/00000000000000000000.json"),
    )
    .expect("first commit file");
    let protocol = first_commit
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find_map(|action| action.get("protocol").cloned())
        .expect("a protocol action");
    assert_eq!(protocol["minReaderVersion"], 1, "{protocol}");
    assert_eq!(protocol["minWriterVersion"], 2, "{protocol}");

    assert_eq!(
        project
            .rows("SELECT CAST(seen_at AS VARCHAR), label FROM raw.seen")
            .await,
        lines(&["2026-01-01T10:30:00Z,x"])
    );
}

// Regression guard: a table created from constants got NOT NULL columns, so a later run that
// produced a NULL failed to write.
#[tokio::test]
async fn columns_of_created_tables_accept_nulls_later() {
    let project = Project::new();
    let target = spec("raw.regions", WriteMode::Append, &[]);
    project
        .write(
            "SELECT 1 AS id, 'kr' AS region",
            &target,
            &commit(1, "regions", 1),
        )
        .await;

    project
        .write(
            "SELECT 2 AS id, CAST(NULL AS VARCHAR) AS region",
            &target,
            &commit(2, "regions", 1),
        )
        .await;

    let description = project
        .warehouse
        .describe(&"raw.regions".parse().unwrap())
        .await
        .unwrap();
    assert!(
        description.columns.iter().all(|column| column.nullable),
        "{description:?}"
    );
    assert_eq!(
        project.rows("SELECT id, region FROM raw.regions").await,
        lines(&["1,kr", "2,"])
    );
}
