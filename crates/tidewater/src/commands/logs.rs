use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use tidewater_core::{Attempt, RunId, TaskAction, TaskInstance, TaskName, TaskState};
use tidewater_store::RunRecord;
use tokio::signal::unix::{SignalKind, signal};

use crate::Outcome;
use crate::args::LogsArgs;
use crate::output;
use tidewater_control::Control;
use tidewater_control::attempt_log_file::attempt_log_path;

/// How often `--follow` looks at the log file and the store. The engine writes a task's lines
/// as they come; a fifth of a second is quick for a reader and three small store reads per look
/// cost nothing a running task notices.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

pub(super) async fn logs(project: &Path, args: LogsArgs) -> anyhow::Result<Outcome> {
    let context = crate::project_context::open(project).await?;
    let record = context
        .run_record(tidewater_core::RunId(args.run_id))
        .await?;
    let task = TaskName::new(&args.task);
    let instances = context.store.task_instances(record.id).await?;
    if !instances.iter().any(|(name, _)| name == &task) {
        let known: Vec<String> = instances.iter().map(|(name, _)| name.to_string()).collect();
        bail!(
            "run {} has no task `{}` (its tasks: {})",
            record.id,
            task,
            known.join(", ")
        );
    }
    let attempts = context.store.attempts(record.id, Some(&task)).await?;
    let attempt = match args.attempt {
        Some(number) => {
            if !attempts.iter().any(|record| record.attempt.0 == number) {
                bail!(
                    "task `{task}` of run {} has no attempt {number} (it has {})",
                    record.id,
                    attempts.len()
                );
            }
            Some(Attempt(number))
        }
        None => attempts.last().map(|last| last.attempt),
    };
    if args.follow {
        let follower = Follower {
            context: &context,
            run: record.id,
            task: &task,
            is_pinned: args.attempt.is_some(),
        };
        return follower.follow(attempt).await;
    }
    let Some(attempt) = attempt else {
        bail!(
            "{}",
            why_no_log(&context, &record, &task, &instances).await?
        );
    };
    let log = log_path(&context, record.id, &task, attempt);
    let is_running = attempts
        .iter()
        .any(|record| record.attempt == attempt && record.finished.is_none());
    let text = match std::fs::read(&log) {
        // The log is created just after the process starts.
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && is_running => Vec::new(),
        read => read.with_context(|| format!("cannot read the log {}", log.display()))?,
    };
    output::write_stdout(&text);
    if text.is_empty() && is_running {
        // Its first line is written with its first output (or at its end), so that a task
        // printing nothing costs no write of its own.
        output::note(format!(
            "attempt {attempt} of task `{task}` is running and has printed nothing yet"
        ));
    }
    Ok(Outcome::Success)
}

/// Where an attempt's log is.
fn log_path(context: &Control, run: RunId, task: &TaskName, attempt: Attempt) -> PathBuf {
    attempt_log_path(&context.project.config.state_dir, run, task, attempt)
}

/// `logs --follow`: prints an attempt's log as it grows, and stops once the attempt has
/// ended. Without `--attempt` it follows the task rather than one attempt: a retry is a new
/// attempt with a log of its own, printed after the last one's, until the task has finished
/// (succeeded, failed for good, cancelled…), which is what someone watching a task waits for.
struct Follower<'a> {
    context: &'a Control,
    run: RunId,
    task: &'a TaskName,
    /// `--attempt N`: that attempt only.
    is_pinned: bool,
}

/// What the store says about the attempt being followed.
enum Look {
    /// It runs, or the task waits for it (or for its next attempt) to start.
    Going,
    /// It has ended; `next` is the task's newer attempt, if one has started, to follow next.
    Ended { next: Option<Attempt> },
    /// It will never end here: the process running it is gone (killed, or crashed).
    Orphaned,
    /// The task finished without ever starting (upstream failed, cancelled while queued).
    NeverStarted,
}

impl Follower<'_> {
    async fn follow(&self, mut attempt: Option<Attempt>) -> anyhow::Result<Outcome> {
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut printed = 0;
        loop {
            // The store first, the file second: a line written before the end was recorded
            // is then printed before the follower acts on the end.
            let look = self.look(attempt).await?;
            if let Some(current) = attempt {
                printed = print_new(&self.path(current), printed, false)?;
            }
            match look {
                Look::Going => {
                    if attempt.is_none() {
                        attempt = self.latest().await?;
                    }
                }
                Look::Ended { next } => {
                    // The attempt's last lines are written just after its end is recorded
                    // (off the path from one task to the next): give them one more look.
                    if !pause(&mut interrupt).await {
                        return Ok(Outcome::Cancelled);
                    }
                    if let Some(current) = attempt {
                        print_new(&self.path(current), printed, true)?;
                    }
                    match next {
                        Some(next) => {
                            attempt = Some(next);
                            printed = 0;
                            continue;
                        }
                        None => return Ok(Outcome::Success),
                    }
                }
                Look::Orphaned => {
                    if let Some(current) = attempt {
                        print_new(&self.path(current), printed, true)?;
                    }
                    output::note(format!(
                        "run {run} is orphaned: the process running it is gone; \
                         `tidewater retry {run}` resumes it",
                        run = self.run
                    ));
                    return Ok(Outcome::Success);
                }
                Look::NeverStarted => bail!(
                    "task `{}` of run {} has finished without starting, so it has no log",
                    self.task,
                    self.run
                ),
            }
            if !pause(&mut interrupt).await {
                return Ok(Outcome::Cancelled);
            }
        }
    }

    fn path(&self, attempt: Attempt) -> PathBuf {
        log_path(self.context, self.run, self.task, attempt)
    }

    async fn latest(&self) -> anyhow::Result<Option<Attempt>> {
        let attempts = self
            .context
            .store
            .attempts(self.run, Some(self.task))
            .await?;
        Ok(attempts.last().map(|last| last.attempt))
    }

    async fn look(&self, attempt: Option<Attempt>) -> anyhow::Result<Look> {
        let store = &self.context.store;
        let record = self.context.run_record(self.run).await?;
        let attempts = store.attempts(self.run, Some(self.task)).await?;
        let task_state = store
            .task_instances(self.run)
            .await?
            .into_iter()
            .find(|(name, _)| name == self.task)
            .map(|(_, instance)| instance.state);
        let is_finished = record.state.is_terminal()
            || task_state.as_ref().is_some_and(|state| state.is_terminal());
        let Some(attempt) = attempt else {
            if attempts.is_empty() && is_finished {
                return Ok(Look::NeverStarted);
            }
            return Ok(Look::Going);
        };
        let has_ended = attempts
            .iter()
            .find(|record| record.attempt == attempt)
            .is_none_or(|record| record.finished.is_some());
        let next = attempts
            .iter()
            .map(|record| record.attempt)
            .find(|&other| other > attempt)
            .filter(|_| !self.is_pinned);
        if has_ended && (self.is_pinned || next.is_some() || is_finished) {
            return Ok(Look::Ended { next });
        }
        // Running with nobody to finish it: a `kill -9` of `tidewater run` leaves it so.
        if tidewater_engine::is_orphaned(&record) {
            return Ok(Look::Orphaned);
        }
        Ok(Look::Going)
    }
}

/// Waits one poll period. `false` if Ctrl-C came first: the user has seen what they wanted.
async fn pause(interrupt: &mut tokio::signal::unix::Signal) -> bool {
    tokio::select! {
        () = tokio::time::sleep(FOLLOW_POLL) => true,
        _ = interrupt.recv() => false,
    }
}

/// Prints what the log holds past `from`: whole lines only, unless `is_last` (a line may be
/// caught half written), and returns the offset up to which it printed. A log not created yet
/// has nothing to print.
fn print_new(path: &Path, from: u64, is_last: bool) -> anyhow::Result<u64> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(from),
        Err(error) => {
            return Err(error).with_context(|| format!("cannot read the log {}", path.display()));
        }
    };
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(from))
        .and_then(|_| file.read_to_end(&mut bytes))
        .with_context(|| format!("cannot read the log {}", path.display()))?;
    let whole = if is_last {
        bytes.len()
    } else {
        bytes
            .iter()
            .rposition(|&byte| byte == b'\n')
            .map_or(0, |last| last + 1)
    };
    if whole > 0 {
        output::write_stdout(&bytes[..whole]);
    }
    Ok(from + whole as u64)
}

/// Why a task that has no attempt has no log, in terms of what happened to it: an `empty`
/// task succeeds without a process, a task whose upstream failed never ran.
async fn why_no_log(
    context: &Control,
    record: &RunRecord,
    task: &TaskName,
    instances: &[(TaskName, TaskInstance)],
) -> anyhow::Result<String> {
    let state = instances
        .iter()
        .find(|(name, _)| name == task)
        .map(|(_, instance)| &instance.state);
    // The version the run was created with says what kind of task it is and what it needs;
    // should that version no longer parse, the messages do without.
    let pinned = match context.store.workflow_source(record.id).await? {
        Some(source) => context
            .project
            .parse_pinned(record.workflow.as_str(), &source)
            .ok(),
        None => None,
    };
    let definition = pinned.as_ref().and_then(|loaded| {
        let workflow = &loaded.workflow;
        workflow
            .index_of(task.as_str())
            .map(|index| (workflow, workflow.task(index)))
    });
    Ok(match state {
        Some(TaskState::Succeeded { .. })
            if definition.is_some_and(|(_, definition)| definition.action == TaskAction::Empty) =>
        {
            format!("{task} is an `empty` task: it succeeded without a process, so it has no log")
        }
        Some(TaskState::UpstreamFailed) => {
            let failed: Vec<String> = definition
                .map(|(workflow, definition)| {
                    definition
                        .needs
                        .iter()
                        .map(|index| &workflow.task(*index).name)
                        .filter_map(|upstream| {
                            instances
                                .iter()
                                .find(|(name, _)| name == upstream)
                                .filter(|(_, instance)| {
                                    matches!(
                                        instance.state,
                                        TaskState::Failed { .. } | TaskState::UpstreamFailed
                                    )
                                })
                                .map(|(name, instance)| format!("{name} {}", instance.state.name()))
                        })
                        .collect()
                })
                .unwrap_or_default();
            if failed.is_empty() {
                format!("{task} did not run: upstream_failed, so it has no log")
            } else {
                format!(
                    "{task} did not run: upstream_failed ({}), so it has no log",
                    failed.join(", ")
                )
            }
        }
        Some(TaskState::Skipped) => {
            format!("{task} did not run: it was skipped, so it has no log")
        }
        Some(TaskState::Cancelled) => format!(
            "{task} did not run: run {} was cancelled before it started, so it has no log",
            record.id
        ),
        _ => format!(
            "{task} of run {} has not started yet, so it has no log",
            record.id
        ),
    })
}
