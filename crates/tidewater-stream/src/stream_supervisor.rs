//! [`StreamSupervisor`]: every stream of a project, run by `tidewater server` beside its
//! scheduler, each in its own task through the same [`StreamRunner`] (and the same ownership
//! in the store) as `tidewater stream run`.
//!
//! The supervisor looks at the project's stream files and the store every [`LOOK`] (and at
//! once when woken, as `tidewater stream pause` does): it starts each stream that is neither
//! running nor paused, stops a paused one (its batch being gathered is committed first; its
//! position stays in its table), and restarts one whose file changed or stops one whose
//! file is gone. Polling rather than watching the folder: one look reads a few small files
//! and one row per stream, and the same loop has to look at the pause in the store anyway.
//!
//! A stream that fails is started again after a capped exponential back-off ([`BACKOFF`]
//! doubling up to [`BACKOFF_CAP`]), and says why in the server's log and in the store
//! ([`StreamFailure`]), which the listing shows as `failing`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tidewater_control::{Control, ServerReport};
use tidewater_engine::WakeListener;
use tidewater_flow::Warehouse;
use tidewater_spec::StreamSpec;
use tidewater_store::StreamFailure;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::stream_error::StreamError;
use crate::stream_runner::{RunOptions, StreamEvent, StreamRunner};

/// How often the supervisor looks at the stream files and the pauses.
const LOOK: Duration = Duration::from_secs(1);
/// The first wait before a failed stream is started again.
const BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait: a stream whose source is down for hours is tried once a minute.
const BACKOFF_CAP: Duration = Duration::from_secs(60);
/// A stream that ran this long before failing starts again from the first back-off.
const HEALTHY_RUN: Duration = Duration::from_secs(60);
/// How often a server stands by for a stream that another live process consumes (another
/// server on the same store, or a `stream run`): it takes the stream over once that owner
/// is gone. Standing by is no failure, so nothing is recorded and there is no back-off.
const STANDBY_LOOK: Duration = Duration::from_secs(2);

/// Supervises a project's streams until stopped.
pub struct StreamSupervisor {
    control: Arc<Control>,
    warehouse: Arc<Warehouse>,
    report: Arc<dyn ServerReport>,
}

/// One stream's task.
struct Supervised {
    spec: StreamSpec,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl StreamSupervisor {
    pub fn new(
        control: Arc<Control>,
        warehouse: Arc<Warehouse>,
        report: Arc<dyn ServerReport>,
    ) -> StreamSupervisor {
        StreamSupervisor {
            control,
            warehouse,
            report,
        }
    }

    /// Runs the streams until `stop` resolves, then stops each (committing what it gathered)
    /// and waits for them. `woken`, if given, makes it look at once.
    pub async fn run(
        &self,
        mut woken: Option<Box<dyn WakeListener>>,
        stop: impl std::future::Future<Output = ()>,
    ) {
        let Some(_) = self.control.store.streams() else {
            return;
        };
        let mut running: BTreeMap<String, Supervised> = BTreeMap::new();
        let mut stopping: Vec<(String, JoinHandle<()>)> = Vec::new();
        let mut shown_problems = String::new();
        let mut stop = std::pin::pin!(stop);
        loop {
            stopping.retain(|(_, task)| !task.is_finished());
            let (specs, diagnostics) = tidewater_spec::load_streams(&self.control.project);
            let problems = diagnostics.to_string();
            if problems != shown_problems {
                if !diagnostics.is_empty() {
                    self.report.line(&format!(
                        "stream files have problems (those streams are not run):\n{problems}"
                    ));
                }
                shown_problems = problems;
            }
            let paused = self.paused_streams().await;
            // Stop what is gone, changed, paused, or ended on its own.
            let names: Vec<String> = running.keys().cloned().collect();
            for name in names {
                let current = specs.iter().find(|spec| spec.name == name);
                let why = match (current, running.get(&name)) {
                    (_, None) => continue,
                    (None, _) => Some("its file is gone"),
                    (Some(_), _) if paused.contains(&name) => Some("paused"),
                    (Some(spec), Some(supervised)) if *spec != supervised.spec => {
                        Some("its file changed; it starts again")
                    }
                    (Some(_), Some(supervised)) if supervised.task.is_finished() => None,
                    _ => continue,
                };
                if let Some(supervised) = running.remove(&name) {
                    if let Some(why) = why {
                        self.report
                            .line(&format!("stream {name}: stopping ({why})"));
                    }
                    let _ = supervised.stop.send(true);
                    stopping.push((name, supervised.task));
                }
            }
            // Start what should run; a stream still stopping is started at a later look, so
            // that two of its runners never overlap in this process.
            for spec in specs {
                if running.contains_key(&spec.name)
                    || paused.contains(&spec.name)
                    || stopping.iter().any(|(name, _)| *name == spec.name)
                {
                    continue;
                }
                let (stop_sender, stop_receiver) = watch::channel(false);
                let task = tokio::spawn(supervise(
                    self.control.clone(),
                    self.warehouse.clone(),
                    self.report.clone(),
                    spec.clone(),
                    stop_receiver,
                ));
                running.insert(
                    spec.name.clone(),
                    Supervised {
                        spec,
                        stop: stop_sender,
                        task,
                    },
                );
            }
            tokio::select! {
                () = &mut stop => break,
                () = tokio::time::sleep(LOOK) => {}
                () = woken_or_never(&mut woken) => {}
            }
        }
        for supervised in running.values() {
            let _ = supervised.stop.send(true);
        }
        let tasks = running
            .into_values()
            .map(|supervised| supervised.task)
            .chain(stopping.into_iter().map(|(_, task)| task));
        for task in tasks {
            if let Err(error) = task.await {
                self.report
                    .line(&format!("a stream's task ended abnormally: {error}"));
            }
        }
    }

    async fn paused_streams(&self) -> Vec<String> {
        let Some(store) = self.control.store.streams() else {
            return Vec::new();
        };
        match store.stream_records().await {
            Ok(records) => records
                .into_iter()
                .filter(|record| record.is_paused)
                .map(|record| record.name)
                .collect(),
            // The next look tries again; meanwhile nothing is started or stopped for a pause.
            Err(error) => {
                self.report.line(&format!(
                    "warning: cannot read the streams' pauses: {error}"
                ));
                Vec::new()
            }
        }
    }
}

async fn woken_or_never(woken: &mut Option<Box<dyn WakeListener>>) {
    match woken {
        Some(listener) => listener.woken().await,
        None => std::future::pending().await,
    }
}

/// One stream, started again after each failure until `stop` turns true.
async fn supervise(
    control: Arc<Control>,
    warehouse: Arc<Warehouse>,
    report: Arc<dyn ServerReport>,
    spec: StreamSpec,
    mut stop: watch::Receiver<bool>,
) {
    let Some(store) = control.store.streams() else {
        return;
    };
    let name = spec.name.clone();
    let mut backoff = BACKOFF;
    let mut is_standing_by = false;
    loop {
        let runner = StreamRunner {
            spec: &spec,
            warehouse: &warehouse,
            store,
            owners: control.owners.as_ref(),
        };
        let started = Instant::now();
        let mut stopped = stop.clone();
        let shutdown = async move {
            let _ = stopped.wait_for(|is_stopping| *is_stopping).await;
        };
        let mut observer = |event: StreamEvent<'_>| match event {
            StreamEvent::Started { position } => report.line(&match position {
                Some(position) => format!(
                    "stream {name}: resuming after sequence {position} into {}",
                    spec.into.table
                ),
                None => format!(
                    "stream {name}: starting from the first message into {}",
                    spec.into.table
                ),
            }),
            StreamEvent::Compacted { files_removed } => report.line(&format!(
                "stream {name}: compacted {} ({files_removed} small file(s) rewritten)",
                spec.into.table
            )),
            // Each commit is in the store (`tidewater streams`); the log would grow by a line
            // every trigger interval.
            StreamEvent::Committed(_) | StreamEvent::Paused { .. } => {}
        };
        let outcome = runner
            .run(RunOptions::default(), shutdown, &mut observer)
            .await;
        let error = match outcome {
            Ok(summary) => {
                if let Err(error) = store.record_stream_failure(&name, None).await {
                    report.line(&format!("warning: stream {name}: {error}"));
                }
                report.line(&format!(
                    "stream {name}: stopped{}",
                    summary
                        .position
                        .map(|position| format!("; committed through sequence {position}"))
                        .unwrap_or_default()
                ));
                return;
            }
            Err(StreamError::OwnedElsewhere { .. }) => {
                if !is_standing_by {
                    report.line(&format!(
                        "stream {name}: another live process consumes it; standing by to take over"
                    ));
                    is_standing_by = true;
                }
                let is_stopped = tokio::select! {
                    () = tokio::time::sleep(STANDBY_LOOK) => false,
                    _ = stop.wait_for(|is_stopping| *is_stopping) => true,
                };
                if is_stopped {
                    return;
                }
                continue;
            }
            Err(error) => error,
        };
        is_standing_by = false;
        if started.elapsed() >= HEALTHY_RUN {
            backoff = BACKOFF;
        }
        let now = chrono::Utc::now();
        let reason = error_chain(&error);
        let failure = StreamFailure {
            at: now,
            reason: reason.clone(),
            retry_at: now + chrono::Duration::from_std(backoff).unwrap_or(chrono::Duration::zero()),
        };
        report.line(&format!(
            "stream {name}: failed: {reason}; starting it again in {}s",
            backoff.as_secs()
        ));
        if let Err(error) = store.record_stream_failure(&name, Some(&failure)).await {
            report.line(&format!("warning: stream {name}: {error}"));
        }
        let is_stopped = tokio::select! {
            () = tokio::time::sleep(backoff) => false,
            // The guard `wait_for` gives is dropped here, before the next await.
            _ = stop.wait_for(|is_stopping| *is_stopping) => true,
        };
        if is_stopped {
            // Stopped while waiting: no longer failing, only stopped.
            let _ = store.record_stream_failure(&name, None).await;
            return;
        }
        backoff = (backoff * 2).min(BACKOFF_CAP);
    }
}

/// The error and its causes, as one line (a cause its message already quotes is not
/// repeated).
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}
