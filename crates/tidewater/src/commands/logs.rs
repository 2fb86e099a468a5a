use tidewater_control::{Control, FOLLOW_POLL, FollowScope, FollowStep, LogFollower, TaskLog};
use tidewater_core::{Attempt, RunId, TaskName};
use tokio::signal::unix::{SignalKind, signal};

use crate::Outcome;
use crate::args::LogsArgs;
use crate::output;

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
        let scope = if args.attempt.is_some() {
            FollowScope::Attempt
        } else {
            FollowScope::Task
        };
        return follow(&context, &log, scope).await;
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
/// [`FollowScope::Task`]). The following is [`LogFollower`]'s, which the API's live tail
/// shares; this only pauses between looks and prints.
async fn follow(context: &Control, log: &TaskLog, scope: FollowScope) -> anyhow::Result<Outcome> {
    let run = log.run.id;
    let task = &log.task;
    let mut follower = LogFollower::new(log, scope, 0);
    let mut interrupt = signal(SignalKind::interrupt())?;
    loop {
        match follower.look(context).await? {
            FollowStep::More(chunk) => write(&chunk.bytes),
            FollowStep::Ended(chunk) => {
                write(&chunk.bytes);
                return Ok(Outcome::Success);
            }
            FollowStep::Orphaned(chunk) => {
                write(&chunk.bytes);
                output::note(format!(
                    "run {run} is orphaned: the process running it is gone; \
                     `tidewater retry {run}` resumes it"
                ));
                return Ok(Outcome::Success);
            }
            FollowStep::NeverStarted => anyhow::bail!(
                "task `{task}` of run {run} has finished without starting, so it has no log"
            ),
        }
        // Ctrl-C: the user has seen what they wanted.
        tokio::select! {
            () = tokio::time::sleep(FOLLOW_POLL) => {}
            _ = interrupt.recv() => return Ok(Outcome::Cancelled),
        }
    }
}

fn write(bytes: &[u8]) {
    if !bytes.is_empty() {
        output::write_stdout(bytes);
    }
}
