//! [`RunStatus`]: the read model behind `tidewater status RUN`: a run with its tasks and
//! their attempts, and what each task's row says.

use std::collections::HashMap;

use tidewater_core::{
    AttemptOutcome, FailureClass, FailureReason, RunId, TaskInstance, TaskName, TaskState,
    Timestamp,
};
use tidewater_store::{AttemptRecord, NotificationRecord, NotificationState, RunParent};

use crate::Control;
use crate::control_error::ControlResult;
use crate::run_entry::RunEntry;

/// A run, its tasks in the workflow's order, and the zone its times are written in.
#[derive(Debug, Clone)]
pub struct RunStatus {
    pub run: RunEntry,
    /// The zone of the workflow version the run was created with (UTC if it no longer
    /// parses).
    pub timezone: chrono_tz::Tz,
    pub tasks: Vec<TaskStatus>,
    /// The run and `call` task that started this run, if it is a child run.
    pub parent: Option<RunParent>,
    /// The run's webhooks and their delivery, oldest first.
    pub notifications: Vec<NotificationRecord>,
}

/// One task of a run with its attempts, oldest first.
#[derive(Debug, Clone)]
pub struct TaskStatus {
    pub task: TaskName,
    pub instance: TaskInstance,
    pub attempts: Vec<AttemptRecord>,
    /// The child run a `call` task started.
    pub child: Option<RunId>,
}

/// What a task's row notes besides its state.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskNote {
    /// Nothing to say.
    None,
    /// It waits to be retried at this time.
    RetryAt(Timestamp),
    /// Its last attempt failed for this reason.
    Failed(FailureReason),
    /// Its last attempt succeeded, but writing its log failed: the log is incomplete.
    LogIncomplete(String),
}

impl TaskStatus {
    /// The task's latest attempt, if it has started.
    pub fn last_attempt(&self) -> Option<&AttemptRecord> {
        self.attempts.last()
    }

    /// How long its latest attempt took, once it has ended.
    pub fn duration(&self) -> Option<chrono::Duration> {
        let last = self.last_attempt()?;
        last.finished
            .as_ref()
            .map(|(end, _)| *end - last.started_at)
    }

    /// What the row notes besides the state.
    pub fn note(&self) -> TaskNote {
        match (
            &self.instance.state,
            self.last_attempt()
                .and_then(|record| record.finished.as_ref()),
        ) {
            (TaskState::UpForRetry { not_before, .. }, _) => TaskNote::RetryAt(*not_before),
            (_, Some((_, AttemptOutcome::Failed { reason }))) => TaskNote::Failed(reason.clone()),
            (
                _,
                Some((
                    _,
                    AttemptOutcome::Succeeded {
                        log_error: Some(error),
                        ..
                    },
                )),
            ) => TaskNote::LogIncomplete(error.clone()),
            _ => TaskNote::None,
        }
    }

    /// Who must act on its last failure, if its last attempt failed (an `input` failure was
    /// not retried).
    pub fn class(&self) -> Option<FailureClass> {
        match self
            .last_attempt()
            .and_then(|record| record.finished.as_ref())
        {
            Some((_, AttemptOutcome::Failed { reason })) => Some(reason.class()),
            _ => None,
        }
    }

    /// The state a person should read: a task recorded running in an orphaned run has nobody
    /// supervising it.
    pub fn shown_state(&self, is_run_orphaned: bool) -> &'static str {
        match self.instance.state {
            TaskState::Running { .. } if is_run_orphaned => "orphaned",
            ref state => state.name(),
        }
    }
}

impl Control {
    /// Run `id` with its tasks and their attempts; [`crate::ControlError::NotFound`] if there
    /// is no such run.
    pub async fn run_status(&self, id: RunId) -> ControlResult<RunStatus> {
        let record = self.run_record(id).await?;
        let instances = self.store.task_instances(record.id).await?;
        // Each task's attempts, in the store's order, grouped in one pass.
        let mut attempts: HashMap<TaskName, Vec<AttemptRecord>> = HashMap::new();
        for attempt in self.store.attempts(record.id, None).await? {
            attempts
                .entry(attempt.task.clone())
                .or_default()
                .push(attempt);
        }
        let timezone = self.run_timezone(&record).await?;
        let mut children: HashMap<TaskName, RunId> = self
            .store
            .child_runs(record.id)
            .await?
            .into_iter()
            .collect();
        let parent = self.store.run_parent(record.id).await?;
        let tasks = instances
            .into_iter()
            .map(|(task, instance)| TaskStatus {
                attempts: attempts.remove(&task).unwrap_or_default(),
                child: children.remove(&task),
                task,
                instance,
            })
            .collect();
        let notifications = self.store.run_notifications(record.id).await?;
        Ok(RunStatus {
            run: RunEntry::new(record, &*self.owners),
            timezone,
            tasks,
            parent,
            notifications,
        })
    }
}

/// One of a run's webhooks as `status` and the run's web page show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationLine {
    /// `on_failure`, or `on_retry (load, attempt 2)`.
    pub event: String,
    /// `pending`, `delivered` or `failed`.
    pub state: &'static str,
    /// Pending: when the next delivery may start; otherwise when it ended.
    pub at: Timestamp,
    pub deliveries: u32,
    pub last_error: Option<String>,
}

impl NotificationLine {
    pub fn new(record: &NotificationRecord) -> NotificationLine {
        let event = match &record.key.retried {
            Some((task, attempt)) => format!("{} ({task}, attempt {attempt})", record.key.event),
            None => record.key.event.to_string(),
        };
        let (state, at) = match record.state {
            NotificationState::Pending { due } => ("pending", due),
            NotificationState::Delivered { at } => ("delivered", at),
            NotificationState::Failed { at } => ("failed", at),
        };
        NotificationLine {
            event,
            state,
            at,
            deliveries: record.deliveries,
            last_error: record.last_error.clone(),
        }
    }
}
