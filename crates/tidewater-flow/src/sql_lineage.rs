//! The lineage of one `sql` attempt: what it reads and writes, sent as it starts and ends.

use std::sync::Arc;

use tidewater_core::{AttemptOutcome, FailureReason, TableName};
use tidewater_runner::{
    AttemptLog, Clock, LineageAttempt, LineageDataset, LineageEvent, LineageEventKind, LineageSink,
    StartRequest,
};
use tokio::task::JoinHandle;

use crate::Warehouse;

/// One attempt's lineage: its start event is sent beside the query (a slow lineage server
/// does not delay the query), and its end event after the start event was delivered, so
/// that the two arrive in order.
pub(crate) struct SqlLineage {
    sink: Arc<dyn LineageSink>,
    clock: Arc<dyn Clock>,
    attempt: LineageAttempt,
    sql: String,
    inputs: Vec<LineageDataset>,
    outputs: Vec<LineageDataset>,
}

/// The start event on its way.
pub(crate) struct StartDelivery(JoinHandle<Result<(), String>>);

impl SqlLineage {
    /// The lineage of the attempt `request` starts, running `sql` and writing into
    /// `output`. The inputs are the tables the query names; a query that does not parse
    /// has none (its attempt fails at once, and its end event says why).
    pub(crate) fn new(
        sink: Arc<dyn LineageSink>,
        warehouse: &Warehouse,
        request: &StartRequest<'_>,
        sql: &str,
        output: Option<&TableName>,
    ) -> SqlLineage {
        let named = |table: &TableName| dataset(warehouse, table);
        SqlLineage {
            sink,
            clock: request.clock.clone(),
            attempt: LineageAttempt {
                workflow: request.template.workflow.clone(),
                task: request.task.name.clone(),
                run_id: request.template.run_id,
                attempt: request.attempt,
                started_at: request.clock.now(),
                interval: request.template.interval,
            },
            sql: sql.to_owned(),
            inputs: warehouse
                .tables_read(sql)
                .unwrap_or_default()
                .iter()
                .map(named)
                .collect(),
            outputs: output.map(named).into_iter().collect(),
        }
    }

    pub(crate) fn send_start(&self) -> StartDelivery {
        let event = self.event(LineageEventKind::Start, self.attempt.started_at);
        let sink = self.sink.clone();
        StartDelivery(tokio::spawn(async move { sink.send(&event).await }))
    }

    /// Sends the end event for `outcome` once the start event is delivered (or given up);
    /// what was not delivered is noted in `log`, and the attempt goes on as it ended.
    pub(crate) async fn send_end(
        self,
        start: StartDelivery,
        outcome: &AttemptOutcome,
        log: &AttemptLog,
    ) {
        let delivered = start.0.await.unwrap_or_else(|error| {
            Err(format!(
                "its delivery ended early ({error}); this is a bug in tidewater, please report it"
            ))
        });
        if let Err(error) = delivered {
            log.note(format!(
                "lineage: the START event was not delivered: {error}"
            ));
        }
        let kind = match outcome {
            AttemptOutcome::Succeeded { .. } => LineageEventKind::Complete,
            AttemptOutcome::Failed {
                reason: FailureReason::Cancelled,
            } => LineageEventKind::Abort,
            AttemptOutcome::Failed { reason } => LineageEventKind::Fail {
                message: reason.to_string(),
            },
        };
        let name = match kind {
            LineageEventKind::Start => "START",
            LineageEventKind::Complete => "COMPLETE",
            LineageEventKind::Fail { .. } => "FAIL",
            LineageEventKind::Abort => "ABORT",
        };
        let event = self.event(kind, self.clock.now());
        if let Err(error) = self.sink.send(&event).await {
            log.note(format!(
                "lineage: the {name} event was not delivered: {error}"
            ));
        }
    }

    fn event(&self, kind: LineageEventKind, event_time: tidewater_core::Timestamp) -> LineageEvent {
        LineageEvent {
            kind,
            event_time,
            attempt: self.attempt.clone(),
            sql: self.sql.clone(),
            inputs: self.inputs.clone(),
            outputs: self.outputs.clone(),
        }
    }
}

/// `table` as OpenLineage's naming conventions name a location: a local folder is namespace
/// `file` and its absolute path; an object store is `scheme://bucket` and the key prefix.
/// So the same Delta table is the same dataset to every producer (Spark names it so too).
fn dataset(warehouse: &Warehouse, table: &TableName) -> LineageDataset {
    let url = warehouse.table_url(table);
    let (namespace, name) = match url.to_file_path() {
        Ok(path) if url.scheme() == "file" => (
            "file".to_owned(),
            path.display().to_string().trim_end_matches('/').to_owned(),
        ),
        _ => (
            format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default()),
            url.path().trim_matches('/').to_owned(),
        ),
    };
    LineageDataset {
        namespace,
        name,
        table: table.clone(),
        warehouse: warehouse.location().trim_end_matches('/').to_owned(),
    }
}
