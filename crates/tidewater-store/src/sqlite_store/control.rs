//! [`ControlStore`] for [`SqliteStore`]: backfills, paused workflows, the service's record.

use async_trait::async_trait;
use chrono::NaiveDate;
use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Row, params, params_from_iter};
use tidewater_core::{ProcessIdentity, RunId, Timestamp, WorkflowName};

use super::SqliteStore;
use super::codec::{decode_process, decode_timestamp, encode_process, encode_timestamp};
use super::rows::{RunRow, select_runs};
use crate::{
    BackfillId, BackfillRecord, ControlStore, NewBackfill, NewRun, RunRecord, ServiceClaim,
    ServiceRecord, StoreError, WorkflowHealth,
};

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

    async fn active_runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        self.runs_where(
            select_runs!("WHERE state IN ('queued', 'running') ORDER BY interval_start, id"),
            &[],
        )
        .await
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
        let id: i64 = self
            .link
            .write(|transaction| {
                Ok(transaction
                    .prepare_cached(
                        "INSERT INTO backfills (workflow, range_from, range_to, max_active_runs,
                             reverse, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
                    )?
                    .query_row(
                        params![
                            backfill.workflow.as_str(),
                            backfill.from.to_string(),
                            backfill.to.to_string(),
                            i64::from(backfill.max_active_runs),
                            backfill.reverse,
                            encode_timestamp(backfill.created_at),
                        ],
                        |row| row.get(0),
                    )?)
            })
            .await?;
        Ok(BackfillRecord {
            id: BackfillId(id),
            workflow: backfill.workflow,
            from: backfill.from,
            to: backfill.to,
            max_active_runs: backfill.max_active_runs,
            reverse: backfill.reverse,
            created_at: backfill.created_at,
            finished_at: None,
        })
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
