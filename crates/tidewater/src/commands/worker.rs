//! `tidewater worker --server URL --token TOKEN [--queues a,b] [--slots N]`: pulls the
//! attempts of tasks with a `queue` from a server and runs them here, with the same runners
//! and process groups as the server (issue 21).
//!
//! The loop: while a slot is free, claim (`/api/v1/workers/claim`); every `heartbeat`, renew
//! every lease held (`/heartbeat`), and kill an attempt whose answer is `stale` (its lease
//! expired: another attempt may already run) or stop one whose answer is `cancel`; every
//! `LOG_SHIP`, send each attempt's new whole log lines (`/attempts/{id}/log`); when an
//! attempt ends, send the rest of its log, then its outcome (`/report`). The server's clock
//! decides expiry; this loop only keeps renewing.
//!
//! An attempt is refused, with the reason as its failure, when this project folder does not
//! hold the workflow version its run is pinned to (the file's hash differs, or it no longer
//! loads): running something else would be worse than not running.
//!
//! Task processes die with the worker: `PR_SET_PDEATHSIG` kills each group's leader when
//! this process dies, and a worker starting on the host (and every heartbeat after) kills
//! whatever a dead worker's tasks left, found by their attempt marker.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tidewater_control::json::{
    ClaimAnswerJson, ClaimRequestJson, ClaimedAttemptJson, HeartbeatAnswerJson, HeartbeatJson,
    LeaseJson, WorkerRegistrationJson, WorkerReportJson,
};
use tidewater_core::{Attempt, AttemptOutcome, FailureClass, RunId, TaskName};
use tidewater_engine::{
    ATTEMPT_MARKER, AttemptControl, AttemptPaths, AttemptReport, RemoteAttemptContext, Runners,
    StartRequest, SystemClock, could_not_start,
};
use tidewater_flow::{MaintainRunner, SqlRunner};
use tidewater_http::{HttpRunner, WorkerClient, WorkerClientError};
use tidewater_spec::{Connections, Project, TemplateContext};
use tidewater_store::LeaseAnswer;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::Outcome;
use crate::args::WorkerArgs;
use crate::output;
use crate::project_context::{open_project, open_warehouse};

/// How long a stopped task gets between SIGTERM and SIGKILL, as in the server.
const KILL_GRACE: Duration = Duration::from_secs(10);
/// How often a worker with a free slot asks for an attempt.
const CLAIM_POLL: Duration = Duration::from_millis(200);
/// How often new log lines are sent to the server.
const LOG_SHIP: Duration = Duration::from_millis(250);
/// Every attempt marker of a worker's task starts with this, then the worker's pid and start
/// time, then `#` and the attempt.
const MARKER_PREFIX: &str = "tidewater-worker/";

pub(super) async fn worker(project: &Path, args: WorkerArgs) -> anyhow::Result<Outcome> {
    let project = open_project(project)?;
    // Before any task starts: its leader dies with this process.
    tidewater_engine::tasks_die_with_this_process();
    tidewater_engine::adopt_orphans().context("cannot adopt the orphans of tasks")?;
    let me = tidewater_engine::process_identity(std::process::id() as i32)
        .context("cannot read this process's identity from /proc")?;
    let queues: Vec<String> = args
        .queues
        .split(',')
        .map(str::trim)
        .filter(|queue| !queue.is_empty())
        .map(str::to_owned)
        .collect();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "worker".to_owned());
    let registration = WorkerRegistrationJson {
        id: format!("{host}-{}-{:04x}", me.pid, rand::random::<u16>()),
        queues,
        slots: args.slots.max(1),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    registration
        .registration()
        .map_err(|message| anyhow::anyhow!("--queues: {message}"))?;
    let client = WorkerClient::new(&args.server, args.token).map_err(anyhow::Error::msg)?;
    let scratch = project
        .config
        .state_dir
        .join("worker")
        .join(&registration.id);
    let mut worker = Worker {
        connections: Arc::new(tidewater_control::resolve_connections(&project)),
        runners: Arc::new(runners(&project)?),
        marker: format!("{MARKER_PREFIX}{}.{}", me.pid, me.start_ticks),
        project,
        client,
        registration,
        scratch,
        running: HashMap::new(),
        heartbeat: Duration::from_secs(10),
    };
    kill_orphaned_tasks();
    output::note(format!(
        "worker {} serving queue(s) {} of {} with {} slot(s)",
        worker.registration.id,
        worker.registration.queues.join(", "),
        args.server,
        worker.registration.slots
    ));
    worker.serve().await?;
    Ok(Outcome::Success)
}

/// Kills the leftovers of the tasks of workers of this host that died.
fn kill_orphaned_tasks() {
    let killed = tidewater_engine::kill_orphaned_marked(MARKER_PREFIX, |owner| {
        let Some((pid, start)) = owner.split_once('.') else {
            return false;
        };
        match (pid.parse(), start.parse()) {
            (Ok(pid), Ok(start_ticks)) => {
                tidewater_engine::is_alive(tidewater_core::ProcessIdentity { pid, start_ticks })
            }
            _ => false,
        }
    });
    if !killed.is_empty() {
        output::note(format!(
            "killed {} process(es) left by the tasks of a worker that died",
            killed.len()
        ));
    }
}

/// The runners of every kind a worker runs (`sh`, `sql`, `maintain`, `http`), as the server
/// has them.
fn runners(project: &Project) -> anyhow::Result<Runners> {
    let mut runners = Runners::new(None);
    let warehouse = Arc::new(open_warehouse(project)?);
    runners.register_sql(Arc::new(SqlRunner::new(warehouse.clone())));
    runners.register_maintain(Arc::new(MaintainRunner::new(warehouse)));
    runners.register_http(Arc::new(HttpRunner::new()));
    Ok(runners)
}

struct Worker {
    project: Project,
    client: WorkerClient,
    registration: WorkerRegistrationJson,
    connections: Arc<Connections>,
    runners: Arc<Runners>,
    /// This worker's part of its tasks' attempt markers.
    marker: String,
    /// Where attempts' logs are written here before they are sent.
    scratch: PathBuf,
    running: HashMap<i64, Running>,
    heartbeat: Duration,
}

/// An attempt this worker runs.
struct Running {
    epoch: i64,
    control: AttemptControl,
    /// The process group's leader, to kill at once when the lease is stale.
    process: Option<tidewater_core::ProcessIdentity>,
    log: PathBuf,
    /// How much of the log the server has.
    sent: u64,
    /// The lease is stale: the attempt is killed and its outcome not reported.
    is_fenced: bool,
}

impl Worker {
    async fn serve(&mut self) -> anyhow::Result<()> {
        let (done, mut reports) = mpsc::unbounded_channel::<(i64, AttemptReport)>();
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let mut claim = tokio::time::interval(CLAIM_POLL);
        claim.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ship = tokio::time::interval(LOG_SHIP);
        ship.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_heartbeat = tokio::time::Instant::now();
        loop {
            // Read each turn: the first claim's answer sets the server's heartbeat.
            let next_heartbeat = last_heartbeat + self.heartbeat;
            tokio::select! {
                Some((id, report)) = reports.recv() => {
                    self.finished(id, report).await;
                    // A slot is free: ask at once rather than at the next tick.
                    self.claim(&done).await;
                }
                _ = claim.tick(), if self.running.len() < self.registration.slots as usize => {
                    self.claim(&done).await;
                }
                _ = ship.tick(), if !self.running.is_empty() => self.ship_logs().await,
                () = tokio::time::sleep_until(next_heartbeat) => {
                    last_heartbeat = tokio::time::Instant::now();
                    self.renew().await;
                    kill_orphaned_tasks();
                }
                _ = interrupt.recv() => break,
                _ = terminate.recv() => break,
            }
        }
        // Stopping: the attempts are killed and not reported; their leases expire and the
        // server runs them again elsewhere.
        output::note(format!(
            "stopping: {} attempt(s) killed; the server runs them again once their leases expire",
            self.running.len()
        ));
        for running in self.running.values_mut() {
            kill_now(running);
        }
        Ok(())
    }

    /// Claims attempts while a slot is free and the server has one.
    async fn claim(&mut self, done: &mpsc::UnboundedSender<(i64, AttemptReport)>) {
        let request = ClaimRequestJson {
            worker: self.registration.clone(),
        };
        while self.running.len() < self.registration.slots as usize {
            let answer: ClaimAnswerJson = match self
                .client
                .post_json("/api/v1/workers/claim", &request)
                .await
            {
                Ok(answer) => answer,
                Err(error) => {
                    output::note(format!("warning: {error}"));
                    return;
                }
            };
            self.heartbeat = Duration::from_millis(answer.heartbeat_ms.max(50));
            let Some(claimed) = answer.attempt else {
                return;
            };
            self.start(claimed, done).await;
        }
    }

    async fn start(
        &mut self,
        claimed: ClaimedAttemptJson,
        done: &mpsc::UnboundedSender<(i64, AttemptReport)>,
    ) {
        let id = claimed.id;
        let prepared = match self.prepare(&claimed) {
            Ok(prepared) => prepared,
            Err(reason) => {
                output::note(format!(
                    "refused attempt {} of {} in run {}: {reason}",
                    claimed.attempt, claimed.task, claimed.run
                ));
                let outcome = could_not_start(
                    FailureClass::Environment,
                    format!("worker {} refused it: {reason}", self.registration.id),
                );
                let line = format!("[tidewater] {reason}\n").into_bytes();
                let _ = self.send_log(id, claimed.epoch, line).await;
                self.report(id, claimed.epoch, &outcome).await;
                return;
            }
        };
        let (attempt_done, mut attempt_reports) = mpsc::unbounded_channel();
        let paths = AttemptPaths::new(
            &self.scratch,
            RunId(claimed.run),
            &TaskName::new(claimed.task.as_str()),
            Attempt(claimed.attempt),
        );
        let log = paths.log.clone();
        let task = prepared.loaded.workflow.task(prepared.index);
        let started = self.runners.start(
            StartRequest {
                task_index: prepared.index,
                task,
                attempt: Attempt(claimed.attempt),
                template: &prepared.template,
                paths,
                project_root: &self.project.root,
                env: vec![
                    (ATTEMPT_MARKER.to_owned(), format!("{}#{id}", self.marker)),
                    ("TIDEWATER_WORKER".to_owned(), self.registration.id.clone()),
                ],
                clock: Arc::new(SystemClock),
                kill_grace: KILL_GRACE,
            },
            &attempt_done,
        );
        drop(attempt_done);
        let done = done.clone();
        tokio::spawn(async move {
            if let Some(report) = attempt_reports.recv().await {
                let _ = done.send((id, report));
            }
        });
        self.running.insert(
            id,
            Running {
                epoch: claimed.epoch,
                control: started.control,
                process: started.process,
                log,
                sent: 0,
                is_fenced: false,
            },
        );
    }

    /// What an attempt needs here, or why this worker cannot run it.
    fn prepare(&self, claimed: &ClaimedAttemptJson) -> Result<Prepared, String> {
        let loaded = tidewater_control::load_workflow(&self.project, &claimed.workflow).map_err(
            |error| {
                format!(
                    "its workflow {} does not load from this worker's project folder {}: {error}",
                    claimed.workflow,
                    self.project.root.display()
                )
            },
        )?;
        if loaded.hash != claimed.workflow_hash {
            return Err(format!(
                "its run {} is pinned to a version of {} that differs from this worker's file {} \
                 (sync the worker's project folder with the server's)",
                claimed.run,
                claimed.workflow,
                loaded.path.display()
            ));
        }
        let index = loaded
            .workflow
            .index_of(&claimed.task)
            .ok_or_else(|| format!("workflow {} has no task {}", claimed.workflow, claimed.task))?;
        let context: RemoteAttemptContext = serde_json::from_value(claimed.context.clone())
            .map_err(|error| format!("the server sent an unreadable context: {error}"))?;
        let template = TemplateContext {
            workflow: loaded.workflow.name.clone(),
            task: TaskName::new(claimed.task.as_str()),
            run_id: RunId(claimed.run),
            interval: context.interval,
            timezone: loaded.workflow.timezone,
            params: context.params,
            task_outputs: context.task_outputs,
            connections: self.connections.clone(),
        };
        Ok(Prepared {
            loaded,
            index,
            template,
        })
    }

    async fn finished(&mut self, id: i64, report: AttemptReport) {
        // The sh runner writes a finished attempt's last lines out here.
        self.runners.settle();
        let Some(mut running) = self.running.remove(&id) else {
            return;
        };
        if running.is_fenced {
            return;
        }
        self.ship_log(id, &mut running).await;
        self.report(id, running.epoch, &report.outcome).await;
        // The attempt's files were sent; a failure to remove them costs only disk.
        let _ = std::fs::remove_file(&running.log);
    }

    async fn report(&self, id: i64, epoch: i64, outcome: &AttemptOutcome) {
        let body = WorkerReportJson {
            epoch,
            outcome: serde_json::to_value(outcome).unwrap_or_default(),
        };
        let path = format!("/api/v1/workers/attempts/{id}/report");
        // A report that cannot reach the server is tried again until the lease would have
        // expired; after that the server has made the attempt lost anyway.
        let give_up = tokio::time::Instant::now() + self.heartbeat * 3;
        loop {
            match self.client.post_json_empty(&path, &body).await {
                Ok(()) => return,
                Err(WorkerClientError::Stale(detail)) => {
                    output::note(format!("report of attempt {id} refused: {detail}"));
                    return;
                }
                Err(error) if tokio::time::Instant::now() >= give_up => {
                    output::note(format!("warning: gave up reporting attempt {id}: {error}"));
                    return;
                }
                Err(_) => tokio::time::sleep(CLAIM_POLL).await,
            }
        }
    }

    async fn renew(&mut self) {
        let leases: Vec<LeaseJson> = self
            .running
            .iter()
            .filter(|(_, running)| !running.is_fenced)
            .map(|(id, running)| LeaseJson {
                id: *id,
                epoch: running.epoch,
            })
            .collect();
        let request = HeartbeatJson {
            worker: self.registration.clone(),
            leases,
        };
        let answer: HeartbeatAnswerJson = match self
            .client
            .post_json("/api/v1/workers/heartbeat", &request)
            .await
        {
            Ok(answer) => answer,
            Err(error) => {
                output::note(format!("warning: heartbeat: {error}"));
                return;
            }
        };
        for lease in answer.leases {
            let Some(running) = self.running.get_mut(&lease.id) else {
                continue;
            };
            match lease.answer() {
                Some(LeaseAnswer::Continue) | None => {}
                Some(LeaseAnswer::Cancel) => running.control.stop(),
                Some(LeaseAnswer::Stale) => {
                    output::note(format!(
                        "the lease of attempt {} is stale (it expired on the server): killing it, reporting nothing",
                        lease.id
                    ));
                    running.is_fenced = true;
                    kill_now(running);
                }
            }
        }
    }

    async fn ship_logs(&mut self) {
        let ids: Vec<i64> = self.running.keys().copied().collect();
        for id in ids {
            let Some(mut running) = self.running.remove(&id) else {
                continue;
            };
            if !running.is_fenced {
                self.ship_log(id, &mut running).await;
            }
            self.running.insert(id, running);
        }
    }

    /// Sends the attempt's log lines the server does not have yet (whole lines only, until
    /// the attempt has ended).
    async fn ship_log(&mut self, id: i64, running: &mut Running) {
        let Ok(bytes) = std::fs::read(&running.log) else {
            return;
        };
        let start = (running.sent as usize).min(bytes.len());
        let end = match bytes[start..].iter().rposition(|&byte| byte == b'\n') {
            Some(last) => start + last + 1,
            None => return,
        };
        let chunk = bytes[start..end].to_vec();
        match self.send_log(id, running.epoch, chunk).await {
            Ok(()) => running.sent = end as u64,
            Err(true) => {
                running.is_fenced = true;
                kill_now(running);
            }
            Err(false) => {}
        }
    }

    /// Appends to the attempt's log on the server; `Err(true)` if the lease is stale.
    async fn send_log(&self, id: i64, epoch: i64, bytes: Vec<u8>) -> Result<(), bool> {
        let path = format!("/api/v1/workers/attempts/{id}/log?epoch={epoch}");
        match self.client.post_bytes(&path, bytes).await {
            Ok(()) => Ok(()),
            Err(WorkerClientError::Stale(_)) => Err(true),
            Err(_) => Err(false),
        }
    }
}

/// Kills the attempt's process group at once (no grace: another attempt may run already).
fn kill_now(running: &mut Running) {
    if let Some(process) = running.process
        && tidewater_engine::is_alive(process)
    {
        tidewater_engine::signal_group(process.pid, nix::sys::signal::Signal::SIGKILL);
    }
    running.control.stop();
}

struct Prepared {
    loaded: tidewater_spec::LoadedWorkflow,
    index: tidewater_core::TaskIndex,
    template: TemplateContext,
}
