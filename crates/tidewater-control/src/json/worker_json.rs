//! JSON shapes of workers and of their protocol with the server (`/api/v1/workers/...`): what
//! `tidewater worker` sends and reads, the server serves, and `tidewater workers --json`
//! prints.

use serde::{Deserialize, Serialize};

use crate::WorkerStatus;
use tidewater_core::QueueName;
use tidewater_store::{
    ClaimedAttempt, LeaseAnswer, LeaseEpoch, RemoteAttemptId, WorkerId, WorkerRegistration,
};

/// A worker as it describes itself in every request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerRegistrationJson {
    /// The worker's name, unique among live workers (its host, pid and a random part).
    pub id: String,
    /// The queues it serves.
    pub queues: Vec<String>,
    /// How many attempts it runs at once.
    pub slots: u32,
    /// The `tidewater` version it runs.
    pub version: String,
}

impl WorkerRegistrationJson {
    /// The registration, or why it is not one (a queue name with characters a queue cannot
    /// have, an empty id).
    pub fn registration(&self) -> Result<WorkerRegistration, String> {
        if self.id.is_empty() || self.id.len() > 200 {
            return Err("a worker's id must have 1 to 200 characters".to_owned());
        }
        let mut queues = Vec::with_capacity(self.queues.len());
        for queue in &self.queues {
            let is_name = !queue.is_empty()
                && queue.chars().all(|character| {
                    character.is_ascii_lowercase()
                        || character.is_ascii_digit()
                        || matches!(character, '_' | '-')
                });
            if !is_name {
                return Err(format!(
                    "`{queue}` is not a queue name: use lowercase letters, digits, `_` and `-`"
                ));
            }
            queues.push(QueueName::new(queue.as_str()));
        }
        Ok(WorkerRegistration {
            id: WorkerId(self.id.clone()),
            queues,
            slots: self.slots,
            version: self.version.clone(),
        })
    }
}

/// `POST /api/v1/workers/claim`: a worker with a free slot asks for an attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClaimRequestJson {
    pub worker: WorkerRegistrationJson,
    /// How long the server may hold the request when no attempt is offered, waiting for
    /// one (a long poll), in milliseconds; at most 20 000. Absent or `0`: answer at once.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[cfg_attr(feature = "openapi", schema(maximum = 20000))]
    pub wait_ms: u64,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// The answer to a claim: an attempt, or `null` when none of the worker's queues has one;
/// and the lease settings the worker must keep (renew every `heartbeat_ms`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClaimAnswerJson {
    pub attempt: Option<ClaimedAttemptJson>,
    pub heartbeat_ms: u64,
    pub lease_ms: u64,
}

/// An attempt a worker claimed, with its lease.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClaimedAttemptJson {
    /// The offered attempt's id, which heartbeats, log appends and the report name.
    pub id: i64,
    /// The lease's epoch, which heartbeats, log appends and the report carry.
    pub epoch: i64,
    pub run: i64,
    pub workflow: String,
    pub task: String,
    pub attempt: u32,
    /// The SHA-256 of the workflow text the run is pinned to: the worker's file must match.
    pub workflow_hash: String,
    /// The run's interval, params and upstream outputs.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub context: serde_json::Value,
    /// When the lease expires unless renewed (the server's clock).
    pub expires_at: String,
}

impl ClaimedAttemptJson {
    pub fn new(claimed: &ClaimedAttempt) -> ClaimedAttemptJson {
        ClaimedAttemptJson {
            id: claimed.id.0,
            epoch: claimed.epoch.0,
            run: claimed.offer.run.0,
            workflow: claimed.offer.workflow.to_string(),
            task: claimed.offer.task.to_string(),
            attempt: claimed.offer.attempt.0,
            workflow_hash: claimed.offer.workflow_hash.clone(),
            context: claimed.offer.context.clone(),
            expires_at: claimed.expires_at.to_rfc3339(),
        }
    }
}

/// One lease a worker holds: the attempt and the lease's epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeaseJson {
    pub id: i64,
    pub epoch: i64,
}

impl LeaseJson {
    pub fn key(self) -> (RemoteAttemptId, LeaseEpoch) {
        (RemoteAttemptId(self.id), LeaseEpoch(self.epoch))
    }
}

/// `POST /api/v1/workers/heartbeat`: the worker is alive and renews the leases it holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeartbeatJson {
    pub worker: WorkerRegistrationJson,
    pub leases: Vec<LeaseJson>,
}

/// What to do with each lease: `continue`; `cancel` (kill the attempt and report it
/// cancelled); `stale` (the lease is no longer the attempt's: kill it, report nothing).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeartbeatAnswerJson {
    pub leases: Vec<LeaseAnswerJson>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeaseAnswerJson {
    pub id: i64,
    pub epoch: i64,
    /// `continue`, `cancel` or `stale`.
    pub answer: String,
}

impl LeaseAnswerJson {
    pub fn new(lease: LeaseJson, answer: LeaseAnswer) -> LeaseAnswerJson {
        LeaseAnswerJson {
            id: lease.id,
            epoch: lease.epoch,
            answer: match answer {
                LeaseAnswer::Continue => "continue",
                LeaseAnswer::Cancel => "cancel",
                LeaseAnswer::Stale => "stale",
            }
            .to_owned(),
        }
    }

    /// The answer, `None` for a word this version does not know.
    pub fn answer(&self) -> Option<LeaseAnswer> {
        match self.answer.as_str() {
            "continue" => Some(LeaseAnswer::Continue),
            "cancel" => Some(LeaseAnswer::Cancel),
            "stale" => Some(LeaseAnswer::Stale),
            _ => None,
        }
    }
}

/// `POST /api/v1/workers/attempts/{id}/report`: how the attempt ended, under lease `epoch`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerReportJson {
    pub epoch: i64,
    /// The attempt's outcome, as the engine writes it
    /// (`{"outcome": "succeeded", "output": …}` or
    /// `{"outcome": "failed", "reason": {"reason": "exit", "code": 1}}`).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub outcome: serde_json::Value,
}

/// A worker as `tidewater workers --json` prints it and `GET /api/v1/workers` serves it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerJson {
    pub id: String,
    pub queues: Vec<String>,
    pub slots: u32,
    /// Attempts it holds a live lease on.
    pub slots_in_use: u32,
    pub version: String,
    pub first_seen: String,
    pub last_heartbeat: String,
    /// Whether its last heartbeat is younger than a lease.
    pub is_alive: bool,
    /// The attempts it holds a lease on, oldest first.
    #[serde(default)]
    pub attempts: Vec<HeldAttemptJson>,
}

/// An attempt a worker holds, with its lease.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeldAttemptJson {
    /// The offered attempt's id.
    pub id: i64,
    pub run: i64,
    pub workflow: String,
    pub task: String,
    pub attempt: u32,
    pub epoch: i64,
    /// When its lease expires unless renewed (the server's clock).
    pub expires_at: String,
}

impl WorkerJson {
    pub fn new(worker: &WorkerStatus) -> WorkerJson {
        let record = &worker.record;
        WorkerJson {
            id: record.registration.id.0.clone(),
            queues: record
                .registration
                .queues
                .iter()
                .map(ToString::to_string)
                .collect(),
            slots: record.registration.slots,
            slots_in_use: record.slots_in_use,
            version: record.registration.version.clone(),
            first_seen: record.first_seen.to_rfc3339(),
            last_heartbeat: record.last_heartbeat.to_rfc3339(),
            is_alive: worker.is_alive,
            attempts: worker
                .attempts
                .iter()
                .map(|held| HeldAttemptJson {
                    id: held.id.0,
                    run: held.run.0,
                    workflow: held.workflow.to_string(),
                    task: held.task.to_string(),
                    attempt: held.attempt.0,
                    epoch: held.epoch.0,
                    expires_at: held.expires_at.to_rfc3339(),
                })
                .collect(),
        }
    }
}
