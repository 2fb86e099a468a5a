//! [`ControlStore`] for [`SqliteStore`]: backfills, paused workflows, the service's record.

use async_trait::async_trait;
use chrono::NaiveDate;
use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Row, params, params_from_iter};
use tidewater_core::{
    BackfillOrder, ProcessIdentity, RunId, RunQueueKey, TaskName, Timestamp, WorkflowName,
};
use tidewater_store::{
    BackfillId, BackfillRecord, ControlStore, DataChange, EventFilter, EventPage, EventSeq,
    NewBackfill, NewRun, RunCounts, RunCreation, RunParent, RunRecord, ServiceClaim, ServiceRecord,
    StoreError, WorkflowHealth, WorkflowRunCount,
};

use super::SqliteStore;
use super::codec::{
    decode_process, decode_run_state_kind, decode_timestamp, encode_process, encode_timestamp,
};
use super::feed;
use super::rows::{RunRow, select_runs};

/// `SELECT` of every column a [`BackfillRow`] needs, then the rest of the statement.
macro_rules! select_backfills {
    ($rest:literal) => {
        concat!(
            "SELECT id, workflow, range_from, range_to, max_active_runs, reverse, created_at,
                    finished_at FROM backfills ",
            $rest
        )
    };
}

#[async_trait]
impl ControlStore for SqliteStore {
    async fn create_run_once(&self, run: NewRun) -> Result<Option<RunRecord>, StoreError> {
        match self.insert_run(run).await {
            Ok(record) => Ok(Some(record)),
            Err(StoreError::IntervalTaken { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn create_child_run(
        &self,
        parent: &RunParent,
        run: NewRun,
    ) -> Result<RunRecord, StoreError> {
        self.insert_child_run(parent, run).await
    }

    async fn run_parent(&self, id: RunId) -> Result<Option<RunParent>, StoreError> {
        self.link
            .call(move |connection| {
                Ok(connection
                    .prepare_cached(
                        "SELECT parent_run_id, parent_task FROM runs
                         WHERE id = ?1 AND parent_run_id IS NOT NULL",
                    )?
                    .query_row([id.0], |row| {
                        Ok(RunParent {
                            run: RunId(row.get(0)?),
                            task: TaskName::new(row.get::<_, String>(1)?),
                        })
                    })
                    .optional()?)
            })
            .await
    }

    async fn child_runs(&self, id: RunId) -> Result<Vec<(TaskName, RunId)>, StoreError> {
        self.link
            .call(move |connection| {
                Ok(connection
                    .prepare_cached(
                        "SELECT parent_task, id FROM runs WHERE parent_run_id = ?1
                         ORDER BY parent_task",
                    )?
                    .query_map([id.0], |row| {
                        Ok((TaskName::new(row.get::<_, String>(0)?), RunId(row.get(1)?)))
                    })?
                    .collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    async fn active_runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        self.runs_where(
            select_runs!("WHERE state IN ('queued', 'running') ORDER BY interval_start, id"),
            &[],
        )
        .await
    }

    async fn create_run_unless_active(&self, run: NewRun) -> Result<RunCreation, StoreError> {
        self.insert_run_unless_active(run).await
    }

    async fn executing_runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        // Two index searches (`runs_running`, `runs_claimed`); an `OR` would scan the table.
        self.runs_where(
            select_runs!(
                "WHERE state = 'running'
                 UNION SELECT id, workflow, interval_start, interval_end, triggered_by, params,
                    state, started_at, finished_at, workflow_hash, created_at, owner_pid,
                    owner_start_ticks, backfill_id
                 FROM runs WHERE owner_pid IS NOT NULL AND state = 'queued'
                 ORDER BY id"
            ),
            &[],
        )
        .await
    }

    async fn run_queues(&self) -> Result<Vec<RunQueueKey>, StoreError> {
        // Loose index scans: each step jumps to the next distinct key, so a queue of 10,000
        // runs costs one lookup, not 10,000 rows. `INDEXED BY` because without statistics
        // SQLite prefers `runs_by_backfill_state`, which holds every run, not just queued ones.
        let (workflows, backfills) = self
            .link
            .call(|connection| {
                let workflows = connection
                    .prepare_cached(
                        "WITH RECURSIVE queues (workflow) AS (
                             SELECT (SELECT workflow FROM runs INDEXED BY runs_queued_by_workflow
                                     WHERE state = 'queued' AND backfill_id IS NULL
                                     ORDER BY workflow LIMIT 1)
                             UNION ALL
                             SELECT (SELECT workflow FROM runs INDEXED BY runs_queued_by_workflow
                                     WHERE state = 'queued' AND backfill_id IS NULL
                                       AND workflow > queues.workflow
                                     ORDER BY workflow LIMIT 1)
                             FROM queues WHERE queues.workflow IS NOT NULL
                         )
                         SELECT workflow FROM queues WHERE workflow IS NOT NULL",
                    )?
                    .query_map([], |row| row.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                let backfills = connection
                    .prepare_cached(
                        "WITH RECURSIVE queues (backfill_id) AS (
                             SELECT (SELECT backfill_id FROM runs INDEXED BY runs_queued_in_backfill
                                     WHERE state = 'queued' AND backfill_id IS NOT NULL
                                     ORDER BY backfill_id LIMIT 1)
                             UNION ALL
                             SELECT (SELECT backfill_id FROM runs INDEXED BY runs_queued_in_backfill
                                     WHERE state = 'queued' AND backfill_id > queues.backfill_id
                                     ORDER BY backfill_id LIMIT 1)
                             FROM queues WHERE queues.backfill_id IS NOT NULL
                         )
                         SELECT backfill_id FROM queues WHERE backfill_id IS NOT NULL",
                    )?
                    .query_map([], |row| row.get::<_, i64>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((workflows, backfills))
            })
            .await?;
        Ok(workflows
            .into_iter()
            .map(|name| RunQueueKey::Workflow(WorkflowName::new(name)))
            .chain(
                backfills
                    .into_iter()
                    .map(|id| RunQueueKey::Backfill(BackfillId(id))),
            )
            .collect())
    }

    async fn queued_runs(
        &self,
        queue: &RunQueueKey,
        order: BackfillOrder,
        limit: u32,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let limit = i64::from(limit);
        match (queue, order) {
            (RunQueueKey::Workflow(workflow), BackfillOrder::OldestFirst) => {
                self.runs_where(
                    select_runs!(
                        "WHERE state = 'queued' AND backfill_id IS NULL AND workflow = ?1
                         ORDER BY interval_start, id LIMIT ?2"
                    ),
                    &[workflow.as_str().to_owned().into(), limit.into()],
                )
                .await
            }
            (RunQueueKey::Workflow(workflow), BackfillOrder::NewestFirst) => {
                self.runs_where(
                    select_runs!(
                        "WHERE state = 'queued' AND backfill_id IS NULL AND workflow = ?1
                         ORDER BY interval_start DESC, id DESC LIMIT ?2"
                    ),
                    &[workflow.as_str().to_owned().into(), limit.into()],
                )
                .await
            }
            (RunQueueKey::Backfill(backfill), BackfillOrder::OldestFirst) => {
                self.runs_where(
                    select_runs!(
                        "WHERE state = 'queued' AND backfill_id = ?1
                         ORDER BY interval_start, id LIMIT ?2"
                    ),
                    &[backfill.0.into(), limit.into()],
                )
                .await
            }
            (RunQueueKey::Backfill(backfill), BackfillOrder::NewestFirst) => {
                self.runs_where(
                    select_runs!(
                        "WHERE state = 'queued' AND backfill_id = ?1
                         ORDER BY interval_start DESC, id DESC LIMIT ?2"
                    ),
                    &[backfill.0.into(), limit.into()],
                )
                .await
            }
        }
    }

    async fn queued_counts(&self) -> Result<Vec<(RunQueueKey, u64)>, StoreError> {
        // Reads every queued run's index entry: for `tidewater queue`, not for each turn of
        // the scheduler.
        let rows: Vec<(Option<i64>, String, i64)> = self
            .link
            .call(|connection| {
                Ok(connection
                    .prepare_cached(
                        "SELECT NULL, workflow, count(*) FROM runs
                         WHERE state = 'queued' AND backfill_id IS NULL
                         GROUP BY workflow
                         UNION ALL
                         SELECT backfill_id, '', count(*) FROM runs
                         WHERE state = 'queued' AND backfill_id IS NOT NULL
                         GROUP BY backfill_id",
                    )?
                    .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                    .collect::<Result<Vec<_>, _>>()?)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|(backfill, workflow, count)| {
                let key = match backfill {
                    Some(id) => RunQueueKey::Backfill(BackfillId(id)),
                    None => RunQueueKey::Workflow(WorkflowName::new(workflow)),
                };
                (key, u64::try_from(count).unwrap_or(0))
            })
            .collect())
    }

    async fn runs_in_range(
        &self,
        workflow: &WorkflowName,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<RunRecord>, StoreError> {
        self.runs_where(
            select_runs!(
                "WHERE workflow = ?1 AND interval_start >= ?2 AND interval_start < ?3
                 ORDER BY interval_start, id"
            ),
            &[
                workflow.as_str().to_owned().into(),
                encode_timestamp(from).into(),
                encode_timestamp(to).into(),
            ],
        )
        .await
    }

    async fn last_scheduled_end(
        &self,
        workflow: &WorkflowName,
    ) -> Result<Option<Timestamp>, StoreError> {
        let end: Option<i64> = self
            .link
            .call(|connection| {
                Ok(connection
                    .prepare_cached(
                        "SELECT max(interval_end) FROM runs
                         WHERE workflow = ?1 AND triggered_by = 'scheduled'",
                    )?
                    .query_row([workflow.as_str()], |row| row.get(0))?)
            })
            .await?;
        end.map(|end| decode_timestamp(end, "run interval_end"))
            .transpose()
    }

    async fn set_paused(
        &self,
        workflow: &WorkflowName,
        paused: bool,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let changed = self
            .link
            .write(|transaction| {
                Ok(if paused {
                    transaction
                        .prepare_cached(
                            "INSERT INTO paused_workflows (workflow, paused_at) VALUES (?1, ?2)
                             ON CONFLICT (workflow) DO NOTHING",
                        )?
                        .execute(params![workflow.as_str(), encode_timestamp(at)])?
                } else {
                    transaction
                        .prepare_cached("DELETE FROM paused_workflows WHERE workflow = ?1")?
                        .execute([workflow.as_str()])?
                })
            })
            .await?;
        Ok(changed == 1)
    }

    async fn paused_workflows(&self) -> Result<Vec<WorkflowName>, StoreError> {
        self.link
            .call(|connection| {
                Ok(connection
                    .prepare_cached("SELECT workflow FROM paused_workflows ORDER BY workflow")?
                    .query_map([], |row| {
                        row.get(0).map(|name: String| WorkflowName::new(name))
                    })?
                    .collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    async fn create_backfill(&self, backfill: NewBackfill) -> Result<BackfillRecord, StoreError> {
        let from = backfill.from.to_string();
        let to = backfill.to.to_string();
        let row = self
            .link
            .write(|transaction| {
                // Looked up in the write transaction that would insert: two processes giving
                // the same backfill at once get one backfill, and so share its runs.
                let existing = transaction
                    .prepare_cached(select_backfills!(
                        "WHERE workflow = ?1 AND range_from = ?2 AND range_to = ?3
                           AND finished_at IS NULL
                         ORDER BY id DESC LIMIT 1"
                    ))?
                    .query_row(
                        params![backfill.workflow.as_str(), from, to],
                        BackfillRow::read,
                    )
                    .optional()?;
                if let Some(existing) = existing {
                    return Ok(existing);
                }
                Ok(transaction
                    .prepare_cached(concat!(
                        "INSERT INTO backfills (workflow, range_from, range_to, max_active_runs,
                             reverse, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING ",
                        "id, workflow, range_from, range_to, max_active_runs, reverse, created_at,
                         finished_at"
                    ))?
                    .query_row(
                        params![
                            backfill.workflow.as_str(),
                            from,
                            to,
                            i64::from(backfill.max_active_runs),
                            backfill.reverse,
                            encode_timestamp(backfill.created_at),
                        ],
                        BackfillRow::read,
                    )?)
            })
            .await?;
        row.decode()
    }

    async fn backfill(&self, id: BackfillId) -> Result<Option<BackfillRecord>, StoreError> {
        Ok(self
            .backfills_where(select_backfills!("WHERE id = ?1"), &[id.0.into()])
            .await?
            .pop())
    }

    async fn unfinished_backfill(
        &self,
        workflow: &WorkflowName,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Option<BackfillRecord>, StoreError> {
        Ok(self
            .backfills_where(
                select_backfills!(
                    "WHERE workflow = ?1 AND range_from = ?2 AND range_to = ?3
                       AND finished_at IS NULL
                     ORDER BY id DESC LIMIT 1"
                ),
                &[
                    workflow.as_str().to_owned().into(),
                    from.to_string().into(),
                    to.to_string().into(),
                ],
            )
            .await?
            .pop())
    }

    async fn unfinished_backfills(&self) -> Result<Vec<BackfillRecord>, StoreError> {
        self.backfills_where(
            select_backfills!("WHERE finished_at IS NULL ORDER BY id"),
            &[],
        )
        .await
    }

    async fn backfill_runs(&self, id: BackfillId) -> Result<Vec<RunRecord>, StoreError> {
        self.runs_where(
            select_runs!("WHERE backfill_id = ?1 ORDER BY interval_start, id"),
            &[id.0.into()],
        )
        .await
    }

    async fn finish_backfill(&self, id: BackfillId, at: Timestamp) -> Result<(), StoreError> {
        let updated = self
            .link
            .write(|transaction| {
                Ok(transaction
                    .prepare_cached(
                        "UPDATE backfills SET finished_at = coalesce(finished_at, ?2)
                         WHERE id = ?1",
                    )?
                    .execute(params![id.0, encode_timestamp(at)])?)
            })
            .await?;
        if updated == 0 {
            return Err(StoreError::NoSuchBackfill(id));
        }
        Ok(())
    }

    async fn run_counts_by_workflow(&self) -> Result<Vec<WorkflowRunCount>, StoreError> {
        // One pass over the `runs_by_workflow_state` index (it covers both columns), however
        // many runs: 100k runs take a few milliseconds.
        let rows: Vec<(String, String, i64)> = self
            .link
            .call(|connection| {
                Ok(connection
                    .prepare_cached(
                        "SELECT workflow, state, count(*) FROM runs
                         GROUP BY workflow, state ORDER BY workflow, state",
                    )?
                    .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                    .collect::<Result<Vec<_>, _>>()?)
            })
            .await?;
        let mut counts = rows
            .into_iter()
            .map(|(workflow, state, runs)| {
                Ok(WorkflowRunCount {
                    workflow: WorkflowName::new(workflow),
                    state: decode_run_state_kind(&state)?,
                    runs: u64::try_from(runs).unwrap_or(0),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // By the state's order, not its name's.
        counts.sort_by(|a, b| (&a.workflow, a.state).cmp(&(&b.workflow, b.state)));
        Ok(counts)
    }

    async fn recent_runs(
        &self,
        workflows: &[WorkflowName],
        per_workflow: u32,
    ) -> Result<Vec<RunRecord>, StoreError> {
        // For each name, the correlated subquery walks `runs_by_workflow_newest_first` for
        // `per_workflow` entries; a window function over the workflows' runs would read their
        // whole history instead.
        let names = serde_json::Value::Array(
            workflows
                .iter()
                .map(|workflow| serde_json::Value::String(workflow.to_string()))
                .collect(),
        )
        .to_string();
        self.runs_where(
            select_runs!(
                "WHERE id IN (
                   SELECT recent.id FROM json_each(?1) AS names, runs AS recent
                   WHERE recent.id IN (
                     SELECT id FROM runs WHERE workflow = names.value
                     ORDER BY created_at DESC, id DESC LIMIT ?2))
                 ORDER BY workflow, created_at DESC, id DESC"
            ),
            &[names.into(), i64::from(per_workflow).into()],
        )
        .await
    }

    async fn backfill_counts(&self, id: BackfillId) -> Result<RunCounts, StoreError> {
        let counts: [i64; 5] = self
            .link
            .call(|connection| {
                Ok(connection
                    .prepare_cached(
                        "SELECT coalesce(sum(state = 'queued'), 0),
                                coalesce(sum(state = 'running'), 0),
                                coalesce(sum(state = 'succeeded'), 0),
                                coalesce(sum(state = 'failed'), 0),
                                coalesce(sum(state = 'cancelled'), 0)
                         FROM runs WHERE backfill_id = ?1",
                    )?
                    .query_row([id.0], |row| {
                        Ok([
                            row.get(0)?,
                            row.get(1)?,
                            row.get(2)?,
                            row.get(3)?,
                            row.get(4)?,
                        ])
                    })?)
            })
            .await?;
        let count = |value: i64| u64::try_from(value).unwrap_or(0);
        Ok(RunCounts {
            queued: count(counts[0]),
            running: count(counts[1]),
            succeeded: count(counts[2]),
            failed: count(counts[3]),
            cancelled: count(counts[4]),
        })
    }

    async fn finish_backfill_if_done(
        &self,
        id: BackfillId,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        self.link
            .write(|transaction| {
                // The states listed rather than `state != 'succeeded'`: an `IN` list is a few
                // searches of `runs_by_backfill_state`, a `!=` reads every run of the backfill.
                transaction
                    .prepare_cached(
                        "UPDATE backfills SET finished_at = ?2
                         WHERE id = ?1 AND finished_at IS NULL
                           AND NOT EXISTS (
                               SELECT 1 FROM runs WHERE backfill_id = ?1
                                 AND state IN ('queued', 'running', 'failed', 'cancelled'))",
                    )?
                    .execute(params![id.0, encode_timestamp(at)])?;
                Ok(transaction
                    .prepare_cached("SELECT finished_at IS NOT NULL FROM backfills WHERE id = ?1")?
                    .query_row([id.0], |row| row.get::<_, bool>(0))
                    .optional()?)
            })
            .await?
            .ok_or(StoreError::NoSuchBackfill(id))
    }

    async fn claim_service(
        &self,
        expected: Option<ProcessIdentity>,
        me: ProcessIdentity,
        at: Timestamp,
    ) -> Result<ServiceClaim, StoreError> {
        let (pid, ticks) = encode_process(me);
        self.link
            .write(|transaction| {
                let current = transaction
                    .prepare_cached(SELECT_SERVICE)?
                    .query_row([], ServiceRow::read)
                    .optional()?
                    .map(ServiceRow::decode)
                    .transpose()?;
                if let Some(current) = current
                    && Some(current.process) != expected
                    && current.process != me
                {
                    return Ok(ServiceClaim::Held(current));
                }
                transaction
                    .prepare_cached(
                        "INSERT INTO service (id, pid, start_ticks, started_at, updated_at)
                         VALUES (1, ?1, ?2, ?3, ?3)
                         ON CONFLICT (id) DO UPDATE SET pid = ?1, start_ticks = ?2,
                             started_at = ?3, updated_at = ?3",
                    )?
                    .execute(params![pid, ticks, encode_timestamp(at)])?;
                Ok(ServiceClaim::Claimed)
            })
            .await
    }

    async fn release_service(&self, me: ProcessIdentity) -> Result<(), StoreError> {
        let (pid, ticks) = encode_process(me);
        self.link
            .write(|transaction| {
                transaction
                    .prepare_cached("DELETE FROM service WHERE pid = ?1 AND start_ticks = ?2")?
                    .execute(params![pid, ticks])?;
                transaction
                    .prepare_cached("DELETE FROM service_workflows")?
                    .execute([])?;
                Ok(())
            })
            .await
    }

    async fn service(&self) -> Result<Option<ServiceRecord>, StoreError> {
        let row = self
            .link
            .call(|connection| {
                Ok(connection
                    .prepare_cached(SELECT_SERVICE)?
                    .query_row([], ServiceRow::read)
                    .optional()?)
            })
            .await?;
        row.map(ServiceRow::decode).transpose()
    }

    async fn publish_health(
        &self,
        files: &[WorkflowHealth],
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let rows = serde_json::Value::Array(
            files
                .iter()
                .map(|file| {
                    serde_json::json!({
                        "file": file.file,
                        "workflow": file.workflow.as_ref().map(WorkflowName::as_str),
                        "hash": file.workflow_hash,
                        "next_due": file.next_due.map(encode_timestamp),
                        "problem": file.problem,
                    })
                })
                .collect(),
        )
        .to_string();
        self.link
            .write(|transaction| {
                transaction
                    .prepare_cached("DELETE FROM service_workflows")?
                    .execute([])?;
                transaction
                    .prepare_cached(
                        "INSERT INTO service_workflows (file, workflow, workflow_hash, next_due,
                             problem)
                         SELECT value ->> 'file', value ->> 'workflow', value ->> 'hash',
                                value ->> 'next_due', value ->> 'problem'
                         FROM json_each(?1)",
                    )?
                    .execute([&rows])?;
                transaction
                    .prepare_cached("UPDATE service SET updated_at = ?1 WHERE id = 1")?
                    .execute([encode_timestamp(at)])?;
                Ok(())
            })
            .await
    }

    async fn workflow_health(&self) -> Result<Vec<WorkflowHealth>, StoreError> {
        type HealthRow = (
            String,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<String>,
        );
        let rows: Vec<HealthRow> = self
            .link
            .call(|connection| {
                Ok(connection
                    .prepare_cached(
                        "SELECT file, workflow, workflow_hash, next_due, problem
                         FROM service_workflows ORDER BY file",
                    )?
                    .query_map([], |row| {
                        Ok((
                            row.get(0)?,
                            row.get(1)?,
                            row.get(2)?,
                            row.get(3)?,
                            row.get(4)?,
                        ))
                    })?
                    .collect::<Result<Vec<_>, _>>()?)
            })
            .await?;
        rows.into_iter()
            .map(|(file, workflow, workflow_hash, next_due, problem)| {
                Ok(WorkflowHealth {
                    file,
                    workflow: workflow.map(WorkflowName::new),
                    workflow_hash,
                    next_due: next_due
                        .map(|due| decode_timestamp(due, "service next_due"))
                        .transpose()?,
                    problem,
                })
            })
            .collect()
    }

    async fn request_cancel(&self, run: RunId, at: Timestamp) -> Result<bool, StoreError> {
        self.link
            .write(|transaction| {
                transaction
                    .prepare_cached(
                        "INSERT INTO cancel_requests (run_id, requested_at)
                         SELECT id, ?2 FROM runs WHERE id = ?1 AND state IN ('queued', 'running')
                         ON CONFLICT (run_id) DO NOTHING",
                    )?
                    .execute(params![run.0, encode_timestamp(at)])?;
                Ok(transaction
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM cancel_requests WHERE run_id = ?1)",
                    )?
                    .query_row([run.0], |row| row.get(0))?)
            })
            .await
    }

    async fn events_after(
        &self,
        after: EventSeq,
        filter: &EventFilter,
        limit: u32,
    ) -> Result<EventPage, StoreError> {
        self.link
            .call(|connection| feed::read_events(connection, after, filter, limit))
            .await
    }

    async fn last_event(&self) -> Result<EventSeq, StoreError> {
        self.link.call(feed::last_event).await
    }

    async fn prune_events(&self, keep: u64) -> Result<(), StoreError> {
        self.link
            .call(|connection| feed::prune(connection, keep))
            .await
    }

    async fn cancel_requests(&self) -> Result<Vec<RunId>, StoreError> {
        self.link
            .call(|connection| {
                Ok(connection
                    .prepare_cached("SELECT run_id FROM cancel_requests ORDER BY run_id")?
                    .query_map([], |row| row.get(0).map(RunId))?
                    .collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    async fn create_data_run(
        &self,
        run: NewRun,
        change: &DataChange,
    ) -> Result<Option<RunRecord>, StoreError> {
        self.insert_data_run(run, change).await
    }

    async fn data_cursor(
        &self,
        workflow: &WorkflowName,
        source: &str,
    ) -> Result<Option<i64>, StoreError> {
        self.read_data_cursor(workflow, source).await
    }

    async fn set_data_cursor(
        &self,
        workflow: &WorkflowName,
        source: &str,
        position: i64,
    ) -> Result<(), StoreError> {
        self.write_data_cursor(workflow, source, position).await
    }
}

impl SqliteStore {
    /// The runs a [`select_runs`] statement finds.
    async fn runs_where(
        &self,
        statement: &str,
        parameters: &[Value],
    ) -> Result<Vec<RunRecord>, StoreError> {
        let rows = self.rows_where(statement, parameters, RunRow::read).await?;
        rows.into_iter().map(RunRow::decode).collect()
    }

    /// The backfills a [`select_backfills`] statement finds.
    async fn backfills_where(
        &self,
        statement: &str,
        parameters: &[Value],
    ) -> Result<Vec<BackfillRecord>, StoreError> {
        let rows = self
            .rows_where(statement, parameters, BackfillRow::read)
            .await?;
        rows.into_iter().map(BackfillRow::decode).collect()
    }

    async fn rows_where<R>(
        &self,
        statement: &str,
        parameters: &[Value],
        read: fn(&Row<'_>) -> rusqlite::Result<R>,
    ) -> Result<Vec<R>, StoreError> {
        self.link
            .call(|connection| {
                Ok(connection
                    .prepare_cached(statement)?
                    .query_map(params_from_iter(parameters), read)?
                    .collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }
}

const SELECT_SERVICE: &str =
    "SELECT pid, start_ticks, started_at, updated_at FROM service WHERE id = 1";

struct BackfillRow {
    id: i64,
    workflow: String,
    range_from: String,
    range_to: String,
    max_active_runs: i64,
    reverse: bool,
    created_at: i64,
    finished_at: Option<i64>,
}

impl BackfillRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<BackfillRow> {
        Ok(BackfillRow {
            id: row.get("id")?,
            workflow: row.get("workflow")?,
            range_from: row.get("range_from")?,
            range_to: row.get("range_to")?,
            max_active_runs: row.get("max_active_runs")?,
            reverse: row.get("reverse")?,
            created_at: row.get("created_at")?,
            finished_at: row.get("finished_at")?,
        })
    }

    fn decode(self) -> Result<BackfillRecord, StoreError> {
        let date = |text: &str| {
            text.parse::<NaiveDate>().map_err(|_| StoreError::Corrupt {
                what: "backfill range",
                value: text.to_owned(),
            })
        };
        Ok(BackfillRecord {
            id: BackfillId(self.id),
            workflow: WorkflowName::new(self.workflow),
            from: date(&self.range_from)?,
            to: date(&self.range_to)?,
            max_active_runs: u32::try_from(self.max_active_runs).map_err(|_| {
                StoreError::Corrupt {
                    what: "backfill max_active_runs",
                    value: self.max_active_runs.to_string(),
                }
            })?,
            reverse: self.reverse,
            created_at: decode_timestamp(self.created_at, "backfill created_at")?,
            finished_at: self
                .finished_at
                .map(|at| decode_timestamp(at, "backfill finished_at"))
                .transpose()?,
        })
    }
}

/// The row of [`SELECT_SERVICE`].
struct ServiceRow {
    pid: i32,
    start_ticks: i64,
    started_at: i64,
    updated_at: i64,
}

impl ServiceRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<ServiceRow> {
        Ok(ServiceRow {
            pid: row.get(0)?,
            start_ticks: row.get(1)?,
            started_at: row.get(2)?,
            updated_at: row.get(3)?,
        })
    }

    fn decode(self) -> Result<ServiceRecord, StoreError> {
        Ok(ServiceRecord {
            process: decode_process(Some(self.pid), Some(self.start_ticks))?.ok_or(
                StoreError::Corrupt {
                    what: "service process",
                    value: String::new(),
                },
            )?,
            started_at: decode_timestamp(self.started_at, "service started_at")?,
            updated_at: decode_timestamp(self.updated_at, "service updated_at")?,
        })
    }
}
