use chrono::NaiveDate;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::data_interval::local_midnight;
use crate::{DataInterval, Timestamp};

/// A cron schedule (5 fields or `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`) read
/// in a workflow's time zone.
///
/// A run's data interval goes from one fire time to the next, and the run becomes due at the
/// interval's end. Across DST changes the fire times follow croner (the Open Cron Pattern
/// Specification, like Vixie cron):
/// - a fixed local time that does not exist (spring forward) fires at the first valid
///   minute after the gap, on the same day; wildcard or step hours skip the missing times;
/// - a fixed local time that occurs twice (fall back) fires once, at its first occurrence;
///   wildcard or step hours fire for both occurrences.
///
/// So a daily interval is 23 or 25 hours long on DST days, and an hourly schedule never has a
/// gap or overlap in real time.
#[derive(Debug, Clone)]
pub struct Schedule {
    expression: String,
    cron: Cron,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("invalid cron expression `{expression}`: {reason}")]
    InvalidCron { expression: String, reason: String },
    #[error("the schedule `{expression}` never fires")]
    NeverFires { expression: String },
}

impl Schedule {
    pub fn parse(expression: &str) -> Result<Schedule, ScheduleError> {
        let trimmed = expression.trim();
        let fields = trimmed.split_whitespace().count();
        if !trimmed.starts_with('@') && fields != 5 {
            return Err(ScheduleError::InvalidCron {
                expression: expression.to_owned(),
                reason: format!(
                    "expected 5 fields (minute hour day-of-month month day-of-week), found {fields}"
                ),
            });
        }
        let parser = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build();
        let cron = parser
            .parse(trimmed)
            .map_err(|error| ScheduleError::InvalidCron {
                expression: expression.to_owned(),
                reason: error.to_string(),
            })?;
        let schedule = Schedule {
            expression: trimmed.to_owned(),
            cron,
        };
        // A pattern such as `0 0 31 2 *` parses but never matches.
        let probe = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        if schedule.next_fire(probe, chrono_tz::UTC).is_none() {
            return Err(ScheduleError::NeverFires {
                expression: expression.to_owned(),
            });
        }
        Ok(schedule)
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The first fire time strictly after `after`.
    pub fn next_fire(&self, after: Timestamp, timezone: chrono_tz::Tz) -> Option<Timestamp> {
        let local = after.with_timezone(&timezone);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|time| time.to_utc())
    }

    /// The last fire time strictly before `before`.
    pub fn previous_fire(&self, before: Timestamp, timezone: chrono_tz::Tz) -> Option<Timestamp> {
        let local = before.with_timezone(&timezone);
        self.cron
            .find_previous_occurrence(&local, false)
            .ok()
            .map(|time| time.to_utc())
    }

    /// The first fire time at or after `at`.
    pub fn first_fire_at_or_after(
        &self,
        at: Timestamp,
        timezone: chrono_tz::Tz,
    ) -> Option<Timestamp> {
        // croner's inclusive search misses a fire time that a DST gap moved when the search
        // starts exactly on it (e.g. `@daily` in America/Santiago, whose midnight is skipped):
        // search strictly after one second earlier instead.
        let just_before = at
            .checked_sub_signed(chrono::TimeDelta::seconds(1))
            .unwrap_or(at);
        let fire = self.next_fire(just_before, timezone)?;
        if fire < at {
            return self.next_fire(at, timezone);
        }
        Some(fire)
    }

    /// The interval that starts at the first fire time at or after `at`.
    pub fn interval_starting_at_or_after(
        &self,
        at: Timestamp,
        timezone: chrono_tz::Tz,
    ) -> Option<DataInterval> {
        let start = self.first_fire_at_or_after(at, timezone)?;
        let end = self.next_fire(start, timezone)?;
        DataInterval::new(start, end)
    }

    /// The interval that holds `at`: from the last fire time at or before it to the next.
    pub fn interval_holding(&self, at: Timestamp, timezone: chrono_tz::Tz) -> Option<DataInterval> {
        let start = match self.first_fire_at_or_after(at, timezone) {
            Some(fire) if fire == at => at,
            _ => self.previous_fire(at, timezone)?,
        };
        let end = self.next_fire(start, timezone)?;
        DataInterval::new(start, end)
    }

    /// The interval a run for `date` covers: the first interval starting on or after local
    /// midnight of `date`.
    pub fn interval_for_date(
        &self,
        date: NaiveDate,
        timezone: chrono_tz::Tz,
    ) -> Option<DataInterval> {
        self.interval_starting_at_or_after(local_midnight(date, timezone), timezone)
    }

    /// The next `count` intervals whose end (when they become due) is after `after`.
    pub fn intervals_due_after(
        &self,
        after: Timestamp,
        timezone: chrono_tz::Tz,
        count: usize,
    ) -> Vec<DataInterval> {
        let mut intervals = Vec::with_capacity(count);
        let Some(mut end) = self.next_fire(after, timezone) else {
            return intervals;
        };
        let Some(mut start) = self.previous_fire(end, timezone) else {
            return intervals;
        };
        while intervals.len() < count {
            if let Some(interval) = DataInterval::new(start, end) {
                intervals.push(interval);
            }
            start = end;
            match self.next_fire(end, timezone) {
                Some(next) => end = next,
                None => break,
            }
        }
        intervals
    }

    /// The latest interval that has ended at or before `now`.
    pub fn latest_complete_interval(
        &self,
        now: Timestamp,
        timezone: chrono_tz::Tz,
    ) -> Option<DataInterval> {
        let local = now.with_timezone(&timezone);
        let end = self
            .cron
            .find_previous_occurrence(&local, true)
            .ok()?
            .to_utc();
        let start = self.previous_fire(end, timezone)?;
        DataInterval::new(start, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> Timestamp {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .expect("valid time")
    }

    #[test]
    fn daily_intervals_in_seoul_start_at_local_midnight() {
        let schedule = Schedule::parse("@daily").expect("valid");
        let intervals =
            schedule.intervals_due_after(utc(2026, 1, 1, 0, 0), chrono_tz::Asia::Seoul, 2);
        // Seoul is UTC+9: local midnight is 15:00 UTC the day before.
        assert_eq!(intervals[0].start, utc(2025, 12, 31, 15, 0));
        assert_eq!(intervals[0].end, utc(2026, 1, 1, 15, 0));
        assert_eq!(
            intervals[0].ds(chrono_tz::Asia::Seoul).to_string(),
            "2026-01-01"
        );
        assert_eq!(intervals[1].start, intervals[0].end);
    }

    #[test]
    fn daily_interval_is_23_hours_on_spring_forward_day() {
        let schedule = Schedule::parse("0 0 * * *").expect("valid");
        let date = NaiveDate::from_ymd_opt(2026, 3, 8).expect("valid");
        let interval = schedule
            .interval_for_date(date, chrono_tz::America::New_York)
            .expect("some");
        assert_eq!(interval.end - interval.start, chrono::Duration::hours(23));
    }

    #[test]
    fn fixed_time_in_the_gap_fires_after_the_gap_once() {
        // 02:30 does not exist in New York on 2026-03-08.
        let schedule = Schedule::parse("30 2 * * *").expect("valid");
        let fires =
            schedule.intervals_due_after(utc(2026, 3, 7, 12, 0), chrono_tz::America::New_York, 3);
        let ends: Vec<String> = fires
            .iter()
            .map(|interval| {
                interval
                    .end
                    .with_timezone(&chrono_tz::America::New_York)
                    .to_string()
            })
            .collect();
        assert_eq!(
            ends,
            vec![
                "2026-03-08 03:00:00 EDT".to_owned(),
                "2026-03-09 02:30:00 EDT".to_owned(),
                "2026-03-10 02:30:00 EDT".to_owned(),
            ]
        );
    }

    #[test]
    fn hourly_intervals_cover_the_repeated_hour_without_overlap() {
        let schedule = Schedule::parse("@hourly").expect("valid");
        // Fall back in New York: 2026-11-01 01:00-02:00 local happens twice.
        let intervals =
            schedule.intervals_due_after(utc(2026, 11, 1, 4, 30), chrono_tz::America::New_York, 4);
        for pair in intervals.windows(2) {
            assert_eq!(pair[0].end, pair[1].start);
            assert_eq!(pair[0].end - pair[0].start, chrono::Duration::hours(1));
        }
    }

    /// Regression: the run for a day whose midnight a DST gap skips was the next day's.
    #[test]
    fn the_interval_of_a_day_whose_midnight_is_skipped_is_that_day() {
        let schedule = Schedule::parse("@daily").expect("valid");
        let date = NaiveDate::from_ymd_opt(2026, 9, 6).expect("valid");
        let interval = schedule
            .interval_for_date(date, chrono_tz::America::Santiago)
            .expect("some");
        assert_eq!(interval.ds(chrono_tz::America::Santiago), date);
    }

    #[test]
    fn rejects_bad_expressions() {
        assert!(matches!(
            Schedule::parse("61 * * * *"),
            Err(ScheduleError::InvalidCron { .. })
        ));
        assert!(matches!(
            Schedule::parse("* * * *"),
            Err(ScheduleError::InvalidCron { .. })
        ));
        assert!(matches!(
            Schedule::parse("0 0 31 2 *"),
            Err(ScheduleError::NeverFires { .. })
        ));
    }
}
