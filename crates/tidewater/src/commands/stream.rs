//! `tidewater stream run|pause|resume NAME` and `tidewater streams`.

use std::path::Path;

use anyhow::{Context, bail};
use tidewater_control::json::{StreamJson, StreamPauseJson};
use tidewater_control::{ControlError, StreamState};
use tidewater_stream::{PausePoint, RunOptions, StreamError, StreamEvent, StreamRunner};

use crate::Outcome;
use crate::args::{StreamCommand, StreamNameArgs, StreamRunArgs, StreamsArgs};
use crate::output;

/// The test-only hook that stops a stream at a known point of its commit, so that a crash
/// test kills it there without sleeping (`before_commit`, `after_dead_letters`,
/// `after_commit`, `after_ack`, and in a compaction `before_compaction`,
/// `before_compaction_commit`, `after_compaction`). Read here, at the edge, and passed down.
const PAUSE_AT_VARIABLE: &str = "TIDEWATER_STREAM_PAUSE_AT";

pub(super) async fn stream(project: &Path, command: StreamCommand) -> anyhow::Result<Outcome> {
    match command {
        StreamCommand::Run(args) => run(project, args).await,
        StreamCommand::Pause(args) => pause(project, args, true).await,
        StreamCommand::Resume(args) => pause(project, args, false).await,
    }
}

async fn pause(project: &Path, args: StreamNameArgs, is_paused: bool) -> anyhow::Result<Outcome> {
    let control = crate::project_context::open(project).await?;
    let change = control.set_stream_paused(&args.name, is_paused).await?;
    if args.json {
        output::json(&StreamPauseJson::new(&change))?;
        return Ok(Outcome::Success);
    }
    let name = &change.stream;
    output::note(match (change.is_changed, is_paused) {
        (true, true) => {
            format!("stream {name} paused: the server stops consuming it; its position is kept")
        }
        (true, false) => format!("stream {name} resumed from its committed position"),
        (false, true) => format!("stream {name} was already paused"),
        (false, false) => format!("stream {name} was not paused"),
    });
    Ok(Outcome::Success)
}

async fn run(project: &Path, args: StreamRunArgs) -> anyhow::Result<Outcome> {
    let pause_at = match std::env::var(PAUSE_AT_VARIABLE) {
        Ok(text) => Some(PausePoint::parse(&text).with_context(|| {
            format!("{PAUSE_AT_VARIABLE}={text} is not a pause point (before_commit, after_dead_letters, after_commit, after_ack, before_compaction, before_compaction_commit, after_compaction)")
        })?),
        Err(_) => None,
    };
    let control = crate::project_context::open(project).await?;
    let spec = tidewater_spec::load_stream(&control.project, &args.name)
        .map_err(ControlError::Diagnostics)?;
    let warehouse = control.warehouse()?;
    let Some(store) = control.store.streams() else {
        bail!("this project's store backend does not keep streams");
    };
    let records = store.stream_records().await?;
    if records
        .iter()
        .any(|record| record.name == spec.name && record.is_paused)
    {
        output::note(format!(
            "error: stream {} is paused; `tidewater stream resume {}` first",
            spec.name, spec.name
        ));
        return Ok(Outcome::Failure);
    }
    let runner = StreamRunner {
        spec: &spec,
        warehouse: &warehouse,
        store,
        owners: control.owners.as_ref(),
    };
    let options = RunOptions {
        pause_at,
        until_caught_up: args.until_caught_up,
    };
    let mut observer = |event: StreamEvent<'_>| match event {
        StreamEvent::Started { position } => output::note(match position {
            Some(position) => format!(
                "stream {}: resuming after sequence {position} into {}",
                spec.name, spec.into.table
            ),
            None => format!(
                "stream {}: starting from the first message into {}",
                spec.name, spec.into.table
            ),
        }),
        StreamEvent::Committed(report) => output::note(format!(
            "stream {}: committed {} message(s) ({} row(s), {} dead letter(s)) through sequence {}{}",
            spec.name,
            report.messages,
            report.rows_written,
            report.dead_letters,
            report.position,
            report
                .table_version
                .map(|version| format!(", table version {version}"))
                .unwrap_or_default()
        )),
        StreamEvent::Compacted { files_removed } => output::note(format!(
            "stream {}: compacted {} ({files_removed} small file(s) rewritten)",
            spec.name, spec.into.table
        )),
        StreamEvent::Paused { point, position } => output::note(format!(
            "stream {}: paused at {} (sequence {position})",
            spec.name,
            point.as_str()
        )),
    };
    let summary = match runner.run(options, shutdown_signal(), &mut observer).await {
        Ok(summary) => summary,
        // Not a failure of this process: the stream is in good hands. Exit 1, as a refusal.
        Err(refused @ StreamError::OwnedElsewhere { .. }) => {
            output::note(format!("error: {refused}"));
            return Ok(Outcome::Failure);
        }
        Err(error) => return Err(error.into()),
    };
    output::note(format!(
        "stream {}: stopped after {} batch(es), {} message(s), {} dead letter(s){}",
        spec.name,
        summary.batches,
        summary.messages,
        summary.dead_letters,
        summary
            .position
            .map(|position| format!("; committed through sequence {position}"))
            .unwrap_or_default()
    ));
    Ok(Outcome::Success)
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

pub(super) async fn streams(project: &Path, args: StreamsArgs) -> anyhow::Result<Outcome> {
    let control = crate::project_context::open(project).await?;
    let list = control.stream_list().await?;
    if !list.diagnostics.is_empty() {
        output::diagnostics(&list.diagnostics);
    }
    if args.json {
        let shapes: Vec<StreamJson> = list.streams.iter().map(StreamJson::new).collect();
        output::json(&shapes)?;
        return Ok(Outcome::Success);
    }
    if list.streams.is_empty() {
        output::note(
            "no stream files yet; add one under streams/ (see the README's Streams section)",
        );
        return Ok(Outcome::Success);
    }
    let shown = |value: Option<String>| value.unwrap_or_else(|| "-".to_owned());
    let rows: Vec<Vec<String>> = list
        .streams
        .iter()
        .map(|stream| {
            let last_commit = stream.last_commit.as_ref();
            vec![
                stream.spec.name.clone(),
                match &stream.state {
                    StreamState::Running { owner } => format!("running (pid {})", owner.pid),
                    other => other.name().to_owned(),
                },
                stream.spec.into.table.to_string(),
                shown(stream.committed.map(|position| position.to_string())),
                shown(stream.lag.map(|lag| lag.to_string())),
                shown(last_commit.map(|commit| format!("{:.0}/s", commit.rate))),
                shown(
                    last_commit.map(|commit| commit.at.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
                ),
                stream.dead_letters.to_string(),
            ]
        })
        .collect();
    output::data(output::table(
        &[
            "STREAM",
            "STATE",
            "TABLE",
            "COMMITTED",
            "LAG",
            "RATE",
            "LAST COMMIT",
            "DEAD LETTERS",
        ],
        &rows,
    ));
    for stream in &list.streams {
        if let StreamState::Failing {
            reason, retry_at, ..
        } = &stream.state
        {
            output::note(format!(
                "stream {}: failing: {reason} (tried again at {})",
                stream.spec.name,
                retry_at.format("%H:%M:%S UTC")
            ));
        }
        for problem in &stream.problems {
            output::note(format!("stream {}: {problem}", stream.spec.name));
        }
    }
    Ok(Outcome::Success)
}
