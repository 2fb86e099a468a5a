//! JSON shapes of a backfill's plan and of what asking for a backfill did.

use serde::Serialize;
use tidewater_core::BackfillOrder;

use crate::backfill::Backfill;
use crate::backfill_plan::{BackfillPlan, BackfillStep, PlannedInterval};
use crate::json::BackfillJson;

/// What a backfill does with each interval of its range (a dry run's answer).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackfillPlanJson {
    pub workflow: String,
    /// First local date, `YYYY-MM-DD`.
    pub from: String,
    /// Last local date, included.
    pub to: String,
    pub max_active_runs: u32,
    /// Newest interval first.
    pub reverse: bool,
    /// The unfinished backfill of the same range that this one resumes.
    pub resumes: Option<i64>,
    /// The range's ended intervals in the order they run; empty: nothing to backfill.
    pub intervals: Vec<PlannedIntervalJson>,
}

/// One interval of a plan and what is done with it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlannedIntervalJson {
    pub data_interval_start: String,
    pub data_interval_end: String,
    /// `create` (a new run), `run_again` (a failed or cancelled run of the resumed
    /// backfill), `keep` (its run is queued, running or succeeded) or `skip` (`only_missing`).
    pub step: &'static str,
    /// The resumed backfill's run of the interval.
    pub run: Option<i64>,
    /// That run's state.
    pub run_state: Option<&'static str>,
    /// Why the interval is skipped.
    pub reason: Option<String>,
}

/// What asking for a backfill did: its plan and, unless a dry run or nothing to do, the
/// backfill recorded.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackfillOutcomeJson {
    pub plan: BackfillPlanJson,
    /// `null` for a dry run and for a range with no ended interval.
    pub backfill: Option<BackfillJson>,
    /// The plan resumed an unfinished backfill of the same range.
    pub resumed: bool,
    /// Runs created now.
    pub created: u64,
    /// Failed or cancelled runs queued again.
    pub requeued: u64,
    /// Intervals skipped (`only_missing`).
    pub skipped: u64,
}

impl BackfillPlanJson {
    pub fn new(plan: &BackfillPlan) -> BackfillPlanJson {
        BackfillPlanJson {
            workflow: plan.loaded.workflow.name.to_string(),
            from: plan.from.to_string(),
            to: plan.to.to_string(),
            max_active_runs: plan.max_active_runs,
            reverse: plan.order == BackfillOrder::NewestFirst,
            resumes: plan.existing.as_ref().map(|record| record.id.0),
            intervals: plan
                .intervals
                .iter()
                .map(PlannedIntervalJson::new)
                .collect(),
        }
    }
}

impl PlannedIntervalJson {
    fn new(planned: &PlannedInterval) -> PlannedIntervalJson {
        let (step, run, run_state, reason) = match &planned.step {
            BackfillStep::Create => ("create", None, None, None),
            BackfillStep::RunAgain { run, state } => {
                ("run_again", Some(run.0), Some(state.name()), None)
            }
            BackfillStep::Keep { run, state } => ("keep", Some(run.0), Some(state.name()), None),
            BackfillStep::Skip(reason) => ("skip", None, None, Some(reason.to_string())),
        };
        PlannedIntervalJson {
            data_interval_start: planned.interval.start.to_rfc3339(),
            data_interval_end: planned.interval.end.to_rfc3339(),
            step,
            run,
            run_state,
            reason,
        }
    }
}

impl BackfillOutcomeJson {
    /// `counts`: the recorded backfill's runs by state (read after recording).
    pub fn new(
        backfill: &Backfill,
        counts: Option<&tidewater_store::RunCounts>,
    ) -> BackfillOutcomeJson {
        let recorded = backfill.recorded.as_ref();
        BackfillOutcomeJson {
            plan: BackfillPlanJson::new(&backfill.plan),
            backfill: recorded
                .zip(counts)
                .map(|(recorded, counts)| BackfillJson::new(&recorded.record, counts)),
            resumed: recorded.is_some_and(|recorded| recorded.is_resumed),
            created: recorded.map_or(0, |recorded| recorded.created),
            requeued: recorded.map_or(0, |recorded| recorded.requeued),
            skipped: recorded.map_or(0, |recorded| recorded.skipped),
        }
    }
}
