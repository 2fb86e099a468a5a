//! The read model behind the events stream (`GET /api/v1/events`): the store's change feed
//! after a sequence number, for one run or workflow if asked, in the JSON shapes of
//! [`crate::json::EventJson`].

use tidewater_core::{RunId, WorkflowName};
use tidewater_store::{EventFilter, EventPage, EventSeq};

use crate::Control;
use crate::control_error::{ControlError, ControlResult};
use crate::json::EventJson;

/// The most events one read of the feed returns: a stream resuming far behind catches up a
/// page at a time.
pub const EVENT_PAGE: u32 = 500;

/// What a reader of the feed asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventRequest {
    /// Resume after this sequence number; `None`: only what happens from now on.
    pub after: Option<i64>,
    pub run: Option<i64>,
    pub workflow: Option<String>,
}

/// A checked request: where to start and what to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventCursor {
    pub after: EventSeq,
    pub filter: EventFilter,
}

/// One read of the feed, as JSON: the events (or a reset), and the `after` of the next read.
#[derive(Debug)]
pub struct EventBatch {
    pub events: Vec<EventJson>,
    pub next: EventSeq,
}

impl Control {
    /// Checks a request to follow the feed: a negative sequence number is invalid, an unknown
    /// run is not found (a workflow name only filters: a workflow without events yet is not
    /// an error). Without `after`, the cursor starts at the newest event.
    pub async fn follow_events(&self, request: &EventRequest) -> ControlResult<EventCursor> {
        let after = match request.after {
            Some(after) if after < 0 => {
                return Err(ControlError::Invalid(format!(
                    "an event id is a number from 0, not {after}"
                )));
            }
            Some(after) => EventSeq(after),
            None => self.store.last_event().await?,
        };
        if let Some(run) = request.run {
            self.run_record(RunId(run)).await?;
        }
        if let Some(workflow) = &request.workflow
            && workflow.trim().is_empty()
        {
            return Err(ControlError::Invalid(
                "`workflow` names a workflow; it cannot be empty".to_owned(),
            ));
        }
        Ok(EventCursor {
            after,
            filter: EventFilter {
                run: request.run.map(RunId),
                workflow: request.workflow.clone().map(WorkflowName::new),
            },
        })
    }

    /// The events after the cursor, at most [`EVENT_PAGE`]. A reader behind the events the
    /// store keeps gets one `reset` event and goes on from the newest.
    pub async fn read_events(&self, cursor: &EventCursor) -> ControlResult<EventBatch> {
        match self
            .store
            .events_after(cursor.after, &cursor.filter, EVENT_PAGE)
            .await?
        {
            EventPage::Events { events, through } => Ok(EventBatch {
                events: events.iter().map(EventJson::new).collect(),
                next: through,
            }),
            EventPage::Reset { latest } => Ok(EventBatch {
                events: vec![EventJson::reset(latest)],
                next: latest,
            }),
        }
    }
}
