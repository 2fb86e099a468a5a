use tidewater_core::{DataInterval, WorkflowName};

/// Answers whether another workflow has a succeeded run of a data interval, for
/// `wait: { workflow }`. The engine's `StoreRunProbe` asks the run store.
#[async_trait::async_trait]
pub trait RunProbe: Send + Sync {
    async fn has_succeeded_run(
        &self,
        workflow: &WorkflowName,
        interval: DataInterval,
    ) -> Result<bool, String>;
}
