//! Webhooks of workflow handlers (`on_failure`, `on_success`, `on_deadline_miss`,
//! `on_retry`) with the real binary, delivered to a capture server on loopback that fails
//! the first deliveries: retried with back-off, recorded in the store, shown by `status`,
//! sent once per run and event even across a server killed and restarted.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

use crate::api_client::Api;
use crate::http_tasks::read_request;
use crate::metrics::Scrape;
use crate::project::{TestProject, text};
use crate::service::{eventually, start_server, stop_server};

/// One request the capture server read, and what it answered.
#[derive(Debug, Clone)]
struct Captured {
    path: String,
    idempotency_key: String,
    body: Value,
    status: u16,
}

/// A loopback HTTP server that answers the first `failures` requests 500 and every later one
/// 200 (or, with `hang`, reads requests and never answers), keeping what it read.
struct CaptureServer {
    port: u16,
    captured: Arc<Mutex<Vec<Captured>>>,
}

impl CaptureServer {
    fn start(failures: usize, hang: bool) -> CaptureServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        let captured = Arc::new(Mutex::new(Vec::<Captured>::new()));
        let seen = captured.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let request = read_request(&mut stream);
                let (head, body) = request.split_once("\r\n\r\n").unwrap_or((&request, ""));
                let body = body.to_owned();
                let mut seen = seen.lock().expect("captured");
                let status = if seen.len() < failures { 500 } else { 200 };
                let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
                let idempotency_key = head
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("idempotency-key")
                            .then(|| value.trim().to_owned())
                    })
                    .unwrap_or_default();
                seen.push(Captured {
                    path,
                    idempotency_key,
                    body: serde_json::from_str(&body).unwrap_or(Value::String(body)),
                    status,
                });
                drop(seen);
                if hang {
                    // Held open, never answered, until the client gives up.
                    std::thread::spawn(move || {
                        let mut buffer = [0; 1024];
                        while stream.read(&mut buffer).is_ok_and(|read| read > 0) {}
                    });
                    continue;
                }
                let response = format!(
                    "HTTP/1.1 {status} Status\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
                let _ = stream.write_all(response.as_bytes());
            }
        });
        CaptureServer { port, captured }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn captured(&self) -> Vec<Captured> {
        self.captured.lock().expect("captured").clone()
    }

    /// The accepted deliveries (200), by idempotency key.
    fn accepted(&self) -> BTreeMap<String, Vec<Captured>> {
        let mut accepted: BTreeMap<String, Vec<Captured>> = BTreeMap::new();
        for request in self.captured().into_iter().filter(|r| r.status == 200) {
            accepted
                .entry(request.idempotency_key.clone())
                .or_default()
                .push(request);
        }
        accepted
    }
}

/// Short timeouts and back-off, so that a test controls how long delivery takes.
fn toml(timeout: &str, attempts: u32) -> String {
    format!(
        "[server]\nurl = \"http://tidewater.example/\"\n\n\
         [notifications]\ntimeout = \"{timeout}\"\nattempts = {attempts}\nbackoff = \"50ms\"\n"
    )
}

/// The Slack-compatible default body of run 1's `event` whose headline is `headline`, as a
/// project with [`toml`]'s server URL sends it.
fn default_body(
    workflow: &str,
    event: &str,
    headline: &str,
    interval: (&str, &str),
    failed_tasks: &[&str],
) -> Value {
    let (start, end) = interval;
    let mut text = format!("{headline}\nInterval: {start} to {end}\n");
    if !failed_tasks.is_empty() {
        text.push_str(&format!("Failed tasks: {}\n", failed_tasks.join(", ")));
    }
    text.push_str("<http://tidewater.example/runs/1|Open the run>");
    json!({
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
        "workflow": workflow,
        "run_id": 1,
        "event": event,
        "data_interval_start": start,
        "data_interval_end": end,
        "failed_tasks": failed_tasks,
        "run_url": "http://tidewater.example/runs/1",
    })
}

/// `flaky` fails (exit 4) its first two attempts and succeeds on the third of its four.
const FLAKY: &str = r#"
timezone: UTC
tasks:
  flaky:
    sh: |
      count=$(cat tries 2>/dev/null || echo 0)
      echo $((count + 1)) > tries
      [ "$count" -ge 2 ] || exit 4
    retries: 3
    retry_delay: 0s
"#;

fn notifications(project: &TestProject, run: &str) -> Vec<Value> {
    project.status_json(run)["notifications"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_failed_runs_webhook_is_retried_until_accepted_and_sent_once_per_run_and_event() {
    let receiver = CaptureServer::start(2, false);
    let workflow = format!(
        r#"
timezone: UTC
tasks:
  extract:
    sh: echo extracted
  boom:
    needs: [extract]
    sh: exit 3
on_failure:
  webhook: {{ url: "{}" }}
"#,
        receiver.url("/hooks/alerts")
    );
    let project = TestProject::new(&toml("5s", 5), &[("alerts.yaml", &workflow)]);
    let output = project.run(&["run", "alerts", "--date", "2026-01-03"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));

    // The command returned after the delivery: two failures, then one accepted.
    let captured = receiver.captured();
    let statuses: Vec<u16> = captured.iter().map(|request| request.status).collect();
    assert_eq!(statuses, [500, 500, 200], "{captured:#?}");
    assert!(
        captured.iter().all(
            |request| request.idempotency_key == captured[0].idempotency_key
                && request.path == "/hooks/alerts"
        ),
        "every delivery is the same notification: {captured:#?}"
    );
    assert_eq!(
        captured[2].body,
        default_body(
            "alerts",
            "on_failure",
            "Run 1 of `alerts` failed",
            ("2026-01-03T00:00:00+00:00", "2026-01-04T00:00:00+00:00"),
            &["boom"],
        )
    );

    let recorded = notifications(&project, "1");
    assert_eq!(recorded.len(), 1, "{recorded:#?}");
    assert_eq!(recorded[0]["event"], "on_failure");
    assert_eq!(recorded[0]["state"], "delivered");
    assert_eq!(recorded[0]["deliveries"], 3);
    assert_eq!(
        recorded[0]["last_error"],
        "the receiver answered 500 Internal Server Error"
    );
    let status = text(&project.run(&["status", "1"]).stdout);
    let row = status
        .lines()
        .find(|line| line.starts_with("on_failure"))
        .unwrap_or_else(|| panic!("a webhook row: {status}"));
    let columns: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&columns[..3], ["on_failure", "delivered", "3"], "{status}");

    // Retried, the run fails again: its `on_failure` was sent already.
    let output = project.run(&["retry", "1"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert_eq!(receiver.captured().len(), 3, "{:#?}", receiver.captured());
    assert_eq!(notifications(&project, "1").len(), 1);
}

#[test]
fn on_retry_fires_once_per_retried_attempt_with_its_own_body() {
    let receiver = CaptureServer::start(2, false);
    let workflow = format!(
        r#"{FLAKY}on_retry:
  webhook:
    url: "{retry}"
    body: {{ text: "{{{{ retried_task }}}} failed attempt {{{{ attempt }}}} of run {{{{ run_id }}}} ({{{{ ds }}}})" }}
on_success:
  webhook: {{ url: "{success}", body: "done {{{{ workflow }}}}" }}
"#,
        retry = receiver.url("/retry"),
        success = receiver.url("/success")
    );
    let project = TestProject::new(&toml("5s", 5), &[("flaky.yaml", &workflow)]);
    let output = project.run(&["run", "flaky", "--date", "2026-01-03"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));

    let accepted = receiver.accepted();
    let mut bodies: Vec<(String, Value)> = accepted
        .values()
        .map(|deliveries| {
            assert_eq!(deliveries.len(), 1, "accepted once: {deliveries:#?}");
            (deliveries[0].path.clone(), deliveries[0].body.clone())
        })
        .collect();
    bodies.sort_by_key(|entry| entry.1.to_string());
    assert_eq!(
        bodies,
        [
            (
                "/success".to_owned(),
                Value::String("done flaky".to_owned())
            ),
            (
                "/retry".to_owned(),
                json!({"text": "flaky failed attempt 1 of run 1 (2026-01-03)"})
            ),
            (
                "/retry".to_owned(),
                json!({"text": "flaky failed attempt 2 of run 1 (2026-01-03)"})
            ),
        ]
    );
    let recorded = notifications(&project, "1");
    let summary: Vec<(String, Value, String)> = recorded
        .iter()
        .map(|entry| {
            (
                entry["event"].as_str().unwrap_or_default().to_owned(),
                entry["attempt"].clone(),
                entry["state"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("on_retry".to_owned(), json!(1), "delivered".to_owned()),
            ("on_retry".to_owned(), json!(2), "delivered".to_owned()),
            ("on_success".to_owned(), Value::Null, "delivered".to_owned()),
        ]
    );
}

#[test]
fn a_scheduled_run_that_misses_its_deadline_sends_one_on_deadline_miss_webhook() {
    let receiver = CaptureServer::start(0, false);
    // The server cannot be given a clock, so the run's deadline lies in the past already: a
    // yearly schedule without catchup creates the run of the last year that ended, due by 1 h
    // after New Year; the run starts later than that, and the decision that starts it sees
    // its steps unfinished past the deadline (`decide`'s `check_deadline`). Only a test run
    // in the first hour of a year would find the deadline met.
    let workflow = format!(
        r#"
timezone: UTC
schedule: "0 0 1 1 *"
catchup: false
deadline: 1h
tasks:
  publish:
    sh: echo published
on_deadline_miss:
  webhook: {{ url: "{}" }}
"#,
        receiver.url("/hooks/late")
    );
    let project = TestProject::new(&toml("5s", 5), &[("yearly.yaml", &workflow)]);
    let server = start_server(&project);
    let status = eventually(
        "the scheduled run to end with its webhook delivered",
        || {
            // Until the scheduler created it, there is no run 1 for `status`.
            let output = project.run(&["status", "1", "--json"]);
            let status: Value = serde_json::from_slice(&output.stdout).ok()?;
            let is_delivered = status["notifications"]
                .as_array()
                .is_some_and(|list| list.iter().any(|entry| entry["state"] == "delivered"));
            (status["run"]["state"] == "succeeded" && is_delivered).then_some(status)
        },
    );
    stop_server(server);
    assert_eq!(status["run"]["trigger"], "scheduled", "{status}");
    let recorded = notifications(&project, "1");
    assert_eq!(recorded.len(), 1, "{recorded:#?}");
    assert_eq!(recorded[0]["event"], "on_deadline_miss");
    assert_eq!(recorded[0]["deliveries"], 1);

    let captured = receiver.captured();
    assert_eq!(captured.len(), 1, "exactly one delivery: {captured:#?}");
    assert_eq!(captured[0].path, "/hooks/late");
    let start = status["run"]["data_interval_start"]
        .as_str()
        .expect("start");
    let end = status["run"]["data_interval_end"].as_str().expect("end");
    assert_eq!(
        captured[0].body,
        default_body(
            "yearly",
            "on_deadline_miss",
            "Run 1 of `yearly` missed its deadline",
            (start, end),
            &[],
        )
    );
    assert!(
        start.ends_with("-01-01T00:00:00+00:00") && end.ends_with("-01-01T00:00:00+00:00"),
        "a yearly interval: {start} to {end}"
    );
}

#[test]
fn an_on_retry_command_runs_once_per_retried_attempt_with_the_attempts_facts() {
    let workflow = format!(
        "{FLAKY}on_retry:\n  sh: echo \"$TIDEWATER_RUN_ID $TIDEWATER_RETRIED_TASK $TIDEWATER_ATTEMPT \
         {{{{ ds }}}} {{{{ retried_task }}}}/{{{{ attempt }}}} $TIDEWATER_REASON\" >> retries.log\n"
    );
    let project = TestProject::new(&toml("5s", 5), &[("flaky.yaml", &workflow)]);
    let output = project.run(&["run", "flaky", "--date", "2026-01-03"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));

    let mut lines: Vec<String> = project
        .read("retries.log")
        .lines()
        .map(String::from)
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "1 flaky 1 2026-01-03 flaky/1 exited with status 4",
            "1 flaky 2 2026-01-03 flaky/2 exited with status 4",
        ],
        "once per retried attempt, not for the attempt that succeeded"
    );
    let recorded = notifications(&project, "1");
    let summary: Vec<(Value, Value, Value)> = recorded
        .iter()
        .map(|entry| {
            (
                entry["event"].clone(),
                entry["attempt"].clone(),
                entry["state"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (json!("on_retry"), json!(1), json!("delivered")),
            (json!("on_retry"), json!(2), json!("delivered")),
        ]
    );
    // No task runs it: the run has only its step.
    let status = project.status_json("1");
    assert_eq!(
        status["tasks"].as_array().map(Vec::len),
        Some(1),
        "{status}"
    );
}

#[test]
fn a_failing_on_retry_command_is_recorded_as_a_failed_delivery() {
    let workflow = "timezone: UTC\ntasks:\n  boom:\n    sh: exit 1\n    retries: 1\n    retry_delay: 0s\non_retry:\n  sh: exit 7\n";
    let project = TestProject::new(&toml("5s", 2), &[("boom.yaml", workflow)]);
    let output = project.run(&["run", "boom", "--date", "2026-01-03"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let recorded = notifications(&project, "1");
    assert_eq!(recorded.len(), 1, "{recorded:#?}");
    assert_eq!(recorded[0]["event"], "on_retry");
    assert_eq!(recorded[0]["state"], "failed");
    assert_eq!(recorded[0]["deliveries"], 2);
    assert_eq!(
        recorded[0]["last_error"],
        "the command ended with exit status: 7"
    );
    assert_eq!(
        project.status_json("1")["run"]["state"],
        "failed",
        "the run fails by its task, not by its notification"
    );
}

#[test]
fn a_delivery_accepted_before_the_server_is_killed_is_not_sent_again() {
    let receiver = CaptureServer::start(2, false);
    let workflow = format!(
        "timezone: UTC\ntasks:\n  only:\n    sh: echo ok\non_success:\n  webhook: {{ url: \"{}\" }}\n",
        receiver.url("/done")
    );
    let project = TestProject::new(&toml("5s", 5), &[("done.yaml", &workflow)]);
    let mut server = start_server(&project);
    let output = project.run(&["trigger", "done", "--date", "2026-01-03"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    eventually("run 1's webhook to be delivered", || {
        notifications(&project, "1")
            .first()
            .filter(|entry| entry["state"] == "delivered")
            .cloned()
    });
    kill(Pid::from_raw(server.id() as i32), Signal::SIGKILL).expect("SIGKILL");
    server.wait().expect("the server is gone");

    let server = start_server(&project);
    // A second run's webhook delivered after the restart: the restarted server went through
    // its outbox, and had run 1's been pending it would have been sent before.
    let output = project.run(&["trigger", "done", "--date", "2026-01-04"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    eventually("run 2's webhook to be delivered", || {
        notifications(&project, "2")
            .first()
            .filter(|entry| entry["state"] == "delivered")
            .cloned()
    });
    stop_server(server);
    let accepted = receiver.accepted();
    assert_eq!(accepted.len(), 2, "{accepted:#?}");
    let runs: Vec<Value> = accepted
        .values()
        .map(|deliveries| {
            assert_eq!(deliveries.len(), 1, "accepted once: {deliveries:#?}");
            deliveries[0].body["run_id"].clone()
        })
        .collect();
    assert_eq!(runs.iter().filter(|run| **run == json!(1)).count(), 1);
    assert_eq!(runs.iter().filter(|run| **run == json!(2)).count(), 1);
}

#[test]
fn a_delivery_pending_when_the_server_is_killed_is_sent_once_after_the_restart() {
    // The first delivery fails; the next is due 5 s later, long enough to kill the server
    // while the notification waits for it.
    let receiver = CaptureServer::start(1, false);
    let workflow = format!(
        "timezone: UTC\ntasks:\n  only:\n    sh: echo ok\non_success:\n  webhook: {{ url: \"{}\" }}\n",
        receiver.url("/later")
    );
    let config = toml("5s", 5).replace("backoff = \"50ms\"", "backoff = \"5s\"");
    let project = TestProject::new(&config, &[("later.yaml", &workflow)]);
    let mut server = start_server(&project);
    let output = project.run(&["trigger", "later", "--date", "2026-01-03"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let pending = eventually("the first delivery to fail and the next to wait", || {
        notifications(&project, "1")
            .first()
            // An error recorded: the delivery is over, not claimed and in flight.
            .filter(|entry| {
                entry["state"] == "pending"
                    && entry["deliveries"] == 1
                    && entry["last_error"].is_string()
            })
            .cloned()
    });
    kill(Pid::from_raw(server.id() as i32), Signal::SIGKILL).expect("SIGKILL");
    server.wait().expect("the server is gone");
    assert_eq!(
        receiver.captured().len(),
        1,
        "{pending}: {:#?}",
        receiver.captured()
    );

    let server = start_server(&project);
    let delivered = eventually("the restarted server to deliver it", || {
        notifications(&project, "1")
            .first()
            .filter(|entry| entry["state"] == "delivered")
            .cloned()
    });
    stop_server(server);
    assert_eq!(delivered["deliveries"], 2, "{delivered}");
    let statuses: Vec<u16> = receiver
        .captured()
        .iter()
        .map(|request| request.status)
        .collect();
    assert_eq!(statuses, [500, 200], "{:#?}", receiver.captured());
    let accepted = receiver.accepted();
    assert_eq!(accepted.len(), 1, "{accepted:#?}");
    assert_eq!(accepted.values().next().map(Vec::len), Some(1));
}

#[test]
fn a_url_that_never_answers_ends_as_a_recorded_failure_and_is_counted() {
    let receiver = CaptureServer::start(0, true);
    let workflow = format!(
        "timezone: UTC\ntasks:\n  boom:\n    sh: exit 1\non_failure:\n  webhook: {{ url: \"{}\" }}\n",
        receiver.url("/silent")
    );
    let project = TestProject::new(&toml("200ms", 2), &[("silent.yaml", &workflow)]);
    let output = project.run(&["run", "silent", "--date", "2026-01-03"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert_eq!(
        receiver.captured().len(),
        2,
        "two deliveries, each timed out"
    );

    let recorded = notifications(&project, "1");
    assert_eq!(recorded.len(), 1, "{recorded:#?}");
    assert_eq!(recorded[0]["state"], "failed");
    assert_eq!(recorded[0]["deliveries"], 2);
    assert_eq!(recorded[0]["last_error"], "no answer within 200ms");
    assert_eq!(project.status_json("1")["run"]["state"], "failed");

    let server = start_server(&project);
    let scrape = Scrape::read(&Api::of(&project));
    assert_eq!(
        scrape.value(
            "tidewater_notification_failures",
            "tidewater_notification_failures_total",
            json!({"workflow": "silent", "event": "on_failure"})
        ),
        Some(1.0)
    );
    // The run's page shows the webhook and why it failed, as `status` does.
    let page = Api::of(&project).call("GET", "/runs/1", None);
    assert_eq!(page.status, 200, "{page:?}");
    let html = page.body.as_str().expect("HTML");
    assert!(
        html.contains(r#"data-webhook="on_failure" data-state="failed""#),
        "{html}"
    );
    assert!(html.contains("no answer within 200ms"), "{html}");
    stop_server(server);
}

#[test]
fn a_webhook_without_a_url_or_with_a_bad_one_is_a_validate_error_at_its_line() {
    let project = TestProject::new(
        "",
        &[(
            "hooks.yaml",
            "tasks:\n  a:\n    sh: echo a\non_failure:\n  webhook: { body: hi }\non_retry:\n  webhook: { url: \"ftp://example.com\" }\n",
        )],
    );
    let output = project.run(&["validate"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stdout));
    let report = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(report.contains("`webhook` needs a `url`"), "{report}");
    assert!(report.contains("hooks.yaml:5"), "{report}");
    assert!(
        report.contains("`ftp://example.com` is not an http:// or https:// URL"),
        "{report}"
    );
    assert!(report.contains("hooks.yaml:7"), "{report}");
}
