//! `tidewater queue`: what waits and why, read from the store: the queue's admission rules
//! are replayed over the running tasks of every active run.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;
use tidewater_core::{
    Candidate, RunId, RunState, TaskIndex, TaskQueue, TaskState, Timestamp, Workflow,
};
use tidewater_store::{ControlStore, RunRecord, RunStore};

use crate::Outcome;
use crate::args::QueueArgs;
use crate::commands::runs::orphaned_note;
use crate::project_context::ProjectContext;
use crate::service_client::live_service;
use crate::{local_time, output};

#[derive(Debug, Serialize)]
struct WaitingJson {
    run: i64,
    workflow: String,
    /// `None` for a whole run that waits to start.
    task: Option<String>,
    state: &'static str,
    why: String,
}

pub async fn queue(project: &Path, args: QueueArgs) -> anyhow::Result<Outcome> {
    let context = ProjectContext::open(project).await?;
    let now = chrono::Utc::now();
    let service = live_service(&context.store).await?;
    let active = context.store.active_runs().await?;
    let backfills: HashMap<_, _> = context
        .store
        .unfinished_backfills()
        .await?
        .into_iter()
        .map(|backfill| (backfill.id, backfill))
        .collect();
    let mut queue = TaskQueue::<(RunId, TaskIndex)>::new(context.queue_limits(args.parallelism));
    let mut rows = Vec::new();
    let mut candidates = Vec::new();
    let mut running_runs: HashMap<String, u32> = HashMap::new();
    let mut running_backfill: HashMap<i64, u32> = HashMap::new();
    let mut workflows: HashMap<RunId, (RunRecord, Workflow)> = HashMap::new();
    for run in &active {
        if let RunState::Running { .. } = run.state {
            match run.backfill {
                Some(backfill) => *running_backfill.entry(backfill.0).or_default() += 1,
                None => *running_runs.entry(run.workflow.to_string()).or_default() += 1,
            }
        }
    }
    for run in active {
        let pinned = context.pinned_workflow(&run).await?.workflow;
        if let RunState::Queued = run.state {
            let why = match run.backfill.and_then(|id| backfills.get(&id)) {
                Some(backfill)
                    if running_backfill.get(&backfill.id.0).copied().unwrap_or(0)
                        >= backfill.max_active_runs =>
                {
                    format!(
                        "backfill {} max_active_runs {} reached",
                        backfill.id, backfill.max_active_runs
                    )
                }
                None if running_runs
                    .get(run.workflow.as_str())
                    .copied()
                    .unwrap_or(0)
                    >= pinned.max_active_runs =>
                {
                    format!("max_active_runs {} reached", pinned.max_active_runs)
                }
                _ if service.is_none() => "no server is running to start it".to_owned(),
                _ => "starting".to_owned(),
            };
            rows.push(WaitingJson {
                run: run.id.0,
                workflow: run.workflow.to_string(),
                task: None,
                state: "queued",
                why,
            });
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
    } else if rows.is_empty() {
        output::note("nothing is waiting");
    } else {
        let table: Vec<Vec<String>> = rows
            .iter()
            .map(|row| {
                vec![
                    row.run.to_string(),
                    row.workflow.clone(),
                    row.task.clone().unwrap_or_else(|| "(run)".to_owned()),
                    row.state.to_owned(),
                    row.why.clone(),
                ]
            })
            .collect();
        output::data(output::table(
            &["RUN", "WORKFLOW", "TASK", "STATE", "WAITING FOR"],
            &table,
        ));
    }
    Ok(Outcome::Success)
}
