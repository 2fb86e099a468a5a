//! `tidewater backfill`: one run per interval of a date range, admitted a few at a time;
//! stopped and given again, the same command resumes the same backfill. The use case is
//! `tidewater-control`'s; this command parses, calls it, and prints.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use tidewater_control::{
    BackfillPlan, BackfillRequest, BackfillStep, BackfillSummary, Control, time_arg,
};
use tidewater_core::{Change, RunId, RunState, RunView, Workflow, WorkflowName};
use tidewater_engine::{RunObserver, ServiceObserver};
use tidewater_store::{BackfillRecord, RunCounts, RunRecord};
use tokio::signal::unix::{SignalKind, signal};

use crate::Outcome;
use crate::args::BackfillArgs;
use crate::output;

pub(super) async fn backfill(project: &Path, args: BackfillArgs) -> anyhow::Result<Outcome> {
    let control = crate::project_context::open(project).await?;
    let request = BackfillRequest {
        workflow: args.workflow,
        from: time_arg::parse_date(&args.from).context("--from")?,
        to: time_arg::parse_date(&args.to).context("--to")?,
        max_active_runs: args.max_active_runs,
        order: BackfillRequest::order_of(args.reverse),
        only_missing: args.only_missing,
        dry_run: args.dry_run,
    };
    let backfill = control.backfill(&request).await?;
    let plan = &backfill.plan;
    let workflow = &plan.loaded.workflow;
    let (from, to) = (plan.from, plan.to);
    if plan.intervals.is_empty() {
        output::note(format!(
            "{} has no ended interval from {from} to {to}: nothing to backfill",
            workflow.name
        ));
        return Ok(Outcome::Success);
    }
    let Some(recorded) = backfill.recorded else {
        print_plan(plan);
        return Ok(Outcome::Success);
    };
    let record = &recorded.record;
    if recorded.is_resumed {
        output::note(format!(
            "resuming backfill {} of {} from {from} to {to}",
            record.id, workflow.name
        ));
    }
    output::note(format!(
        "backfill {} of {}: {} intervals, {} runs created, {} to run again, {} skipped; at most {} at a time",
        record.id,
        workflow.name,
        plan.intervals.len(),
        recorded.created,
        recorded.requeued,
        recorded.skipped,
        record.max_active_runs
    ));
    let outcome = match control.live_service().await? {
        Some(service) => {
            control.wake(service.process);
            output::note(format!(
                "the server (pid {}) runs them; following progress (Ctrl-C stops following, not the backfill)",
                service.process.pid
            ));
            follow(&control, record).await?
        }
        None => execute(&control, record, args.execution.parallelism).await?,
    };
    Ok(outcome)
}

fn print_plan(plan: &BackfillPlan) {
    let timezone = plan.loaded.workflow.timezone;
    let rows: Vec<Vec<String>> = plan
        .intervals
        .iter()
        .map(|planned| {
            vec![
                planned.interval.ds(timezone).to_string(),
                planned.interval.start.with_timezone(&timezone).to_rfc3339(),
                match &planned.step {
                    BackfillStep::Create => "run".to_owned(),
                    BackfillStep::RunAgain { run, .. } => format!("run {run} again"),
                    BackfillStep::Keep { run, state } => format!("keep run {run} ({state})"),
                    BackfillStep::Skip(why) => format!("skip: {why}"),
                },
            ]
        })
        .collect();
    output::data(output::table(
        &["DS", "DATA INTERVAL START", "ACTION"],
        &rows,
    ));
    output::note("dry run: nothing was recorded");
}

/// Executes the backfill's runs in this process (no server is running), with a progress
/// line; Ctrl-C or SIGTERM stops it gracefully.
async fn execute(
    control: &Control,
    backfill: &BackfillRecord,
    parallelism: Option<u32>,
) -> anyhow::Result<Outcome> {
    let progress = Arc::new(BackfillProgress::new(
        control.backfill_counts(backfill.id).await?,
    ));
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let stop = async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    };
    let on_stop = || {
        output::note(
            "stopping the backfill: running tasks get SIGTERM, then SIGKILL after 10s; give the same command again to resume it",
        );
    };
    control
        .execute_backfill(backfill, parallelism, progress.clone(), stop, on_stop)
        .await?;
    progress.finish();
    summarize(control, backfill).await
}

/// Follows a backfill that the server executes, until its runs have ended.
async fn follow(control: &Control, backfill: &BackfillRecord) -> anyhow::Result<Outcome> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut last = String::new();
    loop {
        // Counts, not the runs: a look costs the same for 10 runs and 10,000.
        let counts = control.backfill_counts(backfill.id).await?;
        let line = counts_line(&counts);
        if line != last {
            output::note(&line);
            last = line;
        }
        if counts.active() == 0 {
            return summarize(control, backfill).await;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = interrupt.recv() => {
                output::note(format!("stopped following; the server goes on with backfill {}", backfill.id));
                return Ok(Outcome::Cancelled);
            }
        }
    }
}

async fn summarize(control: &Control, backfill: &BackfillRecord) -> anyhow::Result<Outcome> {
    let BackfillSummary {
        counts,
        is_finished,
        unfinished,
    } = control.backfill_summary(backfill).await?;
    output::note(format!(
        "backfill {}: {}",
        backfill.id,
        counts_line(&counts)
    ));
    if is_finished {
        return Ok(Outcome::Success);
    }
    for runs in &unfinished {
        let (state, count) = (runs.state, runs.count);
        let mut ids: Vec<String> = runs.first.iter().map(RunId::to_string).collect();
        if runs.more > 0 {
            ids.push(format!("and {} more", runs.more));
        }
        output::note(format!(
            "{count} {state}: {}; `tidewater runs {} --backfill {} --state {state} --limit {count}` lists them",
            ids.join(", "),
            backfill.workflow,
            backfill.id,
        ));
    }
    output::note(
        "give the same command again to run the runs that did not succeed (it resumes this backfill)",
    );
    Ok(if counts.failed > 0 {
        Outcome::Failure
    } else {
        Outcome::Cancelled
    })
}

fn counts_line(counts: &RunCounts) -> String {
    format!(
        "{}/{} runs succeeded, {} failed, {} cancelled, {} to go",
        counts.succeeded,
        counts.total(),
        counts.failed,
        counts.cancelled,
        counts.active()
    )
}

/// Progress of a backfill executed here: a live line on a terminal, a line per ended run
/// otherwise.
struct BackfillProgress {
    bar: Option<ProgressBar>,
    total: u32,
    ended: AtomicU32,
    failed: AtomicU32,
}

impl BackfillProgress {
    fn new(counts: RunCounts) -> BackfillProgress {
        let total = u32::try_from(counts.total()).unwrap_or(u32::MAX);
        let already = u32::try_from(counts.succeeded).unwrap_or(u32::MAX);
        let bar = output::is_interactive().then(|| {
            let bar = ProgressBar::new(u64::from(total));
            bar.set_style(
                ProgressStyle::with_template("[{elapsed_precise}] {bar:30} {pos}/{len} runs {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_position(u64::from(already));
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        BackfillProgress {
            bar,
            total,
            ended: AtomicU32::new(already),
            failed: AtomicU32::new(0),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl RunObserver for BackfillProgress {
    fn changed(&self, _: RunId, _: &Workflow, _: &[Change], _: &RunView) {}
}

impl ServiceObserver for BackfillProgress {
    fn run_created(&self, _: &RunRecord) {}

    fn run_started(&self, _: &RunRecord) {}

    fn run_ended(&self, run: RunId, workflow: &WorkflowName, state: &Result<RunState, String>) {
        let ended = self.ended.fetch_add(1, Ordering::Relaxed) + 1;
        let text = match state {
            Ok(state) => state.name().to_owned(),
            Err(error) => error.clone(),
        };
        if !matches!(state, Ok(RunState::Succeeded { .. })) {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        match &self.bar {
            Some(bar) => {
                bar.set_position(u64::from(ended));
                let failed = self.failed.load(Ordering::Relaxed);
                if failed > 0 {
                    bar.set_message(format!("({failed} not succeeded)"));
                }
                if !matches!(state, Ok(RunState::Succeeded { .. })) {
                    bar.println(format!("{workflow} run {run} {text}"));
                }
            }
            None => output::note(format!(
                "{workflow} run {run} {text} ({ended}/{})",
                self.total
            )),
        }
    }

    fn waiting_for_others(&self, runs: usize) {
        let line = if runs == 1 {
            "1 run of this backfill is executed by another process (the same backfill given twice); waiting for it".to_owned()
        } else {
            format!(
                "{runs} runs of this backfill are executed by another process (the same backfill given twice); waiting for them"
            )
        };
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    fn problem(&self, message: &str) {
        output::note(message);
    }
}
