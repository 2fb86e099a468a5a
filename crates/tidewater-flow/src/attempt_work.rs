//! What every attempt of a warehouse task shares: its log, its report, its stop signal and
//! its timeout.

use std::sync::Arc;

use tidewater_core::{AttemptOutcome, FailureClass, FailureReason};
use tidewater_runner::{AttemptControl, AttemptLog, AttemptReporter, StartRequest, StartedAttempt};
use tokio::sync::oneshot;

use crate::FlowError;
use crate::sql_lineage::SqlLineage;

/// The parts every warehouse attempt shares: its log, its report channel, its stop signal.
pub(crate) struct AttemptWork {
    pub(crate) log: AttemptLog,
    reporter: AttemptReporter,
    clock: Arc<dyn tidewater_runner::Clock>,
    deadline: Option<tidewater_core::Timestamp>,
    /// Where the attempt's start and end go, when `[lineage]` is configured.
    lineage: Option<SqlLineage>,
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
            lineage: None,
        })
    }

    /// Sends the attempt's start and end to `lineage`.
    pub(crate) fn with_lineage(mut self, lineage: Option<SqlLineage>) -> AttemptWork {
        self.lineage = lineage;
        self
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
        mut self,
        work: impl std::future::Future<Output = Result<(String, serde_json::Value), FlowError>>
        + Send
        + 'static,
    ) -> StartedAttempt {
        let (stop_sender, stop) = oneshot::channel::<()>();
        let lineage = self.lineage.take();
        tokio::spawn(async move {
            let start_delivery = lineage.as_ref().map(SqlLineage::send_start);
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
            // Before the report: a foreground `run` may exit as soon as the run ends.
            if let (Some(lineage), Some(start)) = (lineage, start_delivery) {
                lineage.send_end(start, &outcome, &self.log).await;
            }
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
