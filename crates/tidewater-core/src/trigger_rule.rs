use serde::{Deserialize, Serialize};

/// When a task may start, given the outcomes of its upstream tasks (Airflow's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerRule {
    /// Every upstream succeeded.
    #[default]
    AllSuccess,
    /// Every upstream finished, whatever the outcome.
    AllDone,
    /// Every upstream failed (or could not run because of a failure).
    AllFailed,
    /// At least one upstream succeeded; fires as soon as one does.
    OneSuccess,
    /// At least one upstream failed; fires as soon as one does.
    OneFailed,
    /// No upstream failed; skipped upstreams are fine.
    NoneFailed,
}

impl TriggerRule {
    pub const ALL: [TriggerRule; 6] = [
        TriggerRule::AllSuccess,
        TriggerRule::AllDone,
        TriggerRule::AllFailed,
        TriggerRule::OneSuccess,
        TriggerRule::OneFailed,
        TriggerRule::NoneFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TriggerRule::AllSuccess => "all_success",
            TriggerRule::AllDone => "all_done",
            TriggerRule::AllFailed => "all_failed",
            TriggerRule::OneSuccess => "one_success",
            TriggerRule::OneFailed => "one_failed",
            TriggerRule::NoneFailed => "none_failed",
        }
    }

    pub fn parse(text: &str) -> Option<TriggerRule> {
        TriggerRule::ALL
            .into_iter()
            .find(|rule| rule.as_str() == text)
    }

    /// What a pending task should do given the tally of its upstreams, or `None` to keep
    /// waiting. Rules that can fire early (`one_*`) do so before every upstream is done.
    pub fn evaluate(self, tally: &UpstreamTally) -> Option<Verdict> {
        let all_done = tally.done() == tally.total;
        let failed = tally.failed + tally.upstream_failed;
        match self {
            TriggerRule::AllSuccess => {
                if failed > 0 || tally.cancelled > 0 {
                    Some(Verdict::UpstreamFailed)
                } else if !all_done {
                    None
                } else if tally.skipped > 0 {
                    Some(Verdict::Skip)
                } else {
                    Some(Verdict::Run)
                }
            }
            TriggerRule::AllDone => all_done.then_some(Verdict::Run),
            TriggerRule::AllFailed => {
                if tally.succeeded > 0 || tally.skipped > 0 {
                    Some(Verdict::Skip)
                } else {
                    all_done.then_some(Verdict::Run)
                }
            }
            TriggerRule::OneSuccess => {
                if tally.succeeded > 0 {
                    Some(Verdict::Run)
                } else if all_done {
                    Some(Verdict::UpstreamFailed)
                } else {
                    None
                }
            }
            TriggerRule::OneFailed => {
                if failed > 0 {
                    Some(Verdict::Run)
                } else if all_done {
                    Some(Verdict::Skip)
                } else {
                    None
                }
            }
            TriggerRule::NoneFailed => {
                if failed > 0 || tally.cancelled > 0 {
                    Some(Verdict::UpstreamFailed)
                } else {
                    all_done.then_some(Verdict::Run)
                }
            }
        }
    }
}

/// Outcomes of a task's upstreams so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UpstreamTally {
    pub total: u32,
    pub succeeded: u32,
    pub failed: u32,
    pub upstream_failed: u32,
    pub skipped: u32,
    pub cancelled: u32,
}

impl UpstreamTally {
    pub fn done(&self) -> u32 {
        self.succeeded + self.failed + self.upstream_failed + self.skipped + self.cancelled
    }
}

/// The result of evaluating a trigger rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Run,
    Skip,
    UpstreamFailed,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(succeeded: u32, failed: u32, skipped: u32, total: u32) -> UpstreamTally {
        UpstreamTally {
            total,
            succeeded,
            failed,
            skipped,
            ..UpstreamTally::default()
        }
    }

    #[test]
    fn all_success_waits_then_runs_or_fails() {
        assert_eq!(TriggerRule::AllSuccess.evaluate(&tally(1, 0, 0, 2)), None);
        assert_eq!(
            TriggerRule::AllSuccess.evaluate(&tally(2, 0, 0, 2)),
            Some(Verdict::Run)
        );
        assert_eq!(
            TriggerRule::AllSuccess.evaluate(&tally(0, 1, 0, 2)),
            Some(Verdict::UpstreamFailed)
        );
        assert_eq!(
            TriggerRule::AllSuccess.evaluate(&tally(1, 0, 1, 2)),
            Some(Verdict::Skip)
        );
    }

    #[test]
    fn one_rules_fire_before_all_upstreams_finish() {
        assert_eq!(
            TriggerRule::OneSuccess.evaluate(&tally(1, 0, 0, 3)),
            Some(Verdict::Run)
        );
        assert_eq!(
            TriggerRule::OneFailed.evaluate(&tally(0, 1, 0, 3)),
            Some(Verdict::Run)
        );
        assert_eq!(
            TriggerRule::OneFailed.evaluate(&tally(3, 0, 0, 3)),
            Some(Verdict::Skip)
        );
        assert_eq!(
            TriggerRule::OneSuccess.evaluate(&tally(0, 3, 0, 3)),
            Some(Verdict::UpstreamFailed)
        );
    }

    #[test]
    fn all_failed_and_none_failed_and_all_done() {
        assert_eq!(
            TriggerRule::AllFailed.evaluate(&tally(0, 2, 0, 2)),
            Some(Verdict::Run)
        );
        assert_eq!(
            TriggerRule::AllFailed.evaluate(&tally(1, 1, 0, 2)),
            Some(Verdict::Skip)
        );
        assert_eq!(
            TriggerRule::NoneFailed.evaluate(&tally(1, 0, 1, 2)),
            Some(Verdict::Run)
        );
        assert_eq!(
            TriggerRule::NoneFailed.evaluate(&tally(1, 1, 0, 2)),
            Some(Verdict::UpstreamFailed)
        );
        assert_eq!(
            TriggerRule::AllDone.evaluate(&tally(1, 1, 0, 2)),
            Some(Verdict::Run)
        );
        assert_eq!(TriggerRule::AllDone.evaluate(&tally(1, 0, 0, 2)), None);
    }
}
