//! `/api/v1/events`: the store's change feed as server-sent events, for the web UI and any
//! client that follows runs live.
//!
//! Each stream reads the feed by itself, every [`POLL`], with one indexed query from its last
//! event on: so it sees what every process writes to the store (this server's executor, a
//! foreground `tidewater run`, a backfill), within [`POLL`] of the commit, and costs nothing
//! while nobody listens. Resuming with `Last-Event-ID` (or `after`) continues after that
//! event, without a gap or a duplicate; a client too far behind (events pruned) gets one
//! `reset` event and should reload. Streams end when the server stops, so that shutting down
//! does not wait for clients that never leave.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use tidewater_control::json::EventJson;
use tidewater_control::{Control, EventCursor, EventRequest};
use tokio::sync::watch;

use crate::api::Api;
use crate::extract::QueryOf;
use crate::problem::Problem;

/// How often a stream looks for new events: well within the UI's "visible within 1 s", at
/// the cost of one indexed read per open stream per period (microseconds when nothing
/// changed).
const POLL: Duration = Duration::from_millis(250);

/// A comment line this often keeps proxies and browsers from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Which events, from where.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventsQuery {
    /// Only this run's events.
    run: Option<i64>,
    /// Only this workflow's events.
    workflow: Option<String>,
    /// Resume after this event id (the `Last-Event-ID` header does the same, and wins);
    /// without either, the stream starts with what happens from now on.
    after: Option<i64>,
}

/// Run, task and attempt state changes as they happen (server-sent events). Each event has
/// `id` (a store-wide increasing number), `event` (`run`, `task`, `attempt`, or `reset` when
/// the events after the asked id are no longer kept: read the state again) and one line of
/// JSON `data` (the `data` of the schema). A `: keep-alive` comment comes every 15 s.
#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "events",
    params(
        EventsQuery,
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event id (what a browser's EventSource sends when it reconnects)"),
    ),
    responses(
        (status = 200, description = "A stream of server-sent events, each as described by this schema", body = EventJson, content_type = "text/event-stream"),
        (status = 400, description = "A query parameter or `Last-Event-ID` that is not a number", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A negative event id or an empty workflow name", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn events(
    State(api): State<Api>,
    headers: HeaderMap,
    QueryOf(query): QueryOf<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Problem> {
    let after = match headers.get("last-event-id") {
        None => query.after,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|text| text.trim().parse::<i64>().ok())
                .ok_or_else(|| {
                    Problem::malformed(
                        StatusCode::BAD_REQUEST,
                        "`Last-Event-ID` must be an event id: a number",
                    )
                })?,
        ),
    };
    let request = EventRequest {
        after,
        run: query.run,
        workflow: query.workflow,
    };
    let cursor = api.control.follow_events(&request).await?;
    let follower = Follower {
        control: api.control.clone(),
        cursor,
        pending: VecDeque::new(),
        stopping: api.stopping.clone(),
    };
    let stream = futures_util::stream::unfold(follower, |mut follower| async move {
        let event = follower.next().await?;
        Some((Ok(event), follower))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive")))
}

/// One stream's place in the feed.
struct Follower {
    control: Arc<Control>,
    cursor: EventCursor,
    /// Events read and not yet sent.
    pending: VecDeque<EventJson>,
    /// Set when the server stops ([`Api::stopping`]): the stream then ends.
    stopping: watch::Receiver<bool>,
}

impl Follower {
    /// The next event, waiting for one; `None` ends the stream (the server stops, or the
    /// store failed: the client reconnects with its `Last-Event-ID`).
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(json) = self.pending.pop_front() {
                return Some(sse_event(&json));
            }
            if *self.stopping.borrow() {
                return None;
            }
            let batch = match self.control.read_events(&self.cursor).await {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), "an events stream ends: reading the store failed");
                    return None;
                }
            };
            self.cursor.after = batch.next;
            if batch.events.is_empty() {
                self.wait().await;
            }
            self.pending.extend(batch.events);
        }
    }

    /// Until the next look at the store, or the server stopping.
    async fn wait(&mut self) {
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            _ = self.stopping.changed() => {}
        }
    }
}

fn sse_event(json: &EventJson) -> Event {
    // Serialising these shapes (strings, numbers, an enum) cannot fail; were it to, the
    // event still goes out with its id and kind, and an empty object.
    let data = serde_json::to_string(&json.data).unwrap_or_else(|_| "{}".to_owned());
    Event::default()
        .id(json.id.to_string())
        .event(json.event)
        .data(data)
}
