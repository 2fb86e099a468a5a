//! Reading an attempt's log file back: where it is, and the line that best says why the
//! attempt failed.

use std::path::{Path, PathBuf};

use tidewater_core::{Attempt, RunId, TaskName};
use tidewater_engine::AttemptPaths;

/// The longest error line a summary shows; the log has the rest.
const MAX_ERROR_LINE: usize = 200;

/// Where an attempt's log is. Runs recorded before one log folder per run keep their logs
/// where they were (`logs/<run>/<task>/<attempt>.log`).
pub fn attempt_log_path(
    state_dir: &Path,
    run: RunId,
    task: &TaskName,
    attempt: Attempt,
) -> PathBuf {
    let log = AttemptPaths::new(state_dir, run, task, attempt).log;
    let old = AttemptPaths::folder_per_task_log(state_dir, run, task, attempt);
    if !log.exists() && old.exists() {
        old
    } else {
        log
    }
}

/// The last non-empty line the attempt wrote to stderr (`… err| text`), which is where a
/// failing command says why; `None` if it wrote none or the log cannot be read.
pub fn last_error_line(log: &Path) -> Option<String> {
    let text = std::fs::read(log).ok()?;
    let text = String::from_utf8_lossy(&text);
    text.lines().rev().find_map(|line| {
        // `2026-01-01T00:00:00.000Z       err| text`: the stream, right-aligned, then `| `.
        let (prefix, message) = line.split_once("| ")?;
        let message = message.trim();
        (prefix.ends_with(" err") && !message.is_empty()).then(|| shorten(message))
    })
}

fn shorten(line: &str) -> String {
    if line.chars().count() <= MAX_ERROR_LINE {
        return line.to_owned();
    }
    let cut: String = line.chars().take(MAX_ERROR_LINE).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_error_line_skips_output_notes_and_blank_lines() {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let log = folder.path().join("a.1.log");
        std::fs::write(
            &log,
            "2026-01-01T00:00:00.000Z tidewater| attempt 1: sh -c \"x\"\n\
             2026-01-01T00:00:00.001Z       err| first problem\n\
             2026-01-01T00:00:00.002Z       err| ERROR: relation \"orders\" does not exist\n\
             2026-01-01T00:00:00.003Z       err| \n\
             2026-01-01T00:00:00.004Z       out| err| not an error\n\
             2026-01-01T00:00:00.005Z tidewater| failed after 0.1s: exited with status 1\n",
        )
        .expect("write");
        assert_eq!(
            last_error_line(&log).as_deref(),
            Some("ERROR: relation \"orders\" does not exist")
        );
        assert_eq!(last_error_line(&folder.path().join("missing.log")), None);
    }
}
