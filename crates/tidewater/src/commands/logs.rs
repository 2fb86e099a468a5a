use std::time::Duration;

use tidewater_control::{AttemptProgress, Control, FollowScope, LogEnd, TaskLog, read_log_chunk};
use tidewater_core::{Attempt, RunId, TaskName};
use tokio::signal::unix::{SignalKind, signal};

use crate::Outcome;
use crate::args::LogsArgs;
use crate::output;

/// How often `--follow` looks at the log file and the store. The engine writes a task's lines
/// as they come; a fifth of a second is quick for a reader and three small store reads per look
/// cost nothing a running task notices.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

pub(super) async fn logs(project: &std::path::Path, args: LogsArgs) -> anyhow::Result<Outcome> {
    let context = crate::project_context::open(project).await?;
    let log = context
        .task_log(
            RunId(args.run_id),
            &TaskName::new(&args.task),
            args.attempt.map(Attempt),
        )
        .await?;
    if args.follow {
        let follower = Follower {
            context: &context,
            log: &log,
            scope: if args.attempt.is_some() {
                FollowScope::Attempt
            } else {
                FollowScope::Task
            },
        };
        return follower.follow().await;
    }
    let text = context.read_task_log(&log).await?;
    output::write_stdout(&text);
    if let (Some(attempt), true) = (log.attempt, text.is_empty() && log.is_running) {
        // Its first line is written with its first output (or at its end), so that a task
        // printing nothing costs no write of its own.
        output::note(format!(
            "attempt {attempt} of task `{}` is running and has printed nothing yet",
            log.task
        ));
    }
    Ok(Outcome::Success)
}

/// `logs --follow`: prints an attempt's log as it grows, and stops once the attempt has
/// ended. Without `--attempt` it follows the task rather than one attempt (see
/// [`FollowScope::Task`]).
struct Follower<'a> {
    context: &'a Control,
    log: &'a TaskLog,
    scope: FollowScope,
}

impl Follower<'_> {
    async fn follow(&self) -> anyhow::Result<Outcome> {
        let run = self.log.run.id;
        let task = &self.log.task;
        let mut attempt = self.log.attempt;
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut printed = 0;
        loop {
            // The store first, the file second: a line written before the end was recorded
            // is then printed before the follower acts on the end.
            let progress = self
                .context
                .attempt_progress(run, task, attempt, self.scope)
                .await?;
            if let Some(current) = attempt {
                printed = self.print_new(current, printed, LogEnd::WholeLines)?;
            }
            match progress {
                AttemptProgress::Going => {
                    if attempt.is_none() {
                        attempt = self.context.latest_attempt(run, task).await?;
                    }
                }
                AttemptProgress::Ended { next } => {
                    // The attempt's last lines are written just after its end is recorded
                    // (off the path from one task to the next): give them one more look.
                    if !pause(&mut interrupt).await {
                        return Ok(Outcome::Cancelled);
                    }
                    if let Some(current) = attempt {
                        self.print_new(current, printed, LogEnd::Everything)?;
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
                AttemptProgress::Orphaned => {
                    if let Some(current) = attempt {
                        self.print_new(current, printed, LogEnd::Everything)?;
                    }
                    output::note(format!(
                        "run {run} is orphaned: the process running it is gone; \
                         `tidewater retry {run}` resumes it"
                    ));
                    return Ok(Outcome::Success);
                }
                AttemptProgress::NeverStarted => anyhow::bail!(
                    "task `{task}` of run {run} has finished without starting, so it has no log"
                ),
            }
            if !pause(&mut interrupt).await {
                return Ok(Outcome::Cancelled);
            }
        }
    }

    /// Prints what the attempt's log holds past `from` and returns the offset up to which
    /// it printed: whole lines only, unless the attempt has ended (a line may be caught half
    /// written).
    fn print_new(&self, attempt: Attempt, from: u64, end: LogEnd) -> anyhow::Result<u64> {
        let path = self
            .context
            .log_path(self.log.run.id, &self.log.task, attempt);
        let chunk = read_log_chunk(&path, from, end)?;
        if !chunk.bytes.is_empty() {
            output::write_stdout(&chunk.bytes);
        }
        Ok(chunk.next_offset)
    }
}

/// Waits one poll period. `false` if Ctrl-C came first: the user has seen what they wanted.
async fn pause(interrupt: &mut tokio::signal::unix::Signal) -> bool {
    tokio::select! {
        () = tokio::time::sleep(FOLLOW_POLL) => true,
        _ = interrupt.recv() => false,
    }
}
