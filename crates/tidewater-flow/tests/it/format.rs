use tidewater_flow::{OutputFormat, format_batches};

use crate::support::Project;

const SQL: &str = "SELECT * FROM (VALUES (1, 'apple'), (2, NULL)) AS t(id, item) ORDER BY id";

#[tokio::test]
async fn results_format_as_a_table_csv_and_json() {
    let project = Project::new();
    let batches = project.warehouse.query(SQL).await.unwrap();

    assert_eq!(
        format_batches(&batches, OutputFormat::Table).unwrap(),
        "+----+-------+\n\
         | id | item  |\n\
         +----+-------+\n\
         | 1  | apple |\n\
         | 2  |       |\n\
         +----+-------+"
    );
    assert_eq!(
        format_batches(&batches, OutputFormat::Csv).unwrap(),
        "id,item\n1,apple\n2,\n"
    );
    assert_eq!(
        format_batches(&batches, OutputFormat::Json).unwrap(),
        "[{\"id\":1,\"item\":\"apple\"},{\"id\":2}]"
    );
}

#[tokio::test]
async fn an_empty_result_formats_as_an_empty_json_array() {
    let project = Project::new();
    let batches = project
        .warehouse
        .query("SELECT 1 AS id WHERE false")
        .await
        .unwrap();
    assert_eq!(format_batches(&batches, OutputFormat::Json).unwrap(), "[]");
}
