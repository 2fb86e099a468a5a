//! `tidewater queue`: what waits and why, read from the store. Queued runs are grouped per
//! queue (a workflow's, a backfill's) by the service's own admission rule; the task queue's
//! admission rules are replayed over the tasks of every running run.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;
use tidewater_core::{
    Candidate, RunId, RunQueueKey, RunState, TaskIndex, TaskQueue, TaskState, Timestamp, Workflow,
};
use tidewater_engine::{LocalProcesses, count_active, is_alive, read_queue};
use tidewater_store::RunRecord;

use crate::Outcome;
use crate::args::QueueArgs;
use crate::commands::runs::orphaned_note;
use crate::output;
use tidewater_control::local_time;

#[derive(Debug, Serialize)]
struct WaitingJson {
    run: i64,
    workflow: String,
    /// `None` for a whole run that waits to start.
    task: Option<String>,
    state: &'static str,
    why: String,
}

/// The queued runs of one queue that wait for the same thing.
struct QueuedGroup {
    workflow: String,
    /// The first few, in start order.
    first: Vec<RunId>,
    count: u64,
    why: String,
}

/// How many run ids a group of queued runs shows; `--json` lists every run.
const IDS_SHOWN: usize = 5;

pub(super) async fn queue(project: &Path, args: QueueArgs) -> anyhow::Result<Outcome> {
    let context = crate::project_context::open(project).await?;
    let now = chrono::Utc::now();
    let service = context.live_service().await?;
    let mut queue = TaskQueue::<(RunId, TaskIndex)>::new(context.queue_limits(args.parallelism));
    let mut rows = Vec::new();
    let mut groups = Vec::new();
    let mut candidates = Vec::new();
    let mut workflows: HashMap<RunId, (RunRecord, Workflow)> = HashMap::new();
    // Queued runs: the service's own rule over the head of each queue (`read_queue`,
    // `RunQueue::admit`), so that what this says starts next is what the server starts. Only
    // the heads are read: a backfill of 10,000 runs costs as little as one of ten.
    let executing = context.store.executing_runs().await?;
    let active = count_active(&executing, &LocalProcesses);
    let starting_why = if service.is_none() {
        "no server is running to start it"
    } else {
        "starting"
    };
    // Per queue: the runs that start next, and why the others wait.
    let mut why_of_queued: Vec<(RunQueueKey, Vec<RunId>, String)> = Vec::new();
    for (key, count) in context.store.queued_counts().await? {
        let running = active.get(&key).copied().unwrap_or(0);
        let run_queue = read_queue(
            &*context.store,
            key.clone(),
            |workflow| {
                // The current version, as the server schedules it (a broken file: the
                // server keeps its last good version, which only it knows; 1 here).
                context
                    .project
                    .load_workflow(workflow.as_str())
                    .ok()
                    .map(|loaded| loaded.workflow.max_active_runs)
            },
            running,
            |run| run.owner.is_some_and(is_alive),
        )
        .await?;
        let workflow = match &key {
            RunQueueKey::Workflow(workflow) => workflow.to_string(),
            RunQueueKey::Backfill(backfill) => context
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
            });
        }
        if waiting_count > 0 {
            groups.push(QueuedGroup {
                workflow: workflow.clone(),
                // The rule needs only the heads up to the cap; the first waiting ones are
                // read past them.
                first: context
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
            });
        }
        why_of_queued.push((key, starting, cap_reason));
    }
    if args.json {
        // Complete: every queued run, each with why it waits.
        for run in context.store.active_runs().await? {
            if run.state != RunState::Queued {
                continue;
            }
            let key = RunQueueKey::of(&run.workflow, run.backfill);
            let Some((_, starting, cap_reason)) = why_of_queued.iter().find(|(k, ..)| *k == key)
            else {
                continue;
            };
            let why = if run.owner.is_some_and(is_alive) {
                "starting".to_owned()
            } else if starting.contains(&run.id) {
                starting_why.to_owned()
            } else {
                cap_reason.clone()
            };
            rows.push(WaitingJson {
                run: run.id.0,
                workflow: run.workflow.to_string(),
                task: None,
                state: "queued",
                why,
            });
        }
    }
    // Runs being executed: what their tasks wait for.
    for run in executing {
        if !matches!(run.state, RunState::Running { .. }) {
            continue;
        }
        if let Some(note) = orphaned_note(&run) {
            // Nothing of it moves until someone resumes it: that is all it waits for.
            rows.push(WaitingJson {
                run: run.id.0,
                workflow: run.workflow.to_string(),
                task: None,
                state: "orphaned",
                why: note,
            });
            continue;
        }
        let pinned = context.pinned_workflow(&run).await?.workflow;
        queue.set_max_active_tasks(&pinned.name, pinned.max_active_tasks);
        let instances = context.store.task_instances(run.id).await?;
        // Starts inside a rate window count against it, finished or not.
        for attempt in context.store.attempts(run.id, None).await? {
            if let Some(index) = pinned.index_of(attempt.task.as_str())
                && let Some(pool) = &pinned.task(index).pool
                && attempt.finished.is_some()
            {
                queue.record_start(pool, attempt.started_at);
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
                        rows.push(WaitingJson {
                            run: run.id.0,
                            workflow: run.workflow.to_string(),
                            task: Some(task.name.to_string()),
                            state: "pending",
                            why: format!("upstream {}", upstream.join(", ")),
                        });
                    }
                }
                TaskState::UpForRetry { not_before, .. } => rows.push(WaitingJson {
                    run: run.id.0,
                    workflow: run.workflow.to_string(),
                    task: Some(task.name.to_string()),
                    state: "up_for_retry",
                    why: format!(
                        "retry at {}",
                        local_time::seconds(*not_before, pinned.timezone)
                    ),
                }),
                TaskState::Running { .. } => rows.push(WaitingJson {
                    run: run.id.0,
                    workflow: run.workflow.to_string(),
                    task: Some(task.name.to_string()),
                    state: "running",
                    why: "sensor waiting for its condition (holds no slot)".to_owned(),
                }),
                _ => {}
            }
        }
        workflows.insert(run.id, (run, pinned));
    }
    let admission = queue.admit(&candidates, now);
    for ((run, index), reason) in admission.waiting {
        let (record, workflow) = &workflows[&run];
        rows.push(WaitingJson {
            run: run.0,
            workflow: record.workflow.to_string(),
            task: Some(workflow.task(index).name.to_string()),
            state: "queued",
            why: match reason {
                tidewater_core::WaitReason::RateLimited { pool, until } => {
                    format!(
                        "rate limit {pool} until {}",
                        local_time::seconds(until, workflow.timezone)
                    )
                }
                other => other.to_string(),
            },
        });
    }
    for (run, index) in admission.admitted {
        let (record, workflow) = &workflows[&run];
        rows.push(WaitingJson {
            run: run.0,
            workflow: record.workflow.to_string(),
            task: Some(workflow.task(index).name.to_string()),
            state: "queued",
            why: "starting".to_owned(),
        });
    }
    rows.sort_by(|a, b| (a.run, &a.task).cmp(&(b.run, &b.task)));
    if args.json {
        output::json(&rows)?;
    } else if rows.is_empty() && groups.is_empty() {
        output::note("nothing is waiting");
    } else {
        // Queued runs one line per queue and reason, with their first ids; then each task.
        let mut table: Vec<Vec<String>> = groups
            .iter()
            .map(|group| {
                let mut ids: Vec<String> = group.first.iter().map(ToString::to_string).collect();
                if group.count > group.first.len() as u64 {
                    ids.push("…".to_owned());
                }
                vec![
                    ids.join(", "),
                    group.workflow.clone(),
                    if group.count == 1 {
                        "(run)".to_owned()
                    } else {
                        format!("({} runs)", group.count)
                    },
                    "queued".to_owned(),
                    group.why.clone(),
                ]
            })
            .collect();
        table.extend(rows.iter().map(|row| {
            vec![
                row.run.to_string(),
                row.workflow.clone(),
                row.task.clone().unwrap_or_else(|| "(run)".to_owned()),
                row.state.to_owned(),
                row.why.clone(),
            ]
        }));
        output::data(output::table(
            &["RUN", "WORKFLOW", "TASK", "STATE", "WAITING FOR"],
            &table,
        ));
    }
    Ok(Outcome::Success)
}
