//! JSON shape of the queue explanation (`tidewater queue --json`).

use serde::Serialize;

use crate::queue_explanation::Waiting;

/// A run or a task that waits, and for what.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WaitingJson {
    pub run: i64,
    pub workflow: String,
    /// `None` for a whole run that waits to start.
    pub task: Option<String>,
    pub state: &'static str,
    pub why: String,
}

impl WaitingJson {
    pub fn new(waiting: &Waiting) -> WaitingJson {
        WaitingJson {
            run: waiting.run.0,
            workflow: waiting.workflow.to_string(),
            task: waiting.task.as_ref().map(ToString::to_string),
            state: waiting.state,
            why: waiting.why.clone(),
        }
    }
}
