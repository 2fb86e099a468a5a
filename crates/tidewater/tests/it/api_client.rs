//! A client of the HTTP API for the tests: plain HTTP/1.1 over loopback, each request on a
//! connection of its own, the answer's body parsed as JSON.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::Value;

use crate::project::TestProject;
use crate::service::eventually;

/// One answer of the API.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Value,
    /// Every header of the answer, names in lower case, in order.
    pub(crate) headers: Vec<(String, String)>,
}

impl Answer {
    /// The first value of header `name` (lower case), or "".
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value.as_str())
    }
}

/// The port of the API of the server whose stderr goes to `log`, once it says it listens.
pub(crate) fn api_port(log: &std::path::Path) -> u16 {
    eventually("the server to say where its API listens", || {
        let log = std::fs::read_to_string(log).ok()?;
        let (_, rest) = log.split_once("HTTP API on http://127.0.0.1:")?;
        rest.split_once('/')?.0.parse::<u16>().ok()
    })
}

/// The API of a server started by `start_server`, at the port its log names.
pub(crate) struct Api {
    pub(crate) port: u16,
    /// Every route asked, as `METHOD /api/v1/template`, to check against the document.
    pub(crate) asked: std::cell::RefCell<BTreeSet<String>>,
    /// Sent as `Authorization: Bearer …` with every request while set.
    pub(crate) token: std::cell::RefCell<Option<String>>,
}

impl Api {
    pub(crate) fn of(project: &TestProject) -> Api {
        let port = api_port(&project.path("server.log"));
        Api {
            port,
            asked: Default::default(),
            token: Default::default(),
        }
    }

    /// A request with `Connection: close`; a JSON answer's body parsed.
    pub(crate) fn call(&self, method: &str, path: &str, body: Option<&str>) -> Answer {
        self.call_with(method, path, body, &[])
    }

    /// `call` with more headers (`("Origin", "http://…")`), besides the token if set.
    pub(crate) fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        let body = body.unwrap_or("");
        let mut extra = String::new();
        if let Some(token) = self.token.borrow().as_deref() {
            extra.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        // JSON unless the caller says otherwise (a form).
        if !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        {
            extra.push_str("Content-Type: application/json\r\n");
        }
        for (name, value) in headers {
            extra.push_str(&format!("{name}: {value}\r\n"));
        }
        // `Host` with the port, as a browser sends it: the origin checks compare with it.
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\
             {extra}Content-Length: {}\r\n\r\n{body}",
            self.port,
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("send");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).expect("receive");
        let response = String::from_utf8(response).expect("UTF-8");
        let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|code| code.parse().ok())
            .expect("a status line");
        let header = |name: &str| {
            head.lines()
                .find_map(|line| {
                    let (key, value) = line.split_once(':')?;
                    key.eq_ignore_ascii_case(name)
                        .then(|| value.trim().to_owned())
                })
                .unwrap_or_default()
        };
        assert!(
            !header("transfer-encoding").contains("chunked"),
            "bodies come whole"
        );
        let headers = head
            .lines()
            .skip(1)
            .filter_map(|line| {
                let (key, value) = line.split_once(':')?;
                Some((key.trim().to_lowercase(), value.trim().to_owned()))
            })
            .collect();
        Answer {
            status,
            headers,
            // JSON answers parsed (and required to parse); any other body as a string.
            body: if header("content-type").contains("json") {
                serde_json::from_str(body)
                    .unwrap_or_else(|error| panic!("{method} {path}: {error}: {body}"))
            } else {
                Value::String(body.to_owned())
            },
        }
    }

    /// `call`, recording the route's template (`{id}`, `{name}`) for the document check.
    pub(crate) fn ask(
        &self,
        method: &str,
        template: &str,
        path: &str,
        body: Option<&str>,
    ) -> Answer {
        self.asked
            .borrow_mut()
            .insert(format!("{} {template}", method.to_lowercase()));
        self.call(method, path, body)
    }

    pub(crate) fn get(&self, path: &str) -> Answer {
        self.ask("GET", path, path, None)
    }

    /// The HTML of the web UI's page at `path`, which must answer 200 with a page.
    pub(crate) fn page(&self, path: &str) -> String {
        let answer = self.call("GET", path, None);
        assert_eq!(answer.status, 200, "GET {path}: {answer:?}");
        assert!(
            answer.header("content-type").starts_with("text/html"),
            "GET {path}: {answer:?}"
        );
        answer.body.as_str().expect("HTML").to_owned()
    }

    /// Asserts a problem (RFC 9457) with this status whose detail contains `detail`.
    pub(crate) fn problem(&self, answer: &Answer, status: u16, detail: &str) {
        assert_eq!(answer.status, status, "{answer:?}");
        assert_eq!(
            answer.header("content-type"),
            "application/problem+json",
            "{answer:?}"
        );
        assert_eq!(answer.body["status"], status, "{answer:?}");
        assert!(answer.body["type"].as_str().is_some(), "{answer:?}");
        assert!(answer.body["title"].as_str().is_some(), "{answer:?}");
        assert!(
            answer.body["detail"]
                .as_str()
                .is_some_and(|text| text.contains(detail)),
            "{detail:?} in {answer:?}"
        );
    }

    pub(crate) fn run(&self, id: i64) -> Value {
        let answer = self.ask(
            "GET",
            "/api/v1/runs/{id}",
            &format!("/api/v1/runs/{id}"),
            None,
        );
        assert_eq!(answer.status, 200, "{answer:?}");
        answer.body
    }

    /// Every run, newest first, read page by page through the cursor.
    pub(crate) fn all_runs(&self) -> Vec<Value> {
        let mut runs = Vec::new();
        let mut path = "/api/v1/runs?limit=2".to_owned();
        loop {
            let page = self.get(&path);
            assert_eq!(page.status, 200, "{page:?}");
            runs.extend(page.body["runs"].as_array().expect("runs").iter().cloned());
            match page.body["next_before"].as_i64() {
                Some(before) => path = format!("/api/v1/runs?limit=2&before={before}"),
                None => break runs,
            }
        }
    }
}
