use std::path::{Path, PathBuf};

use tidewater_core::{Attempt, RunId, TaskName};

/// Where an attempt's files live: `<state_dir>/logs/<run>/<task>.<attempt>.log` and the
/// `$TIDEWATER_OUTPUT` file `<task>.<attempt>.output.json` beside it.
///
/// One folder per run, not per task: a folder is the dearest thing an attempt would create
/// before its process starts (an inode and a directory block), and every task would pay it.
/// A task name holds only letters, digits, `_` and `-` (`tidewater-spec` rejects any other
/// name), never `.`, and an attempt is a number, so the first `.` ends the task name and no
/// two attempts of a run share a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptPaths {
    pub log: PathBuf,
    pub output: PathBuf,
}

impl AttemptPaths {
    pub fn new(state_dir: &Path, run: RunId, task: &TaskName, attempt: Attempt) -> AttemptPaths {
        let dir = run_dir(state_dir, run);
        AttemptPaths {
            log: dir.join(format!("{task}.{attempt}.log")),
            output: dir.join(format!("{task}.{attempt}.output.json")),
        }
    }

    /// Where the log was in runs recorded before one folder per run:
    /// `<state_dir>/logs/<run>/<task>/<attempt>.log`. Only for reading those runs' logs;
    /// nothing writes there any more.
    pub fn folder_per_task_log(
        state_dir: &Path,
        run: RunId,
        task: &TaskName,
        attempt: Attempt,
    ) -> PathBuf {
        run_dir(state_dir, run)
            .join(task.as_str())
            .join(format!("{attempt}.log"))
    }
}

fn run_dir(state_dir: &Path, run: RunId) -> PathBuf {
    state_dir.join("logs").join(run.to_string())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn attempts_of_a_run_share_its_folder_and_never_a_file() {
        let state_dir = Path::new("/state");
        let first = AttemptPaths::new(state_dir, RunId(7), &TaskName::new("load"), Attempt(1));
        let second = AttemptPaths::new(state_dir, RunId(7), &TaskName::new("load"), Attempt(2));
        let other = AttemptPaths::new(state_dir, RunId(7), &TaskName::new("load-1"), Attempt(1));
        assert_eq!(first.log, Path::new("/state/logs/7/load.1.log"));
        assert_eq!(first.output, Path::new("/state/logs/7/load.1.output.json"));
        assert_eq!(first.log.parent(), other.log.parent());
        let files: HashSet<&Path> = [&first, &second, &other]
            .into_iter()
            .flat_map(|paths| [paths.log.as_path(), paths.output.as_path()])
            .collect();
        assert_eq!(files.len(), 6, "two attempts share a file: {files:?}");
    }
}
