/// Why a run exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunTrigger {
    /// `tidewater run` or a manual trigger.
    Manual,
    /// Created by the scheduler when its interval ended.
    Scheduled,
    Backfill,
    /// Created by the scheduler for an upstream change: a Delta commit to a table, or another
    /// workflow's succeeded run (`schedule: { on: [...] }`).
    Data,
}

impl RunTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            RunTrigger::Manual => "manual",
            RunTrigger::Scheduled => "scheduled",
            RunTrigger::Backfill => "backfill",
            RunTrigger::Data => "data",
        }
    }

    pub fn parse(text: &str) -> Option<RunTrigger> {
        [
            RunTrigger::Manual,
            RunTrigger::Scheduled,
            RunTrigger::Backfill,
            RunTrigger::Data,
        ]
        .into_iter()
        .find(|trigger| trigger.as_str() == text)
    }

    /// Only scheduled runs have deadlines. A deadline is about data arriving on time, which
    /// only the scheduler's run of an interval that just ended is about: a backfill of last
    /// year's intervals must not raise a year of alarms, and a manual run has no "on time".
    /// Nor has a run started by data: a re-written partition of last month is not late.
    /// [`crate::Workflow::for_trigger`] applies this rule to a run's workflow.
    pub fn has_deadline(self) -> bool {
        match self {
            RunTrigger::Scheduled => true,
            RunTrigger::Manual | RunTrigger::Backfill | RunTrigger::Data => false,
        }
    }
}
