//! [`DagLayout`]: a workflow's DAG placed for drawing, left to right: each task in the layer
//! of its longest path from a root (so every edge points right), tasks of a layer ordered by
//! where their upstreams are (one barycentre sweep, which removes most crossings of the
//! shapes workflows have), edges as curves from a box's right side to the next one's left.
//! Workflow handlers (`on_failure`, `on_success`, …) have no edges but run after the steps,
//! so they get a layer of their own after the last step's, not the roots' first one.
//! Pure geometry: the run page draws it as SVG with each task's state.

use tidewater_core::{Dag, Task, TaskIndex, TaskRole};

/// A task's box.
pub(crate) const NODE_WIDTH: u32 = 168;
pub(crate) const NODE_HEIGHT: u32 = 38;
const GAP_X: u32 = 56;
const GAP_Y: u32 = 16;
const MARGIN: u32 = 12;

/// Where each task and edge goes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DagLayout {
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// Indexed by task index.
    pub(crate) nodes: Vec<NodePlace>,
    pub(crate) edges: Vec<EdgePath>,
}

/// A task's box: its top-left corner and layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NodePlace {
    pub(crate) x: u32,
    pub(crate) y: u32,
    pub(crate) layer: u32,
}

/// An edge, as an SVG path's `d`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EdgePath {
    pub(crate) from: TaskIndex,
    pub(crate) to: TaskIndex,
    pub(crate) d: String,
}

impl DagLayout {
    /// Places the `tasks` of `dag` (a workflow's tasks, indexed as the DAG's).
    pub(crate) fn new(dag: &Dag, tasks: &[Task]) -> DagLayout {
        let count = tasks.len();
        let is_handler = |task: TaskIndex| matches!(tasks[task.get()].role, TaskRole::Handler(_));
        // Longest path from a root: the topological order visits every upstream first.
        let mut layer = vec![0u32; count];
        for &task in dag.order() {
            layer[task.get()] = dag
                .upstream(task)
                .iter()
                .map(|up| layer[up.get()] + 1)
                .max()
                .unwrap_or(0);
        }
        // Handlers after every step: they run once the steps are done.
        let after_steps = dag
            .order()
            .iter()
            .filter(|&&task| !is_handler(task))
            .map(|task| layer[task.get()] + 1)
            .max()
            .unwrap_or(0);
        for &task in dag.order() {
            if is_handler(task) {
                layer[task.get()] = after_steps;
            }
        }
        let layers = layer.iter().max().map_or(0, |last| last + 1) as usize;
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); layers];
        for &task in dag.order() {
            members[layer[task.get()] as usize].push(task.get());
        }
        // One sweep left to right: a task sits near the mean row of its upstreams.
        let mut row = vec![0f64; count];
        for tasks in &mut members {
            let keys: Vec<(usize, f64)> = tasks
                .iter()
                .enumerate()
                .map(|(position, &task)| {
                    let upstream = dag.upstream(TaskIndex(task as u32));
                    let key = if upstream.is_empty() {
                        position as f64
                    } else {
                        upstream.iter().map(|up| row[up.get()]).sum::<f64>() / upstream.len() as f64
                    };
                    (task, key)
                })
                .collect();
            let mut sorted = keys;
            sorted.sort_by(|a, b| a.1.total_cmp(&b.1));
            *tasks = sorted.iter().map(|(task, _)| *task).collect();
            for (position, &task) in tasks.iter().enumerate() {
                row[task] = position as f64;
            }
        }
        let tallest = members.iter().map(Vec::len).max().unwrap_or(0) as u32;
        let step_y = NODE_HEIGHT + GAP_Y;
        let mut nodes = vec![
            NodePlace {
                x: 0,
                y: 0,
                layer: 0
            };
            count
        ];
        for (index, tasks) in members.iter().enumerate() {
            // Centre each layer on the tallest one.
            let offset = (tallest - tasks.len() as u32) * step_y / 2;
            for (position, &task) in tasks.iter().enumerate() {
                nodes[task] = NodePlace {
                    x: MARGIN + index as u32 * (NODE_WIDTH + GAP_X),
                    y: MARGIN + offset + position as u32 * step_y,
                    layer: index as u32,
                };
            }
        }
        let mut edges = Vec::new();
        for &task in dag.order() {
            let to = nodes[task.get()];
            for &up in dag.upstream(task) {
                let from = nodes[up.get()];
                let (x1, y1) = (from.x + NODE_WIDTH, from.y + NODE_HEIGHT / 2);
                // The arrow's head ends at the box.
                let (x2, y2) = (to.x - 2, to.y + NODE_HEIGHT / 2);
                let middle = (x1 + x2) / 2;
                edges.push(EdgePath {
                    from: up,
                    to: task,
                    d: format!("M{x1},{y1} C{middle},{y1} {middle},{y2} {x2},{y2}"),
                });
            }
        }
        DagLayout {
            width: 2 * MARGIN + (layers as u32 * (NODE_WIDTH + GAP_X)).saturating_sub(GAP_X),
            height: 2 * MARGIN + (tallest * step_y).saturating_sub(GAP_Y),
            nodes,
            edges,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tasks(needs: &[&[u32]], handlers: usize) -> Vec<Task> {
        let steps = needs.len() - handlers;
        needs
            .iter()
            .enumerate()
            .map(|(index, needs)| tidewater_core::Task {
                name: tidewater_core::TaskName::new(format!("t{index}")),
                action: tidewater_core::TaskAction::Empty,
                needs: needs.iter().map(|need| TaskIndex(*need)).collect(),
                trigger: tidewater_core::TriggerRule::AllSuccess,
                retry: tidewater_core::RetryPolicy::default(),
                timeout: None,
                pool: None,
                pool_slots: 1,
                priority: 0,
                role: if index < steps {
                    TaskRole::Step
                } else {
                    TaskRole::Handler(tidewater_core::HandlerKind::OnFailure)
                },
                queue: None,
            })
            .collect()
    }

    #[test]
    fn each_task_sits_in_the_layer_of_its_longest_path_and_every_edge_points_right() {
        // 0 → 1 → 3, 0 → 3, 2 → 3: task 3 is two steps from 0 by its longest path.
        let tasks = tasks(&[&[], &[0], &[], &[1, 0, 2]], 0);
        let layout = DagLayout::new(&Dag::new(&tasks).expect("a DAG"), &tasks);
        let layers: Vec<u32> = layout.nodes.iter().map(|node| node.layer).collect();
        assert_eq!(layers, [0, 1, 0, 2]);
        assert_eq!(layout.edges.len(), 4);
        for edge in &layout.edges {
            assert!(layout.nodes[edge.from.get()].x < layout.nodes[edge.to.get()].x);
        }
        for node in &layout.nodes {
            assert!(node.x + NODE_WIDTH <= layout.width);
            assert!(node.y + NODE_HEIGHT <= layout.height);
        }
    }

    #[test]
    fn handlers_sit_after_the_last_step_not_among_the_roots() {
        // 0 → 1, then two handlers (no edges): they go in layer 2, one column after task 1.
        let tasks = tasks(&[&[], &[0], &[], &[]], 2);
        let layout = DagLayout::new(&Dag::new(&tasks).expect("a DAG"), &tasks);
        let layers: Vec<u32> = layout.nodes.iter().map(|node| node.layer).collect();
        assert_eq!(layers, [0, 1, 2, 2]);
        assert_eq!(layout.edges.len(), 1);
        assert!(layout.nodes[2].x > layout.nodes[1].x + NODE_WIDTH);
        assert_ne!(layout.nodes[2].y, layout.nodes[3].y);
    }
}
