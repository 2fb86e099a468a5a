//! [`BackfillRequest`]: what a front end asks a backfill for.

use chrono::NaiveDate;
use tidewater_core::BackfillOrder;

/// A backfill as a front end asks for it: the CLI's `tidewater backfill W --from D --to D`,
/// the HTTP API's `{workflow, from, to, max_active_runs, reverse, only_missing, dry_run}`.
/// The dates are parsed by the caller (the CLI with [`crate::time_arg::parse_date`], keeping
/// which flag was wrong in the message; the API by its JSON decoder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillRequest {
    /// The workflow's name, as in the project.
    pub workflow: String,
    /// First local date (in the workflow's time zone).
    pub from: NaiveDate,
    /// Last local date, included.
    pub to: NaiveDate,
    /// Runs of this backfill active at once, at least 1 (default: the workflow's
    /// `max_active_runs`).
    pub max_active_runs: Option<u32>,
    /// Which intervals run first (`--reverse`, the API's `reverse`: newest first).
    pub order: BackfillOrder,
    /// Skip intervals that already have a successful run, or whose partitions exist.
    pub only_missing: bool,
    /// Plan only: record nothing.
    pub dry_run: bool,
}

impl BackfillRequest {
    /// The order a `reverse` flag asks for.
    pub fn order_of(reverse: bool) -> BackfillOrder {
        if reverse {
            BackfillOrder::NewestFirst
        } else {
            BackfillOrder::OldestFirst
        }
    }
}
