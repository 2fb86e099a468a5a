//! Ballista's own scheduler and executor, served from Tidewater's binary.
//!
//! Nothing here is Tidewater's protocol: [`run_scheduler`] and [`run_executor`] call
//! `ballista-scheduler`'s `start_server` and `ballista-executor`'s `start_executor_process`,
//! the functions Ballista's released `ballista-scheduler` and `ballista-executor` programs call,
//! with the same codecs (the default logical and physical ones) and the same version, so a
//! Tidewater-hosted process and a released one can share a cluster.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;

/// `tidewater ballista scheduler`.
#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    pub bind: String,
    pub port: u16,
    /// Seconds without a heartbeat before an executor is taken for lost (Ballista: 180).
    pub executor_timeout_seconds: Option<u64>,
}

/// `tidewater ballista executor`.
#[derive(Debug, Clone)]
pub struct ExecutorSettings {
    /// `HOST:PORT` of the scheduler.
    pub scheduler: String,
    pub bind: String,
    /// The Arrow Flight port (shuffle data).
    pub port: u16,
    /// The executor's gRPC port.
    pub grpc_port: u16,
    /// Tasks at once; `None` is the number of cores.
    pub concurrent_tasks: Option<usize>,
    /// Shuffle files; `None` is a folder of the system's temporary folder.
    pub work_dir: Option<PathBuf>,
    /// Seconds between heartbeats (Ballista: 60).
    pub heartbeat_interval_seconds: Option<u64>,
}

/// Why a hosted scheduler or executor could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("invalid {what} `{value}`: {reason}")]
    InvalidSetting {
        what: &'static str,
        value: String,
        reason: String,
    },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot create the work folder {path}: {source}")]
    WorkDir {
        path: String,
        source: std::io::Error,
    },
    #[error("Ballista {role}: {source}")]
    Ballista {
        role: &'static str,
        source: ballista_core::error::BallistaError,
    },
}

/// Runs a scheduler on this thread until it is stopped (SIGTERM, Ctrl-C).
pub fn run_scheduler(settings: SchedulerSettings) -> Result<(), HostError> {
    let address: SocketAddr = format!("{}:{}", settings.bind, settings.port)
        .parse()
        .map_err(
            |error: std::net::AddrParseError| HostError::InvalidSetting {
                what: "address",
                value: format!("{}:{}", settings.bind, settings.port),
                reason: error.to_string(),
            },
        )?;
    let mut config = SchedulerConfig {
        bind_host: settings.bind.clone(),
        bind_port: settings.port,
        external_host: settings.bind.clone(),
        ..SchedulerConfig::default()
    };
    if let Some(timeout) = settings.executor_timeout_seconds {
        config.executor_timeout_seconds = timeout;
        // Ballista checks for expired executors every 15 s; a shorter timeout is checked
        // as often as it lasts, so that it means what it says.
        config.expire_dead_executor_interval_seconds = config
            .expire_dead_executor_interval_seconds
            .min(timeout.saturating_sub(1).max(1));
        config.no_executors_grace_period_seconds = timeout;
    }
    runtime()?.block_on(async move {
        let ballista = |source| HostError::Ballista {
            role: "scheduler",
            source,
        };
        let cluster = BallistaCluster::new_from_config(&config)
            .await
            .map_err(ballista)?;
        start_server(cluster, address, Arc::new(config))
            .await
            .map_err(ballista)
    })
}

/// Runs an executor on this thread until it is stopped (SIGTERM, Ctrl-C).
pub fn run_executor(settings: ExecutorSettings) -> Result<(), HostError> {
    let (scheduler_host, scheduler_port) = settings
        .scheduler
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host.to_owned(), port.parse::<u16>().ok()?)))
        .ok_or_else(|| HostError::InvalidSetting {
            what: "scheduler",
            value: settings.scheduler.clone(),
            reason: "expected HOST:PORT, e.g. 127.0.0.1:50050".to_owned(),
        })?;
    // Ballista's own default work folder is a `TempDir` it drops at once; a folder that
    // outlives the call is named here (per process, so executors on one machine never
    // share one).
    let work_dir = settings.work_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "tidewater-ballista-executor-{}",
            std::process::id()
        ))
    });
    std::fs::create_dir_all(&work_dir).map_err(|source| HostError::WorkDir {
        path: work_dir.display().to_string(),
        source,
    })?;
    let mut config = ExecutorProcessConfig {
        bind_host: settings.bind.clone(),
        external_host: Some(settings.bind.clone()),
        port: settings.port,
        grpc_port: settings.grpc_port,
        scheduler_host,
        scheduler_port,
        work_dir: Some(work_dir.display().to_string()),
        ..ExecutorProcessConfig::default()
    };
    if let Some(tasks) = settings.concurrent_tasks {
        config.vcores = tasks;
    }
    if let Some(interval) = settings.heartbeat_interval_seconds {
        config.executor_heartbeat_interval_seconds = interval;
    }
    runtime()?.block_on(async move {
        start_executor_process(Arc::new(config))
            .await
            .map_err(|source| HostError::Ballista {
                role: "executor",
                source,
            })
    })
}

/// What Ballista's released programs run on: a multi-threaded runtime with 32 MiB stacks
/// (deep plans recurse).
fn runtime() -> Result<tokio::runtime::Runtime, HostError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(32 * 1024 * 1024)
        .build()
        .map_err(HostError::Runtime)
}
