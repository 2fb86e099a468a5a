use std::time::Duration;

use crate::Attempt;

/// How often and how soon a failed task is tried again.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Tries after the first one.
    pub retries: u32,
    /// The delay before the first retry.
    pub delay: Duration,
    pub backoff: Backoff,
    /// Spread each delay uniformly over `[delay / 2, delay]` so that many tasks failing
    /// together (an outage) do not retry in lockstep.
    pub has_jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 0,
            delay: Duration::from_secs(30),
            backoff: Backoff::Constant,
            has_jitter: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Backoff {
    Constant,
    /// Double the delay after each failure, never past `max_delay`.
    Exponential {
        max_delay: Duration,
    },
}

impl RetryPolicy {
    /// The delay after `failed` (the attempt that just failed, counted from the start of
    /// the current try budget). `jitter` is a sample in `[0, 1)`.
    pub fn delay_after(&self, failed: Attempt, jitter: f64) -> Duration {
        let base = match self.backoff {
            Backoff::Constant => self.delay,
            Backoff::Exponential { max_delay } => {
                let doublings = failed.0.saturating_sub(1).min(32);
                let factor = 2u64.saturating_pow(doublings);
                let millis = (self.delay.as_millis() as u64).saturating_mul(factor);
                Duration::from_millis(millis).min(max_delay)
            }
        };
        if self.has_jitter {
            base.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
        } else {
            base
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_backoff_doubles_and_caps() {
        let policy = RetryPolicy {
            retries: 10,
            delay: Duration::from_secs(10),
            backoff: Backoff::Exponential {
                max_delay: Duration::from_secs(60),
            },
            has_jitter: false,
        };
        let delays: Vec<u64> = (1..=5)
            .map(|attempt| policy.delay_after(Attempt(attempt), 0.0).as_secs())
            .collect();
        assert_eq!(delays, vec![10, 20, 40, 60, 60]);
    }

    #[test]
    fn jitter_stays_within_half_and_full_delay() {
        let policy = RetryPolicy {
            has_jitter: true,
            ..RetryPolicy::default()
        };
        assert_eq!(policy.delay_after(Attempt(1), 0.0), Duration::from_secs(15));
        assert_eq!(policy.delay_after(Attempt(1), 1.0), Duration::from_secs(30));
    }
}
