//! How Tidewater writes a moment in time, the same way in every command: in the
//! workflow's time zone, named by its abbreviation (`2026-03-08 03:30 EDT`), so that a time
//! reads like the dates (`ds`) that the same zone decides. A time that belongs to no workflow
//! (when a server started, a server log line) is written in UTC, named too: a bare time, or
//! one in the machine's zone that the reader cannot see, is the ambiguity this avoids.

use tidewater_core::Timestamp;

/// `2026-03-08 03:30 EDT`: minutes are as precise as a schedule gets.
pub fn minutes(time: Timestamp, timezone: chrono_tz::Tz) -> String {
    time.with_timezone(&timezone)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// `2026-03-08 03:30:05 EDT`, for retries and rate limits, which are seconds apart.
pub fn seconds(time: Timestamp, timezone: chrono_tz::Tz) -> String {
    time.with_timezone(&timezone)
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

/// `2026-03-08 07:30:05 UTC`, for a time that belongs to no workflow.
pub fn utc(time: Timestamp) -> String {
    time.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// RFC 3339 with the zone's offset, for JSON: exact, and still the workflow's local time.
pub fn rfc3339(time: Timestamp, timezone: chrono_tz::Tz) -> String {
    time.with_timezone(&timezone).to_rfc3339()
}
