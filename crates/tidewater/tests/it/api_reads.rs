//! The API's read routes with the real binary over loopback (issue 17): an attempt's log by
//! byte range and live over server-sent events, the warehouse's tables with their partitions'
//! writers and missing intervals, runs filtered by date, and the cap on a backfill's size.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::api_client::{Answer, Api};
use crate::project::{TestProject, text};
use crate::service::{eventually, start_server, stop_server};

/// Prints two lines, waits until the test creates `release`, prints a third.
const TALK: &str = r#"
timezone: UTC
tasks:
  talk:
    sh: |
      echo "line one"
      echo "line two"
      while [ ! -f release ]; do sleep 0.05; done
      echo "line three"
"#;

const LOG: &str = "/api/v1/runs/{id}/tasks/{task}/attempts/{attempt}/log";
const TAIL: &str = "/api/v1/runs/{id}/tasks/{task}/attempts/{attempt}/log/tail";

fn days_ago(days: i64) -> String {
    (chrono::Utc::now().date_naive() - chrono::Duration::days(days)).to_string()
}

/// A GET of an attempt's log with extra headers, recorded for the document check.
fn read_log(api: &Api, path: &str, headers: &[(&str, &str)]) -> Answer {
    api.asked.borrow_mut().insert(format!("get {LOG}"));
    api.call_with("GET", path, None, headers)
}

fn body(answer: &Answer) -> &str {
    answer.body.as_str().expect("a text body")
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SentEvent {
    id: Option<String>,
    event: Option<String>,
    data: String,
}

/// A live tail being received: its body (chunked transfer undone) as it arrives.
struct Tail {
    status: u16,
    headers: String,
    body: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Tail {
    fn open(api: &Api, path: &str, headers: &[(&str, &str)]) -> Tail {
        api.asked.borrow_mut().insert(format!("get {TAIL}"));
        let mut stream = TcpStream::connect(("127.0.0.1", api.port)).expect("connect");
        let extra: String = headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}\r\n"))
            .collect();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n{extra}\r\n"
        )
        .expect("send");
        let mut reader = BufReader::new(stream);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("a header line");
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line);
        }
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .expect("a status line");
        let body = Arc::new(Mutex::new(String::new()));
        let is_chunked = head.to_lowercase().contains("transfer-encoding: chunked");
        let reader = {
            let body = body.clone();
            std::thread::spawn(move || {
                if !is_chunked {
                    let mut rest = String::new();
                    let _ = reader.read_to_string(&mut rest);
                    body.lock().expect("not poisoned").push_str(&rest);
                    return;
                }
                loop {
                    let mut size = String::new();
                    if reader.read_line(&mut size).unwrap_or(0) == 0 {
                        return;
                    }
                    let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
                        return;
                    };
                    if size == 0 {
                        return;
                    }
                    let mut chunk = vec![0; size + 2];
                    if reader.read_exact(&mut chunk).is_err() {
                        return;
                    }
                    chunk.truncate(size);
                    body.lock()
                        .expect("not poisoned")
                        .push_str(&String::from_utf8(chunk).expect("UTF-8"));
                }
            })
        };
        Tail {
            status,
            headers: head,
            body,
            reader: Some(reader),
        }
    }

    /// The events received whole so far (keep-alive comments left out).
    fn events(&self) -> Vec<SentEvent> {
        let body = self.body.lock().expect("not poisoned").clone();
        let Some((whole, _)) = body.rsplit_once("\n\n") else {
            return Vec::new();
        };
        whole
            .split("\n\n")
            .filter_map(|block| {
                let mut event = SentEvent {
                    id: None,
                    event: None,
                    data: String::new(),
                };
                let mut data = Vec::new();
                for line in block.lines() {
                    let (field, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match field {
                        "id" => event.id = Some(value.to_owned()),
                        "event" => event.event = Some(value.to_owned()),
                        "data" => data.push(value),
                        _ => {}
                    }
                }
                if data.is_empty() && event.event.is_none() {
                    return None;
                }
                event.data = data.join("\n");
                Some(event)
            })
            .collect()
    }

    /// The log's text the events carried.
    fn text(&self) -> String {
        self.events()
            .iter()
            .filter(|event| event.event.is_none())
            .map(|event| event.data.clone())
            .collect()
    }

    fn wait_for_end(&mut self) -> Vec<SentEvent> {
        let events = eventually("the tail to end", || {
            let events = self.events();
            events
                .iter()
                .any(|event| event.event.as_deref() == Some("end"))
                .then_some(events)
        });
        self.reader
            .take()
            .expect("not joined yet")
            .join()
            .expect("the stream closes after `end`");
        events
    }
}

/// Regression: the API had no route to an attempt's log.
#[test]
fn an_attempts_log_is_read_by_byte_range_and_tailed_live_until_the_attempt_ends() {
    let project = TestProject::new("", &[("talk.yaml", TALK)]);
    let server = start_server(&project);
    let api = Api::of(&project);
    let created = api.call(
        "POST",
        "/api/v1/workflows/talk/runs",
        Some(&json!({"date": days_ago(1)}).to_string()),
    );
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.body["id"].as_i64().expect("an id");
    let log = format!("/api/v1/runs/{id}/tasks/talk/attempts/1/log");
    let tail = format!("{log}/tail");

    // While the task runs: its whole lines, and the headers say it goes on.
    let running = eventually("the first lines to be logged", || {
        let answer = read_log(&api, &log, &[]);
        (answer.status == 200 && body(&answer).contains("out| line two")).then_some(answer)
    });
    assert_eq!(running.header("content-type"), "text/plain; charset=utf-8");
    assert_eq!(running.header("tidewater-log-complete"), "false");
    let so_far = body(&running).to_owned();
    assert!(!so_far.contains("out| line three"), "{so_far}");
    assert_eq!(
        running.header("tidewater-log-next-offset"),
        so_far.len().to_string()
    );
    let mut live = Tail::open(&api, &tail, &[]);
    assert_eq!(live.status, 200);
    assert!(
        live.headers.contains("text/event-stream"),
        "{}",
        live.headers
    );
    eventually("the tail to send the first lines", || {
        live.text().contains("out| line two").then_some(())
    });
    let ten = read_log(&api, &log, &[("Range", "bytes=0-9")]);
    assert_eq!(ten.status, 206, "{ten:?}");
    assert_eq!(
        ten.header("content-range"),
        "bytes 0-9/*",
        "the length is not known yet"
    );
    assert_eq!(body(&ten), &so_far[..10]);
    let past = read_log(&api, &format!("{log}?offset=100000"), &[]);
    api.problem(&past, 416, "nothing can be read from byte 100000");
    assert!(
        !live
            .events()
            .iter()
            .any(|event| event.event.as_deref() == Some("end")),
        "no end while the task runs"
    );

    // The task goes on and ends: the tail sends the rest, then `end`.
    std::fs::write(project.path("release"), "").expect("release the task");
    let events = live.wait_for_end();
    assert_eq!(
        events
            .last()
            .map(|event| (event.event.as_deref(), event.data.as_str())),
        Some((Some("end"), "ended"))
    );
    let whole = eventually("the log to be complete", || {
        let answer = read_log(&api, &log, &[]);
        (answer.header("tidewater-log-complete") == "true").then_some(answer)
    });
    let whole = body(&whole).to_owned();
    assert!(whole.contains("out| line three"), "{whole}");
    assert!(whole.contains("tidewater| succeeded after"), "{whole}");
    assert_eq!(
        live.text(),
        whole,
        "the tail sent the whole log, in order, once"
    );
    let offsets: Vec<u64> = events
        .iter()
        .filter_map(|event| event.id.as_ref()?.parse().ok())
        .collect();
    assert!(offsets.len() >= 2, "{events:?}");
    assert!(
        offsets.windows(2).all(|pair| pair[0] < pair[1]),
        "{offsets:?}"
    );
    assert_eq!(offsets.last().copied(), Some(whole.len() as u64));

    // Ranges of the complete log: its length is known.
    let length = whole.len();
    let from_five = read_log(&api, &log, &[("Range", "bytes=5-")]);
    assert_eq!(from_five.status, 206, "{from_five:?}");
    assert_eq!(
        from_five.header("content-range"),
        format!("bytes 5-{}/{length}", length - 1)
    );
    assert_eq!(body(&from_five), &whole[5..]);
    let last = read_log(&api, &log, &[("Range", "bytes=-12")]);
    assert_eq!(last.status, 206, "{last:?}");
    assert_eq!(body(&last), &whole[length - 12..]);
    let resumed = read_log(&api, &format!("{log}?offset={}", so_far.len()), &[]);
    assert_eq!(resumed.status, 200, "{resumed:?}");
    assert_eq!(body(&resumed), &whole[so_far.len()..]);
    assert_eq!(
        resumed.header("tidewater-log-next-offset"),
        length.to_string()
    );
    let download = read_log(&api, &format!("{log}?download=true"), &[]);
    assert_eq!(download.status, 200, "{download:?}");
    assert_eq!(
        download.header("content-disposition"),
        format!("attachment; filename=\"run-{id}-talk-attempt-1.log\"")
    );
    assert_eq!(body(&download), whole);

    // An EventSource that reconnects resumes after the last event it had.
    let first_id = offsets[0];
    let mut again = Tail::open(&api, &tail, &[("Last-Event-ID", &first_id.to_string())]);
    again.wait_for_end();
    assert_eq!(again.text(), whole[first_id as usize..]);

    // Errors: problems, never a 5xx.
    let unsatisfiable = read_log(&api, &log, &[("Range", &format!("bytes={length}-"))]);
    api.problem(&unsatisfiable, 416, "nothing can be read");
    assert_eq!(
        unsatisfiable.header("content-range"),
        format!("bytes */{length}")
    );
    api.problem(
        &read_log(&api, &log, &[("Range", "items=0-5")]),
        416,
        "one byte range",
    );
    api.problem(
        &read_log(&api, &format!("{log}?offset=3"), &[("Range", "bytes=0-1")]),
        422,
        "not both",
    );
    api.problem(&read_log(&api, &format!("{log}?offset=-1"), &[]), 400, "");
    api.problem(
        &read_log(&api, "/api/v1/runs/999/tasks/talk/attempts/1/log", &[]),
        404,
        "there is no run 999",
    );
    api.problem(
        &read_log(
            &api,
            &format!("/api/v1/runs/{id}/tasks/nope/attempts/1/log"),
            &[],
        ),
        404,
        "no task `nope`",
    );
    api.problem(
        &read_log(
            &api,
            &format!("/api/v1/runs/{id}/tasks/talk/attempts/2/log"),
            &[],
        ),
        404,
        "no attempt 2",
    );
    api.problem(
        &api.call_with("GET", &format!("{tail}?offset=100000"), None, &[]),
        416,
        "nothing can be read",
    );
    api.problem(
        &api.call_with("GET", &tail, None, &[("Last-Event-ID", "soon")]),
        422,
        "Last-Event-ID",
    );
    assert_documented(&api);
    stop_server(server);
}

/// Every route the test asked is in the OpenAPI document.
fn assert_documented(api: &Api) {
    let document = api.call("GET", "/api/v1/openapi.json", None);
    let documented: Vec<String> = document.body["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("a path item")
                .keys()
                .map(move |method| format!("{method} {path}"))
        })
        .collect();
    for asked in api.asked.borrow().iter() {
        let route = asked.split('?').next().unwrap_or(asked);
        assert!(
            documented.iter().any(|known| known == route),
            "undocumented: {route}"
        );
    }
}

/// Writes a partition of `raw.numbers` per day from `input/<ds>.csv`.
const LOADER: &str = r#"
timezone: UTC
tasks:
  load:
    sql: SELECT id FROM read_csv('input/{{ ds }}.csv')
    into: { table: raw.numbers, partition: { dt: "{{ ds }}" } }
"#;

/// Regression: the API had no route to the warehouse's tables.
#[test]
fn tables_show_each_partitions_rows_and_writer_and_the_intervals_a_workflow_misses() {
    let project = TestProject::new("", &[("loader.yaml", LOADER)]);
    std::fs::create_dir_all(project.path("input")).expect("mkdir");
    for (day, rows) in [("2026-01-01", 3), ("2026-01-02", 5)] {
        let csv: String = std::iter::once("id\n".to_owned())
            .chain((0..rows).map(|id| format!("{id}\n")))
            .collect();
        std::fs::write(project.path(&format!("input/{day}.csv")), csv).expect("write");
        let output = project.run(&["run", "loader", "--date", day]);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    }
    let server = start_server(&project);
    let api = Api::of(&project);

    let tables = api.get("/api/v1/tables");
    assert_eq!(tables.status, 200, "{tables:?}");
    assert_eq!(tables.body, json!(["raw.numbers"]));

    let table = api.ask(
        "GET",
        "/api/v1/tables/{name}",
        "/api/v1/tables/raw.numbers",
        None,
    );
    assert_eq!(table.status, 200, "{table:?}");
    assert_eq!(table.body["table"], "raw.numbers");
    assert_eq!(table.body["partition_columns"], json!(["dt"]));
    assert_eq!(table.body["version"], 1);
    assert!(table.body.get("missing").is_none(), "{table:?}");
    let partitions = table.body["partitions"].as_array().expect("partitions");
    let summary: Vec<Value> = partitions
        .iter()
        .map(|partition| {
            json!([
                partition["values"],
                partition["rows"],
                partition["last_write"]["writer"]
            ])
        })
        .collect();
    assert_eq!(
        summary,
        [
            json!([[["dt", "2026-01-01"]], 3, {"workflow": "loader", "run_id": 1, "task": "load", "attempt": 1}]),
            json!([[["dt", "2026-01-02"]], 5, {"workflow": "loader", "run_id": 2, "task": "load", "attempt": 1}]),
        ]
    );
    // The same shape as `tidewater tables T --json`.
    let cli = project.run(&["tables", "raw.numbers", "--json"]);
    let cli: Value = serde_json::from_slice(&cli.stdout).expect("tables --json");
    assert_eq!(cli, table.body);

    let missing = api.call(
        "GET",
        "/api/v1/tables/raw.numbers?workflow=loader&from=2026-01-01&to=2026-01-04",
        None,
    );
    assert_eq!(missing.status, 200, "{missing:?}");
    assert_eq!(missing.body["partitions"], table.body["partitions"]);
    assert_eq!(missing.body["missing"]["workflow"], "loader");
    assert_eq!(missing.body["missing"]["column"], "dt");
    let days: Vec<&Value> = missing.body["missing"]["intervals"]
        .as_array()
        .expect("intervals")
        .iter()
        .map(|interval| &interval["ds"])
        .collect();
    assert_eq!(days, [&json!("2026-01-03"), &json!("2026-01-04")]);
    assert_eq!(
        missing.body["missing"]["intervals"][0]["data_interval_start"],
        "2026-01-03T00:00:00+00:00"
    );

    api.problem(
        &api.call("GET", "/api/v1/tables/raw.nothing", None),
        404,
        "raw.nothing",
    );
    api.problem(
        &api.call("GET", "/api/v1/tables/not%20a%20name", None),
        404,
        "no table",
    );
    api.problem(
        &api.call("GET", "/api/v1/tables/raw.numbers?workflow=loader", None),
        422,
        "go together",
    );
    api.problem(
        &api.call(
            "GET",
            "/api/v1/tables/raw.numbers?workflow=loader&from=yesterday&to=2026-01-04",
            None,
        ),
        422,
        "`yesterday` is not a date",
    );
    api.problem(
        &api.call(
            "GET",
            "/api/v1/tables/raw.numbers?workflow=loader&from=2026-01-05&to=2026-01-04",
            None,
        ),
        422,
        "after",
    );
    api.problem(
        &api.call(
            "GET",
            "/api/v1/tables/raw.numbers?workflow=nope&from=2026-01-01&to=2026-01-04",
            None,
        ),
        404,
        "nope",
    );
    assert_documented(&api);
    stop_server(server);
}

const DAILY: &str = r#"
timezone: UTC
tasks:
  say:
    sh: echo "{{ ds }}"
"#;

fn run_days(runs: &Value) -> Vec<String> {
    runs.as_array()
        .expect("runs")
        .iter()
        .map(|run| run["data_interval_start"].as_str().expect("a start")[..10].to_owned())
        .collect()
}

/// Regression: `GET /api/v1/runs` and `tidewater runs` could not be narrowed by date.
#[test]
fn runs_are_listed_by_the_date_of_their_data_interval_newest_first() {
    let project = TestProject::new("", &[("daily.yaml", DAILY)]);
    let server = start_server(&project);
    let api = Api::of(&project);
    // Created out of date order: the listing is newest created first.
    for days in [3, 5, 1, 4] {
        let created = api.call(
            "POST",
            "/api/v1/workflows/daily/runs",
            Some(&json!({"date": days_ago(days)}).to_string()),
        );
        assert_eq!(created.status, 201, "{created:?}");
    }
    eventually("every run to succeed", || {
        let runs = api.call("GET", "/api/v1/runs", None).body["runs"].clone();
        runs.as_array()?
            .iter()
            .all(|run| run["state"] == "succeeded")
            .then_some(())
    });
    let listed = |query: &str| {
        let answer = api.get(&format!("/api/v1/runs?{query}"));
        assert_eq!(answer.status, 200, "{answer:?}");
        answer
    };
    let window = listed(&format!("from={}&to={}", days_ago(4), days_ago(1)));
    assert_eq!(
        run_days(&window.body["runs"]),
        [days_ago(4), days_ago(1), days_ago(3)]
    );
    // `to` takes in its whole day; RFC 3339 times are instants, both ends included.
    let one_day = listed(&format!("workflow=daily&from={0}&to={0}", days_ago(3)));
    assert_eq!(run_days(&one_day.body["runs"]), [days_ago(3)]);
    let instants = listed(&format!("from={0}T00:00:00Z&to={0}T00:00:00Z", days_ago(5)));
    assert_eq!(run_days(&instants.body["runs"]), [days_ago(5)]);
    let until = listed(&format!("to={}", days_ago(4)));
    assert_eq!(run_days(&until.body["runs"]), [days_ago(4), days_ago(5)]);
    // Paged with the cursor, still within the range.
    let first_page = listed(&format!("from={}&limit=2", days_ago(4)));
    assert_eq!(
        run_days(&first_page.body["runs"]),
        [days_ago(4), days_ago(1)]
    );
    let before = first_page.body["next_before"].as_i64().expect("a cursor");
    let second_page = listed(&format!("from={}&limit=2&before={before}", days_ago(4)));
    assert_eq!(run_days(&second_page.body["runs"]), [days_ago(3)]);
    assert_eq!(second_page.body["next_before"], Value::Null);
    // The CLI filters the same way.
    let cli = project.run(&[
        "runs",
        "--json",
        "--from",
        &days_ago(4),
        "--to",
        &days_ago(1),
    ]);
    assert!(cli.status.success(), "{}", text(&cli.stderr));
    let cli: Value = serde_json::from_slice(&cli.stdout).expect("runs --json");
    assert_eq!(cli, window.body["runs"]);

    api.problem(
        &api.get("/api/v1/runs?from=monday"),
        422,
        "`monday` is not a date",
    );
    api.problem(&api.get("/api/v1/runs?to=2026-13-01"), 422, "`to`");
    api.problem(
        &api.get("/api/v1/runs?from=2026-03-02&to=2026-03-01"),
        422,
        "is after",
    );
    assert_documented(&api);
    stop_server(server);
}

/// Regression: one request could queue a run for every interval of any range, millions of
/// them for an every-minute schedule over years.
#[test]
fn a_backfill_over_the_cap_is_refused_by_the_api_and_the_cli_and_records_nothing() {
    let project = TestProject::new("[backfill]\nmax_intervals = 3\n", &[("daily.yaml", DAILY)]);
    let server = start_server(&project);
    let api = Api::of(&project);
    let asked = |from: i64, to: i64| {
        json!({"workflow": "daily", "from": days_ago(from), "to": days_ago(to), "dry_run": true})
            .to_string()
    };
    let refused = api.ask(
        "POST",
        "/api/v1/backfills",
        "/api/v1/backfills",
        Some(&asked(5, 2)),
    );
    api.problem(&refused, 422, "daily has more than 3 intervals from");
    assert!(
        refused.body["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("[backfill] max_intervals")),
        "{refused:?}"
    );
    let recorded = api.ask(
        "POST",
        "/api/v1/backfills",
        "/api/v1/backfills",
        Some(&json!({"workflow": "daily", "from": days_ago(5), "to": days_ago(2)}).to_string()),
    );
    api.problem(&recorded, 422, "more than 3 intervals");
    let allowed = api.ask(
        "POST",
        "/api/v1/backfills",
        "/api/v1/backfills",
        Some(&asked(4, 2)),
    );
    assert_eq!(allowed.status, 200, "{allowed:?}");
    assert_eq!(
        allowed.body["plan"]["intervals"].as_array().map(Vec::len),
        Some(3),
        "{allowed:?}"
    );
    stop_server(server);

    let cli = project.run(&[
        "backfill",
        "daily",
        "--from",
        &days_ago(5),
        "--to",
        &days_ago(2),
    ]);
    assert_eq!(cli.status.code(), Some(2), "{}", text(&cli.stderr));
    assert!(
        text(&cli.stderr).contains("daily has more than 3 intervals"),
        "{}",
        text(&cli.stderr)
    );
    let runs = project.run(&["runs", "--json"]);
    assert_eq!(text(&runs.stdout).trim(), "[]", "nothing was recorded");
}
