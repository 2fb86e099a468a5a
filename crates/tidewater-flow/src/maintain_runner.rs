//! `maintain` tasks: compaction and vacuum of a warehouse table, and pruning when the table
//! is a serving view's stream table with a `retention`.

use std::sync::Arc;

use tidewater_core::MaintainAction;
use tidewater_runner::{AttemptReporter, StartRequest, StartedAttempt, TaskRunner};

use crate::Warehouse;
use crate::attempt_work::AttemptWork;

/// Runs `maintain` tasks: compaction and vacuum.
pub struct MaintainRunner {
    warehouse: Arc<Warehouse>,
}

impl MaintainRunner {
    pub fn new(warehouse: Arc<Warehouse>) -> MaintainRunner {
        MaintainRunner { warehouse }
    }
}

impl TaskRunner<MaintainAction> for MaintainRunner {
    fn start(
        &self,
        action: &MaintainAction,
        request: StartRequest<'_>,
        reporter: AttemptReporter,
    ) -> StartedAttempt {
        let Some(prepared) = AttemptWork::new(&request, reporter) else {
            return StartedAttempt::finished();
        };
        let table = action.table.clone();
        let should_compact = action.should_compact;
        let retention = action.vacuum_retention;
        prepared
            .log
            .note(format!("attempt {}: maintain {table}", request.attempt));
        let warehouse = self.warehouse.clone();
        let now = request.clock.now();
        prepared.spawn(async move {
            let mut notes = Vec::new();
            let mut output = serde_json::Map::new();
            // A view's stream table is pruned first, so that compaction does not rewrite
            // files that are about to be deleted; the view's answer is unchanged by it.
            let views: Vec<_> = warehouse
                .views()
                .iter()
                .filter(|view| view.stream == table && view.retention.is_some())
                .cloned()
                .collect();
            for view in &views {
                let summary = warehouse.prune_stream(view, now).await?;
                notes.push(format!(
                    "pruned {} stream partition(s) covered by {} for {}: {}",
                    summary.partitions.len(),
                    view.batch,
                    view.name,
                    summary.partitions.join(", ")
                ));
                output.insert(
                    "partitions_pruned".to_owned(),
                    summary.partitions.len().into(),
                );
            }
            if should_compact {
                let summary = warehouse.compact(&table).await?;
                notes.push(format!(
                    "compacted: {} files added, {} removed",
                    summary.files_added, summary.files_removed
                ));
                output.insert("files_compacted".to_owned(), summary.files_removed.into());
            }
            if let Some(retention) = retention {
                let summary = warehouse.vacuum(&table, retention, false).await?;
                notes.push(format!("vacuumed: {} files deleted", summary.files.len()));
                output.insert("files_vacuumed".to_owned(), summary.files.len().into());
            }
            Ok((notes.join("; "), serde_json::Value::Object(output)))
        })
    }
}
