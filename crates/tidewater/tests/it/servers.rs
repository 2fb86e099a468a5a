//! Several `tidewater server` processes on one PostgreSQL schema (issue 21): one leads and
//! schedules, every one executes runs, a standby takes over from a killed leader, and a
//! server stopped past its lease is fenced off the runs taken over from it. Real processes on
//! the machine's PostgreSQL, each test in a schema of its own; leases are short (1 s
//! heartbeat, 3 s lease) so that takeovers come within seconds, and every wait polls the
//! store for the condition it needs.

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::process::{Child, Stdio};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use rand::{Rng, SeedableRng};

use crate::postgres::Schema;
use crate::project::TestProject;
use crate::service::{EVENTUALLY_BOUND, eventually};

/// How many past daily intervals the caught-up workflow has.
const INTERVALS: i64 = 40;

fn toml(schema: &Schema) -> String {
    format!(
        "{}\n[server]\nheartbeat = \"1s\"\nlease = \"3s\"\n",
        schema.toml()
    )
}

/// Daily with catchup from [`INTERVALS`] days ago: every interval is due at once.
fn caught_up_workflow(name: &str) -> String {
    let start = chrono::Utc::now().date_naive() - chrono::Duration::days(INTERVALS);
    format!(
        r#"
schedule: "@daily"
timezone: UTC
start: "{start}"
catchup: true
max_active_runs: 3
tasks:
  extract:
    sh: sleep 0.5
  load:
    needs: [extract]
    sh: echo {name} > /dev/null
"#
    )
}

/// A server of the project, its stderr in `server-<slot>-<generation>.log`.
pub(crate) struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    pub(crate) fn start(project: &TestProject, slot: usize, generation: usize) -> Server {
        let log = project.path(&format!("server-{slot}-{generation}.log"));
        let child = project
            .command(&["server", "--parallelism", "4", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(&log).expect("server log"),
            ))
            .spawn()
            .expect("server starts");
        let server = Server { child, log };
        eventually("a server to register", || {
            server.log_text().contains("server started").then_some(())
        });
        server
    }

    pub(crate) fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The port of its HTTP API, as its log says.
    pub(crate) fn api_port(&self) -> u16 {
        crate::api_client::api_port(&self.log)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `lines` lines of its log.
    fn log_tail(&self, lines: usize) -> String {
        let text = self.log_text();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// How it ended, if it has.
    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The pid of the server whose leadership is live now, by the database's clock.
fn leader_pid(schema: &Schema) -> Option<i32> {
    schema
        .query(
            "SELECT s.pid FROM server_leader l JOIN servers s ON s.id = l.server_id
             WHERE l.expires_at > clock_timestamp() AND s.expires_at > clock_timestamp()",
        )
        .parse()
        .ok()
}

pub(crate) fn count(schema: &Schema, sql: &str) -> i64 {
    schema.query(sql).parse().expect("a count")
}

/// SIGKILL a server at random points 20 times (restarting it each time) while three
/// servers catch a workflow up: odd kills hit the leader (scheduling moves to a standby
/// within the lease), even ones a server executing a run (the run moves to another server,
/// its attempts lost and started again). Every interval ends with exactly one run, and every
/// run succeeded.
#[test]
fn twenty_kills_of_the_leader_and_of_executing_servers_give_every_interval_one_run_that_succeeds() {
    let schema = Schema::new("leader_kills");
    let project = TestProject::new(&toml(&schema), &[("daily.yaml", &caught_up_workflow("h"))]);
    // TIDEWATER_KILL_SEED=N repeats a failed run's kill points.
    let seed: u64 = std::env::var("TIDEWATER_KILL_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("random kill points from seed {seed} (TIDEWATER_KILL_SEED={seed} repeats them)");
    let mut random = rand::rngs::StdRng::seed_from_u64(seed);
    // A server whose lease ran out while it was starved of CPU (a loaded machine) stops
    // itself, by design (it is fenced); `tend` restarts it, as a supervisor would, so that
    // the kills stay the test's only failures. Shared with the waits' checks, which only
    // read it.
    let servers: RefCell<Vec<Server>> = RefCell::new(
        (0..3)
            .map(|slot| Server::start(&project, slot, 0))
            .collect(),
    );
    let self_stopped = Cell::new(0usize);
    let tend = || {
        let mut servers = servers.borrow_mut();
        for slot in 0..servers.len() {
            if let Some(status) = servers[slot].exited() {
                let restart = 100 + self_stopped.get();
                self_stopped.set(self_stopped.get() + 1);
                eprintln!(
                    "server {slot} stopped by itself ({status}); restarted. Its log ends:\n{}",
                    servers[slot].log_tail(10)
                );
                servers[slot] = Server::start(&project, slot, restart);
            }
        }
    };
    let finished = |schema: &Schema| {
        count(
            schema,
            "SELECT count(*) FROM attempts WHERE finished_at IS NOT NULL",
        )
    };
    for kill_number in 1..=20 {
        let leader = until_progress("a leader", &schema, &project, &tend, || {
            let pid = leader_pid(&schema)?;
            servers
                .borrow()
                .iter()
                .position(|server| server.pid() == pid)
        });
        // A random point: after 0 to 3 more attempts have finished (the leader once there is
        // nothing left to do).
        let target = finished(&schema) + random.random_range(0..4);
        let victim = until_progress(
            "progress before the next kill",
            &schema,
            &project,
            &tend,
            || {
                let servers = servers.borrow();
                // Nothing left: every interval's run has succeeded (before the first leader
                // schedules there are no runs yet, which is not the end).
                let is_done = count(
                    &schema,
                    "SELECT count(*) FROM runs WHERE state = 'succeeded'",
                ) >= INTERVALS;
                if is_done {
                    return Some(leader);
                }
                if finished(&schema) < target {
                    return None;
                }
                // A kill must not lose a task a third time: a task lost `MAX_LOST_ATTEMPTS`
                // times fails, by design, and this test is not about that. So the leader is
                // killed only while it executes no run with a task lost twice already, and an
                // executing server only for a run without one (a dead server's runs are not
                // taken over yet: wait for that).
                if kill_number % 2 == 1 {
                    return (!executes_a_twice_lost_task(&schema, servers[leader].pid()))
                        .then_some(leader);
                }
                let pid: i32 = schema
                    .query(
                        "SELECT s.pid FROM runs r JOIN servers s
                     ON r.owner_pid = 0 AND r.owner_start_ticks = s.id
                     WHERE r.state = 'running' AND s.expires_at > clock_timestamp()
                     AND NOT EXISTS (SELECT 1 FROM task_instances t
                                     WHERE t.run_id = r.id AND t.lost_attempts >= 2)
                     LIMIT 1",
                    )
                    .parse()
                    .ok()?;
                servers.iter().position(|server| {
                    server.pid() == pid && !executes_a_twice_lost_task(&schema, pid)
                })
            },
        );
        let mut servers = servers.borrow_mut();
        let killed = servers.swap_remove(victim);
        killed.kill();
        servers.push(Server::start(&project, victim, kill_number));
    }

    let intervals = until_progress(
        "every interval's run to succeed",
        &schema,
        &project,
        &tend,
        || {
            let succeeded = count(
                &schema,
                "SELECT count(*) FROM runs WHERE state = 'succeeded'",
            );
            (succeeded >= INTERVALS).then_some(succeeded)
        },
    );
    assert_eq!(intervals, INTERVALS);
    assert_eq!(
        count(&schema, "SELECT count(*) FROM runs"),
        INTERVALS,
        "no interval has a second run"
    );
    assert_eq!(
        count(
            &schema,
            "SELECT count(*) FROM (SELECT DISTINCT interval_start FROM runs) intervals"
        ),
        INTERVALS
    );
    assert_eq!(
        count(
            &schema,
            "SELECT count(*) FROM task_instances WHERE state <> 'succeeded'"
        ),
        0,
        "every task succeeded"
    );
    // The kills met runs in flight: their attempts were lost with the leader, and the runs
    // were taken over and finished by other servers.
    let lost = count(
        &schema,
        "SELECT count(*) FROM attempts WHERE failure = 'lost'",
    );
    eprintln!("{lost} attempts lost to the kills");
    assert!(lost > 0, "no kill met an attempt in flight");
    eprintln!(
        "{} server(s) stopped by themselves and were restarted",
        self_stopped.get()
    );
    for server in servers.into_inner() {
        stop(server);
    }
}

/// Whether the live server `pid` executes a run with a task lost twice already.
fn executes_a_twice_lost_task(schema: &Schema, pid: i32) -> bool {
    count(
        schema,
        &format!(
            "SELECT count(*) FROM runs r JOIN servers s
             ON r.owner_pid = 0 AND r.owner_start_ticks = s.id
             WHERE r.state = 'running' AND s.pid = {pid}
             AND EXISTS (SELECT 1 FROM task_instances t
                         WHERE t.run_id = r.id AND t.lost_attempts >= 2)"
        ),
    ) > 0
}

/// [`eventually`] for the kill test, which fails at once when a run failed, and whichever
/// way it fails says what the store and every server (killed ones too) said.
fn until_progress<T>(
    what: &str,
    schema: &Schema,
    project: &TestProject,
    tend: &dyn Fn(),
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = std::time::Instant::now() + EVENTUALLY_BOUND;
    while std::time::Instant::now() < deadline {
        tend();
        if count(schema, "SELECT count(*) FROM runs WHERE state = 'failed'") > 0 {
            panic!(
                "a run failed while waiting for {what}\n{}",
                diagnosis(schema, project)
            );
        }
        if let Some(value) = check() {
            return value;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!(
        "timed out waiting for {what}\n{}",
        diagnosis(schema, project)
    );
}

/// The runs that have not succeeded, the lost and failed attempts, the leader, and the end
/// of every server's log.
fn diagnosis(schema: &Schema, project: &TestProject) -> String {
    let mut text = String::new();
    for (title, sql) in [
        (
            "runs not succeeded",
            "SELECT string_agg(id || ' ' || state || ' owner ' || coalesce(owner_start_ticks::text, '-'), '; ' ORDER BY id) FROM runs WHERE state <> 'succeeded'",
        ),
        (
            "tasks not succeeded",
            "SELECT string_agg(run_id || '/' || task || ' ' || state || ' lost ' || lost_attempts, '; ' ORDER BY run_id, task) FROM task_instances WHERE state <> 'succeeded'",
        ),
        (
            "attempts by failure",
            "SELECT string_agg(coalesce(failure, 'none') || ' ' || n, '; ') FROM (SELECT failure, count(*) n FROM attempts GROUP BY failure) f",
        ),
        (
            "servers",
            "SELECT string_agg(id || ' pid ' || pid || ' expires ' || expires_at, '; ' ORDER BY id) FROM servers",
        ),
        (
            "leader",
            "SELECT string_agg(server_id::text, ',') FROM server_leader",
        ),
    ] {
        text.push_str(&format!("{title}: {}\n", schema.query(sql)));
    }
    let mut logs: Vec<PathBuf> = std::fs::read_dir(project.root())
        .map(|entries| entries.flatten().map(|entry| entry.path()).collect())
        .unwrap_or_default();
    logs.retain(|path| {
        path.file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.starts_with("server-") && name.ends_with(".log"))
    });
    logs.sort();
    for log in logs {
        let content = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = content.lines().collect();
        let tail = &lines[lines.len().saturating_sub(25)..];
        text.push_str(&format!(
            "--- {} (last {} lines)\n{}\n",
            log.display(),
            tail.len(),
            tail.join("\n")
        ));
    }
    text
}

/// SIGTERM: a server stops gracefully, and ends its lease.
pub(crate) fn stop(mut server: Server) {
    kill(Pid::from_raw(server.pid()), Signal::SIGTERM).expect("SIGTERM");
    let status = server.child.wait().expect("server exits");
    assert!(status.success(), "{status}: {}", server.log_text());
}

/// The leader is killed and not restarted: a server that was standing by leads and schedules
/// (a workflow added afterwards gets its runs), and takes over the killed one's runs.
#[test]
fn a_standby_server_leads_and_schedules_once_the_leader_is_killed() {
    let schema = Schema::new("standby");
    let project = TestProject::new(&toml(&schema), &[("daily.yaml", &caught_up_workflow("h"))]);
    let first = Server::start(&project, 0, 0);
    let second = Server::start(&project, 1, 0);
    let leader = eventually("a leader", || leader_pid(&schema));
    let (leader, standby) = if leader == first.pid() {
        (first, second)
    } else {
        (second, first)
    };
    assert!(leader.log_text().contains("leading: this server schedules"));
    assert!(
        standby.log_text().contains("standing by"),
        "{}",
        standby.log_text()
    );
    eventually("the leader to create the caught-up runs", || {
        (count(&schema, "SELECT count(*) FROM runs") == INTERVALS).then_some(())
    });
    let expires = schema.query(&format!(
        "SELECT l.expires_at FROM server_leader l JOIN servers s ON s.id = l.server_id
         WHERE s.pid = {}",
        leader.pid()
    ));
    leader.kill();
    // Only a leader creates scheduled runs: this workflow's runs prove who leads.
    std::fs::write(
        project.path("workflows/later.yaml"),
        caught_up_workflow("later"),
    )
    .expect("write later.yaml");
    eventually("the standby to lead", || {
        (leader_pid(&schema) == Some(standby.pid())).then_some(())
    });
    let takeover = schema.query(&format!(
        "SELECT extract(epoch FROM clock_timestamp() - '{expires}'::timestamptz)"
    ));
    eprintln!("the standby led {takeover} s after the killed leader's lease expired");
    eventually("the new leader to schedule the added workflow", || {
        (count(
            &schema,
            "SELECT count(*) FROM runs WHERE workflow = 'later'",
        ) == INTERVALS)
            .then_some(())
    });
    eventually("every run to succeed, the killed leader's too", || {
        (count(
            &schema,
            "SELECT count(*) FROM runs WHERE state = 'succeeded'",
        ) == 2 * INTERVALS)
            .then_some(())
    });
    assert!(
        standby
            .log_text()
            .contains("leading: this server schedules"),
        "{}",
        standby.log_text()
    );
    stop(standby);
}

/// A server stopped (SIGSTOP) past its lease is fenced: another server takes its run over
/// and finishes it, and once resumed (SIGCONT) it writes nothing more to that run, finds its
/// lease lost and exits.
#[test]
fn a_server_stopped_past_its_lease_is_fenced_off_the_run_taken_over_from_it() {
    let schema = Schema::new("fencing");
    let gate = "go";
    let workflow = format!(
        r#"
schedule: "@daily"
timezone: UTC
start: "{start}"
catchup: true
tasks:
  wait:
    sh: while [ ! -f {gate} ]; do sleep 0.05; done; echo "$TIDEWATER_ATTEMPT_KEY" >> wrote.txt
"#,
        start = (chrono::Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%d"),
    );
    let project = TestProject::new(&toml(&schema), &[("gated.yaml", &workflow)]);
    let first = Server::start(&project, 0, 0);
    let second = Server::start(&project, 1, 0);
    let owner_pid = |schema: &Schema| -> Option<i32> {
        schema
            .query(
                "SELECT s.pid FROM runs r JOIN servers s ON s.id = r.owner_start_ticks
                 WHERE r.owner_pid = 0 AND r.state = 'running'",
            )
            .parse()
            .ok()
    };
    let owner = eventually("a server to execute the run", || owner_pid(&schema));
    eventually("the task to start", || {
        (count(
            &schema,
            "SELECT count(*) FROM attempts WHERE pid IS NOT NULL",
        ) == 1)
            .then_some(())
    });
    let (stopped, other) = if owner == first.pid() {
        (first, second)
    } else {
        (second, first)
    };
    kill(Pid::from_raw(stopped.pid()), Signal::SIGSTOP).expect("SIGSTOP");
    eventually("the other server to take the run over", || {
        (owner_pid(&schema) == Some(other.pid())).then_some(())
    });
    std::fs::write(project.path(gate), "").expect("open the gate");
    eventually("the run to succeed under its new owner", || {
        (schema.query("SELECT state FROM runs") == "succeeded").then_some(())
    });
    let events_before = schema.query("SELECT count(*), max(seq) FROM events");
    let attempts_before = schema.query(
        "SELECT string_agg(attempt || ':' || coalesce(outcome, '-'), ',' ORDER BY attempt)
         FROM attempts",
    );

    kill(Pid::from_raw(stopped.pid()), Signal::SIGCONT).expect("SIGCONT");
    let mut stopped = stopped;
    let status = stopped.child.wait().expect("the fenced server exits");
    let log = stopped.log_text();
    assert!(
        !status.success(),
        "a server that lost its lease fails: {log}"
    );
    assert!(log.contains("expired"), "{log}");
    assert_eq!(
        schema.query("SELECT count(*), max(seq) FROM events"),
        events_before,
        "the fenced server wrote nothing to the run: {log}"
    );
    assert_eq!(
        schema.query(
            "SELECT string_agg(attempt || ':' || coalesce(outcome, '-'), ',' ORDER BY attempt)
             FROM attempts"
        ),
        attempts_before
    );
    assert_eq!(
        attempts_before, "1:failed,2:succeeded",
        "the first attempt was lost with its server, the second ran on the other"
    );
    assert_eq!(
        project.read("wrote.txt").lines().count(),
        1,
        "only the new owner's attempt wrote: {log}"
    );
    stop(other);
}
