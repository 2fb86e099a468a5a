//! Tidewater's HTTP API: the routes under `/api/v1` over `tidewater-control`'s use cases,
//! and their OpenAPI 3.1 document, generated from the routes (see [`router`]).
//!
//! A handler translates its request, calls one use case, and serialises the result in the
//! use case's JSON shape (`tidewater_control::json`, the same the CLI's `--json` prints);
//! every error becomes an RFC 9457 problem in [`problem`], the one place that decides a
//! status. `GET /metrics` writes the project's metrics for Prometheus (`metrics.rs`, over
//! tidewater-control's `Metrics`). `GET /api/v1/events` streams the store's change feed as server-sent events
//! (`events.rs`), each stream polling the store for itself. It owns no rule of its own (those are the use cases') and no scheduling: the
//! binary runs it beside the scheduler, in the same process and runtime. axum stays in this
//! crate.
//!
//! Access is checked once for every request, around the whole router ([`protect`], in
//! `auth.rs`): once a token exists, each request needs one (or the UI's session cookie) of a
//! wide enough scope.

// Library code reports errors to its caller and prints nothing.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)
)]

mod api;
mod auth;
mod backfills;
mod events;
mod extract;
mod logs;
mod metrics;
pub mod problem;
mod queue;
mod request_refusals;
mod runs;
mod streams;
mod tables;
mod tokens;
pub mod ui;
mod workers;
mod workflows;

use std::future::Future;
use std::sync::Arc;

pub use api::{Api, document, router};
pub use auth::protect;
pub use problem::Problem;
use tidewater_control::Control;

/// Serves the API on `listener` until `shutdown` completes; requests under way then finish.
/// Every route, and the fallback, is behind the access check ([`protect`]).
pub async fn serve_http(
    control: Arc<Control>,
    parallelism: Option<u32>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, stopping) = tokio::sync::watch::channel(false);
    // Counters count from here: what happened before the server started is not its to count.
    let metrics = Arc::new(
        control
            .start_metrics()
            .await
            .map_err(std::io::Error::other)?,
    );
    let app = ui::app(Api {
        control: control.clone(),
        parallelism,
        stopping,
        metrics,
    });
    // Around everything else, so that no route (an API route or a page) is served unchecked.
    let app = protect(app, control);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            // Event streams and live tails never end by themselves: they end now, or the
            // graceful shutdown would wait for them forever. Other requests under way finish.
            let _ = stop.send(true);
        })
        .await
}
