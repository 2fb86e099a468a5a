use serde::{Deserialize, Serialize};

use crate::trigger_rule::UpstreamTally;
use crate::{DataInterval, RunState, TaskIndex, TaskRole, TaskState, Workflow};

/// The record of one task instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInstance {
    pub state: TaskState,
    /// The number of the latest attempt (0 before the first).
    pub last_attempt: u32,
    /// `last_attempt` when the try budget was last reset (by `retry` or `clear`): retries
    /// count from here.
    pub attempt_base: u32,
    /// Attempts lost since the try budget was last reset: their supervising process died,
    /// or stopped them because it could not record the run. They do not count against
    /// the task's `retries`; [`crate::MAX_LOST_ATTEMPTS`] bounds them instead.
    #[serde(default)]
    pub lost_attempts: u32,
    /// The output of the attempt that succeeded.
    pub output: Option<serde_json::Value>,
}

impl TaskInstance {
    pub fn new() -> TaskInstance {
        TaskInstance {
            state: TaskState::Pending,
            last_attempt: 0,
            attempt_base: 0,
            lost_attempts: 0,
            output: None,
        }
    }
}

impl Default for TaskInstance {
    fn default() -> Self {
        TaskInstance::new()
    }
}

/// What `decide` sees of a run: its state, its data interval and every task instance, plus
/// derived tallies of upstream outcomes so that deciding stays O(changes), not O(tasks), per
/// event.
#[derive(Debug, Clone, PartialEq)]
pub struct RunView {
    pub run: RunState,
    /// The data the run processes; its end is what a `deadline` counts from.
    pub interval: DataInterval,
    tasks: Vec<TaskInstance>,
    tallies: Vec<UpstreamTally>,
    unfinished_steps: usize,
}

impl RunView {
    /// `tasks` must be aligned with `workflow.tasks()`.
    pub fn new(
        workflow: &Workflow,
        run: RunState,
        interval: DataInterval,
        tasks: Vec<TaskInstance>,
    ) -> RunView {
        debug_assert_eq!(tasks.len(), workflow.tasks().len());
        let mut tallies: Vec<UpstreamTally> = workflow
            .indices()
            .map(|index| UpstreamTally {
                total: workflow.dag().upstream(index).len() as u32,
                ..UpstreamTally::default()
            })
            .collect();
        let mut unfinished_steps = 0;
        for index in workflow.indices() {
            let state = &tasks[index.get()].state;
            if workflow.task(index).role == TaskRole::Step && !state.is_terminal() {
                unfinished_steps += 1;
            }
            for &down in workflow.dag().downstream(index) {
                count(&mut tallies[down.get()], state, 1);
            }
        }
        RunView {
            run,
            interval,
            tasks,
            tallies,
            unfinished_steps,
        }
    }

    /// A run whose tasks are all pending.
    pub fn fresh(workflow: &Workflow, run: RunState, interval: DataInterval) -> RunView {
        RunView::new(
            workflow,
            run,
            interval,
            vec![TaskInstance::new(); workflow.tasks().len()],
        )
    }

    pub fn task(&self, index: TaskIndex) -> &TaskInstance {
        &self.tasks[index.get()]
    }

    pub fn tasks(&self) -> &[TaskInstance] {
        &self.tasks
    }

    pub fn tally(&self, index: TaskIndex) -> &UpstreamTally {
        &self.tallies[index.get()]
    }

    pub fn unfinished_steps(&self) -> usize {
        self.unfinished_steps
    }

    /// Replaces a task instance, keeping the tallies of its downstream tasks true.
    pub fn set_task(&mut self, workflow: &Workflow, index: TaskIndex, instance: TaskInstance) {
        let old = std::mem::replace(&mut self.tasks[index.get()], instance);
        let new_state = &self.tasks[index.get()].state;
        if workflow.task(index).role == TaskRole::Step {
            match (old.state.is_terminal(), new_state.is_terminal()) {
                (false, true) => self.unfinished_steps -= 1,
                (true, false) => self.unfinished_steps += 1,
                _ => {}
            }
        }
        for &down in workflow.dag().downstream(index) {
            count(&mut self.tallies[down.get()], &old.state, -1);
            count(&mut self.tallies[down.get()], new_state, 1);
        }
    }
}

fn count(tally: &mut UpstreamTally, state: &TaskState, delta: i32) {
    let slot = match state {
        TaskState::Succeeded { .. } => &mut tally.succeeded,
        TaskState::Failed { .. } => &mut tally.failed,
        TaskState::UpstreamFailed => &mut tally.upstream_failed,
        TaskState::Skipped => &mut tally.skipped,
        TaskState::Cancelled => &mut tally.cancelled,
        _ => return,
    };
    *slot = slot.saturating_add_signed(delta);
}
