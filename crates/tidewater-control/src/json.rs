//! The JSON shapes of Tidewater's records, in one place: what `--json` prints and what the
//! HTTP API serves (and its OpenAPI document describes). Each shape is built from the
//! records by a pure constructor; times are RFC 3339, states are their `name()`.
//!
//! Changing a field here changes every front end's output at once: the CLI's JSON is
//! snapshotted in the binary's tests.

mod backfill_json;
mod run_json;

pub use backfill_json::{BackfillJson, BackfillRunsJson};
pub use run_json::RunJson;
