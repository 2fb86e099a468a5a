//! [`ControlStore`] for [`PostgresStore`]: backfills, paused workflows, the service's record.
//! The statements are SQLite's (`tidewater-sqlite`'s `control.rs`) in PostgreSQL's dialect;
//! where SQLite's single writer made a read-then-write safe, an advisory lock does here.

use async_trait::async_trait;
use chrono::NaiveDate;
use tidewater_core::{
    BackfillOrder, ProcessIdentity, RunId, RunQueueKey, TaskName, Timestamp, WorkflowName,
};
use tidewater_store::{
    BackfillId, BackfillRecord, ControlStore, DataChange, EventFilter, EventPage, EventSeq,
    NewBackfill, NewRun, RunCounts, RunCreation, RunParent, RunRecord, ServiceClaim, ServiceRecord,
    StoreError, WorkflowHealth, WorkflowRunCount,
};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::codec::{
    decode_process, decode_run_state_kind, decode_timestamp, encode_process, encode_timestamp,
};
use super::failure::OrStore;
use super::feed;
use super::rows::{read_run, select_runs};
use super::{PostgresStore, lock_feed};

macro_rules! select_backfills {
    ($rest:literal) => {
        concat!(
            "SELECT id, workflow, range_from, range_to, max_active_runs, reverse, created_at,
                    finished_at FROM backfills ",
            $rest
        )
    };
}

/// The advisory lock (with the schema's hash) under which a backfill is looked up and
/// created, so two processes giving the same backfill at once get one.
const BACKFILL_LOCK: i32 = 1952540018;
/// The advisory lock under which the service's record is compared and set.
const SERVICE_LOCK: i32 = 1952540019;

#[async_trait]
impl ControlStore for PostgresStore {
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
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT parent_run_id, parent_task FROM runs
                 WHERE id = $1 AND parent_run_id IS NOT NULL",
                &[&id.0],
            )
            .await
            .db()?;
        row.map(|row| {
            Ok(RunParent {
                run: RunId(row.try_get(0).db()?),
                task: TaskName::new(row.try_get::<_, String>(1).db()?),
            })
        })
        .transpose()
    }

    async fn child_runs(&self, id: RunId) -> Result<Vec<(TaskName, RunId)>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT parent_task, id FROM runs WHERE parent_run_id = $1 ORDER BY parent_task",
                &[&id.0],
            )
            .await
            .db()?;
        rows.iter()
            .map(|row| {
                Ok((
                    TaskName::new(row.try_get::<_, String>(0).db()?),
                    RunId(row.try_get(1).db()?),
                ))
            })
            .collect()
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
        // Loose index scans, as in SQLite: each step jumps to the next distinct key of the
        // partial index, so a queue of 10,000 runs costs one lookup.
        let client = self.pool.get().await?;
        let workflows = client
            .query(
                "WITH RECURSIVE queues (workflow) AS (
                     SELECT (SELECT workflow FROM runs
                             WHERE state = 'queued' AND backfill_id IS NULL
                             ORDER BY workflow LIMIT 1)
                     UNION ALL
                     SELECT (SELECT workflow FROM runs
                             WHERE state = 'queued' AND backfill_id IS NULL
                               AND workflow > queues.workflow
                             ORDER BY workflow LIMIT 1)
                     FROM queues WHERE queues.workflow IS NOT NULL
                 )
                 SELECT workflow FROM queues WHERE workflow IS NOT NULL",
                &[],
            )
            .await
            .db()?;
        let backfills = client
            .query(
                "WITH RECURSIVE queues (backfill_id) AS (
                     SELECT (SELECT backfill_id FROM runs
                             WHERE state = 'queued' AND backfill_id IS NOT NULL
                             ORDER BY backfill_id LIMIT 1)
                     UNION ALL
                     SELECT (SELECT backfill_id FROM runs
                             WHERE state = 'queued' AND backfill_id > queues.backfill_id
                             ORDER BY backfill_id LIMIT 1)
                     FROM queues WHERE queues.backfill_id IS NOT NULL
                 )
                 SELECT backfill_id FROM queues WHERE backfill_id IS NOT NULL",
                &[],
            )
            .await
            .db()?;
        let mut queues = Vec::with_capacity(workflows.len() + backfills.len());
        for row in &workflows {
            queues.push(RunQueueKey::Workflow(WorkflowName::new(
                row.try_get::<_, String>(0).db()?,
            )));
        }
        for row in &backfills {
            queues.push(RunQueueKey::Backfill(BackfillId(row.try_get(0).db()?)));
        }
        Ok(queues)
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
                        "WHERE state = 'queued' AND backfill_id IS NULL AND workflow = $1
                         ORDER BY interval_start, id LIMIT $2"
                    ),
                    &[&workflow.as_str(), &limit],
                )
                .await
            }
            (RunQueueKey::Workflow(workflow), BackfillOrder::NewestFirst) => {
                self.runs_where(
                    select_runs!(
                        "WHERE state = 'queued' AND backfill_id IS NULL AND workflow = $1
                         ORDER BY interval_start DESC, id DESC LIMIT $2"
                    ),
                    &[&workflow.as_str(), &limit],
                )
                .await
            }
            (RunQueueKey::Backfill(backfill), BackfillOrder::OldestFirst) => {
                self.runs_where(
                    select_runs!(
                        "WHERE state = 'queued' AND backfill_id = $1
                         ORDER BY interval_start, id LIMIT $2"
                    ),
                    &[&backfill.0, &limit],
                )
                .await
            }
            (RunQueueKey::Backfill(backfill), BackfillOrder::NewestFirst) => {
                self.runs_where(
                    select_runs!(
                        "WHERE state = 'queued' AND backfill_id = $1
                         ORDER BY interval_start DESC, id DESC LIMIT $2"
                    ),
                    &[&backfill.0, &limit],
                )
                .await
            }
        }
    }

    async fn queued_counts(&self) -> Result<Vec<(RunQueueKey, u64)>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT backfill_id, workflow, runs FROM (
                     SELECT NULL::BIGINT AS backfill_id, workflow, count(*) AS runs FROM runs
                     WHERE state = 'queued' AND backfill_id IS NULL
                     GROUP BY workflow
                     UNION ALL
                     SELECT backfill_id, '', count(*) FROM runs
                     WHERE state = 'queued' AND backfill_id IS NOT NULL
                     GROUP BY backfill_id
                 ) AS queues
                 ORDER BY backfill_id NULLS FIRST, workflow",
                &[],
            )
            .await
            .db()?;
        rows.iter()
            .map(|row| {
                let backfill: Option<i64> = row.try_get(0).db()?;
                let key = match backfill {
                    Some(id) => RunQueueKey::Backfill(BackfillId(id)),
                    None => {
                        RunQueueKey::Workflow(WorkflowName::new(row.try_get::<_, String>(1).db()?))
                    }
                };
                Ok((key, count(row.try_get(2).db()?)))
            })
            .collect()
    }

    async fn runs_in_range(
        &self,
        workflow: &WorkflowName,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<RunRecord>, StoreError> {
        self.runs_where(
            select_runs!(
                "WHERE workflow = $1 AND interval_start >= $2 AND interval_start < $3
                 ORDER BY interval_start, id"
            ),
            &[
                &workflow.as_str(),
                &encode_timestamp(from),
                &encode_timestamp(to),
            ],
        )
        .await
    }

    async fn last_scheduled_end(
        &self,
        workflow: &WorkflowName,
    ) -> Result<Option<Timestamp>, StoreError> {
        let client = self.pool.get().await?;
        let end: Option<i64> = client
            .query_one(
                "SELECT max(interval_end) FROM runs
                 WHERE workflow = $1 AND triggered_by = 'scheduled'",
                &[&workflow.as_str()],
            )
            .await
            .db()?
            .try_get(0)
            .db()?;
        end.map(|end| decode_timestamp(end, "run interval_end"))
            .transpose()
    }

    async fn set_paused(
        &self,
        workflow: &WorkflowName,
        paused: bool,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let client = self.pool.get().await?;
        let changed = if paused {
            client
                .execute(
                    "INSERT INTO paused_workflows (workflow, paused_at) VALUES ($1, $2)
                     ON CONFLICT (workflow) DO NOTHING",
                    &[&workflow.as_str(), &encode_timestamp(at)],
                )
                .await
                .db()?
        } else {
            client
                .execute(
                    "DELETE FROM paused_workflows WHERE workflow = $1",
                    &[&workflow.as_str()],
                )
                .await
                .db()?
        };
        Ok(changed == 1)
    }

    async fn paused_workflows(&self) -> Result<Vec<WorkflowName>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT workflow FROM paused_workflows ORDER BY workflow",
                &[],
            )
            .await
            .db()?;
        rows.iter()
            .map(|row| Ok(WorkflowName::new(row.try_get::<_, String>(0).db()?)))
            .collect()
    }

    async fn create_backfill(&self, backfill: NewBackfill) -> Result<BackfillRecord, StoreError> {
        let from = backfill.from.to_string();
        let to = backfill.to.to_string();
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await.db()?;
        transaction
            .execute(
                "SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))",
                &[&BACKFILL_LOCK],
            )
            .await
            .db()?;
        let existing = transaction
            .query_opt(
                select_backfills!(
                    "WHERE workflow = $1 AND range_from = $2 AND range_to = $3
                       AND finished_at IS NULL
                     ORDER BY id DESC LIMIT 1"
                ),
                &[&backfill.workflow.as_str(), &from, &to],
            )
            .await
            .db()?;
        let row = match existing {
            Some(row) => row,
            None => transaction
                .query_one(
                    concat!(
                        "INSERT INTO backfills (workflow, range_from, range_to, max_active_runs,
                             reverse, created_at)
                         VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
                        "id, workflow, range_from, range_to, max_active_runs, reverse, created_at,
                         finished_at"
                    ),
                    &[
                        &backfill.workflow.as_str(),
                        &from,
                        &to,
                        &i64::from(backfill.max_active_runs),
                        &backfill.reverse,
                        &encode_timestamp(backfill.created_at),
                    ],
                )
                .await
                .db()?,
        };
        transaction.commit().await.db()?;
        read_backfill(&row)
    }

    async fn backfill(&self, id: BackfillId) -> Result<Option<BackfillRecord>, StoreError> {
        Ok(self
            .backfills_where(select_backfills!("WHERE id = $1"), &[&id.0])
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
                    "WHERE workflow = $1 AND range_from = $2 AND range_to = $3
                       AND finished_at IS NULL
                     ORDER BY id DESC LIMIT 1"
                ),
                &[&workflow.as_str(), &from.to_string(), &to.to_string()],
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
            select_runs!("WHERE backfill_id = $1 ORDER BY interval_start, id"),
            &[&id.0],
        )
        .await
    }

    async fn finish_backfill(&self, id: BackfillId, at: Timestamp) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        let updated = client
            .execute(
                "UPDATE backfills SET finished_at = coalesce(finished_at, $2) WHERE id = $1",
                &[&id.0, &encode_timestamp(at)],
            )
            .await
            .db()?;
        if updated == 0 {
            return Err(StoreError::NoSuchBackfill(id));
        }
        Ok(())
    }

    async fn run_counts_by_workflow(&self) -> Result<Vec<WorkflowRunCount>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT workflow, state, count(*) FROM runs GROUP BY workflow, state",
                &[],
            )
            .await
            .db()?;
        let mut counts = rows
            .iter()
            .map(|row| {
                Ok(WorkflowRunCount {
                    workflow: WorkflowName::new(row.try_get::<_, String>(0).db()?),
                    state: decode_run_state_kind(row.try_get(1).db()?)?,
                    runs: count(row.try_get(2).db()?),
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
        // A lateral join walks `runs_by_workflow_newest_first` for `per_workflow` entries of
        // each name; a window function would read the workflows' whole history instead.
        let names: Vec<&str> = workflows.iter().map(WorkflowName::as_str).collect();
        self.runs_where(
            select_runs!(
                "WHERE id IN (
                   SELECT recent.id FROM unnest($1::TEXT[]) AS names (name)
                   CROSS JOIN LATERAL (
                     SELECT id FROM runs WHERE workflow = names.name
                     ORDER BY created_at DESC, id DESC LIMIT $2) AS recent)
                 ORDER BY workflow, created_at DESC, id DESC"
            ),
            &[&names, &i64::from(per_workflow)],
        )
        .await
    }

    async fn backfill_counts(&self, id: BackfillId) -> Result<RunCounts, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                "SELECT count(*) FILTER (WHERE state = 'queued'),
                        count(*) FILTER (WHERE state = 'running'),
                        count(*) FILTER (WHERE state = 'succeeded'),
                        count(*) FILTER (WHERE state = 'failed'),
                        count(*) FILTER (WHERE state = 'cancelled')
                 FROM runs WHERE backfill_id = $1",
                &[&id.0],
            )
            .await
            .db()?;
        Ok(RunCounts {
            queued: count(row.try_get(0).db()?),
            running: count(row.try_get(1).db()?),
            succeeded: count(row.try_get(2).db()?),
            failed: count(row.try_get(3).db()?),
            cancelled: count(row.try_get(4).db()?),
        })
    }

    async fn finish_backfill_if_done(
        &self,
        id: BackfillId,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await.db()?;
        // The check and the mark under the feed's lock, which creating a run and `apply`
        // hold: no run of the backfill is created or changes state in between.
        lock_feed(&transaction).await?;
        transaction
            .execute(
                "UPDATE backfills SET finished_at = $2
                 WHERE id = $1 AND finished_at IS NULL
                   AND NOT EXISTS (
                       SELECT 1 FROM runs WHERE backfill_id = $1
                         AND state IN ('queued', 'running', 'failed', 'cancelled'))",
                &[&id.0, &encode_timestamp(at)],
            )
            .await
            .db()?;
        let finished = transaction
            .query_opt(
                "SELECT finished_at IS NOT NULL FROM backfills WHERE id = $1",
                &[&id.0],
            )
            .await
            .db()?;
        transaction.commit().await.db()?;
        match finished {
            Some(row) => row.try_get(0).db(),
            None => Err(StoreError::NoSuchBackfill(id)),
        }
    }

    async fn claim_service(
        &self,
        expected: Option<ProcessIdentity>,
        me: ProcessIdentity,
        at: Timestamp,
    ) -> Result<ServiceClaim, StoreError> {
        let (pid, ticks) = encode_process(me);
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await.db()?;
        // The record may be missing, and a missing row cannot be locked: the compare and the
        // set happen under an advisory lock instead, so two claimers take turns.
        transaction
            .execute(
                "SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))",
                &[&SERVICE_LOCK],
            )
            .await
            .db()?;
        let current = transaction
            .query_opt(SELECT_SERVICE, &[])
            .await
            .db()?
            .map(|row| read_service(&row))
            .transpose()?;
        if let Some(current) = current
            && Some(current.process) != expected
            && current.process != me
        {
            return Ok(ServiceClaim::Held(current));
        }
        transaction
            .execute(
                "INSERT INTO service (id, pid, start_ticks, started_at, updated_at)
                 VALUES (1, $1, $2, $3, $3)
                 ON CONFLICT (id) DO UPDATE SET pid = $1, start_ticks = $2,
                     started_at = $3, updated_at = $3",
                &[&pid, &ticks, &encode_timestamp(at)],
            )
            .await
            .db()?;
        transaction.commit().await.db()?;
        Ok(ServiceClaim::Claimed)
    }

    async fn release_service(&self, me: ProcessIdentity) -> Result<(), StoreError> {
        let (pid, ticks) = encode_process(me);
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await.db()?;
        transaction
            .execute(
                "DELETE FROM service WHERE pid = $1 AND start_ticks = $2",
                &[&pid, &ticks],
            )
            .await
            .db()?;
        transaction
            .execute("DELETE FROM service_workflows", &[])
            .await
            .db()?;
        transaction.commit().await.db()
    }

    async fn service(&self) -> Result<Option<ServiceRecord>, StoreError> {
        let client = self.pool.get().await?;
        client
            .query_opt(SELECT_SERVICE, &[])
            .await
            .db()?
            .map(|row| read_service(&row))
            .transpose()
    }

    async fn publish_health(
        &self,
        files: &[WorkflowHealth],
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await.db()?;
        transaction
            .execute("DELETE FROM service_workflows", &[])
            .await
            .db()?;
        let insert = transaction
            .prepare(
                "INSERT INTO service_workflows (file, workflow, workflow_hash, next_due, problem)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .await
            .db()?;
        for file in files {
            transaction
                .execute(
                    &insert,
                    &[
                        &file.file,
                        &file.workflow.as_ref().map(WorkflowName::as_str),
                        &file.workflow_hash,
                        &file.next_due.map(encode_timestamp),
                        &file.problem,
                    ],
                )
                .await
                .db()?;
        }
        transaction
            .execute(
                "UPDATE service SET updated_at = $1 WHERE id = 1",
                &[&encode_timestamp(at)],
            )
            .await
            .db()?;
        transaction.commit().await.db()
    }

    async fn workflow_health(&self) -> Result<Vec<WorkflowHealth>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT file, workflow, workflow_hash, next_due, problem
                 FROM service_workflows ORDER BY file",
                &[],
            )
            .await
            .db()?;
        rows.iter()
            .map(|row| {
                let next_due: Option<i64> = row.try_get(3).db()?;
                Ok(WorkflowHealth {
                    file: row.try_get(0).db()?,
                    workflow: row
                        .try_get::<_, Option<String>>(1)
                        .db()?
                        .map(WorkflowName::new),
                    workflow_hash: row.try_get(2).db()?,
                    next_due: next_due
                        .map(|due| decode_timestamp(due, "service next_due"))
                        .transpose()?,
                    problem: row.try_get(4).db()?,
                })
            })
            .collect()
    }

    async fn request_cancel(&self, run: RunId, at: Timestamp) -> Result<bool, StoreError> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await.db()?;
        // Under the feed's lock, which every `apply` holds: a request never lands between an
        // `apply` that ends the run (its trigger deleting the run's requests) and its commit,
        // where it would outlive the run.
        lock_feed(&transaction).await?;
        transaction
            .execute(
                "INSERT INTO cancel_requests (run_id, requested_at)
                 SELECT id, $2 FROM runs WHERE id = $1 AND state IN ('queued', 'running')
                 ON CONFLICT (run_id) DO NOTHING",
                &[&run.0, &encode_timestamp(at)],
            )
            .await
            .db()?;
        let requested: bool = transaction
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM cancel_requests WHERE run_id = $1)",
                &[&run.0],
            )
            .await
            .db()?
            .try_get(0)
            .db()?;
        transaction.commit().await.db()?;
        Ok(requested)
    }

    async fn cancel_requests(&self) -> Result<Vec<RunId>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query("SELECT run_id FROM cancel_requests ORDER BY run_id", &[])
            .await
            .db()?;
        rows.iter()
            .map(|row| Ok(RunId(row.try_get(0).db()?)))
            .collect()
    }

    async fn events_after(
        &self,
        after: EventSeq,
        filter: &EventFilter,
        limit: u32,
    ) -> Result<EventPage, StoreError> {
        let mut client = self.pool.get().await?;
        feed::read_events(&mut client, after, filter, limit).await
    }

    async fn last_event(&self) -> Result<EventSeq, StoreError> {
        let client = self.pool.get().await?;
        feed::last_event(&*client).await
    }

    async fn prune_events(&self, keep: u64) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        feed::prune(&*client, keep).await
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

impl PostgresStore {
    /// The runs a [`select_runs`] statement finds.
    async fn runs_where(
        &self,
        statement: &str,
        parameters: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<RunRecord>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client.query(statement, parameters).await.db()?;
        rows.iter().map(read_run).collect()
    }

    async fn backfills_where(
        &self,
        statement: &str,
        parameters: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<BackfillRecord>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client.query(statement, parameters).await.db()?;
        rows.iter().map(read_backfill).collect()
    }
}

/// A `count(*)`, never negative.
fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

const SELECT_SERVICE: &str =
    "SELECT pid, start_ticks, started_at, updated_at FROM service WHERE id = 1";

fn read_service(row: &Row) -> Result<ServiceRecord, StoreError> {
    Ok(ServiceRecord {
        process: decode_process(Some(row.try_get(0).db()?), Some(row.try_get(1).db()?))?.ok_or(
            StoreError::Corrupt {
                what: "service process",
                value: String::new(),
            },
        )?,
        started_at: decode_timestamp(row.try_get(2).db()?, "service started_at")?,
        updated_at: decode_timestamp(row.try_get(3).db()?, "service updated_at")?,
    })
}

fn read_backfill(row: &Row) -> Result<BackfillRecord, StoreError> {
    let date = |text: String| {
        text.parse::<NaiveDate>().map_err(|_| StoreError::Corrupt {
            what: "backfill range",
            value: text,
        })
    };
    let max_active_runs: i64 = row.try_get(4).db()?;
    let finished_at: Option<i64> = row.try_get(7).db()?;
    Ok(BackfillRecord {
        id: BackfillId(row.try_get(0).db()?),
        workflow: WorkflowName::new(row.try_get::<_, String>(1).db()?),
        from: date(row.try_get(2).db()?)?,
        to: date(row.try_get(3).db()?)?,
        max_active_runs: u32::try_from(max_active_runs).map_err(|_| StoreError::Corrupt {
            what: "backfill max_active_runs",
            value: max_active_runs.to_string(),
        })?,
        reverse: row.try_get(5).db()?,
        created_at: decode_timestamp(row.try_get(6).db()?, "backfill created_at")?,
        finished_at: finished_at
            .map(|at| decode_timestamp(at, "backfill finished_at"))
            .transpose()?,
    })
}
