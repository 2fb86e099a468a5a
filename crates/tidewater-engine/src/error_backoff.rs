//! How long the service holds back after an error it cannot fix itself.

use std::time::Duration;

use tidewater_core::Timestamp;

/// The first wait after an error, and the longest.
const FIRST_WAIT: Duration = Duration::from_secs(1);
const LONGEST_WAIT: Duration = Duration::from_secs(30);

/// Spaces out the service's attempts to go on after an executor (or the service's own work)
/// failed, e.g. because the disk is full and no store write succeeds. Without it every run
/// failed its write, was resumed at once and failed again: about 950 log lines a second and
/// most of a core, for as long as the disk stayed full.
///
/// The waits double from [`FIRST_WAIT`] up to [`LONGEST_WAIT`]. Every run shares the store,
/// so one wait holds back all of them, and the runs that fail during a wait (on the same
/// cause, as a rule) neither lengthen it nor are reported again: one report per wait.
#[derive(Debug, Default)]
pub(crate) struct ErrorBackoff {
    /// Waits in a row so far.
    waits: u32,
    /// The end of the current (or last) wait.
    until: Option<Timestamp>,
}

impl ErrorBackoff {
    /// Records an error at `now`. Returns how long runs are held back if this error begins a
    /// new wait (the caller reports it), `None` if one is already under way.
    pub(crate) fn failed(&mut self, now: Timestamp) -> Option<Duration> {
        if let Some(until) = self.until {
            if now < until {
                return None;
            }
            // Quiet for as long as the longest wait since the last one ended: whatever
            // failed then is over, and a new error starts again from the first wait.
            if now - until >= to_chrono(LONGEST_WAIT) {
                self.waits = 0;
            }
        }
        let wait = FIRST_WAIT
            .saturating_mul(2u32.saturating_pow(self.waits.min(16)))
            .min(LONGEST_WAIT);
        self.waits += 1;
        self.until = Some(now + to_chrono(wait));
        Some(wait)
    }

    /// The end of the wait under way at `now`, if one is.
    pub(crate) fn waiting_until(&self, now: Timestamp) -> Option<Timestamp> {
        self.until.filter(|&until| now < until)
    }
}

fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(millis: i64) -> Timestamp {
        chrono::Utc
            .timestamp_millis_opt(1_767_225_600_000 + millis)
            .single()
            .expect("valid")
    }

    #[test]
    fn waits_double_up_to_thirty_seconds_and_errors_during_a_wait_add_nothing() {
        let mut backoff = ErrorBackoff::default();
        let mut now = at(0);
        let mut waits = Vec::new();
        for _ in 0..8 {
            let wait = backoff.failed(now).expect("a new wait");
            // Other runs failing during the wait are neither reported nor counted.
            assert_eq!(
                backoff.failed(now + chrono::Duration::milliseconds(1)),
                None
            );
            assert!(backoff.waiting_until(now).is_some());
            now += to_chrono(wait);
            assert_eq!(backoff.waiting_until(now), None);
            waits.push(wait.as_secs());
        }
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 30, 30, 30]);
    }

    #[test]
    fn a_quiet_spell_starts_again_from_the_first_wait() {
        let mut backoff = ErrorBackoff::default();
        assert_eq!(backoff.failed(at(0)), Some(FIRST_WAIT));
        assert_eq!(backoff.failed(at(1_000)), Some(Duration::from_secs(2)));
        // Its wait ended at 3 s; nothing failed for 30 s after that.
        assert_eq!(backoff.failed(at(33_000)), Some(FIRST_WAIT));
    }
}
