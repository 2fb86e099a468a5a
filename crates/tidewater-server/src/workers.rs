//! `/api/v1/workers`: the workers' list (scope `read`), and the protocol of `tidewater
//! worker` under `/api/v1/workers/...` (scope `worker`, see `auth.rs`): claim, heartbeat,
//! log append, report. Each handler is one use case of `tidewater-control` (`workers.rs`);
//! a stale lease is 409.

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use tidewater_control::ControlError;
use tidewater_control::json::{
    ClaimAnswerJson, ClaimRequestJson, ClaimedAttemptJson, HeartbeatAnswerJson, HeartbeatJson,
    LeaseAnswerJson, WorkerJson, WorkerReportJson,
};
use tidewater_core::AttemptOutcome;
use tidewater_store::{LeaseEpoch, RemoteAttemptId, WorkerRegistration};

use crate::api::Api;
use crate::extract::{Body, PathOf, QueryOf};
use crate::problem::Problem;

/// The workers that sent a heartbeat, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/workers",
    tag = "workers",
    responses((status = 200, description = "Every worker that sent a heartbeat", body = Vec<WorkerJson>))
)]
pub(crate) async fn list_workers(State(api): State<Api>) -> Result<Json<Vec<WorkerJson>>, Problem> {
    let workers = api.control.workers().await?;
    Ok(Json(workers.iter().map(WorkerJson::new).collect()))
}

/// Claims the oldest attempt offered to one of the worker's queues, and records the worker's
/// heartbeat. When none is offered, waits up to `wait_ms` for one (a long poll, woken by the
/// offer); `attempt` is `null` when none came, or when the server stops meanwhile.
#[utoipa::path(
    post,
    path = "/api/v1/workers/claim",
    tag = "workers",
    request_body = ClaimRequestJson,
    responses(
        (status = 200, description = "An attempt with its lease, or none", body = ClaimAnswerJson),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad worker description", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn claim(
    State(api): State<Api>,
    Body(request): Body<ClaimRequestJson>,
) -> Result<Json<ClaimAnswerJson>, Problem> {
    let worker = registration(&request.worker)?;
    let mut stopping = api.stopping.clone();
    let stop = async move {
        // An error means the server is gone: stop waiting as well.
        let _ = stopping.wait_for(|is_stopping| *is_stopping).await;
    };
    let claimed = api
        .control
        .claim_for_worker(&worker, Duration::from_millis(request.wait_ms), stop)
        .await?;
    let settings = api.control.project.config.workers;
    Ok(Json(ClaimAnswerJson {
        attempt: claimed.as_ref().map(ClaimedAttemptJson::new),
        heartbeat_ms: settings.heartbeat.as_millis() as u64,
        lease_ms: settings.lease.as_millis() as u64,
    }))
}

/// Records the worker's heartbeat and renews the leases it holds: each is answered
/// `continue`, `cancel` (kill the attempt, report it cancelled) or `stale` (kill it, report
/// nothing).
#[utoipa::path(
    post,
    path = "/api/v1/workers/heartbeat",
    tag = "workers",
    request_body = HeartbeatJson,
    responses(
        (status = 200, description = "An answer for each lease", body = HeartbeatAnswerJson),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad worker description", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn heartbeat(
    State(api): State<Api>,
    Body(request): Body<HeartbeatJson>,
) -> Result<Json<HeartbeatAnswerJson>, Problem> {
    let worker = registration(&request.worker)?;
    let answers = api
        .control
        .worker_heartbeat(&worker, &request.leases)
        .await?;
    Ok(Json(HeartbeatAnswerJson {
        leases: answers
            .into_iter()
            .map(|(lease, answer)| LeaseAnswerJson::new(lease, answer))
            .collect(),
    }))
}

/// The lease a log append names.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct LeaseQuery {
    /// The lease's epoch.
    epoch: i64,
}

/// Appends whole lines to the attempt's log on the server, which `logs --follow` and the UI
/// tail.
#[utoipa::path(
    post,
    path = "/api/v1/workers/attempts/{id}/log",
    tag = "workers",
    params(("id" = i64, Path, description = "The offered attempt's id"), LeaseQuery),
    request_body(content = String, content_type = "application/octet-stream"),
    responses(
        (status = 204, description = "Appended"),
        (status = 400, description = "A bad id or epoch", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The lease is stale", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn append_log(
    State(api): State<Api>,
    PathOf(id): PathOf<i64>,
    QueryOf(query): QueryOf<LeaseQuery>,
    bytes: Bytes,
) -> Result<StatusCode, Problem> {
    api.control
        .append_worker_log(RemoteAttemptId(id), LeaseEpoch(query.epoch), &bytes)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reports how the attempt ended, under its lease; the attempt's run goes on.
#[utoipa::path(
    post,
    path = "/api/v1/workers/attempts/{id}/report",
    tag = "workers",
    params(("id" = i64, Path, description = "The offered attempt's id")),
    request_body = WorkerReportJson,
    responses(
        (status = 204, description = "Recorded"),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The lease is stale: the report is refused", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not an outcome", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn report(
    State(api): State<Api>,
    PathOf(id): PathOf<i64>,
    Body(request): Body<WorkerReportJson>,
) -> Result<StatusCode, Problem> {
    let outcome: AttemptOutcome = serde_json::from_value(request.outcome).map_err(|error| {
        ControlError::Invalid(format!("`outcome` is not an attempt's outcome: {error}"))
    })?;
    api.control
        .worker_report(RemoteAttemptId(id), LeaseEpoch(request.epoch), outcome)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn registration(
    worker: &tidewater_control::json::WorkerRegistrationJson,
) -> Result<WorkerRegistration, Problem> {
    worker
        .registration()
        .map_err(|message| ControlError::Invalid(message).into())
}
