//! `tidewater worker --server URL --token TOKEN [--queues a,b] [--slots N]`: pulls the
//! attempts of tasks with a `queue` from a server and runs them here, with the same runners
//! and process groups as the server (issue 21).
//!
//! The loop: while a slot is free, claim (`/api/v1/workers/claim`, a long poll: the server
//! holds the request until an attempt is offered, up to `--claim-wait-ms`, so that an offered
//! attempt starts at once; it runs beside the loop, which goes on renewing); every
//! `heartbeat`, renew every lease held (`/heartbeat`), and kill an attempt whose answer is
//! `stale` (its lease expired: another attempt may already run) or stop one whose answer is
//! `cancel`; every `LOG_SHIP`, send each attempt's new whole log lines (`/attempts/{id}/log`);
//! when an attempt ends, send the rest of its log, then its outcome (`/report`). The server's
//! clock decides expiry; this loop only keeps renewing.
//!
//! The network may drop: a request that fails is tried again (claims and reports with
//! back-off, heartbeats and log lines at their next turn) while the attempts keep running.
//! An outage shorter than the lease costs nothing: the attempt's outcome is reported once
//! the server answers again (its lease renewed meanwhile by the heartbeats after the outage).
//! A longer one loses the lease on the server: the next heartbeat is answered `stale` and the
//! attempt's process group is killed, or its report is refused if it already ended.
//!
//! An attempt is refused, with the reason as its failure, when this project folder does not
//! hold the workflow version its run is pinned to (the file's hash differs, or it no longer
//! loads): running something else would be worse than not running.
//!
//! Task processes die with the worker: `PR_SET_PDEATHSIG` kills each group's leader when
//! this process dies, and a worker starting on the host (and every heartbeat after) kills
//! whatever a dead worker's tasks left, found by their attempt marker.

use std::collections::{BTreeMap, HashMap};
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
/// How often a worker with a free slot asks for an attempt when it does not long-poll
/// (`--claim-wait-ms 0`).
const CLAIM_POLL: Duration = Duration::from_millis(200);
/// The first wait before a failed claim or report is tried again; it doubles up to
/// [`RETRY_MAX`] while the server stays unreachable.
const RETRY_FIRST: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(5);
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
        client: Arc::new(client),
        registration,
        scratch,
        running: HashMap::new(),
        unreported: BTreeMap::new(),
        heartbeat: Duration::from_secs(10),
        lease: Duration::from_secs(30),
        claim_wait: Duration::from_millis(args.claim_wait_ms),
        claim: ClaimState::Due(tokio::time::Instant::now()),
        claim_retry: Retry::default(),
        report_retry: Retry::default(),
        outage: None,
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
    client: Arc<WorkerClient>,
    registration: WorkerRegistrationJson,
    connections: Arc<Connections>,
    runners: Arc<Runners>,
    /// This worker's part of its tasks' attempt markers.
    marker: String,
    /// Where attempts' logs are written here before they are sent.
    scratch: PathBuf,
    running: HashMap<i64, Running>,
    /// Attempts that ended here whose outcome the server has not accepted yet (it was
    /// unreachable), oldest first: tried again with back-off, their leases renewed meanwhile.
    unreported: BTreeMap<i64, Unreported>,
    /// The server's settings, from its claim answers.
    heartbeat: Duration,
    lease: Duration,
    /// How long a claim waits at the server; zero: claims are polled.
    claim_wait: Duration,
    claim: ClaimState,
    claim_retry: Retry,
    report_retry: Retry,
    /// Since when the server has been unreachable, if it is.
    outage: Option<tokio::time::Instant>,
}

/// Where this worker's asking for attempts is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClaimState {
    /// A claim request is under way (it may wait at the server).
    Asking,
    /// Ask at this instant, if a slot is free.
    Due(tokio::time::Instant),
}

/// A growing wait between tries of something the server did not answer.
#[derive(Debug, Clone, Copy, Default)]
struct Retry {
    next: Option<tokio::time::Instant>,
    wait: Duration,
}

impl Retry {
    /// After a failure: the next try, later each time.
    fn failed(&mut self) -> tokio::time::Instant {
        self.wait = (self.wait * 2).clamp(RETRY_FIRST, RETRY_MAX);
        let next = tokio::time::Instant::now() + self.wait;
        self.next = Some(next);
        next
    }

    fn succeeded(&mut self) {
        *self = Retry::default();
    }
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
    /// When its lease was last granted or renewed, at the latest: the lease surely ends on
    /// the server a lease after this, if no renewal reaches it.
    renewed_at: tokio::time::Instant,
}

/// An ended attempt whose report waits for the server.
struct Unreported {
    epoch: i64,
    outcome: AttemptOutcome,
    log: PathBuf,
    sent: u64,
}

/// What a claim request came back with.
type ClaimResult = Result<ClaimAnswerJson, WorkerClientError>;

impl Worker {
    async fn serve(&mut self) -> anyhow::Result<()> {
        let (done, mut reports) = mpsc::unbounded_channel::<(i64, AttemptReport)>();
        let (claimed, mut claims) = mpsc::unbounded_channel::<ClaimResult>();
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let mut ship = tokio::time::interval(LOG_SHIP);
        ship.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_heartbeat = tokio::time::Instant::now();
        loop {
            self.fence_unrenewed_leases();
            let has_free_slot = self.running.len() < self.registration.slots as usize;
            let claim_due = match self.claim {
                ClaimState::Due(at) if has_free_slot => Some(at),
                _ => None,
            };
            if claim_due.is_some_and(|at| at <= tokio::time::Instant::now()) {
                self.ask_for_attempt(&claimed);
                continue;
            }
            // Read each turn: the first claim's answer sets the server's heartbeat.
            let next_heartbeat = last_heartbeat + self.heartbeat;
            let far = tokio::time::Instant::now() + Duration::from_secs(3600);
            tokio::select! {
                Some((id, report)) = reports.recv() => self.finished(id, report).await,
                Some(answer) = claims.recv() => self.claim_answered(answer, &done).await,
                () = tokio::time::sleep_until(claim_due.unwrap_or(far)), if claim_due.is_some() => {}
                () = tokio::time::sleep_until(self.report_retry.next.unwrap_or(far)),
                    if self.report_retry.next.is_some() => self.send_reports().await,
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
        // server runs them again elsewhere. A claim still waiting at the server may yet be
        // granted: that attempt's lease expires the same way.
        output::note(format!(
            "stopping: {} attempt(s) killed; the server runs them again once their leases expire",
            self.running.len()
        ));
        for running in self.running.values_mut() {
            kill_now(running);
        }
        Ok(())
    }

    /// Kills the attempts whose lease could not be renewed for a whole lease (the server was
    /// unreachable, or this process was frozen): by the server's clock the lease has expired
    /// and the attempt may run elsewhere already, so this one stops at once, before any
    /// answer of the server says so. Reports nothing for them.
    fn fence_unrenewed_leases(&mut self) {
        let now = tokio::time::Instant::now();
        for (id, running) in &mut self.running {
            if running.is_fenced || running.renewed_at + self.lease > now {
                continue;
            }
            output::note(format!(
                "the lease of attempt {id} could not be renewed for {:.1}s, a whole lease: \
                 killing it, reporting nothing",
                now.duration_since(running.renewed_at).as_secs_f64()
            ));
            running.is_fenced = true;
            kill_now(running);
        }
    }

    /// How long a heartbeat, log append or report may take: half a lease (at least 2 s, for
    /// a loaded machine; at most 10 s), so that a dropped network is noticed and the request
    /// tried again while the lease still holds.
    fn request_timeout(&self) -> Duration {
        (self.lease / 2).clamp(Duration::from_secs(2), Duration::from_secs(10))
    }

    /// Sends a claim, which runs beside this loop (it may wait at the server for up to
    /// `claim_wait`); its answer comes back on `claimed`.
    fn ask_for_attempt(&mut self, claimed: &mpsc::UnboundedSender<ClaimResult>) {
        self.claim = ClaimState::Asking;
        let request = ClaimRequestJson {
            worker: self.registration.clone(),
            wait_ms: self.claim_wait.as_millis() as u64,
        };
        let timeout = self.claim_wait + self.request_timeout();
        let client = self.client.clone();
        let claimed = claimed.clone();
        tokio::spawn(async move {
            let answer = client
                .post_json("/api/v1/workers/claim", &request, timeout)
                .await;
            // The loop is gone only when the worker stops.
            let _ = claimed.send(answer);
        });
    }

    /// Starts the claimed attempt, if any, and says when to ask again.
    async fn claim_answered(
        &mut self,
        answer: ClaimResult,
        done: &mpsc::UnboundedSender<(i64, AttemptReport)>,
    ) {
        let now = tokio::time::Instant::now();
        let answer = match answer {
            Ok(answer) => answer,
            Err(error) => {
                self.unreachable(&error);
                self.claim = ClaimState::Due(self.claim_retry.failed());
                return;
            }
        };
        self.reachable();
        self.claim_retry.succeeded();
        self.heartbeat = Duration::from_millis(answer.heartbeat_ms.max(50));
        self.lease = Duration::from_millis(answer.lease_ms.max(100));
        match answer.attempt {
            // A slot may still be free: ask again at once.
            Some(attempt) => {
                self.claim = ClaimState::Due(now);
                self.start(attempt, done).await;
            }
            // The long poll ended empty: ask again at once; a poll asks a little later.
            None if self.claim_wait.is_zero() => self.claim = ClaimState::Due(now + CLAIM_POLL),
            None => self.claim = ClaimState::Due(now),
        }
    }

    /// The server did not answer `error`'s request: said once per outage.
    fn unreachable(&mut self, error: &WorkerClientError) {
        if self.outage.is_none() {
            self.outage = Some(tokio::time::Instant::now());
            output::note(format!(
                "warning: {error}; the attempts here keep running, and requests are tried again"
            ));
        } else if !matches!(error, WorkerClientError::Unreachable { .. }) {
            output::note(format!("warning: {error}"));
        }
    }

    /// The server answered: an outage, if there was one, is over.
    fn reachable(&mut self) {
        if let Some(since) = self.outage.take() {
            output::note(format!(
                "reached the server again after {:.1}s",
                since.elapsed().as_secs_f64()
            ));
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
                let log = self.scratch.join(format!("refused-{id}.log"));
                let written = std::fs::create_dir_all(&self.scratch)
                    .and_then(|()| std::fs::write(&log, format!("[tidewater] {reason}\n")));
                if let Err(error) = written {
                    output::note(format!("warning: cannot write {}: {error}", log.display()));
                }
                self.unreported.insert(
                    id,
                    Unreported {
                        epoch: claimed.epoch,
                        outcome,
                        log,
                        sent: 0,
                    },
                );
                self.send_reports().await;
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
                // The server claims just before it answers: the lease began at most the
                // answer's way back before now.
                renewed_at: tokio::time::Instant::now(),
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
        let Some(running) = self.running.remove(&id) else {
            return;
        };
        if running.is_fenced {
            return;
        }
        self.unreported.insert(
            id,
            Unreported {
                epoch: running.epoch,
                outcome: report.outcome,
                log: running.log,
                sent: running.sent,
            },
        );
        self.send_reports().await;
    }

    /// Sends the ended attempts' last log lines, then their outcomes, oldest first; stops at
    /// the first the server does not answer, to try again after a wait (the leases stay
    /// renewed meanwhile). A report the server answers is never sent again, so an outcome
    /// is reported once; one it refuses as stale is dropped (the attempt was lost).
    async fn send_reports(&mut self) {
        self.report_retry.next = None;
        while let Some((&id, _)) = self.unreported.first_key_value() {
            let Some(mut pending) = self.unreported.remove(&id) else {
                break;
            };
            match self.send_report(id, &mut pending).await {
                Ok(()) => {
                    // The attempt's files were sent; a failure to remove them costs only disk.
                    let _ = std::fs::remove_file(&pending.log);
                }
                Err(WorkerClientError::Stale(detail)) => {
                    output::note(format!("report of attempt {id} refused: {detail}"));
                    let _ = std::fs::remove_file(&pending.log);
                }
                Err(error @ WorkerClientError::Refused { .. }) => {
                    output::note(format!("warning: gave up reporting attempt {id}: {error}"));
                }
                Err(error @ WorkerClientError::Unreachable { .. }) => {
                    self.unreachable(&error);
                    self.unreported.insert(id, pending);
                    self.report_retry.failed();
                    return;
                }
            }
        }
        self.report_retry.succeeded();
    }

    /// The rest of an ended attempt's log, then its outcome.
    async fn send_report(
        &mut self,
        id: i64,
        pending: &mut Unreported,
    ) -> Result<(), WorkerClientError> {
        if let Some((chunk, end)) = unsent_lines(&pending.log, pending.sent) {
            self.send_log(id, pending.epoch, chunk).await?;
            pending.sent = end;
        }
        let body = WorkerReportJson {
            epoch: pending.epoch,
            outcome: serde_json::to_value(&pending.outcome).unwrap_or_default(),
        };
        let path = format!("/api/v1/workers/attempts/{id}/report");
        self.client
            .post_json_empty(&path, &body, self.request_timeout())
            .await?;
        self.reachable();
        Ok(())
    }

    async fn renew(&mut self) {
        let running = self
            .running
            .iter()
            .filter(|(_, running)| !running.is_fenced)
            .map(|(id, running)| (*id, running.epoch));
        // An ended attempt's lease is kept while its report waits for the server.
        let ended = self
            .unreported
            .iter()
            .map(|(id, pending)| (*id, pending.epoch));
        let leases: Vec<LeaseJson> = running
            .chain(ended)
            .map(|(id, epoch)| LeaseJson { id, epoch })
            .collect();
        let request = HeartbeatJson {
            worker: self.registration.clone(),
            leases,
        };
        let sent_at = tokio::time::Instant::now();
        let answer: HeartbeatAnswerJson = match self
            .client
            .post_json(
                "/api/v1/workers/heartbeat",
                &request,
                self.request_timeout(),
            )
            .await
        {
            Ok(answer) => answer,
            Err(error) => {
                self.unreachable(&error);
                return;
            }
        };
        self.reachable();
        for lease in answer.leases {
            if lease.answer() == Some(LeaseAnswer::Stale)
                && self.unreported.remove(&lease.id).is_some()
            {
                output::note(format!(
                    "the lease of attempt {} is stale (it expired on the server while it was \
                     unreachable): its outcome is not reported",
                    lease.id
                ));
                continue;
            }
            let Some(running) = self.running.get_mut(&lease.id) else {
                continue;
            };
            match lease.answer() {
                Some(LeaseAnswer::Continue) => running.renewed_at = sent_at,
                None => {}
                Some(LeaseAnswer::Cancel) => {
                    running.renewed_at = sent_at;
                    running.control.stop();
                }
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
        // The server answers again: the reports that wait need not wait for their back-off.
        if !self.unreported.is_empty() {
            self.send_reports().await;
        }
    }

    async fn ship_logs(&mut self) {
        let ids: Vec<i64> = self.running.keys().copied().collect();
        for id in ids {
            let Some(running) = self.running.get(&id) else {
                continue;
            };
            if running.is_fenced {
                continue;
            }
            let Some((chunk, end)) = unsent_lines(&running.log, running.sent) else {
                continue;
            };
            let epoch = running.epoch;
            let sent = self.send_log(id, epoch, chunk).await;
            let Some(running) = self.running.get_mut(&id) else {
                continue;
            };
            match sent {
                Ok(()) => running.sent = end,
                Err(WorkerClientError::Stale(_)) => {
                    running.is_fenced = true;
                    kill_now(running);
                }
                // Sent again at the next turn, from the same place.
                Err(error) => {
                    self.unreachable(&error);
                    return;
                }
            }
        }
    }

    /// Appends to the attempt's log on the server.
    async fn send_log(
        &mut self,
        id: i64,
        epoch: i64,
        bytes: Vec<u8>,
    ) -> Result<(), WorkerClientError> {
        let path = format!("/api/v1/workers/attempts/{id}/log?epoch={epoch}");
        self.client
            .post_bytes(&path, bytes, self.request_timeout())
            .await?;
        self.reachable();
        Ok(())
    }
}

/// The attempt's log lines the server does not have yet, from `sent` (whole lines only: the
/// last may still be written), and where they end.
fn unsent_lines(log: &Path, sent: u64) -> Option<(Vec<u8>, u64)> {
    let bytes = std::fs::read(log).ok()?;
    let start = (sent as usize).min(bytes.len());
    let last = bytes[start..].iter().rposition(|&byte| byte == b'\n')?;
    let end = start + last + 1;
    Some((bytes[start..end].to_vec(), end as u64))
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
