//! `tidewater test WORKFLOW TASK`: renders and runs one task in the foreground, as
//! `airflow tasks test` does, to try a task while writing it.
//!
//! Nothing is recorded: the store is not opened (unless a `wait` task asks about another
//! workflow's runs, which only reads it), the attempt's log goes to a temporary folder and
//! to the terminal, and a `sql` task writes its table only with `--write`. The task runs
//! through the same runner a real attempt uses, with the same template values and
//! environment; its run id is 0, which no run has.
//!
//! Upstream tasks do not run, so their outputs (`tasks.X.output`) exist only when given with
//! `--output X=JSON`; a task whose templates read one that was not given is refused with a
//! message saying so, rather than failing inside the template.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tidewater_core::{
    Attempt, AttemptOutcome, FailureReason, HttpBody, RunId, SqlText, Task, TaskAction, TaskIndex,
    WaitCondition, Workflow,
};
use tidewater_engine::{
    AttemptPaths, AttemptReport, PartitionProbe, Runners, StoreRunProbe, SystemClock,
};
use tidewater_flow::{MaintainRunner, SqlRunner, WarehouseProbe};
use tidewater_http::HttpRunner;
use tidewater_spec::{Project, TemplateContext};
use tidewater_sqlite::SqliteStore;
use tokio::io::AsyncReadExt;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::Outcome;
use crate::args::TestArgs;
use crate::commands::run::{interval_request, param_overrides};
use crate::output;
use crate::project_context::{load_workflow, open_project, open_warehouse};
use tidewater_control::local_time;
use tidewater_control::{requested_interval, requested_params};

/// The run id templates see in a test: no run has it (ids start at 1).
const TEST_RUN: RunId = RunId(0);
/// How long a stopped task gets between SIGTERM and SIGKILL, as in a run.
const KILL_GRACE: Duration = Duration::from_secs(10);
/// How often the attempt's log is copied to the terminal while it runs.
const LOG_POLL: Duration = Duration::from_millis(100);

pub(super) async fn test(project: &Path, args: TestArgs) -> anyhow::Result<Outcome> {
    let project = open_project(project)?;
    let loaded = load_workflow(&project, &args.workflow)?;
    let workflow = &loaded.workflow;
    let index = find_task(workflow, &args.task)?;
    let task = workflow.task(index);
    let interval = requested_interval(
        workflow,
        &interval_request(args.date.as_deref(), args.interval.as_deref())?,
        chrono::Utc::now(),
    )?;
    let template = TemplateContext {
        workflow: workflow.name.clone(),
        task: task.name.clone(),
        run_id: TEST_RUN,
        interval,
        timezone: workflow.timezone,
        params: requested_params(workflow, &param_overrides(&args.params)?)?,
        task_outputs: requested_outputs(workflow, &args.outputs)?,
        // `open_project` has hidden their secrets in what this command prints.
        connections: Arc::new(tidewater_control::resolve_connections(&project)),
    };
    refuse_missing_outputs(&project, workflow, task, &template)?;
    output::note(format!(
        "testing {} of {} for {} ({} to {}); nothing is recorded",
        task.name,
        workflow.name,
        interval.ds(workflow.timezone),
        local_time::minutes(interval.start, workflow.timezone),
        local_time::minutes(interval.end, workflow.timezone),
    ));
    match &task.action {
        TaskAction::Empty => {
            output::note(format!(
                "{} is an `empty` task: there is nothing to run",
                task.name
            ));
            Ok(Outcome::Success)
        }
        TaskAction::Sh { .. } => {
            let outcome = run_attempt(&project, index, task, &template, Runners::new(None)).await?;
            Ok(sh_outcome(&outcome))
        }
        TaskAction::Sql(action) => {
            let mut runners = Runners::new(None);
            let warehouse = Arc::new(open_warehouse(&project)?);
            let mut sql_runner = SqlRunner::new(warehouse);
            if let Some(engines) = super::remote_engines(&project) {
                sql_runner = sql_runner.with_engines(engines);
            }
            runners.register_sql(Arc::new(sql_runner));
            let Some(into) = action.into.as_ref().filter(|_| !args.write) else {
                let outcome = run_attempt(&project, index, task, &template, runners).await?;
                return Ok(report(&outcome));
            };
            // The same query through the same runner, without its target: rows are read and
            // shown, nothing is written.
            let mut query_only = task.clone();
            query_only.action = TaskAction::Sql(tidewater_core::SqlAction {
                sql: action.sql.clone(),
                into: None,
                engine: action.engine.clone(),
            });
            let outcome = run_attempt(&project, index, &query_only, &template, runners).await?;
            let partition = into
                .partition
                .iter()
                .map(|(column, value)| {
                    let value = template.render(value).with_context(|| {
                        format!("cannot render the partition value of `{column}`")
                    })?;
                    Ok(format!("{column} = {value}"))
                })
                .collect::<anyhow::Result<Vec<String>>>()?;
            output::note(format!(
                "nothing was written; with --write, {} would write into {} ({}{})",
                task.name,
                into.table,
                into.mode.as_str(),
                if partition.is_empty() {
                    String::new()
                } else {
                    format!(", partition {}", partition.join(", "))
                }
            ));
            Ok(report(&outcome))
        }
        TaskAction::Wait(action) => {
            // Only a partition needs the warehouse, and opening it creates its folder.
            let probe: Option<Arc<dyn PartitionProbe>> = match action.condition {
                WaitCondition::Partition { .. } => Some(Arc::new(WarehouseProbe::new(Arc::new(
                    open_warehouse(&project)?,
                )))),
                _ => None,
            };
            let mut runners = Runners::new(probe);
            if let WaitCondition::Workflow { workflow: other } = &action.condition {
                let database = crate::project_context::sqlite_path(
                    &project,
                    "`tidewater test` of a workflow condition",
                )?;
                // No store file: no run of any workflow has succeeded, and opening one would
                // create it.
                if !database.exists() {
                    output::note(format!(
                        "the condition does not hold: the project has no store yet, so {other} has no succeeded run"
                    ));
                    return Ok(Outcome::Failure);
                }
                let store = SqliteStore::open(database)
                    .await
                    .with_context(|| format!("cannot open the store {}", database.display()))?;
                runners = runners.with_run_probe(Arc::new(StoreRunProbe::new(Arc::new(store))));
            }
            // A timeout of zero: the sensor looks once and, if the condition does not hold,
            // gives up at once instead of waiting `poke_interval`.
            let mut look_once = task.clone();
            look_once.timeout = Some(Duration::ZERO);
            let outcome = run_attempt(&project, index, &look_once, &template, runners).await?;
            Ok(match outcome {
                AttemptOutcome::Succeeded { .. } => {
                    output::note("the condition holds");
                    Outcome::Success
                }
                AttemptOutcome::Failed {
                    reason: FailureReason::TimedOut,
                } => {
                    output::note("the condition does not hold yet");
                    Outcome::Failure
                }
                other => report(&other),
            })
        }
        TaskAction::Maintain(action) => {
            if !args.write {
                output::note(format!(
                    "{} maintains {}: it rewrites the table's files, so it runs only with --write",
                    task.name, action.table
                ));
                return Ok(Outcome::Success);
            }
            let mut runners = Runners::new(None);
            let warehouse = Arc::new(open_warehouse(&project)?);
            runners.register_maintain(Arc::new(MaintainRunner::new(warehouse)));
            let outcome = run_attempt(&project, index, task, &template, runners).await?;
            Ok(report(&outcome))
        }
        TaskAction::Call(action) => {
            // A child run needs the store and an executor: a test of one task has neither.
            output::note(format!(
                "{} calls workflow {}: `tidewater test` runs one task without the store, so it cannot start a child run; try `tidewater test {}` on the called workflow's tasks, or run the workflow",
                task.name, action.workflow, action.workflow
            ));
            Ok(Outcome::Failure)
        }
        TaskAction::Http(_) => {
            // The request is sent: a test of an `http` task is the request itself, as a
            // test of an `sh` task runs its command.
            let mut runners = Runners::new(None);
            runners.register_http(Arc::new(HttpRunner::new()));
            let outcome = run_attempt(&project, index, task, &template, runners).await?;
            Ok(report(&outcome))
        }
    }
}

fn find_task(workflow: &Workflow, name: &str) -> anyhow::Result<TaskIndex> {
    workflow.index_of(name).with_context(|| {
        let known: Vec<&str> = workflow
            .tasks()
            .iter()
            .map(|task| task.name.as_str())
            .collect();
        format!(
            "{} has no task `{name}` (its tasks: {})",
            workflow.name,
            known.join(", ")
        )
    })
}

/// `--output TASK=JSON`: the outputs upstream tasks would have passed on.
fn requested_outputs(
    workflow: &Workflow,
    outputs: &[String],
) -> anyhow::Result<std::collections::BTreeMap<String, serde_json::Value>> {
    let mut given = std::collections::BTreeMap::new();
    for text in outputs {
        let Some((task, json)) = text.split_once('=') else {
            bail!("--output `{text}` is not TASK=JSON");
        };
        find_task(workflow, task).with_context(|| format!("--output `{task}`"))?;
        let value: serde_json::Value = serde_json::from_str(json)
            .ok()
            .filter(serde_json::Value::is_object)
            .with_context(|| {
                format!("--output `{task}`: `{json}` is not a JSON object (a task's output is one, e.g. '{{\"rows\": 7}}')")
            })?;
        given.insert(task.to_owned(), value);
    }
    Ok(given)
}

/// Refuses a task whose templates read `tasks.X.output` for an `X` not given with
/// `--output`: upstream tasks do not run in a test, so the value would be missing.
fn refuse_missing_outputs(
    project: &Project,
    workflow: &Workflow,
    task: &Task,
    template: &TemplateContext,
) -> anyhow::Result<()> {
    let texts = template_texts(project, task);
    let missing: Vec<&str> = workflow
        .tasks()
        .iter()
        .map(|other| other.name.as_str())
        .filter(|name| !template.task_outputs.contains_key(*name))
        .filter(|name| {
            let dotted = format!("tasks.{name}");
            texts.iter().any(|text| {
                text.match_indices(&dotted).any(|(at, _)| {
                    // `tasks.load` must not match `tasks.load_raw`.
                    !text[at + dotted.len()..].starts_with(|next: char| {
                        next.is_alphanumeric() || next == '_' || next == '-'
                    })
                })
            })
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let example: Vec<String> = missing
        .iter()
        .map(|name| format!("--output {name}='{{...}}'"))
        .collect();
    bail!(
        "{} reads the output of {} (`tasks.{}.output`), which `tidewater test` does not have: upstream tasks do not run in a test. Give it with {}",
        task.name,
        missing.join(", "),
        missing[0],
        example.join(" ")
    )
}

/// The template texts of a task, for looking at what they refer to.
fn template_texts(project: &Project, task: &Task) -> Vec<String> {
    match &task.action {
        TaskAction::Sh { command, env } => std::iter::once(command)
            .chain(env.iter().map(|(_, value)| value))
            .cloned()
            .collect(),
        TaskAction::Empty | TaskAction::Maintain(_) => Vec::new(),
        TaskAction::Sql(action) => {
            let mut texts = match &action.sql {
                SqlText::Inline(text) => vec![text.clone()],
                // A file that cannot be read is reported by the runner, which reads it too.
                SqlText::File(path) => std::fs::read_to_string(project.root.join(path))
                    .into_iter()
                    .collect(),
            };
            if let Some(into) = &action.into {
                texts.extend(into.partition.iter().map(|(_, value)| value.clone()));
            }
            texts
        }
        TaskAction::Wait(action) => match &action.condition {
            WaitCondition::Partition { partition, .. } => {
                partition.iter().map(|(_, value)| value.clone()).collect()
            }
            WaitCondition::Path { pattern } => vec![pattern.clone()],
            WaitCondition::Workflow { .. } => Vec::new(),
        },
        TaskAction::Call(action) => {
            // Its strings are the templates; the JSON text holds them all.
            let mut texts = vec![serde_json::Value::Object(action.params.clone()).to_string()];
            texts.extend(action.date.clone());
            texts
        }
        TaskAction::Http(action) => {
            let mut texts = vec![action.url.clone()];
            texts.extend(action.headers.iter().map(|(_, value)| value.clone()));
            match &action.body {
                Some(HttpBody::Text(text)) => texts.push(text.clone()),
                // Its strings are the templates; the JSON text holds them all.
                Some(HttpBody::Json(value)) => texts.push(value.to_string()),
                None => {}
            }
            texts
        }
    }
}

/// Starts one attempt of `task` with `runners`, copies its log to stdout as it grows, and
/// returns its outcome. Ctrl-C stops the attempt as a run would stop it. The log lives in a
/// temporary folder, removed afterwards.
async fn run_attempt(
    project: &Project,
    index: TaskIndex,
    task: &Task,
    template: &TemplateContext,
    runners: Runners,
) -> anyhow::Result<AttemptOutcome> {
    if !runners.has_runner_for(&task.action) {
        bail!(
            "no runner for `{}` tasks is installed in this build; this is a bug in tidewater",
            task.action.kind()
        );
    }
    let scratch = tempfile::Builder::new()
        .prefix("tidewater-test-")
        .tempdir()
        .context("cannot create a temporary folder for the task's log")?;
    let attempt = Attempt(1);
    let paths = AttemptPaths::new(scratch.path(), TEST_RUN, &task.name, attempt);
    let log_path = paths.log.clone();
    let (done, mut reports) = mpsc::unbounded_channel::<AttemptReport>();
    let mut started = runners.start(
        tidewater_engine::StartRequest {
            task_index: index,
            task,
            attempt,
            template,
            paths,
            project_root: &project.root,
            // No attempt marker: it lets recovery find a crashed run's leftover processes,
            // and a test has no run to recover (its process group is killed with it).
            env: Vec::new(),
            clock: Arc::new(SystemClock),
            kill_grace: KILL_GRACE,
        },
        &done,
    );
    // The runner holds the only sender now: a report always comes (see `AttemptReporter`).
    drop(done);
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut log = LogCopy::new(log_path);
    let mut is_stopping = false;
    let report = loop {
        tokio::select! {
            report = reports.recv() => break report,
            () = tokio::time::sleep(LOG_POLL) => log.copy_new().await,
            _ = interrupt.recv(), if !is_stopping => {
                is_stopping = true;
                output::note(format!("stopping {}: SIGTERM, then SIGKILL after {}s", task.name, KILL_GRACE.as_secs()));
                started.control.stop();
            }
            _ = terminate.recv(), if !is_stopping => {
                is_stopping = true;
                started.control.stop();
            }
        }
    };
    // The sh runner writes a finished attempt's last lines out here (`Runners::settle`).
    runners.settle();
    log.copy_new().await;
    let report =
        report.context("the task's runner ended without reporting; this is a bug in tidewater")?;
    if let AttemptOutcome::Succeeded {
        output: Some(value),
        ..
    } = &report.outcome
    {
        output::note(format!("output: {value}"));
    }
    Ok(report.outcome)
}

/// Copies what a log file gained since the last look to stdout.
struct LogCopy {
    path: std::path::PathBuf,
    copied: u64,
}

impl LogCopy {
    fn new(path: std::path::PathBuf) -> LogCopy {
        LogCopy { path, copied: 0 }
    }

    async fn copy_new(&mut self) {
        // The file appears once the runner creates it; until then there is nothing to copy.
        let Ok(mut file) = tokio::fs::File::open(&self.path).await else {
            return;
        };
        let mut bytes = Vec::new();
        if tokio::io::AsyncSeekExt::seek(&mut file, std::io::SeekFrom::Start(self.copied))
            .await
            .is_err()
            || file.read_to_end(&mut bytes).await.is_err()
        {
            return;
        }
        // Only whole lines: a line being written is copied once it ends.
        let Some(end) = bytes.iter().rposition(|byte| *byte == b'\n') else {
            return;
        };
        output::write_stdout(&bytes[..=end]);
        self.copied += end as u64 + 1;
    }
}

/// An `sh` task's outcome as the command's own exit status: 0, its code, or 128 + the
/// signal that killed it, as a shell reports it.
fn sh_outcome(outcome: &AttemptOutcome) -> Outcome {
    match outcome {
        AttemptOutcome::Failed {
            reason: FailureReason::Exit { code },
        } => {
            output::note(format!("exited with status {code}"));
            Outcome::Exit(u8::try_from(*code).unwrap_or(1).max(1))
        }
        AttemptOutcome::Failed {
            reason: FailureReason::Signal { signal },
        } => {
            output::note(format!("killed by signal {signal}"));
            Outcome::Exit(u8::try_from(128 + signal).unwrap_or(1))
        }
        other => report(other),
    }
}

fn report(outcome: &AttemptOutcome) -> Outcome {
    match outcome {
        AttemptOutcome::Succeeded { .. } => {
            output::note("succeeded");
            Outcome::Success
        }
        AttemptOutcome::Failed {
            reason: FailureReason::Cancelled,
        } => {
            output::note("stopped");
            Outcome::Cancelled
        }
        AttemptOutcome::Failed { reason } => {
            output::note(format!("failed: {reason}"));
            Outcome::Failure
        }
    }
}
