//! The grid (`/workflows/{name}`): one workflow's runs × tasks, newest run first, a bounded
//! window paged by a cursor; each cell opens its task instance.

use askama::Template;
use axum::extract::State;
use serde::Deserialize;
use tidewater_core::{RunId, WorkflowName};

use super::layout::{Layout, Live, Nav, url_component};
use super::state_style::Shown;
use super::ui_error::{PageResult, UiError, UiPath, UiQuery, page};
use crate::api::Api;

/// Runs a page of the grid shows.
const WINDOW: u32 = 25;

#[derive(Template)]
#[template(path = "grid.html")]
struct GridPage {
    layout: Layout,
    workflow: String,
    /// The workflow's name as a URL path segment.
    segment: String,
    tasks: Vec<String>,
    rows: Vec<GridRowView>,
    /// The next (older) page's URL.
    older: Option<String>,
    /// This is not the newest page.
    is_paged: bool,
}

struct GridRowView {
    run: i64,
    ds: String,
    shown: Shown,
    cells: Vec<Option<Cell>>,
}

struct Cell {
    href: String,
    title: String,
    shown: Shown,
}

#[derive(Debug, Deserialize)]
pub(crate) struct GridQuery {
    /// The cursor: runs listed after this one.
    before: Option<i64>,
}

/// `GET /workflows/{name}`.
pub(crate) async fn grid(
    State(api): State<Api>,
    UiPath(name): UiPath<String>,
    UiQuery(query): UiQuery<GridQuery>,
) -> PageResult {
    let workflow = WorkflowName::new(name.clone());
    let grid = api
        .control
        .task_grid(&workflow, query.before.map(RunId), WINDOW)
        .await?;
    if grid.rows.is_empty() && grid.tasks.is_empty() {
        // Neither a file nor a run of that name: say what the use case says of the name.
        api.control.load_workflow(&name)?;
        return Err(UiError::invalid(format!("{name} has no runs and no tasks")));
    }
    let segment = url_component(&name);
    let rows = grid
        .rows
        .iter()
        .map(|row| {
            let run = row.run.record.id;
            let cells = grid
                .tasks
                .iter()
                .map(|task| {
                    row.instance(task).map(|instance| {
                        let state = if row.run.is_orphaned
                            && matches!(instance.state, tidewater_core::TaskState::Running { .. })
                        {
                            "orphaned"
                        } else {
                            instance.state.name()
                        };
                        let shown = Shown::of(state);
                        Cell {
                            href: format!("/runs/{run}/tasks/{}", url_component(task.as_str())),
                            title: format!("{task} · run {run} · {}", shown.words()),
                            shown,
                        }
                    })
                })
                .collect();
            GridRowView {
                run: run.0,
                ds: row.run.record.interval.ds(grid.timezone).to_string(),
                shown: Shown::of(row.run.shown_state()),
                cells,
            }
        })
        .collect();
    page(&GridPage {
        layout: Layout::new(&name, Nav::Workflows, Live::Workflow(name.clone())),
        older: grid
            .next_before
            .map(|before| format!("/workflows/{segment}?before={before}")),
        is_paged: query.before.is_some(),
        segment,
        workflow: name,
        tasks: grid.tasks.iter().map(ToString::to_string).collect(),
        rows,
    })
}
