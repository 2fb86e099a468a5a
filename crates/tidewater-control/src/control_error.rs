//! Why a use case refused or failed, classified by who must act.

use tidewater_engine::EngineError;
use tidewater_spec::Diagnostics;
use tidewater_store::StoreError;

/// A use case's error. The variant says who must act, so a front end can answer without
/// reading the message: the CLI maps every one to exit code 2, the HTTP API maps
/// [`ControlError::NotFound`] to 404, [`ControlError::Conflict`] to 409,
/// [`ControlError::Invalid`] and [`ControlError::Diagnostics`] to 4xx (nothing recorded), and
/// the others to 5xx. The messages are the ones the CLI has always printed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The request names something that does not exist: a run, a task of a run, a workflow,
    /// a table.
    #[error("{0}")]
    NotFound(String),
    /// The request is well-formed but the state forbids it now: a run of that interval is
    /// active, the run is executed by another live process.
    #[error("{0}")]
    Conflict(String),
    /// The request itself is wrong: a date that is not one, a parameter the workflow does not
    /// have, a limit of 0.
    #[error("{0}")]
    Invalid(String),
    /// The project's files have problems (each with file:line); the front end shows them.
    #[error("{} problem(s) found in the project files", .0.len())]
    Diagnostics(Diagnostics),
    /// The workflow version a run was created with no longer parses (a newer Tidewater
    /// reads it differently); the front end shows the diagnostics.
    #[error(
        "the workflow version run {run} was created with no longer loads ({} problems)",
        .diagnostics.len()
    )]
    PinnedVersion {
        run: tidewater_core::RunId,
        diagnostics: Diagnostics,
    },
    /// The store lost runs that its logs folder shows: nothing may use it until the user
    /// restores a backup or moves the logs away (the message says how).
    #[error("{0}")]
    HistoryLost(String),
    /// The store failed (its message says why and what to do).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Executing a run failed. (A run another live process holds is a
    /// [`ControlError::Conflict`] instead: see the `From` below.)
    #[error(transparent)]
    Engine(EngineError),
    /// The warehouse refused a read: [`tidewater_flow::FlowError::class`] says who must act
    /// (an unknown table is the user's input).
    #[error(transparent)]
    Warehouse(#[from] tidewater_flow::FlowError),
    /// The machine refused something Tidewater needs (a folder, a signal handler). The
    /// message is the context; the cause follows in the error's chain (`{:#}` shows both).
    #[error("{context}")]
    Environment {
        context: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ControlError {
    pub(crate) fn environment(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> ControlError {
        ControlError::Environment {
            context: context.into(),
            source: source.into(),
        }
    }
}

impl From<EngineError> for ControlError {
    /// A run held by another live process (it executes the run, or decides about it now) is
    /// the state forbidding the request, as a use case's own check of the owner says.
    fn from(error: EngineError) -> ControlError {
        match error {
            EngineError::RunBusy { .. } => ControlError::Conflict(error.to_string()),
            other => ControlError::Engine(other),
        }
    }
}

/// Shorthand for the use cases' results.
pub type ControlResult<T> = Result<T, ControlError>;
