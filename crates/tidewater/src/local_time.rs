//! How the command line writes a moment in time: in the workflow's time zone, named by its
//! abbreviation (`2026-03-08 03:30 EDT`), so that a time reads the same in every command and
//! matches the dates (`ds`) that the same zone decides.

use tidewater_core::Timestamp;

/// `2026-03-08 03:30 EDT`: minutes are as precise as a schedule gets.
pub fn minutes(time: Timestamp, timezone: chrono_tz::Tz) -> String {
    time.with_timezone(&timezone)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// RFC 3339 with the zone's offset, for JSON: exact, and still the workflow's local time.
pub fn rfc3339(time: Timestamp, timezone: chrono_tz::Tz) -> String {
    time.with_timezone(&timezone).to_rfc3339()
}
