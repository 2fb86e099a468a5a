//! The JSON shapes of Tidewater's records, in one place: what `--json` prints and what the
//! HTTP API serves (and its OpenAPI document describes). Each shape is built from the
//! records by a pure constructor; times are RFC 3339, states are their `name()`.
//!
//! Changing a field here changes every front end's output at once: the CLI's JSON is
//! snapshotted in the binary's tests.

mod backfill_json;
mod backfill_plan_json;
mod connection_json;
mod event_json;
mod health_json;
mod pause_json;
mod queue_json;
mod run_json;
mod status_json;
mod stream_json;
mod table_json;
mod token_json;
mod view_json;
mod worker_json;
mod workflow_graph_json;
mod workflow_json;

pub use backfill_json::{BackfillJson, BackfillRunsJson};
pub use backfill_plan_json::{BackfillOutcomeJson, BackfillPlanJson, PlannedIntervalJson};
pub use connection_json::{ConnectionCheckJson, ConnectionFieldJson, ConnectionJson};
pub use event_json::{
    AttemptEventJson, EventDataJson, EventJson, ResetEventJson, RunEventJson, TaskEventJson,
};
pub use health_json::{HealthJson, WorkflowHealthJson};
pub use pause_json::PauseJson;
pub use queue_json::WaitingJson;
pub use run_json::RunJson;
pub use status_json::{AttemptJson, CalledByJson, NotificationJson, StatusJson, TaskJson};
pub use stream_json::{StreamJson, StreamPauseJson};
pub use table_json::{
    ColumnJson, MissingJson, PartitionJson, PartitionWriteJson, TableDescription, TableJson,
    WriterJson, table_names_json,
};
pub use token_json::{CreatedTokenJson, TokenJson};
pub use view_json::{ViewIntervalJson, ViewJson};
pub use worker_json::{
    ClaimAnswerJson, ClaimRequestJson, ClaimedAttemptJson, HeartbeatAnswerJson, HeartbeatJson,
    HeldAttemptJson, LeaseAnswerJson, LeaseJson, WorkerJson, WorkerRegistrationJson,
    WorkerReportJson,
};
pub use workflow_graph_json::{GraphEdgeJson, GraphTaskJson, WorkflowGraphJson};
pub use workflow_json::{LastRunJson, ProblemJson, RecentRunJson, WorkflowJson};
