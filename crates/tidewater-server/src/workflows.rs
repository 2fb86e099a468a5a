//! `/api/v1/workflows`: the project's workflows, a manual run of one, its pause.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use tidewater_control::json::{PauseJson, RunJson, WorkflowGraphJson, WorkflowJson};
use tidewater_control::{Concurrency, IntervalRequest, ManualRunRequest};

use crate::api::Api;
use crate::extract::{Body, PathOf};
use crate::problem::Problem;

/// A manual run asked for: its interval by `date` or by `interval` (not both; neither is the
/// latest complete interval), and values for some of the workflow's params.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunRequest {
    /// The schedule's interval on this local date (`YYYY-MM-DD`), or that whole day.
    date: Option<String>,
    /// Exactly these ends, each a date (local midnight) or an RFC 3339 time.
    interval: Option<IntervalBody>,
    /// Values for some of the workflow's params; the others keep their defaults.
    #[serde(default)]
    #[schema(value_type = Object)]
    params: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IntervalBody {
    start: String,
    end: String,
}

/// A pause or unpause.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PauseRequest {
    /// True: no new runs are created (running ones finish); false: scheduling resumes.
    paused: bool,
}

/// Every workflow file: schedule, next due time, paused, last run, or why the file is broken.
#[utoipa::path(
    get,
    path = "/api/v1/workflows",
    tag = "workflows",
    responses(
        (status = 200, description = "Every workflow file of the project", body = Vec<WorkflowJson>),
        (status = 500, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_workflows(
    State(api): State<Api>,
) -> Result<Json<Vec<WorkflowJson>>, Problem> {
    let overview = api.control.workflow_overview(chrono::Utc::now()).await?;
    Ok(Json(overview.iter().map(WorkflowJson::new).collect()))
}

/// A workflow's tasks and DAG, as its file is now.
#[utoipa::path(
    get,
    path = "/api/v1/workflows/{name}",
    tag = "workflows",
    params(("name" = String, Path, description = "The workflow's name")),
    responses(
        (status = 200, description = "The workflow's tasks and edges", body = WorkflowGraphJson),
        (status = 404, description = "No workflow has this name", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The workflow's file has problems", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn workflow(
    State(api): State<Api>,
    PathOf(name): PathOf<String>,
) -> Result<Json<WorkflowGraphJson>, Problem> {
    let loaded = api.control.load_workflow(&name)?;
    Ok(Json(WorkflowGraphJson::new(&loaded.workflow)))
}

/// Queues a manual run for the server; refused while a run of the same interval is queued or
/// running.
#[utoipa::path(
    post,
    path = "/api/v1/workflows/{name}/runs",
    tag = "workflows",
    params(("name" = String, Path, description = "The workflow's name")),
    request_body = RunRequest,
    responses(
        (status = 201, description = "The run, queued", body = RunJson),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No workflow has this name", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A run of the interval is queued or running", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad date, interval or param", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_run(
    State(api): State<Api>,
    PathOf(name): PathOf<String>,
    Body(body): Body<RunRequest>,
) -> Result<(StatusCode, Json<RunJson>), Problem> {
    let interval = match (body.date, body.interval) {
        (Some(_), Some(_)) => {
            return Err(tidewater_control::ControlError::Invalid(
                "give `date` or `interval`, not both".to_owned(),
            )
            .into());
        }
        (Some(date), None) => IntervalRequest::Date(date),
        (None, Some(IntervalBody { start, end })) => IntervalRequest::Between { start, end },
        (None, None) => IntervalRequest::Latest,
    };
    let loaded = api.control.load_workflow(&name)?;
    let request = ManualRunRequest {
        interval,
        params: body.params,
        concurrency: Concurrency::RefuseWhileActive,
    };
    let triggered = api.control.trigger(&loaded, &request).await?;
    Ok((
        StatusCode::CREATED,
        Json(RunJson::new(
            &triggered.run,
            api.control.is_orphaned(&triggered.run),
        )),
    ))
}

/// Pauses or unpauses a workflow.
#[utoipa::path(
    put,
    path = "/api/v1/workflows/{name}/paused",
    tag = "workflows",
    params(("name" = String, Path, description = "The workflow's name")),
    request_body = PauseRequest,
    responses(
        (status = 200, description = "The workflow's pause now", body = PauseJson),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No workflow has this name", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn set_paused(
    State(api): State<Api>,
    PathOf(name): PathOf<String>,
    Body(body): Body<PauseRequest>,
) -> Result<Json<PauseJson>, Problem> {
    let loaded = api.control.load_workflow(&name)?;
    let change = api.control.set_paused(&loaded, body.paused).await?;
    Ok(Json(PauseJson {
        workflow: loaded.workflow.name.to_string(),
        paused: body.paused,
        changed: change.is_changed,
    }))
}
