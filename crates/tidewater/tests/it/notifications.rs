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
    let body = &captured[2].body;
    let expected_text = "Run 1 of `alerts` failed\n\
                         Interval: 2026-01-03T00:00:00+00:00 to 2026-01-04T00:00:00+00:00\n\
                         Failed tasks: boom\n\
                         <http://tidewater.example/runs/1|Open the run>";
    assert_eq!(
        body,
        &json!({
            "text": expected_text,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": expected_text}}],
            "workflow": "alerts",
            "run_id": 1,
            "event": "on_failure",
            "data_interval_start": "2026-01-03T00:00:00+00:00",
            "data_interval_end": "2026-01-04T00:00:00+00:00",
            "failed_tasks": ["boom"],
            "run_url": "http://tidewater.example/runs/1",
        })
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
        r#"
timezone: UTC
tasks:
  flaky:
    sh: |
      count=$(cat tries 2>/dev/null || echo 0)
      echo $((count + 1)) > tries
      [ "$count" -ge 2 ]
    retries: 3
    retry_delay: 0s
on_retry:
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
