//! JSON shapes of runs.

use serde::Serialize;
use tidewater_store::RunRecord;

/// A run as `--json` shows it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunJson {
    pub id: i64,
    pub workflow: String,
    pub state: &'static str,
    /// Recorded `running`, but the process executing it died: `tidewater retry` resumes it.
    pub orphaned: bool,
    pub trigger: &'static str,
    pub data_interval_start: String,
    pub data_interval_end: String,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub workflow_hash: String,
}

impl RunJson {
    /// `is_orphaned`: whether the run's owner died (the caller asks its liveness).
    pub fn new(record: &RunRecord, is_orphaned: bool) -> RunJson {
        RunJson {
            id: record.id.0,
            workflow: record.workflow.to_string(),
            state: record.state.name(),
            orphaned: is_orphaned,
            trigger: record.trigger.as_str(),
            data_interval_start: record.interval.start.to_rfc3339(),
            data_interval_end: record.interval.end.to_rfc3339(),
            created_at: record.created_at.to_rfc3339(),
            started_at: record.state.started_at().map(|time| time.to_rfc3339()),
            finished_at: record.state.finished_at().map(|time| time.to_rfc3339()),
            workflow_hash: record.workflow_hash.clone(),
        }
    }
}
