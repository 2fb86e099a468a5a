use serde::{Deserialize, Serialize};

/// Who must act on a failed attempt, and so whether trying it again can help. Every
/// [`crate::FailureReason`] has one ([`crate::FailureReason::class`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// The task's own input: its SQL, its templates, the tables and columns it names, the
    /// schema and partition it declares. The user fixes the project; the same input fails
    /// the same way again, so such a failure is not retried.
    Input,
    /// The task's own work failed (a command's exit status or signal, output that is not a
    /// JSON object) and Tidewater cannot tell why: the task's `retries` apply.
    Task,
    /// The machine or a service under the task: storage, the network, a concurrent writer,
    /// a supervising process that died. Trying again may help.
    Environment,
    /// It ran out of time: its own `timeout` or the run's.
    Timeout,
    /// A bug in Tidewater (or a library under it): to be reported. Retried, as a bug may
    /// depend on timing.
    Bug,
    /// Stopped on request; nobody needs to act.
    Cancelled,
}

impl FailureClass {
    /// Whether a failure of this class is worth trying again under the task's retry
    /// policy. Only input is not: nothing changes between two tries but time.
    pub fn is_retried(self) -> bool {
        !matches!(self, FailureClass::Input)
    }

    /// The name `status` shows and the store keeps.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Input => "input",
            FailureClass::Task => "task",
            FailureClass::Environment => "environment",
            FailureClass::Timeout => "timeout",
            FailureClass::Bug => "bug",
            FailureClass::Cancelled => "cancelled",
        }
    }

    /// The class named `name` by [`FailureClass::as_str`].
    pub fn parse(name: &str) -> Option<FailureClass> {
        [
            FailureClass::Input,
            FailureClass::Task,
            FailureClass::Environment,
            FailureClass::Timeout,
            FailureClass::Bug,
            FailureClass::Cancelled,
        ]
        .into_iter()
        .find(|class| class.as_str() == name)
    }
}

impl std::fmt::Display for FailureClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
