use serde::{Deserialize, Serialize};

use crate::write_spec::WriteMode;

/// Who is writing: recorded in every commit this crate makes, so `describe` can say which
/// run and task last wrote each partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CommitInfo {
    pub workflow: String,
    pub run_id: i64,
    pub task: String,
    pub attempt: u32,
}

/// The key under which [`CommitInfo`] is stored in a Delta `commitInfo` action.
pub(crate) const COMMIT_METADATA_KEY: &str = "tidewater";

impl CommitInfo {
    /// The Delta transaction identifier (`txn.appId`) of an `append_atomic` write:
    /// `tidewater/<workflow>/<run_id>/<task>`.
    ///
    /// The attempt is deliberately not part of it: a retry of the same task instance must find
    /// the earlier attempt's commit and add nothing. The run is part of it, so another run (a
    /// later interval, or a backfill of an earlier one) always appends. The txn version is the
    /// attempt that committed, which makes the log say which attempt's rows are in the table.
    /// The value stored under [`COMMIT_METADATA_KEY`]: the fields of [`CommitInfo`] (read back
    /// by its `Deserialize`) plus the write mode, for people reading the log.
    pub(crate) fn commit_metadata(&self, mode: WriteMode) -> serde_json::Value {
        serde_json::json!({
            "workflow": self.workflow,
            "run_id": self.run_id,
            "task": self.task,
            "attempt": self.attempt,
            "mode": mode.as_str(),
        })
    }

    pub fn transaction_app_id(&self) -> String {
        format!("tidewater/{}/{}/{}", self.workflow, self.run_id, self.task)
    }
}
