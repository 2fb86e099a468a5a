use std::path::Path;

use tidewater_control::{Resume, Retry, RetryVersion};
use tidewater_core::RunId;

use crate::Outcome;
use crate::args::RetryArgs;
use crate::output;

pub(super) async fn retry(project: &Path, args: RetryArgs) -> anyhow::Result<Outcome> {
    let control = crate::project_context::open(project).await?;
    let version = if args.latest {
        RetryVersion::Latest
    } else {
        RetryVersion::Pinned
    };
    let resumed = |run: &tidewater_store::RunRecord| {
        output::note(format!(
            "resuming run {} of {} ({})",
            run.id,
            run.workflow,
            run.state.name()
        ));
    };
    match control.retry(RunId(args.run_id), version).await? {
        Retry::AlreadySucceeded(run) => {
            output::note(format!(
                "run {} already succeeded; use `tidewater clear {} --task T` to run tasks again",
                run.id, run.id
            ));
            Ok(Outcome::Success)
        }
        Retry::Requeued {
            run,
            loaded,
            server,
        } => {
            resumed(&run);
            super::follow::follow(
                &control,
                &loaded.workflow,
                run.id,
                &server,
                args.execution.parallelism,
            )
            .await
        }
        Retry::ExecuteHere {
            run,
            loaded,
            is_version_changed,
        } => {
            if is_version_changed {
                output::note(format!(
                    "run {} is now pinned to the current version of {} (it started on another)",
                    run.id, run.workflow
                ));
            }
            resumed(&run);
            super::foreground::execute(
                &control,
                &loaded.workflow,
                run.id,
                Resume::Failed,
                args.execution.parallelism,
            )
            .await
        }
    }
}
