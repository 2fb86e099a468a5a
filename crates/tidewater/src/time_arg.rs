//! Times given on the command line.

use anyhow::{Context, bail};
use chrono::{NaiveDate, TimeZone};
use tidewater_core::{DataInterval, Timestamp};

/// A date (local midnight in `timezone`) or an RFC 3339 time.
pub(crate) fn parse_time(text: &str, timezone: chrono_tz::Tz) -> anyhow::Result<Timestamp> {
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(time.to_utc());
    }
    if let Ok(naive) = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S") {
        return timezone
            .from_local_datetime(&naive)
            .earliest()
            .map(|time| time.to_utc())
            .with_context(|| format!("`{text}` does not exist in {timezone} (a DST gap)"));
    }
    let date = parse_date(text)?;
    Ok(DataInterval::day(date, timezone).start)
}

pub(crate) fn parse_date(text: &str) -> anyhow::Result<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").with_context(|| {
        format!("`{text}` is not a date (expected YYYY-MM-DD) or an RFC 3339 time")
    })
}

/// `START/END`.
pub(crate) fn parse_interval(text: &str, timezone: chrono_tz::Tz) -> anyhow::Result<DataInterval> {
    let Some((start, end)) = text.split_once('/') else {
        bail!("`{text}` is not an interval: expected START/END, e.g. 2026-01-01/2026-01-02");
    };
    let start = parse_time(start, timezone).context("in the interval's start")?;
    let end = parse_time(end, timezone).context("in the interval's end")?;
    DataInterval::new(start, end)
        .with_context(|| format!("the interval `{text}` ends before it starts"))
}
