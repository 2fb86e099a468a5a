//! `sh`: a shell command in a process group of its own, its output logged line by line
//! with timestamps.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use nix::sys::signal::Signal;
use tidewater_core::{AttemptOutcome, FailureReason, TaskAction};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::{mpsc, oneshot};

use crate::process::{process_identity, signal_group};
use crate::task_process::{self, ProcessSpec, TaskProcess};
use crate::{
    AttemptControl, AttemptLog, AttemptReport, AttemptReporter, StartRequest, StartedAttempt,
    TaskRunner, could_not_start,
};

/// The largest `$TIDEWATER_OUTPUT` accepted: outputs are small values passed to templates,
/// not a data channel.
const MAX_OUTPUT_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Default)]
pub struct ShRunner {
    /// The log folder this runner made (or found) last. The attempts of a run share one, so
    /// all but a run's first attempt skip making it again (a `mkdir` and a `stat`). One
    /// folder only, so that a long-lived server does not gather one entry per run. Should
    /// someone delete the folder meanwhile, creating the attempt's log file makes it again
    /// right after the process starts, normally long before the shell writes its output; a
    /// shell that is first fails its attempt with the error in the log.
    last_folder: Mutex<Option<PathBuf>>,
    /// Logs of finished attempts, complete but not yet written out: see [`ShRunner::settle`].
    finished_logs: Arc<Mutex<Vec<AttemptLog>>>,
}

impl ShRunner {
    /// Writes out and closes the logs of the attempts reported since the last call. An
    /// attempt's log gets its last line before the attempt is reported, and is written out
    /// here, after the executor has acted on the report, so that the write and the close are
    /// not between one task's end and the next one's start. (A log still here when the runner
    /// is dropped is written out then.)
    pub fn settle(&self) {
        let logs = std::mem::take(
            &mut *self
                .finished_logs
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        for log in logs {
            log.flush();
        }
    }

    /// Makes `folder` unless it is the folder made last.
    fn make_folder(&self, folder: &Path) -> std::io::Result<()> {
        let mut last = self
            .last_folder
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if last.as_deref() == Some(folder) {
            return Ok(());
        }
        std::fs::create_dir_all(folder)?;
        *last = Some(folder.to_path_buf());
        Ok(())
    }
}

impl TaskRunner for ShRunner {
    fn start(
        &self,
        request: StartRequest<'_>,
        done: mpsc::UnboundedSender<AttemptReport>,
    ) -> StartedAttempt {
        let attempt = request.attempt;
        let reporter = AttemptReporter::new(&request, done);
        let TaskAction::Sh { command } = &request.task.action else {
            reporter.could_not_start(
                "the sh runner was given a task of another kind; this is a bug in tidewater",
            );
            return StartedAttempt::finished();
        };
        // The process starts before its log file is created (its output waits in the pipes
        // meanwhile), so that creating the file (an inode) is not between the decision and the
        // start. In a chain of short tasks it is on the critical path all the same: the
        // executor and the task take turns on one core (BENCHMARKS.md).
        let command = match request.template.render(command) {
            Ok(command) => command,
            Err(error) => {
                let message = format!("cannot render the command template: {error}");
                return not_started(&request.paths.log, &message, &reporter);
            }
        };
        // `$TIDEWATER_OUTPUT` lives in the log folder, which must exist before the process
        // can write there.
        if let Some(folder) = request.paths.output.parent()
            && let Err(error) = self.make_folder(folder)
        {
            let message = format!("cannot create the log folder {}: {error}", folder.display());
            return not_started(&request.paths.log, &message, &reporter);
        }
        let _ = std::fs::remove_file(&request.paths.output);

        let mut env: Vec<(OsString, OsString)> = request
            .template
            .env_vars()
            .into_iter()
            .chain(request.env.iter().cloned())
            .map(|(key, value)| (key.into(), value.into()))
            .collect();
        env.push((
            "TIDEWATER_OUTPUT".into(),
            request.paths.output.clone().into(),
        ));
        // A group of its own: a timeout or stop reaches every process the command started,
        // and a Ctrl-C at the terminal reaches only Tidewater, which then stops its tasks in
        // order. Started with vfork semantics, without copying this process's memory.
        let spec = ProcessSpec {
            program: "/bin/sh",
            args: &["-c", &command],
            env,
            dir: request.project_root,
        };
        let mut child = match task_process::spawn(&spec) {
            Ok(child) => child,
            Err(error) => {
                let message = format!("cannot start /bin/sh: {error}");
                return not_started(&request.paths.log, &message, &reporter);
            }
        };
        let log = match AttemptLog::create(&request.paths.log) {
            Ok(log) => log,
            Err(error) => {
                let message = format!(
                    "cannot create the log file {}: {error}",
                    request.paths.log.display()
                );
                // An attempt without a log is not started: its output would be lost. The
                // process already runs, and must not outlive the attempt unsupervised.
                tokio::spawn(async move {
                    signal_group(child.pid(), Signal::SIGKILL);
                    let _ = child.wait().await;
                    reporter.could_not_start(message);
                });
                // Reported once the process is reaped; there is nothing left to stop.
                return StartedAttempt::finished();
            }
        };
        // Written before the supervising task below copies any output line, so it stays the
        // log's first line.
        log.note(format!("attempt {attempt}: sh -c {command:?}"));
        let pid = child.pid();
        let identity = process_identity(pid);
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let (stop_sender, stop) = oneshot::channel();
        let clock = request.clock.clone();
        let deadline = request.deadline();
        let kill_grace = request.kill_grace;
        let output_path = request.paths.output.clone();
        let finished_logs = self.finished_logs.clone();
        // One task per attempt: it waits for the process and copies both of its streams,
        // rather than a task per stream, which cost two more spawns and wake-ups per attempt.
        tokio::spawn(async move {
            let started = Instant::now();
            let supervise = async {
                let timed_out = async {
                    match deadline {
                        Some(deadline) => clock.sleep_until(deadline).await,
                        None => std::future::pending().await,
                    }
                };
                let mut forced: Option<FailureReason> = None;
                let status = tokio::select! {
                    status = child.wait() => status,
                    () = timed_out => {
                        forced = Some(FailureReason::TimedOut);
                        stop_group(&mut child, clock.as_ref(), kill_grace).await
                    }
                    Ok(()) = stop => {
                        forced = Some(FailureReason::Cancelled);
                        stop_group(&mut child, clock.as_ref(), kill_grace).await
                    }
                };
                // Whatever the command left running in its group goes with it: no orphans.
                // This also closes the group's copies of the pipes, so the copies below end.
                signal_group(pid, Signal::SIGKILL);
                (forced, status)
            };
            let ((forced, status), (), ()) = tokio::join!(
                supervise,
                copy_lines(stdout, "out", &log),
                copy_lines(stderr, "err", &log),
            );
            let elapsed = started.elapsed().as_secs_f64();
            let outcome = match (forced, status) {
                (Some(reason), _) => AttemptOutcome::Failed { reason },
                (None, Err(error)) => {
                    could_not_start(format!("cannot wait for the process: {error}"))
                }
                (None, Ok(status)) => outcome_of(status, &output_path),
            };
            let summary = match &outcome {
                AttemptOutcome::Succeeded { .. } => format!("succeeded after {elapsed:.3}s"),
                AttemptOutcome::Failed { reason } => {
                    format!("failed after {elapsed:.3}s: {reason}")
                }
            };
            log.note(&summary);
            finished_logs
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(log);
            reporter.report(outcome);
        });
        StartedAttempt {
            process: identity,
            control: AttemptControl::new(stop_sender),
        }
    }
}

/// SIGTERM to the group, then SIGKILL once the grace period is over.
async fn stop_group(
    child: &mut TaskProcess,
    clock: &dyn crate::Clock,
    grace: std::time::Duration,
) -> std::io::Result<std::process::ExitStatus> {
    let pid = child.pid();
    signal_group(pid, Signal::SIGTERM);
    let deadline = clock.now() + chrono::Duration::from_std(grace).unwrap_or_default();
    tokio::select! {
        status = child.wait() => status,
        () = clock.sleep_until(deadline) => {
            signal_group(pid, Signal::SIGKILL);
            child.wait().await
        }
    }
}

fn outcome_of(status: std::process::ExitStatus, output_path: &std::path::Path) -> AttemptOutcome {
    use std::os::unix::process::ExitStatusExt;
    if let Some(signal) = status.signal() {
        return AttemptOutcome::Failed {
            reason: FailureReason::Signal { signal },
        };
    }
    match status.code() {
        Some(0) => match read_output(output_path) {
            Ok(output) => AttemptOutcome::Succeeded { output },
            Err(message) => AttemptOutcome::Failed {
                reason: FailureReason::BadOutput { message },
            },
        },
        Some(code) => AttemptOutcome::Failed {
            reason: FailureReason::Exit { code },
        },
        None => AttemptOutcome::Failed {
            reason: FailureReason::Exit { code: -1 },
        },
    }
}

/// Reads `$TIDEWATER_OUTPUT`: absent or empty means no output; otherwise a JSON object.
fn read_output(path: &std::path::Path) -> Result<Option<serde_json::Value>, String> {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(format!("cannot read {}: {error}", path.display())),
    };
    if metadata.len() > MAX_OUTPUT_BYTES {
        return Err(format!(
            "{} is {} bytes; the limit is {MAX_OUTPUT_BYTES}",
            path.display(),
            metadata.len()
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(value @ serde_json::Value::Object(_)) => Ok(Some(value)),
        Ok(_) => Err("$TIDEWATER_OUTPUT must hold a JSON object".to_owned()),
        Err(error) => Err(format!("$TIDEWATER_OUTPUT is not valid JSON: {error}")),
    }
}

/// Ends an attempt whose process never started: the reason goes to its log, if the log can be
/// created (the report carries it either way), and to the executor.
fn not_started(
    log_path: &std::path::Path,
    message: &str,
    reporter: &AttemptReporter,
) -> StartedAttempt {
    if let Ok(log) = AttemptLog::create(log_path) {
        log.note(message);
        log.flush();
    }
    reporter.could_not_start(message);
    StartedAttempt::finished()
}

/// Copies a stream to the log line by line until it ends (or at once if there is none).
async fn copy_lines(stream: Option<impl AsyncRead + Unpin>, name: &'static str, log: &AttemptLog) {
    let Some(stream) = stream else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if line.last() == Some(&b'\n') {
                    line.pop();
                }
                log.line(name, &line);
            }
        }
    }
}
