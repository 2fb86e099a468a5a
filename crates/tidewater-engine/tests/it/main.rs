//! The engine against real processes and a real SQLite store, with a manual clock: tests
//! advance time instead of sleeping.

mod execution;
mod harness;
mod owners;
mod run_timers;
mod supervision;
mod wait_for_workflow;
mod wakeups;
