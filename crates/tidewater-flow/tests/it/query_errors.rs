use tidewater_flow::{ErrorClass, FlowError, WriteMode};

use crate::support::{Project, commit, spec};

async fn query_error(project: &Project, sql: &str) -> FlowError {
    project
        .warehouse
        .query(sql)
        .await
        .expect_err("the query is refused")
}

#[tokio::test]
async fn a_syntax_error_keeps_the_parser_position() {
    let project = Project::new();
    let error = query_error(&project, "SELECT id\nFROM raw.orders WHERE id = = 1").await;
    match &error {
        FlowError::SqlSyntax { message } => {
            assert!(
                message.contains("Line: 2"),
                "the position is kept: {message}"
            );
        }
        other => panic!("expected SqlSyntax, got {other:?}"),
    }
    assert_eq!(error.class(), ErrorClass::UserInput);
}

#[tokio::test]
async fn an_unknown_table_lists_the_known_ones() {
    let project = Project::new();
    project
        .write(
            "SELECT 1 AS id",
            &spec("raw.orders", WriteMode::Overwrite, &[]),
            &commit(1, "t", 1),
        )
        .await;
    project
        .write(
            "SELECT 1 AS id",
            &spec("mart.sales", WriteMode::Overwrite, &[]),
            &commit(1, "t", 1),
        )
        .await;

    let error = query_error(&project, "SELECT * FROM raw.ordrs").await;

    match error {
        FlowError::UnknownTable { name, known } => {
            assert_eq!(name, "raw.ordrs");
            assert_eq!(known, ["mart.sales", "raw.orders"]);
        }
        other => panic!("expected UnknownTable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_table_without_its_schema_is_unknown() {
    let project = Project::new();
    let error = query_error(&project, "SELECT * FROM orders").await;
    assert!(
        matches!(&error, FlowError::UnknownTable { name, known } if name == "orders" && known.is_empty()),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_cte_is_not_mistaken_for_a_table() {
    let project = Project::new();
    let rows = project
        .rows("WITH recent AS (SELECT 1 AS id) SELECT id FROM recent")
        .await;
    assert_eq!(rows, ["1"]);
}

#[tokio::test]
async fn an_unknown_column_is_an_invalid_query() {
    let project = Project::new();
    let error = query_error(&project, "SELECT missing FROM (VALUES (1)) AS t(id)").await;
    assert!(
        matches!(&error, FlowError::InvalidQuery { message } if message.contains("missing")),
        "{error:?}"
    );
}

#[tokio::test]
async fn statements_other_than_one_query_are_refused() {
    let project = Project::new();
    for sql in [
        "CREATE TABLE t AS SELECT 1",
        "INSERT INTO raw.orders VALUES (1)",
        "SELECT 1; SELECT 2",
    ] {
        let error = query_error(&project, sql).await;
        assert!(
            matches!(error, FlowError::NotAQuery { .. }),
            "{sql}: {error:?}"
        );
    }
}

#[tokio::test]
async fn a_read_csv_glob_that_matches_nothing_is_a_missing_source() {
    let project = Project::new();
    let error = query_error(
        &project,
        "SELECT * FROM read_csv('landing/2026-01-01/*.csv')",
    )
    .await;
    assert!(
        matches!(&error, FlowError::MissingSource { path } if path == "landing/2026-01-01/*.csv"),
        "{error:?}"
    );

    let error = query_error(
        &project,
        "SELECT * FROM read_parquet('exports/missing.parquet')",
    )
    .await;
    assert!(
        matches!(error, FlowError::MissingSource { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_table_function_needs_a_string_literal() {
    let project = Project::new();
    let error = query_error(&project, "SELECT * FROM read_csv(42)").await;
    assert!(
        matches!(&error, FlowError::InvalidTableFunctionCall { function, .. } if function == "read_csv"),
        "{error:?}"
    );
}

#[tokio::test]
async fn function_names_are_case_insensitive_but_identifiers_keep_their_case() {
    let project = Project::new();
    project.write_file("landing/orders.csv", "OrderId,amount\n1,2.5\n2,4.0\n");

    let rows = project
        .rows("SELECT COUNT(*), SUM(amount), MAX(OrderId) FROM read_csv('landing/orders.csv')")
        .await;

    // The Delta session does not fold identifiers to lowercase, so a CSV header such as
    // `OrderId` is addressed as written.
    assert_eq!(rows, ["2,6.5,2"]);
}

/// Regression (issue 16, item 6): an input-class failure is not retried, so an error from
/// under the query (its storage) must not pass for the user's mistake.
#[test]
fn an_error_from_under_the_query_is_the_environment_s_unless_it_says_otherwise() {
    use datafusion::error::DataFusionError;
    use deltalake::DeltaTableError;
    let io = std::io::Error::other("connection reset");
    let external = FlowError::from(DataFusionError::External(Box::new(io)));
    assert_eq!(external.class(), ErrorClass::Environment);
    let delta = DeltaTableError::Generic("bad partition".into());
    let external = FlowError::from(DataFusionError::External(Box::new(delta)));
    assert_eq!(external.class(), ErrorClass::Environment);
    let invalid = DeltaTableError::InvalidData {
        message: "a row outside the partition".into(),
    };
    let external = FlowError::from(DataFusionError::External(Box::new(invalid)));
    assert_eq!(external.class(), ErrorClass::UserInput);
}

/// A source file that matches nothing yet may arrive: retrying is how a task waits for it.
#[test]
fn a_missing_source_file_is_retried() {
    let missing = FlowError::MissingSource {
        path: "landing/2026-01-01/*.csv".into(),
    };
    assert_eq!(
        tidewater_core::FailureClass::from(missing.class()),
        tidewater_core::FailureClass::Environment
    );
}
