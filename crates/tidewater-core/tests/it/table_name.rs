//! The one table-name rule; `validate`, the runners and the CLI's table arguments all use it.

use tidewater_core::{InvalidTableName, TableName};

#[test]
fn a_table_name_is_a_schema_and_a_table() {
    let name: TableName = "raw.orders".parse().unwrap();
    assert_eq!(name.schema(), "raw");
    assert_eq!(name.table(), "orders");
    assert_eq!(name.to_string(), "raw.orders");
}

#[test]
fn names_that_are_not_two_lowercase_identifiers_are_refused() {
    for bad in [
        "orders",
        "a.b.c",
        "raw.",
        ".orders",
        "Raw.orders",
        "raw.1orders",
        "raw.or-ders",
        "raw.or ders",
        "raw.../x",
    ] {
        assert!(
            matches!(bad.parse::<TableName>(), Err(InvalidTableName { .. })),
            "{bad} was accepted"
        );
    }
}
