//! An attempt's log for the task page's script: `…/log?offset=N` answers the bytes from `N`
//! (whole lines while the attempt runs; up to `end` if given, for an older part), with where
//! the next read starts and whether the attempt still runs; `…/download` the whole log.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tidewater_control::ControlError;
use tidewater_core::{Attempt, RunId, TaskName};

use super::ui_error::{UiError, UiPath, UiQuery};
use crate::api::Api;

/// The most one read answers: a longer log is read in several.
const MAX_CHUNK: u64 = 1024 * 1024;

#[derive(Debug, Deserialize)]
pub(crate) struct ChunkQuery {
    #[serde(default)]
    offset: u64,
    /// Stop before this byte (an older part of the log).
    end: Option<u64>,
}

/// `GET /runs/{id}/tasks/{task}/attempts/{attempt}/log?offset=N[&end=M]`: `text/plain`, with
/// `X-Next-Offset` and `X-Attempt-Running` (`true` while more may come).
pub(crate) async fn log_chunk(
    State(api): State<Api>,
    UiPath((id, task, attempt)): UiPath<(i64, String, u32)>,
    UiQuery(query): UiQuery<ChunkQuery>,
) -> Result<Response, UiError> {
    let name = TaskName::new(task);
    let log = api
        .control
        .task_log(RunId(id), &name, Some(Attempt(attempt)))
        .await?;
    // The use case's extent says whether more will come: the last lines are written just
    // after the attempt's end is recorded, so "not running" is not yet "complete".
    let extent = log
        .extent(&api.control, chrono::Utc::now())?
        .ok_or_else(|| ControlError::NotFound(format!("run {id} has no attempt {attempt}")))?;
    let limit = query.end.map_or(MAX_CHUNK, |end| {
        end.saturating_sub(query.offset).min(MAX_CHUNK)
    });
    let chunk = extent.read(query.offset, Some(query.offset.saturating_add(limit)))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (
                header::HeaderName::from_static("x-next-offset"),
                chunk.next_offset.to_string(),
            ),
            (
                header::HeaderName::from_static("x-attempt-running"),
                (!extent.is_complete).to_string(),
            ),
        ],
        chunk.bytes,
    )
        .into_response())
}

/// `GET /runs/{id}/tasks/{task}/attempts/{attempt}/download`: the whole log as a file.
pub(crate) async fn download(
    State(api): State<Api>,
    UiPath((id, task, attempt)): UiPath<(i64, String, u32)>,
) -> Result<Response, UiError> {
    let name = TaskName::new(task);
    let log = api
        .control
        .task_log(RunId(id), &name, Some(Attempt(attempt)))
        .await?;
    let bytes = api.control.read_task_log(&log).await?;
    // Task names are identifiers; anything else in the file name becomes `_`.
    let file: String = format!("run-{id}-{name}-{attempt}.log")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}
