//! A task instance's page (`/runs/{id}/tasks/{task}`): its attempts, each with its outcome,
//! failure class and reason, and one attempt's log (`?attempt=N`, else the latest): its
//! tail, older parts loaded by range, followed live while the attempt runs, and a download.

use askama::Template;
use axum::extract::State;
use serde::Deserialize;
use tidewater_control::{ControlError, local_time};
use tidewater_core::{Attempt, AttemptOutcome, RunId, TaskName};

use super::layout::{Layout, Live, Nav, url_component};
use super::run_page::task_href;
use super::state_style::Shown;
use super::ui_error::{PageResult, UiPath, UiQuery, page};
use crate::api::Api;

/// How much of the end of a log the page shows at first; older parts come by range.
const TAIL: u64 = 64 * 1024;

#[derive(Template)]
#[template(path = "task.html")]
struct TaskPage {
    layout: Layout,
    run: i64,
    workflow: String,
    workflow_href: String,
    task: String,
    shown: Shown,
    attempts: Vec<AttemptRow>,
    log: LogView,
}

struct AttemptRow {
    attempt: u32,
    href: String,
    is_selected: bool,
    shown: Shown,
    started: String,
    finished: String,
    duration: String,
    class: Option<String>,
    reason: Option<String>,
}

/// The log shown, or why there is none.
enum LogView {
    None(String),
    Some {
        attempt: u32,
        text: String,
        /// Where the text shown starts and ends, in bytes of the log.
        start: u64,
        end: u64,
        is_running: bool,
        chunk_url: String,
        download_url: String,
    },
}

#[derive(Debug, Deserialize)]
pub(crate) struct TaskQuery {
    attempt: Option<u32>,
}

/// `GET /runs/{id}/tasks/{task}`.
pub(crate) async fn task(
    State(api): State<Api>,
    UiPath((id, task)): UiPath<(i64, String)>,
    UiQuery(query): UiQuery<TaskQuery>,
) -> PageResult {
    let id = RunId(id);
    let name = TaskName::new(task.clone());
    let log = api
        .control
        .task_log(id, &name, query.attempt.map(Attempt))
        .await?;
    let status = api.control.run_status(id).await?;
    let zone = status.timezone;
    let row = status.tasks.iter().find(|row| row.task == name);
    let base = task_href(id, &task);
    let attempts = row
        .map(|row| {
            row.attempts
                .iter()
                .map(|record| {
                    let (state, finished, class, reason) = match &record.finished {
                        None => ("running", None, None, None),
                        Some((at, AttemptOutcome::Succeeded { .. })) => {
                            ("succeeded", Some(*at), None, None)
                        }
                        Some((at, AttemptOutcome::Failed { reason })) => (
                            "failed",
                            Some(*at),
                            Some(reason.class().to_string()),
                            Some(reason.to_string()),
                        ),
                    };
                    AttemptRow {
                        attempt: record.attempt.0,
                        href: format!("{base}?attempt={}", record.attempt.0),
                        is_selected: Some(record.attempt) == log.attempt,
                        shown: Shown::of(state),
                        started: local_time::seconds(record.started_at, zone),
                        finished: finished
                            .map(|at| local_time::seconds(at, zone))
                            .unwrap_or_default(),
                        duration: finished
                            .map(|at| {
                                format!(
                                    "{:.1} s",
                                    (at - record.started_at).num_milliseconds() as f64 / 1000.0
                                )
                            })
                            .unwrap_or_default(),
                        class,
                        reason,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let log_view = match log.attempt {
        None => LogView::None(api.control.why_no_log(&log.run, &name).await?),
        Some(attempt) => {
            // The use case's extent says whether more will come (the last lines are written
            // just after the attempt's end is recorded), as for the API's log route.
            let extent = log
                .extent(&api.control, chrono::Utc::now())?
                .ok_or_else(|| {
                    ControlError::NotFound(format!("run {id} has no attempt {}", attempt.0))
                })?;
            let size = extent.length;
            let mut start = size.saturating_sub(TAIL);
            let mut chunk = extent.read(start, None)?;
            if start > 0 {
                // Start at a whole line: drop what precedes the first newline.
                let cut = chunk
                    .bytes
                    .iter()
                    .position(|&byte| byte == b'\n')
                    .map_or(0, |newline| newline + 1);
                chunk.bytes.drain(..cut);
                start += cut as u64;
            }
            let attempt_url = format!("{base}/attempts/{}", attempt.0);
            LogView::Some {
                attempt: attempt.0,
                text: String::from_utf8_lossy(&chunk.bytes).into_owned(),
                start,
                end: chunk.next_offset,
                is_running: !extent.is_complete,
                chunk_url: format!("{attempt_url}/log"),
                download_url: format!("{attempt_url}/download"),
            }
        }
    };
    let shown = Shown::of(row.map_or("pending", |row| row.shown_state(status.run.is_orphaned)));
    let record = &status.run.record;
    page(&TaskPage {
        layout: Layout::new(&format!("{task} · run {id}"), Nav::Runs, Live::Run(id)),
        run: id.0,
        workflow: record.workflow.to_string(),
        workflow_href: format!("/workflows/{}", url_component(record.workflow.as_str())),
        task,
        shown,
        attempts,
        log: log_view,
    })
}
