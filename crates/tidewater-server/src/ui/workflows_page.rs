//! The workflows page (`/`): every workflow file with its schedule, next due time, pause and
//! a strip of its recent runs, or the file's problem; and the forms that pause, unpause and
//! trigger a workflow.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use tidewater_control::{
    Concurrency, FileStatus, IntervalRequest, ManualRunRequest, NextDue, local_time,
};
use tidewater_core::WorkflowName;

use super::layout::{Layout, Live, Nav, url_component};
use super::state_style::Shown;
use super::ui_error::{PageResult, UiError, UiForm, UiPath, page};
use crate::api::Api;

#[derive(Template)]
#[template(path = "workflows.html")]
struct WorkflowsPage {
    layout: Layout,
    files: Vec<FileRow>,
}

struct FileRow {
    file: String,
    workflow: Option<WorkflowRow>,
    problem: Option<ProblemRow>,
}

struct WorkflowRow {
    name: String,
    link: String,
    schedule: String,
    /// What a data-aware schedule waits for.
    waits_for: Option<String>,
    timezone: String,
    next_due: String,
    is_paused: bool,
    /// Oldest first, so the newest run is at the right end of the strip.
    recent: Vec<RunChip>,
}

/// One run in a strip of runs.
pub(crate) struct RunChip {
    pub(crate) id: i64,
    pub(crate) shown: Shown,
    pub(crate) title: String,
}

struct ProblemRow {
    message: String,
    location: Option<String>,
    count: usize,
}

/// `GET /`.
pub(crate) async fn workflows(State(api): State<Api>) -> PageResult {
    let now = chrono::Utc::now();
    let overview = api.control.workflow_overview(now).await?;
    let mut files = Vec::with_capacity(overview.len());
    for file in overview {
        let row = match file.status {
            FileStatus::Broken(problems) => FileRow {
                file: file.file,
                workflow: None,
                problem: Some(ProblemRow {
                    message: problems.first,
                    location: problems.location,
                    count: problems.count,
                }),
            },
            FileStatus::Loaded(summary) => {
                let timezone = summary.timezone;
                // The overview read every workflow's recent runs in one go.
                let recent = summary
                    .recent_runs
                    .iter()
                    .rev()
                    .map(|entry| {
                        let shown = Shown::of(entry.shown_state());
                        RunChip {
                            id: entry.record.id.0,
                            title: format!(
                                "run {} · {} · {}",
                                entry.record.id,
                                entry.record.interval.ds(timezone),
                                shown.words()
                            ),
                            shown,
                        }
                    })
                    .collect();
                FileRow {
                    file: file.file,
                    problem: None,
                    workflow: Some(WorkflowRow {
                        link: format!("/workflows/{}", url_component(summary.name.as_str())),
                        name: summary.name.to_string(),
                        schedule: match (&summary.schedule, summary.data_triggers.is_empty()) {
                            (Some(expression), _) => expression.clone(),
                            (None, false) => "on data".to_owned(),
                            (None, true) => "manual only".to_owned(),
                        },
                        waits_for: summary.waits_for(),
                        timezone: timezone.name().to_owned(),
                        next_due: match summary.next_due {
                            NextDue::Never => "—".to_owned(),
                            NextDue::Paused => "paused".to_owned(),
                            NextDue::Now { intervals, .. } => {
                                format!("now ({intervals} due)")
                            }
                            NextDue::At(at) => local_time::minutes(at, timezone),
                        },
                        is_paused: summary.is_paused,
                        recent,
                    }),
                }
            }
        };
        files.push(row);
    }
    page(&WorkflowsPage {
        layout: Layout::new("Workflows", Nav::Workflows, Live::Everything),
        files,
    })
}

/// The pause form: `paused=true` pauses, `paused=false` unpauses.
#[derive(Debug, Deserialize)]
pub(crate) struct PauseForm {
    paused: bool,
}

/// `POST /workflows/{name}/paused`.
pub(crate) async fn set_paused(
    State(api): State<Api>,
    UiPath(name): UiPath<String>,
    UiForm(form): UiForm<PauseForm>,
) -> Result<impl IntoResponse, UiError> {
    let loaded = api.control.load_workflow(&name)?;
    api.control.set_paused(&loaded, form.paused).await?;
    Ok(Redirect::to("/"))
}

/// The trigger form: a local date (empty: the latest complete interval) and params as a
/// JSON object (empty: the defaults).
#[derive(Debug, Deserialize)]
pub(crate) struct TriggerForm {
    #[serde(default)]
    date: String,
    #[serde(default)]
    params: String,
}

/// `POST /workflows/{name}/runs`: queues a manual run for the server (refused while a run
/// of the same interval is active, as the API does) and opens the workflow's grid.
pub(crate) async fn trigger(
    State(api): State<Api>,
    UiPath(name): UiPath<String>,
    UiForm(form): UiForm<TriggerForm>,
) -> Result<impl IntoResponse, UiError> {
    let date = form.date.trim();
    let params = form.params.trim();
    let params = if params.is_empty() {
        serde_json::Map::new()
    } else {
        match serde_json::from_str::<serde_json::Value>(params) {
            Ok(serde_json::Value::Object(params)) => params,
            _ => {
                return Err(UiError::invalid(format!(
                    "params must be a JSON object such as {{\"region\": \"us\"}}, not `{params}`"
                )));
            }
        }
    };
    let loaded = api.control.load_workflow(&name)?;
    let request = ManualRunRequest {
        interval: if date.is_empty() {
            IntervalRequest::Latest
        } else {
            IntervalRequest::Date(date.to_owned())
        },
        params,
        concurrency: Concurrency::RefuseWhileActive,
    };
    api.control.trigger(&loaded, &request).await?;
    let workflow = WorkflowName::new(name);
    Ok(Redirect::to(&format!(
        "/workflows/{}",
        url_component(workflow.as_str())
    )))
}
