//! The runs (`/runs`): every workflow's runs, newest first, a page at a time, filtered by
//! state.

use askama::Template;
use axum::extract::State;
use serde::Deserialize;
use tidewater_core::{RunId, RunStateKind};
use tidewater_store::RunFilter;

use super::layout::{Layout, Live, Nav, url_component};
use super::state_style::Shown;
use super::ui_error::{PageResult, UiError, UiQuery, page};
use crate::api::Api;

/// Runs a page lists.
const PAGE: u32 = 50;

#[derive(Template)]
#[template(path = "runs.html")]
struct RunsPage {
    layout: Layout,
    state: String,
    states: Vec<&'static str>,
    runs: Vec<RunRow>,
    older: Option<String>,
    is_paged: bool,
}

struct RunRow {
    id: i64,
    workflow: String,
    workflow_href: String,
    shown: Shown,
    trigger: &'static str,
    interval_start: String,
    created: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RunsQuery {
    before: Option<i64>,
    #[serde(default)]
    state: String,
}

/// `GET /runs`.
pub(crate) async fn runs(State(api): State<Api>, UiQuery(query): UiQuery<RunsQuery>) -> PageResult {
    let state = match query.state.as_str() {
        "" => None,
        name => Some(
            RunStateKind::ALL
                .into_iter()
                .find(|kind| kind.name() == name)
                .ok_or_else(|| UiError::invalid(format!("`{name}` is not a run state")))?,
        ),
    };
    let list = api
        .control
        .list_runs(&RunFilter {
            state,
            before: query.before.map(RunId),
            limit: Some(PAGE),
            ..RunFilter::default()
        })
        .await?;
    let older = (list.runs.len() == PAGE as usize)
        .then(|| list.runs.last())
        .flatten()
        .map(|last| {
            format!(
                "/runs?before={}&state={}",
                last.record.id,
                url_component(&query.state)
            )
        });
    page(&RunsPage {
        layout: Layout::new("Runs", Nav::Runs, Live::Everything),
        states: RunStateKind::ALL
            .into_iter()
            .map(RunStateKind::name)
            .collect(),
        runs: list
            .runs
            .iter()
            .map(|entry| RunRow {
                id: entry.record.id.0,
                workflow: entry.record.workflow.to_string(),
                workflow_href: format!(
                    "/workflows/{}",
                    url_component(entry.record.workflow.as_str())
                ),
                shown: Shown::of(entry.shown_state()),
                trigger: entry.record.trigger.as_str(),
                interval_start: tidewater_control::local_time::utc(entry.record.interval.start),
                created: tidewater_control::local_time::utc(entry.record.created_at),
            })
            .collect(),
        older,
        is_paged: query.before.is_some(),
        state: query.state,
    })
}
