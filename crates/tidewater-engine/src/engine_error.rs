use tidewater_core::{ProcessIdentity, RunId};
use tidewater_store::ServerId;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] tidewater_store::StoreError),
    #[error(
        "run {run} is being executed by {}; stop it first or wait for it to end",
        owner_name(*owner)
    )]
    RunBusy {
        run: RunId,
        /// `None` when the owner let go of it between two reads.
        owner: Option<ProcessIdentity>,
    },
    #[error("run {0} does not exist")]
    NoSuchRun(RunId),
    #[error(
        "run {run} was recorded with task `{task}`, which its pinned workflow version does not have; this is a bug in tidewater or a damaged store"
    )]
    TaskMismatch { run: RunId, task: String },
}

/// A run's owner as people know it: a process on this machine, or a server by its lease on a
/// shared store ([`ServerId::owner`]), whose recorded pid means nothing.
fn owner_name(owner: Option<ProcessIdentity>) -> String {
    match owner {
        Some(owner) => match ServerId::of_owner(owner) {
            Some(server) => format!("{server} of the servers sharing the store"),
            None => format!("process {}", owner.pid),
        },
        None => "another process".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_run_names_a_server_by_its_lease_and_a_process_by_its_pid() {
        let by_server = EngineError::RunBusy {
            run: RunId(4),
            owner: Some(ServerId(7).owner()),
        };
        assert_eq!(
            by_server.to_string(),
            "run 4 is being executed by server 7 of the servers sharing the store; stop it first or wait for it to end"
        );
        let by_process = EngineError::RunBusy {
            run: RunId(4),
            owner: Some(ProcessIdentity {
                pid: 1234,
                start_ticks: 99,
            }),
        };
        assert!(by_process.to_string().contains("by process 1234;"));
    }
}
