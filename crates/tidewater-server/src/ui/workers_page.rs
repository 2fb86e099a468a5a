//! The workers (`/workers`): each `tidewater worker` that sent a heartbeat, with its queues,
//! slots in use, last heartbeat, version, whether it is alive, and the attempts it holds; the
//! same use case as `tidewater workers` and `GET /api/v1/workers`.

use askama::Template;
use axum::extract::State;
use tidewater_control::local_time;

use super::layout::{Layout, Live, Nav};
use super::run_page::task_href;
use super::ui_error::{PageResult, page};
use crate::api::Api;

#[derive(Template)]
#[template(path = "workers.html")]
struct WorkersPage {
    layout: Layout,
    workers: Vec<WorkerRow>,
}

struct WorkerRow {
    id: String,
    queues: String,
    slots_in_use: u32,
    slots: u32,
    last_heartbeat: String,
    version: String,
    is_alive: bool,
    attempts: Vec<HeldRow>,
}

struct HeldRow {
    run: i64,
    task: String,
    task_href: String,
    attempt: u32,
    expires_at: String,
}

/// `GET /workers`.
pub(crate) async fn workers(State(api): State<Api>) -> PageResult {
    let workers = api.control.workers().await?;
    page(&WorkersPage {
        // Runs' events move attempts between workers; heartbeats alone are not events.
        layout: Layout::new("Workers", Nav::Workers, Live::Everything),
        workers: workers
            .iter()
            .map(|worker| {
                let registration = &worker.record.registration;
                WorkerRow {
                    id: registration.id.0.clone(),
                    queues: registration
                        .queues
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    slots_in_use: worker.record.slots_in_use,
                    slots: registration.slots,
                    last_heartbeat: local_time::utc(worker.record.last_heartbeat),
                    version: registration.version.clone(),
                    is_alive: worker.is_alive,
                    attempts: worker
                        .attempts
                        .iter()
                        .map(|held| HeldRow {
                            run: held.run.0,
                            task: held.task.to_string(),
                            task_href: task_href(held.run, held.task.as_str()),
                            attempt: held.attempt.0,
                            expires_at: local_time::utc(held.expires_at),
                        })
                        .collect(),
                }
            })
            .collect(),
    })
}
