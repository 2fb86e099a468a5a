//! `tidewater worker` against a server whose store is PostgreSQL (issue 21): the same real
//! processes on loopback as `workers.rs`, with two workers in project folders of their own,
//! the server's project in a schema of its own, and the offered attempts and their leases
//! read back from that schema with `psql`; and a worker of one server running an attempt
//! that another server sharing the schema offered. Leases are short
//! (`[workers] lease = "1s"`); nothing sleeps for time.

use std::path::Path;

use crate::api_client::Api;
use crate::postgres::Schema;
use crate::project::{TestProject, text};
use crate::servers::{Server, stop as stop_server_gracefully};
use crate::service::{eventually, is_running, start_server, stop_server};
use crate::workers::{
    TOML, read_pid, run_in_state, start_worker, stop, trigger, worker_folder, worker_token,
};

/// A project kept in `schema`, with short leases.
fn project(schema: &Schema, workflow: &str) -> TestProject {
    TestProject::new(
        &format!("{}{TOML}", schema.toml()),
        &[("remote.yaml", workflow)],
    )
}

/// Two worker folders, each naming itself in `whoami` (not a project file: the workflow's
/// hash stays the server's).
fn two_worker_folders(project: &TestProject) -> [tempfile::TempDir; 2] {
    ["A", "B"].map(|name| {
        let folder = worker_folder(project);
        std::fs::write(folder.path().join("whoami"), name).expect("write whoami");
        folder
    })
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

#[test]
fn on_postgres_a_queued_task_runs_on_one_of_two_workers_and_its_output_flows_downstream() {
    let schema = Schema::new("workers_run");
    let project = project(
        &schema,
        r#"name: remote
tasks:
  produce:
    queue: gpu
    sh: 'cat whoami > produced_by; echo "{\"rows\": 7}" > "$TIDEWATER_OUTPUT"'
  consume:
    needs: [produce]
    sh: 'echo "rows={{ tasks.produce.output.rows }}" > consumed.txt'
"#,
    );
    let token = worker_token(&project);
    let server = start_server(&project);
    let api = Api::of(&project);
    let folders = two_worker_folders(&project);
    let workers = folders
        .each_ref()
        .map(|folder| start_worker(folder.path(), api.port, &token, "gpu"));
    eventually("both workers to be recorded in the schema", || {
        (schema.query("SELECT count(*) FROM workers") == "2").then_some(())
    });
    trigger(&project, "remote");
    run_in_state(&project, "succeeded");

    // It ran in exactly one worker's folder, not the server's; its output reached `consume`,
    // which ran in the server.
    let ran_in: Vec<String> = folders
        .iter()
        .filter_map(|folder| std::fs::read_to_string(folder.path().join("produced_by")).ok())
        .collect();
    assert!(
        ran_in == ["A"] || ran_in == ["B"],
        "one worker ran it: {ran_in:?}"
    );
    assert!(!project.path("produced_by").exists());
    assert_eq!(project.read("consumed.txt"), "rows=7\n");
    // The offer, its claim and its report are in PostgreSQL.
    assert_eq!(
        schema.query("SELECT string_agg(task || ':' || state, ',') FROM remote_attempts"),
        "produce:reported"
    );
    let listed = project.run(&["workers", "--json"]);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
    for worker in workers {
        stop(worker);
    }
    stop_server(server);
}

#[test]
fn on_postgres_a_killed_workers_attempt_is_lost_after_its_lease_and_retried_on_the_other_worker() {
    let schema = Schema::new("workers_kill");
    let shared = tempfile::tempdir().expect("temp dir");
    let shared_path = shared.path().display().to_string();
    // The first attempt (whichever worker claims it) names its worker and blocks with a child;
    // the second names its worker and finishes.
    let project = project(
        &schema,
        &format!(
            r#"name: remote
tasks:
  work:
    queue: gpu
    sh: 'if mkdir {shared_path}/first 2>/dev/null; then cat whoami > {shared_path}/first_by; echo $$ > {shared_path}/leader; sleep 60 & echo $! > {shared_path}/child; wait; else cat whoami > {shared_path}/second_by; echo done >> {shared_path}/out; fi'
"#
        ),
    );
    let token = worker_token(&project);
    let server = start_server(&project);
    let api = Api::of(&project);
    let folders = two_worker_folders(&project);
    let mut workers = folders
        .each_ref()
        .map(|folder| Some(start_worker(folder.path(), api.port, &token, "gpu")));
    trigger(&project, "remote");
    let leader = read_pid(&shared.path().join("leader"));
    let child = read_pid(&shared.path().join("child"));
    let first_by = read(&shared.path().join("first_by"));
    let killed = usize::from(first_by == "B");
    stop(workers[killed].take().expect("the first attempt's worker"));

    // Its lease ends by the server's clock; the retry runs on the other worker, which also
    // kills what the dead worker's task left behind.
    let run = run_in_state(&project, "succeeded");
    let survivor = if killed == 0 { "B" } else { "A" };
    assert_eq!(read(&shared.path().join("second_by")), survivor);
    assert_eq!(read(&shared.path().join("out")), "done\n");
    eventually("the killed worker's task processes to be gone", || {
        (!is_running(leader) && !is_running(child)).then_some(())
    });
    let status = project.status_json(&run.to_string());
    let attempts = status["tasks"][0]["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 2, "{status}");
    // In PostgreSQL: the first offer lost, the retry reported under a higher epoch.
    assert_eq!(
        schema.query("SELECT string_agg(state, ',' ORDER BY id) FROM remote_attempts"),
        "lost,reported"
    );
    assert_eq!(
        schema.query(
            "SELECT (SELECT epoch FROM remote_attempts WHERE state = 'reported') \
                  > (SELECT epoch FROM remote_attempts WHERE state = 'lost')"
        ),
        "t"
    );
    for worker in workers.into_iter().flatten() {
        stop(worker);
    }
    stop_server(server);
}

/// Two servers share the schema; a worker long-polls server A only, and the run is executed
/// by server B, which offers its `queue:` task: A's claim route, woken by its own offers only,
/// finds B's in the store at its next look (`CLAIM_RECHECK`), the worker runs the task and
/// reports it to A, and B collects the report from the store (`RemoteAttempts::
/// collect_ended`; before it, B waited for that report forever and the run never ended).
/// The latency from B's offer to the task's start is printed, not asserted.
#[test]
fn on_postgres_a_worker_of_one_server_runs_an_attempt_offered_by_another() {
    let schema = Schema::new("workers_cross");
    let project = TestProject::new(
        &format!(
            "{}{TOML}[server]\nheartbeat = \"1s\"\nlease = \"3s\"\n",
            schema.toml()
        ),
        &[(
            "remote.yaml",
            r#"name: remote
tasks:
  gate:
    sh: until [ -e open ]; do sleep 0.02; done
  produce:
    needs: [gate]
    queue: gpu
    sh: 'date +%s%6N > started_at; cat whoami > produced_by'
"#,
        )],
    );
    let token = worker_token(&project);
    // B alone when the run is triggered: it executes the run (its lease owns it, pid 0).
    let server_b = Server::start(&project, 1, 0);
    trigger(&project, "remote");
    let lease_b = eventually("server B to execute the run", || {
        let owner = schema.query("SELECT owner_pid || ':' || owner_start_ticks FROM runs");
        let id = schema.query(&format!(
            "SELECT id FROM servers WHERE pid = {}",
            server_b.pid()
        ));
        (owner == format!("0:{id}")).then_some(id)
    });
    let server_a = Server::start(&project, 0, 0);
    let folder = worker_folder(&project);
    std::fs::write(folder.path().join("whoami"), "A's worker").expect("write whoami");
    let worker = start_worker(folder.path(), server_a.api_port(), &token, "gpu");
    eventually("the worker to be recorded", || {
        (schema.query("SELECT count(*) FROM workers") == "1").then_some(())
    });

    std::fs::write(project.path("open"), "").expect("write open");
    run_in_state(&project, "succeeded");
    assert_eq!(read(&folder.path().join("produced_by")), "A's worker");
    assert!(!project.path("produced_by").exists());
    // B executed the run throughout: it offered the attempt, and A never took the run over.
    assert_eq!(
        schema.query("SELECT string_agg(task || ':' || state, ',') FROM remote_attempts"),
        "produce:reported"
    );
    assert_eq!(
        schema.query("SELECT count(*) FROM attempts WHERE failure = 'lost'"),
        "0"
    );
    let offered_at: i64 = schema
        .query("SELECT offered_at FROM remote_attempts")
        .parse()
        .expect("microseconds");
    let started_at: i64 = read(&folder.path().join("started_at"))
        .trim()
        .parse()
        .expect("microseconds");
    eprintln!(
        "server {lease_b} offered the attempt; the worker of the other server started it {} ms later",
        (started_at - offered_at) / 1000
    );
    stop(worker);
    stop_server_gracefully(server_a);
    stop_server_gracefully(server_b);
}
