//! [`LogFollower`]: a task's (or one attempt's) log followed as it grows, one look at a time,
//! until the attempt has ended and all of its log was given: what `logs --follow` prints and
//! what the HTTP API's live tail sends. The front end only pauses between looks
//! ([`FOLLOW_POLL`]) and writes what each look gives.

use std::time::Duration;

use tidewater_core::{Attempt, RunId, TaskName};

use crate::Control;
use crate::attempt_progress::{AttemptProgress, FollowScope};
use crate::control_error::ControlResult;
use crate::log_chunk::{LogChunk, LogEnd, read_log_chunk};
use crate::task_log::TaskLog;

/// How often a follower looks at the log file and the store. The engine writes a task's lines
/// as they come; a fifth of a second is quick for a reader, and three small store reads per
/// look cost nothing a running task notices.
pub const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// What one look found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowStep {
    /// New whole lines of the log (perhaps none): look again after a pause.
    More(LogChunk),
    /// The attempt (following a task: its last attempt) has ended, and this is the last of
    /// its log: stop.
    Ended(LogChunk),
    /// The attempt will never end here, as the process running it is gone (see
    /// [`AttemptProgress::Orphaned`]); this is the rest of its log: stop.
    Orphaned(LogChunk),
    /// The task finished without starting an attempt: it has no log.
    NeverStarted,
}

/// Where a follower is: which attempt, and how far into its log.
#[derive(Debug, Clone)]
pub struct LogFollower {
    run: RunId,
    task: TaskName,
    scope: FollowScope,
    attempt: Option<Attempt>,
    offset: u64,
    /// The store said the attempt ended (with the task's next attempt, if any): the next
    /// look gives the rest of its log. The last lines are written just after the end is
    /// recorded (off the path from one task to the next), so they are read one look later.
    ending: Option<Option<Attempt>>,
}

impl LogFollower {
    /// Follows `log` from byte `offset` of its attempt's log (0: from the start; an
    /// EventSource that reconnects gives the offset it had reached).
    pub fn new(log: &TaskLog, scope: FollowScope, offset: u64) -> LogFollower {
        LogFollower {
            run: log.run.id,
            task: log.task.clone(),
            scope,
            attempt: log.attempt,
            offset,
            ending: None,
        }
    }

    /// The attempt followed now; `None` until the task has started one.
    pub fn attempt(&self) -> Option<Attempt> {
        self.attempt
    }

    /// Looks once: at the store first, at the file second, so that a line written before the
    /// end was recorded is given before the follower acts on the end.
    pub async fn look(&mut self, control: &Control) -> ControlResult<FollowStep> {
        if let Some(next) = self.ending.take() {
            let rest = self.read(control, LogEnd::Everything)?;
            return Ok(match next {
                Some(next) => {
                    self.attempt = Some(next);
                    self.offset = 0;
                    FollowStep::More(rest)
                }
                None => FollowStep::Ended(rest),
            });
        }
        let progress = control
            .attempt_progress(self.run, &self.task, self.attempt, self.scope)
            .await?;
        let mut chunk = self.read(control, LogEnd::WholeLines)?;
        Ok(match progress {
            AttemptProgress::Going => {
                if self.attempt.is_none() {
                    self.attempt = control.latest_attempt(self.run, &self.task).await?;
                }
                FollowStep::More(chunk)
            }
            AttemptProgress::Ended { next } => {
                self.ending = Some(next);
                FollowStep::More(chunk)
            }
            AttemptProgress::Orphaned => {
                let rest = self.read(control, LogEnd::Everything)?;
                chunk.bytes.extend(rest.bytes);
                chunk.next_offset = rest.next_offset;
                FollowStep::Orphaned(chunk)
            }
            AttemptProgress::NeverStarted => FollowStep::NeverStarted,
        })
    }

    /// What the followed attempt's log holds past the offset, which moves past it.
    fn read(&mut self, control: &Control, end: LogEnd) -> ControlResult<LogChunk> {
        let Some(attempt) = self.attempt else {
            return Ok(LogChunk {
                bytes: Vec::new(),
                next_offset: self.offset,
            });
        };
        let path = control.log_path(self.run, &self.task, attempt);
        let chunk = read_log_chunk(&path, self.offset, end)?;
        self.offset = chunk.next_offset;
        Ok(chunk)
    }
}
