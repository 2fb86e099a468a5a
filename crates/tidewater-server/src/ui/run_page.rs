//! A run's page (`/runs/{id}`): its state, interval and actions, its DAG drawn with each
//! task's state (the default tab) or its attempts on a time axis (`/runs/{id}/gantt`), and
//! its tasks. The actions (retry, retry on the latest version, cancel) are POST forms that
//! call the same use cases as the API.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use tidewater_control::{ClearScope, NotificationLine, RunStatus, TaskNote, local_time};
use tidewater_core::{RunId, RunState};

use super::dag_layout::{DagLayout, NODE_HEIGHT, NODE_WIDTH};
use super::gantt::Gantt;
use super::layout::{Layout, Live, Nav, url_component};
use super::state_style::Shown;
use super::ui_error::{PageResult, UiError, UiForm, UiPath, page};
use crate::api::Api;
use crate::runs::{clear_for_server, requeue_for_server};

/// What the header of every tab of a run's page shows.
pub(crate) struct RunHeader {
    pub(crate) id: i64,
    pub(crate) workflow: String,
    pub(crate) workflow_href: String,
    pub(crate) shown: Shown,
    pub(crate) trigger: &'static str,
    pub(crate) ds: String,
    pub(crate) interval: String,
    /// The run's params as JSON (`{"region":"us"}`); `None` for a workflow without params.
    pub(crate) params: Option<String>,
    pub(crate) created: String,
    pub(crate) started: Option<String>,
    pub(crate) finished: Option<String>,
    pub(crate) note: Option<String>,
    pub(crate) can_cancel: bool,
    pub(crate) can_retry: bool,
    /// Ended: its tasks can be cleared (run again).
    pub(crate) can_clear: bool,
    pub(crate) backfill: Option<i64>,
    /// The run and `call` task that started this child run.
    pub(crate) called_by: Option<(i64, String)>,
}

impl RunHeader {
    pub(crate) fn new(status: &RunStatus) -> RunHeader {
        let record = &status.run.record;
        let zone = status.timezone;
        RunHeader {
            id: record.id.0,
            workflow: record.workflow.to_string(),
            workflow_href: format!("/workflows/{}", url_component(record.workflow.as_str())),
            shown: Shown::of(status.run.shown_state()),
            trigger: record.trigger.as_str(),
            ds: record.interval.ds(zone).to_string(),
            interval: format!(
                "{} → {}",
                local_time::minutes(record.interval.start, zone),
                local_time::minutes(record.interval.end, zone)
            ),
            params: (!record.params.is_empty())
                .then(|| serde_json::Value::Object(record.params.clone()).to_string()),
            created: local_time::seconds(record.created_at, zone),
            started: record
                .state
                .started_at()
                .map(|at| local_time::seconds(at, zone)),
            finished: record
                .state
                .finished_at()
                .map(|at| local_time::seconds(at, zone)),
            note: status.run.orphaned_note(),
            can_cancel: matches!(record.state, RunState::Queued | RunState::Running { .. }),
            can_retry: matches!(
                record.state,
                RunState::Failed { .. } | RunState::Cancelled { .. }
            ) || status.run.is_orphaned,
            can_clear: record.state.finished_at().is_some(),
            backfill: record.backfill.map(|backfill| backfill.0),
            called_by: status
                .parent
                .as_ref()
                .map(|parent| (parent.run.0, parent.task.to_string())),
        }
    }
}

/// A task's row in the run's table.
pub(crate) struct TaskRow {
    pub(crate) task: String,
    pub(crate) href: String,
    pub(crate) shown: Shown,
    pub(crate) attempts: usize,
    pub(crate) duration: String,
    pub(crate) note: String,
    pub(crate) class: Option<String>,
    /// The child run of a `call` task.
    pub(crate) child: Option<i64>,
}

fn task_rows(status: &RunStatus, run: RunId) -> Vec<TaskRow> {
    status
        .tasks
        .iter()
        .map(|task| TaskRow {
            task: task.task.to_string(),
            href: task_href(run, task.task.as_str()),
            shown: Shown::of(task.shown_state(status.run.is_orphaned)),
            attempts: task.attempts.len(),
            duration: task
                .duration()
                .map(|duration| format!("{:.1} s", duration.num_milliseconds() as f64 / 1000.0))
                .unwrap_or_default(),
            note: match task.note() {
                TaskNote::None => String::new(),
                TaskNote::RetryAt(at) => {
                    format!("retry at {}", local_time::seconds(at, status.timezone))
                }
                TaskNote::Failed(reason) => reason.to_string(),
                TaskNote::LogIncomplete(error) => format!("log incomplete: {error}"),
            },
            class: task.class().map(|class| class.to_string()),
            child: task.child.map(|child| child.0),
        })
        .collect()
}

/// One of the run's webhooks (`on_failure: { webhook }`...) and how its delivery goes.
pub(crate) struct WebhookRow {
    pub(crate) event: String,
    pub(crate) state: &'static str,
    pub(crate) deliveries: u32,
    /// Pending: when the next delivery may start; otherwise when it ended.
    pub(crate) at: String,
    pub(crate) last_error: String,
}

fn webhook_rows(status: &RunStatus) -> Vec<WebhookRow> {
    status
        .notifications
        .iter()
        .map(|record| {
            let line = NotificationLine::new(record);
            WebhookRow {
                event: line.event,
                state: line.state,
                deliveries: line.deliveries,
                at: local_time::seconds(line.at, status.timezone),
                last_error: line.last_error.unwrap_or_default(),
            }
        })
        .collect()
}

pub(crate) fn task_href(run: RunId, task: &str) -> String {
    format!("/runs/{run}/tasks/{}", url_component(task))
}

/// A task's box in the graph.
struct GraphNode {
    x: u32,
    y: u32,
    label: String,
    title: String,
    href: String,
    shown: Shown,
}

struct Graph {
    width: u32,
    height: u32,
    node_width: u32,
    node_height: u32,
    nodes: Vec<GraphNode>,
    edges: Vec<String>,
}

#[derive(Template)]
#[template(path = "run_graph.html")]
struct GraphPage {
    layout: Layout,
    run: RunHeader,
    tasks: Vec<TaskRow>,
    webhooks: Vec<WebhookRow>,
    graph: Result<Graph, String>,
}

#[derive(Template)]
#[template(path = "run_gantt.html")]
struct GanttPage {
    layout: Layout,
    run: RunHeader,
    tasks: Vec<TaskRow>,
    webhooks: Vec<WebhookRow>,
    gantt: Option<Gantt>,
}

/// `GET /runs/{id}`: the graph.
pub(crate) async fn graph(State(api): State<Api>, UiPath(id): UiPath<i64>) -> PageResult {
    let id = RunId(id);
    let status = api.control.run_status(id).await?;
    // The run's own version of the workflow: a later edit does not redraw an old run.
    let graph = match api.control.pinned_workflow(&status.run.record).await {
        Ok(loaded) => {
            let workflow = &loaded.workflow;
            let layout = DagLayout::new(workflow.dag(), workflow.tasks());
            let nodes = workflow
                .tasks()
                .iter()
                .zip(&layout.nodes)
                .map(|(task, place)| {
                    let name = task.name.as_str();
                    let state = status
                        .tasks
                        .iter()
                        .find(|row| row.task == task.name)
                        .map_or("pending", |row| row.shown_state(status.run.is_orphaned));
                    let shown = Shown::of(state);
                    GraphNode {
                        x: place.x,
                        y: place.y,
                        label: shorten(name, 19),
                        title: format!("{name} · {}", shown.words()),
                        href: task_href(id, name),
                        shown,
                    }
                })
                .collect();
            Ok(Graph {
                width: layout.width,
                height: layout.height,
                node_width: NODE_WIDTH,
                node_height: NODE_HEIGHT,
                nodes,
                edges: layout.edges.into_iter().map(|edge| edge.d).collect(),
            })
        }
        Err(error) => Err(error.to_string()),
    };
    page(&GraphPage {
        layout: Layout::new(&format!("Run {id}"), Nav::Runs, Live::Run(id)),
        run: RunHeader::new(&status),
        tasks: task_rows(&status, id),
        webhooks: webhook_rows(&status),
        graph,
    })
}

/// `GET /runs/{id}/gantt`.
pub(crate) async fn gantt(State(api): State<Api>, UiPath(id): UiPath<i64>) -> PageResult {
    let id = RunId(id);
    let status = api.control.run_status(id).await?;
    let gantt = Gantt::new(&status, chrono::Utc::now(), |task| task_href(id, task));
    page(&GanttPage {
        layout: Layout::new(&format!("Run {id}"), Nav::Runs, Live::Run(id)),
        run: RunHeader::new(&status),
        tasks: task_rows(&status, id),
        webhooks: webhook_rows(&status),
        gantt,
    })
}

/// `name`, cut to `limit` characters with an ellipsis.
fn shorten(name: &str, limit: usize) -> String {
    if name.chars().count() <= limit {
        name.to_owned()
    } else {
        let mut short: String = name.chars().take(limit - 1).collect();
        short.push('…');
        short
    }
}

/// The retry form: `latest=true` resumes on the workflow file as it is now.
#[derive(Debug, Deserialize)]
pub(crate) struct RetryForm {
    #[serde(default)]
    latest: bool,
}

/// `POST /runs/{id}/retry`: queues the run again for the server.
pub(crate) async fn retry(
    State(api): State<Api>,
    UiPath(id): UiPath<i64>,
    UiForm(form): UiForm<RetryForm>,
) -> Result<impl IntoResponse, UiError> {
    requeue_for_server(&api.control, RunId(id), form.latest).await?;
    Ok(Redirect::to(&format!("/runs/{id}")))
}

/// The clear form: one task, and whether everything downstream of it runs again too.
#[derive(Debug, Deserialize)]
pub(crate) struct ClearForm {
    task: String,
    #[serde(default)]
    downstream: bool,
}

/// `POST /runs/{id}/clear`: resets the task (and, if asked, what depends on it) and queues
/// the run again for the server.
pub(crate) async fn clear(
    State(api): State<Api>,
    UiPath(id): UiPath<i64>,
    UiForm(form): UiForm<ClearForm>,
) -> Result<impl IntoResponse, UiError> {
    let scope = if form.downstream {
        ClearScope::WithDownstream
    } else {
        ClearScope::Tasks
    };
    clear_for_server(&api.control, RunId(id), &[form.task], scope).await?;
    Ok(Redirect::to(&format!("/runs/{id}")))
}

/// `POST /runs/{id}/cancel`: asks the run's executor to cancel it.
pub(crate) async fn cancel(
    State(api): State<Api>,
    UiPath(id): UiPath<i64>,
) -> Result<impl IntoResponse, UiError> {
    api.control.ask_cancel(RunId(id)).await?;
    Ok(Redirect::to(&format!("/runs/{id}")))
}
