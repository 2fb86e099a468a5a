//! `decide`: the one place where task and run states change.

use std::time::Duration;

use crate::trigger_rule::Verdict;
use crate::{
    Action, Attempt, AttemptOutcome, Change, FailureReason, HandlerKind, NotificationEvent,
    NotificationKey, RunState, RunView, TaskAction, TaskIndex, TaskInstance, TaskRole, TaskState,
    Timestamp, Workflow,
};

/// How many attempts of one task instance may be lost (see [`FailureReason::is_lost`])
/// before it fails. A lost attempt is Tidewater's failure, not the task's: it is queued
/// again at once without using up one of the task's `retries`. But a crash that recurs
/// whenever the task runs (a task that exhausts the machine's memory and takes its
/// supervisor with it, a disk that stays full) must end rather than loop: three losses of
/// one task instance are far beyond the chance of a server being restarted at the wrong
/// moment, and a user's `retry` gives a fresh allowance.
pub const MAX_LOST_ATTEMPTS: u32 = 3;

/// Something that happened to a run.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Begin (or resume) executing the run.
    Start,
    /// Time has passed: retries whose delay is over are queued again. (The run's `timeout`
    /// and `deadline` are checked at every decision; see [`crate::next_timer`] for when to
    /// send this.)
    Tick,
    /// The task queue admitted these queued tasks.
    Admit(Vec<TaskIndex>),
    AttemptFinished {
        task: TaskIndex,
        attempt: Attempt,
        outcome: AttemptOutcome,
    },
    /// Stop the run: nothing new starts, running attempts are killed.
    Cancel,
    /// Put tasks back to pending with a fresh try budget and allowance of lost attempts
    /// (`retry`, `clear`). A running run
    /// also gets its whole `timeout` again.
    Reset(Vec<TaskIndex>),
    /// Put an ended run back in the queue: a run its executor stopped because the service
    /// was shutting down (not because someone cancelled it), or a failed or cancelled run
    /// handed to the service by `retry` or `backfill`. It becomes `queued` with the tasks
    /// that `retry` resets ([`TaskState::is_reset_by_retry`]) reset in the same decision, so
    /// whoever executes it next just goes on (`Resume::Continue`), as for a `Clear`, which
    /// must not run the other failed tasks of its run again. A stopped run has no unfinished attempt
    /// (its executor ends them as cancelled before it stops); one its executor could not
    /// record is ended as lost by the next executor's recovery, as for any run.
    ///
    /// Only a failed or cancelled run is queued again: a succeeded one is done (`clear`
    /// runs tasks of it again), and a queued or running one is already in or past the
    /// queue. For those the event changes nothing.
    Requeue,
    /// Reset these tasks of an ended run, succeeded ones included, and put the run back in
    /// the queue (`clear` handed to the service): whoever executes it next resumes it and runs
    /// the reset tasks, which are pending. A queued or running run is not changed: its
    /// executor would not see the reset.
    Clear(Vec<TaskIndex>),
}

/// The inputs that would otherwise come from the world.
#[derive(Debug, Clone, Copy)]
pub struct DecideContext {
    pub now: Timestamp,
    /// Seeds retry jitter; the same seed gives the same delays.
    pub jitter_seed: u64,
}

/// The outcome of `decide`: what to persist, what to do once it is persisted, and the run as
/// it will be after the changes.
#[derive(Debug, Clone)]
pub struct Decision {
    pub changes: Vec<Change>,
    pub actions: Vec<Action>,
    pub view: RunView,
}

/// Applies `events` to a run. Pure: no IO, no clock, no randomness beyond the context.
///
/// A failed attempt is tried again by its task's [`crate::RetryPolicy`], except a lost one
/// ([`FailureReason::is_lost`]: Tidewater, not the task, stopped it), which is queued again
/// at once without using a retry, up to [`MAX_LOST_ATTEMPTS`] times per task instance; the
/// loss after that fails the task as [`FailureReason::LostTooOften`]. A failure of the
/// task's own input ([`crate::FailureClass::Input`]: its SQL, its templates) is not tried again.
///
/// Besides the events, time decides two things at every call, from `context.now`:
/// - **Timeout.** Once a running run has run for the workflow's `timeout` while some step is
///   not done, its running steps are killed ([`Action::Kill`], repeated at every decision
///   until they report) and their attempts fail as `TimedOut` without retrying, steps waiting
///   for a retry fail, and steps that have not started become `upstream_failed`: the run
///   could not give them their upstreams' results in time. The run then fails as any failed
///   run does (`on_failure` runs) and `retry` resumes it with a fresh timeout.
/// - **Deadline.** When the workflow's `deadline` for the run's interval has passed while
///   some step is not done, `on_deadline_miss` runs, once; the run goes on and its outcome
///   does not depend on the handler. If the steps are done first, the handler is skipped.
///
/// A workflow's webhooks ([`Workflow::webhooks`]) and its `on_retry` command
/// ([`Workflow::on_retry_command`]) are no tasks: at their moment (the run ends failed or
/// succeeded, the deadline passes, a step's failed attempt will be retried) the decision
/// carries a [`Change::Notify`], which the store keeps once per key.
pub fn decide(
    workflow: &Workflow,
    view: &RunView,
    events: &[Event],
    context: DecideContext,
) -> Decision {
    let mut decider = Decider {
        workflow,
        view: view.clone(),
        changes: Vec::new(),
        actions: Vec::new(),
        context,
        to_evaluate: Vec::new(),
        is_queued_for_evaluation: vec![false; workflow.tasks().len()],
    };
    // Before the events too: steps that were unfinished when the deadline passed missed it,
    // even if this decision learns that they have finished meanwhile.
    decider.check_deadline();
    for event in events {
        decider.apply(event);
    }
    decider.check_deadline();
    decider.time_out();
    decider.evaluate();
    decider.finish_run();
    Decision {
        changes: decider.changes,
        actions: decider.actions,
        view: decider.view,
    }
}

struct Decider<'a> {
    workflow: &'a Workflow,
    view: RunView,
    changes: Vec<Change>,
    actions: Vec<Action>,
    context: DecideContext,
    to_evaluate: Vec<TaskIndex>,
    is_queued_for_evaluation: Vec<bool>,
}

impl Decider<'_> {
    fn apply(&mut self, event: &Event) {
        let now = self.context.now;
        match event {
            Event::Start => {
                if !matches!(self.view.run, RunState::Running { .. }) {
                    self.set_run(RunState::Running { started_at: now });
                }
                for index in self.workflow.indices() {
                    if self.view.task(index).state == TaskState::Pending {
                        self.mark_for_evaluation(index);
                    }
                }
            }
            Event::Tick => {
                let is_timed_out = self.is_timed_out();
                for index in self.workflow.indices() {
                    if let TaskState::UpForRetry {
                        attempt,
                        not_before,
                    } = self.view.task(index).state
                        && not_before <= now
                        && !(is_timed_out && self.workflow.task(index).role == TaskRole::Step)
                    {
                        self.update(index, |instance| {
                            instance.state = TaskState::Queued {
                                attempt: attempt.next(),
                                since: now,
                            };
                        });
                    }
                }
            }
            Event::Admit(tasks) => {
                let is_timed_out = self.is_timed_out();
                for &index in tasks {
                    let TaskState::Queued { attempt, .. } = self.view.task(index).state else {
                        continue;
                    };
                    if is_timed_out && self.workflow.task(index).role == TaskRole::Step {
                        continue; // It will not start: `time_out` ends it.
                    }
                    self.update(index, |instance| {
                        instance.state = TaskState::Running {
                            attempt,
                            started_at: now,
                        };
                        instance.last_attempt = attempt.0;
                    });
                    self.changes.push(Change::AttemptStarted {
                        task: self.workflow.task(index).name.clone(),
                        attempt,
                        started_at: now,
                    });
                    self.actions.push(Action::Start {
                        task: index,
                        attempt,
                    });
                }
            }
            Event::AttemptFinished {
                task,
                attempt,
                outcome,
            } => {
                self.attempt_finished(*task, *attempt, outcome);
            }
            Event::Cancel => {
                for index in self.workflow.indices() {
                    match self.view.task(index).state {
                        TaskState::Running { attempt, .. } => {
                            self.actions.push(Action::Kill {
                                task: index,
                                attempt,
                            });
                        }
                        TaskState::Pending
                        | TaskState::Queued { .. }
                        | TaskState::UpForRetry { .. } => {
                            self.update(index, |instance| instance.state = TaskState::Cancelled);
                        }
                        _ => {}
                    }
                }
            }
            Event::Reset(tasks) => {
                let deadline_handler = self.workflow.handler(HandlerKind::OnDeadlineMiss);
                let is_before_deadline = self
                    .workflow
                    .deadline_at(self.view.interval)
                    .is_some_and(|deadline| now < deadline);
                for &index in tasks {
                    let state = &self.view.task(index).state;
                    if matches!(state, TaskState::Running { .. }) {
                        continue;
                    }
                    // A skipped `on_deadline_miss` says the steps were done before the
                    // deadline. Once the deadline has passed that stays true, and a retry must
                    // not raise a late alarm for it.
                    if Some(index) == deadline_handler
                        && *state == TaskState::Skipped
                        && !is_before_deadline
                    {
                        continue;
                    }
                    self.update(index, |instance| {
                        instance.state = TaskState::Pending;
                        instance.attempt_base = instance.last_attempt;
                        instance.lost_attempts = 0;
                        instance.output = None;
                    });
                    self.mark_for_evaluation(index);
                }
                // Handlers belong to the run's ending, which is now undone.
                for kind in [HandlerKind::OnFailure, HandlerKind::OnSuccess] {
                    if let Some(handler) = self.workflow.handler(kind)
                        && !matches!(
                            self.view.task(handler).state,
                            TaskState::Running { .. } | TaskState::Pending
                        )
                    {
                        self.update(handler, |instance| {
                            instance.state = TaskState::Pending;
                            instance.attempt_base = instance.last_attempt;
                            instance.lost_attempts = 0;
                        });
                    }
                }
                // Before its deadline the resumed run can still miss it.
                if let Some(handler) = deadline_handler
                    && self.view.task(handler).state == TaskState::Skipped
                    && is_before_deadline
                {
                    self.update(handler, |instance| {
                        instance.state = TaskState::Pending;
                        instance.attempt_base = instance.last_attempt;
                        instance.lost_attempts = 0;
                    });
                }
                if matches!(self.view.run, RunState::Running { .. }) {
                    self.set_run(RunState::Running { started_at: now });
                }
            }
            Event::Requeue => self.requeue(),
            Event::Clear(tasks) => {
                if matches!(
                    self.view.run,
                    RunState::Succeeded { .. }
                        | RunState::Failed { .. }
                        | RunState::Cancelled { .. }
                ) {
                    self.apply(&Event::Reset(tasks.clone()));
                    self.set_run(RunState::Queued);
                }
            }
        }
    }

    fn requeue(&mut self) {
        if matches!(
            self.view.run,
            RunState::Failed { .. } | RunState::Cancelled { .. }
        ) {
            let tasks: Vec<TaskIndex> = self
                .workflow
                .indices()
                .filter(|&index| self.view.task(index).state.is_reset_by_retry())
                .collect();
            self.apply(&Event::Reset(tasks));
            self.set_run(RunState::Queued);
        }
    }

    fn attempt_finished(&mut self, index: TaskIndex, finished: Attempt, outcome: &AttemptOutcome) {
        let TaskState::Running { attempt, .. } = self.view.task(index).state else {
            return; // A report about an attempt that is no longer running: already handled.
        };
        if attempt != finished {
            return;
        }
        let now = self.context.now;
        let task = self.workflow.task(index);
        let is_timed_out = task.role == TaskRole::Step && self.is_timed_out();
        let lost_before = self.view.task(index).lost_attempts;
        let outcome = match outcome {
            // A step killed because the run timed out is recorded so, not as cancelled.
            AttemptOutcome::Failed {
                reason: FailureReason::Cancelled,
            } if is_timed_out => AttemptOutcome::Failed {
                reason: FailureReason::RunTimedOut,
            },
            // The loss that ends the task says why it is not tried again.
            AttemptOutcome::Failed { reason }
                if reason.is_lost() && lost_before >= MAX_LOST_ATTEMPTS =>
            {
                AttemptOutcome::Failed {
                    reason: FailureReason::LostTooOften {
                        times: lost_before + 1,
                    },
                }
            }
            other => other.clone(),
        };
        self.changes.push(Change::AttemptFinished {
            task: task.name.clone(),
            attempt,
            finished_at: now,
            outcome: outcome.clone(),
        });
        match &outcome {
            AttemptOutcome::Succeeded { output, .. } => {
                let output = output.clone();
                self.update(index, |instance| {
                    instance.state = TaskState::Succeeded {
                        attempt,
                        finished_at: now,
                    };
                    instance.output = output;
                });
            }
            AttemptOutcome::Failed {
                reason: FailureReason::Cancelled,
            } => {
                self.update(index, |instance| instance.state = TaskState::Cancelled);
            }
            AttemptOutcome::Failed { reason } if reason.is_lost() && !is_timed_out => {
                // Not the task's failure: tried again at once, outside its retry budget.
                self.update(index, |instance| {
                    instance.state = TaskState::Queued {
                        attempt: attempt.next(),
                        since: now,
                    };
                    instance.lost_attempts += 1;
                });
            }
            AttemptOutcome::Failed {
                reason: FailureReason::LostTooOften { .. },
            } => {
                self.update(index, |instance| {
                    instance.state = TaskState::Failed {
                        attempt,
                        finished_at: now,
                    };
                    instance.lost_attempts += 1;
                });
            }
            AttemptOutcome::Failed { reason } => {
                let instance = self.view.task(index);
                let tries_used = attempt
                    .0
                    .saturating_sub(instance.attempt_base)
                    .saturating_sub(instance.lost_attempts);
                // A failure of the task's own input (a typo in its SQL) fails the same way
                // however often it is tried: it ends the task at once.
                let is_retried = reason.class().is_retried();
                if tries_used <= task.retry.retries && !is_timed_out && is_retried {
                    let jitter = jitter_sample(self.context.jitter_seed, index, attempt);
                    let delay = task.retry.delay_after(Attempt(tries_used), jitter);
                    let not_before = now + to_chrono(delay);
                    self.update(index, |instance| {
                        instance.state = TaskState::UpForRetry {
                            attempt,
                            not_before,
                        };
                    });
                    self.notify(
                        NotificationEvent::OnRetry,
                        Some((task.name.clone(), attempt)),
                    );
                } else {
                    self.update(index, |instance| {
                        instance.state = TaskState::Failed {
                            attempt,
                            finished_at: now,
                        };
                    });
                }
            }
        }
    }

    /// Whether the run has been running for longer than the workflow's `timeout`.
    fn is_timed_out(&self) -> bool {
        let RunState::Running { started_at } = self.view.run else {
            return false;
        };
        self.workflow
            .timeout_at(started_at)
            .is_some_and(|timeout| self.context.now >= timeout)
    }

    /// Ends the steps of a run past its `timeout`. Handlers are left alone: they are how a
    /// user hears about the failure, and each has its own task `timeout`.
    fn time_out(&mut self) {
        if self.view.unfinished_steps() == 0 || !self.is_timed_out() {
            return;
        }
        let now = self.context.now;
        for index in self.workflow.indices() {
            if self.workflow.task(index).role != TaskRole::Step {
                continue;
            }
            match self.view.task(index).state {
                // Repeated at every decision until the attempt reports: stopping an attempt
                // twice is harmless, and nothing durable says it was asked before.
                TaskState::Running { attempt, .. } => self.actions.push(Action::Kill {
                    task: index,
                    attempt,
                }),
                TaskState::UpForRetry { attempt, .. } => self.update(index, |instance| {
                    instance.state = TaskState::Failed {
                        attempt,
                        finished_at: now,
                    };
                }),
                TaskState::Pending | TaskState::Queued { .. } => {
                    self.update(index, |instance| instance.state = TaskState::UpstreamFailed)
                }
                _ => {}
            }
        }
    }

    /// Runs `on_deadline_miss` when the deadline has passed and some step is not done.
    fn check_deadline(&mut self) {
        if !matches!(self.view.run, RunState::Running { .. }) || self.view.unfinished_steps() == 0 {
            return;
        }
        let Some(handler) = self.workflow.handler(HandlerKind::OnDeadlineMiss) else {
            return;
        };
        if self.view.task(handler).state != TaskState::Pending {
            return; // It ran already, or is running: once per run.
        }
        if self
            .workflow
            .deadline_at(self.view.interval)
            .is_some_and(|deadline| self.context.now >= deadline)
        {
            self.make_ready(handler);
            self.notify(NotificationEvent::OnDeadlineMiss, None);
        }
    }

    /// Decides every pending task whose upstreams changed, until nothing more changes.
    fn evaluate(&mut self) {
        if !matches!(self.view.run, RunState::Running { .. }) {
            return;
        }
        while let Some(index) = self.to_evaluate.pop() {
            self.is_queued_for_evaluation[index.get()] = false;
            let task = self.workflow.task(index);
            if task.role != TaskRole::Step || self.view.task(index).state != TaskState::Pending {
                continue;
            }
            match task.trigger.evaluate(self.view.tally(index)) {
                None => {}
                Some(Verdict::Run) => self.make_ready(index),
                Some(Verdict::Skip) => {
                    self.update(index, |instance| instance.state = TaskState::Skipped)
                }
                Some(Verdict::UpstreamFailed) => {
                    self.update(index, |instance| instance.state = TaskState::UpstreamFailed)
                }
            }
        }
    }

    /// Queues a task, or completes it at once when there is nothing to run (`empty`).
    fn make_ready(&mut self, index: TaskIndex) {
        let now = self.context.now;
        let attempt = Attempt(self.view.task(index).last_attempt + 1);
        match self.workflow.task(index).action {
            TaskAction::Empty => self.update(index, |instance| {
                instance.state = TaskState::Succeeded {
                    attempt,
                    finished_at: now,
                };
                instance.last_attempt = attempt.0;
            }),
            _ => self.update(index, |instance| {
                instance.state = TaskState::Queued {
                    attempt,
                    since: now,
                };
            }),
        }
    }

    /// Once every step is done: run the matching handler, then end the run.
    fn finish_run(&mut self) {
        let RunState::Running { started_at } = self.view.run else {
            return;
        };
        if self.view.unfinished_steps() > 0 {
            return;
        }
        let now = self.context.now;
        let mut is_cancelled = false;
        let mut is_failed = false;
        for index in self.workflow.indices() {
            if self.workflow.task(index).role != TaskRole::Step {
                continue;
            }
            match self.view.task(index).state {
                TaskState::Cancelled => is_cancelled = true,
                TaskState::Failed { .. } | TaskState::UpstreamFailed => is_failed = true,
                _ => {}
            }
        }
        let (wanted, unwanted) = if is_failed {
            (Some(HandlerKind::OnFailure), Some(HandlerKind::OnSuccess))
        } else {
            (Some(HandlerKind::OnSuccess), Some(HandlerKind::OnFailure))
        };
        let (wanted, unwanted) = if is_cancelled {
            (None, None)
        } else {
            (wanted, unwanted)
        };
        if is_cancelled {
            for kind in HandlerKind::ALL {
                if let Some(handler) = self.workflow.handler(kind)
                    && matches!(
                        self.view.task(handler).state,
                        TaskState::Pending
                            | TaskState::Queued { .. }
                            | TaskState::UpForRetry { .. }
                    )
                {
                    self.update(handler, |instance| instance.state = TaskState::Cancelled);
                }
            }
        } else if let Some(handler) = self.workflow.handler(HandlerKind::OnDeadlineMiss)
            && self.view.task(handler).state == TaskState::Pending
        {
            // The steps are done and the deadline has not passed (or it would have run):
            // it was met. Skipped, not left pending, so that the view says so.
            self.update(handler, |instance| instance.state = TaskState::Skipped);
        }
        if let Some(handler) = unwanted.and_then(|kind| self.workflow.handler(kind))
            && self.view.task(handler).state == TaskState::Pending
        {
            self.update(handler, |instance| instance.state = TaskState::Skipped);
        }
        if let Some(handler) = wanted.and_then(|kind| self.workflow.handler(kind)) {
            if self.view.task(handler).state == TaskState::Pending {
                self.make_ready(handler);
            }
            if !self.view.task(handler).state.is_terminal() {
                return;
            }
        }
        // E.g. `on_deadline_miss`, which may still be queued or waiting for a retry.
        let is_busy = self.view.tasks().iter().any(|instance| {
            matches!(
                instance.state,
                TaskState::Running { .. } | TaskState::Queued { .. } | TaskState::UpForRetry { .. }
            )
        });
        if is_busy {
            return;
        }
        let finished = if is_cancelled {
            RunState::Cancelled {
                started_at,
                finished_at: now,
            }
        } else if is_failed {
            self.notify(NotificationEvent::OnFailure, None);
            RunState::Failed {
                started_at,
                finished_at: now,
            }
        } else {
            self.notify(NotificationEvent::OnSuccess, None);
            RunState::Succeeded {
                started_at,
                finished_at: now,
            }
        };
        self.set_run(finished);
    }

    /// Records that the workflow's notification for `event` is due, if it has one. Once per run
    /// and event (per retried attempt for `on_retry`): the store keeps the first record of a
    /// key, so a resumed run that ends the same way again sends nothing more.
    fn notify(&mut self, event: NotificationEvent, retried: Option<(crate::TaskName, Attempt)>) {
        if self.workflow.is_notified(event) {
            self.changes.push(Change::Notify {
                key: NotificationKey { event, retried },
                at: self.context.now,
            });
        }
    }

    fn set_run(&mut self, state: RunState) {
        self.view.run = state.clone();
        self.changes.push(Change::Run(state));
    }

    fn update(&mut self, index: TaskIndex, edit: impl FnOnce(&mut TaskInstance)) {
        let mut instance = self.view.task(index).clone();
        edit(&mut instance);
        let was_terminal = self.view.task(index).state.is_terminal();
        let is_terminal = instance.state.is_terminal();
        self.changes.push(Change::Task {
            task: self.workflow.task(index).name.clone(),
            instance: instance.clone(),
        });
        self.view.set_task(self.workflow, index, instance);
        if was_terminal != is_terminal {
            for &down in self.workflow.dag().downstream(index) {
                self.mark_for_evaluation(down);
            }
        }
    }

    fn mark_for_evaluation(&mut self, index: TaskIndex) {
        if !std::mem::replace(&mut self.is_queued_for_evaluation[index.get()], true) {
            self.to_evaluate.push(index);
        }
    }
}

/// A deterministic sample in `[0, 1)` from the seed, the task and the attempt (SplitMix64).
fn jitter_sample(seed: u64, task: TaskIndex, attempt: Attempt) -> f64 {
    let mut value = seed ^ (u64::from(task.0) << 32) ^ u64::from(attempt.0);
    value = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    value = (value ^ (value >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    value ^= value >> 31;
    (value >> 11) as f64 / (1u64 << 53) as f64
}

fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}
