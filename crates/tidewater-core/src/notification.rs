use crate::{Attempt, HttpBody, TaskName};

/// A moment of a run that a workflow may send a webhook for: the three handlers' moments and
/// `on_retry`, each time a step's failed attempt is going to be tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NotificationEvent {
    OnFailure,
    OnSuccess,
    OnDeadlineMiss,
    OnRetry,
}

impl NotificationEvent {
    pub const ALL: [NotificationEvent; 4] = [
        NotificationEvent::OnFailure,
        NotificationEvent::OnSuccess,
        NotificationEvent::OnDeadlineMiss,
        NotificationEvent::OnRetry,
    ];

    /// The workflow file's key, also the stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationEvent::OnFailure => "on_failure",
            NotificationEvent::OnSuccess => "on_success",
            NotificationEvent::OnDeadlineMiss => "on_deadline_miss",
            NotificationEvent::OnRetry => "on_retry",
        }
    }

    pub fn parse(text: &str) -> Option<NotificationEvent> {
        NotificationEvent::ALL
            .into_iter()
            .find(|event| event.as_str() == text)
    }
}

impl std::fmt::Display for NotificationEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `on_failure: { webhook: { url, body } }`: a POST sent when the event happens, outside the
/// run's DAG (it is no task, and its delivery never changes the run's outcome).
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub event: NotificationEvent,
    /// A template.
    pub url: String,
    /// Without it, a Slack-compatible `{"text": …, "blocks": …}` summary of the run.
    pub body: Option<HttpBody>,
}

/// Which notification of a run: one per run and event, and for `on_retry` one per retried
/// attempt. The store keeps each key once, so a decision repeated after a crash, or a resumed
/// run that fails again, never queues a second one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NotificationKey {
    pub event: NotificationEvent,
    /// The retried task and its failed attempt (`on_retry` only).
    pub retried: Option<(TaskName, Attempt)>,
}
