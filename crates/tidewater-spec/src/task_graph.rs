use std::collections::HashMap;

use tidewater_core::{
    Dag, DagError, RetryPolicy, Task, TaskAction, TaskIndex, TaskName, TaskRole, TriggerRule,
};

use crate::ProblemKind;
use crate::did_you_mean::did_you_mean;
use crate::task_spec::TaskSpec;
use crate::yaml_reader::YamlReader;

/// The steps of a workflow by name and their resolved `needs`, after reporting unknown
/// names and cycles.
pub(crate) struct TaskGraph<'s> {
    pub by_name: HashMap<&'s str, usize>,
    /// For each step, the steps it needs, each once.
    pub upstream: Vec<Vec<TaskIndex>>,
}

/// A file with many cycles is reported a few at a time rather than flooding the screen.
const MAX_CYCLES_REPORTED: usize = 10;

impl<'s> TaskGraph<'s> {
    pub(crate) fn resolve(reader: &mut YamlReader<'_>, steps: &'s [TaskSpec]) -> TaskGraph<'s> {
        let mut by_name = HashMap::with_capacity(steps.len());
        for (index, step) in steps.iter().enumerate() {
            by_name.entry(step.name.as_str()).or_insert(index);
        }
        // `added_for[j] == i + 1` when step i already needs step j: keeps repeated names
        // once without a quadratic scan of a join task's long `needs`.
        let mut added_for = vec![0usize; steps.len()];
        let mut upstream = Vec::with_capacity(steps.len());
        for (index, step) in steps.iter().enumerate() {
            let mut needs = Vec::with_capacity(step.needs.len());
            for need in &step.needs {
                match by_name.get(need.name.as_str()) {
                    Some(&needed) => {
                        if added_for[needed] != index + 1 {
                            added_for[needed] = index + 1;
                            needs.push(TaskIndex(needed as u32));
                        }
                    }
                    None => reader.report(
                        ProblemKind::UnknownDependency {
                            task: step.name.clone(),
                            missing: need.name.clone(),
                            suggestion: did_you_mean(
                                &need.name,
                                steps.iter().map(|step| step.name.as_str()),
                            ),
                        },
                        need.span.clone(),
                    ),
                }
            }
            upstream.push(needs);
        }
        TaskGraph { by_name, upstream }
    }

    /// Reports dependency cycles with the core's own DAG check, so that what validates here
    /// is exactly what `Workflow::new` accepts. Each reported cycle's closing edge is
    /// dropped, so the next search finds a different cycle.
    pub(crate) fn report_cycles(&mut self, reader: &mut YamlReader<'_>, steps: &[TaskSpec]) {
        for _ in 0..MAX_CYCLES_REPORTED {
            let outline: Vec<Task> = self
                .upstream
                .iter()
                .map(|needs| outline_task(needs))
                .collect();
            let Err(DagError::Cycle(cycle)) = Dag::new(&outline) else {
                return;
            };
            let Some((&first, &last)) = cycle.first().zip(cycle.last()) else {
                return;
            };
            let names = cycle
                .iter()
                .map(|index| steps[index.get()].name.clone())
                .collect();
            // In execution order each task needs the one before it, and the first needs the
            // last: that entry closes the cycle.
            let closing = need_span(steps, first, last);
            let mut problem =
                reader.problem(ProblemKind::DependencyCycle { cycle: names }, closing);
            for pair in cycle.windows(2) {
                problem = problem.with_related(need_span(steps, pair[1], pair[0]), "on the cycle");
            }
            reader.push(problem);
            self.upstream[first.get()].retain(|need| *need != last);
        }
    }
}

fn need_span(steps: &[TaskSpec], task: TaskIndex, needed: TaskIndex) -> std::ops::Range<usize> {
    let task = &steps[task.get()];
    let needed = &steps[needed.get()].name;
    task.needs
        .iter()
        .find(|need| &need.name == needed)
        .map_or(task.name_span.clone(), |need| need.span.clone())
}

/// A stand-in task carrying only edges, for the DAG check.
fn outline_task(needs: &[TaskIndex]) -> Task {
    Task {
        name: TaskName::new(""),
        action: TaskAction::Empty,
        needs: needs.to_vec(),
        trigger: TriggerRule::default(),
        retry: RetryPolicy::default(),
        timeout: None,
        pool: None,
        pool_slots: 1,
        priority: 0,
        role: TaskRole::Step,
        queue: None,
    }
}
