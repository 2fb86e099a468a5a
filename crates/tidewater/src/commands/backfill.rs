//! `tidewater backfill`: one run per interval of a date range, admitted a few at a time;
//! stopped and given again, the same command resumes the same backfill.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressStyle};
use tidewater_core::{
    BackfillOrder, BackfillRange, Change, DataInterval, RunId, RunQueueKey, RunState, RunStateKind,
    RunView, SchedulePlan, TaskAction, Workflow, WorkflowName,
};
use tidewater_engine::{
    RunObserver, Scope, Service, ServiceObserver, SystemClock, new_run, requeue,
};
use tidewater_flow::{FlowError, TableName};
use tidewater_spec::LoadedWorkflow;
use tidewater_store::{BackfillRecord, NewBackfill, RunCounts, RunFilter, RunRecord, RunTrigger};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Notify, watch};

use crate::Outcome;
use crate::args::BackfillArgs;
use crate::output;
use crate::project_context::open_warehouse;
use tidewater_control::Control;
use tidewater_control::time_arg;

/// What the backfill does with one interval.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Plan {
    /// Create a run.
    Create,
    /// The backfill already has this run (resumed); run it again if it did not succeed.
    Resume(RunId, &'static str),
    /// `--only-missing`: skipped, and why.
    Skip(String),
}

pub(super) async fn backfill(project: &Path, args: BackfillArgs) -> anyhow::Result<Outcome> {
    let context = crate::project_context::open(project).await?;
    let loaded = context.load_workflow(&args.workflow)?;
    let workflow = &loaded.workflow;
    let from = time_arg::parse_date(&args.from).context("--from")?;
    let to = time_arg::parse_date(&args.to).context("--to")?;
    let order = if args.reverse {
        BackfillOrder::NewestFirst
    } else {
        BackfillOrder::OldestFirst
    };
    let intervals = range_intervals(workflow, from, to, order)?;
    if args.max_active_runs == Some(0) {
        bail!("--max-active-runs must be at least 1");
    }
    if intervals.is_empty() {
        output::note(format!(
            "{} has no ended interval from {from} to {to}: nothing to backfill",
            workflow.name
        ));
        return Ok(Outcome::Success);
    }
    let existing = context
        .store
        .unfinished_backfill(&workflow.name, from, to)
        .await?;
    let plan = plan(
        &context,
        &loaded,
        &intervals,
        existing.as_ref(),
        args.only_missing,
    )
    .await?;
    if args.dry_run {
        print_plan(workflow, &plan);
        return Ok(Outcome::Success);
    }
    // Finds the unfinished backfill of this range or creates it, atomically: the same
    // command given twice at once shares one backfill and its runs.
    let backfill = context
        .store
        .create_backfill(NewBackfill {
            workflow: workflow.name.clone(),
            from,
            to,
            max_active_runs: args.max_active_runs.unwrap_or(workflow.max_active_runs),
            reverse: args.reverse,
            created_at: chrono::Utc::now(),
        })
        .await?;
    if existing.is_some() {
        output::note(format!(
            "resuming backfill {} of {} from {from} to {to}",
            backfill.id, workflow.name
        ));
    }
    let (mut created, mut requeued, mut skipped) = (0, 0, 0);
    for (interval, step) in &plan {
        match step {
            Plan::Create => {
                let run = new_run(
                    &loaded,
                    *interval,
                    RunTrigger::Backfill,
                    Some(backfill.id),
                    chrono::Utc::now(),
                );
                if context.store.create_run_once(run).await?.is_some() {
                    created += 1;
                }
            }
            Plan::Resume(run, "failed" | "cancelled") => {
                // Queued again: the executor runs its failed and cancelled tasks again.
                let record = context.run_record(*run).await?;
                let pinned = context.pinned_workflow(&record).await?;
                requeue(&*context.store, &pinned.workflow, *run, chrono::Utc::now()).await?;
                requeued += 1;
            }
            Plan::Resume(..) => {}
            Plan::Skip(_) => skipped += 1,
        }
    }
    output::note(format!(
        "backfill {} of {}: {} intervals, {created} runs created, {requeued} to run again, {skipped} skipped; at most {} at a time",
        backfill.id,
        workflow.name,
        plan.len(),
        backfill.max_active_runs
    ));
    let outcome = match context.live_service().await? {
        Some(service) => {
            context.wake(service.process);
            output::note(format!(
                "the server (pid {}) runs them; following progress (Ctrl-C stops following, not the backfill)",
                service.process.pid
            ));
            follow(&context, &backfill).await?
        }
        None => execute(&context, &backfill, args.execution.parallelism).await?,
    };
    Ok(outcome)
}

/// The intervals of a workflow whose start falls on a date from `from` to `to`: the
/// schedule's intervals, or days for a workflow without a schedule.
pub(super) fn range_intervals(
    workflow: &Workflow,
    from: NaiveDate,
    to: NaiveDate,
    order: BackfillOrder,
) -> anyhow::Result<Vec<DataInterval>> {
    let range = BackfillRange::new(from, to, order)?;
    Ok(match SchedulePlan::for_workflow(workflow) {
        Some(plan) => plan.backfill(&range, chrono::Utc::now()).intervals,
        None => {
            let mut days: Vec<DataInterval> = from
                .iter_days()
                .take_while(|day| *day <= to)
                .map(|day| DataInterval::day(day, workflow.timezone))
                .collect();
            if order == BackfillOrder::NewestFirst {
                days.reverse();
            }
            days
        }
    })
}

async fn plan(
    context: &Control,
    loaded: &LoadedWorkflow,
    intervals: &[DataInterval],
    existing: Option<&BackfillRecord>,
    only_missing: bool,
) -> anyhow::Result<Vec<(DataInterval, Plan)>> {
    let workflow = &loaded.workflow;
    let own: HashMap<DataInterval, RunRecord> = match existing {
        Some(backfill) => context
            .store
            .backfill_runs(backfill.id)
            .await?
            .into_iter()
            .map(|run| (run.interval, run))
            .collect(),
        None => HashMap::new(),
    };
    let (first, last) = intervals
        .iter()
        .fold((intervals[0].start, intervals[0].start), |(lo, hi), i| {
            (lo.min(i.start), hi.max(i.start))
        });
    let succeeded: HashMap<DataInterval, RunId> = if only_missing {
        context
            .store
            .runs_in_range(
                &workflow.name,
                first,
                last + chrono::Duration::microseconds(1),
            )
            .await?
            .into_iter()
            .filter(|run| matches!(run.state, RunState::Succeeded { .. }))
            .map(|run| (run.interval, run.id))
            .collect()
    } else {
        HashMap::new()
    };
    let present = if only_missing {
        partitions_present(context, workflow, intervals).await?
    } else {
        HashSet::new()
    };
    Ok(intervals
        .iter()
        .map(|interval| {
            let step = if let Some(run) = own.get(interval) {
                Plan::Resume(run.id, run.state.name())
            } else if let Some(run) = succeeded.get(interval) {
                Plan::Skip(format!("run {run} succeeded"))
            } else if present.contains(interval) {
                Plan::Skip("its partitions exist".to_owned())
            } else {
                Plan::Create
            };
            (*interval, step)
        })
        .collect())
}

/// Intervals whose partition exists in every table the workflow writes a partition of
/// (the partition named by the interval's `ds`). None for a workflow that writes none.
async fn partitions_present(
    context: &Control,
    workflow: &Workflow,
    intervals: &[DataInterval],
) -> anyhow::Result<HashSet<DataInterval>> {
    let written: Vec<(String, String)> = workflow
        .tasks()
        .iter()
        .filter_map(|task| match &task.action {
            TaskAction::Sql(sql) => sql.into.as_ref().and_then(|into| {
                into.partition
                    .first()
                    .map(|(column, _)| (into.table.to_string(), column.clone()))
            }),
            _ => None,
        })
        .collect();
    if written.is_empty() {
        return Ok(HashSet::new());
    }
    let warehouse = open_warehouse(&context.project)?;
    let values: Vec<String> = intervals
        .iter()
        .map(|interval| interval.ds(workflow.timezone).to_string())
        .collect();
    let mut missing_anywhere: HashSet<String> = HashSet::new();
    for (table, column) in written {
        let name: TableName = table
            .parse()
            .with_context(|| format!("table `{table}` of {}", workflow.name))?;
        match warehouse.missing_partitions(&name, &column, &values).await {
            Ok(missing) => missing_anywhere.extend(missing),
            // A table not created yet misses every partition.
            Err(FlowError::UnknownTable { .. }) => missing_anywhere.extend(values.clone()),
            Err(error) => return Err(error.into()),
        }
    }
    Ok(intervals
        .iter()
        .filter(|interval| !missing_anywhere.contains(&interval.ds(workflow.timezone).to_string()))
        .copied()
        .collect())
}

fn print_plan(workflow: &Workflow, plan: &[(DataInterval, Plan)]) {
    let rows: Vec<Vec<String>> = plan
        .iter()
        .map(|(interval, step)| {
            vec![
                interval.ds(workflow.timezone).to_string(),
                interval
                    .start
                    .with_timezone(&workflow.timezone)
                    .to_rfc3339(),
                match step {
                    Plan::Create => "run".to_owned(),
                    Plan::Resume(run, "failed" | "cancelled") => format!("run {run} again"),
                    Plan::Resume(run, state) => format!("keep run {run} ({state})"),
                    Plan::Skip(why) => format!("skip: {why}"),
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

/// Executes the backfill's runs in this process (no server is running).
async fn execute(
    context: &Control,
    backfill: &BackfillRecord,
    parallelism: Option<u32>,
) -> anyhow::Result<Outcome> {
    let progress = Arc::new(BackfillProgress::new(
        context.store.backfill_counts(backfill.id).await?,
    ));
    let executor = Arc::new(context.executor(parallelism, progress.clone())?);
    let project = Arc::new(context.project.clone());
    // The pinned versions of the runs are read from the store; the catalog only has to
    // hold the current version, for the backfill's workflow.
    let loaded = Arc::new(context.load_workflow(backfill.workflow.as_str())?);
    let catalog = tidewater_engine::Catalog {
        workflows: HashMap::from([(backfill.workflow.clone(), loaded)]),
        files: Vec::new(),
    };
    let (_keep, catalog) = watch::channel(Arc::new(catalog));
    let service = Service {
        store: context.store.clone(),
        clock: Arc::new(SystemClock),
        executor,
        project,
        scope: Scope::Backfill(backfill.id),
        observer: progress.clone(),
    };
    let (stop, stopped) = watch::channel(false);
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    // `tidewater cancel` of one of the runs wakes this process.
    let mut user1 = signal(SignalKind::user_defined1())?;
    let wake = Arc::new(Notify::new());
    let waker = wake.clone();
    let on_signal = async move {
        loop {
            tokio::select! {
                _ = interrupt.recv() => break,
                _ = terminate.recv() => break,
                _ = user1.recv() => waker.notify_one(),
            }
        }
        output::note(
            "stopping the backfill: running tasks get SIGTERM, then SIGKILL after 10s; give the same command again to resume it",
        );
        let _ = stop.send(true);
        std::future::pending::<()>().await;
    };
    tokio::select! {
        result = service.run(catalog, wake, stopped) => result?,
        () = on_signal => unreachable!("the signal future never completes"),
    }
    progress.finish();
    summarize(context, backfill).await
}

/// Follows a backfill that the server executes, until its runs have ended.
async fn follow(context: &Control, backfill: &BackfillRecord) -> anyhow::Result<Outcome> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut last = String::new();
    loop {
        // Counts, not the runs: a look costs the same for 10 runs and 10,000.
        let counts = context.store.backfill_counts(backfill.id).await?;
        let line = counts_line(&counts);
        if line != last {
            output::note(&line);
            last = line;
        }
        if counts.active() == 0 {
            return summarize(context, backfill).await;
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

/// How many runs of a backfill `summarize` names by id, per state: the rest are counted, and
/// a command lists them (a year of hourly runs must not print 8,760 ids).
const IDS_SHOWN: u32 = 5;

async fn summarize(context: &Control, backfill: &BackfillRecord) -> anyhow::Result<Outcome> {
    let counts = context.store.backfill_counts(backfill.id).await?;
    output::note(format!(
        "backfill {}: {}",
        backfill.id,
        counts_line(&counts)
    ));
    if counts.succeeded == counts.total() {
        context
            .store
            .finish_backfill(backfill.id, chrono::Utc::now())
            .await?;
        return Ok(Outcome::Success);
    }
    for (state, count) in [
        (RunStateKind::Failed, counts.failed),
        (RunStateKind::Cancelled, counts.cancelled),
        (RunStateKind::Queued, counts.queued),
        (RunStateKind::Running, counts.running),
    ] {
        if count == 0 {
            continue;
        }
        let first = if state == RunStateKind::Queued {
            // The next ones to run.
            context
                .store
                .queued_runs(
                    &RunQueueKey::Backfill(backfill.id),
                    backfill.order(),
                    IDS_SHOWN,
                )
                .await?
        } else {
            // The latest ones (`list_runs` lists newest first).
            let mut latest = context
                .store
                .list_runs(&RunFilter {
                    state: Some(state),
                    backfill: Some(backfill.id),
                    limit: Some(IDS_SHOWN),
                    ..RunFilter::default()
                })
                .await?;
            latest.reverse();
            latest
        };
        let mut ids: Vec<String> = first.iter().map(|run| run.id.to_string()).collect();
        if count > u64::from(IDS_SHOWN) {
            ids.push(format!("and {} more", count - u64::from(IDS_SHOWN)));
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
            None => eprintln!("{workflow} run {run} {text} ({ended}/{})", self.total),
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
        eprintln!("{message}");
    }
}
