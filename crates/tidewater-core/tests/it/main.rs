//! Simulations of `decide` and the task queue with a manual notion of time, and the table-name
//! rule.

mod decide;
mod run_timers;
mod schedule_simulation;
mod table_name;
mod task_queue_simulation;
