/// Answers whether a table partition has data. Implemented where tables are known
/// (`tidewater-flow`), so that the engine stays free of the query engine.
#[async_trait::async_trait]
pub trait PartitionProbe: Send + Sync {
    async fn has_partition(
        &self,
        table: &str,
        partition: &[(String, String)],
    ) -> Result<bool, String>;
}
