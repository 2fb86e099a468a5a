//! What every attempt of a warehouse task shares: its log, its report, its stop signal and
//! its timeout.

use std::sync::Arc;

use tidewater_core::{AttemptOutcome, FailureClass, FailureReason};
use tidewater_runner::{AttemptControl, AttemptLog, AttemptReporter, StartRequest, StartedAttempt};
use tokio::sync::oneshot;

use crate::FlowError;

/// The parts every warehouse attempt shares: its log, its report channel, its stop signal.
pub(crate) struct AttemptWork {
    pub(crate) log: AttemptLog,
    reporter: AttemptReporter,
    clock: Arc<dyn tidewater_runner::Clock>,
    deadline: Option<tidewater_core::Timestamp>,
}

impl AttemptWork {
    pub(crate) fn new(
        request: &StartRequest<'_>,
        reporter: AttemptReporter,
    ) -> Option<AttemptWork> {
        let (log, reporter) = AttemptLog::for_request(request, reporter)?;
        Some(AttemptWork {
            log,
            reporter,
            clock: request.clock.clone(),
            deadline: request.deadline(),
        })
    }

    /// Ends the attempt before its work starts, for `message`; `class` says who must act.
    pub(crate) fn fail_now(self, class: FailureClass, message: String) {
        self.log.note(&message);
        self.log.flush();
        self.reporter.could_not_start(class, message);
    }

    /// Runs the work until it ends, the task's timeout passes, or the attempt is stopped.
    /// Stopping drops the work: a Delta commit is all or nothing, so the table is left as it
    /// was before or as the finished commit made it, never in between.
    pub(crate) fn spawn(
        self,
        work: impl std::future::Future<Output = Result<(String, serde_json::Value), FlowError>>
        + Send
        + 'static,
    ) -> StartedAttempt {
        let (stop_sender, stop) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let clock = self.clock.clone();
            let timed_out = async {
                match self.deadline {
                    Some(deadline) => clock.sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            };
            let outcome = tokio::select! {
                result = work => match result {
                    Ok((note, output)) => {
                        self.log.note(note);
                        AttemptOutcome::Succeeded { output: Some(output), log_error: None }
                    }
                    Err(error) => {
                        let message = error.to_string();
                        self.log.note(format!("failed: {message}"));
                        // The class decides whether the task is tried again: a typo in
                        // its SQL is not.
                        let class = error.class().into();
                        AttemptOutcome::Failed { reason: FailureReason::TaskError { message, class } }
                    }
                },
                () = timed_out => {
                    self.log.note("timed out; the table is left as it was");
                    AttemptOutcome::Failed { reason: FailureReason::TimedOut }
                }
                Ok(()) = stop => {
                    self.log.note("stopped; the table is left as it was");
                    AttemptOutcome::Failed { reason: FailureReason::Cancelled }
                }
            };
            self.log.flush();
            let outcome = outcome.with_log_error(self.log.write_error());
            self.reporter.report(outcome);
        });
        StartedAttempt {
            process: None,
            control: AttemptControl::new(stop_sender),
        }
    }
}
