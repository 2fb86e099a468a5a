//! `wait`: a sensor that checks a condition every `poke_interval` until it holds or the
//! task's timeout passes. It holds no task-queue slot (the executor admits it directly).
//! The condition is a table partition ([`PartitionProbe`]), a file, or a succeeded run of
//! another workflow for the same data interval ([`RunProbe`]).

use std::sync::Arc;
use std::time::Duration;

use tidewater_core::{
    AttemptOutcome, DataInterval, FailureClass, FailureReason, RunState, WaitAction, WaitCondition,
    WorkflowName,
};
use tidewater_store::ControlStore;
use tokio::sync::oneshot;

use crate::{
    AttemptControl, AttemptLog, AttemptReporter, PartitionProbe, RunProbe, StartRequest,
    StartedAttempt, TaskRunner,
};

/// A sensor without a `timeout` gives up after this long.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// A [`RunProbe`] that reads the runs of a [`ControlStore`]: any run of the workflow (scheduled,
/// manual or backfill) whose interval is exactly the one asked for, and that succeeded.
pub struct StoreRunProbe<S: ControlStore + ?Sized> {
    store: Arc<S>,
}

impl<S: ControlStore + ?Sized> StoreRunProbe<S> {
    pub fn new(store: Arc<S>) -> StoreRunProbe<S> {
        StoreRunProbe { store }
    }
}

#[async_trait::async_trait]
impl<S: ControlStore + ?Sized> RunProbe for StoreRunProbe<S> {
    async fn has_succeeded_run(
        &self,
        workflow: &WorkflowName,
        interval: DataInterval,
    ) -> Result<bool, String> {
        // The runs whose interval starts where this one does (an indexed lookup).
        let runs = self
            .store
            .runs_in_range(
                workflow,
                interval.start,
                interval.start + chrono::Duration::microseconds(1),
            )
            .await
            .map_err(|error| error.to_string())?;
        Ok(runs
            .iter()
            .any(|run| run.interval == interval && matches!(run.state, RunState::Succeeded { .. })))
    }
}

/// Runs `wait` tasks. Conditions on tables and on other workflows' runs need a probe
/// installed by whoever knows the warehouse or the store; without one such a task fails to
/// start with a message saying so.
#[derive(Default)]
pub struct WaitRunner {
    partition_probe: Option<Arc<dyn PartitionProbe>>,
    run_probe: Option<Arc<dyn RunProbe>>,
}

impl WaitRunner {
    pub fn new(
        partition_probe: Option<Arc<dyn PartitionProbe>>,
        run_probe: Option<Arc<dyn RunProbe>>,
    ) -> WaitRunner {
        WaitRunner {
            partition_probe,
            run_probe,
        }
    }
}

/// A condition with its templates rendered.
enum Check {
    Partition {
        table: String,
        partition: Vec<(String, String)>,
    },
    Path {
        pattern: String,
    },
    Run {
        workflow: WorkflowName,
        interval: DataInterval,
    },
}

impl TaskRunner<WaitAction> for WaitRunner {
    fn start(
        &self,
        action: &WaitAction,
        request: StartRequest<'_>,
        reporter: AttemptReporter,
    ) -> StartedAttempt {
        let attempt = request.attempt;
        let Some((log, reporter)) = AttemptLog::for_request(&request, reporter) else {
            return StartedAttempt::finished();
        };
        let check = match render(&action.condition, &request) {
            Ok(check) => check,
            Err(message) => {
                log.note(&message);
                log.flush();
                reporter.could_not_start(FailureClass::Input, message);
                return StartedAttempt::finished();
            }
        };
        let partition_probe = self.partition_probe.clone();
        let run_probe = self.run_probe.clone();
        let missing = match check {
            Check::Partition { .. } if partition_probe.is_none() => Some(
                "waiting for a table partition needs the warehouse, which this build has not set up; this is a bug in tidewater",
            ),
            Check::Run { .. } if run_probe.is_none() => Some(
                "waiting for a run of another workflow needs the run store, which this build has not set up; this is a bug in tidewater",
            ),
            _ => None,
        };
        if let Some(message) = missing {
            log.note(message);
            log.flush();
            reporter.could_not_start(FailureClass::Bug, message);
            return StartedAttempt::finished();
        }
        let clock = request.clock.clone();
        let poke = chrono::Duration::from_std(action.poke_interval)
            .unwrap_or(chrono::Duration::seconds(30));
        let timeout = request.task.timeout.unwrap_or(DEFAULT_TIMEOUT);
        // A timeout beyond the calendar's range never runs out.
        let deadline = request
            .deadline_after(timeout)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
        let root = request.project_root.to_path_buf();
        let (stop_sender, mut stop) = oneshot::channel::<()>();
        log.note(format!(
            "attempt {attempt}: waiting for {}",
            describe(&check)
        ));
        tokio::spawn(async move {
            let outcome = loop {
                let satisfied = match &check {
                    Check::Partition { table, partition } => match &partition_probe {
                        Some(probe) => probe.has_partition(table, partition).await,
                        None => Err("no partition probe".to_owned()),
                    },
                    Check::Path { pattern } => path_exists(&root, pattern),
                    Check::Run { workflow, interval } => match &run_probe {
                        Some(probe) => probe.has_succeeded_run(workflow, *interval).await,
                        None => Err("no run probe".to_owned()),
                    },
                };
                match satisfied {
                    Ok(true) => {
                        log.note("the condition holds");
                        break AttemptOutcome::Succeeded {
                            output: None,
                            log_error: None,
                        };
                    }
                    Ok(false) => log.note("not yet"),
                    // A probe error (e.g. a table that cannot be read yet) is logged and retried
                    // at the next poke: the sensor's job is to wait through such states.
                    Err(message) => log.note(format!("check failed, will check again: {message}")),
                }
                log.flush();
                let now = clock.now();
                if now >= deadline {
                    break AttemptOutcome::Failed {
                        reason: FailureReason::TimedOut,
                    };
                }
                let next = (now + poke).min(deadline);
                tokio::select! {
                    () = clock.sleep_until(next) => {}
                    Ok(()) = &mut stop => break AttemptOutcome::Failed { reason: FailureReason::Cancelled },
                }
            };
            if let AttemptOutcome::Failed { reason } = &outcome {
                log.note(format!("failed: {reason}"));
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

fn render(condition: &WaitCondition, request: &StartRequest<'_>) -> Result<Check, String> {
    let render = |template: &str| {
        request
            .template
            .render(template)
            .map_err(|error| format!("cannot render the template `{template}`: {error}"))
    };
    Ok(match condition {
        WaitCondition::Partition { table, partition } => Check::Partition {
            table: table.to_string(),
            partition: partition
                .iter()
                .map(|(column, value)| Ok((column.clone(), render(value)?)))
                .collect::<Result<_, String>>()?,
        },
        WaitCondition::Path { pattern } => Check::Path {
            pattern: render(pattern)?,
        },
        WaitCondition::Workflow { workflow } => Check::Run {
            workflow: workflow.clone(),
            interval: request.template.interval,
        },
    })
}

fn describe(check: &Check) -> String {
    match check {
        Check::Partition { table, partition } => {
            let values: Vec<String> = partition
                .iter()
                .map(|(column, value)| format!("{column} = {value}"))
                .collect();
            format!("partition {} of {table}", values.join(", "))
        }
        Check::Path { pattern } => format!("a file matching {pattern}"),
        Check::Run { workflow, interval } => {
            format!("a succeeded run of workflow {workflow} for {interval}")
        }
    }
}

/// Whether any file matches `pattern` (relative to the project root unless absolute).
fn path_exists(root: &std::path::Path, pattern: &str) -> Result<bool, String> {
    let full = if std::path::Path::new(pattern).is_absolute() {
        pattern.to_owned()
    } else {
        root.join(pattern).display().to_string()
    };
    let mut matches =
        glob::glob(&full).map_err(|error| format!("bad pattern `{pattern}`: {error}"))?;
    Ok(matches.any(|entry| entry.is_ok()))
}
