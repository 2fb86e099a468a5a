//! `/api/v1/streams`: the project's streams (state, owner, lag, rate, last commit, dead
//! letters) and their pause.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use tidewater_control::json::{StreamJson, StreamPauseJson};

use crate::api::Api;
use crate::extract::{Body, PathOf};
use crate::problem::Problem;

/// A stream's pause or resume.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StreamPauseRequest {
    /// True: the server stops consuming the stream (its position is kept); false: it
    /// resumes from its committed position.
    paused: bool,
}

/// Every stream file of the project that reads (`tidewater validate` shows the others'
/// problems).
#[utoipa::path(
    get,
    path = "/api/v1/streams",
    tag = "streams",
    responses(
        (status = 200, description = "Every stream of the project", body = Vec<StreamJson>),
        (status = 500, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_streams(State(api): State<Api>) -> Result<Json<Vec<StreamJson>>, Problem> {
    let list = api.control.stream_list().await?;
    Ok(Json(list.streams.iter().map(StreamJson::new).collect()))
}

/// One stream.
#[utoipa::path(
    get,
    path = "/api/v1/streams/{name}",
    tag = "streams",
    params(("name" = String, Path, description = "The stream's name")),
    responses(
        (status = 200, description = "The stream", body = StreamJson),
        (status = 404, description = "No stream has this name", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn stream(
    State(api): State<Api>,
    PathOf(name): PathOf<String>,
) -> Result<Json<StreamJson>, Problem> {
    let overview = api.control.stream_overview(&name).await?;
    Ok(Json(StreamJson::new(&overview)))
}

/// Pauses or resumes a stream; the server acts on it at once.
#[utoipa::path(
    put,
    path = "/api/v1/streams/{name}/paused",
    tag = "streams",
    params(("name" = String, Path, description = "The stream's name")),
    request_body = StreamPauseRequest,
    responses(
        (status = 200, description = "The stream's pause now", body = StreamPauseJson),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No stream has this name", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The body is JSON of the wrong shape, or the store keeps no streams", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn set_paused(
    State(api): State<Api>,
    PathOf(name): PathOf<String>,
    Body(body): Body<StreamPauseRequest>,
) -> Result<Json<StreamPauseJson>, Problem> {
    let change = api.control.set_stream_paused(&name, body.paused).await?;
    Ok(Json(StreamPauseJson::new(&change)))
}
