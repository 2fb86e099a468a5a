//! The one integration-test binary of tidewater-flow (STYLE.md: one per crate, to keep link
//! time down). Every test works on its own temporary project folder.

mod api;
mod append_modes;
mod describe;
mod format;
mod merge_and_overwrite;
mod python_reader;
mod query_errors;
mod replace_partition;
mod schema;
mod serving_views;
mod staged_commits;
mod support;
mod table_files;
