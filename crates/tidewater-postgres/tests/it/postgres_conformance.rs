//! `PostgresStore` against the conformance suite every backend must pass, each behaviour in
//! a schema of its own.

tidewater_store::run_store_conformance_tests!(crate::fixtures::temp_postgres_store);

mod workers {
    tidewater_store::worker_store_conformance_tests!(crate::fixtures::temp_postgres_store);
}

mod streams {
    tidewater_store::stream_store_conformance_tests!(crate::fixtures::temp_postgres_store);
}
