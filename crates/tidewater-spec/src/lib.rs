//! Reads Tidewater projects: `tidewater.toml` into a [`ProjectConfig`], and workflow files
//! (YAML with Jinja templates) into the core model's [`tidewater_core::Workflow`], and view
//! files (`views/*.yaml`) into [`tidewater_core::ServingView`]s ([`LoadedView`]). Every
//! mistake in those files becomes a [`Problem`] that points at its file, line and column,
//! and all problems of a file are reported together. Also owns the template language tasks
//! are rendered with ([`TemplateContext`]), so that validation and rendering agree.
//!
//! This crate reads files and nothing else: it never runs tasks, never touches the store,
//! and never reads the clock or environment variables (connections' `env:` values are read
//! through a lookup its caller passes to [`Connections::resolve`]). It also owns the
//! [`Redactor`] that hides the connections' secrets wherever text leaves Tidewater.

// Library code reports errors to its caller and prints nothing; an invariant that truly holds
// says why with `#[expect(clippy::expect_used, reason = "...")]` (issue 16 item 9).
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)
)]

mod connection_config;
mod connections;
mod diagnostics;
mod did_you_mean;
mod duration;
mod kinds;
mod loaded_workflow;
mod name_scan;
mod problem;
mod problem_kind;
mod project;
mod project_config;
mod redactor;
mod sql_syntax;
mod store_backend;
mod stream_spec;
mod task_graph;
mod task_settings;
mod task_spec;
mod template_check;
mod template_context;
mod template_environment;
mod view_spec;
mod webhook_spec;
mod workflow_file;
mod yaml_loader;
mod yaml_node;
mod yaml_reader;

pub use connection_config::{
    ConfigSource, ConnectionConfig, ConnectionField, ConnectionKind, ConnectionsConfig, ValueSource,
};
pub use connections::{
    ConnectionValueError, Connections, ResolvedConnection, ResolvedField, url_password,
    url_without_password,
};
pub use diagnostics::Diagnostics;
pub use duration::{InvalidDuration, parse_duration};
pub use loaded_workflow::LoadedWorkflow;
pub use problem::Problem;
pub use problem_kind::{NamedThing, ProblemKind};
pub use project::Project;
pub use project_config::{
    DEFAULT_BACKFILL_MAX_INTERVALS, DEFAULT_BALLISTA_PORT, DEFAULT_LINEAGE_TIMEOUT, EngineConfig,
    LineageConfig, NotificationSettings, PoolConfig, ProjectConfig, ServerLeaseConfig,
    WorkerSettings,
};
pub use redactor::{MIN_SECRET_BYTES, REDACTED, Redactor, StreamRedactor};
pub use store_backend::{StoreBackend, redacted_store_url};
pub use stream_spec::{
    FieldType, NatsSource, StreamField, StreamSpec, StreamTarget, StreamTrigger, load_stream,
    load_streams, parse_stream, stream_paths,
};
pub use template_context::{TemplateContext, TemplateError, render_json_strings};
pub use view_spec::{KnownTable, LoadedView};
