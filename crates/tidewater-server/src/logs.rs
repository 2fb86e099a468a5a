//! `/api/v1/runs/{id}/tasks/{task}/attempts/{attempt}/log`: an attempt's log by byte range
//! (`?offset=` or a `Range` header), as a download, and its live tail as server-sent events.
//!
//! Which bytes may be read is the use case's ([`tidewater_control::LogExtent`]: whole lines
//! while the attempt may still write); following the log is [`LogFollower`]'s, shared with
//! `tidewater logs --follow`. This module only translates HTTP.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tidewater_control::{
    Control, ControlError, FOLLOW_POLL, FollowScope, FollowStep, LogChunk, LogExtent, LogFollower,
    TaskLog,
};
use tidewater_core::{Attempt, RunId, TaskName};
use tokio::sync::watch;

use crate::api::Api;
use crate::extract::{PathOf, QueryOf};
use crate::problem::Problem;

/// Where the next read of the log starts: pass it as `offset` to read on.
const NEXT_OFFSET: &str = "tidewater-log-next-offset";
/// `true` once nothing more will be written to the log: a reader can stop.
const COMPLETE: &str = "tidewater-log-complete";

/// From where, and how.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LogQuery {
    /// Read from this byte (a previous answer's `Tidewater-Log-Next-Offset`) to the end; not
    /// with a `Range` header.
    offset: Option<u64>,
    /// `true`: answer as a file to save (`Content-Disposition: attachment`).
    download: Option<bool>,
}

/// From where the tail starts.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct TailQuery {
    /// Start at this byte instead of the log's start (a `Last-Event-ID` header wins: it is
    /// what an EventSource sends when it reconnects).
    offset: Option<u64>,
}

/// One event of a live tail, as an EventSource receives it (the document's description of
/// the stream; the events themselves are written by axum's [`Event`]).
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "only describes the events in the OpenAPI document"
)]
pub(crate) struct TailEvent {
    /// `message` (the default) for a chunk of the log, `end` once all was sent, `problem`
    /// if reading the log failed (its data is the problem as JSON).
    event: Option<String>,
    /// A chunk of whole lines of the log; for `end`: `ended`, `orphaned` (the process
    /// running the attempt is gone) or `never-started`.
    data: String,
    /// For a chunk: the byte offset after it, where a reconnecting EventSource resumes.
    id: Option<String>,
}

/// The bytes a `Range` header asks for (RFC 9110 §14.1.2), one range only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ByteRange {
    /// `bytes=A-`
    From(u64),
    /// `bytes=A-B`, both included.
    Between(u64, u64),
    /// `bytes=-N`: the last N.
    Last(u64),
}

impl ByteRange {
    fn parse(value: &str) -> Option<ByteRange> {
        let spec = value.trim().strip_prefix("bytes=")?.trim();
        let (first, last) = spec.split_once('-')?;
        let number = |text: &str| {
            let text = text.trim();
            (!text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()))
                .then(|| text.parse::<u64>().ok())
                .flatten()
        };
        match (first.trim().is_empty(), last.trim().is_empty()) {
            (false, true) => Some(ByteRange::From(number(first)?)),
            (false, false) => {
                let (first, last) = (number(first)?, number(last)?);
                (first <= last).then_some(ByteRange::Between(first, last))
            }
            (true, false) => Some(ByteRange::Last(number(last)?)),
            (true, true) => None,
        }
    }
}

/// An attempt's log: all of it, from `offset`, or the `Range` asked for. While the attempt
/// may still write, only whole lines are given; `Tidewater-Log-Next-Offset` says where the
/// next read starts and `Tidewater-Log-Complete` whether there will be more.
#[utoipa::path(
    get,
    path = "/api/v1/runs/{id}/tasks/{task}/attempts/{attempt}/log",
    tag = "logs",
    params(
        ("id" = i64, Path, description = "The run's id"),
        ("task" = String, Path, description = "The task's name"),
        ("attempt" = u32, Path, description = "The attempt's number, from 1"),
        LogQuery,
        ("Range" = Option<String>, Header, description = "One byte range: `bytes=A-B`, `bytes=A-` or `bytes=-N` (the last N)"),
    ),
    responses(
        (status = 200, description = "The log, or its bytes from `offset`", body = String, content_type = "text/plain",
            headers(
                ("Tidewater-Log-Next-Offset" = u64, description = "Where the next read starts"),
                ("Tidewater-Log-Complete" = bool, description = "`true`: the attempt has ended and the log has all of its lines"),
            )),
        (status = 206, description = "The range asked for (`Content-Range` says which bytes; its length is `*` while the log may grow)", body = String, content_type = "text/plain",
            headers(
                ("Content-Range" = String, description = "`bytes A-B/LENGTH`"),
                ("Tidewater-Log-Next-Offset" = u64, description = "Where the next read starts"),
                ("Tidewater-Log-Complete" = bool, description = "`true`: the attempt has ended and the log has all of its lines"),
            )),
        (status = 400, description = "A path or query parameter of the wrong type", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such run, task or attempt", body = Problem, content_type = "application/problem+json"),
        (status = 416, description = "The range or offset is past the log's end, or the `Range` header is not one byte range", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Both `offset` and a `Range` header", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn log(
    State(api): State<Api>,
    PathOf((id, task, attempt)): PathOf<(i64, String, u32)>,
    QueryOf(query): QueryOf<LogQuery>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let range =
        match headers.get(header::RANGE) {
            None => None,
            Some(value) => Some(value.to_str().ok().and_then(ByteRange::parse).ok_or_else(
                || {
                    Problem::range_not_satisfiable(
                        "the `Range` header must be one byte range: `bytes=A-B`, `bytes=A-` or \
                         `bytes=-N`",
                    )
                },
            )?),
        };
    if range.is_some() && query.offset.is_some() {
        return Err(ControlError::Invalid(
            "give `offset` or a `Range` header, not both".to_owned(),
        )
        .into());
    }
    let (log, extent) = attempt_log(&api.control, id, &task, attempt).await?;
    let (status, chunk) = match range {
        None => {
            let from = query.offset.unwrap_or(0);
            if from > extent.length {
                return Ok(past_the_end(&extent, from));
            }
            (StatusCode::OK, extent.read(from, None)?)
        }
        Some(range) => {
            let (from, until) = match range {
                ByteRange::From(from) => (from, None),
                ByteRange::Between(from, last) => (from, Some(last.saturating_add(1))),
                ByteRange::Last(count) => (extent.length.saturating_sub(count), None),
            };
            let chunk = extent.read(from, until)?;
            // Nothing readable there now (past the end, or within a line still being written).
            if chunk.bytes.is_empty() {
                return Ok(past_the_end(&extent, from));
            }
            (StatusCode::PARTIAL_CONTENT, chunk)
        }
    };
    let mut response = (status, chunk.bytes.clone()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(NEXT_OFFSET, HeaderValue::from(chunk.next_offset));
    headers.insert(COMPLETE, boolean(extent.is_complete));
    if status == StatusCode::PARTIAL_CONTENT {
        let start = chunk.next_offset - chunk.bytes.len() as u64;
        let value = format!("bytes {start}-{}/{}", chunk.next_offset - 1, total(&extent));
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(header::CONTENT_RANGE, value);
        }
    }
    if query.download == Some(true) {
        let name = format!("run-{}-{}-attempt-{}.log", log.run.id, log.task, attempt);
        let name: String = name
            .chars()
            .map(|character| {
                if character.is_ascii_alphanumeric() || "-_.".contains(character) {
                    character
                } else {
                    '_'
                }
            })
            .collect();
        if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
            headers.insert(header::CONTENT_DISPOSITION, value);
        }
    }
    Ok(response)
}

/// The attempt's log grows live: each event is a chunk of whole lines (`id`: where the next
/// chunk starts, so that an EventSource that reconnects resumes there), and a last event
/// `end` (data `ended`, or `orphaned` if the process running it is gone) once the attempt
/// has ended and all of its log was sent. The event data is the log's text (a `\r\n` is sent
/// as one line break); the byte-range read gives the exact bytes.
#[utoipa::path(
    get,
    path = "/api/v1/runs/{id}/tasks/{task}/attempts/{attempt}/log/tail",
    tag = "logs",
    params(
        ("id" = i64, Path, description = "The run's id"),
        ("task" = String, Path, description = "The task's name"),
        ("attempt" = u32, Path, description = "The attempt's number, from 1"),
        TailQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "The `id` of the last event received: the tail resumes after it"),
    ),
    responses(
        (status = 200, description = "Server-sent events: chunks of the log, then `end`", body = TailEvent, content_type = "text/event-stream"),
        (status = 400, description = "A path or query parameter of the wrong type", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such run, task or attempt", body = Problem, content_type = "application/problem+json"),
        (status = 416, description = "The offset is past the log's end", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A `Last-Event-ID` that is not an offset", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn tail(
    State(api): State<Api>,
    PathOf((id, task, attempt)): PathOf<(i64, String, u32)>,
    QueryOf(query): QueryOf<TailQuery>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let resumed = match headers.get("last-event-id") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|text| text.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ControlError::Invalid(
                        "`Last-Event-ID` must be the `id` of an event of this tail (a byte \
                         offset)"
                            .to_owned(),
                    )
                })?,
        ),
    };
    let offset = resumed.or(query.offset).unwrap_or(0);
    let (log, extent) = attempt_log(&api.control, id, &task, attempt).await?;
    if offset > extent.length {
        return Ok(past_the_end(&extent, offset));
    }
    let tail = Tail {
        follower: LogFollower::new(&log, FollowScope::Attempt, offset),
        control: api.control.clone(),
        stopping: api.stopping.clone(),
        pending: VecDeque::new(),
        is_done: false,
        is_first_look: true,
    };
    let events = futures_util::stream::unfold(tail, |mut tail| async move {
        let event = tail.next().await?;
        Some((Ok::<Event, Infallible>(event), tail))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// A live tail being sent.
struct Tail {
    control: Arc<Control>,
    follower: LogFollower,
    /// Turns `true` when the server stops: the tail ends then (without `end`), so that
    /// stopping does not wait for the attempt; the client reconnects with `Last-Event-ID`.
    stopping: watch::Receiver<bool>,
    pending: VecDeque<Event>,
    is_done: bool,
    is_first_look: bool,
}

impl Tail {
    /// The next event to send; `None`: the stream ends.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            if self.is_done || *self.stopping.borrow() {
                return None;
            }
            if !std::mem::replace(&mut self.is_first_look, false) {
                tokio::select! {
                    () = tokio::time::sleep(FOLLOW_POLL) => {}
                    // A dropped sender means the server is gone as well.
                    _ = self.stopping.changed() => return None,
                }
            }
            match self.follower.look(&self.control).await {
                Ok(FollowStep::More(chunk)) => self.send(&chunk),
                Ok(FollowStep::Ended(chunk)) => self.finish(&chunk, "ended"),
                Ok(FollowStep::Orphaned(chunk)) => self.finish(&chunk, "orphaned"),
                Ok(FollowStep::NeverStarted) => self.finish(
                    &LogChunk {
                        bytes: Vec::new(),
                        next_offset: 0,
                    },
                    "never-started",
                ),
                Err(error) => {
                    // The problem is logged where it is made; the client is told and the
                    // stream ends rather than retrying what failed.
                    let problem = Problem::from(error);
                    let event = Event::default()
                        .event("problem")
                        .json_data(&problem)
                        .unwrap_or_else(|_| Event::default().event("problem"));
                    self.pending.push_back(event);
                    self.is_done = true;
                }
            }
        }
    }

    fn send(&mut self, chunk: &LogChunk) {
        if chunk.bytes.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&chunk.bytes).replace("\r\n", "\n");
        self.pending.push_back(
            Event::default()
                .id(chunk.next_offset.to_string())
                .data(text),
        );
    }

    fn finish(&mut self, chunk: &LogChunk, how: &str) {
        self.send(chunk);
        self.pending
            .push_back(Event::default().event("end").data(how));
        self.is_done = true;
    }
}

/// The log of `attempt` of `task` in run `id`, as it is now. [`ControlError::NotFound`] if
/// the run, the task or the attempt does not exist.
async fn attempt_log(
    control: &Control,
    id: i64,
    task: &str,
    attempt: u32,
) -> Result<(TaskLog, LogExtent), Problem> {
    let log = control
        .task_log(RunId(id), &TaskName::new(task), Some(Attempt(attempt)))
        .await?;
    let extent = log
        .extent(control, chrono::Utc::now())?
        .ok_or_else(|| ControlError::NotFound(format!("run {id} has no attempt {attempt}")))?;
    Ok((log, extent))
}

/// A read that starts past what the log holds now: 416, with the log's length.
fn past_the_end(extent: &LogExtent, from: u64) -> Response {
    let problem = Problem::range_not_satisfiable(format!(
        "the log has {} bytes{}; nothing can be read from byte {from}",
        extent.length,
        if extent.is_complete {
            ""
        } else {
            " so far (only whole lines are given while the attempt runs)"
        }
    ));
    let mut response = problem.into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("bytes */{}", extent.length)) {
        response.headers_mut().insert(header::CONTENT_RANGE, value);
    }
    response
}

/// The log's length in a `Content-Range`: `*` while it may grow.
fn total(extent: &LogExtent) -> String {
    if extent.is_complete {
        extent.length.to_string()
    } else {
        "*".to_owned()
    }
}

fn boolean(value: bool) -> HeaderValue {
    HeaderValue::from_static(if value { "true" } else { "false" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_header_is_one_byte_range() {
        assert_eq!(
            ByteRange::parse("bytes=0-99"),
            Some(ByteRange::Between(0, 99))
        );
        assert_eq!(ByteRange::parse("bytes=5-"), Some(ByteRange::From(5)));
        assert_eq!(ByteRange::parse("bytes=-20"), Some(ByteRange::Last(20)));
        assert_eq!(
            ByteRange::parse(" bytes= 7 - 9 "),
            Some(ByteRange::Between(7, 9))
        );
        for refused in [
            "bytes=9-7",
            "bytes=-",
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes=a-b",
            "bytes=+1-2",
            "bytes=99999999999999999999-",
        ] {
            assert_eq!(ByteRange::parse(refused), None, "{refused}");
        }
    }
}
