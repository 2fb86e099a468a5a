//! `/api/v1/queue`: what waits and why.

use axum::Json;
use axum::extract::State;
use tidewater_control::QueuedRuns;
use tidewater_control::json::WaitingJson;

use crate::api::Api;
use crate::problem::Problem;

/// Every queued run and every waiting task of a running run, each with why it waits (what
/// `tidewater queue --json` prints).
#[utoipa::path(
    get,
    path = "/api/v1/queue",
    tag = "queue",
    responses((status = 200, description = "What waits and why", body = Vec<WaitingJson>))
)]
pub(crate) async fn queue(State(api): State<Api>) -> Result<Json<Vec<WaitingJson>>, Problem> {
    let explanation = api
        .control
        .explain_queue(api.parallelism, QueuedRuns::EachRun)
        .await?;
    Ok(Json(
        explanation.waiting.iter().map(WaitingJson::new).collect(),
    ))
}
