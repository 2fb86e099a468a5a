//! A worker whose network drops (issue 21), with a real network cut: the worker runs in a
//! network namespace this test creates, joined to the host by a veth pair on a private /30;
//! the server listens on the host side's address only. Taking the host side's link down cuts
//! every packet between them (connections already open hang, new ones are not answered), as
//! an unplugged cable or a partition would; bringing it up heals it. Only the addresses of
//! the interfaces made here are ever targets. We run as root; a machine where namespaces
//! cannot be made fails these tests, it does not skip them.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::project::{TestProject, text};
use crate::service::{eventually, is_running, start_server_listening};
use crate::workers::{read_pid, run_in_state, stop, trigger, worker_folder, worker_token};

/// A network namespace joined to the host by a veth pair, removed (with both ends of the
/// pair) when dropped, whatever the test did.
struct Namespace {
    name: String,
    host_link: String,
    host_address: String,
}

impl Namespace {
    fn new() -> Namespace {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let count = COUNT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // Interface names have at most 15 bytes; the /30 is picked from the pid and a count,
        // so that tests running at once (here or in another test process) do not share one.
        let tag = format!("{}{count}", pid % 100_000);
        let subnet = (pid as usize * 7 + count as usize) % (64 * 250);
        let (third, fourth) = (subnet / 64, (subnet % 64) * 4);
        let namespace = Namespace {
            name: format!("tw-net-{tag}"),
            host_link: format!("twh{tag}"),
            host_address: format!("10.231.{third}.{}", fourth + 1),
        };
        let worker_link = format!("tww{tag}");
        let worker_address = format!("10.231.{third}.{}", fourth + 2);
        ip(&["netns", "add", &namespace.name]);
        ip(&[
            "link",
            "add",
            &namespace.host_link,
            "type",
            "veth",
            "peer",
            "name",
            &worker_link,
            "netns",
            &namespace.name,
        ]);
        ip(&[
            "addr",
            "add",
            &format!("{}/30", namespace.host_address),
            "dev",
            &namespace.host_link,
        ]);
        ip(&["link", "set", &namespace.host_link, "up"]);
        namespace.inside(&[
            "addr",
            "add",
            &format!("{worker_address}/30"),
            "dev",
            &worker_link,
        ]);
        namespace.inside(&["link", "set", &worker_link, "up"]);
        namespace.inside(&["link", "set", "lo", "up"]);
        namespace
    }

    fn inside(&self, args: &[&str]) {
        let mut all = vec!["netns", "exec", &self.name, "ip"];
        all.extend_from_slice(args);
        ip(&all);
    }

    /// Drops every packet between the host and the namespace.
    fn cut(&self) {
        ip(&["link", "set", &self.host_link, "down"]);
    }

    fn heal(&self) {
        ip(&["link", "set", &self.host_link, "up"]);
    }

    /// `tidewater worker` in the namespace, for the server at `port` of the host side, its
    /// messages in `folder/worker.log`.
    fn start_worker(&self, folder: &Path, port: u16, token: &str) -> Child {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .arg(env!("CARGO_BIN_EXE_tidewater"))
            .arg("--project")
            .arg(folder)
            .args(["worker", "--queues", "gpu", "--token", token, "--server"])
            .arg(format!("http://{}:{port}", self.host_address))
            .env("NO_COLOR", "1")
            .env_remove("TIDEWATER_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(folder.join("worker.log"))
                    .expect("worker log"),
            ))
            .spawn()
            .expect("the worker starts in its namespace")
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // Deleting the namespace deletes its end of the pair, and with it the host's end.
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_link])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output().expect("ip runs");
    assert!(
        output.status.success(),
        "ip {}: {}",
        args.join(" "),
        text(&output.stderr)
    );
}

/// `tidewater server` listening on the namespace's host side only; its port.
fn start_server_on(project: &TestProject, address: &str) -> (Child, u16) {
    let child = start_server_listening(project, &format!("{address}:0"));
    let port = eventually("the server to say where its API listens", || {
        let log = std::fs::read_to_string(project.path("server.log")).ok()?;
        let (_, rest) = log.split_once(&format!("HTTP API on http://{address}:"))?;
        rest.split_once('/')?.0.parse::<u16>().ok()
    });
    (child, port)
}

fn worker_log(folder: &Path) -> String {
    std::fs::read_to_string(folder.join("worker.log")).unwrap_or_default()
}

fn attempts(project: &TestProject, run: i64) -> Vec<serde_json::Value> {
    let status = project.status_json(&run.to_string());
    status["tasks"][0]["attempts"]
        .as_array()
        .expect("attempts")
        .clone()
}

#[test]
fn a_worker_cut_off_for_less_than_its_lease_reports_its_attempt_once_when_the_network_returns() {
    // A lease far longer than the outage: the worker notices the cut within a request's
    // timeout (half a lease, at most 10 s), and the network returns right after.
    let project = TestProject::new(
        "[workers]\nheartbeat = \"200ms\"\nlease = \"60s\"\n",
        &[(
            "remote.yaml",
            r#"name: remote
tasks:
  work:
    queue: gpu
    sh: 'echo $$ > leader; echo "before the cut"; while [ ! -e release ]; do sleep 0.02; done; echo "during the cut"; echo row >> out'
"#,
        )],
    );
    let namespace = Namespace::new();
    let token = worker_token(&project);
    let (server, port) = start_server_on(&project, &namespace.host_address);
    let folder = worker_folder(&project);
    let worker = namespace.start_worker(folder.path(), port, &token);
    trigger(&project, "remote");
    let leader = read_pid(&folder.path().join("leader"));
    let run = run_in_state(&project, "running");
    namespace.cut();
    // The attempt ends while the server cannot be reached: its report must wait.
    std::fs::write(folder.path().join("release"), "").expect("release");
    eventually("the attempt to end during the cut", || {
        (!is_running(leader)).then_some(())
    });
    eventually("the worker to notice the cut", || {
        worker_log(folder.path())
            .contains("cannot reach the server")
            .then_some(())
    });
    assert_eq!(
        runs_state(&project, run),
        "running",
        "nothing reached the server"
    );
    namespace.heal();
    run_in_state(&project, "succeeded");
    let attempts = attempts(&project, run);
    assert_eq!(
        attempts.len(),
        1,
        "one attempt, reported once: {attempts:?}"
    );
    assert_eq!(
        std::fs::read_to_string(folder.path().join("out")).expect("out"),
        "row\n"
    );
    // Its whole log reached the server, the lines written during the cut included.
    let log = text(&project.run(&["logs", &run.to_string(), "work"]).stdout);
    assert!(
        log.contains("before the cut") && log.contains("during the cut"),
        "{log}"
    );
    assert!(
        worker_log(folder.path()).contains("reached the server again"),
        "{}",
        worker_log(folder.path())
    );
    stop(worker);
    crate::service::stop_server(server);
}

#[test]
fn a_worker_cut_off_for_longer_than_its_lease_kills_its_attempt_which_runs_again() {
    let project = TestProject::new(
        "[workers]\nheartbeat = \"200ms\"\nlease = \"2s\"\n",
        &[(
            "remote.yaml",
            r#"name: remote
tasks:
  work:
    queue: gpu
    sh: 'if [ -e first ]; then echo second >> out; else touch first; echo $$ > leader; while [ ! -e release ]; do sleep 0.02; done; echo first >> out; fi'
"#,
        )],
    );
    let namespace = Namespace::new();
    let token = worker_token(&project);
    let (server, port) = start_server_on(&project, &namespace.host_address);
    let folder = worker_folder(&project);
    let worker = namespace.start_worker(folder.path(), port, &token);
    trigger(&project, "remote");
    let leader = read_pid(&folder.path().join("leader"));
    let run = run_in_state(&project, "running");
    namespace.cut();
    // The server's clock ends the lease: the attempt is lost and offered again.
    eventually("the server to lose the cut-off attempt", || {
        (attempts(&project, run).len() == 2).then_some(())
    });
    // The worker could not renew for a whole lease: it has killed the attempt already.
    eventually("the cut-off attempt to be killed", || {
        (!is_running(leader)).then_some(())
    });
    // Were it still alive, this would let it write.
    std::fs::write(folder.path().join("release"), "").expect("release");
    namespace.heal();
    // The same worker, reconnected, runs the attempt offered again.
    run_in_state(&project, "succeeded");
    assert_eq!(
        std::fs::read_to_string(folder.path().join("out")).expect("out"),
        "second\n"
    );
    let log = worker_log(folder.path());
    assert!(log.contains("reporting nothing"), "{log}");
    stop(worker);
    crate::service::stop_server(server);
}

fn runs_state(project: &TestProject, run: i64) -> String {
    crate::service::runs(project)
        .into_iter()
        .find(|entry| entry["id"] == run)
        .and_then(|entry| entry["state"].as_str().map(str::to_owned))
        .expect("the run")
}
