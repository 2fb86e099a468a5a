//! `/metrics`: the project's metrics for Prometheus (tidewater-control's [`Metrics`] read
//! model), outside `/api/v1` where Prometheus looks by default.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use tidewater_control::METRICS_CONTENT_TYPE;

use crate::api::Api;
use crate::problem::Problem;

/// Runs by workflow and state, task attempts by workflow and outcome, attempt durations, the
/// queue's depth by pool and reason, scheduling delays and retries, in Prometheus' text
/// exposition format 0.0.4. Counters and histograms count from the server's start (a restart
/// resets them); gauges are read from the store on each scrape.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    responses((
        status = 200,
        description = "The metrics, in Prometheus' text format 0.0.4",
        content_type = "text/plain; version=0.0.4; charset=utf-8",
        body = String
    ))
)]
pub(crate) async fn metrics(State(api): State<Api>) -> Result<Response, Problem> {
    let text = api
        .control
        .scrape_metrics(&api.metrics, api.parallelism)
        .await?;
    Ok(([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], text).into_response())
}
