use crate::{Task, TaskIndex, TaskRole};

/// The edges of a workflow, in both directions, and a topological order of its steps.
#[derive(Debug, Clone)]
pub struct Dag {
    upstream: Vec<Vec<TaskIndex>>,
    downstream: Vec<Vec<TaskIndex>>,
    order: Vec<TaskIndex>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DagError {
    /// The tasks on the cycle, in order; the first one depends on the last.
    #[error("dependency cycle: {}", .0.iter().map(|index| index.0.to_string()).collect::<Vec<_>>().join(" -> "))]
    Cycle(Vec<TaskIndex>),
    #[error("a handler cannot have dependencies or be depended on")]
    HandlerInDag(TaskIndex),
}

impl Dag {
    pub fn new(tasks: &[Task]) -> Result<Dag, DagError> {
        let count = tasks.len();
        let mut upstream = vec![Vec::new(); count];
        let mut downstream = vec![Vec::new(); count];
        for (index, task) in tasks.iter().enumerate() {
            let is_handler = matches!(task.role, TaskRole::Handler(_));
            if is_handler && !task.needs.is_empty() {
                return Err(DagError::HandlerInDag(TaskIndex(index as u32)));
            }
            for &need in &task.needs {
                if matches!(tasks[need.get()].role, TaskRole::Handler(_)) {
                    return Err(DagError::HandlerInDag(need));
                }
                upstream[index].push(need);
                downstream[need.get()].push(TaskIndex(index as u32));
            }
        }
        if let Some(cycle) = find_cycle(&upstream) {
            return Err(DagError::Cycle(cycle));
        }
        let order = topological_order(&upstream, &downstream);
        Ok(Dag {
            upstream,
            downstream,
            order,
        })
    }

    pub fn upstream(&self, task: TaskIndex) -> &[TaskIndex] {
        &self.upstream[task.get()]
    }

    pub fn downstream(&self, task: TaskIndex) -> &[TaskIndex] {
        &self.downstream[task.get()]
    }

    /// Every task in an order where each comes after its upstreams.
    pub fn order(&self) -> &[TaskIndex] {
        &self.order
    }

    /// `roots` and everything downstream of them, each once.
    pub fn with_downstream(&self, roots: &[TaskIndex]) -> Vec<TaskIndex> {
        let mut seen = vec![false; self.upstream.len()];
        let mut stack: Vec<TaskIndex> = roots.to_vec();
        let mut result = Vec::new();
        while let Some(task) = stack.pop() {
            if std::mem::replace(&mut seen[task.get()], true) {
                continue;
            }
            result.push(task);
            stack.extend(self.downstream(task).iter().copied());
        }
        result.sort();
        result
    }
}

/// Finds one cycle with an iterative depth-first search (no recursion, so a 10,000-task
/// chain cannot overflow the stack).
pub(crate) fn find_cycle(upstream: &[Vec<TaskIndex>]) -> Option<Vec<TaskIndex>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut marks = vec![Mark::New; upstream.len()];
    for root in 0..upstream.len() {
        if marks[root] != Mark::New {
            continue;
        }
        // (node, next edge to look at)
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        marks[root] = Mark::OnPath;
        while let Some(&mut (node, ref mut edge)) = path.last_mut() {
            if let Some(&next) = upstream[node].get(*edge) {
                *edge += 1;
                let next = next.get();
                match marks[next] {
                    Mark::New => {
                        marks[next] = Mark::OnPath;
                        path.push((next, 0));
                    }
                    Mark::OnPath => {
                        let start = path.iter().position(|&(n, _)| n == next).unwrap_or(0);
                        // The path follows `needs` edges; report it in execution order.
                        let mut cycle: Vec<TaskIndex> = path[start..]
                            .iter()
                            .map(|&(n, _)| TaskIndex(n as u32))
                            .collect();
                        cycle.reverse();
                        return Some(cycle);
                    }
                    Mark::Done => {}
                }
            } else {
                marks[node] = Mark::Done;
                path.pop();
            }
        }
    }
    None
}

fn topological_order(upstream: &[Vec<TaskIndex>], downstream: &[Vec<TaskIndex>]) -> Vec<TaskIndex> {
    let mut waiting: Vec<usize> = upstream.iter().map(Vec::len).collect();
    let mut ready: Vec<usize> = (0..upstream.len())
        .filter(|&i| waiting[i] == 0)
        .rev()
        .collect();
    let mut order = Vec::with_capacity(upstream.len());
    while let Some(node) = ready.pop() {
        order.push(TaskIndex(node as u32));
        for next in &downstream[node] {
            waiting[next.get()] -= 1;
            if waiting[next.get()] == 0 {
                ready.push(next.get());
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edges(list: &[&[u32]]) -> Vec<Vec<TaskIndex>> {
        list.iter()
            .map(|needs| needs.iter().map(|&n| TaskIndex(n)).collect())
            .collect()
    }

    #[test]
    fn finds_the_cycle_and_only_the_cycle() {
        // 0 <- 1 <- 2 <- 1 (1 and 2 need each other), 3 needs 0
        let upstream = edges(&[&[], &[0, 2], &[1], &[0]]);
        let cycle = find_cycle(&upstream).expect("a cycle");
        let mut sorted = cycle.clone();
        sorted.sort();
        assert_eq!(sorted, vec![TaskIndex(1), TaskIndex(2)]);
    }

    #[test]
    fn a_long_chain_has_no_cycle_and_does_not_overflow() {
        let upstream: Vec<Vec<TaskIndex>> = (0..100_000u32)
            .map(|i| {
                if i == 0 {
                    vec![]
                } else {
                    vec![TaskIndex(i - 1)]
                }
            })
            .collect();
        assert_eq!(find_cycle(&upstream), None);
    }
}
