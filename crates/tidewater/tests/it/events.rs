//! `GET /api/v1/events` on the real binary over loopback: a client sees the state changes of
//! runs the server executes and of runs another process executes on the same store, resumes
//! with `Last-Event-ID` without a gap or a duplicate, and filters by run and workflow.
//! Also `POST /api/v1/runs/{id}/clear`, and `tidewater clear` with and without a server.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use crate::api_client::Api;
use crate::project::{TestProject, text};
use crate::service::{eventually, runs, start_server, stop_server};

/// `a` waits for the file `go`; `b` follows it.
const FLOW: &str = r#"
timezone: UTC
tasks:
  a:
    sh: |
      while [ ! -f go ]; do sleep 0.05; done
      echo "a {{ ds }}" >> ran.txt
  b:
    needs: [a]
    sh: echo "b {{ ds }}" >> ran.txt
"#;

const OTHER: &str = r#"
timezone: UTC
tasks:
  only:
    sh: echo "other {{ ds }}" >> ran.txt
"#;

/// a → b → c, and `hold`, which waits for the file `release`.
const CHAIN: &str = r#"
timezone: UTC
tasks:
  a:
    sh: echo "a {{ ds }}" >> ran.txt
  b:
    needs: [a]
    sh: echo "b {{ ds }}" >> ran.txt
  c:
    needs: [b]
    sh: echo "c {{ ds }}" >> ran.txt
"#;

const HOLD: &str = r#"
timezone: UTC
tasks:
  hold:
    sh: |
      while [ ! -f release ]; do sleep 0.05; done
"#;

const HALF_FAILED: &str = r#"
timezone: UTC
tasks:
  fine:
    sh: echo "fine {{ ds }}" >> ran.txt
  broken:
    sh: echo "broken {{ ds }}" >> ran.txt; exit 1
"#;

fn days_ago(days: i64) -> String {
    (chrono::Utc::now().date_naive() - chrono::Duration::days(days)).to_string()
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
struct Event {
    id: i64,
    event: String,
    data: Value,
}

impl Event {
    /// `run queued`, `task a running`, `attempt a#1 started`: what the assertions compare.
    fn summary(&self) -> String {
        let data = &self.data;
        let state = data["state"].as_str().unwrap_or("?");
        match self.event.as_str() {
            "run" => format!("run {state}"),
            "task" => format!("task {} {state}", data["task"].as_str().unwrap_or("?")),
            "attempt" => format!(
                "attempt {}#{} {state}",
                data["task"].as_str().unwrap_or("?"),
                data["attempt"]
            ),
            other => format!("{other} {data}"),
        }
    }

    fn is_run(&self, run: i64, state: &str) -> bool {
        self.event == "run" && self.data["run"] == run && self.data["state"] == state
    }
}

/// A client of the events stream: HTTP/1.0 (so the body is the raw stream, without chunks),
/// reading events as they come. Every read is bounded, so that a broken test fails.
struct EventStream {
    reader: BufReader<TcpStream>,
    content_type: String,
}

impl EventStream {
    fn open(api: &Api, query: &str, last_event_id: Option<&str>) -> EventStream {
        let stream = TcpStream::connect(("127.0.0.1", api.port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("a read timeout");
        let mut request = format!(
            "GET /api/v1/events{query} HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        );
        if let Some(id) = last_event_id {
            request.push_str(&format!("Last-Event-ID: {id}\r\n"));
        }
        request.push_str("\r\n");
        (&stream).write_all(request.as_bytes()).expect("send");
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        reader.read_line(&mut status).expect("a status line");
        assert!(status.contains(" 200 "), "{status}");
        let mut content_type = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("a header");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-type")
            {
                content_type = value.trim().to_owned();
            }
        }
        EventStream {
            reader,
            content_type,
        }
    }

    /// The next event (comments skipped).
    fn next(&mut self) -> Event {
        let (mut id, mut event, mut data) = (None, None, None);
        loop {
            let mut line = String::new();
            let read = self
                .reader
                .read_line(&mut line)
                .expect("an event within 30 s");
            assert!(read > 0, "the stream ended");
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if let (Some(id), Some(event), Some(data)) = (id, event.take(), data.take()) {
                    return Event { id, event, data };
                }
                continue;
            }
            match line.split_once(':') {
                Some(("id", value)) => id = value.trim().parse().ok(),
                Some(("event", value)) => event = Some(value.trim().to_owned()),
                Some(("data", value)) => {
                    data = Some(serde_json::from_str(value.trim()).expect("one line of JSON"));
                }
                _ => {} // A comment (`: keep-alive`).
            }
        }
    }

    /// Events up to and including the first that `is_last` accepts.
    fn until(&mut self, is_last: impl Fn(&Event) -> bool) -> Vec<Event> {
        let mut events = Vec::new();
        loop {
            let event = self.next();
            let is_done = is_last(&event);
            events.push(event);
            if is_done {
                return events;
            }
        }
    }
}

/// The summaries of one run's events.
fn of_run(events: &[Event], run: i64) -> Vec<String> {
    events
        .iter()
        .filter(|event| event.data["run"] == run)
        .map(Event::summary)
        .collect()
}

/// `expected` appears in `seen` in this order (other events may come between).
fn assert_in_order(seen: &[String], expected: &[&str]) {
    let mut rest = seen.iter();
    for step in expected {
        assert!(
            rest.any(|event| event == step),
            "{step:?} missing or out of order in {seen:#?}"
        );
    }
}

/// What a run of FLOW goes through, as any process records it.
const FLOW_LIFE: &[&str] = &[
    "run queued",
    "run running",
    "task a running",
    "attempt a#1 started",
    "attempt a#1 succeeded",
    "task a succeeded",
    "task b running",
    "attempt b#1 started",
    "attempt b#1 succeeded",
    "task b succeeded",
    "run succeeded",
];

fn trigger(api: &Api, workflow: &str, date: &str) -> i64 {
    let created = api.call(
        "POST",
        &format!("/api/v1/workflows/{workflow}/runs"),
        Some(&json!({ "date": date }).to_string()),
    );
    assert_eq!(created.status, 201, "{created:?}");
    created.body["id"].as_i64().expect("an id")
}

#[test]
fn the_events_stream_shows_runs_of_the_server_and_of_a_foreground_process_and_resumes_without_a_gap()
 {
    let project = TestProject::new("", &[("flow.yaml", FLOW), ("other.yaml", OTHER)]);
    // A foreground `tidewater run`, started before any server: it executes its run itself.
    let foreground = project
        .command(&["run", "flow", "--date", &days_ago(3)])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run starts");
    let foreground_run = eventually("the foreground run to start its first task", || {
        let runs = runs(&project);
        let run = runs.first()?;
        (run["state"] == "running").then(|| run["id"].as_i64().expect("an id"))
    });
    let server = start_server(&project);
    let api = Api::of(&project);

    // From the first event: what the foreground process recorded before the server existed.
    let mut everything = EventStream::open(&api, "?after=0", None);
    assert!(
        everything.content_type.starts_with("text/event-stream"),
        "{}",
        everything.content_type
    );
    let mut seen = everything.until(|event| event.summary() == "attempt a#1 started");
    // What the foreground process records while the stream is open.
    std::fs::write(project.path("go"), "").expect("release a");
    seen.extend(everything.until(|event| event.is_run(foreground_run, "succeeded")));
    let output = foreground.wait_with_output().expect("run exits");
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_in_order(&of_run(&seen, foreground_run), FLOW_LIFE);
    let ids: Vec<i64> = seen.iter().map(|event| event.id).collect();
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "ids increase: {ids:?}"
    );
    assert!(seen.iter().all(|event| event.data["workflow"] == "flow"));

    // Resuming after any event gives exactly the events after it: no gap, no duplicate.
    let middle = seen.len() / 2;
    let mut resumed = EventStream::open(&api, "", Some(&seen[middle].id.to_string()));
    let rest = resumed.until(|event| event.is_run(foreground_run, "succeeded"));
    assert_eq!(rest, seen[middle + 1..]);
    // `after` does the same; `Last-Event-ID` wins over it.
    let mut by_query = EventStream::open(&api, &format!("?after={}", seen[middle].id), None);
    assert_eq!(by_query.next(), seen[middle + 1]);
    let mut both = EventStream::open(
        &api,
        &format!("?after={}", seen[0].id),
        Some(&seen[middle].id.to_string()),
    );
    assert_eq!(both.next(), seen[middle + 1]);

    // Filters, opened before the runs exist: only that workflow's events.
    let mut other_only = EventStream::open(&api, "?workflow=other", None);
    // A run the server executes, followed by the stream already open.
    let served = trigger(&api, "flow", &days_ago(2));
    let other = trigger(&api, "other", &days_ago(2));
    let seen = everything.until(|event| event.is_run(served, "succeeded"));
    assert_in_order(&of_run(&seen, served), FLOW_LIFE);
    let other_events = other_only.until(|event| event.is_run(other, "succeeded"));
    assert!(
        other_events
            .iter()
            .all(|event| event.data["workflow"] == "other" && event.data["run"] == other),
        "{other_events:#?}"
    );
    assert_in_order(
        &of_run(&other_events, other),
        &[
            "run queued",
            "run running",
            "attempt only#1 started",
            "attempt only#1 succeeded",
            "task only succeeded",
            "run succeeded",
        ],
    );
    // One run's events, from the start of the feed.
    let mut one_run = EventStream::open(&api, &format!("?run={served}&after=0"), None);
    let served_events = one_run.until(|event| event.is_run(served, "succeeded"));
    assert!(
        served_events
            .iter()
            .all(|event| event.data["run"] == served)
    );
    assert_in_order(&of_run(&served_events, served), FLOW_LIFE);
    assert_eq!(
        served_events[0].data,
        json!({"run": served, "workflow": "flow", "state": "queued"})
    );
    let attempt = served_events
        .iter()
        .find(|event| event.event == "attempt")
        .expect("an attempt event");
    assert_eq!(
        attempt.data,
        json!({"run": served, "workflow": "flow", "task": "a", "attempt": 1, "state": "started", "failure_class": null})
    );

    // An id this store never gave: the client is told to reload.
    let mut unknown = EventStream::open(&api, "", Some("999999999"));
    let reset = unknown.next();
    assert_eq!(reset.event, "reset");
    assert!(
        reset.data["latest"]
            .as_i64()
            .is_some_and(|latest| latest >= seen.last().expect("events").id)
    );

    // Bad parameters: problems, before any stream.
    for (query, header, status, detail) in [
        ("?after=abc", None, 400, "after"),
        ("?run=abc", None, 400, "run"),
        ("?after=-1", None, 422, "from 0"),
        ("?run=999999", None, 404, "no run 999999"),
        ("?workflow=", None, 422, "cannot be empty"),
        ("", Some("not-a-number"), 400, "Last-Event-ID"),
    ] {
        let headers: Vec<(&str, &str)> = header
            .map(|value| vec![("Last-Event-ID", value)])
            .unwrap_or_default();
        let answer = api.call_with("GET", &format!("/api/v1/events{query}"), None, &headers);
        api.problem(&answer, status, detail);
    }
    // Seven streams are still open: the server ends them as it stops, and exits cleanly
    // instead of waiting for them (`stop_server` asserts it).
    stop_server(server);
}

#[test]
fn clearing_tasks_through_the_api_runs_them_again_and_refusals_record_nothing() {
    let project = TestProject::new("", &[("chain.yaml", CHAIN), ("hold.yaml", HOLD)]);
    let server = start_server(&project);
    let api = Api::of(&project);
    let date = days_ago(2);
    let run = trigger(&api, "chain", &date);
    eventually("the run to succeed", || {
        (api.run(run)["run"]["state"] == "succeeded").then_some(())
    });
    let mut events = EventStream::open(&api, "", None);

    // Refusals: 4xx problems, and the run as it was.
    let before = api.run(run);
    let clear =
        |id: i64, body: &str| api.call("POST", &format!("/api/v1/runs/{id}/clear"), Some(body));
    for (id, body, status, detail) in [
        (run, r#"{"tasks": []}"#, 422, "at least one task"),
        (run, r#"{"tasks": ["nope"]}"#, 404, "has no task `nope`"),
        (999_999, r#"{"tasks": ["a"]}"#, 404, "no run 999999"),
        (run, r#"{"tasks": "a"}"#, 422, "tasks"),
        (run, r#"{"tasks": ["a"], "extra": 1}"#, 422, "extra"),
        (run, "not json", 400, ""),
    ] {
        api.problem(&clear(id, body), status, detail);
    }
    assert_eq!(api.run(run), before, "nothing recorded");

    // `b` and what is downstream of it run again; `a` does not.
    let cleared = clear(run, r#"{"tasks": ["b"], "downstream": true}"#);
    assert_eq!(cleared.status, 202, "{cleared:?}");
    assert_eq!(cleared.body["id"], run);
    assert_eq!(cleared.body["state"], "queued");
    let seen = events.until(|event| event.is_run(run, "succeeded"));
    assert_in_order(
        &of_run(&seen, run),
        &[
            // The reset and the requeue: one write.
            "run queued",
            "task b pending",
            "task c pending",
            "run running",
            "attempt b#2 started",
            "attempt b#2 succeeded",
            "attempt c#2 started",
            "attempt c#2 succeeded",
            "run succeeded",
        ],
    );
    assert!(
        !of_run(&seen, run)
            .iter()
            .any(|event| event.starts_with("attempt a#"))
    );
    assert_eq!(
        project.read("ran.txt"),
        format!("a {date}\nb {date}\nc {date}\nb {date}\nc {date}\n")
    );
    let attempts = |status: &Value| -> Vec<usize> {
        status["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .map(|task| task["attempts"].as_array().expect("attempts").len())
            .collect()
    };
    assert_eq!(attempts(&api.run(run)), [1, 2, 2]);

    // A running run: 409, and nothing recorded.
    let held = trigger(&api, "hold", &date);
    // Running, with its process recorded (the pid follows the attempt's start).
    eventually("the held run to run", || {
        let status = api.run(held);
        (status["tasks"][0]["attempts"][0]["pid"].is_number()).then_some(())
    });
    let before = api.run(held);
    api.problem(
        &clear(held, r#"{"tasks": ["hold"]}"#),
        409,
        "clear its tasks once it has ended",
    );
    assert_eq!(api.run(held), before);
    std::fs::write(project.path("release"), "").expect("release");
    eventually("the held run to succeed", || {
        (api.run(held)["run"]["state"] == "succeeded").then_some(())
    });

    // The CLI with a server up: the same use case hands the run to the server and follows it.
    let output = project.run(&["clear", &run.to_string(), "--task", "a"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("the server runs them"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(attempts(&api.run(run)), [2, 2, 2]);
    stop_server(server);

    // The CLI without a server executes the run itself.
    let output = project.run(&["clear", &run.to_string(), "--task", "c"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(attempts(&project.status_json(&run.to_string())), [2, 2, 3]);
}

// Regression: clearing one task of a failed run through the server ran the run's other failed
// tasks again too (the service resumed every queued run as `retry` would).
#[test]
fn clearing_a_task_of_a_failed_run_through_the_server_runs_that_task_only() {
    let project = TestProject::new("", &[("half.yaml", HALF_FAILED)]);
    let server = start_server(&project);
    let api = Api::of(&project);
    let date = days_ago(2);
    let run = trigger(&api, "half", &date);
    eventually("the run to fail", || {
        (api.run(run)["run"]["state"] == "failed").then_some(())
    });
    let first = api.run(run);

    let cleared = api.call(
        "POST",
        &format!("/api/v1/runs/{run}/clear"),
        Some(r#"{"tasks": ["fine"]}"#),
    );
    assert_eq!(cleared.status, 202, "{cleared:?}");
    eventually("the cleared run to end", || {
        let status = api.run(run);
        (status["run"]["state"] == "failed" && status != first).then_some(())
    });
    stop_server(server);
    let attempts = |task: &str| attempt_count(&project, run, task);
    assert_eq!(attempts("fine"), 2, "the cleared task ran again");
    assert_eq!(attempts("broken"), 1, "the other failed task did not");
    let ran = project.read("ran.txt");
    assert_eq!(ran.matches("broken").count(), 1, "{ran}");
    assert_eq!(ran.matches("fine").count(), 2, "{ran}");
}

/// How many attempts `task` of run `run` has, from `status --json`.
fn attempt_count(project: &TestProject, run: i64, task: &str) -> usize {
    let status = project.status_json(&run.to_string());
    status["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .find(|row| row["task"] == task)
        .and_then(|row| row["attempts"].as_array())
        .map_or(0, Vec::len)
}
