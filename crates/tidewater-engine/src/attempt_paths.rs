use std::path::{Path, PathBuf};

use tidewater_core::{Attempt, RunId, TaskName};

/// Where an attempt's files live: `<state_dir>/logs/<run>/<task>/<attempt>.log` and the
/// `$TIDEWATER_OUTPUT` file beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptPaths {
    pub log: PathBuf,
    pub output: PathBuf,
}

impl AttemptPaths {
    pub fn new(state_dir: &Path, run: RunId, task: &TaskName, attempt: Attempt) -> AttemptPaths {
        let dir = state_dir
            .join("logs")
            .join(run.to_string())
            .join(task.as_str());
        AttemptPaths {
            log: dir.join(format!("{attempt}.log")),
            output: dir.join(format!("{attempt}.output.json")),
        }
    }
}
