//! The `http` task kind's runner: one request per attempt, its status checked against the
//! task's `expect`, its JSON response (or a JSON pointer into it) the task's output; and
//! the sender of workflow webhooks (`WebhookSender`), one POST per delivery; and
//! `tidewater worker`'s client of the server (`WorkerClient`).
//!
//! The HTTP client (reqwest) lives only here, so the OpenLineage run events of `[lineage]`
//! are sent from here too ([`OpenLineageHttp`], a `tidewater_runner::LineageSink`). The
//! runner knows nothing of the scheduler: it implements
//! `tidewater_runner::TaskRunner<HttpAction>` and is installed by whoever builds the
//! engine's runners (`tidewater-control` and `tidewater test`).

// Library code reports errors to its caller and prints nothing (issue 16 item 9).
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)
)]

mod http_runner;
mod open_lineage_http;
mod probe;
mod webhook_sender;
mod worker_client;

pub use http_runner::{HttpRunner, LOGGED_BODY_BYTES, MAX_RESPONSE_BYTES};
pub use open_lineage_http::OpenLineageHttp;
pub use probe::{ProbeStatus, probe};
pub use webhook_sender::{WebhookBody, WebhookSender};
pub use worker_client::{WorkerClient, WorkerClientError};
