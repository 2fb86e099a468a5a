//! The streams page (`/streams`): each stream's state, lag, rate, last commit and dead
//! letters, as `tidewater streams` shows them, and the forms that pause and resume one.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use tidewater_control::{StreamOverview, StreamState, local_time};

use super::layout::{Layout, Live, Nav, url_component};
use super::ui_error::{PageResult, UiError, UiForm, UiPath, page};
use crate::api::Api;

#[derive(Template)]
#[template(path = "streams.html")]
struct StreamsPage {
    layout: Layout,
    streams: Vec<StreamRow>,
}

struct StreamRow {
    name: String,
    state: String,
    state_class: &'static str,
    state_title: String,
    reason: Option<String>,
    is_paused: bool,
    table: String,
    table_href: String,
    committed: String,
    lag: String,
    rate: String,
    last_commit: String,
    dead_letters: u64,
    problems: Vec<String>,
    pause_action: String,
}

impl StreamRow {
    fn new(stream: &StreamOverview) -> StreamRow {
        let shown = |value: Option<String>| value.unwrap_or_else(|| "—".to_owned());
        let (state, state_class, state_title, reason) = match &stream.state {
            StreamState::Running { owner } => (
                "running".to_owned(),
                "s-running",
                format!("consumed by process {}", owner.pid),
                None,
            ),
            StreamState::Paused => (
                "❚❚ paused".to_owned(),
                "s-paused",
                "the server does not consume it until it is resumed".to_owned(),
                None,
            ),
            StreamState::Failing {
                reason, retry_at, ..
            } => (
                "failing".to_owned(),
                "s-failed",
                format!("tried again at {}", local_time::utc(*retry_at)),
                Some(reason.clone()),
            ),
            StreamState::Stopped => (
                "stopped".to_owned(),
                "s-pending",
                "nobody consumes it".to_owned(),
                None,
            ),
            StreamState::NeverRun => (
                "never run".to_owned(),
                "s-pending",
                "never consumed yet".to_owned(),
                None,
            ),
        };
        let last_commit = stream.last_commit.as_ref();
        let table = stream.spec.into.table.to_string();
        StreamRow {
            name: stream.spec.name.clone(),
            state,
            state_class,
            state_title,
            reason,
            is_paused: stream.state == StreamState::Paused,
            table_href: format!("/tables/{}", url_component(&table)),
            table,
            committed: shown(stream.committed.map(|position| position.to_string())),
            lag: shown(stream.lag.map(|lag| lag.to_string())),
            rate: shown(last_commit.map(|commit| format!("{:.0}/s", commit.rate))),
            last_commit: shown(last_commit.map(|commit| local_time::utc(commit.at))),
            dead_letters: stream.dead_letters,
            problems: stream.problems.clone(),
            pause_action: format!("/streams/{}/paused", url_component(&stream.spec.name)),
        }
    }
}

/// `GET /streams`.
pub(crate) async fn streams(State(api): State<Api>) -> PageResult {
    let list = api.control.stream_list().await?;
    page(&StreamsPage {
        layout: Layout::new("Streams", Nav::Streams, Live::Polled),
        streams: list.streams.iter().map(StreamRow::new).collect(),
    })
}

/// The pause form: `paused=true` pauses, `paused=false` resumes.
#[derive(Debug, Deserialize)]
pub(crate) struct StreamPauseForm {
    paused: bool,
}

/// `POST /streams/{name}/paused`.
pub(crate) async fn set_paused(
    State(api): State<Api>,
    UiPath(name): UiPath<String>,
    UiForm(form): UiForm<StreamPauseForm>,
) -> Result<impl IntoResponse, UiError> {
    api.control.set_stream_paused(&name, form.paused).await?;
    Ok(Redirect::to("/streams"))
}
