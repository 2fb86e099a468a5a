//! The data-aware schedules' part of [`tidewater_store::ControlStore`] for [`SqliteStore`]:
//! the upstream changes each workflow consumed (`data_changes`) and how far it looked at each
//! source (`data_cursors`), migration 0013.

use rusqlite::{OptionalExtension, params};
use tidewater_core::WorkflowName;
use tidewater_store::{DataChange, NewRun, RunRecord, StoreError};

use super::{NewRunRow, SqliteStore};

impl SqliteStore {
    /// `create_data_run`: the consumed change is looked up in the write transaction that
    /// creates the run and records it, so two services racing, or one looking again after a
    /// kill, cannot both create it.
    pub(super) async fn insert_data_run(
        &self,
        run: NewRun,
        change: &DataChange,
    ) -> Result<Option<RunRecord>, StoreError> {
        let row = NewRunRow::encode(&run);
        let inserted = self
            .link
            .write(|transaction| {
                let key = params![
                    run.workflow.as_str(),
                    change.source.as_str(),
                    change.change,
                    change.partition.as_str(),
                ];
                let consumed = transaction
                    .prepare_cached(
                        "SELECT 1 FROM data_changes
                         WHERE workflow = ?1 AND source = ?2 AND change = ?3 AND partition = ?4",
                    )?
                    .query_row(key, |_| Ok(()))
                    .optional()?;
                if consumed.is_some() {
                    return Ok(None);
                }
                let id = row.insert(transaction, &run)?;
                transaction
                    .prepare_cached(
                        "INSERT INTO data_changes (workflow, source, change, partition, run_id)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                    )?
                    .execute(params![
                        run.workflow.as_str(),
                        change.source.as_str(),
                        change.change,
                        change.partition.as_str(),
                        id,
                    ])?;
                Ok(Some(id))
            })
            .await?;
        Ok(inserted.map(|id| row.record(run, id)))
    }

    pub(super) async fn read_data_cursor(
        &self,
        workflow: &WorkflowName,
        source: &str,
    ) -> Result<Option<i64>, StoreError> {
        self.link
            .call(|connection| {
                Ok(connection
                    .prepare_cached(
                        "SELECT position FROM data_cursors WHERE workflow = ?1 AND source = ?2",
                    )?
                    .query_row(params![workflow.as_str(), source], |row| row.get(0))
                    .optional()?)
            })
            .await
    }

    pub(super) async fn write_data_cursor(
        &self,
        workflow: &WorkflowName,
        source: &str,
        position: i64,
    ) -> Result<(), StoreError> {
        self.link
            .write(|transaction| {
                transaction
                    .prepare_cached(
                        "INSERT INTO data_cursors (workflow, source, position) VALUES (?1, ?2, ?3)
                         ON CONFLICT (workflow, source) DO UPDATE SET position = excluded.position",
                    )?
                    .execute(params![workflow.as_str(), source, position])?;
                Ok(())
            })
            .await
    }
}
