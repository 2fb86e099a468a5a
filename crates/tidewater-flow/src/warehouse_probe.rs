//! The probe a `wait` task on a table partition asks.

use std::sync::Arc;

use tidewater_runner::PartitionProbe;

use crate::{FlowError, TableName, Warehouse};

/// Answers `wait` tasks on a table partition: does it have rows yet?
pub struct WarehouseProbe {
    warehouse: Arc<Warehouse>,
}

impl WarehouseProbe {
    pub fn new(warehouse: Arc<Warehouse>) -> WarehouseProbe {
        WarehouseProbe { warehouse }
    }
}

#[async_trait::async_trait]
impl PartitionProbe for WarehouseProbe {
    async fn has_partition(
        &self,
        table: &str,
        partition: &[(String, String)],
    ) -> Result<bool, String> {
        // The engine's probe contract names the table as text; it was a `TableName` in the
        // task, so this parse only fails for a caller outside Tidewater.
        let name: TableName = table.parse().map_err(|error| format!("{error}"))?;
        let condition: Vec<String> = partition
            .iter()
            .map(|(column, value)| {
                format!(
                    "CAST(\"{}\" AS VARCHAR) = '{}'",
                    column.replace('"', "\"\""),
                    value.replace('\'', "''")
                )
            })
            .collect();
        let sql = format!(
            "SELECT 1 FROM {name} WHERE {} LIMIT 1",
            condition.join(" AND ")
        );
        match self.warehouse.query(&sql).await {
            Ok(batches) => Ok(batches.iter().any(|batch| batch.num_rows() > 0)),
            // A table that does not exist yet has no partition yet.
            Err(FlowError::UnknownTable { .. }) => Ok(false),
            Err(error) => Err(error.to_string()),
        }
    }
}
