//! Times as people write them in a request: a date, an RFC 3339 time, an interval.

use chrono::{NaiveDate, TimeZone};
use tidewater_core::{DataInterval, Timestamp};

use crate::control_error::{ControlError, ControlResult};

/// A date (local midnight in `timezone`) or an RFC 3339 time.
pub fn parse_time(text: &str, timezone: chrono_tz::Tz) -> ControlResult<Timestamp> {
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(time.to_utc());
    }
    if let Ok(naive) = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S") {
        return timezone
            .from_local_datetime(&naive)
            .earliest()
            .map(|time| time.to_utc())
            .ok_or_else(|| {
                ControlError::Invalid(format!("`{text}` does not exist in {timezone} (a DST gap)"))
            });
    }
    let date = parse_date(text)?;
    Ok(DataInterval::day(date, timezone).start)
}

/// `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> ControlResult<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        ControlError::Invalid(format!(
            "`{text}` is not a date (expected YYYY-MM-DD) or an RFC 3339 time"
        ))
    })
}

/// An interval from its two ends, each a date or a time.
pub fn parse_interval(
    start: &str,
    end: &str,
    timezone: chrono_tz::Tz,
) -> ControlResult<DataInterval> {
    let within = |what: &str, error: ControlError| match error {
        ControlError::Invalid(message) => ControlError::Invalid(format!("{what}: {message}")),
        other => other,
    };
    let from =
        parse_time(start, timezone).map_err(|error| within("in the interval's start", error))?;
    let to = parse_time(end, timezone).map_err(|error| within("in the interval's end", error))?;
    DataInterval::new(from, to).ok_or_else(|| {
        ControlError::Invalid(format!(
            "the interval `{start}/{end}` ends before it starts"
        ))
    })
}
