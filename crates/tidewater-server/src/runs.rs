//! `/api/v1/runs`: runs newest first, one run with its tasks and attempts, and what can be
//! done to a run (retry, clear, cancel).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tidewater_control::json::{RunJson, StatusJson};
use tidewater_control::{
    CancelProgress, Clear, ClearScope, Control, ControlError, Retry, RetryVersion,
};
use tidewater_core::{RunId, RunStateKind, WorkflowName};
use tidewater_store::{RunFilter, RunRecord};

use crate::api::Api;
use crate::extract::{Body, PathOf, QueryOf};
use crate::problem::Problem;

/// Runs a page lists unless `limit` says otherwise.
const PAGE: u32 = 50;
/// The most a page lists.
const MAX_PAGE: u32 = 1000;

/// Which runs, and which page of them.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RunsQuery {
    /// Only this workflow's runs.
    workflow: Option<String>,
    /// Only runs in this state: `queued`, `running`, `succeeded`, `failed`, `cancelled`.
    state: Option<String>,
    /// Only runs whose data interval starts on or after this date (`YYYY-MM-DD`, a day in
    /// the zone of `workflow` if given, else UTC) or RFC 3339 time.
    from: Option<String>,
    /// Only runs whose data interval starts on or before this date (the whole day) or RFC
    /// 3339 time.
    to: Option<String>,
    /// At most this many runs (default 50, at most 1000).
    limit: Option<u32>,
    /// The cursor: only runs listed after this run (a page's `next_before`).
    before: Option<i64>,
}

/// A page of runs, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RunPage {
    runs: Vec<RunJson>,
    /// Pass as `before` for the next page; `null` on the last page.
    next_before: Option<i64>,
}

/// How to retry.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetryRequest {
    /// Resume on the workflow file as it is now instead of the version the run was created
    /// with (only while the two are the same: the server executes runs on their own version).
    #[serde(default)]
    latest: bool,
}

/// Which tasks to clear.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClearRequest {
    /// The tasks to run again (at least one).
    tasks: Vec<String>,
    /// Also run again everything downstream of them.
    #[serde(default)]
    downstream: bool,
}

/// Runs newest first, filtered, a page at a time.
#[utoipa::path(
    get,
    path = "/api/v1/runs",
    tag = "runs",
    params(RunsQuery),
    responses(
        (status = 200, description = "A page of runs, newest first", body = RunPage),
        (status = 400, description = "A query parameter of the wrong type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An unknown state, a limit out of range, a `from` or `to` that is not a date or time, or `from` after `to`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_runs(
    State(api): State<Api>,
    QueryOf(query): QueryOf<RunsQuery>,
) -> Result<Json<RunPage>, Problem> {
    let state = match query.state.as_deref() {
        None => None,
        Some(name) => Some(
            RunStateKind::ALL
                .into_iter()
                .find(|kind| kind.name() == name)
                .ok_or_else(|| {
                    ControlError::Invalid(format!(
                        "`{name}` is not a run state (queued, running, succeeded, failed, cancelled)"
                    ))
                })?,
        ),
    };
    let limit = query.limit.unwrap_or(PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ControlError::Invalid(format!(
            "`limit` must be from 1 to {MAX_PAGE}, not {limit}"
        ))
        .into());
    }
    let range = api.control.run_date_range(
        query.workflow.as_deref(),
        query.from.as_deref(),
        query.to.as_deref(),
    )?;
    let filter = RunFilter {
        workflow: query.workflow.map(WorkflowName::new),
        state,
        before: query.before.map(RunId),
        starts_from: range.starts_from,
        starts_before: range.starts_before,
        limit: Some(limit),
        ..RunFilter::default()
    };
    let runs = api.control.list_runs(&filter).await?.json();
    let next_before = (runs.len() == limit as usize)
        .then(|| runs.last().map(|run| run.id))
        .flatten();
    Ok(Json(RunPage { runs, next_before }))
}

/// A run with its tasks and their attempts (what `tidewater status RUN --json` prints).
#[utoipa::path(
    get,
    path = "/api/v1/runs/{id}",
    tag = "runs",
    params(("id" = i64, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The run, its tasks and attempts", body = StatusJson),
        (status = 400, description = "The id is not a number", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn run(
    State(api): State<Api>,
    PathOf(id): PathOf<i64>,
) -> Result<Json<StatusJson>, Problem> {
    let status = api.control.run_status(RunId(id)).await?;
    Ok(Json(StatusJson::new(&status)))
}

/// Queues a failed or cancelled run again for the server: its succeeded tasks are kept, the
/// others run again.
#[utoipa::path(
    post,
    path = "/api/v1/runs/{id}/retry",
    tag = "runs",
    params(("id" = i64, Path, description = "The run's id")),
    request_body = RetryRequest,
    responses(
        (status = 202, description = "The run, queued again for the server", body = RunJson),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The run is running or succeeded, or its file changed and `latest` was asked", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn retry(
    State(api): State<Api>,
    PathOf(id): PathOf<i64>,
    Body(body): Body<RetryRequest>,
) -> Result<(StatusCode, Json<RunJson>), Problem> {
    let run = requeue_for_server(&api.control, RunId(id), body.latest).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RunJson::new(&run, api.control.is_orphaned(&run))),
    ))
}

/// Retries run `id` the way a front end of the server does (the API, the UI): the run is
/// queued again for the live server, never executed in the request. `latest` first pins the
/// run to the workflow file as it is now (see [`Control::retry`]), as `tidewater retry
/// --latest` does.
pub(crate) async fn requeue_for_server(
    control: &Control,
    id: RunId,
    latest: bool,
) -> Result<RunRecord, ControlError> {
    let version = if latest {
        RetryVersion::Latest
    } else {
        RetryVersion::Pinned
    };
    match control.retry(id, version).await? {
        Retry::Requeued { run, .. } => control.run_record(run.id).await,
        Retry::AlreadySucceeded(run) => Err(ControlError::Conflict(format!(
            "run {} already succeeded; clearing its tasks runs them again",
            run.id
        ))),
        Retry::ExecuteHere { run, .. } => Err(ControlError::Conflict(format!(
            "no server takes run {} now; `tidewater retry {}` resumes it",
            run.id, run.id
        ))),
    }
}

/// Runs tasks of an ended run again (succeeded runs too), and everything downstream of them
/// if asked: what `tidewater clear` does. The tasks are reset and the run queued again in one
/// write; the server then runs them (as it resumes any queued run, a failed or cancelled
/// run's failed tasks run again too).
#[utoipa::path(
    post,
    path = "/api/v1/runs/{id}/clear",
    tag = "runs",
    params(("id" = i64, Path, description = "The run's id")),
    request_body = ClearRequest,
    responses(
        (status = 202, description = "The run, queued again for the server with the tasks reset", body = RunJson),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such run, or the run has no such task", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The run has not ended (queued or running)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No task named, or a body of the wrong shape", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn clear(
    State(api): State<Api>,
    PathOf(id): PathOf<i64>,
    Body(body): Body<ClearRequest>,
) -> Result<(StatusCode, Json<RunJson>), Problem> {
    let scope = if body.downstream {
        ClearScope::WithDownstream
    } else {
        ClearScope::Tasks
    };
    let run = clear_for_server(&api.control, RunId(id), &body.tasks, scope).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RunJson::new(&run, api.control.is_orphaned(&run))),
    ))
}

/// Clears tasks of run `id` the way a front end of the server does (the API, the UI): the
/// tasks are reset and the run queued again for the live server, never executed in the
/// request.
pub(crate) async fn clear_for_server(
    control: &Control,
    id: RunId,
    tasks: &[String],
    scope: ClearScope,
) -> Result<RunRecord, ControlError> {
    match control.clear(id, tasks, scope).await? {
        Clear::Requeued { clearing, .. } => control.run_record(clearing.run.id).await,
        Clear::ExecuteHere(clearing) => Err(ControlError::Conflict(format!(
            "no server takes run {} now; `tidewater clear {}` runs its tasks",
            clearing.run.id, clearing.run.id
        ))),
    }
}

/// Cancels a queued or running run: the request is recorded and the process executing the
/// run is woken to stop it (its tasks get SIGTERM, then SIGKILL after the grace period).
#[utoipa::path(
    post,
    path = "/api/v1/runs/{id}/cancel",
    tag = "runs",
    params(("id" = i64, Path, description = "The run's id")),
    responses(
        (status = 202, description = "Asked; the run as it is now (it ends `cancelled` soon)", body = RunJson),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The run is not queued or running", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn cancel(
    State(api): State<Api>,
    PathOf(id): PathOf<i64>,
) -> Result<(StatusCode, Json<RunJson>), Problem> {
    let run = match api.control.ask_cancel(RunId(id)).await? {
        CancelProgress::Ended(run) | CancelProgress::Unowned(run) => run,
        CancelProgress::Asked(_) | CancelProgress::Stopping => {
            api.control.run_record(RunId(id)).await?
        }
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(RunJson::new(&run, api.control.is_orphaned(&run))),
    ))
}
