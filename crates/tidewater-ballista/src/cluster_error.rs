//! Ballista's failures as Tidewater's error classes.

use datafusion::error::DataFusionError;
use tidewater_flow::{ErrorClass, FlowError};

/// A failure of the query on the cluster at `address`, classed by who must act.
///
/// Ballista's client reports every remote failure as `DataFusionError::Execution` with the
/// cause's text (its gRPC errors, a job's failure reason), so the class is read from that
/// text: the connection to the scheduler or an executor, a lost executor or its shuffle data
/// are the environment's, and retrying can help; a job that failed on its data (a cast, a
/// division by zero) or that the scheduler refused to plan is the task's input, as the same
/// failure would be on the embedded engine.
pub(crate) fn cluster_error(address: &str, error: DataFusionError) -> FlowError {
    let message = match error.find_root() {
        DataFusionError::Execution(message) => message.clone(),
        _ => error.to_string(),
    };
    let class = classify(&message);
    let message = match class {
        ErrorClass::Environment if is_connection_failure(&message) => format!(
            "cannot reach the scheduler (is it running, and is the address right?): {}",
            shorten(&message)
        ),
        _ => shorten(&message),
    };
    FlowError::Cluster {
        address: address.to_owned(),
        message,
        class,
    }
}

fn classify(message: &str) -> ErrorClass {
    if is_connection_failure(message) || is_lost_executor(message) {
        return ErrorClass::Environment;
    }
    const INPUT_MARKERS: &[&str] = &[
        "Fail to execute query due to",
        "Arrow error",
        "Cast error",
        "Divide by zero",
        "Error during planning",
        "Schema error",
        "Execution error",
    ];
    if INPUT_MARKERS.iter().any(|marker| message.contains(marker)) {
        ErrorClass::UserInput
    } else {
        ErrorClass::Environment
    }
}

fn is_connection_failure(message: &str) -> bool {
    const MARKERS: &[&str] = &[
        "transport error",
        "Connection refused",
        "ConnectError",
        "tcp connect error",
        "dns error",
        "Unavailable",
    ];
    MARKERS.iter().any(|marker| message.contains(marker))
}

fn is_lost_executor(message: &str) -> bool {
    const MARKERS: &[&str] = &[
        "xecutor lost",
        "FetchPartitionError",
        "fetch partition",
        "ExecutorLost",
        "executor is dead",
        "No executors",
    ];
    MARKERS.iter().any(|marker| message.contains(marker))
}

/// gRPC errors print whole structures; a task's log needs the first few hundred characters.
fn shorten(message: &str) -> String {
    const SHOWN: usize = 600;
    match message.char_indices().nth(SHOWN) {
        Some((end, _)) => format!("{}…", &message[..end]),
        None => message.to_owned(),
    }
}
