//! The engine against real processes and a real SQLite store (the PostgreSQL store too where
//! servers share one), with a manual clock: tests advance time instead of sleeping.

mod execution;
mod harness;
mod owners;
mod postgres;
mod requeue_races;
mod run_timers;
mod supervision;
mod wait_for_workflow;
mod wakeups;
