use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{Datelike, Timelike};
use tidewater_core::FailureClass;
use tidewater_spec::Redactor;

use crate::{AttemptReporter, StartRequest};

/// Lines wait in memory until this many bytes have gathered, or until [`AttemptLog::flush`].
const WRITE_AT: usize = 8 * 1024;

/// An attempt's log file: one line per line of output, each stamped with the time and the
/// stream it came from (`out`, `err`, or `tidewater` for the engine's own notes). Every
/// line goes through the project's [`Redactor`] first (see [`AttemptLog::redacting`]): a
/// task's output, the rendered command and the runners' notes alike.
#[derive(Debug, Clone)]
pub struct AttemptLog {
    file: Arc<Mutex<LogFile>>,
    redactor: Redactor,
}

/// The file and the lines not yet written to it. The buffer grows with what is logged
/// (most attempts log a few short lines), unlike a `BufWriter`'s, which takes 8 KiB from the
/// allocator up front for every attempt.
#[derive(Debug)]
struct LogFile {
    file: File,
    pending: Vec<u8>,
    /// The first write that failed (a full disk, say): the log is incomplete from there.
    first_error: Option<String>,
}

impl LogFile {
    fn write_pending(&mut self) {
        // A log that cannot be written must not fail the task: its outcome is what matters.
        // But the outcome says so (see `AttemptLog::write_error`).
        if let Err(error) = self.file.write_all(&self.pending)
            && self.first_error.is_none()
        {
            self.first_error = Some(error.to_string());
        }
        self.pending.clear();
    }
}

impl Drop for LogFile {
    fn drop(&mut self) {
        self.write_pending();
    }
}

impl AttemptLog {
    /// Creates (or empties) the log file, and its folder if that does not exist yet.
    pub fn create(path: &Path) -> std::io::Result<AttemptLog> {
        // Most attempts log into a folder that exists (the run's, made by its first attempt or
        // by the runner): try the file first, and make the folder only when it is missing.
        let file = match File::create(path) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                match path.parent() {
                    Some(dir) => std::fs::create_dir_all(dir)?,
                    None => return Err(error),
                }
                File::create(path)?
            }
            result => result?,
        };
        Ok(AttemptLog::from_file(file))
    }

    /// Creates the log of the attempt `reporter` reports, as [`AttemptLog::create`]; when
    /// that fails, reports the attempt as not started (an attempt without a log would lose
    /// its output; the machine is at fault: an environment failure) and returns `None`.
    pub fn create_or_report(
        path: &Path,
        reporter: AttemptReporter,
    ) -> Option<(AttemptLog, AttemptReporter)> {
        match AttemptLog::create(path) {
            Ok(log) => Some((log, reporter)),
            Err(error) => {
                reporter.could_not_start(
                    FailureClass::Environment,
                    format!("cannot create the log file {}: {error}", path.display()),
                );
                None
            }
        }
    }

    /// The log of the attempt `request` starts, redacting the project's secrets, as
    /// [`AttemptLog::create_or_report`].
    pub fn for_request(
        request: &StartRequest<'_>,
        reporter: AttemptReporter,
    ) -> Option<(AttemptLog, AttemptReporter)> {
        let (log, reporter) = AttemptLog::create_or_report(&request.paths.log, reporter)?;
        Some((
            log.redacting(request.template.connections.redactor()),
            reporter,
        ))
    }

    /// A log written to `file`, which the caller created (or emptied).
    pub fn from_file(file: File) -> AttemptLog {
        AttemptLog {
            file: Arc::new(Mutex::new(LogFile {
                file,
                pending: Vec::new(),
                first_error: None,
            })),
            redactor: Redactor::default(),
        }
    }

    /// This log, with every secret of `redactor` replaced by `***` in the lines written
    /// from now on.
    pub fn redacting(mut self, redactor: &Redactor) -> AttemptLog {
        self.redactor = redactor.clone();
        self
    }

    /// What this log redacts, for a runner that redacts a stream before cutting it in lines.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// `2026-01-01T00:00:00.000Z       out| text`.
    pub fn line(&self, stream: &str, text: &[u8]) {
        let text = self.redactor.redact_bytes(text);
        // The stamp is wall-clock time on purpose: it tells a reader when output arrived,
        // and plays no part in any decision.
        let now = chrono::Utc::now();
        let Ok(mut log) = self.file.lock() else {
            return;
        };
        let _ = write!(
            log.pending,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z {stream:>9}| ",
            now.year(),
            now.month(),
            now.day(),
            now.hour(),
            now.minute(),
            now.second(),
            // A leap second's nanoseconds go past 10^9.
            (now.nanosecond() / 1_000_000).min(999),
        );
        log.pending.extend_from_slice(&text);
        log.pending.push(b'\n');
        if log.pending.len() >= WRITE_AT {
            log.write_pending();
        }
    }

    /// A note from Tidewater itself.
    pub fn note(&self, text: impl AsRef<str>) {
        for line in text.as_ref().lines() {
            self.line("tidewater", line.as_bytes());
        }
    }

    /// The first error met writing the log so far, if any: lines from there on may be
    /// missing. Only writes already made count; lines still waiting in memory are not tried.
    pub fn write_error(&self) -> Option<String> {
        self.file.lock().ok()?.first_error.clone()
    }

    /// Writes out the lines logged so far.
    pub fn flush(&self) {
        if let Ok(mut log) = self.file.lock() {
            log.write_pending();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .expect("the log is readable")
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn lines_carry_a_millisecond_utc_stamp_and_their_stream() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let path = folder.path().join("a.log");
        let log = AttemptLog::create(&path).expect("log created");
        log.line("out", b"hello");
        log.note("two\nlines");
        log.flush();
        let lines = lines(&path);
        assert_eq!(lines.len(), 3, "{lines:?}");
        for (line, tail) in
            lines
                .iter()
                .zip(["       out| hello", " tidewater| two", " tidewater| lines"])
        {
            let (stamp, rest) = line.split_at(24);
            chrono::DateTime::parse_from_rfc3339(stamp)
                .unwrap_or_else(|error| panic!("{stamp:?} is not RFC 3339: {error}"));
            assert!(
                stamp.ends_with('Z') && stamp.as_bytes()[19] == b'.',
                "{stamp}"
            );
            assert_eq!(rest, tail);
        }
    }

    #[test]
    fn secrets_are_replaced_in_every_line() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let path = folder.path().join("a.log");
        let log = AttemptLog::create(&path)
            .expect("log created")
            .redacting(&Redactor::new(["hunter2".to_owned()]));
        log.line("out", b"password is hunter2");
        log.note("curl https://bot:hunter2@example");
        log.flush();
        let text = std::fs::read_to_string(&path).expect("readable");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("password is ***"), "{text}");
        assert!(text.contains("https://bot:***@example"), "{text}");
    }

    #[test]
    fn what_is_logged_reaches_the_file_when_the_last_handle_goes() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let path = folder.path().join("a.log");
        let log = AttemptLog::create(&path).expect("log created");
        let copy = log.clone();
        log.line("err", b"kept");
        drop(log);
        assert!(lines(&path).is_empty(), "written before flush or drop");
        drop(copy);
        let lines = lines(&path);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].ends_with("       err| kept"), "{lines:?}");
    }

    #[test]
    fn a_long_output_is_written_as_it_comes_not_held_in_memory() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let path = folder.path().join("a.log");
        let log = AttemptLog::create(&path).expect("log created");
        let text = vec![b'x'; 1000];
        for _ in 0..20 {
            log.line("out", &text);
        }
        let written = std::fs::metadata(&path).expect("the log exists").len();
        assert!(
            written >= WRITE_AT as u64,
            "only {written} bytes written before flush"
        );
        log.flush();
        assert_eq!(lines(&path).len(), 20);
    }
}
