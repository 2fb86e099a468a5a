//! The queue (`/queue`): what waits and why, the same explanation as `tidewater queue`
//! (queued runs grouped per queue, then the waiting tasks of running runs).

use askama::Template;
use axum::extract::State;
use tidewater_control::QueuedRuns;

use super::layout::{Layout, Live, Nav, url_component};
use super::run_page::task_href;
use super::state_style::Shown;
use super::ui_error::{PageResult, page};
use crate::api::Api;

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePage {
    layout: Layout,
    groups: Vec<GroupRow>,
    waiting: Vec<WaitingRow>,
}

struct GroupRow {
    workflow: String,
    workflow_href: String,
    first: Vec<i64>,
    count: u64,
    /// More runs wait than `first` lists.
    has_more: bool,
    why: String,
}

struct WaitingRow {
    run: i64,
    workflow: String,
    task: Option<(String, String)>,
    shown: Shown,
    why: String,
}

/// `GET /queue`.
pub(crate) async fn queue(State(api): State<Api>) -> PageResult {
    let explanation = api
        .control
        .explain_queue(api.parallelism, QueuedRuns::Grouped)
        .await?;
    page(&QueuePage {
        layout: Layout::new("Queue", Nav::Queue, Live::Everything),
        groups: explanation
            .groups
            .iter()
            .map(|group| GroupRow {
                workflow_href: format!("/workflows/{}", url_component(&group.workflow)),
                workflow: group.workflow.clone(),
                first: group.first.iter().map(|run| run.0).collect(),
                count: group.count,
                has_more: group.count > group.first.len() as u64,
                why: group.why.clone(),
            })
            .collect(),
        waiting: explanation
            .waiting
            .iter()
            .map(|waiting| WaitingRow {
                run: waiting.run.0,
                workflow: waiting.workflow.to_string(),
                task: waiting
                    .task
                    .as_ref()
                    .map(|task| (task.to_string(), task_href(waiting.run, task.as_str()))),
                shown: Shown::of(waiting.state),
                why: waiting.why.clone(),
            })
            .collect(),
    })
}
