//! JSON shape of the events stream (`GET /api/v1/events`): one server-sent event per state
//! change, its `id` the store's sequence number and its `event` the kind of change.

use serde::Serialize;
use tidewater_core::FailureClass;
use tidewater_store::{AttemptStep, EventSeq, FeedChange, FeedEvent};

/// One server-sent event: `id`, `event` and the one line of JSON `data`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventJson {
    /// The store-wide sequence number (the SSE `id`): resuming after it misses nothing.
    pub id: i64,
    /// `run`, `task`, `attempt`, or `reset` (events were missed: read the state again).
    pub event: &'static str,
    pub data: EventDataJson,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum EventDataJson {
    Run(RunEventJson),
    Task(TaskEventJson),
    Attempt(AttemptEventJson),
    Reset(ResetEventJson),
}

/// A run entered a state.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunEventJson {
    pub run: i64,
    pub workflow: String,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub state: &'static str,
}

/// A task instance entered a state.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskEventJson {
    pub run: i64,
    pub workflow: String,
    pub task: String,
    /// The task state as `status --json` prints it (`pending`, `queued`, `running`,
    /// `succeeded`, `failed`, `up_for_retry`, `skipped`, `upstream_failed`, `cancelled`).
    pub state: &'static str,
}

/// An attempt started or ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttemptEventJson {
    pub run: i64,
    pub workflow: String,
    pub task: String,
    pub attempt: u32,
    /// `started`, `succeeded` or `failed`.
    pub state: &'static str,
    /// Who must act on a failed attempt (`input`, `task`, `environment`, `timeout`, `bug`,
    /// `cancelled`); `null` otherwise.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub failure_class: Option<FailureClass>,
}

/// Events the reader asked for are no longer kept (or its `Last-Event-ID` is not one of this
/// store's): it must read the state again; the stream goes on after `latest`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResetEventJson {
    pub latest: i64,
}

impl EventJson {
    pub fn new(event: &FeedEvent) -> EventJson {
        let run = event.run.0;
        let workflow = event.workflow.to_string();
        let (kind, data) = match &event.change {
            FeedChange::Run(state) => (
                "run",
                EventDataJson::Run(RunEventJson {
                    run,
                    workflow,
                    state: state.name(),
                }),
            ),
            FeedChange::Task { task, state } => (
                "task",
                EventDataJson::Task(TaskEventJson {
                    run,
                    workflow,
                    task: task.to_string(),
                    state: state.name(),
                }),
            ),
            FeedChange::Attempt {
                task,
                attempt,
                step,
            } => {
                let (state, failure_class) = match step {
                    AttemptStep::Started => ("started", None),
                    AttemptStep::Succeeded => ("succeeded", None),
                    AttemptStep::Failed(class) => ("failed", Some(*class)),
                };
                (
                    "attempt",
                    EventDataJson::Attempt(AttemptEventJson {
                        run,
                        workflow,
                        task: task.to_string(),
                        attempt: attempt.0,
                        state,
                        failure_class,
                    }),
                )
            }
        };
        EventJson {
            id: event.seq.0,
            event: kind,
            data,
        }
    }

    /// The event that tells a reader it missed events; the stream goes on after `latest`.
    pub fn reset(latest: EventSeq) -> EventJson {
        EventJson {
            id: latest.0,
            event: "reset",
            data: EventDataJson::Reset(ResetEventJson { latest: latest.0 }),
        }
    }
}
