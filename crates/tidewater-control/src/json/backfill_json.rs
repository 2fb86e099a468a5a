//! JSON shapes of backfills.

use serde::Serialize;
use tidewater_store::{BackfillRecord, RunCounts};

/// A backfill and its progress, as the HTTP API serves it (`GET /api/v1/backfills/{id}`).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackfillJson {
    pub id: i64,
    pub workflow: String,
    /// First local date, `YYYY-MM-DD`.
    pub from: String,
    /// Last local date, included.
    pub to: String,
    pub max_active_runs: u32,
    /// Newest interval first.
    pub reverse: bool,
    pub created_at: String,
    /// When every run had succeeded; `null` while unfinished.
    pub finished_at: Option<String>,
    /// Its runs counted by state.
    pub runs: BackfillRunsJson,
}

/// A backfill's runs counted by state.
#[derive(Debug, Clone, Copy, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackfillRunsJson {
    pub total: u64,
    pub queued: u64,
    pub running: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub cancelled: u64,
}

impl BackfillJson {
    pub fn new(record: &BackfillRecord, counts: &RunCounts) -> BackfillJson {
        BackfillJson {
            id: record.id.0,
            workflow: record.workflow.to_string(),
            from: record.from.to_string(),
            to: record.to.to_string(),
            max_active_runs: record.max_active_runs,
            reverse: record.reverse,
            created_at: record.created_at.to_rfc3339(),
            finished_at: record.finished_at.map(|time| time.to_rfc3339()),
            runs: BackfillRunsJson {
                total: counts.total(),
                queued: counts.queued,
                running: counts.running,
                succeeded: counts.succeeded,
                failed: counts.failed,
                cancelled: counts.cancelled,
            },
        }
    }
}
