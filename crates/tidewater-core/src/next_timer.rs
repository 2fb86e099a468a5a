use crate::{HandlerKind, RunState, RunView, TaskRole, TaskState, Timestamp, Workflow};

/// When time alone will next change what [`crate::decide`] does for a run: the engine sleeps
/// until then (or until something else happens) and sends [`crate::Event::Tick`].
///
/// That is the earliest of:
/// - the end of a retry delay (`up_for_retry`), even one already over: only a `Tick` queues
///   the retry;
/// - the run's `timeout`, while some step is not done;
/// - the run's `deadline`, while some step is not done and `on_deadline_miss` has not run.
///
/// `now` is the instant `view` was decided at. A timeout at or before it has been acted on
/// by that decision (unless steps still wait to start, e.g. when `view` was decided earlier),
/// so it is not returned again: a run whose killed steps take a while to report would
/// otherwise wake in a loop. `None` when no timer is needed, e.g. for a run that is not
/// running.
pub fn next_timer(workflow: &Workflow, view: &RunView, now: Timestamp) -> Option<Timestamp> {
    let RunState::Running { started_at } = view.run else {
        return None;
    };
    let retry = view
        .tasks()
        .iter()
        .filter_map(|instance| match instance.state {
            TaskState::UpForRetry { not_before, .. } => Some(not_before),
            _ => None,
        })
        .min();
    if view.unfinished_steps() == 0 {
        return retry;
    }
    let timeout = workflow.timeout_at(started_at).filter(|&timeout| {
        timeout > now
            || workflow.indices().any(|index| {
                workflow.task(index).role == TaskRole::Step
                    && matches!(
                        view.task(index).state,
                        TaskState::Pending
                            | TaskState::Queued { .. }
                            | TaskState::UpForRetry { .. }
                    )
            })
    });
    let deadline = workflow
        .handler(HandlerKind::OnDeadlineMiss)
        .filter(|&handler| view.task(handler).state == TaskState::Pending)
        .and_then(|_| workflow.deadline_at(view.interval));
    [retry, timeout, deadline].into_iter().flatten().min()
}
