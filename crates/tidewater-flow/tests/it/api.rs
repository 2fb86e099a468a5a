use tidewater_flow::{SchemaPolicy, Warehouse, WriteMode};

use crate::support::{Project, commit, spec, table};

fn assert_send<T: Send>(_: &T) {}

/// The engine runs writes on spawned tokio tasks, which needs every future to be `Send`.
#[test]
fn warehouse_futures_can_be_spawned() {
    fn check(warehouse: &Warehouse) {
        let target = spec("raw.orders", WriteMode::Append, &[]);
        let commit = commit(1, "t", 1);
        let name = table("raw.orders");
        assert_send(&warehouse.query("SELECT 1"));
        assert_send(&warehouse.write("SELECT 1", &target, &commit));
        assert_send(&warehouse.tables());
        assert_send(&warehouse.describe(&name));
        assert_send(&warehouse.missing_partitions(&name, "dt", &[]));
        assert_send(&warehouse.compact(&name));
        assert_send(&warehouse.vacuum(&name, std::time::Duration::ZERO, true));
    }
    // Compiling `check` is the test; it never needs to run.
    let _ = check as fn(&Warehouse);
}

#[tokio::test]
async fn a_write_runs_on_a_spawned_task() {
    let project = Project::new();
    let warehouse = project.warehouse.clone();
    let mut target = spec("raw.orders", WriteMode::Append, &[("dt", "2026-01-01")]);
    target.schema_policy = SchemaPolicy::Strict;

    let summary = tokio::spawn(async move {
        warehouse
            .write("SELECT 1 AS id", &target, &commit(1, "load", 1))
            .await
    })
    .await
    .expect("the task completes")
    .expect("the write succeeds");

    assert_eq!(summary.table, table("raw.orders"));
}

#[test]
fn a_warehouse_location_may_be_a_file_url() {
    let folder = tempfile::tempdir().unwrap();
    let url = format!("file://{}/elsewhere", folder.path().display());
    let warehouse = Warehouse::new(&url, folder.path()).unwrap();
    assert!(
        warehouse.location().ends_with("/elsewhere/"),
        "{}",
        warehouse.location()
    );
    assert!(folder.path().join("elsewhere").is_dir());
}
