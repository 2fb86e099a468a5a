//! [`LogChunk`]: a byte range of an attempt's log, read from an offset: what `logs --follow`
//! prints as the log grows, and what the HTTP API serves by byte range.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::control_error::{ControlError, ControlResult};

/// Where a chunk may end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogEnd {
    /// After the last whole line: the writer may be in the middle of the next one.
    WholeLines,
    /// At the end of the file: the attempt has ended, nothing more is written.
    Everything,
}

/// Bytes of a log from an offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChunk {
    pub bytes: Vec<u8>,
    /// Where the next chunk starts: the offset asked for plus the bytes read.
    pub next_offset: u64,
}

/// What the log at `path` holds past `from`, up to `end`. A log not created yet (an attempt
/// creates it with its first line) holds nothing.
pub fn read_log_chunk(path: &Path, from: u64, end: LogEnd) -> ControlResult<LogChunk> {
    let unreadable = |error: std::io::Error| {
        ControlError::environment(format!("cannot read the log {}", path.display()), error)
    };
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(LogChunk {
                bytes: Vec::new(),
                next_offset: from,
            });
        }
        Err(error) => return Err(unreadable(error)),
    };
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(from))
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(unreadable)?;
    let length = match end {
        LogEnd::Everything => bytes.len(),
        LogEnd::WholeLines => bytes
            .iter()
            .rposition(|&byte| byte == b'\n')
            .map_or(0, |last| last + 1),
    };
    bytes.truncate(length);
    Ok(LogChunk {
        next_offset: from + length as u64,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_of_whole_lines_stops_after_the_last_newline() {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let log = folder.path().join("a.1.log");
        std::fs::write(&log, "one\ntwo\nthr").expect("write");
        let chunk = read_log_chunk(&log, 0, LogEnd::WholeLines).expect("read");
        assert_eq!(chunk.bytes, b"one\ntwo\n");
        assert_eq!(chunk.next_offset, 8);
        let rest = read_log_chunk(&log, chunk.next_offset, LogEnd::Everything).expect("read");
        assert_eq!(rest.bytes, b"thr");
        assert_eq!(rest.next_offset, 11);
        let missing = read_log_chunk(&folder.path().join("none.log"), 4, LogEnd::WholeLines)
            .expect("a missing log is empty");
        assert_eq!(missing.bytes, b"");
        assert_eq!(missing.next_offset, 4);
    }
}
