//! [`RunEntry`]: a run's record with the answer to whether its owner died, which every read
//! model that shows a run needs (a run whose process died is not running, whatever the
//! record says).

use tidewater_engine::Owners;
use tidewater_store::RunRecord;

use crate::json::RunJson;

/// A run as a reader sees it: its record, and whether it is orphaned (recorded `running`,
/// but the process executing it died), asked once when it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEntry {
    pub record: RunRecord,
    pub is_orphaned: bool,
}

impl RunEntry {
    /// Asks `owners` whether the run's owner is alive now.
    pub fn new(record: RunRecord, owners: &dyn Owners) -> RunEntry {
        let is_orphaned = owners.is_orphaned(&record);
        RunEntry {
            record,
            is_orphaned,
        }
    }

    /// The state a person should read: `orphaned` for an orphaned run, else the record's.
    pub fn shown_state(&self) -> &'static str {
        if self.is_orphaned {
            "orphaned"
        } else {
            self.record.state.name()
        }
    }

    /// What happened to an orphaned run and how to resume it; `None` for any other run.
    pub fn orphaned_note(&self) -> Option<String> {
        if !self.is_orphaned {
            return None;
        }
        let record = &self.record;
        let what = match record.owner {
            Some(owner) => format!("the process executing it (pid {}) died", owner.pid),
            None => "no process executes it".to_owned(),
        };
        Some(format!(
            "run {} is orphaned: {what}; `tidewater retry {}` resumes it",
            record.id, record.id
        ))
    }

    /// The run as `--json` shows it.
    pub fn json(&self) -> RunJson {
        RunJson::new(&self.record, self.is_orphaned)
    }
}
