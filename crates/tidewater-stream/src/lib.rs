//! Tidewater's streams (issue 19): a stream file's NATS JetStream messages decoded to its
//! schema, cut into micro-batches, and each batch committed into its Delta table exactly once.
//!
//! - [`StreamRunner`] owns one stream in one process: it claims the stream in the store (the
//!   same compare-and-set owner as a run, [`tidewater_store::StreamStore`]), reads the
//!   committed position from the table, consumes from there, and for each batch commits the
//!   dead letters and then the rows, each commit carrying the batch's last source sequence as
//!   a Delta transaction identifier, and acknowledges only after both.
//! - [`MessageDecoder`] turns JSON payloads into typed columns, or a dead letter with a reason.
//! - [`StreamSupervisor`] runs every stream of a project in `tidewater server`, each in its
//!   own task, restarted with back-off after a failure, stopped while paused.
//! - [`NatsSources`] answers the streams' listing (`tidewater_control::StreamSources`): the
//!   source's last sequence, for the lag.
//! - [`nats_admin`] creates, fills and deletes JetStream streams: for tests and benchmarks,
//!   so that nothing else in the workspace needs the NATS client.
//!
//! async-nats is confined here; DataFusion and deltalake stay in tidewater-flow, reached
//! through [`tidewater_flow::Warehouse::append_stream_batch`]. Nothing here reads the
//! environment: the binary passes the test-only pause point in [`RunOptions`].

#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)
)]

mod message_decoder;
pub mod nats_admin;
mod nats_source;
mod nats_sources;
mod stream_error;
mod stream_runner;
mod stream_supervisor;

pub use message_decoder::{DeadLetter, DecodedBatch, MessageDecoder};
pub use nats_sources::NatsSources;
pub use stream_error::StreamError;
pub use stream_runner::{
    BatchReport, PausePoint, RunOptions, StreamEvent, StreamRunSummary, StreamRunner,
};
pub use stream_supervisor::StreamSupervisor;

/// Installs rustls' aws-lc-rs provider as the process default. Two providers are compiled in
/// (object_store brings ring, the Delta kernel aws-lc-rs), and a rustls config built without
/// naming one, as async-nats builds it, panics (DEPS.md pitfall 2). The binary calls this first
/// thing in `main`; a second call does nothing.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
