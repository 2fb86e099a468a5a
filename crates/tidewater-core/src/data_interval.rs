use std::fmt;

use chrono::{NaiveDate, TimeZone};
use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// `[start, end)`: the data a run processes. The logical date is `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DataInterval {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl DataInterval {
    pub fn new(start: Timestamp, end: Timestamp) -> Option<DataInterval> {
        (start < end).then_some(DataInterval { start, end })
    }

    /// The whole local day `date` in `timezone` (23 or 25 hours across DST changes).
    pub fn day(date: NaiveDate, timezone: chrono_tz::Tz) -> DataInterval {
        let start = local_midnight(date, timezone);
        let end = local_midnight(date.succ_opt().unwrap_or(date), timezone);
        DataInterval { start, end }
    }

    /// `ds`: the start's date in the workflow's time zone.
    pub fn ds(&self, timezone: chrono_tz::Tz) -> NaiveDate {
        self.start.with_timezone(&timezone).date_naive()
    }
}

/// The first instant of a local date. Midnight itself can be skipped by a DST change (e.g.
/// America/Santiago): then the day starts at the first instant that exists.
pub(crate) fn local_midnight(date: NaiveDate, timezone: chrono_tz::Tz) -> Timestamp {
    let naive = date.and_time(chrono::NaiveTime::MIN);
    match timezone.from_local_datetime(&naive) {
        chrono::LocalResult::Single(time) => time.to_utc(),
        chrono::LocalResult::Ambiguous(earliest, _) => earliest.to_utc(),
        chrono::LocalResult::None => {
            // Walk forward minute by minute: gaps are at most a few hours.
            (1..=24 * 60)
                .find_map(|minutes| {
                    timezone
                        .from_local_datetime(&(naive + chrono::Duration::minutes(minutes)))
                        .earliest()
                })
                .map(|time| time.to_utc())
                .unwrap_or_else(|| naive.and_utc())
        }
    }
}

impl fmt::Display for DataInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.start.to_rfc3339(), self.end.to_rfc3339())
    }
}
