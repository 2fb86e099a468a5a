//! Shows a run's progress: a live line on a terminal, one line per state change otherwise.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tidewater_core::{
    Attempt, AttemptOutcome, Change, FailureReason, RunId, RunState, RunView, TaskState, Workflow,
};
use tidewater_engine::RunObserver;

pub(crate) enum Progress {
    Live(ProgressBar),
    Lines,
}

impl Progress {
    pub(crate) fn new() -> Progress {
        if crate::output::is_interactive() {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            Progress::Live(bar)
        } else {
            Progress::Lines
        }
    }

    pub(crate) fn finish(&self) {
        if let Progress::Live(bar) = self {
            bar.finish_and_clear();
        }
    }
}

impl RunObserver for Progress {
    fn changed(&self, run: RunId, workflow: &Workflow, changes: &[Change], view: &RunView) {
        match self {
            Progress::Live(bar) => {
                for change in changes {
                    if let Some(line) = describe_lost(change) {
                        bar.println(line);
                    }
                    if let Change::Task { task, instance } = change
                        && matches!(
                            instance.state,
                            TaskState::Failed { .. } | TaskState::UpForRetry { .. }
                        )
                    {
                        bar.println(describe_task(
                            task.as_str(),
                            &instance.state,
                            workflow.timezone,
                        ));
                    }
                }
                bar.set_message(summary(view));
            }
            Progress::Lines => {
                let mut text = String::new();
                for change in changes {
                    match change {
                        Change::Task { task, instance } => {
                            text.push_str(&describe_task(
                                task.as_str(),
                                &instance.state,
                                workflow.timezone,
                            ));
                            text.push('\n');
                        }
                        Change::Run(state) => {
                            text.push_str(&format!("run {run} {}\n", state.name()));
                        }
                        _ => {
                            if let Some(line) = describe_lost(change) {
                                text.push_str(&line);
                                text.push('\n');
                            }
                        }
                    }
                }
                eprint!("{}", crate::output::redact(&text));
            }
        }
    }
}

pub(crate) fn describe_task(task: &str, state: &TaskState, timezone: chrono_tz::Tz) -> String {
    match state {
        TaskState::Queued { attempt, .. } | TaskState::Running { attempt, .. } if attempt.0 > 1 => {
            format!("{task} {} (attempt {attempt})", state.name())
        }
        TaskState::Failed { attempt, .. } => format!("{task} failed (attempt {attempt})"),
        TaskState::UpForRetry {
            attempt,
            not_before,
        } => format!(
            "{task} attempt {attempt} failed; retrying at {}",
            tidewater_control::local_time::seconds(*not_before, timezone)
        ),
        _ => format!("{task} {}", state.name()),
    }
}

/// A line for an attempt that Tidewater lost (its supervising process died, or stopped it),
/// which the task's state alone would show as an ordinary new attempt or failure.
pub(crate) fn describe_lost(change: &Change) -> Option<String> {
    let Change::AttemptFinished {
        task,
        attempt,
        outcome: AttemptOutcome::Failed { reason },
        ..
    } = change
    else {
        return None;
    };
    describe_lost_reason(task.as_str(), *attempt, reason)
}

fn describe_lost_reason(task: &str, attempt: Attempt, reason: &FailureReason) -> Option<String> {
    if reason.is_lost() {
        Some(format!(
            "{task} attempt {attempt} {reason}; starting it again (a lost attempt uses no retry)"
        ))
    } else if matches!(reason, FailureReason::LostTooOften { .. }) {
        Some(format!("{task} attempt {attempt} {reason}"))
    } else {
        None
    }
}

/// `3 waiting · 2 running · 10 done · 1 failed`
pub(crate) fn summary(view: &RunView) -> String {
    let (mut waiting, mut running, mut done, mut failed) = (0, 0, 0, 0);
    for instance in view.tasks() {
        match instance.state {
            TaskState::Pending | TaskState::Queued { .. } | TaskState::UpForRetry { .. } => {
                waiting += 1
            }
            TaskState::Running { .. } => running += 1,
            TaskState::Succeeded { .. } | TaskState::Skipped => done += 1,
            TaskState::Failed { .. } | TaskState::UpstreamFailed | TaskState::Cancelled => {
                failed += 1
            }
        }
    }
    let state = match view.run {
        RunState::Running { .. } => String::new(),
        ref other => format!(" — {}", other.name()),
    };
    format!("{waiting} waiting · {running} running · {done} done · {failed} failed{state}")
}
