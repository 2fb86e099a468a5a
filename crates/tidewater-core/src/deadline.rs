use std::fmt;
use std::time::Duration;

use crate::{DataInterval, Schedule, Timestamp};

/// When a run should have finished its steps: `deadline:` of a workflow. A run that is still
/// working at its deadline runs the workflow's `on_deadline_miss` handler once.
///
/// The deadline is measured from the end of the run's data interval (when a scheduled run
/// becomes due), never from when the run started, so a run that starts late misses it too.
#[derive(Debug, Clone)]
pub struct Deadline {
    rule: Rule,
}

#[derive(Debug, Clone)]
enum Rule {
    /// `deadline: 3h`: this long after the interval's end.
    AfterIntervalEnd(Duration),
    /// `deadline: "06:00"`: the first time this local time of day comes, at or after the
    /// interval's end, in the workflow's time zone.
    TimeOfDay {
        hour: u32,
        minute: u32,
        /// `minute hour * * *`: finding the time of day is finding a fire time, so that DST
        /// changes are read exactly as schedules read them (see [`Schedule`]). Boxed: a
        /// parsed cron is large, and most deadlines are durations.
        daily: Box<Schedule>,
    },
}

impl Deadline {
    /// A deadline `delay` after the end of the data interval.
    pub fn after_interval_end(delay: Duration) -> Deadline {
        Deadline {
            rule: Rule::AfterIntervalEnd(delay),
        }
    }

    /// A deadline at the first `hour:minute` local time at or after the end of the data
    /// interval. `None` unless `hour < 24` and `minute < 60`.
    ///
    /// Across DST changes it follows the schedule's rule: a local time that does not exist
    /// that day (spring forward) is the first valid minute after the gap; a local time that
    /// occurs twice (fall back) is its first occurrence.
    pub fn time_of_day(hour: u32, minute: u32) -> Option<Deadline> {
        if hour >= 24 || minute >= 60 {
            return None;
        }
        let daily = Schedule::parse(&format!("{minute} {hour} * * *")).ok()?;
        Some(Deadline {
            rule: Rule::TimeOfDay {
                hour,
                minute,
                daily: Box::new(daily),
            },
        })
    }

    /// The deadline of a run for `interval`, or `None` when it lies beyond the representable
    /// time range (then the run has no deadline).
    pub fn at(&self, interval: DataInterval, timezone: chrono_tz::Tz) -> Option<Timestamp> {
        match &self.rule {
            Rule::AfterIntervalEnd(delay) => {
                let delay = chrono::Duration::from_std(*delay).ok()?;
                interval.end.checked_add_signed(delay)
            }
            Rule::TimeOfDay { daily, .. } => daily.first_fire_at_or_after(interval.end, timezone),
        }
    }
}

impl PartialEq for Deadline {
    fn eq(&self, other: &Deadline) -> bool {
        match (&self.rule, &other.rule) {
            (Rule::AfterIntervalEnd(left), Rule::AfterIntervalEnd(right)) => left == right,
            (
                Rule::TimeOfDay { hour, minute, .. },
                Rule::TimeOfDay {
                    hour: other_hour,
                    minute: other_minute,
                    ..
                },
            ) => (hour, minute) == (other_hour, other_minute),
            _ => false,
        }
    }
}

impl Eq for Deadline {}

/// As a workflow file writes it: `3h after the interval's end` or `06:00`.
impl fmt::Display for Deadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.rule {
            Rule::AfterIntervalEnd(delay) => {
                let seconds = delay.as_secs();
                if seconds > 0 && seconds.is_multiple_of(3600) {
                    write!(f, "{}h", seconds / 3600)?;
                } else if seconds > 0 && seconds.is_multiple_of(60) {
                    write!(f, "{}m", seconds / 60)?;
                } else {
                    write!(f, "{seconds}s")?;
                }
                f.write_str(" after the interval's end")
            }
            Rule::TimeOfDay { hour, minute, .. } => write!(f, "{hour:02}:{minute:02}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> Timestamp {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .expect("valid time")
    }

    fn day(y: i32, m: u32, d: u32, timezone: chrono_tz::Tz) -> DataInterval {
        DataInterval::day(
            chrono::NaiveDate::from_ymd_opt(y, m, d).expect("valid date"),
            timezone,
        )
    }

    #[test]
    fn a_duration_counts_from_the_end_of_the_interval() {
        let deadline = Deadline::after_interval_end(Duration::from_secs(3 * 3600));
        let interval = day(2026, 1, 1, chrono_tz::UTC);
        assert_eq!(
            deadline.at(interval, chrono_tz::UTC),
            Some(utc(2026, 1, 2, 3, 0))
        );
    }

    #[test]
    fn a_time_of_day_is_the_first_one_at_or_after_the_end() {
        let deadline = Deadline::time_of_day(6, 0).expect("valid");
        // Seoul is UTC+9: the day 2026-01-01 ends at 15:00 UTC, 06:00 local is 21:00 UTC.
        let seoul = chrono_tz::Asia::Seoul;
        assert_eq!(
            deadline.at(day(2026, 1, 1, seoul), seoul),
            Some(utc(2026, 1, 1, 21, 0))
        );
        // An interval that ends exactly at 06:00 local has its deadline at its end.
        let at_six = DataInterval::new(utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 21, 0))
            .expect("valid interval");
        assert_eq!(deadline.at(at_six, seoul), Some(utc(2026, 1, 1, 21, 0)));
        // One that ends a minute later waits for the next day's 06:00.
        let after_six = DataInterval::new(utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 21, 1))
            .expect("valid interval");
        assert_eq!(deadline.at(after_six, seoul), Some(utc(2026, 1, 2, 21, 0)));
    }

    #[test]
    fn on_a_spring_forward_day_six_oclock_comes_five_hours_after_midnight() {
        let new_york = chrono_tz::America::New_York;
        let deadline = Deadline::time_of_day(6, 0).expect("valid");
        // 2026-03-07 ends at 2026-03-08 00:00 EST (05:00 UTC); 06:00 EDT is 10:00 UTC.
        assert_eq!(
            deadline.at(day(2026, 3, 7, new_york), new_york),
            Some(utc(2026, 3, 8, 10, 0))
        );
    }

    #[test]
    fn a_time_in_the_dst_gap_is_the_first_minute_after_it_and_a_repeated_time_the_first() {
        let new_york = chrono_tz::America::New_York;
        // 02:30 does not exist on 2026-03-08: 03:00 EDT (07:00 UTC), as a schedule fires.
        let in_gap = Deadline::time_of_day(2, 30).expect("valid");
        assert_eq!(
            in_gap.at(day(2026, 3, 7, new_york), new_york),
            Some(utc(2026, 3, 8, 7, 0))
        );
        // 01:30 happens twice on 2026-11-01: the first one, 01:30 EDT (05:30 UTC).
        let repeated = Deadline::time_of_day(1, 30).expect("valid");
        assert_eq!(
            repeated.at(day(2026, 10, 31, new_york), new_york),
            Some(utc(2026, 11, 1, 5, 30))
        );
    }

    #[test]
    fn it_displays_as_a_workflow_file_writes_it() {
        let after = Deadline::after_interval_end(Duration::from_secs(3 * 3600));
        assert_eq!(after.to_string(), "3h after the interval's end");
        let at = Deadline::time_of_day(6, 5).expect("valid");
        assert_eq!(at.to_string(), "06:05");
    }

    #[test]
    fn out_of_range_times_are_refused() {
        assert!(Deadline::time_of_day(24, 0).is_none());
        assert!(Deadline::time_of_day(23, 60).is_none());
        assert!(Deadline::time_of_day(23, 59).is_some());
    }
}
