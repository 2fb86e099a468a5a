//! Backfills from the UI: the form (`/backfills/new`), its dry-run preview (`POST
//! /backfills/preview`: what each interval would do, recording nothing), starting it (`POST
//! /backfills`: recorded for the server, which is woken) and its progress (`/backfills/{id}`).

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tidewater_control::{BackfillRequest, BackfillStep, FileStatus, time_arg};
use tidewater_core::BackfillId;
use tidewater_store::RunFilter;

use super::layout::{Layout, Live, Nav, url_component};
use super::state_style::Shown;
use super::ui_error::{PageResult, UiError, UiForm, UiPath, UiQuery, page};
use super::workflows_page::RunChip;
use crate::api::Api;

/// The backfill form's fields (also the query string that pre-fills it).
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct BackfillForm {
    #[serde(default)]
    workflow: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    /// Empty: the workflow's `max_active_runs`.
    #[serde(default)]
    max_active_runs: String,
    #[serde(default)]
    reverse: bool,
    #[serde(default)]
    only_missing: bool,
}

impl BackfillForm {
    fn request(&self, is_dry_run: bool) -> Result<BackfillRequest, UiError> {
        let max_active_runs = match self.max_active_runs.trim() {
            "" => None,
            text => Some(text.parse::<u32>().map_err(|_| {
                UiError::invalid(format!(
                    "max active runs must be a whole number of at least 1, not `{text}`"
                ))
            })?),
        };
        Ok(BackfillRequest {
            workflow: self.workflow.clone(),
            from: time_arg::parse_date(&self.from)?,
            to: time_arg::parse_date(&self.to)?,
            max_active_runs,
            order: BackfillRequest::order_of(self.reverse),
            only_missing: self.only_missing,
            dry_run: is_dry_run,
        })
    }
}

#[derive(Template)]
#[template(path = "backfill_new.html")]
struct NewPage {
    layout: Layout,
    form: BackfillForm,
    workflows: Vec<String>,
}

#[derive(Template)]
#[template(path = "backfill_preview.html")]
struct PreviewPage {
    layout: Layout,
    form: BackfillForm,
    max_active_runs: u32,
    resumes: Option<i64>,
    steps: Vec<StepRow>,
    runs_to_start: usize,
}

struct StepRow {
    ds: String,
    what: String,
    run: Option<i64>,
    is_skipped: bool,
}

#[derive(Template)]
#[template(path = "backfill_progress.html")]
struct ProgressPage {
    layout: Layout,
    id: i64,
    workflow: String,
    workflow_href: String,
    from: String,
    to: String,
    max_active_runs: u32,
    is_finished: bool,
    counts: Vec<(Shown, u64)>,
    total: u64,
    done_percent: u64,
    runs: Vec<RunChip>,
}

/// `GET /backfills/new`.
pub(crate) async fn new_backfill(
    State(api): State<Api>,
    UiQuery(form): UiQuery<BackfillForm>,
) -> PageResult {
    let workflows = api
        .control
        .workflow_overview(chrono::Utc::now())
        .await?
        .into_iter()
        .filter_map(|file| match file.status {
            FileStatus::Loaded(summary) => Some(summary.name.to_string()),
            FileStatus::Broken(_) => None,
        })
        .collect();
    page(&NewPage {
        layout: Layout::new("New backfill", Nav::Workflows, Live::Static),
        form,
        workflows,
    })
}

/// `POST /backfills/preview`: the dry run.
pub(crate) async fn preview(
    State(api): State<Api>,
    UiForm(form): UiForm<BackfillForm>,
) -> PageResult {
    let backfill = api.control.backfill(&form.request(true)?).await?;
    let plan = &backfill.plan;
    let zone = plan.loaded.workflow.timezone;
    let steps: Vec<StepRow> = plan
        .intervals
        .iter()
        .map(|planned| {
            let (what, run) = match &planned.step {
                BackfillStep::Create => ("new run".to_owned(), None),
                BackfillStep::RunAgain { run, state } => {
                    (format!("run {run} again ({})", state.name()), Some(run.0))
                }
                BackfillStep::Keep { run, state } => {
                    (format!("keep run {run} ({})", state.name()), Some(run.0))
                }
                BackfillStep::Skip(why) => (format!("skip: {why}"), None),
            };
            StepRow {
                ds: planned.interval.ds(zone).to_string(),
                is_skipped: matches!(planned.step, BackfillStep::Skip(_)),
                what,
                run,
            }
        })
        .collect();
    page(&PreviewPage {
        layout: Layout::new("Backfill preview", Nav::Workflows, Live::Static),
        max_active_runs: plan.max_active_runs,
        resumes: plan.existing.as_ref().map(|existing| existing.id.0),
        runs_to_start: plan
            .intervals
            .iter()
            .filter(|planned| {
                matches!(
                    planned.step,
                    BackfillStep::Create | BackfillStep::RunAgain { .. }
                )
            })
            .count(),
        steps,
        form,
    })
}

/// `POST /backfills`: records the backfill for the server and opens its progress.
pub(crate) async fn start(
    State(api): State<Api>,
    UiForm(form): UiForm<BackfillForm>,
) -> Result<Response, UiError> {
    let backfill = api.control.backfill(&form.request(false)?).await?;
    let Some(recorded) = &backfill.recorded else {
        return Err(UiError::invalid(format!(
            "{} has no ended interval from {} to {}: nothing to backfill",
            form.workflow, form.from, form.to
        )));
    };
    api.control.wake_server().await?;
    Ok(Redirect::to(&format!("/backfills/{}", recorded.record.id.0)).into_response())
}

/// `GET /backfills/{id}`.
pub(crate) async fn progress(State(api): State<Api>, UiPath(id): UiPath<i64>) -> PageResult {
    let record = api.control.backfill_record(BackfillId(id)).await?;
    let counts = api.control.backfill_counts(record.id).await?;
    let mut runs = api
        .control
        .list_runs(&RunFilter {
            backfill: Some(record.id),
            ..RunFilter::default()
        })
        .await?;
    // Each run dated in the zone of the workflow version it was created with.
    api.control.date_runs(&mut runs).await?;
    let total = counts.total();
    let done = counts.succeeded + counts.failed + counts.cancelled;
    page(&ProgressPage {
        layout: Layout::new(
            &format!("Backfill {id}"),
            Nav::Workflows,
            Live::Workflow(record.workflow.to_string()),
        ),
        id,
        workflow_href: format!("/workflows/{}", url_component(record.workflow.as_str())),
        workflow: record.workflow.to_string(),
        from: record.from.to_string(),
        to: record.to.to_string(),
        max_active_runs: record.max_active_runs,
        is_finished: record.finished_at.is_some(),
        counts: vec![
            (Shown::of("queued"), counts.queued),
            (Shown::of("running"), counts.running),
            (Shown::of("succeeded"), counts.succeeded),
            (Shown::of("failed"), counts.failed),
            (Shown::of("cancelled"), counts.cancelled),
        ],
        total,
        // No run at all: nothing left to do.
        done_percent: (done * 100).checked_div(total).unwrap_or(100),
        // Oldest interval first, as a strip reads.
        runs: {
            let mut chips: Vec<(chrono::NaiveDate, RunChip)> = runs
                .runs
                .iter()
                .map(|entry| {
                    let shown = Shown::of(entry.shown_state());
                    let ds = entry.record.interval.ds(runs.timezone(&entry.record));
                    (
                        ds,
                        RunChip {
                            id: entry.record.id.0,
                            title: format!("run {} · {ds} · {}", entry.record.id, shown.words()),
                            shown,
                        },
                    )
                })
                .collect();
            chips.sort_by_key(|(ds, _)| *ds);
            chips.into_iter().map(|(_, chip)| chip).collect()
        },
    })
}
