//! The integration tests of tidewater-sqlite, in one binary to keep link time down.

mod fixtures;
mod sqlite_conformance;
mod sqlite_store;
mod store_files;
