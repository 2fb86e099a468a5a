//! The web UI: server-rendered HTML pages over the same use cases as the API, at `/`.
//!
//! Each page is one request (askama templates compiled into the binary, HTML-escaped by
//! default) and stays live: the page subscribes to the events stream and, when something it
//! shows changes, fetches itself again and swaps its `#live` part (htmx, vendored in
//! `assets/`). Actions are plain same-origin POST forms to UI routes, which call one use case
//! and redirect (or show the use case's message). Static assets are embedded (`assets.rs`).
//!
//! These routes are pages, not the API: they are not in the OpenAPI document, which lists
//! exactly the routes under `/api/v1` (the document test exempts this module from its "no
//! axum `route`" rule for that reason, and checks that no UI route is under `/api`).

mod assets;
mod backfill_pages;
mod dag_layout;
mod gantt;
mod grid_page;
mod layout;
mod log_route;
pub(crate) mod login_page;
mod queue_page;
mod run_page;
mod runs_page;
mod state_style;
mod streams_page;
mod tables_page;
mod task_page;
mod ui_error;
mod workers_page;
mod workflows_page;

use axum::Router;
use axum::routing::{get, post};

use crate::api::{Api, router};

/// The whole application: the UI's pages beside the API (whose fallback answers every
/// other path with a problem).
pub fn app(api: Api) -> Router {
    let pages = pages().with_state(api.clone());
    let (api_router, _document) = router(api);
    pages.merge(api_router)
}

fn pages() -> Router<Api> {
    Router::new()
        .route("/", get(workflows_page::workflows))
        .route("/assets/{file}", get(assets::asset))
        .route("/queue", get(queue_page::queue))
        .route("/runs", get(runs_page::runs))
        .route("/tables", get(tables_page::tables))
        .route("/tables/{name}", get(tables_page::table))
        .route("/workers", get(workers_page::workers))
        .route("/workflows/{name}", get(grid_page::grid))
        .route("/workflows/{name}/paused", post(workflows_page::set_paused))
        .route("/workflows/{name}/runs", post(workflows_page::trigger))
        .route("/runs/{id}", get(run_page::graph))
        .route("/runs/{id}/gantt", get(run_page::gantt))
        .route("/runs/{id}/retry", post(run_page::retry))
        .route("/runs/{id}/cancel", post(run_page::cancel))
        .route("/runs/{id}/clear", post(run_page::clear))
        .route("/runs/{id}/tasks/{task}", get(task_page::task))
        .route(
            "/runs/{id}/tasks/{task}/attempts/{attempt}/log",
            get(log_route::log_chunk),
        )
        .route(
            "/runs/{id}/tasks/{task}/attempts/{attempt}/download",
            get(log_route::download),
        )
        .route("/backfills/new", get(backfill_pages::new_backfill))
        .route("/backfills/preview", post(backfill_pages::preview))
        .route("/backfills", post(backfill_pages::start))
        .route("/backfills/{id}", get(backfill_pages::progress))
        .route("/streams", get(streams_page::streams))
        .route("/streams/{name}/paused", post(streams_page::set_paused))
}
