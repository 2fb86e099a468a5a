//! Streams (issue 19) on the real binary against the machine's NATS JetStream
//! (127.0.0.1:4222): exactly once through kills at every commit point, one owner at a time,
//! dead letters, an independent Delta reader, and `validate` of stream files.
//!
//! Each test uses its own JetStream stream and subject, deleted at its end. A missing NATS
//! server fails the test: it is part of the machine.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use rand::{Rng, SeedableRng};
use tidewater_stream::nats_admin::NatsAdmin;

use crate::project::{TestProject, text};

const NATS_URL: &str = "nats://127.0.0.1:4222";

/// A JetStream stream of one test, deleted when dropped.
struct TestStream {
    runtime: tokio::runtime::Runtime,
    admin: NatsAdmin,
    name: String,
    subject: String,
}

impl TestStream {
    fn new(test: &str) -> TestStream {
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

    fn publish(&self, payloads: &[String]) -> u64 {
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
        let project = TestProject::new("", &[]);
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

fn order(id: usize) -> String {
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
fn killing_a_stream_at_its_commit_points_leaves_every_message_in_the_table_exactly_once() {
    let stream = TestStream::new("crash");
    // Every 25th message is malformed: dead letters must come through the kills exactly
    // once too.
    let payloads: Vec<String> = (1..=300)
        .map(|id| {
            if id % 25 == 0 {
                format!("{{not json {id}")
            } else {
                order(id)
            }
        })
        .collect();
    let last_sequence = stream.publish(&payloads);
    assert_eq!(last_sequence, 300);
    let project = stream.project("{ every: 200ms, max_messages: 10 }");

    let seed: u64 = rand::random();
    eprintln!("kill points seeded with {seed}");
    let mut random = rand::rngs::StdRng::seed_from_u64(seed);
    let points = [
        Some("before_commit"),
        Some("after_dead_letters"),
        Some("after_commit"),
        Some("after_ack"),
        // While the batch is being gathered, before any pause point.
        None,
    ];
    let mut kills = 0;
    while kills < 20 {
        let point = points[random.random_range(0..points.len())];
        let until = match point {
            Some(_) => "paused at",
            None => "into stream.orders",
        };
        match start_stream(&project, point, until) {
            Some(mut child) => {
                kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).expect("SIGKILL");
                child.wait().expect("wait");
                kills += 1;
            }
            // Caught up before reaching the point: publish more for the next kills.
            None => panic!("the stream caught up after {kills} kills; publish more messages"),
        }
    }
    // The last run, undisturbed, catches up and exits.
    assert!(start_stream(&project, None, "never printed").is_none());

    let rows = query(
        &project,
        "SELECT count(*) AS n, count(DISTINCT order_id) AS distinct_orders FROM stream.orders",
    );
    assert_eq!(rows[0]["n"], 288, "{rows:?}");
    assert_eq!(rows[0]["distinct_orders"], 288, "each order once: {rows:?}");
    let dead = query(
        &project,
        "SELECT count(*) AS n, count(DISTINCT sequence) AS distinct_sequences, min(reason) AS reason FROM stream.orders_dead_letters",
    );
    assert_eq!(dead[0]["n"], 12, "{dead:?}");
    assert_eq!(dead[0]["distinct_sequences"], 12, "{dead:?}");
    assert!(
        dead[0]["reason"]
            .as_str()
            .is_some_and(|reason| reason.starts_with("invalid JSON")),
        "{dead:?}"
    );
    let table = project.path("warehouse/stream/orders");
    assert_eq!(
        txn_version(&table, "tidewater-stream:orders_live"),
        Some(300),
        "the recorded position is the last sequence"
    );

    let streams = project.run(&["streams", "--json"]);
    assert!(streams.status.success(), "{}", text(&streams.stderr));
    let statuses: serde_json::Value = serde_json::from_slice(&streams.stdout).expect("JSON");
    assert_eq!(statuses[0]["name"], "orders_live");
    assert_eq!(statuses[0]["state"], "stopped");
    assert_eq!(statuses[0]["committed"], 300);
    assert_eq!(statuses[0]["lag"], 0);
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
    let output = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(project.path("warehouse/stream/orders"))
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "the Python deltalake package reads the table (pip install deltalake pyarrow): {}",
        text(&output.stderr)
    );
    let read: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
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
