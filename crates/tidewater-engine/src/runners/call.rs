//! `call`: runs another workflow as a child run of the task's run, and ends as the child
//! ends. Like `wait` it holds no task-queue slot while it waits (the child's own tasks take
//! slots). The child is found or created through [`ChildRuns`], which keeps one child per
//! calling run and task: a second attempt of the task (a retry, a recovery after a crash,
//! `tidewater retry` of the parent) follows the same child run, resumed if it failed.

use std::sync::Arc;
use std::time::Duration;

use tidewater_core::{AttemptOutcome, CallAction, FailureClass, FailureReason, RunId};
use tokio::sync::oneshot;

use crate::{
    AttemptControl, AttemptLog, AttemptReporter, ChildEnd, ChildRequest, ChildRuns, StartRequest,
    StartedAttempt, TaskRunner,
};

/// How often a call looks at its child run. The look is one read of one run by its key;
/// half a second keeps a child's end from delaying the parent noticeably.
const LOOK_INTERVAL: Duration = Duration::from_millis(500);
/// How long a stopped call waits for its cancelled child to end before reporting: the
/// child's tasks get their kill grace (10 s) and a server looks at cancel requests every 2 s.
const CANCEL_WAIT: Duration = Duration::from_secs(60);

/// Runs `call` tasks through the installed [`ChildRuns`]; without one such a task fails to
/// start with a message saying so (e.g. `tidewater test`, which has no store).
#[derive(Default)]
pub struct CallRunner {
    child_runs: Option<Arc<dyn ChildRuns>>,
}

impl CallRunner {
    pub fn new(child_runs: Arc<dyn ChildRuns>) -> CallRunner {
        CallRunner {
            child_runs: Some(child_runs),
        }
    }
}

impl TaskRunner<CallAction> for CallRunner {
    fn start(
        &self,
        action: &CallAction,
        request: StartRequest<'_>,
        reporter: AttemptReporter,
    ) -> StartedAttempt {
        let attempt = request.attempt;
        // The log redacts the project's secrets, as every runner's does (a param may be one).
        let Some((log, reporter)) = AttemptLog::for_request(&request, reporter) else {
            return StartedAttempt::finished();
        };
        let Some(child_runs) = self.child_runs.clone() else {
            let message = "calling a workflow needs the run store, which is not open here (`tidewater test` runs one task without one); run the workflow instead";
            log.note(message);
            log.flush();
            reporter.could_not_start(FailureClass::Input, message);
            return StartedAttempt::finished();
        };
        let child_request = match render(action, &request) {
            Ok(child_request) => child_request,
            Err(message) => {
                log.note(&message);
                log.flush();
                reporter.could_not_start(FailureClass::Input, message);
                return StartedAttempt::finished();
            }
        };
        let workflow = action.workflow.clone();
        let (stop_sender, mut stop) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let child = match child_runs.start_child(child_request).await {
                Ok(child) => child,
                Err(error) => {
                    log.note(format!("attempt {attempt}: {}", error.message));
                    log.flush();
                    reporter.could_not_start(error.class, error.message);
                    return;
                }
            };
            log.note(format!(
                "attempt {attempt}: waiting for child run {child} of workflow {workflow}"
            ));
            log.flush();
            let outcome = tokio::select! {
                outcome = follow(&*child_runs, child) => outcome,
                Ok(()) = &mut stop => {
                    log.note(format!("stopped: cancelling child run {child}"));
                    log.flush();
                    child_runs.cancel_child(child).await;
                    // Reported once the child has ended, so that the process executing the
                    // parent does not end (and leave the child orphaned) while it stops.
                    let _ = tokio::time::timeout(CANCEL_WAIT, follow(&*child_runs, child)).await;
                    AttemptOutcome::Failed { reason: FailureReason::Cancelled }
                }
            };
            match &outcome {
                AttemptOutcome::Succeeded { .. } => {
                    log.note(format!("child run {child} succeeded"));
                }
                AttemptOutcome::Failed { reason } => log.note(format!("failed: {reason}")),
            }
            log.flush();
            let outcome = outcome.with_log_error(log.write_error());
            reporter.report(outcome);
        });
        StartedAttempt {
            process: None,
            control: AttemptControl::new(stop_sender),
        }
    }
}

/// Looks at the child until it ends. A failed look (the store busy, say) is tried again at
/// the next look: the child goes on meanwhile.
async fn follow(child_runs: &dyn ChildRuns, child: RunId) -> AttemptOutcome {
    loop {
        match child_runs.child_end(child).await {
            Ok(Some(ChildEnd::Succeeded)) => {
                return AttemptOutcome::Succeeded {
                    output: None,
                    log_error: None,
                };
            }
            Ok(Some(ChildEnd::Failed { message })) => {
                return AttemptOutcome::Failed {
                    // The child's tasks had their own retries; what failed is theirs to fix
                    // or to retry, not something another attempt of the call would change
                    // unless asked (a retry of the call resumes the same child).
                    reason: FailureReason::TaskError {
                        message,
                        class: FailureClass::Task,
                    },
                };
            }
            Ok(None) | Err(_) => tokio::time::sleep(LOOK_INTERVAL).await,
        }
    }
}

fn render(action: &CallAction, request: &StartRequest<'_>) -> Result<ChildRequest, String> {
    let render = |template: &str| {
        request
            .template
            .render(template)
            .map_err(|error| format!("cannot render the template `{template}`: {error}"))
    };
    let params = action
        .params
        .iter()
        .map(|(name, value)| {
            Ok((
                name.clone(),
                tidewater_spec::render_json_strings(value, &render)?,
            ))
        })
        .collect::<Result<_, String>>()?;
    Ok(ChildRequest {
        parent: request.template.run_id,
        task: request.task.name.clone(),
        workflow: action.workflow.clone(),
        interval: request.template.interval,
        date: action.date.as_deref().map(render).transpose()?,
        params,
    })
}
