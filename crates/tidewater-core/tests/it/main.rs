//! Simulations of `decide` and the task queue with a manual notion of time.

mod decide;
mod run_timers;
mod schedule_simulation;
mod task_queue_simulation;
