use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// An attempt's log file: one line per line of output, each stamped with the time and the
/// stream it came from (`out`, `err`, or `tidewater` for the engine's own notes).
#[derive(Debug, Clone)]
pub struct AttemptLog {
    file: Arc<Mutex<std::io::BufWriter<std::fs::File>>>,
}

impl AttemptLog {
    /// Creates (or empties) the log file, and its folder if that does not exist yet.
    pub fn create(path: &Path) -> std::io::Result<AttemptLog> {
        // Most attempts log into a folder that exists (the run's, made by its first attempt or
        // by the runner): try the file first, and make the folder only when it is missing.
        let file = match std::fs::File::create(path) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                match path.parent() {
                    Some(dir) => std::fs::create_dir_all(dir)?,
                    None => return Err(error),
                }
                std::fs::File::create(path)?
            }
            result => result?,
        };
        Ok(AttemptLog {
            file: Arc::new(Mutex::new(std::io::BufWriter::new(file))),
        })
    }

    /// `2026-01-01T00:00:00.000Z       out| text`.
    pub fn line(&self, stream: &str, text: &[u8]) {
        // The stamp is wall-clock time on purpose: it tells a reader when output arrived,
        // and plays no part in any decision.
        let stamp = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
        let Ok(mut file) = self.file.lock() else {
            return;
        };
        // A log that cannot be written must not fail the task: its outcome is what matters.
        let _ = write!(file, "{stamp} {stream:>9}| ");
        let _ = file.write_all(text);
        let _ = file.write_all(b"\n");
    }

    /// A note from Tidewater itself.
    pub fn note(&self, text: impl AsRef<str>) {
        for line in text.as_ref().lines() {
            self.line("tidewater", line.as_bytes());
        }
    }

    pub fn flush(&self) {
        if let Ok(mut file) = self.file.lock() {
            let _ = file.flush();
        }
    }
}
