//! `SqliteStore` against the conformance suite every backend must pass.

tidewater_store::run_store_conformance_tests!(crate::fixtures::temp_sqlite_store);
tidewater_store::stream_store_conformance_tests!(crate::fixtures::temp_sqlite_store);

mod workers {
    tidewater_store::worker_store_conformance_tests!(crate::fixtures::temp_sqlite_store);
}
