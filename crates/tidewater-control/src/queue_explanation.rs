//! [`QueueExplanation`]: what waits and why, read from the store (`tidewater queue`). Queued
//! runs are grouped per queue (a workflow's, a backfill's) by the service's own admission
//! rule; the task queue's admission rules are replayed over the tasks of every running run.

use std::collections::HashMap;

use tidewater_core::{
    Candidate, PoolName, ProcessIdentity, RunId, RunQueueKey, RunState, TaskIndex, TaskName,
    TaskQueue, TaskState, Timestamp, WaitReason, Workflow, WorkflowName,
};
use tidewater_engine::{count_active, read_queue};
use tidewater_store::RunRecord;

use crate::control_error::ControlResult;
use crate::run_entry::RunEntry;
use crate::wait_kind::WaitKind;
use crate::{Control, local_time};

/// How many run ids a group of queued runs shows; [`QueuedRuns::EachRun`] lists every run.
const IDS_SHOWN: usize = 5;

/// How queued runs are explained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueuedRuns {
    /// One group per queue and reason, with its first ids: reads only the head of each
    /// queue, so a backfill of 10,000 runs costs as little as one of ten.
    Grouped,
    /// Also each queued run on its own (among [`QueueExplanation::waiting`]), complete.
    EachRun,
}

/// What waits and why.
#[derive(Debug, Clone)]
pub struct QueueExplanation {
    /// Queued runs, one group per queue and reason.
    pub groups: Vec<QueuedGroup>,
    /// Tasks of running runs that wait (and, with [`QueuedRuns::EachRun`], each queued run),
    /// sorted by run and task.
    pub waiting: Vec<Waiting>,
}

/// The queued runs of one queue that wait for the same thing.
#[derive(Debug, Clone)]
pub struct QueuedGroup {
    /// The queue's workflow (empty for a backfill no longer recorded).
    pub workflow: String,
    /// The first few, in start order.
    pub first: Vec<RunId>,
    pub count: u64,
    pub why: String,
    pub kind: WaitKind,
}

/// A run or a task that waits, and for what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub run: RunId,
    pub workflow: WorkflowName,
    /// `None` for a whole run that waits (to start, or to be resumed).
    pub task: Option<TaskName>,
    /// `queued`, `orphaned`, `pending`, `up_for_retry`, `running`.
    pub state: &'static str,
    pub why: String,
    pub kind: WaitKind,
    /// The task's pool, if it has one.
    pub pool: Option<PoolName>,
}

impl Control {
    /// What waits and why, as of now. `parallelism` overrides tidewater.toml's, as the
    /// server's own `--parallelism` would.
    pub async fn explain_queue(
        &self,
        parallelism: Option<u32>,
        queued_runs: QueuedRuns,
    ) -> ControlResult<QueueExplanation> {
        let now = chrono::Utc::now();
        let service = self.live_service().await?;
        let limits = self.queue_limits(parallelism);
        let mut rows = Vec::new();
        let mut groups = Vec::new();
        // Each owner (a server) admits its own runs' tasks within its own parallelism;
        // pools and `max_active_tasks` are shared by all of them (see `OwnerQueue`).
        let mut owners: Vec<OwnerQueue> = Vec::new();
        let mut capped: HashMap<WorkflowName, Option<u32>> = HashMap::new();
        let mut starts: Vec<(PoolName, Timestamp)> = Vec::new();
        let mut workflows: HashMap<RunId, (RunRecord, Workflow)> = HashMap::new();
        // Queued runs: the service's own rule over the head of each queue (`read_queue`,
        // `RunQueue::admit`), so that what this says starts next is what the server starts.
        let executing = self.store.executing_runs().await?;
        let active = count_active(&executing, &*self.owners);
        let (starting_why, starting_kind) = if service.is_none() {
            ("no server is running to start it", WaitKind::NoServer)
        } else {
            ("starting", WaitKind::Starting)
        };
        // Per queue: the runs that start next, and why the others wait.
        let mut why_of_queued: Vec<(RunQueueKey, Vec<RunId>, String)> = Vec::new();
        for (key, count) in self.store.queued_counts().await? {
            let running = active.get(&key).copied().unwrap_or(0);
            let run_queue = read_queue(
                &*self.store,
                key.clone(),
                |workflow| {
                    // The current version, as the server schedules it (a broken file: the
                    // server keeps its last good version, which only it knows; 1 here).
                    self.project
                        .load_workflow(workflow.as_str())
                        .ok()
                        .map(|loaded| loaded.workflow.max_active_runs)
                },
                running,
                |run| run.owner.is_some_and(|owner| self.is_alive(owner)),
            )
            .await?;
            let workflow = match &key {
                RunQueueKey::Workflow(workflow) => workflow.to_string(),
                RunQueueKey::Backfill(backfill) => self
                    .store
                    .backfill(*backfill)
                    .await?
                    .map(|record| record.workflow.to_string())
                    .unwrap_or_default(),
            };
            let admission = run_queue.admit();
            let starting: Vec<RunId> = admission.starting.iter().map(|run| run.id).collect();
            let cap_reason = match &key {
                RunQueueKey::Workflow(_) => format!(
                    "max_active_runs {} ({running} running)",
                    run_queue.limit.max_active_runs
                ),
                RunQueueKey::Backfill(backfill) => format!(
                    "backfill {backfill}'s max_active_runs {} ({running} running)",
                    run_queue.limit.max_active_runs
                ),
            };
            let waiting_count = count.saturating_sub(starting.len() as u64);
            if !starting.is_empty() {
                groups.push(QueuedGroup {
                    workflow: workflow.clone(),
                    first: starting.clone(),
                    count: starting.len() as u64,
                    why: starting_why.to_owned(),
                    kind: starting_kind,
                });
            }
            if waiting_count > 0 {
                groups.push(QueuedGroup {
                    workflow: workflow.clone(),
                    // The rule needs only the heads up to the cap; the first waiting ones
                    // are read past them.
                    first: self
                        .store
                        .queued_runs(
                            &key,
                            run_queue.order,
                            run_queue
                                .limit
                                .max_active_runs
                                .saturating_add(IDS_SHOWN as u32),
                        )
                        .await?
                        .iter()
                        .map(|run| run.id)
                        .filter(|id| !starting.contains(id))
                        .take(IDS_SHOWN)
                        .collect(),
                    count: waiting_count,
                    why: cap_reason.clone(),
                    kind: WaitKind::MaxActiveRuns,
                });
            }
            why_of_queued.push((key, starting, cap_reason));
        }
        if queued_runs == QueuedRuns::EachRun {
            // Complete: every queued run, each with why it waits.
            for run in self.store.active_runs().await? {
                if run.state != RunState::Queued {
                    continue;
                }
                let key = RunQueueKey::of(&run.workflow, run.backfill);
                let Some((_, starting, cap_reason)) =
                    why_of_queued.iter().find(|(k, ..)| *k == key)
                else {
                    continue;
                };
                let (why, kind) = if run.owner.is_some_and(|owner| self.is_alive(owner)) {
                    ("starting".to_owned(), WaitKind::Starting)
                } else if starting.contains(&run.id) {
                    (starting_why.to_owned(), starting_kind)
                } else {
                    (cap_reason.clone(), WaitKind::MaxActiveRuns)
                };
                rows.push(Waiting {
                    run: run.id,
                    workflow: run.workflow,
                    task: None,
                    state: "queued",
                    why,
                    kind,
                    pool: None,
                });
            }
        }
        // Runs being executed: what their tasks wait for.
        for run in executing {
            if !matches!(run.state, RunState::Running { .. }) {
                continue;
            }
            let run = RunEntry::new(run, &*self.owners);
            if let Some(note) = run.orphaned_note() {
                // Nothing of it moves until someone resumes it: that is all it waits for.
                rows.push(Waiting {
                    run: run.record.id,
                    workflow: run.record.workflow,
                    task: None,
                    state: "orphaned",
                    why: note,
                    kind: WaitKind::Orphaned,
                    pool: None,
                });
                continue;
            }
            let run = run.record;
            let pinned = self.pinned_workflow(&run).await?.workflow;
            capped.insert(pinned.name.clone(), pinned.max_active_tasks);
            let owner = match owners.iter().position(|queue| queue.owner == run.owner) {
                Some(found) => found,
                None => {
                    owners.push(OwnerQueue {
                        owner: run.owner,
                        queue: TaskQueue::new(limits.clone()),
                        candidates: Vec::new(),
                    });
                    owners.len() - 1
                }
            };
            let OwnerQueue {
                queue, candidates, ..
            } = &mut owners[owner];
            let instances = self.store.task_instances(run.id).await?;
            // Starts inside a rate window count against it, finished or not.
            for attempt in self.store.attempts(run.id, None).await? {
                if let Some(index) = pinned.index_of(attempt.task.as_str())
                    && let Some(pool) = &pinned.task(index).pool
                    && attempt.finished.is_some()
                {
                    starts.push((pool.clone(), attempt.started_at));
                }
            }
            for (index, (_, instance)) in instances.iter().enumerate() {
                let index = TaskIndex(index as u32);
                let task = pinned.task(index);
                let candidate = |since: Timestamp| Candidate {
                    key: (run.id, index),
                    workflow: pinned.name.clone(),
                    priority: task.priority,
                    pool: task.pool.clone(),
                    pool_slots: task.pool_slots,
                    queued_since: since,
                    sequence: ((run.id.0 as u64) << 32) | u64::from(index.0),
                };
                let waiting = |state: &'static str, why: String, kind: WaitKind| Waiting {
                    run: run.id,
                    workflow: run.workflow.clone(),
                    task: Some(task.name.clone()),
                    state,
                    why,
                    kind,
                    pool: task.pool.clone(),
                };
                match &instance.state {
                    TaskState::Running { started_at, .. } if task.action.holds_a_slot() => {
                        queue.occupy(&candidate(*started_at), *started_at);
                    }
                    TaskState::Queued { since, .. } if task.action.holds_a_slot() => {
                        candidates.push(candidate(*since));
                    }
                    TaskState::Pending => {
                        let upstream: Vec<String> = pinned
                            .dag()
                            .upstream(index)
                            .iter()
                            .filter(|&&up| !instances[up.get()].1.state.is_terminal())
                            .map(|&up| {
                                format!(
                                    "{} {}",
                                    pinned.task(up).name,
                                    instances[up.get()].1.state.name()
                                )
                            })
                            .collect();
                        if !upstream.is_empty() {
                            rows.push(waiting(
                                "pending",
                                format!("upstream {}", upstream.join(", ")),
                                WaitKind::Upstream,
                            ));
                        }
                    }
                    TaskState::UpForRetry { not_before, .. } => rows.push(waiting(
                        "up_for_retry",
                        format!(
                            "retry at {}",
                            local_time::seconds(*not_before, pinned.timezone)
                        ),
                        WaitKind::RetryBackoff,
                    )),
                    TaskState::Running { .. } => rows.push(waiting(
                        "running",
                        "sensor waiting for its condition (holds no slot)".to_owned(),
                        WaitKind::Sensor,
                    )),
                    _ => {}
                }
            }
            workflows.insert(run.id, (run, pinned));
        }
        let admission = admit_by_owner(&mut owners, &capped, &starts, now);
        let queued_task = |run: RunId, index: TaskIndex, why: String, kind: WaitKind| {
            let (record, workflow) = &workflows[&run];
            let task = workflow.task(index);
            Waiting {
                run,
                workflow: record.workflow.clone(),
                task: Some(task.name.clone()),
                state: "queued",
                why,
                kind,
                pool: task.pool.clone(),
            }
        };
        for ((run, index), reason) in admission.waiting {
            let kind = WaitKind::of(&reason);
            let why = match reason {
                WaitReason::RateLimited { pool, until } => {
                    let timezone = workflows[&run].1.timezone;
                    format!(
                        "rate limit {pool} until {}",
                        local_time::seconds(until, timezone)
                    )
                }
                other => other.to_string(),
            };
            rows.push(queued_task(run, index, why, kind));
        }
        for (run, index) in admission.admitted {
            rows.push(queued_task(
                run,
                index,
                "starting".to_owned(),
                WaitKind::Starting,
            ));
        }
        rows.sort_by(|a, b| {
            (a.run, a.task.as_ref().map(TaskName::as_str))
                .cmp(&(b.run, b.task.as_ref().map(TaskName::as_str)))
        });
        Ok(QueueExplanation {
            groups,
            waiting: rows,
        })
    }
}

/// The replay of one owner's task queue: a server admits its own runs' tasks, within its
/// own `parallelism` (one machine's capacity), while pools and `max_active_tasks` hold
/// across every server sharing the store. With one server (the embedded store) there is
/// one of these and the replay is that server's own queue.
struct OwnerQueue {
    owner: Option<ProcessIdentity>,
    queue: TaskQueue<(RunId, TaskIndex)>,
    candidates: Vec<Candidate<(RunId, TaskIndex)>>,
}

/// What the replay of every owner's admission found.
struct Replayed {
    admitted: Vec<(RunId, TaskIndex)>,
    waiting: Vec<((RunId, TaskIndex), WaitReason)>,
}

/// Replays the owners' admissions one after the other: each counts what the others hold
/// (their running tasks, and what the owners replayed before it admitted) as held
/// elsewhere, as its store would when it confirms. Which of two servers confirms first is
/// a race in the real thing; the replay settles it in owner order.
fn admit_by_owner(
    owners: &mut [OwnerQueue],
    capped: &HashMap<WorkflowName, Option<u32>>,
    starts: &[(PoolName, Timestamp)],
    now: Timestamp,
) -> Replayed {
    let pools: Vec<PoolName> = owners
        .first()
        .map(|owner| owner.queue.limits().pools.keys().cloned().collect())
        .unwrap_or_default();
    for owner in owners.iter_mut() {
        for (workflow, limit) in capped {
            owner.queue.set_max_active_tasks(workflow, *limit);
        }
        // A pool's rate is counted over every server's starts.
        for (pool, started_at) in starts {
            owner.queue.record_start(pool, *started_at);
        }
    }
    let mut all = Replayed {
        admitted: Vec::new(),
        waiting: Vec::new(),
    };
    for this in 0..owners.len() {
        let others = || owners.iter().enumerate().filter(move |(at, _)| *at != this);
        let pool_slots = pools
            .iter()
            .map(|pool| {
                let held = others().map(|(_, other)| other.queue.pool_used(pool)).sum();
                (pool.clone(), held)
            })
            .collect();
        let workflow_tasks = capped
            .keys()
            .map(|workflow| {
                let active = others()
                    .map(|(_, other)| other.queue.workflow_active(workflow))
                    .sum();
                (workflow.clone(), active)
            })
            .collect();
        let owner = &mut owners[this];
        owner.queue.hold_elsewhere(pool_slots, workflow_tasks);
        let admission = owner.queue.admit(&owner.candidates, now);
        // What this owner admitted starts now, for the rate windows of those after it.
        let started: Vec<PoolName> = admission
            .admitted
            .iter()
            .filter_map(|key| {
                owner
                    .candidates
                    .iter()
                    .find(|candidate| candidate.key == *key)
                    .and_then(|candidate| candidate.pool.clone())
            })
            .collect();
        for later in owners.iter_mut().skip(this + 1) {
            for pool in &started {
                later.queue.record_start(pool, now);
            }
        }
        all.admitted.extend(admission.admitted);
        all.waiting.extend(admission.waiting);
    }
    all
}
