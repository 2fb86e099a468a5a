//! The pure model of Tidewater: workflows and their DAGs, table names, task and run states, the
//! `decide` function that turns events into state changes and actions, the task-queue
//! admission rules, schedules with data intervals, run timeouts and deadlines, and retry
//! math.
//!
//! Nothing here performs IO, spawns tasks or reads the clock: time (`now`) and randomness
//! (a jitter seed) are parameters. The engine crate is the imperative shell around this one.

// Library code reports errors to its caller and prints nothing; an invariant that truly holds
// says why with `#[expect(clippy::expect_used, reason = "...")]` (issue 16 item 9).
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)
)]

mod backfill_range;
mod change;
mod dag;
mod data_interval;
mod data_trigger;
mod deadline;
mod decide;
mod failure_class;
mod ids;
mod next_timer;
mod notification;
mod rate_limit;
mod retry_policy;
mod run_limit;
mod run_queue;
mod run_state;
mod run_trigger;
mod run_view;
mod schedule;
mod schedule_plan;
mod serving_view;
mod table_name;
mod task_action;
mod task_queue;
mod task_state;
mod trigger_rule;
mod workflow;

pub use backfill_range::{BackfillError, BackfillOrder, BackfillPlan, BackfillRange};
pub use change::{Action, AttemptOutcome, Change, FailureReason, ProcessIdentity};
pub use dag::{Dag, DagError};
pub use data_interval::DataInterval;
pub use data_trigger::{DataTrigger, partition_date};
pub use deadline::Deadline;
pub use decide::{DecideContext, Decision, Event, MAX_LOST_ATTEMPTS, decide};
pub use failure_class::FailureClass;
pub use ids::{
    Attempt, BackfillId, EngineName, PoolName, QueueName, RunId, TaskIndex, TaskName, WorkflowName,
};
pub use next_timer::next_timer;
pub use notification::{NotificationEvent, NotificationKey, Webhook};
pub use rate_limit::{RateLimit, RateLimitError, RateUnit};
pub use retry_policy::{Backoff, RetryPolicy};
pub use run_limit::RunLimit;
pub use run_queue::{Admission, QueuedRun, RunQueue, RunQueueKey, start_order};
pub use run_state::{RunState, RunStateKind};
pub use run_trigger::RunTrigger;
pub use run_view::{RunView, TaskInstance};
pub use schedule::{Schedule, ScheduleError};
pub use schedule_plan::{DueRuns, SchedulePlan};
pub use serving_view::ServingView;
pub use table_name::{InvalidTableName, MAX_TABLE_NAME_PART_LENGTH, TableName, TableNameProblem};
pub use task_action::{
    CallAction, HttpAction, HttpBody, HttpMethod, HttpOutput, MaintainAction, SchemaPolicy,
    SqlAction, SqlTarget, SqlText, StatusCodes, TaskAction, WaitAction, WaitCondition, WriteMode,
};
pub use task_queue::{Candidate, HeldElsewhere, QueueLimits, TaskQueue, WaitReason};
pub use task_state::{TaskState, TaskStateKind};
pub use trigger_rule::TriggerRule;
pub use trigger_rule::{UpstreamTally, Verdict};
pub use workflow::{HandlerKind, Task, TaskRole, Workflow, WorkflowSettings};

/// Every instant in Tidewater is a UTC timestamp; time zones only shape schedules and `ds`.
pub type Timestamp = chrono::DateTime<chrono::Utc>;
