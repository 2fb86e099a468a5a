//! `/api/v1/backfills`: one run per interval of a date range, admitted a few at a time by
//! the server, and its progress.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use tidewater_control::json::{BackfillJson, BackfillOutcomeJson};
use tidewater_control::{BackfillRequest, time_arg};
use tidewater_core::BackfillId;

use crate::api::Api;
use crate::extract::{Body, PathOf};
use crate::problem::Problem;

/// A backfill asked for (as `tidewater backfill` takes it).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BackfillBody {
    workflow: String,
    /// First local date, `YYYY-MM-DD`.
    from: String,
    /// Last local date, included.
    to: String,
    /// Runs of the backfill active at once (default: the workflow's `max_active_runs`).
    max_active_runs: Option<u32>,
    /// Newest interval first.
    #[serde(default)]
    reverse: bool,
    /// Skip intervals with a successful run, or whose partitions exist.
    #[serde(default)]
    only_missing: bool,
    /// Plan only: record nothing.
    #[serde(default)]
    dry_run: bool,
}

/// Plans a backfill and, unless a dry run, records it for the server to execute; asked
/// again for the same range while unfinished, it resumes the same backfill.
#[utoipa::path(
    post,
    path = "/api/v1/backfills",
    tag = "backfills",
    request_body = BackfillBody,
    responses(
        (status = 201, description = "Recorded: the plan and the backfill", body = BackfillOutcomeJson),
        (status = 200, description = "A dry run, or nothing to backfill: the plan only", body = BackfillOutcomeJson),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No workflow has this name", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad date or range, or a range of more intervals than one backfill may cover (`[backfill] max_intervals`)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn start_backfill(
    State(api): State<Api>,
    Body(body): Body<BackfillBody>,
) -> Result<(StatusCode, Json<BackfillOutcomeJson>), Problem> {
    let request = BackfillRequest {
        workflow: body.workflow,
        from: time_arg::parse_date(&body.from)?,
        to: time_arg::parse_date(&body.to)?,
        max_active_runs: body.max_active_runs,
        order: BackfillRequest::order_of(body.reverse),
        only_missing: body.only_missing,
        dry_run: body.dry_run,
    };
    let backfill = api.control.backfill(&request).await?;
    let Some(recorded) = &backfill.recorded else {
        return Ok((
            StatusCode::OK,
            Json(BackfillOutcomeJson::new(&backfill, None)),
        ));
    };
    api.control.wake_server().await?;
    let counts = api.control.backfill_counts(recorded.record.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(BackfillOutcomeJson::new(&backfill, Some(&counts))),
    ))
}

/// A backfill and its progress: its runs counted by state.
#[utoipa::path(
    get,
    path = "/api/v1/backfills/{id}",
    tag = "backfills",
    params(("id" = i64, Path, description = "The backfill's id")),
    responses(
        (status = 200, description = "The backfill and its runs by state", body = BackfillJson),
        (status = 400, description = "The id is not a number", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such backfill", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn backfill(
    State(api): State<Api>,
    PathOf(id): PathOf<i64>,
) -> Result<Json<BackfillJson>, Problem> {
    let record = api.control.backfill_record(BackfillId(id)).await?;
    let counts = api.control.backfill_counts(record.id).await?;
    Ok(Json(BackfillJson::new(&record, &counts)))
}
