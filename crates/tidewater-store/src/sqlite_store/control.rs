//! [`ControlStore`] for [`SqliteStore`]: backfills, paused workflows, the service's record.

use async_trait::async_trait;
use chrono::NaiveDate;
use tidewater_core::{ProcessIdentity, RunId, Timestamp, WorkflowName};

use super::SqliteStore;
use super::codec::{decode_process, decode_timestamp, encode_process, encode_timestamp};
use super::rows::RunRow;
use crate::{
    BackfillId, BackfillRecord, ControlStore, NewBackfill, NewRun, RunRecord, ServiceClaim,
    ServiceRecord, StoreError, WorkflowHealth,
};

/// `SELECT` of every column a [`RunRow`] needs, then the rest of the statement (a literal:
/// statements are static text).
macro_rules! select_runs {
    ($rest:literal) => {
        concat!(
            "SELECT id, workflow, interval_start, interval_end, triggered_by, params, state,
                    started_at, finished_at, workflow_hash, created_at, owner_pid,
                    owner_start_ticks, backfill_id FROM runs ",
            $rest
        )
    };
}

/// The same for a [`BackfillRow`].
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
        let rows: Vec<RunRow> = sqlx::query_as(select_runs!(
            "WHERE state IN ('queued', 'running')
             ORDER BY interval_start, id"
        ))
        .fetch_all(&self.readers)
        .await?;
        rows.into_iter().map(RunRow::decode).collect()
    }

    async fn runs_in_range(
        &self,
        workflow: &WorkflowName,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let rows: Vec<RunRow> = sqlx::query_as(select_runs!(
            "WHERE workflow = ?1 AND interval_start >= ?2 AND interval_start < ?3
             ORDER BY interval_start, id"
        ))
        .bind(workflow.as_str())
        .bind(encode_timestamp(from))
        .bind(encode_timestamp(to))
        .fetch_all(&self.readers)
        .await?;
        rows.into_iter().map(RunRow::decode).collect()
    }

    async fn last_scheduled_end(
        &self,
        workflow: &WorkflowName,
    ) -> Result<Option<Timestamp>, StoreError> {
        let end: Option<i64> = sqlx::query_scalar(
            "SELECT max(interval_end) FROM runs WHERE workflow = ?1 AND triggered_by = 'scheduled'",
        )
        .bind(workflow.as_str())
        .fetch_one(&self.readers)
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
        let mut transaction = self.begin_write().await?;
        let changed = if paused {
            sqlx::query(
                "INSERT INTO paused_workflows (workflow, paused_at) VALUES (?1, ?2)
                 ON CONFLICT (workflow) DO NOTHING",
            )
            .bind(workflow.as_str())
            .bind(encode_timestamp(at))
            .execute(&mut *transaction)
            .await?
        } else {
            sqlx::query("DELETE FROM paused_workflows WHERE workflow = ?1")
                .bind(workflow.as_str())
                .execute(&mut *transaction)
                .await?
        }
        .rows_affected();
        transaction.commit().await?;
        Ok(changed == 1)
    }

    async fn paused_workflows(&self) -> Result<Vec<WorkflowName>, StoreError> {
        let names: Vec<String> =
            sqlx::query_scalar("SELECT workflow FROM paused_workflows ORDER BY workflow")
                .fetch_all(&self.readers)
                .await?;
        Ok(names.into_iter().map(WorkflowName::new).collect())
    }

    async fn create_backfill(&self, backfill: NewBackfill) -> Result<BackfillRecord, StoreError> {
        let mut transaction = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO backfills (workflow, range_from, range_to, max_active_runs, reverse,
                 created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        )
        .bind(backfill.workflow.as_str())
        .bind(backfill.from.to_string())
        .bind(backfill.to.to_string())
        .bind(i64::from(backfill.max_active_runs))
        .bind(backfill.reverse)
        .bind(encode_timestamp(backfill.created_at))
        .fetch_one(&mut *transaction)
        .await?;
        transaction.commit().await?;
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
        let row: Option<BackfillRow> = sqlx::query_as(select_backfills!("WHERE id = ?1"))
            .bind(id.0)
            .fetch_optional(&self.readers)
            .await?;
        row.map(BackfillRow::decode).transpose()
    }

    async fn unfinished_backfill(
        &self,
        workflow: &WorkflowName,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Option<BackfillRecord>, StoreError> {
        let row: Option<BackfillRow> = sqlx::query_as(select_backfills!(
            "WHERE workflow = ?1 AND range_from = ?2 AND range_to = ?3 AND finished_at IS NULL
             ORDER BY id DESC LIMIT 1"
        ))
        .bind(workflow.as_str())
        .bind(from.to_string())
        .bind(to.to_string())
        .fetch_optional(&self.readers)
        .await?;
        row.map(BackfillRow::decode).transpose()
    }

    async fn unfinished_backfills(&self) -> Result<Vec<BackfillRecord>, StoreError> {
        let rows: Vec<BackfillRow> =
            sqlx::query_as(select_backfills!("WHERE finished_at IS NULL ORDER BY id"))
                .fetch_all(&self.readers)
                .await?;
        rows.into_iter().map(BackfillRow::decode).collect()
    }

    async fn backfill_runs(&self, id: BackfillId) -> Result<Vec<RunRecord>, StoreError> {
        let rows: Vec<RunRow> = sqlx::query_as(select_runs!(
            "WHERE backfill_id = ?1 ORDER BY interval_start, id"
        ))
        .bind(id.0)
        .fetch_all(&self.readers)
        .await?;
        rows.into_iter().map(RunRow::decode).collect()
    }

    async fn finish_backfill(&self, id: BackfillId, at: Timestamp) -> Result<(), StoreError> {
        let mut transaction = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE backfills SET finished_at = coalesce(finished_at, ?2) WHERE id = ?1",
        )
        .bind(id.0)
        .bind(encode_timestamp(at))
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        transaction.commit().await?;
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
        let mut transaction = self.begin_write().await?;
        let current: Option<ServiceRow> = sqlx::query_as(
            "SELECT pid, start_ticks, started_at, updated_at FROM service WHERE id = 1",
        )
        .fetch_optional(&mut *transaction)
        .await?;
        let current = current.map(ServiceRow::decode).transpose()?;
        if let Some(current) = current
            && Some(current.process) != expected
            && current.process != me
        {
            return Ok(ServiceClaim::Held(current));
        }
        sqlx::query(
            "INSERT INTO service (id, pid, start_ticks, started_at, updated_at)
             VALUES (1, ?1, ?2, ?3, ?3)
             ON CONFLICT (id) DO UPDATE SET pid = ?1, start_ticks = ?2, started_at = ?3,
                 updated_at = ?3",
        )
        .bind(pid)
        .bind(ticks)
        .bind(encode_timestamp(at))
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(ServiceClaim::Claimed)
    }

    async fn release_service(&self, me: ProcessIdentity) -> Result<(), StoreError> {
        let (pid, ticks) = encode_process(me);
        let mut transaction = self.begin_write().await?;
        sqlx::query("DELETE FROM service WHERE pid = ?1 AND start_ticks = ?2")
            .bind(pid)
            .bind(ticks)
            .execute(&mut *transaction)
            .await?;
        sqlx::query("DELETE FROM service_workflows")
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(())
    }

    async fn service(&self) -> Result<Option<ServiceRecord>, StoreError> {
        let row: Option<ServiceRow> = sqlx::query_as(
            "SELECT pid, start_ticks, started_at, updated_at FROM service WHERE id = 1",
        )
        .fetch_optional(&self.readers)
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
        let mut transaction = self.begin_write().await?;
        sqlx::query("DELETE FROM service_workflows")
            .execute(&mut *transaction)
            .await?;
        sqlx::query(
            "INSERT INTO service_workflows (file, workflow, workflow_hash, next_due, problem)
             SELECT value ->> 'file', value ->> 'workflow', value ->> 'hash',
                    value ->> 'next_due', value ->> 'problem'
             FROM json_each(?1)",
        )
        .bind(rows)
        .execute(&mut *transaction)
        .await?;
        sqlx::query("UPDATE service SET updated_at = ?1 WHERE id = 1")
            .bind(encode_timestamp(at))
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(())
    }

    async fn workflow_health(&self) -> Result<Vec<WorkflowHealth>, StoreError> {
        let rows: Vec<(
            String,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<String>,
        )> = sqlx::query_as(
            "SELECT file, workflow, workflow_hash, next_due, problem
                 FROM service_workflows ORDER BY file",
        )
        .fetch_all(&self.readers)
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
        let mut transaction = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO cancel_requests (run_id, requested_at)
             SELECT id, ?2 FROM runs WHERE id = ?1 AND state IN ('queued', 'running')
             ON CONFLICT (run_id) DO NOTHING",
        )
        .bind(run.0)
        .bind(encode_timestamp(at))
        .execute(&mut *transaction)
        .await?;
        let requested: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM cancel_requests WHERE run_id = ?1)")
                .bind(run.0)
                .fetch_one(&mut *transaction)
                .await?;
        transaction.commit().await?;
        Ok(requested)
    }

    async fn cancel_requests(&self) -> Result<Vec<RunId>, StoreError> {
        let ids: Vec<i64> =
            sqlx::query_scalar("SELECT run_id FROM cancel_requests ORDER BY run_id")
                .fetch_all(&self.readers)
                .await?;
        Ok(ids.into_iter().map(RunId).collect())
    }
}

#[derive(sqlx::FromRow)]
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

#[derive(sqlx::FromRow)]
struct ServiceRow {
    pid: i32,
    start_ticks: i64,
    started_at: i64,
    updated_at: i64,
}

impl ServiceRow {
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
