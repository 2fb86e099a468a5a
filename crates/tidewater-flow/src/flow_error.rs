use datafusion::error::DataFusionError;
use deltalake::DeltaTableError;

use tidewater_core::FailureClass;

use crate::schema_difference::SchemaDifference;

/// Who has to act to fix a [`FlowError`]. A failed attempt keeps it as its
/// [`FailureClass`], and a task that failed for its user's input is not retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The SQL, the write spec or the data it produced is wrong; the user fixes the project.
    UserInput,
    /// Storage, permissions, the network, a concurrent writer or a source file that has not
    /// arrived yet; retrying may help.
    Environment,
    /// An invariant of this crate or of a library under it broke.
    Bug,
}

impl From<ErrorClass> for FailureClass {
    fn from(class: ErrorClass) -> FailureClass {
        match class {
            ErrorClass::UserInput => FailureClass::Input,
            ErrorClass::Environment => FailureClass::Environment,
            ErrorClass::Bug => FailureClass::Bug,
        }
    }
}

/// Everything that can go wrong while querying or writing the warehouse.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// DataFusion's parser rejected the SQL; the message carries the line and column.
    #[error("SQL syntax error: {message}")]
    SqlSyntax { message: String },

    /// The SQL parsed but could not be planned (unknown column, type mismatch, unknown
    /// function, ...); the message is DataFusion's.
    #[error("invalid query: {message}")]
    InvalidQuery { message: String },

    /// Only one SELECT/WITH query may be run: DDL, DML and multiple statements are refused so a
    /// task's SQL can never change the warehouse behind the write modes.
    #[error("expected a single SELECT or WITH query, found: {found}")]
    NotAQuery { found: String },

    #[error("unknown table `{name}`{}", known_list(.known))]
    UnknownTable { name: String, known: Vec<String> },

    #[error("unknown column `{column}` in table `{table}`; its columns are: {}", .known.join(", "))]
    UnknownColumn {
        table: String,
        column: String,
        known: Vec<String>,
    },

    /// A `read_csv`/`read_parquet`/`read_json` path or glob matched no file.
    #[error("no file matches `{path}`")]
    MissingSource { path: String },

    #[error(
        "{function}(...) takes exactly one string literal, a path or glob, e.g. {function}('data/*.{extension}')"
    )]
    InvalidTableFunctionCall { function: String, extension: String },

    /// The query produced rows outside the partition the write declared; nothing was written.
    #[error(
        "the query returned a row with {column} = {found}, but the write targets the partition {column} = {expected}; nothing was written"
    )]
    PartitionMismatch {
        column: String,
        expected: String,
        found: String,
    },

    /// The declared partition value cannot be read as the partition column's type.
    #[error("partition value `{value}` for column `{column}` is not a valid {data_type}")]
    InvalidPartitionValue {
        column: String,
        value: String,
        data_type: String,
    },

    /// The write declares other partition columns than the existing table has.
    #[error(
        "table `{table}` is partitioned by [{}] but the write declares [{}]",
        .table_columns.join(", "),
        .declared.join(", ")
    )]
    PartitionColumnsMismatch {
        table: String,
        table_columns: Vec<String>,
        declared: Vec<String>,
    },

    #[error(
        "the query's columns differ from table `{table}`: {}; nothing was written (`schema: evolve` on the write allows new and missing columns, never a changed type)",
        differences_list(.differences)
    )]
    SchemaMismatch {
        table: String,
        differences: Vec<SchemaDifference>,
    },

    #[error("the query returns the column `{column}` more than once; alias one of them")]
    DuplicateColumn { column: String },

    /// The write spec cannot be carried out as declared (merge without keys, replace_partition
    /// without a partition, ...).
    #[error("invalid write to `{table}`: {reason}")]
    InvalidWriteSpec { table: String, reason: String },

    #[error("invalid warehouse location `{location}`: {reason}")]
    InvalidLocation { location: String, reason: String },

    #[error("{action} `{path}`: {source}")]
    Io {
        action: &'static str,
        path: String,
        source: std::io::Error,
    },

    /// A staging manifest (the files an attempt moved into a table) cannot be trusted: it is
    /// left as it is, and so are the files it names, until someone looks.
    #[error("staging manifest `{path}`: {reason}")]
    InvalidStagingManifest { path: String, reason: String },

    /// Concurrent writers kept winning the commit race; the write was abandoned untouched.
    #[error("gave up committing to `{table}` after {attempts} attempts: {source}")]
    CommitConflict {
        table: String,
        attempts: u32,
        source: Box<DeltaTableError>,
    },

    /// A task or query names an engine `tidewater.toml` does not declare.
    #[error(
        "unknown engine `{engine}`; declare it in `tidewater.toml`: [engines.{engine}] ballista = \"df://127.0.0.1:50050\""
    )]
    UnknownEngine { engine: String },

    /// The engine is declared, but this binary was built without its client.
    #[error(
        "engine `{engine}` is a Ballista cluster, but this tidewater was built without the `ballista` feature; build it with `cargo build --release -p tidewater --features ballista`"
    )]
    EngineNotBuilt { engine: String },

    /// The cluster at `address` failed: unreachable, an executor lost, the query rejected.
    /// `class` says which of those it was (the cluster's client decides).
    #[error("Ballista cluster at {address}: {message}")]
    Cluster {
        address: String,
        message: String,
        class: ErrorClass,
    },

    #[error("Delta Lake: {0}")]
    Delta(Box<DeltaTableError>),

    #[error("DataFusion: {0}")]
    DataFusion(Box<DataFusionError>),
}

impl FlowError {
    /// Who has to act; see [`ErrorClass`].
    pub fn class(&self) -> ErrorClass {
        match self {
            FlowError::SqlSyntax { .. }
            | FlowError::InvalidQuery { .. }
            | FlowError::NotAQuery { .. }
            | FlowError::UnknownTable { .. }
            | FlowError::UnknownColumn { .. }
            | FlowError::InvalidTableFunctionCall { .. }
            | FlowError::PartitionMismatch { .. }
            | FlowError::InvalidPartitionValue { .. }
            | FlowError::PartitionColumnsMismatch { .. }
            | FlowError::SchemaMismatch { .. }
            | FlowError::DuplicateColumn { .. }
            | FlowError::InvalidWriteSpec { .. }
            | FlowError::InvalidLocation { .. }
            | FlowError::UnknownEngine { .. }
            | FlowError::EngineNotBuilt { .. } => ErrorClass::UserInput,
            FlowError::Cluster { class, .. } => *class,
            // A `read_csv('landing/{{ ds }}/*.csv')` that matches nothing yet may match once
            // the files arrive: retrying is how a task waits for them without a `wait`.
            FlowError::Io { .. }
            | FlowError::InvalidStagingManifest { .. }
            | FlowError::CommitConflict { .. }
            | FlowError::MissingSource { .. } => ErrorClass::Environment,
            FlowError::Delta(error) => delta_error_class(error),
            FlowError::DataFusion(error) => datafusion_error_class(error),
        }
    }
}

fn delta_error_class(error: &DeltaTableError) -> ErrorClass {
    match error {
        // Arrow errors while writing are the query's rows failing at run time: a cast of
        // `'abc'` to a number, a division by zero.
        DeltaTableError::Arrow { .. }
        | DeltaTableError::SchemaMismatch { .. }
        | DeltaTableError::PartitionError { .. }
        | DeltaTableError::InvalidPartitionFilter { .. }
        | DeltaTableError::InvalidData { .. } => ErrorClass::UserInput,
        _ => ErrorClass::Environment,
    }
}

fn datafusion_error_class(error: &DataFusionError) -> ErrorClass {
    match error.find_root() {
        DataFusionError::Internal(_) => ErrorClass::Bug,
        DataFusionError::IoError(_)
        | DataFusionError::ObjectStore(_)
        | DataFusionError::ResourcesExhausted(_) => ErrorClass::Environment,
        // An error from outside DataFusion comes from under the query (the Delta tables
        // and their storage), not from its text: it is classed by what it is, and an
        // unknown one is worth a retry rather than taken for the user's mistake.
        DataFusionError::External(error) => match error.downcast_ref::<DeltaTableError>() {
            Some(error) => delta_error_class(error),
            None => ErrorClass::Environment,
        },
        // Execution and Arrow errors during a query are nearly always the data or the SQL
        // (a failed cast, a division by zero), which the user has to fix.
        _ => ErrorClass::UserInput,
    }
}

impl From<DeltaTableError> for FlowError {
    fn from(error: DeltaTableError) -> Self {
        FlowError::Delta(Box::new(error))
    }
}

impl From<DataFusionError> for FlowError {
    /// Planning errors become the typed SQL errors; anything else stays a DataFusion error.
    fn from(error: DataFusionError) -> Self {
        match error.find_root() {
            DataFusionError::SQL(parser_error, _) => FlowError::SqlSyntax {
                message: parser_error.to_string(),
            },
            DataFusionError::Plan(message) => FlowError::InvalidQuery {
                message: message.clone(),
            },
            DataFusionError::SchemaError(schema_error, _) => FlowError::InvalidQuery {
                message: schema_error.to_string(),
            },
            _ => FlowError::DataFusion(Box::new(error)),
        }
    }
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        "; the warehouse has no tables yet".to_owned()
    } else {
        format!("; known tables: {}", known.join(", "))
    }
}

fn differences_list(differences: &[SchemaDifference]) -> String {
    differences
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
