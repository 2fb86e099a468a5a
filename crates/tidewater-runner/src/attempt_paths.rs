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

impl AttemptPaths {
    /// The folder of every run's logs: `<state_dir>/logs`.
    pub fn logs_folder(state_dir: &Path) -> PathBuf {
        state_dir.join("logs")
    }

    /// The runs that have a log folder, by id. A run's folder is made only after the store
    /// committed the run, so these are runs the store knew: the one record of them kept
    /// outside the store. Other names in the folder are not runs' and are skipped.
    pub fn logged_runs(state_dir: &Path) -> std::io::Result<Vec<RunId>> {
        let entries = match std::fs::read_dir(Self::logs_folder(state_dir)) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(error),
        };
        let mut runs = Vec::new();
        for entry in entries {
            let name = entry?.file_name();
            // Only the names this module writes: a positive decimal id without a sign or
            // leading zero.
            if let Some(id) = name
                .to_str()
                .filter(|name| !name.starts_with(['0', '+']))
                .and_then(|name| name.parse::<i64>().ok())
                .filter(|id| *id > 0)
            {
                runs.push(RunId(id));
            }
        }
        runs.sort_unstable();
        Ok(runs)
    }
}

fn run_dir(state_dir: &Path, run: RunId) -> PathBuf {
    AttemptPaths::logs_folder(state_dir).join(run.to_string())
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

    #[test]
    fn logged_runs_are_the_run_folders_by_id() {
        let state_dir = tempfile::tempdir().expect("temporary folder");
        assert_eq!(
            AttemptPaths::logged_runs(state_dir.path()).expect("no folder"),
            []
        );
        for name in ["10", "9", "007", "+3", "notes", "-2"] {
            std::fs::create_dir_all(AttemptPaths::logs_folder(state_dir.path()).join(name))
                .expect("made");
        }
        assert_eq!(
            AttemptPaths::logged_runs(state_dir.path()).expect("read"),
            [RunId(9), RunId(10)]
        );
    }
}
