use tidewater_core::ProcessIdentity;
use tidewater_flow::FlowError;
use tidewater_store::StoreError;

/// Why a stream stopped or could not start, by who must act: the user (another owner, a
/// query that does not plan), the environment (NATS unreachable, the table's storage).
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error(
        "stream `{stream}` is owned by process {} (started at tick {}); only one process consumes a stream at a time",
        owner.pid, owner.start_ticks
    )]
    OwnedElsewhere {
        stream: String,
        owner: ProcessIdentity,
    },
    #[error("this store backend does not keep streams")]
    NoStreamStore,
    #[error("cannot reach NATS at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("JetStream stream `{stream}`: {reason}")]
    Source { stream: String, reason: String },
    #[error("the stream's sql does not run over `messages` and the warehouse: {0}")]
    InvalidSql(#[source] FlowError),
    #[error("committing a batch into `{table}` failed: {source}")]
    Commit {
        table: String,
        #[source]
        source: FlowError,
    },
    #[error("{0}; this is a bug in tidewater, please report it")]
    Bug(&'static str),
    #[error(transparent)]
    Flow(#[from] FlowError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
