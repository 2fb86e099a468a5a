//! `tidewater cancel`: stops a queued or running run, whichever process executes it (see
//! `tidewater_control`'s cancel use case); waits until it has stopped unless `--no-wait`.

use std::time::Duration;

use tidewater_control::CancelProgress;
use tidewater_core::{ProcessIdentity, RunId};
use tokio::signal::unix::{SignalKind, signal};

use crate::Outcome;
use crate::args::CancelArgs;
use crate::output;

/// How often the command looks whether the run has stopped.
const WAIT_POLL: Duration = Duration::from_millis(100);

pub(super) async fn cancel(project: &std::path::Path, args: CancelArgs) -> anyhow::Result<Outcome> {
    let control = crate::project_context::open(project).await?;
    let id = RunId(args.run_id);
    if control.request_cancel(id).await?.is_none() {
        let record = control.run_record(id).await?;
        output::note(format!(
            "run {id} already {}; nothing to cancel",
            record.state.name()
        ));
        return Ok(Outcome::Success);
    }
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut asked: Option<ProcessIdentity> = None;
    loop {
        match control.cancel_progress(id, asked).await? {
            CancelProgress::Ended(record) => {
                output::note(format!("run {} {}", record.id, record.state.name()));
                return Ok(Outcome::Success);
            }
            CancelProgress::Asked(process) => {
                output::note(format!("asked process {} to cancel run {id}", process.pid));
                asked = Some(process);
                if args.no_wait {
                    return Ok(Outcome::Success);
                }
            }
            CancelProgress::Stopping => {}
            CancelProgress::Unowned(record) => {
                let state = control.cancel_here(&record).await?;
                output::note(format!("run {} {}", record.id, state.name()));
                return Ok(Outcome::Success);
            }
        }
        tokio::select! {
            () = tokio::time::sleep(WAIT_POLL) => {}
            _ = interrupt.recv() => {
                output::note(format!("stopped waiting; run {id} is being cancelled"));
                return Ok(Outcome::Cancelled);
            }
        }
    }
}
