//! A pool's rate limit (`rate = "30/min"`) and the sliding window that enforces it.

use std::collections::VecDeque;
use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// At most `starts` task starts in any window of one `per` unit, e.g. `30/min`.
///
/// The window slides: at every instant, the starts in the preceding `per` (the instant
/// itself included) number at most `starts`. Unlike a token bucket refilled continuously,
/// this never lets `starts + 1` tasks in within one unit, whatever their timing, and it
/// needs only the last `starts` start instants to decide exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RateLimit {
    starts: NonZeroU32,
    per: RateUnit,
}

/// The length of a rate limit's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateUnit {
    Second,
    Minute,
    Hour,
    Day,
}

/// A rate that cannot be read. All are mistakes in the user's configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateLimitError {
    #[error("invalid rate `{text}`: expected starts per unit, e.g. `30/min`")]
    MissingUnit { text: String },
    #[error("invalid rate `{text}`: `{count}` is not a whole number of starts")]
    InvalidCount { text: String, count: String },
    #[error("invalid rate `{text}`: it must allow at least 1 start")]
    ZeroStarts { text: String },
    #[error("invalid rate `{text}`: unknown unit `{unit}`; {ALLOWED_UNITS}")]
    UnknownUnit { text: String, unit: String },
}

const ALLOWED_UNITS: &str = "use second (sec, s), minute (min, m), hour (h) or day (d)";

impl RateLimit {
    pub fn new(starts: NonZeroU32, per: RateUnit) -> RateLimit {
        RateLimit { starts, per }
    }

    /// How many tasks may start within one window.
    pub fn starts(&self) -> u32 {
        self.starts.get()
    }

    pub fn per(&self) -> RateUnit {
        self.per
    }

    /// The length of the sliding window.
    pub fn window(&self) -> chrono::TimeDelta {
        match self.per {
            RateUnit::Second => chrono::TimeDelta::seconds(1),
            RateUnit::Minute => chrono::TimeDelta::minutes(1),
            RateUnit::Hour => chrono::TimeDelta::hours(1),
            RateUnit::Day => chrono::TimeDelta::days(1),
        }
    }
}

impl RateUnit {
    fn parse(unit: &str) -> Option<RateUnit> {
        // Only lower case: `M` reads as "month" to some people, and months have no fixed
        // length, so a unit that could be misread is rejected rather than guessed.
        match unit {
            "second" | "sec" | "s" => Some(RateUnit::Second),
            "minute" | "min" | "m" => Some(RateUnit::Minute),
            "hour" | "h" => Some(RateUnit::Hour),
            "day" | "d" => Some(RateUnit::Day),
            _ => None,
        }
    }

    fn short_name(self) -> &'static str {
        match self {
            RateUnit::Second => "sec",
            RateUnit::Minute => "min",
            RateUnit::Hour => "hour",
            RateUnit::Day => "day",
        }
    }
}

impl FromStr for RateLimit {
    type Err = RateLimitError;

    fn from_str(text: &str) -> Result<RateLimit, RateLimitError> {
        let Some((count, unit)) = text.split_once('/') else {
            return Err(RateLimitError::MissingUnit {
                text: text.to_owned(),
            });
        };
        let (count, unit) = (count.trim(), unit.trim());
        let starts: u32 = count.parse().map_err(|_| RateLimitError::InvalidCount {
            text: text.to_owned(),
            count: count.to_owned(),
        })?;
        let starts = NonZeroU32::new(starts).ok_or_else(|| RateLimitError::ZeroStarts {
            text: text.to_owned(),
        })?;
        let per = RateUnit::parse(unit).ok_or_else(|| RateLimitError::UnknownUnit {
            text: text.to_owned(),
            unit: unit.to_owned(),
        })?;
        Ok(RateLimit { starts, per })
    }
}

impl TryFrom<String> for RateLimit {
    type Error = RateLimitError;

    fn try_from(text: String) -> Result<RateLimit, RateLimitError> {
        text.parse()
    }
}

impl From<RateLimit> for String {
    fn from(rate: RateLimit) -> String {
        rate.to_string()
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.starts, self.per.short_name())
    }
}

/// The start instants that decide whether a rate-limited pool may start another task: the
/// most recent `starts` of them, oldest first. Older ones can never matter again, so the
/// state stays this small however long the queue lives.
#[derive(Debug, Clone)]
pub(crate) struct StartWindow {
    rate: RateLimit,
    recent: VecDeque<Timestamp>,
}

impl StartWindow {
    pub(crate) fn new(rate: RateLimit) -> StartWindow {
        StartWindow {
            rate,
            recent: VecDeque::with_capacity(rate.starts() as usize),
        }
    }

    /// The first instant at which one more start keeps every window within the rate, or
    /// `None` when a start is allowed at any instant.
    ///
    /// A start at `t` is allowed when the `starts`-th most recent start is at least one
    /// window before `t`: then the window ending at `t` holds the other `starts - 1` at most.
    /// Starts recorded after `t` (a clock stepped back) count against it too, so the rate
    /// holds even then.
    pub(crate) fn available_at(&self) -> Option<Timestamp> {
        if self.recent.len() < self.rate.starts() as usize {
            return None;
        }
        let oldest = self.recent.front()?;
        Some(
            oldest
                .checked_add_signed(self.rate.window())
                .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC),
        )
    }

    /// `Err(until)` when a start at `now` would exceed the rate.
    pub(crate) fn check(&self, now: Timestamp) -> Result<(), Timestamp> {
        match self.available_at() {
            Some(until) if until > now => Err(until),
            _ => Ok(()),
        }
    }

    /// Forgets one start recorded at `at` (an admission that did not start after all).
    pub(crate) fn forget(&mut self, at: Timestamp) {
        if let Some(position) = self.recent.iter().position(|&recorded| recorded == at) {
            self.recent.remove(position);
        }
    }

    /// Records a start. Starts may arrive out of order (restored from the store after a
    /// restart); the window keeps the most recent ones whatever the order.
    pub(crate) fn record(&mut self, at: Timestamp) {
        let position = self.recent.partition_point(|&recorded| recorded <= at);
        self.recent.insert(position, at);
        if self.recent.len() > self.rate.starts() as usize {
            self.recent.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(seconds: i64) -> Timestamp {
        chrono::Utc
            .timestamp_opt(1_767_225_600 + seconds, 0)
            .single()
            .expect("valid")
    }

    fn rate(text: &str) -> RateLimit {
        text.parse().expect("a valid rate")
    }

    #[test]
    fn reads_every_documented_unit() {
        for (text, unit) in [
            ("5/second", RateUnit::Second),
            ("5/sec", RateUnit::Second),
            ("5/s", RateUnit::Second),
            ("5/minute", RateUnit::Minute),
            ("5/min", RateUnit::Minute),
            ("5/m", RateUnit::Minute),
            ("5/hour", RateUnit::Hour),
            ("5/h", RateUnit::Hour),
            ("5/day", RateUnit::Day),
            ("5/d", RateUnit::Day),
        ] {
            assert_eq!(
                rate(text),
                RateLimit::new(NonZeroU32::new(5).expect("not zero"), unit)
            );
        }
        assert_eq!(rate(" 30 / min ").window(), chrono::TimeDelta::seconds(60));
        assert_eq!(rate("2/day").window(), chrono::TimeDelta::hours(24));
    }

    #[test]
    fn an_unknown_unit_names_the_allowed_ones() {
        let error = "30/fortnight".parse::<RateLimit>().expect_err("not a unit");
        assert_eq!(
            error,
            RateLimitError::UnknownUnit {
                text: "30/fortnight".to_owned(),
                unit: "fortnight".to_owned()
            }
        );
        assert_eq!(
            error.to_string(),
            "invalid rate `30/fortnight`: unknown unit `fortnight`; \
             use second (sec, s), minute (min, m), hour (h) or day (d)"
        );
    }

    #[test]
    fn malformed_rates_are_rejected_with_the_reason() {
        assert!(matches!(
            "30".parse::<RateLimit>(),
            Err(RateLimitError::MissingUnit { .. })
        ));
        assert!(matches!(
            "-1/min".parse::<RateLimit>(),
            Err(RateLimitError::InvalidCount { .. })
        ));
        assert!(matches!(
            "1.5/min".parse::<RateLimit>(),
            Err(RateLimitError::InvalidCount { .. })
        ));
        assert!(matches!(
            "0/min".parse::<RateLimit>(),
            Err(RateLimitError::ZeroStarts { .. })
        ));
        assert!(matches!(
            "30/Min".parse::<RateLimit>(),
            Err(RateLimitError::UnknownUnit { .. })
        ));
    }

    #[test]
    fn display_reads_back_as_the_same_rate() {
        for text in ["1/s", "30/min", "100/h", "1000/d"] {
            let parsed = rate(text);
            assert_eq!(rate(&parsed.to_string()), parsed);
        }
        assert_eq!(rate("30/minute").to_string(), "30/min");
    }

    #[test]
    fn deserializes_from_a_string_and_reports_a_bad_one() {
        let parsed: RateLimit = serde_json::from_str("\"30/min\"").expect("valid");
        assert_eq!(parsed, rate("30/min"));
        assert_eq!(serde_json::to_string(&parsed).expect("json"), "\"30/min\"");
        let error = serde_json::from_str::<RateLimit>("\"30/fortnight\"").expect_err("bad unit");
        assert!(error.to_string().contains("unknown unit `fortnight`"));
    }

    #[test]
    fn the_window_admits_the_next_start_exactly_one_window_after_the_oldest() {
        let mut window = StartWindow::new(rate("2/min"));
        assert_eq!(window.check(at(0)), Ok(()));
        window.record(at(0));
        window.record(at(10));
        assert_eq!(window.check(at(59)), Err(at(60)));
        assert_eq!(window.check(at(60)), Ok(()));
        window.record(at(60));
        // Now the two most recent are 10 and 60.
        assert_eq!(window.check(at(69)), Err(at(70)));
        assert_eq!(window.available_at(), Some(at(70)));
    }

    #[test]
    fn starts_recorded_out_of_order_keep_the_most_recent() {
        let mut window = StartWindow::new(rate("2/min"));
        window.record(at(50));
        window.record(at(0));
        window.record(at(30));
        assert_eq!(window.available_at(), Some(at(90)));
    }

    #[test]
    fn a_clock_stepped_back_still_counts_later_starts() {
        let mut window = StartWindow::new(rate("1/min"));
        window.record(at(100));
        assert_eq!(window.check(at(50)), Err(at(160)));
    }
}
