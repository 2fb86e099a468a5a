//! One module per task kind that needs a runner. `empty` has none: `decide` completes it.

mod sh;

pub use sh::ShRunner;

use tidewater_core::TaskAction;

use crate::TaskRunner;

/// The runners of every kind.
#[derive(Debug, Default)]
pub struct Runners {
    pub sh: ShRunner,
}

impl Runners {
    /// The runner for a task's action, or `None` for kinds that never start an attempt.
    pub fn runner_for(&self, action: &TaskAction) -> Option<&dyn TaskRunner> {
        match action {
            TaskAction::Sh { .. } => Some(&self.sh),
            TaskAction::Empty => None,
        }
    }
}
