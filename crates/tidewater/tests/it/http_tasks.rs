//! `http` tasks against a real HTTP server on loopback, started by each test.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::project::{TestProject, text};
use crate::service::eventually;

/// What the test server answers to one request.
#[derive(Clone)]
pub(crate) enum Reply {
    Status(u16, String),
    /// Reads the request and never answers, holding the connection open.
    Hang,
}

/// A tiny HTTP/1.1 server on 127.0.0.1 that answers requests with `replies` in order (the
/// last one again once they run out) and keeps every request it read.
pub(crate) struct TestServer {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    /// How many connections held by [`Reply::Hang`] the client has closed.
    closed: Arc<AtomicUsize>,
}

impl TestServer {
    pub(crate) fn start(replies: Vec<Reply>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let closed = Arc::new(AtomicUsize::new(0));
        let closed_by_client = closed.clone();
        std::thread::spawn(move || {
            for (index, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { continue };
                let request = read_request(&mut stream);
                seen.lock().expect("requests").push(request);
                let reply = replies
                    .get(index)
                    .or(replies.last())
                    .cloned()
                    .expect("at least one reply");
                match reply {
                    Reply::Status(status, body) => {
                        let response = format!(
                            "HTTP/1.1 {status} Status\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = stream.write_all(response.as_bytes());
                    }
                    Reply::Hang => {
                        // Held open, never answered, until the client closes it.
                        let closed = closed_by_client.clone();
                        std::thread::spawn(move || {
                            let mut buffer = [0; 1024];
                            while stream.read(&mut buffer).is_ok_and(|read| read > 0) {}
                            closed.fetch_add(1, Ordering::SeqCst);
                        });
                    }
                }
            }
        });
        TestServer {
            port,
            requests,
            closed,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub(crate) fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("requests").clone()
    }
}

/// The request's head and its body (by `content-length`), as text.
pub(crate) fn read_request(stream: &mut TcpStream) -> String {
    let mut bytes = Vec::new();
    let mut buffer = [0; 4096];
    while let Ok(read) = stream.read(&mut buffer) {
        if read == 0 {
            break;
        }
        bytes.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&bytes).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if bytes.len() >= end + 4 + length {
                break;
            }
        }
    }
    String::from_utf8_lossy(&bytes).to_string()
}

/// The attempts of `task` in `status --json` of run 1.
fn attempts(project: &TestProject, task: &str) -> Vec<serde_json::Value> {
    let status = project.status_json("1");
    status["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .find(|entry| entry["task"] == task)
        .and_then(|entry| entry["attempts"].as_array())
        .unwrap_or_else(|| panic!("{task} has attempts: {status}"))
        .clone()
}

fn classes(attempts: &[serde_json::Value]) -> Vec<String> {
    attempts
        .iter()
        .map(|attempt| attempt["class"].as_str().unwrap_or("none").to_owned())
        .collect()
}

#[test]
fn a_json_response_becomes_the_output_a_downstream_task_reads() {
    let server = TestServer::start(vec![Reply::Status(
        201,
        r#"{"data": {"id": 42}, "name": "orders"}"#.to_owned(),
    )]);
    let workflow = format!(
        r#"
tasks:
  create:
    http:
      method: post
      url: "{}?date={{{{ ds }}}}"
      headers:
        Authorization: "Bearer s3cr3t-token-value"
      body: {{ date: "{{{{ ds }}}}", limit: 10 }}
      expect: [200, 201]
      output: /data/id
  use:
    needs: [create]
    sh: echo "id={{{{ tasks.create.output }}}}" > got.txt
"#,
        server.url("/orders")
    );
    let project = TestProject::new("", &[("calls.yaml", &workflow)]);
    let output = project.run(&["run", "calls", "--date", "2026-01-03"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(project.read("got.txt"), "id=42\n");

    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let request = &requests[0];
    assert!(
        request.starts_with("POST /orders?date=2026-01-03 HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(
        request.contains("Bearer s3cr3t-token-value"),
        "the header is sent: {request}"
    );
    assert!(
        request
            .to_lowercase()
            .contains("content-type: application/json"),
        "{request}"
    );
    let body = request.split("\r\n\r\n").nth(1).expect("a body");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(body).expect("a JSON body"),
        serde_json::json!({"date": "2026-01-03", "limit": 10})
    );

    let log = text(&project.run(&["logs", "1", "create"]).stdout);
    assert!(
        log.contains("attempt 1: POST http://127.0.0.1:"),
        "the request line is logged: {log}"
    );
    assert!(
        log.contains("headers (values not logged): Authorization"),
        "{log}"
    );
    assert!(
        !log.contains("s3cr3t"),
        "a header's value never reaches the log: {log}"
    );
    assert!(log.contains("HTTP/1.1 201 Created in "), "{log}");
    assert!(log.contains(r#"body| {"data": {"id": 42}"#), "{log}");
}

/// A 4xx says the request is wrong: sending it again fails the same way.
#[test]
fn a_client_error_is_the_tasks_input_and_is_not_retried() {
    let server = TestServer::start(vec![Reply::Status(
        404,
        r#"{"error": "no such order"}"#.to_owned(),
    )]);
    let workflow = format!(
        "tasks:\n  fetch:\n    http: {{ url: \"{}\" }}\n    retries: 3\n    retry_delay: 0s\n",
        server.url("/missing")
    );
    let project = TestProject::new("", &[("calls.yaml", &workflow)]);
    let output = project.run(&["run", "calls", "--date", "2026-01-03"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let attempts = attempts(&project, "fetch");
    assert_eq!(classes(&attempts), vec!["input"], "{attempts:?}");
    assert!(
        attempts[0]["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("404 Not Found") && reason.contains("2xx")),
        "{attempts:?}"
    );
    assert_eq!(server.requests().len(), 1);
    let log = text(&project.run(&["logs", "1", "fetch"]).stdout);
    assert!(
        log.contains(r#"body| {"error": "no such order"}"#),
        "a failed response's body is logged too: {log}"
    );
}

/// `retry_on` makes a status below 500 worth trying again, e.g. a rate limit's 429.
#[test]
fn a_status_named_in_retry_on_is_retried() {
    let server = TestServer::start(vec![
        Reply::Status(429, "{}".to_owned()),
        Reply::Status(200, r#"{"ok": true}"#.to_owned()),
    ]);
    let workflow = format!(
        "tasks:\n  fetch:\n    http: {{ url: \"{}\", retry_on: [429] }}\n    retries: 2\n    retry_delay: 0s\n",
        server.url("/limited")
    );
    let project = TestProject::new("", &[("calls.yaml", &workflow)]);
    let output = project.run(&["run", "calls", "--date", "2026-01-03"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let attempts = attempts(&project, "fetch");
    assert_eq!(
        classes(&attempts),
        vec!["environment", "none"],
        "{attempts:?}"
    );
}

#[test]
fn a_server_error_is_retried_until_the_server_answers() {
    let server = TestServer::start(vec![
        Reply::Status(503, "busy".to_owned()),
        Reply::Status(500, "broken".to_owned()),
        Reply::Status(200, r#"{"rows": 3}"#.to_owned()),
    ]);
    let workflow = format!(
        "tasks:\n  fetch:\n    http: {{ url: \"{}\" }}\n    retries: 3\n    retry_delay: 0s\n  use:\n    needs: [fetch]\n    sh: echo {{{{ tasks.fetch.output.rows }}}} > rows.txt\n",
        server.url("/flaky")
    );
    let project = TestProject::new("", &[("calls.yaml", &workflow)]);
    let output = project.run(&["run", "calls", "--date", "2026-01-03"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let attempts = attempts(&project, "fetch");
    assert_eq!(
        classes(&attempts),
        vec!["environment", "environment", "none"],
        "{attempts:?}"
    );
    assert_eq!(server.requests().len(), 3);
    assert_eq!(
        project.read("rows.txt"),
        "3\n",
        "the whole JSON response is the output by default"
    );
}

#[test]
fn a_request_that_outlives_the_tasks_timeout_is_abandoned() {
    let server = TestServer::start(vec![Reply::Hang]);
    let workflow = format!(
        "tasks:\n  fetch:\n    http: {{ url: \"{}\" }}\n    timeout: 1s\n",
        server.url("/slow")
    );
    let project = TestProject::new("", &[("calls.yaml", &workflow)]);
    let output = project.run(&["run", "calls", "--date", "2026-01-03"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let attempts = attempts(&project, "fetch");
    assert_eq!(classes(&attempts), vec!["timeout"], "{attempts:?}");
    let log = text(&project.run(&["logs", "1", "fetch"]).stdout);
    assert!(
        log.contains("timed out after") && log.contains("the request was abandoned"),
        "{log}"
    );
}

/// Cancelling a run abandons its request at once: the connection is closed, not left to
/// wait for an answer that may never come.
#[test]
fn cancelling_a_run_abandons_its_request() {
    let server = TestServer::start(vec![Reply::Hang]);
    let workflow = format!(
        "tasks:\n  fetch:\n    http: {{ url: \"{}\" }}\n",
        server.url("/slow")
    );
    let project = TestProject::new("", &[("calls.yaml", &workflow)]);
    let run = project
        .command(&["run", "calls", "--date", "2026-01-03"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run starts");
    eventually("the request to arrive", || {
        (server.requests().len() == 1).then_some(())
    });
    assert_eq!(server.closed.load(Ordering::SeqCst), 0);
    let cancelled = project.run(&["cancel", "1"]);
    assert!(cancelled.status.success(), "{}", text(&cancelled.stderr));
    let output = run.wait_with_output().expect("run exits");
    assert_eq!(output.status.code(), Some(130), "{}", text(&output.stderr));
    eventually("the connection to be closed", || {
        (server.closed.load(Ordering::SeqCst) == 1).then_some(())
    });
    let attempts = attempts(&project, "fetch");
    assert_eq!(classes(&attempts), vec!["cancelled"], "{attempts:?}");
}

#[test]
fn a_refused_connection_is_the_environments_and_is_retried() {
    // A port that was free a moment ago and that nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port();
    let workflow = format!(
        "tasks:\n  fetch:\n    http: {{ url: \"http://127.0.0.1:{port}/\" }}\n    retries: 1\n    retry_delay: 0s\n"
    );
    let project = TestProject::new("", &[("calls.yaml", &workflow)]);
    let output = project.run(&["run", "calls", "--date", "2026-01-03"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let attempts = attempts(&project, "fetch");
    assert_eq!(
        classes(&attempts),
        vec!["environment", "environment"],
        "{attempts:?}"
    );
    assert!(
        attempts[0]["reason"]
            .as_str()
            .is_some_and(|reason| reason.to_lowercase().contains("connection refused")),
        "{attempts:?}"
    );
}

#[test]
fn a_long_response_body_is_cut_in_the_log() {
    let body = format!(
        r#"{{"padding": "{}", "end": "tail-marker"}}"#,
        "x".repeat(10_000)
    );
    let server = TestServer::start(vec![Reply::Status(200, body.clone())]);
    let workflow = format!(
        "tasks:\n  fetch:\n    http: {{ url: \"{}\", output: /end }}\n  use:\n    needs: [fetch]\n    sh: echo {{{{ tasks.fetch.output }}}} > end.txt\n",
        server.url("/big")
    );
    let project = TestProject::new("", &[("calls.yaml", &workflow)]);
    let output = project.run(&["run", "calls", "--date", "2026-01-03"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        project.read("end.txt"),
        "tail-marker\n",
        "the whole body is read"
    );
    let log = text(&project.run(&["logs", "1", "fetch"]).stdout);
    let logged = 4096 - r#"{"padding": ""#.len();
    assert!(log.contains(&"x".repeat(logged)), "{log}");
    assert!(
        !log.contains(&"x".repeat(logged + 1)),
        "cut at 4 KiB: {log}"
    );
    assert!(!log.contains("tail-marker"), "{log}");
    assert!(
        log.contains(&format!(
            "the body's {} remaining bytes are not logged (the first 4096 are)",
            body.len() - 4096
        )),
        "{log}"
    );
}

#[test]
fn validate_reports_each_mistake_of_an_http_task_at_its_line() {
    let workflow = r#"tasks:
  bad_method:
    http: { method: FETCH, url: "https://api.example.com/" }
  unknown_variable:
    http: { url: "https://api.example.com/{{ dss }}" }
  bad_status:
    http: { url: "https://api.example.com/", expect: [200, 7xx] }
  unknown_key:
    http: { url: "https://api.example.com/", timeout: 5s }
"#;
    let project = TestProject::new("", &[("calls.yaml", workflow)]);
    let output = project.run(&["validate"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    for (wanted, line) in [
        ("`FETCH` is not a valid `method`", "calls.yaml:3:"),
        ("dss", "calls.yaml:5:"),
        ("`7xx` is not an HTTP status", "calls.yaml:7:"),
        ("unknown key `timeout` in `http`", "calls.yaml:9:"),
    ] {
        assert!(stderr.contains(wanted), "{wanted} is reported: {stderr}");
        assert!(stderr.contains(line), "at {line}: {stderr}");
    }
}

/// `tidewater test` sends an `http` task's request as a run would, shows its log, and exits
/// with its outcome; the outputs its templates read are given with `--output`.
#[test]
fn test_sends_one_http_request_and_exits_with_its_outcome() {
    let server = TestServer::start(vec![
        Reply::Status(200, r#"{"state": "shipped"}"#.to_owned()),
        Reply::Status(404, r#"{"error": "gone"}"#.to_owned()),
    ]);
    let workflow = format!(
        "tasks:\n  create:\n    empty: {{}}\n  check:\n    needs: [create]\n    http: {{ url: \"{}/{{{{ tasks.create.output.id }}}}?date={{{{ ds }}}}\" }}\n",
        server.url("/orders")
    );
    let project = TestProject::new("", &[("calls.yaml", &workflow)]);
    let refused = project.run(&["test", "calls", "check", "--date", "2026-01-03"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert!(
        text(&refused.stderr).contains("--output create="),
        "{}",
        text(&refused.stderr)
    );
    assert!(server.requests().is_empty(), "nothing is sent when refused");

    let args = [
        "test",
        "calls",
        "check",
        "--date",
        "2026-01-03",
        "--output",
        r#"create={"id": 7}"#,
    ];
    let passed = project.run(&args);
    assert_eq!(passed.status.code(), Some(0), "{}", text(&passed.stderr));
    let log = text(&passed.stdout);
    assert!(log.contains(r#"body| {"state": "shipped"}"#), "{log}");
    assert!(
        server.requests()[0].starts_with("GET /orders/7?date=2026-01-03 HTTP/1.1\r\n"),
        "{:?}",
        server.requests()
    );

    let failed = project.run(&args);
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed.stderr));
    assert!(
        text(&failed.stderr).contains("404 Not Found"),
        "{}",
        text(&failed.stderr)
    );
    assert!(
        !project.path(".tidewater/tidewater.db").exists(),
        "a test records nothing"
    );
}
