//! [`BackfillSummary`]: how a backfill stands when its runs stopped being executed.

use tidewater_core::{RunId, RunQueueKey, RunStateKind};
use tidewater_store::{BackfillRecord, RunCounts, RunFilter};

use crate::Control;
use crate::control_error::ControlResult;

/// How many runs of a backfill a summary names by id, per state: the rest are counted, and
/// `tidewater runs --backfill` lists them (a year of hourly runs must not show 8,760 ids).
const IDS_SHOWN: u32 = 5;

/// How a backfill stands (see [`Control::backfill_summary`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillSummary {
    pub counts: RunCounts,
    /// Every run succeeded: the backfill is recorded finished.
    pub is_finished: bool,
    /// The runs that did not succeed, by state (failed, cancelled, queued, running; states
    /// with no run left out). Empty when finished.
    pub unfinished: Vec<UnfinishedRuns>,
}

/// The runs of a backfill in one state that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnfinishedRuns {
    pub state: RunStateKind,
    pub count: u64,
    /// A few of them: the next ones to start for queued runs, the latest ones otherwise
    /// (oldest of them first).
    pub first: Vec<RunId>,
    /// How many more there are than `first` names.
    pub more: u64,
}

impl Control {
    /// How the backfill stands; when every run succeeded, records it finished (a later
    /// request of the same range starts a new backfill).
    pub async fn backfill_summary(
        &self,
        backfill: &BackfillRecord,
    ) -> ControlResult<BackfillSummary> {
        let counts = self.store.backfill_counts(backfill.id).await?;
        if counts.succeeded == counts.total() {
            self.store
                .finish_backfill(backfill.id, chrono::Utc::now())
                .await?;
            return Ok(BackfillSummary {
                counts,
                is_finished: true,
                unfinished: Vec::new(),
            });
        }
        let mut unfinished = Vec::new();
        for (state, count) in [
            (RunStateKind::Failed, counts.failed),
            (RunStateKind::Cancelled, counts.cancelled),
            (RunStateKind::Queued, counts.queued),
            (RunStateKind::Running, counts.running),
        ] {
            if count == 0 {
                continue;
            }
            let first = if state == RunStateKind::Queued {
                // The next ones to run.
                self.store
                    .queued_runs(
                        &RunQueueKey::Backfill(backfill.id),
                        backfill.order(),
                        IDS_SHOWN,
                    )
                    .await?
            } else {
                // The latest ones (`list_runs` lists newest first).
                let mut latest = self
                    .store
                    .list_runs(&RunFilter {
                        state: Some(state),
                        backfill: Some(backfill.id),
                        limit: Some(IDS_SHOWN),
                        ..RunFilter::default()
                    })
                    .await?;
                latest.reverse();
                latest
            };
            unfinished.push(UnfinishedRuns {
                state,
                count,
                first: first.iter().map(|run| run.id).collect(),
                more: count.saturating_sub(u64::from(IDS_SHOWN)),
            });
        }
        Ok(BackfillSummary {
            counts,
            is_finished: false,
            unfinished,
        })
    }
}
