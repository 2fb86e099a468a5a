//! Command-line arguments: clap structures only, no logic.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "tidewater",
    version,
    about = "Runs data pipelines: durable, resumable, safe to re-run."
)]
pub struct Cli {
    /// The project folder (holding tidewater.toml).
    #[arg(long, global = true, default_value = ".", value_name = "DIR")]
    pub project: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a small working example project.
    Init(InitArgs),
    /// Check every workflow file and report all problems.
    Validate,
    /// Create a run of a workflow and execute it in the foreground.
    Run(RunArgs),
    /// Resume a failed or cancelled run: succeeded tasks are kept, the others run again.
    Retry(RetryArgs),
    /// Cancel a queued or running run; whichever process executes it stops its tasks.
    Cancel(CancelArgs),
    /// Reset chosen tasks of a run and run them again.
    Clear(ClearArgs),
    /// List runs, newest first.
    Runs(RunsArgs),
    /// Show a run and its tasks.
    Status(StatusArgs),
    /// Print the log of a task's attempt.
    Logs(LogsArgs),
    /// Print a workflow's DAG.
    Show(ShowArgs),
    /// Print the next data intervals of a scheduled workflow.
    Next(NextArgs),
    /// Run a SQL query over the warehouse and print the result.
    Query(QueryArgs),
    /// List the warehouse's tables, or describe one (schema, partitions, who wrote them).
    Tables(TablesArgs),
    /// Rewrite a table's small files into larger ones.
    Compact(CompactArgs),
    /// Run the scheduler and executor until stopped (SIGTERM or Ctrl-C).
    Server(ServerArgs),
    /// Create no new runs of a workflow until `unpause` (running ones finish).
    Pause(PauseArgs),
    /// Let the scheduler create runs of a paused workflow again.
    Unpause(PauseArgs),
    /// Queue a manual run for the server to start.
    Trigger(TriggerArgs),
    /// Create one run per interval of a date range and run them a few at a time.
    Backfill(BackfillArgs),
    /// Explain what is waiting and why.
    Queue(QueueArgs),
    /// Delete a table's files that no version newer than the retention needs.
    Vacuum(VacuumArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to create the project (default: the --project folder).
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    pub workflow: String,
    /// Run the interval of this date (YYYY-MM-DD, in the workflow's time zone).
    #[arg(long, conflicts_with = "interval")]
    pub date: Option<String>,
    /// Run an explicit interval START/END (dates or RFC 3339 times).
    #[arg(long)]
    pub interval: Option<String>,
    /// Override a parameter: --param key=value (repeatable; values are JSON or text).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Start even while another run of the same workflow and interval is queued or running.
    #[arg(long)]
    pub allow_concurrent: bool,
    #[command(flatten)]
    pub execution: ExecutionArgs,
}

#[derive(Debug, Args)]
pub struct ExecutionArgs {
    /// How many tasks may run at once (default: tidewater.toml's `parallelism`, else the number of cores).
    #[arg(long)]
    pub parallelism: Option<u32>,
}

#[derive(Debug, Args)]
pub struct ServerArgs {
    #[command(flatten)]
    pub execution: ExecutionArgs,
}

#[derive(Debug, Args)]
pub struct PauseArgs {
    pub workflow: String,
}

#[derive(Debug, Args)]
pub struct TriggerArgs {
    pub workflow: String,
    /// The interval of this date (YYYY-MM-DD, in the workflow's time zone); default: the
    /// latest complete interval.
    #[arg(long)]
    pub date: Option<String>,
    /// Override a parameter: --param key=value (repeatable).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Queue it even while another run of the same workflow and interval is queued or running.
    #[arg(long)]
    pub allow_concurrent: bool,
}

#[derive(Debug, Args)]
pub struct BackfillArgs {
    pub workflow: String,
    /// First date (YYYY-MM-DD, in the workflow's time zone).
    #[arg(long)]
    pub from: String,
    /// Last date, inclusive.
    #[arg(long)]
    pub to: String,
    /// How many of the backfill's runs may be active at once (default: the workflow's
    /// max_active_runs).
    #[arg(long)]
    pub max_active_runs: Option<u32>,
    /// Newest interval first.
    #[arg(long)]
    pub reverse: bool,
    /// Skip intervals that already have a successful run, or whose partitions exist.
    #[arg(long)]
    pub only_missing: bool,
    /// Print what would be done; record nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub execution: ExecutionArgs,
}

#[derive(Debug, Args)]
pub struct QueueArgs {
    /// The parallelism to explain against (default: as tidewater.toml says).
    #[arg(long)]
    pub parallelism: Option<u32>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RetryArgs {
    pub run_id: i64,
    /// Resume on the workflow's current file instead of the version the run started with.
    #[arg(long)]
    pub latest: bool,
    #[command(flatten)]
    pub execution: ExecutionArgs,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    pub run_id: i64,
    /// Return once the cancel is asked for, without waiting for the run to stop.
    #[arg(long)]
    pub no_wait: bool,
}

#[derive(Debug, Args)]
pub struct ClearArgs {
    pub run_id: i64,
    /// A task to reset (repeatable).
    #[arg(long = "task", required = true)]
    pub tasks: Vec<String>,
    /// Also reset everything downstream of the chosen tasks.
    #[arg(long)]
    pub downstream: bool,
    #[command(flatten)]
    pub execution: ExecutionArgs,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    pub workflow: Option<String>,
    /// How many runs to list.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Only runs in this state: queued, running, succeeded, failed or cancelled.
    #[arg(long)]
    pub state: Option<tidewater_core::RunStateKind>,
    /// Only the runs of this backfill (its id is printed when it starts).
    #[arg(long)]
    pub backfill: Option<i64>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// A run; without it, the server's health: workflows, next due times, running and
    /// queued work, broken files.
    pub run_id: Option<i64>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    pub run_id: i64,
    pub task: String,
    /// Which attempt (default: the latest).
    #[arg(long)]
    pub attempt: Option<u32>,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    pub workflow: String,
    #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
    pub format: ShowFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ShowFormat {
    Text,
    Dot,
    Mermaid,
}

#[derive(Debug, Args)]
pub struct NextArgs {
    pub workflow: String,
    /// How many intervals.
    #[arg(short = 'n', default_value_t = 5)]
    pub count: usize,
    /// Start after this time (RFC 3339 or YYYY-MM-DD) instead of now.
    #[arg(long)]
    pub after: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// One SELECT (or WITH) query; tables are `schema.table`, files `read_csv('path')`.
    pub sql: String,
    #[arg(long, value_enum, default_value_t = QueryFormat::Table)]
    pub format: QueryFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum QueryFormat {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct TablesArgs {
    /// A table to describe (`schema.table`); without it, list the tables.
    pub name: Option<String>,
    /// List the intervals of --workflow between --from and --to whose partition is missing.
    #[arg(long, requires_all = ["name", "workflow", "from", "to"])]
    pub missing: bool,
    #[arg(long)]
    pub workflow: Option<String>,
    /// First date (YYYY-MM-DD, in the workflow's time zone).
    #[arg(long)]
    pub from: Option<String>,
    /// Last date, inclusive.
    #[arg(long)]
    pub to: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompactArgs {
    /// The table (`schema.table`).
    pub table: String,
}

#[derive(Debug, Args)]
pub struct VacuumArgs {
    /// The table (`schema.table`).
    pub table: String,
    /// Keep files that versions younger than this need (e.g. 7d, 168h).
    #[arg(long, default_value = "7d")]
    pub retention: String,
    /// Only list the files that would be deleted.
    #[arg(long)]
    pub dry_run: bool,
}
