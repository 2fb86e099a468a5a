//! `sql` tasks on a Ballista cluster (issue 20), end to end: a scheduler and two executors
//! hosted by this binary (`tidewater ballista scheduler|executor`) as separate processes on
//! loopback ports, a real project, real Delta tables. Built only with the `ballista`
//! feature (`required-features` in Cargo.toml); `.ci/run` runs it.
//!
//! Every comparison is against the embedded engine on the same tables in the same test: the
//! cluster must give the same rows and leave the same table contents.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A cluster: one scheduler and two executors, each its own `tidewater ballista` process,
/// killed when the test ends.
struct Cluster {
    scheduler_port: u16,
    scheduler: Child,
    executors: Vec<(Child, PathBuf)>,
    _work: tempfile::TempDir,
}

impl Cluster {
    /// `executor_timeout` short makes a killed executor noticed quickly.
    fn start(executor_timeout: Option<u64>) -> Cluster {
        let work = tempfile::tempdir().expect("work folder");
        let scheduler_port = free_port();
        let mut scheduler_args = vec![
            "ballista".to_owned(),
            "scheduler".to_owned(),
            "--port".to_owned(),
            scheduler_port.to_string(),
        ];
        if let Some(timeout) = executor_timeout {
            scheduler_args.extend(["--executor-timeout".to_owned(), timeout.to_string()]);
        }
        let scheduler = spawn_quiet(&scheduler_args, &work.path().join("scheduler.log"));
        wait_for_port(scheduler_port);
        let mut executors = Vec::new();
        for index in 0..2 {
            let port = free_port();
            let grpc_port = free_port();
            let work_dir = work.path().join(format!("executor-{index}"));
            std::fs::create_dir_all(&work_dir).expect("executor work folder");
            let args = vec![
                "ballista".to_owned(),
                "executor".to_owned(),
                "--scheduler".to_owned(),
                format!("127.0.0.1:{scheduler_port}"),
                "--port".to_owned(),
                port.to_string(),
                "--grpc-port".to_owned(),
                grpc_port.to_string(),
                "--concurrent-tasks".to_owned(),
                "2".to_owned(),
                "--heartbeat-interval".to_owned(),
                "1".to_owned(),
                "--work-dir".to_owned(),
                work_dir.display().to_string(),
            ];
            let child = spawn_quiet(&args, &work.path().join(format!("executor-{index}.log")));
            wait_for_port(port);
            executors.push((child, work_dir));
        }
        Cluster {
            scheduler_port,
            scheduler,
            executors,
            _work: work,
        }
    }

    fn url(&self) -> String {
        format!("df://127.0.0.1:{}", self.scheduler_port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (child, _) in &mut self.executors {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = self.scheduler.kill();
        let _ = self.scheduler.wait();
    }
}

fn spawn_quiet(args: &[String], log: &Path) -> Child {
    let log = std::fs::File::create(log).expect("log file");
    Command::new(env!("CARGO_BIN_EXE_tidewater"))
        .args(args)
        .env("TIDEWATER_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("tidewater ballista starts")
}

/// A port nobody listens on now (the OS picks it; it is released before use).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nothing listens on {port} after 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(engine_url: &str, workflows: &[(&str, &str)]) -> Project {
        let dir = tempfile::tempdir().expect("project folder");
        std::fs::write(
            dir.path().join("tidewater.toml"),
            format!("[engines.cluster]\nballista = \"{engine_url}\"\n\n[engines.down]\nballista = \"df://127.0.0.1:1\"\n"),
        )
        .expect("tidewater.toml");
        std::fs::create_dir_all(dir.path().join("workflows")).expect("workflows");
        for (name, text) in workflows {
            std::fs::write(dir.path().join("workflows").join(name), text).expect("workflow");
        }
        Project { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tidewater"));
        command
            .arg("--project")
            .arg(self.root())
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("TIDEWATER_LOG");
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("tidewater runs")
    }

    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "tidewater {args:?} failed:\n{}{}",
            text(&output.stdout),
            text(&output.stderr)
        );
        text(&output.stdout)
    }

    /// The rows of `sql` as CSV, on the cluster or embedded.
    fn query(&self, sql: &str, on_cluster: bool) -> String {
        let mut args = vec!["query", "--format", "csv", sql];
        if on_cluster {
            args.extend(["--engine", "cluster"]);
        }
        self.ok(&args)
    }

    fn last_run_id(&self) -> String {
        let runs: serde_json::Value =
            serde_json::from_str(&self.ok(&["runs", "--json"])).expect("runs --json");
        runs.as_array()
            .and_then(|runs| runs.iter().filter_map(|run| run["id"].as_i64()).max())
            .expect("a run")
            .to_string()
    }

    fn run_state(&self, run: &str) -> String {
        let status: serde_json::Value =
            serde_json::from_str(&self.ok(&["status", run, "--json"])).expect("status --json");
        status["run"]["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn table_folder(&self, table: &str) -> PathBuf {
        let (schema, name) = table.split_once('.').expect("schema.table");
        self.root().join("warehouse").join(schema).join(name)
    }

    /// The newest version in the table's log, `None` before it exists.
    fn table_version(&self, table: &str) -> Option<u64> {
        let log = self.table_folder(table).join("_delta_log");
        std::fs::read_dir(log)
            .ok()?
            .filter_map(|entry| {
                let name = entry.ok()?.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".json")?.parse::<u64>().ok()
            })
            .max()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Seeds `raw.orders` (partitioned by `dt`, three days) and `raw.customers` with the
/// embedded engine: generated rows, integer amounts so that sums do not depend on order.
const SEED: &str = r#"name: seed
tasks:
  customers:
    sql: >
      SELECT v AS customer_id, CASE v % 3 WHEN 0 THEN 'north' WHEN 1 THEN 'south' ELSE 'west' END AS region
      FROM (SELECT unnest(range(0, 60)) AS v) AS ids
    into: { table: raw.customers, mode: overwrite }
  day1:
    sql: >
      SELECT v AS order_id, v % 60 AS customer_id, (v * 37) % 1000 AS amount_cents
      FROM (SELECT unnest(range(0, 4000)) AS v) AS ids
    into: { table: raw.orders, partition: { dt: "2026-01-01" }, mode: replace_partition }
  day2:
    needs: [day1]
    sql: >
      SELECT v AS order_id, (v * 7) % 60 AS customer_id, (v * 91) % 1000 AS amount_cents
      FROM (SELECT unnest(range(4000, 7000)) AS v) AS ids
    into: { table: raw.orders, partition: { dt: "2026-01-02" }, mode: replace_partition }
  day3:
    needs: [day2]
    sql: >
      SELECT v AS order_id, (v * 11) % 60 AS customer_id, (v * 13) % 1000 AS amount_cents
      FROM (SELECT unnest(range(7000, 9000)) AS v) AS ids
    into: { table: raw.orders, partition: { dt: "2026-01-03" }, mode: replace_partition }
"#;

fn seeded(cluster: &Cluster, workflows: &[(&str, &str)]) -> Project {
    let mut all = vec![("seed.yaml", SEED)];
    all.extend_from_slice(workflows);
    let project = Project::new(&cluster.url(), &all);
    project.ok(&["run", "seed"]);
    project
}

#[test]
fn joins_aggregations_and_windows_give_the_same_rows_on_the_cluster_as_embedded() {
    let cluster = Cluster::start(None);
    let project = seeded(&cluster, &[]);
    let queries = [
        // A join and an aggregation across all partitions.
        "SELECT c.region, count(*) AS orders, sum(o.amount_cents) AS total \
         FROM raw.orders o JOIN raw.customers c ON o.customer_id = c.customer_id \
         GROUP BY c.region ORDER BY c.region",
        // The partition column, added back from the Delta log.
        "SELECT dt, count(*) AS orders, min(order_id) AS first, max(order_id) AS last \
         FROM raw.orders GROUP BY dt ORDER BY dt",
        // A filter on a partition and a window function.
        "SELECT order_id, customer_id, amount_cents, \
         rank() OVER (PARTITION BY customer_id ORDER BY amount_cents DESC, order_id) AS place, \
         sum(amount_cents) OVER (PARTITION BY customer_id ORDER BY order_id) AS running \
         FROM raw.orders WHERE dt = '2026-01-02' ORDER BY order_id",
        // A subquery, a left join and a having.
        "SELECT c.customer_id, c.region, coalesce(big.n, 0) AS big_orders \
         FROM raw.customers c LEFT JOIN (SELECT customer_id, count(*) AS n FROM raw.orders \
         WHERE amount_cents > 900 GROUP BY customer_id HAVING count(*) > 3) big \
         ON c.customer_id = big.customer_id ORDER BY c.customer_id",
    ];
    for sql in queries {
        let embedded = project.query(sql, false);
        let clustered = project.query(sql, true);
        assert!(embedded.lines().count() > 3, "{sql} returned {embedded}");
        assert_eq!(clustered, embedded, "{sql}");
    }
}

/// One task per write mode and engine; `cluster_` tasks write `mart.<mode>_cluster` on the
/// cluster, `embedded_` tasks `mart.<mode>_embedded` embedded.
fn write_modes_workflow() -> String {
    let modes = [
        (
            "replace_partition",
            "partition: { dt: \"{{ ds }}\" }, mode: replace_partition",
        ),
        ("overwrite", "mode: overwrite"),
        ("append_atomic", "mode: append_atomic"),
        ("merge", "mode: merge, keys: [customer_id]"),
        ("append", "mode: append"),
    ];
    let mut text = String::from("name: modes\ntasks:\n");
    for (mode, into) in modes {
        for (prefix, engine) in [("cluster", "\n    engine: cluster"), ("embedded", "")] {
            text.push_str(&format!(
                "  {prefix}_{mode}:\n    sql: >\n      SELECT o.customer_id, c.region, count(*) AS orders, sum(o.amount_cents) AS total,\n      max(TIMESTAMP '{{{{ ds }}}} 08:30:00') AS loaded_at\n      FROM raw.orders o JOIN raw.customers c ON o.customer_id = c.customer_id\n      WHERE o.dt <= '{{{{ ds }}}}' GROUP BY o.customer_id, c.region{engine}\n    into: {{ table: mart.{mode}_{prefix}, {into} }}\n"
            ));
        }
    }
    text
}

#[test]
fn each_write_mode_through_the_cluster_leaves_the_same_table_as_embedded() {
    let cluster = Cluster::start(None);
    let workflow = write_modes_workflow();
    let project = seeded(&cluster, &[("modes.yaml", &workflow)]);
    // Two intervals and the first again: replacing, merging and appending all show.
    for date in ["2026-01-01", "2026-01-02", "2026-01-01"] {
        project.ok(&["run", "modes", "--date", date]);
    }
    for mode in [
        "replace_partition",
        "overwrite",
        "append_atomic",
        "merge",
        "append",
    ] {
        // `loaded_at` is a timestamp without a zone in the query: the cluster's files must
        // hold it as the table stores it (microseconds, UTC), as the embedded writer does.
        let columns = if mode == "replace_partition" {
            "dt, customer_id, region, orders, total, loaded_at"
        } else {
            "customer_id, region, orders, total, loaded_at"
        };
        let read = |prefix: &str| {
            project.query(
                &format!("SELECT {columns} FROM mart.{mode}_{prefix} ORDER BY {columns}"),
                false,
            )
        };
        let embedded = read("embedded");
        assert!(embedded.lines().count() > 10, "{mode}: {embedded}");
        assert_eq!(read("cluster"), embedded, "{mode}");
        // No staged file is left once committed.
        let staging = project
            .table_folder(&format!("mart.{mode}_cluster"))
            .join("_staging");
        let left: Vec<_> = std::fs::read_dir(&staging)
            .map(|entries| entries.filter_map(Result::ok).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{mode}: staging left {left:?}");
    }
    // An independent Delta client (the Python `deltalake` package, which `.ci/run` installs)
    // reads each table the cluster wrote: the same rows as the embedded engine reads. It also
    // lists the files the table references: those the executors staged, moved into the table
    // (`staged-…`, in the partition's folder for `replace_partition`), not copies rewritten
    // by deltalake's writer (`part-…`), except for `merge`, which rewrites by design.
    const READ: &str = "import os, sys, urllib.parse, deltalake\n\
        table = deltalake.DeltaTable(sys.argv[1])\n\
        root = os.path.realpath(sys.argv[1])\n\
        paths = [os.path.realpath(urllib.parse.unquote(urllib.parse.urlparse(uri).path)) for uri in table.file_uris()]\n\
        print(table.to_pyarrow_table().num_rows)\n\
        print(' '.join(os.path.relpath(path, root) for path in paths))\n\
        import pyarrow.parquet\n\
        print(','.join(sorted({str(pyarrow.parquet.read_schema(path).field('loaded_at').type) for path in paths})), flush=True)\n\
        os._exit(0)";
    for mode in [
        "replace_partition",
        "overwrite",
        "append_atomic",
        "merge",
        "append",
    ] {
        let table = project.table_folder(&format!("mart.{mode}_cluster"));
        let python = Command::new("python3")
            .arg("-c")
            .arg(READ)
            .arg(&table)
            .output()
            .expect("python3 runs");
        assert!(python.status.success(), "{mode}: {}", text(&python.stderr));
        let output = text(&python.stdout);
        let mut lines = output.lines();
        let rows = project.query(
            &format!("SELECT count(*) AS n FROM mart.{mode}_embedded"),
            false,
        );
        assert_eq!(rows.lines().nth(1), lines.next(), "{mode}: {rows}");
        let files: Vec<&str> = lines
            .next()
            .unwrap_or_default()
            .split(' ')
            .filter(|file| !file.is_empty())
            .collect();
        assert!(!files.is_empty(), "{mode}: no files");
        // What the table stores (microseconds, UTC) is in the files themselves, as the
        // embedded writer puts it, not only after a reader's cast.
        assert_eq!(lines.next(), Some("timestamp[us, tz=UTC]"), "{mode}");
        if mode == "merge" {
            continue;
        }
        for file in files {
            let (folder, name) = file.rsplit_once('/').unwrap_or(("", file));
            assert!(
                name.starts_with("staged-r"),
                "{mode}: {file} is not a staged file"
            );
            assert!(
                table.join(file).is_file(),
                "{mode}: {file} is not in the table's folder"
            );
            if mode == "replace_partition" {
                assert!(
                    folder.starts_with("dt="),
                    "{mode}: {file} is outside its partition"
                );
            }
        }
    }
    // The added files carry statistics from their footers, so that readers can skip them.
    let log = project
        .table_folder("mart.overwrite_cluster")
        .join("_delta_log");
    let adds: Vec<String> = walk(&log)
        .iter()
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "json")
        })
        .flat_map(|path| {
            std::fs::read_to_string(path)
                .expect("read the log")
                .lines()
                .filter(|line| line.starts_with("{\"add\"") && line.contains("staged-r"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(!adds.is_empty(), "no staged file was added");
    for add in adds {
        assert!(
            add.contains(r#"\"numRecords\":"#)
                && add.contains(r#"\"minValues\":{\"customer_id\":"#),
            "an add action without statistics: {add}"
        );
    }
    // Commit metadata names the run and task, as for embedded writes.
    let description = project.ok(&["tables", "mart.overwrite_cluster"]);
    assert!(
        description.contains("cluster_overwrite"),
        "describe names the task: {description}"
    );
}

const ATOMIC: &str = r#"name: atomic
tasks:
  load:
    engine: cluster
    sql: SELECT order_id, amount_cents FROM raw.orders WHERE dt = '{{ ds }}'
    into: { table: mart.atomic, mode: append_atomic }
"#;

#[test]
fn a_retry_of_an_append_atomic_task_adds_nothing_twice() {
    let cluster = Cluster::start(None);
    let project = seeded(&cluster, &[("atomic.yaml", ATOMIC)]);
    project.ok(&["run", "atomic", "--date", "2026-01-01"]);
    let run = project.last_run_id();
    let count = "SELECT count(*) AS n FROM mart.atomic";
    let before = project.query(count, false);
    assert!(before.contains("4000"), "{before}");
    let version = project.table_version("mart.atomic");
    // The same task instance again: its transaction id is in the log, so nothing is added
    // and the cluster is not asked.
    project.ok(&["clear", &run, "--task", "load"]);
    assert_eq!(project.query(count, false), before);
    assert_eq!(project.table_version("mart.atomic"), version);
    let log = project.ok(&["logs", &run, "load"]);
    assert!(log.contains("already_committed_by_attempt"), "{log}");
}

#[test]
fn killing_an_executor_mid_query_leaves_the_table_unchanged_and_retry_finishes_the_run() {
    // Heartbeats every second; ten without one and the executor is lost (a short timeout on a
    // loaded 2-core machine would lose live executors too).
    let mut cluster = Cluster::start(Some(10));
    // A query with a few stages and enough rows that it runs for a while on 2 cores.
    let heavy = r#"name: heavy
tasks:
  load:
    engine: cluster
    retries: 0
    sql: >
      SELECT a.customer_id, count(*) AS pairs, sum(a.amount_cents + b.amount_cents) AS total
      FROM raw.orders a JOIN raw.orders b ON a.customer_id = b.customer_id
      GROUP BY a.customer_id
    into: { table: mart.heavy, mode: append_atomic }
"#;
    let project = seeded(&cluster, &[("heavy.yaml", heavy)]);
    let expected = project.query(
        "SELECT a.customer_id, count(*) AS pairs, sum(a.amount_cents + b.amount_cents) AS total \
         FROM raw.orders a JOIN raw.orders b ON a.customer_id = b.customer_id \
         GROUP BY a.customer_id ORDER BY a.customer_id",
        false,
    );
    let entries = |folder: &Path| -> Vec<std::ffi::OsString> {
        std::fs::read_dir(folder)
            .map(|entries| {
                entries
                    .filter_map(|entry| Some(entry.ok()?.file_name()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let before: Vec<_> = cluster
        .executors
        .iter()
        .map(|(_, work_dir)| entries(work_dir))
        .collect();
    let mut running = project
        .command(&["run", "heavy"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run starts");
    // Mid-query: the first executor that writes shuffle data for the job is killed.
    let deadline = Instant::now() + Duration::from_secs(120);
    let busy = loop {
        let busy = cluster
            .executors
            .iter()
            .enumerate()
            .find_map(|(index, (_, work_dir))| {
                let entries = entries(work_dir);
                entries
                    .iter()
                    .any(|entry| !before[index].contains(entry))
                    .then_some(index)
            });
        if let Some(busy) = busy {
            break busy;
        }
        assert!(
            running.try_wait().expect("poll the run").is_none(),
            "the run ended before any executor wrote shuffle data"
        );
        assert!(
            Instant::now() < deadline,
            "the job never reached an executor"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let (executor, _) = &mut cluster.executors[busy];
    executor.kill().expect("kill the executor");
    let _ = executor.wait();
    let status = running.wait().expect("the run ends");
    // Which way it went (Ballista ran the lost tasks again, or the job failed) is shown with
    // `--nocapture`; both must end with the same table.
    eprintln!("killed executor {busy}; the run exited with {status}");
    let run = project.last_run_id();
    let read = "SELECT customer_id, pairs, total FROM mart.heavy ORDER BY customer_id";
    if !status.success() {
        // The job failed with the executor: nothing was committed.
        assert_eq!(project.table_version("mart.heavy"), None);
        assert_eq!(project.run_state(&run), "failed");
        // One executor is left; the retry runs there.
        project.ok(&["retry", &run]);
    }
    assert_eq!(project.run_state(&run), "succeeded");
    assert_eq!(project.query(read, false), expected);
}

#[test]
fn killing_tidewater_mid_commit_leaves_the_table_whole_and_retry_finishes_the_run() {
    let cluster = Cluster::start(None);
    let project = seeded(&cluster, &[("atomic.yaml", ATOMIC)]);
    let mut running = project
        .command(&["run", "atomic", "--date", "2026-01-02"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run starts");
    // The executors have written the staged output: Tidewater is committing it.
    let staging = project.table_folder("mart.atomic").join("_staging");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let has_files = walk(&staging).iter().any(|path| {
            path.extension()
                .is_some_and(|extension| extension == "parquet")
        });
        if has_files || running.try_wait().expect("poll").is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "nothing was staged");
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = running.kill();
    let _ = running.wait();
    eprintln!(
        "killed tidewater; the table's version: {:?}",
        project.table_version("mart.atomic")
    );
    let count = "SELECT count(*) AS n FROM mart.atomic";
    // Either nothing or everything was committed, never part.
    match project.table_version("mart.atomic") {
        None => {}
        Some(_) => assert!(project.query(count, false).contains("3000")),
    }
    let run = project.last_run_id();
    project.ok(&["retry", &run]);
    assert_eq!(project.run_state(&run), "succeeded");
    let rows = project.query(count, false);
    assert!(rows.contains("3000"), "exactly once: {rows}");
    // Files the killed attempt moved into the table before its commit were deleted by the
    // retry (its staging manifest), without waiting for vacuum.
    let table = project.table_folder("mart.atomic");
    let unreferenced = unreferenced_staged_files(&table);
    assert!(
        unreferenced.is_empty(),
        "staged files no version references: {unreferenced:?}"
    );
    // The killed attempt's staging folder is what vacuum removes.
    project.ok(&[
        "vacuum",
        "mart.atomic",
        "--retention",
        "0s",
        "--allow-short-retention",
    ]);
    assert!(
        walk(&staging).is_empty(),
        "vacuum removed the staged files: {:?}",
        walk(&staging)
    );
}

/// The `staged-…` files in the table's folder that no `add` action of its log names.
fn unreferenced_staged_files(table: &Path) -> Vec<String> {
    let mut added = std::collections::HashSet::new();
    for entry in walk(&table.join("_delta_log")) {
        if entry
            .extension()
            .is_none_or(|extension| extension != "json")
        {
            continue;
        }
        let log = std::fs::read_to_string(&entry).expect("read the log");
        for line in log.lines() {
            let action: serde_json::Value = serde_json::from_str(line).expect("a JSON action");
            if let Some(path) = action["add"]["path"].as_str() {
                added.insert(path.to_owned());
            }
        }
    }
    walk(table)
        .iter()
        .filter_map(|path| path.strip_prefix(table).ok())
        .filter(|relative| !relative.starts_with("_staging") && !relative.starts_with("_delta_log"))
        .map(|relative| relative.display().to_string())
        .filter(|relative| {
            let name = relative.rsplit('/').next().unwrap_or(relative);
            name.starts_with("staged-") && !added.contains(relative)
        })
        .collect()
}

fn walk(path: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                files.extend(walk(&path));
            } else {
                files.push(path);
            }
        }
    }
    files
}

#[test]
fn an_unreachable_cluster_fails_the_task_naming_its_address() {
    let cluster = Cluster::start(None);
    let down = r#"name: down
tasks:
  load:
    engine: down
    retries: 0
    sql: SELECT order_id FROM raw.orders
    into: { table: mart.down, mode: overwrite }
"#;
    let project = seeded(&cluster, &[("down.yaml", down)]);
    let output = project.run(&["run", "down"]);
    assert!(!output.status.success());
    let run = project.last_run_id();
    let log = project.ok(&["logs", &run, "load"]);
    assert!(
        log.contains("Ballista cluster at 127.0.0.1:1") && log.contains("cannot reach"),
        "{log}"
    );
    assert_eq!(project.table_version("mart.down"), None);

    let output = project.run(&["query", "--engine", "down", "SELECT 1"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("127.0.0.1:1"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn an_unknown_engine_is_a_validate_error_at_its_line() {
    let project = Project::new(
        "df://127.0.0.1:50050",
        &[(
            "typo.yaml",
            "name: typo\ntasks:\n  q:\n    sql: SELECT 1 AS x\n    engine: clustr\n",
        )],
    );
    let output = project.run(&["validate"]);
    assert!(!output.status.success());
    let shown = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(
        shown.contains("typo.yaml:5:13") && shown.contains("did you mean `cluster`?"),
        "{shown}"
    );
    let output = project.run(&["query", "--engine", "nowhere", "SELECT 1"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("unknown engine `nowhere`"));
}

// Regression: a query without rows made no staged file, and the commit failed with "no file
// matches" instead of writing what the embedded engine writes (an empty table).
#[test]
fn a_query_without_rows_writes_an_empty_table_as_embedded() {
    let cluster = Cluster::start(None);
    let empty = r#"name: empty
tasks:
  cluster:
    engine: cluster
    sql: SELECT order_id, amount_cents FROM raw.orders WHERE order_id < 0
    into: { table: mart.empty_cluster, mode: overwrite }
  embedded:
    sql: SELECT order_id, amount_cents FROM raw.orders WHERE order_id < 0
    into: { table: mart.empty_embedded, mode: overwrite }
"#;
    let project = seeded(&cluster, &[("empty.yaml", empty)]);
    project.ok(&["run", "empty"]);
    for table in ["mart.empty_cluster", "mart.empty_embedded"] {
        let rows = project.query(&format!("SELECT count(*) AS n FROM {table}"), false);
        assert_eq!(rows.lines().nth(1), Some("0"), "{table}: {rows}");
        assert_eq!(project.table_version(table), Some(0));
    }
    let columns = |table: &str| {
        project
            .ok(&["tables", table])
            .lines()
            .filter(|line| line.contains("long"))
            .count()
    };
    assert_eq!(
        columns("mart.empty_cluster"),
        columns("mart.empty_embedded")
    );
}

/// Two bad writes, each as a cluster task and as an embedded one: a row outside the declared
/// partition, and a column the table does not have.
const BAD_WRITES: &str = r#"name: bad
tasks:
  partition_cluster:
    engine: cluster
    retries: 0
    sql: SELECT order_id, dt FROM raw.orders WHERE dt = '2026-01-02'
    into: { table: mart.partitioned_cluster, partition: { dt: "2026-01-01" }, mode: replace_partition }
  partition_embedded:
    retries: 0
    sql: SELECT order_id, dt FROM raw.orders WHERE dt = '2026-01-02'
    into: { table: mart.partitioned_embedded, partition: { dt: "2026-01-01" }, mode: replace_partition }
  schema_cluster:
    engine: cluster
    retries: 0
    sql: SELECT order_id AS customer_id, amount_cents FROM raw.orders
    into: { table: raw.customers, mode: append }
  schema_embedded:
    retries: 0
    sql: SELECT order_id AS customer_id, amount_cents FROM raw.orders
    into: { table: raw.customers, mode: append }
"#;

// The staged files are checked by their footers (the partition value from the statistics,
// the schema from the file's): the errors must be the embedded path's, and nothing committed.
#[test]
fn a_wrong_partition_value_or_schema_fails_on_the_cluster_as_embedded() {
    let cluster = Cluster::start(None);
    let project = seeded(&cluster, &[("bad.yaml", BAD_WRITES)]);
    let customers = project.table_version("raw.customers");
    let output = project.run(&["run", "bad"]);
    assert!(!output.status.success());
    let run = project.last_run_id();
    let error = |task: &str| {
        let log = project.ok(&["logs", &run, task]);
        log.lines()
            .find_map(|line| {
                let start = line.find("the query")?;
                line.contains("nothing was written")
                    .then(|| line[start..].to_owned())
            })
            .unwrap_or_else(|| panic!("{task}: no write error in {log}"))
    };
    for check in ["partition", "schema"] {
        let embedded = error(&format!("{check}_embedded"));
        assert_eq!(error(&format!("{check}_cluster")), embedded, "{check}");
    }
    assert!(error("partition_cluster").contains("dt = 2026-01-02"));
    assert!(error("schema_cluster").contains("amount_cents"));
    assert_eq!(project.table_version("mart.partitioned_cluster"), None);
    assert_eq!(project.table_version("raw.customers"), customers);
}
