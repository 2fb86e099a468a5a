use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

use chrono::NaiveDate;

use crate::{
    Dag, DagError, DataInterval, DataTrigger, Deadline, NotificationEvent, PoolName, QueueName,
    RetryPolicy, RunTrigger, Schedule, TaskAction, TaskIndex, TaskName, Timestamp, TriggerRule,
    Webhook, WorkflowName,
};

/// A named DAG of tasks with its schedule: everything needed to run it, already checked.
#[derive(Debug, Clone)]
pub struct Workflow {
    pub name: WorkflowName,
    pub schedule: Option<Schedule>,
    /// `schedule: { on: [...] }`: the upstream changes that start runs besides the cron.
    pub data_triggers: Vec<DataTrigger>,
    pub timezone: chrono_tz::Tz,
    /// The first data interval starts at or after this date (in `timezone`).
    pub start: Option<NaiveDate>,
    pub catchup: bool,
    pub max_active_runs: u32,
    /// How many of this workflow's tasks may run at once across its runs.
    pub max_active_tasks: Option<u32>,
    pub params: serde_json::Map<String, serde_json::Value>,
    /// A run still working this long after it started fails: its running steps are killed
    /// and the rest will not run (see `decide`).
    pub timeout: Option<Duration>,
    /// When a run should have finished its steps; a run still working then runs the
    /// `on_deadline_miss` handler, which a workflow with a deadline always has.
    pub deadline: Option<Deadline>,
    /// The webhooks sent at the run's moments (at most one per event); not tasks: `decide`
    /// records each as a [`crate::Change::Notify`] and the engine delivers it.
    pub webhooks: Vec<Webhook>,
    /// `on_retry: { sh: … }`: a command (a template) run once per retried attempt. Not a
    /// task, as the other handlers are: a task instance runs once per run, and this runs
    /// each time a step is retried, so it goes through the webhooks' outbox
    /// ([`crate::Change::Notify`]) and is delivered like one.
    pub on_retry_command: Option<String>,
    /// The steps of the DAG, then the handlers (`on_failure`, `on_success`,
    /// `on_deadline_miss`).
    tasks: Vec<Task>,
    dag: Dag,
    by_name: HashMap<TaskName, TaskIndex>,
}

/// One node of a workflow.
#[derive(Debug, Clone)]
pub struct Task {
    pub name: TaskName,
    pub action: TaskAction,
    pub needs: Vec<TaskIndex>,
    pub trigger: TriggerRule,
    pub retry: RetryPolicy,
    pub timeout: Option<Duration>,
    pub pool: Option<PoolName>,
    pub pool_slots: u32,
    pub priority: i32,
    pub role: TaskRole,
    /// The queue of workers that runs this task (`queue:`), or `None` to run it where the
    /// run is executed.
    pub queue: Option<QueueName>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskRole {
    /// A node of the DAG.
    Step,
    /// A workflow handler that runs once the steps are done.
    Handler(HandlerKind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandlerKind {
    /// Runs once every step is done and the run failed.
    OnFailure,
    /// Runs once every step is done and the run succeeded.
    OnSuccess,
    /// Runs once when the run's `deadline` passes while some step is not done yet; the run
    /// goes on meanwhile and its outcome does not depend on the handler.
    OnDeadlineMiss,
}

impl HandlerKind {
    pub const ALL: [HandlerKind; 3] = [
        HandlerKind::OnFailure,
        HandlerKind::OnSuccess,
        HandlerKind::OnDeadlineMiss,
    ];

    pub fn task_name(self) -> &'static str {
        match self {
            HandlerKind::OnFailure => "on_failure",
            HandlerKind::OnSuccess => "on_success",
            HandlerKind::OnDeadlineMiss => "on_deadline_miss",
        }
    }
}

/// The parts of a workflow other than its tasks.
#[derive(Debug, Clone)]
pub struct WorkflowSettings {
    pub name: WorkflowName,
    pub schedule: Option<Schedule>,
    pub data_triggers: Vec<DataTrigger>,
    pub timezone: chrono_tz::Tz,
    pub start: Option<NaiveDate>,
    pub catchup: bool,
    pub max_active_runs: u32,
    pub max_active_tasks: Option<u32>,
    pub params: serde_json::Map<String, serde_json::Value>,
    pub timeout: Option<Duration>,
    pub deadline: Option<Deadline>,
}

impl Workflow {
    /// Builds a workflow; fails if the steps do not form a DAG. Handlers must come after
    /// the steps and have no `needs`.
    ///
    /// A workflow with a `deadline` and no `on_deadline_miss` handler gets an `empty` one,
    /// so that a missed deadline is recorded in the run (that handler's instance ran) without
    /// anything more in the store.
    pub fn new(settings: WorkflowSettings, mut tasks: Vec<Task>) -> Result<Workflow, DagError> {
        let has_deadline_handler = tasks
            .iter()
            .any(|task| task.role == TaskRole::Handler(HandlerKind::OnDeadlineMiss));
        if settings.deadline.is_some() && !has_deadline_handler {
            tasks.push(Task::recorder(HandlerKind::OnDeadlineMiss));
        }
        let dag = Dag::new(&tasks)?;
        let by_name = tasks
            .iter()
            .enumerate()
            .map(|(index, task)| (task.name.clone(), TaskIndex(index as u32)))
            .collect();
        Ok(Workflow {
            name: settings.name,
            schedule: settings.schedule,
            data_triggers: settings.data_triggers,
            timezone: settings.timezone,
            start: settings.start,
            catchup: settings.catchup,
            max_active_runs: settings.max_active_runs,
            max_active_tasks: settings.max_active_tasks,
            params: settings.params,
            timeout: settings.timeout,
            deadline: settings.deadline,
            webhooks: Vec::new(),
            on_retry_command: None,
            tasks,
            dag,
            by_name,
        })
    }

    pub fn tasks(&self) -> &[Task] {
        &self.tasks
    }

    pub fn task(&self, index: TaskIndex) -> &Task {
        &self.tasks[index.get()]
    }

    pub fn index_of(&self, name: &str) -> Option<TaskIndex> {
        self.by_name.get(name).copied()
    }

    pub fn dag(&self) -> &Dag {
        &self.dag
    }

    pub fn handler(&self, kind: HandlerKind) -> Option<TaskIndex> {
        self.tasks
            .iter()
            .position(|task| task.role == TaskRole::Handler(kind))
            .map(|index| TaskIndex(index as u32))
    }

    pub fn webhook(&self, event: NotificationEvent) -> Option<&Webhook> {
        self.webhooks.iter().find(|webhook| webhook.event == event)
    }

    /// Whether any moment of a run is notified (a webhook, or an `on_retry` command): what
    /// a deliverer has to wait for.
    pub fn has_notifications(&self) -> bool {
        !self.webhooks.is_empty() || self.on_retry_command.is_some()
    }

    /// Whether `event` is to be notified: the workflow has a webhook for it, or it is
    /// `on_retry` and the workflow has an `on_retry` command.
    pub fn is_notified(&self, event: NotificationEvent) -> bool {
        self.webhook(event).is_some()
            || (event == NotificationEvent::OnRetry && self.on_retry_command.is_some())
    }

    pub fn indices(&self) -> impl Iterator<Item = TaskIndex> + '_ {
        (0..self.tasks.len() as u32).map(TaskIndex)
    }

    /// When a run must be done with its steps, or `None` without a `deadline`.
    pub fn deadline_at(&self, interval: DataInterval) -> Option<Timestamp> {
        self.deadline
            .as_ref()
            .and_then(|deadline| deadline.at(interval, self.timezone))
    }

    /// The workflow as a run with this trigger executes it: without its `deadline` (and so
    /// without ever running `on_deadline_miss`) unless the trigger has one
    /// ([`RunTrigger::has_deadline`]: only scheduled runs).
    pub fn for_trigger(&self, trigger: RunTrigger) -> Cow<'_, Workflow> {
        if self.deadline.is_none() || trigger.has_deadline() {
            return Cow::Borrowed(self);
        }
        let mut copy = self.clone();
        copy.deadline = None;
        Cow::Owned(copy)
    }

    /// When a run that started at `started_at` times out, or `None` without a `timeout`.
    pub fn timeout_at(&self, started_at: Timestamp) -> Option<Timestamp> {
        let timeout = chrono::Duration::from_std(self.timeout?).ok()?;
        started_at.checked_add_signed(timeout)
    }
}

impl Task {
    /// A handler that does nothing: running it records that its moment came.
    fn recorder(kind: HandlerKind) -> Task {
        Task {
            name: TaskName::new(kind.task_name()),
            action: TaskAction::Empty,
            needs: Vec::new(),
            trigger: TriggerRule::default(),
            retry: RetryPolicy::default(),
            timeout: None,
            pool: None,
            pool_slots: 1,
            priority: 0,
            role: TaskRole::Handler(kind),
            queue: None,
        }
    }
}
