//! Streams (issue 19) on the real binary against the machine's NATS JetStream
//! (127.0.0.1:4222): exactly once through kills at every commit point and as the table
//! compacts, one owner at a time, dead letters, an independent Delta reader, `validate` of
//! stream files, and the server's supervision: restart after a failure, pause and resume
//! through the CLI, the API and the UI.
//!
//! Each test uses its own JetStream stream and subject, deleted at its end. A missing NATS
//! server fails the test: it is part of the machine.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use tidewater_stream::nats_admin::NatsAdmin;

use crate::api_client::Api;
use crate::project::{TestProject, text};
use crate::service::{eventually, start_server, stop_server};

const NATS_URL: &str = "nats://127.0.0.1:4222";

/// A JetStream stream of one test, deleted when dropped.
pub(crate) struct TestStream {
    runtime: tokio::runtime::Runtime,
    admin: NatsAdmin,
    name: String,
    subject: String,
}

impl TestStream {
    pub(crate) fn new(test: &str) -> TestStream {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let unique = format!(
            "{test}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let admin = runtime
            .block_on(NatsAdmin::connect(NATS_URL))
            .expect("NATS JetStream runs on 127.0.0.1:4222");
        let name = format!("TW_{}", unique.to_uppercase());
        let subject = format!("tw.{unique}.orders");
        runtime
            .block_on(admin.create_stream(&name, &[&subject]))
            .expect("create the JetStream stream");
        TestStream {
            runtime,
            admin,
            name,
            subject,
        }
    }

    /// Deletes the JetStream stream now (a source that is gone), to create it again later.
    fn delete(&self) {
        self.runtime
            .block_on(self.admin.delete_stream(&self.name))
            .expect("delete the JetStream stream");
    }

    fn create(&self) {
        self.runtime
            .block_on(self.admin.create_stream(&self.name, &[&self.subject]))
            .expect("create the JetStream stream");
    }

    pub(crate) fn publish(&self, payloads: &[String]) -> u64 {
        let mut last = 0;
        for payload in payloads {
            last = self
                .runtime
                .block_on(
                    self.admin
                        .publish(&self.subject, payload.as_bytes().to_vec()),
                )
                .expect("publish");
        }
        last
    }

    /// A project whose one stream reads this JetStream stream.
    fn project(&self, trigger: &str) -> TestProject {
        self.project_with("", trigger)
    }

    /// [`TestStream::project`] with this `tidewater.toml`.
    pub(crate) fn project_with(&self, toml: &str, trigger: &str) -> TestProject {
        let project = TestProject::new(toml, &[]);
        std::fs::create_dir_all(project.path("streams")).expect("mkdir streams");
        std::fs::write(
            project.path("streams/orders_live.yaml"),
            format!(
                r#"name: orders_live
source:
  nats: {{ url: "{NATS_URL}", stream: {stream}, subjects: ["{subject}"], consumer: tidewater_orders }}
schema: {{ order_id: string, region: string, amount: double, ts: timestamp }}
sql: SELECT order_id, region, amount, CAST(ts AS DATE) AS dt FROM messages
into: {{ table: stream.orders, partition: [dt] }}
trigger: {trigger}
"#,
                stream = self.name,
                subject = self.subject,
            ),
        )
        .expect("write the stream file");
        project
    }
}

impl Drop for TestStream {
    fn drop(&mut self) {
        let _ = self.runtime.block_on(self.admin.delete_stream(&self.name));
    }
}

pub(crate) fn order(id: usize) -> String {
    format!(
        r#"{{"order_id":"o{id}","region":"{}","amount":{}.5,"ts":"2026-12-0{}T10:00:00Z"}}"#,
        ["kr", "jp", "us"][id % 3],
        id,
        1 + id % 3
    )
}

/// Runs `stream run orders_live` until it prints `until` on stderr (then returns it still
/// running) or exits (then returns `None` with its output checked to be a success).
fn start_stream(project: &TestProject, pause_at: Option<&str>, until: &str) -> Option<Child> {
    let mut command = project.command(&["stream", "run", "orders_live", "--until-caught-up"]);
    if let Some(point) = pause_at {
        command.env("TIDEWATER_STREAM_PAUSE_AT", point);
    }
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.expect("stderr is text");
        let is_there = line.contains(until);
        seen.push(line);
        if is_there {
            // Keep draining stderr so that the process never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return Some(child);
        }
    }
    let status = child.wait().expect("wait");
    assert!(status.success(), "the stream failed:\n{}", seen.join("\n"));
    None
}

fn query(project: &TestProject, sql: &str) -> Vec<serde_json::Value> {
    let output = project.run(&["query", sql, "--format", "json"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("query --format json prints JSON")
}

/// The last `txn` version the table's log records for `app_id`, read from the JSON commits.
fn txn_version(table: &std::path::Path, app_id: &str) -> Option<i64> {
    let mut commits: Vec<_> = std::fs::read_dir(table.join("_delta_log"))
        .expect("a Delta log")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "json")
        })
        .collect();
    commits.sort();
    let mut version = None;
    for commit in commits {
        for line in std::fs::read_to_string(&commit).expect("read").lines() {
            let action: serde_json::Value = serde_json::from_str(line).expect("JSON action");
            if action["txn"]["appId"] == app_id {
                version = action["txn"]["version"].as_i64();
            }
        }
    }
    version
}

#[test]
fn killing_a_stream_at_its_commit_points_and_in_its_compaction_leaves_every_message_exactly_once() {
    let stream = TestStream::new("crash");
    // Every 25th message is malformed: dead letters must come through the kills exactly
    // once too.
    let payloads: Vec<String> = (1..=500)
        .map(|id| {
            if id % 25 == 0 {
                format!("{{not json {id}")
            } else {
                order(id)
            }
        })
        .collect();
    let last_sequence = stream.publish(&payloads);
    assert_eq!(last_sequence, 500);
    let project = stream.project("{ every: 200ms, max_messages: 10 }");
    // Each process compacts after its second commit, so the compaction's points are reached.
    let file = project.path("streams/orders_live.yaml");
    let mut text_of_file = std::fs::read_to_string(&file).expect("read");
    text_of_file.push_str("compact_every: 2\n");
    std::fs::write(&file, text_of_file).expect("write");

    let seed: u64 = rand::random();
    eprintln!("kill points seeded with {seed}");
    let mut random = rand::rngs::StdRng::seed_from_u64(seed);
    let points = [
        Some("before_commit"),
        Some("after_dead_letters"),
        Some("after_commit"),
        Some("after_ack"),
        Some("before_compaction"),
        // The compaction's larger files are written, its commit is not.
        Some("before_compaction_commit"),
        Some("after_compaction"),
        // While the batch is being gathered, before any pause point.
        None,
    ];
    // Three kills at each point, in a random order: 24 kills, 9 of them in a compaction.
    let mut kill_points: Vec<Option<&str>> = points.iter().flat_map(|point| [*point; 3]).collect();
    kill_points.shuffle(&mut random);
    let table = project.path("warehouse/stream/orders");
    for (kills, point) in kill_points.into_iter().enumerate() {
        let until = match point {
            Some(_) => "paused at",
            None => "into stream.orders",
        };
        match start_stream(&project, point, until) {
            Some(mut child) => {
                kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).expect("SIGKILL");
                child.wait().expect("wait");
            }
            // Caught up before reaching the point: publish more for the next kills.
            None => panic!("the stream caught up after {kills} kills; publish more messages"),
        }
    }
    // The killed compactions left files no commit names; readers must not see their rows.
    let unreferenced = files_no_commit_names(&table);
    assert!(
        unreferenced.len() >= 3,
        "each kill before a compaction's commit leaves its new files: {unreferenced:?}"
    );
    // The last run, undisturbed, catches up and exits.
    assert!(start_stream(&project, None, "never printed").is_none());

    let rows = query(
        &project,
        "SELECT count(*) AS n, count(DISTINCT order_id) AS distinct_orders FROM stream.orders",
    );
    assert_eq!(rows[0]["n"], 480, "{rows:?}");
    assert_eq!(rows[0]["distinct_orders"], 480, "each order once: {rows:?}");
    let dead = query(
        &project,
        "SELECT count(*) AS n, count(DISTINCT sequence) AS distinct_sequences, min(reason) AS reason FROM stream.orders_dead_letters",
    );
    assert_eq!(dead[0]["n"], 20, "{dead:?}");
    assert_eq!(dead[0]["distinct_sequences"], 20, "{dead:?}");
    assert!(
        dead[0]["reason"]
            .as_str()
            .is_some_and(|reason| reason.starts_with("invalid JSON")),
        "{dead:?}"
    );
    assert_eq!(
        txn_version(&table, "tidewater-stream:orders_live"),
        Some(500),
        "the recorded position is the last sequence"
    );
    // An independent Delta reader agrees, unreferenced files and all.
    let read = read_with_python_deltalake(&table);
    assert_eq!(read["rows"], 480, "{read}");
    assert_eq!(read["distinct_orders"], 480, "{read}");

    // A full vacuum deletes the unreferenced files once they are older than its retention
    // (their age is set back rather than waited for), and the rows stay.
    let eight_days_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(8 * 86_400);
    for file in &unreferenced {
        std::fs::File::options()
            .write(true)
            .open(table.join(file))
            .and_then(|opened| opened.set_modified(eight_days_ago))
            .expect("set a file's modification time");
    }
    let vacuum = project.run(&["vacuum", "stream.orders", "--retention", "7d"]);
    assert!(vacuum.status.success(), "{}", text(&vacuum.stderr));
    let left = files_no_commit_names(&table);
    assert!(
        unreferenced.iter().all(|file| !left.contains(file)),
        "vacuum left {left:?}"
    );
    let read = read_with_python_deltalake(&table);
    assert_eq!(read["rows"], 480, "{read}");
    assert_eq!(read["distinct_orders"], 480, "{read}");

    let streams = project.run(&["streams", "--json"]);
    assert!(streams.status.success(), "{}", text(&streams.stderr));
    let statuses: serde_json::Value = serde_json::from_slice(&streams.stdout).expect("JSON");
    assert_eq!(statuses[0]["name"], "orders_live");
    assert_eq!(statuses[0]["state"], "stopped");
    assert_eq!(statuses[0]["committed"], 500);
    assert_eq!(statuses[0]["lag"], 0);
}

/// The table's Parquet files (relative paths) that no commit of its log names: what a
/// write or compaction killed before its commit leaves. (Files a commit removed are named.)
/// The log's paths are URL-encoded, which leaves this test's `dt=2026-12-0N/part-….parquet`
/// as they are.
fn files_no_commit_names(table: &std::path::Path) -> Vec<String> {
    let mut named = std::collections::HashSet::new();
    for entry in std::fs::read_dir(table.join("_delta_log")).expect("a Delta log") {
        let commit = entry.expect("entry").path();
        if commit
            .extension()
            .is_none_or(|extension| extension != "json")
        {
            continue;
        }
        for line in std::fs::read_to_string(&commit).expect("read").lines() {
            let action: serde_json::Value = serde_json::from_str(line).expect("JSON action");
            if let Some(path) = action["add"]["path"].as_str() {
                named.insert(path.to_owned());
            }
        }
    }
    let mut files = Vec::new();
    let mut folders = vec![table.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("read the table folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                folders.push(path);
            } else if path
                .extension()
                .is_some_and(|extension| extension == "parquet")
            {
                let relative = path
                    .strip_prefix(table)
                    .expect("inside the table")
                    .to_string_lossy()
                    .into_owned();
                if !named.contains(&relative) && !relative.starts_with("_delta_log") {
                    files.push(relative);
                }
            }
        }
    }
    files.sort();
    files
}

/// Rows and distinct `order_id`s of a table as the Python `deltalake` package reads it.
fn read_with_python_deltalake(table: &std::path::Path) -> serde_json::Value {
    let script = r#"
import json, os, sys
from deltalake import DeltaTable
data = DeltaTable(sys.argv[1]).to_pyarrow_table()
print(json.dumps({
    "rows": data.num_rows,
    "distinct_orders": len(set(data.column("order_id").to_pylist())),
}))
# As in read_with_deltalake.py: skip interpreter teardown, where the deltalake extension's
# background threads sometimes abort the process after the work is done.
sys.stdout.flush()
os._exit(0)
"#;
    python_deltalake(script, table)
}

/// Runs a Python script that reads `table` (its one argument) with the `deltalake` package
/// and prints JSON; the JSON.
fn python_deltalake(script: &str, table: &std::path::Path) -> serde_json::Value {
    let output = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(table)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "the Python deltalake package reads the table (pip install deltalake pyarrow): {}",
        text(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}

#[test]
fn a_second_process_for_a_running_stream_refuses_and_names_the_owner() {
    let stream = TestStream::new("owner");
    stream.publish(&[order(1), order(2)]);
    let project = stream.project("{ every: 100ms, max_messages: 100 }");
    let mut first = project
        .command(&["stream", "run", "orders_live"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut lines = BufReader::new(first.stderr.take().expect("stderr")).lines();
    for line in lines.by_ref() {
        if line.expect("text").contains("committed 2 message(s)") {
            break;
        }
    }

    let second = project.run(&["stream", "run", "orders_live", "--until-caught-up"]);
    assert_eq!(second.status.code(), Some(1), "{}", text(&second.stderr));
    let message = text(&second.stderr);
    assert!(
        message.contains(&format!("owned by process {}", first.id())),
        "{message}"
    );

    let streams = project.run(&["streams", "--json"]);
    let statuses: serde_json::Value = serde_json::from_slice(&streams.stdout).expect("JSON");
    assert_eq!(statuses[0]["state"], "running");
    assert_eq!(statuses[0]["owner_pid"], first.id());

    // SIGTERM stops it cleanly, and the stream is free again.
    kill(Pid::from_raw(first.id() as i32), Signal::SIGTERM).expect("SIGTERM");
    let rest: Vec<String> = lines.map(|line| line.expect("text")).collect();
    assert!(first.wait().expect("wait").success(), "{rest:?}");
    assert!(
        rest.iter().any(|line| line.contains("stopped after")),
        "{rest:?}"
    );
    let rows = query(&project, "SELECT count(*) AS n FROM stream.orders");
    assert_eq!(rows[0]["n"], 2);
}

#[test]
fn malformed_messages_go_to_the_dead_letter_table_and_the_stream_goes_on() {
    let stream = TestStream::new("dead");
    stream.publish(&[
        order(1),
        "{broken".to_owned(),
        r#"{"order_id":"o2","region":"kr","amount":"ten","ts":"2026-12-01T00:00:00Z"}"#.to_owned(),
        r#"{"order_id":"o3","amount":1.0,"ts":"2026-12-01T00:00:00Z"}"#.to_owned(),
        "[1, 2]".to_owned(),
        order(4),
    ]);
    let project = stream.project("{ every: 100ms, max_messages: 4 }");
    assert!(start_stream(&project, None, "never printed").is_none());

    let rows = query(
        &project,
        "SELECT order_id, dt FROM stream.orders ORDER BY order_id",
    );
    assert_eq!(
        rows,
        [
            serde_json::json!({"order_id": "o1", "dt": "2026-12-02"}),
            serde_json::json!({"order_id": "o4", "dt": "2026-12-02"}),
        ]
    );
    let dead = query(
        &project,
        "SELECT sequence, subject, payload, reason FROM stream.orders_dead_letters ORDER BY sequence",
    );
    let reasons: Vec<(i64, &str)> = dead
        .iter()
        .map(|row| {
            assert_eq!(row["subject"], stream.subject.as_str());
            (
                row["sequence"].as_i64().expect("sequence"),
                row["reason"].as_str().expect("reason"),
            )
        })
        .collect();
    assert_eq!(reasons.len(), 4, "{dead:?}");
    assert_eq!(reasons[0].0, 2);
    assert!(reasons[0].1.starts_with("invalid JSON"), "{dead:?}");
    assert_eq!(dead[0]["payload"], "{broken");
    assert_eq!(
        reasons[1],
        (3, "field `amount` must be a number, found \"ten\"")
    );
    assert_eq!(reasons[2], (4, "missing required field `region`"));
    assert_eq!(reasons[3], (5, "expected a JSON object, found a list"));

    // An independent Delta client reads the same rows.
    let script = r#"
import json, os, sys
from deltalake import DeltaTable
table = DeltaTable(sys.argv[1])
data = table.to_pyarrow_table()
print(json.dumps({
    "rows": data.num_rows,
    "orders": sorted(data.column("order_id").to_pylist()),
    "partition_columns": list(table.metadata().partition_columns),
    "protocol": [table.protocol().min_reader_version, table.protocol().min_writer_version],
}))
# As in read_with_deltalake.py: skip interpreter teardown, where the deltalake extension's
# background threads sometimes abort the process ("terminate called without an active
# exception") after the work is done.
sys.stdout.flush()
os._exit(0)
"#;
    let read = python_deltalake(script, &project.path("warehouse/stream/orders"));
    assert_eq!(
        read,
        serde_json::json!({
            "rows": 2,
            "orders": ["o1", "o4"],
            "partition_columns": ["dt"],
            "protocol": [1, 2],
        })
    );
}

#[test]
fn validate_reports_bad_stream_files_at_their_line() {
    let project = TestProject::new("", &[]);
    std::fs::create_dir_all(project.path("streams")).expect("mkdir");
    std::fs::write(
        project.path("streams/bad.yaml"),
        r#"name: bad
source:
  nats: { url: "nats://127.0.0.1:4222", stream: ORDERS, subjects: ["orders.>"], consumr: x }
schema: { order_id: strin, amount: double }
sql: SELEC order_id FROM messages
into: { table: stream.orders, partition: [dt] }
trigger: { every: 2 }
"#,
    )
    .expect("write");
    let output = project.run(&["validate"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    for expected in [
        "unknown key `consumr` in `nats`",
        "bad.yaml:3:",
        "did you mean `consumer`",
        "`strin` is not a valid `schema`",
        "bad.yaml:4:",
        "SQL syntax error",
        "bad.yaml:5:",
        "invalid duration `2` for `every`",
        "bad.yaml:7:",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}

/// `tidewater streams --json`, the first (only) stream.
pub(crate) fn stream_status(project: &TestProject) -> serde_json::Value {
    let output = project.run(&["streams", "--json"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let statuses: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    statuses[0].clone()
}

#[test]
fn killing_a_stream_as_its_table_compacts_leaves_every_message_exactly_once() {
    let stream = TestStream::new("compact");
    let payloads: Vec<String> = (1..=60).map(order).collect();
    stream.publish(&payloads);
    let project = stream.project("{ every: 100ms, max_messages: 10 }");
    // Compaction after every second commit: each process commits two batches, then stops
    // once its compaction wrote the larger files, before their commit, and is killed there.
    let file = project.path("streams/orders_live.yaml");
    let mut text_of_file = std::fs::read_to_string(&file).expect("read");
    text_of_file.push_str("compact_every: 2\n");
    std::fs::write(&file, text_of_file).expect("write");

    let mut kills = 0;
    while let Some(mut child) =
        start_stream(&project, Some("before_compaction_commit"), "paused at")
    {
        kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).expect("SIGKILL");
        child.wait().expect("wait");
        kills += 1;
        assert!(kills <= 10, "the stream never caught up");
    }
    assert!(kills >= 3, "killed {kills} times only");
    let unreferenced = files_no_commit_names(&project.path("warehouse/stream/orders"));
    assert!(unreferenced.len() >= 3, "{unreferenced:?}");
    // More messages, and a run that compacts to the end past the files the kills left.
    let last = stream.publish(&(61..=80).map(order).collect::<Vec<_>>());
    assert_eq!(last, 80);
    let mut compacting = project
        .command(&["stream", "run", "orders_live", "--until-caught-up"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let lines: Vec<String> = BufReader::new(compacting.stderr.take().expect("stderr"))
        .lines()
        .map(|line| line.expect("text"))
        .collect();
    assert!(compacting.wait().expect("wait").success(), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|line| line.contains("compacted stream.orders")),
        "{lines:?}"
    );

    let rows = query(
        &project,
        "SELECT count(*) AS n, count(DISTINCT order_id) AS distinct_orders FROM stream.orders",
    );
    assert_eq!(rows[0]["n"], 80, "{rows:?}");
    assert_eq!(rows[0]["distinct_orders"], 80, "each order once: {rows:?}");
    assert_eq!(
        txn_version(
            &project.path("warehouse/stream/orders"),
            "tidewater-stream:orders_live"
        ),
        Some(80),
        "the recorded position is the last sequence"
    );
}

#[test]
fn the_server_restarts_a_failed_stream_and_says_why() {
    let stream = TestStream::new("restart");
    let project = stream.project("{ every: 100ms, max_messages: 100 }");
    // The source is gone when the server starts: the stream fails, and is tried again.
    stream.delete();
    let server = start_server(&project);
    let failing = eventually("the stream to be failing", || {
        let status = stream_status(&project);
        (status["state"] == "failing").then_some(status)
    });
    let reason = failing["reason"].as_str().expect("a reason");
    assert!(reason.contains(&stream.name), "{failing}");
    assert!(failing["retry_at"].is_string(), "{failing}");
    eventually("the server's log to say why", || {
        let log = project.read("server.log");
        (log.contains("stream orders_live: failed:") && log.contains("starting it again in"))
            .then_some(())
    });

    // The source is back: the next try consumes it.
    stream.create();
    stream.publish(&[order(1), order(2), order(3)]);
    let running = eventually("the stream to commit after its restart", || {
        let status = stream_status(&project);
        (status["committed"] == 3).then_some(status)
    });
    assert_eq!(running["state"], "running", "{running}");
    assert_eq!(running["reason"], serde_json::Value::Null, "{running}");
    stop_server(server);
    let rows = query(&project, "SELECT count(*) AS n FROM stream.orders");
    assert_eq!(rows[0]["n"], 3);
    assert_eq!(stream_status(&project)["state"], "stopped");
}

#[test]
fn a_paused_stream_commits_nothing_until_resumed_through_the_cli_the_api_and_the_ui() {
    let stream = TestStream::new("pause");
    stream.publish(&(1..=5).map(order).collect::<Vec<_>>());
    let project = stream.project("{ every: 100ms, max_messages: 100 }");
    let server = start_server(&project);
    let api = Api::of(&project);
    eventually("the server to commit the first messages", || {
        let answer = api.get("/api/v1/streams");
        assert_eq!(answer.status, 200, "{answer:?}");
        (answer.body[0]["committed"] == 5).then_some(())
    });
    let one = api.ask(
        "GET",
        "/api/v1/streams/{name}",
        "/api/v1/streams/orders_live",
        None,
    );
    assert_eq!(one.status, 200, "{one:?}");
    assert_eq!(one.body["name"], "orders_live");
    assert_eq!(one.body["state"], "running");
    assert_eq!(one.body["table"], "stream.orders");
    assert_eq!(one.body["lag"], 0);
    let missing = api.ask(
        "GET",
        "/api/v1/streams/{name}",
        "/api/v1/streams/nope",
        None,
    );
    api.problem(&missing, 404, "there is no stream `nope`");

    // Paused from the command line: the server stops it, position kept.
    let paused = project.run(&["stream", "pause", "orders_live"]);
    assert!(paused.status.success(), "{}", text(&paused.stderr));
    assert!(text(&paused.stderr).contains("stream orders_live paused"));
    eventually("the server to stop the paused stream", || {
        project
            .read("server.log")
            .contains("stream orders_live: stopped; committed through sequence 5")
            .then_some(())
    });
    stream.publish(&(6..=10).map(order).collect::<Vec<_>>());
    let status = api.call("GET", "/api/v1/streams/orders_live", None);
    assert_eq!(status.body["state"], "paused", "{status:?}");
    assert_eq!(
        status.body["committed"], 5,
        "nothing new is committed: {status:?}"
    );
    assert_eq!(status.body["lag"], 5, "{status:?}");
    assert_eq!(status.body["owner_pid"], serde_json::Value::Null);
    let again = project.run(&["stream", "run", "orders_live", "--until-caught-up"]);
    assert_eq!(
        again.status.code(),
        Some(1),
        "a paused stream is not run by hand either"
    );
    assert!(
        text(&again.stderr).contains("is paused"),
        "{}",
        text(&again.stderr)
    );

    // The UI shows it paused, with a Resume button; its form resumes it.
    let page = api.call("GET", "/streams", None);
    assert_eq!(page.status, 200, "{page:?}");
    let html = page.body.as_str().expect("HTML");
    assert!(
        html.contains(r#"href="/streams" aria-current="page""#),
        "{html}"
    );
    assert!(
        html.contains("orders_live") && html.contains("paused"),
        "{html}"
    );
    assert!(
        html.contains(r#"action="/streams/orders_live/paused""#),
        "{html}"
    );
    assert!(html.contains(">Resume</button>"), "{html}");
    let origin = format!("http://127.0.0.1:{}", api.port);
    let resumed = api.call_with(
        "POST",
        "/streams/orders_live/paused",
        Some("paused=false"),
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Origin", &origin),
        ],
    );
    assert_eq!(resumed.status, 303, "{resumed:?}");
    assert_eq!(resumed.header("location"), "/streams");
    eventually("the resumed stream to catch up", || {
        let answer = api.call("GET", "/api/v1/streams/orders_live", None);
        (answer.body["committed"] == 10).then_some(())
    });

    // Paused and resumed through the API too.
    let body = r#"{"paused": true}"#;
    let pause = api.ask(
        "PUT",
        "/api/v1/streams/{name}/paused",
        "/api/v1/streams/orders_live/paused",
        Some(body),
    );
    assert_eq!(pause.status, 200, "{pause:?}");
    assert_eq!(
        pause.body,
        serde_json::json!({"stream": "orders_live", "paused": true, "changed": true})
    );
    let bad = api.ask(
        "PUT",
        "/api/v1/streams/{name}/paused",
        "/api/v1/streams/orders_live/paused",
        Some(r#"{"paused": "yes"}"#),
    );
    assert_eq!(bad.status, 422, "{bad:?}");
    let unknown = api.ask(
        "PUT",
        "/api/v1/streams/{name}/paused",
        "/api/v1/streams/nope/paused",
        Some(body),
    );
    api.problem(&unknown, 404, "there is no stream `nope`");
    eventually("the server to stop the stream paused by the API", || {
        (project
            .read("server.log")
            .matches("stream orders_live: stopped")
            .count()
            == 2)
            .then_some(())
    });
    stream.publish(&(11..=12).map(order).collect::<Vec<_>>());
    let resume = api.call(
        "PUT",
        "/api/v1/streams/orders_live/paused",
        Some(r#"{"paused": false}"#),
    );
    assert_eq!(resume.status, 200, "{resume:?}");
    eventually("the stream resumed by the API to catch up", || {
        let answer = api.call("GET", "/api/v1/streams/orders_live", None);
        (answer.body["committed"] == 12 && answer.body["state"] == "running").then_some(())
    });
    stop_server(server);

    let rows = query(
        &project,
        "SELECT count(*) AS n, count(DISTINCT order_id) AS distinct_orders FROM stream.orders",
    );
    assert_eq!(rows[0]["n"], 12, "{rows:?}");
    assert_eq!(rows[0]["distinct_orders"], 12, "each order once: {rows:?}");
}

#[test]
fn a_stream_file_added_or_removed_while_the_server_runs_is_started_or_stopped() {
    let stream = TestStream::new("files");
    stream.publish(&[order(1), order(2)]);
    let project = stream.project("{ every: 100ms, max_messages: 100 }");
    let file = project.path("streams/orders_live.yaml");
    let written = std::fs::read_to_string(&file).expect("read");
    std::fs::remove_file(&file).expect("remove");
    let server = start_server(&project);

    std::fs::write(&file, &written).expect("add the stream file");
    eventually("the server to run the added stream", || {
        (stream_status(&project)["committed"] == 2).then_some(())
    });
    std::fs::remove_file(&file).expect("remove the stream file");
    eventually("the server to stop the removed stream", || {
        let log = project.read("server.log");
        (log.contains("stream orders_live: stopping (its file is gone)")
            && log.contains("stream orders_live: stopped"))
        .then_some(())
    });
    stop_server(server);
    let rows = query(&project, "SELECT count(*) AS n FROM stream.orders");
    assert_eq!(rows[0]["n"], 2);
}

/// Loads `dim.regions` (region → segment) from `dim/regions.csv`, replacing the table.
const LOAD_REGIONS: &str = r#"
tasks:
  load:
    sql: SELECT region, segment FROM read_csv('dim/regions.csv')
    into: { table: dim.regions }
"#;

fn load_regions(project: &TestProject, segments: &[(&str, &str)]) {
    std::fs::create_dir_all(project.path("dim")).expect("mkdir dim");
    let mut csv = String::from("region,segment\n");
    for (region, segment) in segments {
        csv.push_str(&format!("{region},{segment}\n"));
    }
    std::fs::write(project.path("dim/regions.csv"), csv).expect("write the regions");
    let output = project.run(&["run", "load_regions"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
}

/// Replaces the stream's `sql` line.
fn set_stream_sql(project: &TestProject, sql: &str) {
    let file = project.path("streams/orders_live.yaml");
    let text_of_file: String = std::fs::read_to_string(&file)
        .expect("read")
        .lines()
        .map(|line| match line.starts_with("sql:") {
            true => format!("sql: {sql}\n"),
            false => format!("{line}\n"),
        })
        .collect();
    std::fs::write(&file, text_of_file).expect("write");
}

#[test]
fn a_stream_joins_a_dimension_table_as_it_is_when_each_batch_runs() {
    let stream = TestStream::new("enrich");
    let project = stream.project("{ every: 100ms, max_messages: 100 }");
    std::fs::write(project.path("workflows/load_regions.yaml"), LOAD_REGIONS).expect("write");
    set_stream_sql(
        &project,
        "SELECT m.order_id, r.segment, CAST(m.ts AS DATE) AS dt FROM messages m JOIN dim.regions r USING (region)",
    );
    load_regions(
        &project,
        &[("kr", "gold"), ("jp", "silver"), ("us", "bronze")],
    );
    stream.publish(&(1..=6).map(order).collect::<Vec<_>>());
    assert!(start_stream(&project, None, "never printed").is_none());

    // The dimension changes between two batches: only later batches see the change.
    load_regions(
        &project,
        &[("kr", "platinum"), ("jp", "silver"), ("us", "bronze")],
    );
    stream.publish(&(7..=12).map(order).collect::<Vec<_>>());
    assert!(start_stream(&project, None, "never printed").is_none());

    let rows = query(
        &project,
        "SELECT order_id, segment FROM stream.orders ORDER BY CAST(substr(order_id, 2) AS INT)",
    );
    let segments: Vec<(String, String)> = rows
        .iter()
        .map(|row| {
            (
                row["order_id"].as_str().expect("order_id").to_owned(),
                row["segment"].as_str().expect("segment").to_owned(),
            )
        })
        .collect();
    // order(id) is in region ["kr", "jp", "us"][id % 3].
    let expected: Vec<(String, String)> = (1..=12)
        .map(|id| {
            let segment = match (id % 3, id <= 6) {
                (0, true) => "gold",
                (0, false) => "platinum",
                (1, _) => "silver",
                _ => "bronze",
            };
            (format!("o{id}"), segment.to_owned())
        })
        .collect();
    assert_eq!(segments, expected);

    // A table the warehouse does not have stops the stream before it consumes anything,
    // naming the table.
    set_stream_sql(
        &project,
        "SELECT m.order_id, r.segment FROM messages m JOIN dim.regionz r USING (region)",
    );
    stream.publish(&[order(13)]);
    let output = project.run(&["stream", "run", "orders_live", "--until-caught-up"]);
    assert!(!output.status.success(), "{}", text(&output.stderr));
    let message = text(&output.stderr);
    assert!(
        message.contains("unknown table `dim.regionz`") && message.contains("dim.regions"),
        "{message}"
    );
    assert_eq!(
        txn_version(
            &project.path("warehouse/stream/orders"),
            "tidewater-stream:orders_live"
        ),
        Some(12),
        "nothing committed past the last good batch"
    );
}
