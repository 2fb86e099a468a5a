//! The data-aware schedules' part of [`tidewater_store::ControlStore`] for
//! [`PostgresStore`]: the upstream changes each workflow consumed and how far it looked.

use tidewater_core::WorkflowName;
use tidewater_store::{DataChange, NewRun, RunRecord, StoreError};

use super::failure::OrStore;
use super::{NewRunRow, PostgresStore, lock_feed};

impl PostgresStore {
    /// `create_data_run`: the consumed change is looked up under the feed's lock, which
    /// every creation of a run takes, so two services racing cannot both create it (and the
    /// primary key of `data_changes` would refuse the second).
    pub(super) async fn insert_data_run(
        &self,
        run: NewRun,
        change: &DataChange,
    ) -> Result<Option<RunRecord>, StoreError> {
        let row = NewRunRow::encode(&run);
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await.db()?;
        lock_feed(&transaction).await?;
        let consumed = transaction
            .query_opt(
                "SELECT 1 FROM data_changes
                 WHERE workflow = $1 AND source = $2 AND change = $3 AND partition = $4",
                &[
                    &run.workflow.as_str(),
                    &change.source.as_str(),
                    &change.change,
                    &change.partition.as_str(),
                ],
            )
            .await
            .db()?;
        if consumed.is_some() {
            return Ok(None);
        }
        let id = row.insert(&transaction, &run).await?;
        transaction
            .execute(
                "INSERT INTO data_changes (workflow, source, change, partition, run_id)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &run.workflow.as_str(),
                    &change.source.as_str(),
                    &change.change,
                    &change.partition.as_str(),
                    &id,
                ],
            )
            .await
            .db()?;
        transaction.commit().await.db()?;
        Ok(Some(row.record(run, id)))
    }

    pub(super) async fn read_data_cursor(
        &self,
        workflow: &WorkflowName,
        source: &str,
    ) -> Result<Option<i64>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT position FROM data_cursors WHERE workflow = $1 AND source = $2",
                &[&workflow.as_str(), &source],
            )
            .await
            .db()?;
        row.map(|row| row.try_get(0).db()).transpose()
    }

    pub(super) async fn write_data_cursor(
        &self,
        workflow: &WorkflowName,
        source: &str,
        position: i64,
    ) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO data_cursors (workflow, source, position) VALUES ($1, $2, $3)
                 ON CONFLICT (workflow, source) DO UPDATE SET position = excluded.position",
                &[&workflow.as_str(), &source, &position],
            )
            .await
            .db()?;
        Ok(())
    }
}
