use datafusion::prelude::{ParquetReadOptions, SessionContext};
use tidewater_flow::WriteMode;

use crate::support::{Project, commit, lines, spec};

#[tokio::test]
async fn read_csv_reads_a_glob_relative_to_the_project_with_a_header() {
    let project = Project::new();
    project.write_file(
        "landing/2026-01-01/a.csv",
        "id,item,qty\n1,apple,3\n2,pear,5\n",
    );
    project.write_file("landing/2026-01-01/b.csv", "id,item,qty\n3,plum,7\n");
    project.write_file("landing/2026-01-02/a.csv", "id,item,qty\n9,fig,9\n");

    let rows = project
        .rows("SELECT id + 100, item, qty * 2 FROM read_csv('landing/2026-01-01/*.csv')")
        .await;

    // Arithmetic on id and qty works only if the header was used and the types inferred.
    assert_eq!(rows, lines(&["101,apple,6", "102,pear,10", "103,plum,14"]));
}

#[tokio::test]
async fn read_json_reads_newline_delimited_json() {
    let project = Project::new();
    project.write_file(
        "landing/events.json",
        "{\"id\": 1, \"kind\": \"click\"}\n{\"id\": 2, \"kind\": \"view\"}\n",
    );

    let rows = project
        .rows("SELECT id, kind FROM read_json('landing/events.json') WHERE id > 1")
        .await;

    assert_eq!(rows, ["2,view"]);
}

#[tokio::test]
async fn read_parquet_reads_a_folder_and_joins_with_a_table() {
    let project = Project::new();
    let exports = project.root().join("exports");
    let context = SessionContext::new();
    context
        .sql("SELECT * FROM (VALUES (1, 10.5), (2, 20.0)) AS t(id, amount)")
        .await
        .unwrap()
        .write_parquet(exports.to_str().unwrap(), Default::default(), None)
        .await
        .unwrap();
    assert!(
        context
            .read_parquet(exports.to_str().unwrap(), ParquetReadOptions::default())
            .await
            .is_ok()
    );
    project
        .write(
            "SELECT * FROM (VALUES (1, 'ann'), (2, 'bob')) AS t(id, name)",
            &spec("raw.customers", WriteMode::Overwrite, &[]),
            &commit(1, "customers", 1),
        )
        .await;

    let rows = project
        .rows(
            "SELECT c.name, e.amount FROM read_parquet('exports') AS e JOIN raw.customers AS c ON c.id = e.id",
        )
        .await;

    assert_eq!(rows, lines(&["ann,10.5", "bob,20.0"]));
}

#[tokio::test]
async fn a_csv_landing_file_loads_into_a_partition() {
    let project = Project::new();
    project.write_file("landing/2026-01-01/orders.csv", "id,amount\n1,9.5\n2,3.0\n");

    project
        .write(
            "SELECT * FROM read_csv('landing/2026-01-01/*.csv')",
            &spec(
                "raw.orders",
                WriteMode::ReplacePartition,
                &[("dt", "2026-01-01")],
            ),
            &commit(1, "load_raw", 1),
        )
        .await;

    assert_eq!(
        project.rows("SELECT id, amount, dt FROM raw.orders").await,
        lines(&["1,9.5,2026-01-01", "2,3.0,2026-01-01"])
    );
}
