//! Tidewater's Ballista engine: `sql` tasks and queries on an Apache DataFusion Ballista
//! cluster (`[engines.NAME] ballista = "df://host:50050"`), and Ballista's own scheduler and
//! executor hosted in Tidewater's binary (`tidewater ballista scheduler|executor`).
//!
//! The only crate that depends on Ballista; the binary pulls it in with its `ballista`
//! feature, so the default build never compiles it. It owns no table logic:
//!
//! - Reading: each table a query reads is resolved by `tidewater-flow` to the files of its
//!   current snapshot ([`tidewater_flow::TableSnapshot`]), which `snapshot_view.rs` registers
//!   as Parquet listings with the partition columns added back, so every executor reads one
//!   version.
//! - Writing: the executors write Parquet to the attempt's staging folder inside the table,
//!   in the types the table stores ([`tidewater_flow::staged_output`]), and
//!   [`tidewater_flow::Warehouse::commit_staged`] commits those files as they are in one Delta
//!   transaction with every guarantee of the embedded path. A failed or killed job commits
//!   nothing.
//! - Failures are classed like every other (`cluster_error.rs`): unreachable cluster or lost
//!   executor → environment (retried), a job that failed on its data or a rejected plan → the
//!   task's input; each message names the cluster's address.

// Library code reports errors to its caller and prints nothing.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)
)]

mod ballista_engines;
mod cluster_error;
mod hosting;
mod snapshot_view;

pub use ballista_engines::BallistaEngines;
pub use hosting::{ExecutorSettings, HostError, SchedulerSettings, run_executor, run_scheduler};
