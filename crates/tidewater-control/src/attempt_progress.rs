//! [`AttemptProgress`]: where the attempt being followed (`logs --follow`, the API's log
//! stream) is, as the store says: whether more of its log will come.

use tidewater_core::{Attempt, RunId, TaskName};

use crate::Control;
use crate::control_error::ControlResult;

/// What a follower of a task's log does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptProgress {
    /// It runs, or the task waits for it (or for its next attempt) to start.
    Going,
    /// It has ended; `next` is the task's newer attempt, if one has started, to follow next.
    Ended { next: Option<Attempt> },
    /// It will never end here: the process running it is gone (killed, or crashed).
    Orphaned,
    /// The task finished without ever starting (upstream failed, cancelled while queued).
    NeverStarted,
}

/// Which attempts a follower follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowScope {
    /// The task: a retry is a new attempt with a log of its own, followed after the last
    /// one's, until the task has finished (which is what someone watching a task waits for).
    Task,
    /// One attempt only (`--attempt N`).
    Attempt,
}

impl Control {
    /// Where `attempt` of `task` in run `run` is (`None`: the task has not started one yet).
    pub async fn attempt_progress(
        &self,
        run: RunId,
        task: &TaskName,
        attempt: Option<Attempt>,
        scope: FollowScope,
    ) -> ControlResult<AttemptProgress> {
        let record = self.run_record(run).await?;
        let attempts = self.store.attempts(run, Some(task)).await?;
        let task_state = self
            .store
            .task_instances(run)
            .await?
            .into_iter()
            .find(|(name, _)| name == task)
            .map(|(_, instance)| instance.state);
        let is_finished = record.state.is_terminal()
            || task_state.as_ref().is_some_and(|state| state.is_terminal());
        let Some(attempt) = attempt else {
            if attempts.is_empty() && is_finished {
                return Ok(AttemptProgress::NeverStarted);
            }
            return Ok(AttemptProgress::Going);
        };
        let is_pinned = scope == FollowScope::Attempt;
        let has_ended = attempts
            .iter()
            .find(|record| record.attempt == attempt)
            .is_none_or(|record| record.finished.is_some());
        let next = attempts
            .iter()
            .map(|record| record.attempt)
            .find(|&other| other > attempt)
            .filter(|_| !is_pinned);
        if has_ended && (is_pinned || next.is_some() || is_finished) {
            return Ok(AttemptProgress::Ended { next });
        }
        // Running with nobody to finish it: a `kill -9` of `tidewater run` leaves it so.
        if self.is_orphaned(&record) {
            return Ok(AttemptProgress::Orphaned);
        }
        Ok(AttemptProgress::Going)
    }

    /// The latest attempt of `task` in run `run`, if it has started one.
    pub async fn latest_attempt(
        &self,
        run: RunId,
        task: &TaskName,
    ) -> ControlResult<Option<Attempt>> {
        let attempts = self.store.attempts(run, Some(task)).await?;
        Ok(attempts.last().map(|last| last.attempt))
    }
}
