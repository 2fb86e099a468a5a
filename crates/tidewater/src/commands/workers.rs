//! `tidewater workers [--json]`: the workers that sent the server a heartbeat: queues, slots
//! in use, last heartbeat, version. The same use case as `GET /api/v1/workers`.

use std::path::Path;

use tidewater_control::json::WorkerJson;
use tidewater_control::local_time;

use crate::Outcome;
use crate::args::WorkersArgs;
use crate::output;

pub(super) async fn workers(project: &Path, args: WorkersArgs) -> anyhow::Result<Outcome> {
    let control = crate::project_context::open(project).await?;
    let workers = control.workers().await?;
    if args.json {
        output::json(&workers.iter().map(WorkerJson::new).collect::<Vec<_>>())?;
        return Ok(Outcome::Success);
    }
    if workers.is_empty() {
        output::note(
            "no worker has sent a heartbeat; start one with `tidewater worker --server URL --token TOKEN --queues NAME`",
        );
        return Ok(Outcome::Success);
    }
    let rows: Vec<Vec<String>> = workers
        .iter()
        .map(|worker| {
            let record = &worker.record;
            let registration = &record.registration;
            vec![
                registration.id.0.clone(),
                registration
                    .queues
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
                format!("{}/{}", record.slots_in_use, registration.slots),
                local_time::utc(record.last_heartbeat),
                if worker.is_alive { "alive" } else { "gone" }.to_owned(),
                registration.version.clone(),
            ]
        })
        .collect();
    output::data(output::table(
        &[
            "WORKER",
            "QUEUES",
            "SLOTS",
            "LAST HEARTBEAT",
            "STATE",
            "VERSION",
        ],
        &rows,
    ));
    Ok(Outcome::Success)
}
