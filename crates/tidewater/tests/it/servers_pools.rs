//! Pools hold across several `tidewater server` processes on one PostgreSQL
//! schema (issue 21): each server's task queue confirms what it admits in the store, so a
//! pool of one slot runs one task at a time across the servers, not one per server.
//!
//! Both servers must execute pool tasks for the test to mean anything, so the runs are
//! placed: the first server takes the `a` runs alone, then is stopped (SIGSTOP, well within
//! its lease) while the second takes the `b` runs, and every run's pool task waits behind a
//! gate file until both servers hold their runs. Every wait polls for its condition.

use std::collections::BTreeSet;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::postgres::Schema;
use crate::project::{TestProject, text};
use crate::servers::{Server, count, stop};
use crate::service::eventually;

/// Runs of each workflow, all executing at once on their server.
const RUNS: usize = 3;

/// The servers' settings: a lease long enough for a server to stay stopped while the other
/// takes runs, and the pool `db`.
fn toml(schema: &Schema, pool: &str) -> String {
    format!(
        "{}\n[server]\nheartbeat = \"1s\"\nlease = \"10s\"\n\n[pools.db]\n{pool}\n",
        schema.toml()
    )
}

/// A manual workflow whose task `q`, in pool `db`, waits for the gate, then appends
/// `start <time> <pid of its server> <attempt>` and `end …` to `spans.txt` around `work`.
fn gated_workflow(work: &str) -> String {
    let span = |edge: &str| {
        format!(r#"echo "{edge} $(date +%s.%N) $PPID $TIDEWATER_ATTEMPT_KEY" >> spans.txt"#)
    };
    format!(
        r#"
max_active_runs: {RUNS}
tasks:
  gate:
    sh: while [ ! -f go ]; do sleep 0.05; done
  q:
    needs: [gate]
    pool: db
    sh: {start}; {work}; {end}
"#,
        start = span("start"),
        end = span("end"),
    )
}

/// Runs of `workflow` that the server `pid` executes now.
fn running_on(schema: &Schema, workflow: &str, pid: i32) -> i64 {
    count(
        schema,
        &format!(
            "SELECT count(*) FROM runs r JOIN servers s
             ON r.owner_pid = 0 AND r.owner_start_ticks = s.id
             WHERE r.state = 'running' AND r.workflow = '{workflow}' AND s.pid = {pid}"
        ),
    )
}

fn trigger(project: &TestProject, workflow: &str) {
    for _ in 0..RUNS {
        let output = project.run(&["trigger", workflow, "--allow-concurrent"]);
        assert!(output.status.success(), "{}", text(&output.stderr));
    }
}

/// Two servers, each executing [`RUNS`] runs whose pool tasks wait behind the gate.
fn place_runs(schema: &Schema, project: &TestProject) -> (Server, Server) {
    let first = Server::start(project, 0, 0);
    trigger(project, "a");
    eventually("the first server to execute the a runs", || {
        (running_on(schema, "a", first.pid()) == RUNS as i64).then_some(())
    });
    let second = Server::start(project, 1, 0);
    kill(Pid::from_raw(first.pid()), Signal::SIGSTOP).expect("SIGSTOP");
    trigger(project, "b");
    eventually("the second server to execute the b runs", || {
        (running_on(schema, "b", second.pid()) == RUNS as i64).then_some(())
    });
    kill(Pid::from_raw(first.pid()), Signal::SIGCONT).expect("SIGCONT");
    (first, second)
}

/// One line of `spans.txt`.
#[derive(Debug)]
struct Edge {
    is_start: bool,
    at: f64,
    server: i32,
    attempt: String,
}

fn spans(project: &TestProject) -> Vec<Edge> {
    let text = std::fs::read_to_string(project.path("spans.txt")).unwrap_or_default();
    let mut edges: Vec<Edge> = text
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            assert_eq!(fields.len(), 4, "a span line: {line}");
            Edge {
                is_start: fields[0] == "start",
                at: fields[1].parse().expect("a time"),
                server: fields[2].parse().expect("a pid"),
                attempt: fields[3].to_owned(),
            }
        })
        .collect();
    edges.sort_by(|a, b| a.at.total_cmp(&b.at));
    edges
}

/// Regression guard: with one task queue per server, a pool of one slot ran one task per
/// server at once.
#[test]
fn a_one_slot_pool_runs_one_task_at_a_time_across_two_servers() {
    let schema = Schema::new("pool_across_servers");
    let project = TestProject::new(
        &toml(&schema, "slots = 1"),
        &[
            ("a.yaml", &gated_workflow("sleep 0.2")),
            ("b.yaml", &gated_workflow("sleep 0.2")),
        ],
    );
    let (first, second) = place_runs(&schema, &project);
    std::fs::write(project.path("go"), "").expect("open the gate");
    eventually("every run to succeed", || {
        (count(
            &schema,
            "SELECT count(*) FROM runs WHERE state = 'succeeded'",
        ) == 2 * RUNS as i64)
            .then_some(())
    });
    let edges = spans(&project);
    assert_eq!(edges.len(), 4 * RUNS, "{edges:#?}");
    // Sorted by time, the pool's tasks alternate: each start is followed by its own end.
    for pair in edges.chunks(2) {
        assert!(
            pair[0].is_start && !pair[1].is_start && pair[0].attempt == pair[1].attempt,
            "two pool tasks overlapped: {edges:#?}"
        );
    }
    let servers: BTreeSet<i32> = edges.iter().map(|edge| edge.server).collect();
    assert_eq!(
        servers,
        BTreeSet::from([first.pid(), second.pid()]),
        "both servers ran pool tasks"
    );
    stop(first);
    stop(second);
}
