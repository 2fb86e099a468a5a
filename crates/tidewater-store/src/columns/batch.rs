//! The changes of one `apply`, grouped by kind, each kind written by its own statement, with
//! repeated changes to the same row collapsed into the last one.
//!
//! Grouping reorders the changes, and the result is still what applying them in order gives:
//! - each change kind touches its own table or columns (the run row, task instance rows,
//!   attempt rows, and within those the process columns or the end columns), so only changes
//!   of the same kind to the same row can interfere, and of those the last one wins;
//! - starting an attempt is the only insert, and it goes first. Applied in order, a batch that
//!   sets the process or end of an attempt before starting it fails (the attempt does not
//!   exist yet, or starting it fails because it already does); grouped, it fails too, because
//!   starting an attempt twice is refused here.

use std::collections::{HashMap, HashSet};

use crate::StoreError;
use tidewater_core::{Change, RunId, RunState};

use super::codec::{
    AttemptOutcomeColumns, TaskStateColumns, encode_json, encode_notification_event,
    encode_outcome, encode_process, encode_task_state, encode_timestamp,
};

pub struct Batch<'a> {
    /// The last run state of the batch.
    pub run: Option<&'a RunState>,
    /// The last record of each task, in the order the tasks first appear.
    pub tasks: Vec<TaskRow<'a>>,
    /// Attempts started, in order.
    pub started: Vec<StartedRow<'a>>,
    /// The last process of each attempt.
    pub processes: Vec<ProcessRow<'a>>,
    /// The last end of each attempt.
    pub finished: Vec<FinishedRow<'a>>,
    /// Notifications recorded, in order (a key recorded before is kept as it was).
    pub notifications: Vec<NotificationRow<'a>>,
}

#[derive(Debug)]
pub struct NotificationRow<'a> {
    pub event: &'static str,
    pub task: &'a str,
    pub attempt: u32,
    pub at: i64,
}

#[derive(Debug)]
pub struct TaskRow<'a> {
    pub task: &'a str,
    pub state: TaskStateColumns<'static>,
    pub last_attempt: u32,
    pub attempt_base: u32,
    pub lost_attempts: u32,
    /// JSON text; `None` stays distinct from the JSON value `null`.
    pub output: Option<String>,
}

#[derive(Debug)]
pub struct StartedRow<'a> {
    pub task: &'a str,
    pub attempt: u32,
    pub started_at: i64,
}

#[derive(Debug)]
pub struct ProcessRow<'a> {
    pub task: &'a str,
    pub attempt: u32,
    pub pid: i32,
    pub start_ticks: i64,
}

#[derive(Debug)]
pub struct FinishedRow<'a> {
    pub task: &'a str,
    pub attempt: u32,
    pub finished_at: i64,
    pub outcome: AttemptOutcomeColumns<'static>,
}

impl<'a> Batch<'a> {
    /// Whether the batch changes nothing at all.
    pub fn is_empty(&self) -> bool {
        self.run.is_none()
            && self.tasks.is_empty()
            && self.started.is_empty()
            && self.processes.is_empty()
            && self.finished.is_empty()
            && self.notifications.is_empty()
    }

    /// Groups `changes`; refuses a batch that starts the same attempt twice.
    pub fn new(run: RunId, changes: &'a [Change]) -> Result<Batch<'a>, StoreError> {
        let mut run_state = None;
        let mut tasks = LastByKey::default();
        let mut started = Vec::new();
        let mut is_started = HashSet::new();
        let mut processes = LastByKey::default();
        let mut finished = LastByKey::default();
        let mut notifications = Vec::new();
        for change in changes {
            match change {
                Change::Run(state) => run_state = Some(state),
                Change::Task { task, instance } => tasks.insert(task.as_str(), instance),
                Change::AttemptStarted {
                    task,
                    attempt,
                    started_at,
                } => {
                    if !is_started.insert((task.as_str(), *attempt)) {
                        return Err(StoreError::AttemptExists {
                            run,
                            task: task.clone(),
                            attempt: *attempt,
                        });
                    }
                    started.push(StartedRow {
                        task: task.as_str(),
                        attempt: attempt.0,
                        started_at: encode_timestamp(*started_at),
                    });
                }
                Change::AttemptProcess {
                    task,
                    attempt,
                    process,
                } => processes.insert((task, *attempt), process),
                Change::AttemptFinished {
                    task,
                    attempt,
                    finished_at,
                    outcome,
                } => finished.insert((task, *attempt), (finished_at, outcome)),
                Change::Notify { key, at } => notifications.push(NotificationRow {
                    event: encode_notification_event(key.event),
                    task: key.retried.as_ref().map_or("", |(task, _)| task.as_str()),
                    attempt: key.retried.as_ref().map_or(0, |(_, attempt)| attempt.0),
                    at: encode_timestamp(*at),
                }),
            }
        }
        // Rows are encoded only for the changes that survive collapsing.
        let tasks = tasks
            .into_values()
            .map(|(task, instance)| TaskRow {
                task,
                state: encode_task_state(&instance.state),
                last_attempt: instance.last_attempt,
                attempt_base: instance.attempt_base,
                lost_attempts: instance.lost_attempts,
                output: instance.output.as_ref().map(encode_json),
            })
            .collect();
        let processes = processes
            .into_values()
            .map(|((task, attempt), process)| {
                let (pid, start_ticks) = encode_process(*process);
                ProcessRow {
                    task: task.as_str(),
                    attempt: attempt.0,
                    pid,
                    start_ticks,
                }
            })
            .collect();
        let finished = finished
            .into_values()
            .map(|((task, attempt), (finished_at, outcome))| FinishedRow {
                task: task.as_str(),
                attempt: attempt.0,
                finished_at: encode_timestamp(*finished_at),
                outcome: encode_outcome(outcome),
            })
            .collect();
        Ok(Batch {
            run: run_state,
            tasks,
            started,
            processes,
            finished,
            notifications,
        })
    }
}

/// Keeps the last value given for each key, in the order the keys first appeared (so that an
/// error about "the first unknown task" names the first one in the batch).
struct LastByKey<K, V> {
    positions: HashMap<K, usize>,
    entries: Vec<(K, V)>,
}

impl<K, V> Default for LastByKey<K, V> {
    fn default() -> Self {
        LastByKey {
            positions: HashMap::new(),
            entries: Vec::new(),
        }
    }
}

impl<K: Copy + Eq + std::hash::Hash, V> LastByKey<K, V> {
    fn insert(&mut self, key: K, value: V) {
        match self.positions.get(&key) {
            Some(&position) => self.entries[position].1 = value,
            None => {
                self.positions.insert(key, self.entries.len());
                self.entries.push((key, value));
            }
        }
    }

    fn into_values(self) -> impl Iterator<Item = (K, V)> {
        self.entries.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use tidewater_core::{
        Attempt, AttemptOutcome, FailureReason, ProcessIdentity, TaskInstance, TaskName, TaskState,
    };

    use super::*;

    fn at(second: u32) -> tidewater_core::Timestamp {
        chrono::Utc
            .with_ymd_and_hms(2026, 1, 2, 3, 4, second)
            .single()
            .expect("a valid date")
    }

    fn task_change(name: &str, state: TaskState) -> Change {
        Change::Task {
            task: TaskName::new(name),
            instance: TaskInstance {
                state,
                ..TaskInstance::new()
            },
        }
    }

    #[test]
    fn the_last_change_of_each_task_is_kept_in_first_appearance_order() {
        let changes = [
            task_change("b", TaskState::Skipped),
            task_change("a", TaskState::Skipped),
            task_change("b", TaskState::Cancelled),
        ];
        let batch = Batch::new(RunId(1), &changes).expect("a valid batch");
        let kept: Vec<_> = batch
            .tasks
            .iter()
            .map(|row| (row.task, row.state.state))
            .collect();
        assert_eq!(kept, [("b", "cancelled"), ("a", "skipped")]);
    }

    #[test]
    fn the_last_process_and_end_of_each_attempt_are_kept() {
        let task = TaskName::new("extract");
        let process = |pid| Change::AttemptProcess {
            task: task.clone(),
            attempt: Attempt(1),
            process: ProcessIdentity {
                pid,
                start_ticks: 7,
            },
        };
        let finish = |reason| Change::AttemptFinished {
            task: task.clone(),
            attempt: Attempt(1),
            finished_at: at(1),
            outcome: AttemptOutcome::Failed { reason },
        };
        let changes = [
            process(10),
            finish(FailureReason::Lost),
            process(11),
            finish(FailureReason::TimedOut),
        ];
        let batch = Batch::new(RunId(1), &changes).expect("a valid batch");
        let pids: Vec<_> = batch.processes.iter().map(|row| row.pid).collect();
        assert_eq!(pids, [11]);
        let failures: Vec<_> = batch
            .finished
            .iter()
            .map(|row| row.outcome.failure)
            .collect();
        assert_eq!(failures, [Some("timed_out")]);
    }

    #[test]
    fn starting_the_same_attempt_twice_in_a_batch_is_refused() {
        let start = Change::AttemptStarted {
            task: TaskName::new("extract"),
            attempt: Attempt(2),
            started_at: at(1),
        };
        let changes = [start.clone(), start];
        assert!(matches!(
            Batch::new(RunId(4), &changes),
            Err(StoreError::AttemptExists { run: RunId(4), task, attempt: Attempt(2) })
                if task.as_str() == "extract"
        ));
    }
}
