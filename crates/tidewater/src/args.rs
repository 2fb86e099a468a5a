//! Command-line arguments: clap structures only, no logic.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "tidewater",
    version,
    about = "Runs data pipelines: durable, resumable, safe to re-run."
)]
pub(crate) struct Cli {
    /// The project folder (holding tidewater.toml).
    #[arg(long, global = true, default_value = ".", value_name = "DIR")]
    pub project: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Write a small working example project.
    Init(InitArgs),
    /// Check every workflow file and report all problems.
    Validate,
    /// List the workflows: schedule, next due time, paused, last run, broken files (no server
    /// needed).
    Workflows(WorkflowsArgs),
    /// Create a run of a workflow and execute it in the foreground.
    Run(RunArgs),
    /// Render and run one task in the foreground, recording nothing and writing no table
    /// unless --write is given.
    Test(TestArgs),
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
    /// Run the attempts of tasks with a `queue`, pulled from a server, until stopped.
    Worker(WorkerArgs),
    /// List the workers that sent the server a heartbeat: queues, slots, last heartbeat.
    Workers(WorkersArgs),
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
    /// Back up or check the store of runs: the SQLite backend's file (by default
    /// `.tidewater/tidewater.db`; `[store] url` in tidewater.toml names another).
    #[command(subcommand)]
    Store(StoreCommand),
    /// Create, list or revoke the HTTP API's tokens (once one exists, the API asks every
    /// request for one).
    #[command(subcommand)]
    Token(TokenCommand),
    /// List the project's connections (`[connections.NAME]`): kind, values that are not
    /// secret, where each value comes from; never a secret value.
    Connections(ConnectionsArgs),
    /// Run a stream (`streams/NAME.yaml`) in the foreground: NATS JetStream into its Delta
    /// table, exactly once, until Ctrl-C or SIGTERM (the current batch is committed first).
    #[command(subcommand)]
    Stream(StreamCommand),
    /// List the streams: state, owner, lag, rate, last commit, dead letters.
    Streams(StreamsArgs),
    /// Host an Apache DataFusion Ballista scheduler or executor, wire-compatible with
    /// Ballista's own programs of the same version (a binary built with `--features ballista`).
    #[command(subcommand)]
    Ballista(BallistaCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum StreamCommand {
    /// Consume one stream in the foreground.
    Run(StreamRunArgs),
    /// Pause a stream: the server stops consuming it (its position is kept) until `resume`.
    Pause(StreamNameArgs),
    /// Resume a paused stream from its committed position.
    Resume(StreamNameArgs),
}

#[derive(Debug, Args)]
pub(crate) struct StreamNameArgs {
    /// The stream's name (its `name` key).
    pub name: String,
    /// Print JSON instead of a sentence.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct StreamRunArgs {
    /// The stream's name (its `name` key, or its file name under `streams/`).
    pub name: String,
    /// Stop once every message of the source is committed (the consumer has nothing
    /// pending for one trigger interval), instead of running until stopped.
    #[arg(long)]
    pub until_caught_up: bool,
}

#[derive(Debug, Args)]
pub(crate) struct StreamsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum BallistaCommand {
    /// Run a Ballista scheduler until stopped (SIGTERM or Ctrl-C).
    Scheduler(BallistaSchedulerArgs),
    /// Run a Ballista executor that registers with a scheduler, until stopped.
    Executor(BallistaExecutorArgs),
}

#[derive(Debug, Args)]
pub(crate) struct BallistaSchedulerArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// The port clients and executors connect to (Ballista's default).
    #[arg(long, default_value_t = 50050)]
    pub port: u16,
    /// Seconds without a heartbeat after which an executor is taken for lost and its tasks
    /// run elsewhere (Ballista's default: 180).
    #[arg(long, value_name = "SECONDS")]
    pub executor_timeout: Option<u64>,
}

#[derive(Debug, Args)]
pub(crate) struct BallistaExecutorArgs {
    /// The scheduler to register with, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    pub scheduler: String,
    /// The address to listen on, and to tell the scheduler.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// The Arrow Flight port that serves this executor's shuffle output (Ballista's default).
    #[arg(long, default_value_t = 50051)]
    pub port: u16,
    /// The gRPC port of the executor's own service (default: --port + 1).
    #[arg(long)]
    pub grpc_port: Option<u16>,
    /// How many tasks run at once (default: the number of cores).
    #[arg(long)]
    pub concurrent_tasks: Option<usize>,
    /// Where shuffle files go (default: a temporary folder).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Seconds between heartbeats to the scheduler (Ballista's default: 60).
    #[arg(long, value_name = "SECONDS")]
    pub heartbeat_interval: Option<u64>,
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Where to create the project (default: the --project folder).
    pub dir: Option<PathBuf>,
}

/// The largest `next -n`: a year of hourly intervals fits, and the answer stays quick and
/// small (a count in the hundreds of millions took 25 s and 718 MB).
pub(crate) const MAX_NEXT_COUNT: usize = 10_000;

#[derive(Debug, Args)]
pub(crate) struct WorkflowsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The workflow to run (its `name`, or its file name without `.yaml`).
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
pub(crate) struct ExecutionArgs {
    /// How many tasks may run at once, at least 1 (default: tidewater.toml's `parallelism`,
    /// else the number of cores).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub parallelism: Option<u32>,
}

#[derive(Debug, Args)]
pub(crate) struct TestArgs {
    /// The workflow holding the task.
    pub workflow: String,
    /// The task to run (a step or a handler such as `on_failure`).
    pub task: String,
    /// Render for the interval of this date (YYYY-MM-DD, in the workflow's time zone);
    /// default: the latest complete interval, as `run` picks it.
    #[arg(long, conflicts_with = "interval")]
    pub date: Option<String>,
    /// Render for an explicit interval START/END (dates or RFC 3339 times).
    #[arg(long)]
    pub interval: Option<String>,
    /// Override a parameter: --param key=value (repeatable; values are JSON or text).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Give an upstream task's output, which templates read as `tasks.TASK.output`:
    /// --output extract='{"rows": 7}' (repeatable; values are JSON objects).
    #[arg(long = "output", value_name = "TASK=JSON")]
    pub outputs: Vec<String>,
    /// Let a `sql` task write its table as a run would (without it, the query runs and its
    /// first rows are printed, and nothing is written).
    #[arg(long)]
    pub write: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ServerArgs {
    #[command(flatten)]
    pub execution: ExecutionArgs,
    /// Where the HTTP API listens (`/api/v1`); a loopback address only, until a token exists
    /// (`tidewater token create`). Port 0 picks a free port (the server's log says which). Default:
    /// tidewater.toml's `[server] listen`, else 127.0.0.1:8080.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct WorkerArgs {
    /// The server's base URL, e.g. `http://tidewater.example.com:8080`.
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// A token of scope `worker` (`tidewater token create --scope worker`).
    #[arg(long, value_name = "TOKEN")]
    pub token: String,
    /// The queues this worker serves, comma-separated (tasks name one with `queue:`).
    #[arg(long, value_name = "A,B", default_value = "default")]
    pub queues: String,
    /// How many attempts it runs at once.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub slots: u32,
    /// How long a claim may wait at the server for an attempt to be offered (a long poll), in
    /// milliseconds, at most 20000; `0` asks every 200 ms instead.
    #[arg(long, value_name = "MS", default_value_t = 20_000,
          value_parser = clap::value_parser!(u64).range(0..=20_000))]
    pub claim_wait_ms: u64,
}

#[derive(Debug, Args)]
pub(crate) struct WorkersArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct PauseArgs {
    /// The workflow (its `name`, or its file name without `.yaml`).
    pub workflow: String,
}

#[derive(Debug, Args)]
pub(crate) struct TriggerArgs {
    /// The workflow to queue a run of.
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
pub(crate) struct BackfillArgs {
    /// The workflow to backfill.
    pub workflow: String,
    /// First date (YYYY-MM-DD, in the workflow's time zone).
    #[arg(long)]
    pub from: String,
    /// Last date, inclusive.
    #[arg(long)]
    pub to: String,
    /// How many of the backfill's runs may be active at once, at least 1 (default: the
    /// workflow's max_active_runs).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
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
pub(crate) struct QueueArgs {
    /// The parallelism to explain against, at least 1 (default: as tidewater.toml says).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub parallelism: Option<u32>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RetryArgs {
    /// The run to resume (`tidewater runs` lists them).
    pub run_id: i64,
    /// Resume on the workflow's current file instead of the version the run started with.
    #[arg(long)]
    pub latest: bool,
    #[command(flatten)]
    pub execution: ExecutionArgs,
}

#[derive(Debug, Args)]
pub(crate) struct CancelArgs {
    /// The run to cancel.
    pub run_id: i64,
    /// Return once the cancel is asked for, without waiting for the run to stop.
    #[arg(long)]
    pub no_wait: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ClearArgs {
    /// The run whose tasks to reset.
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
pub(crate) struct RunsArgs {
    /// Only the runs of this workflow.
    pub workflow: Option<String>,
    /// How many runs to list, at least 1.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,
    /// Only runs in this state: queued, running, succeeded, failed or cancelled.
    #[arg(long)]
    pub state: Option<tidewater_core::RunStateKind>,
    /// Only the runs of this backfill (its id is printed when it starts).
    #[arg(long)]
    pub backfill: Option<i64>,
    /// Only runs whose data interval starts on or after this date (YYYY-MM-DD, in the
    /// workflow's zone, else UTC) or RFC 3339 time.
    #[arg(long)]
    pub from: Option<String>,
    /// Only runs whose data interval starts on or before this date (the whole day) or RFC
    /// 3339 time.
    #[arg(long)]
    pub to: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// A run; without it, the server's health: workflows, next due times, running and
    /// queued work, broken files.
    pub run_id: Option<i64>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct LogsArgs {
    /// The run.
    pub run_id: i64,
    /// The task of the run.
    pub task: String,
    /// Which attempt (default: the latest).
    #[arg(long)]
    pub attempt: Option<u32>,
    /// Keep printing lines as they are written, until the task has finished (following its
    /// retries), or with `--attempt`, until that attempt has ended.
    #[arg(long, short = 'f')]
    pub follow: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The workflow to draw.
    pub workflow: String,
    /// How to draw it: text, Graphviz dot, or a Mermaid flowchart.
    #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
    pub format: ShowFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ShowFormat {
    Text,
    Dot,
    Mermaid,
}

#[derive(Debug, Args)]
pub(crate) struct NextArgs {
    /// A workflow with a schedule.
    pub workflow: String,
    /// How many intervals, from 1 to 10000.
    #[arg(
        short = 'n',
        default_value_t = 5,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_NEXT_COUNT as u64)
    )]
    pub count: usize,
    /// Start after this time (RFC 3339 or YYYY-MM-DD) instead of now.
    #[arg(long)]
    pub after: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct QueryArgs {
    /// One SELECT (or WITH) query; tables are `schema.table`, files `read_csv('path')`.
    pub sql: String,
    /// How to print the rows.
    #[arg(long, value_enum, default_value_t = QueryFormat::Table)]
    pub format: QueryFormat,
    /// Run the query on this engine of `tidewater.toml` (`[engines.NAME]`, a Ballista
    /// cluster) instead of the embedded DataFusion.
    #[arg(long, value_name = "NAME")]
    pub engine: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum QueryFormat {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct TablesArgs {
    /// A table to describe (`schema.table`), or a serving view (`serving.NAME`) to show per
    /// interval as batch, stream or missing; without it, list the tables and views.
    pub name: Option<String>,
    /// List the intervals of --workflow between --from and --to whose partition is missing.
    #[arg(long, requires_all = ["name", "workflow", "from", "to"])]
    pub missing: bool,
    /// The workflow whose intervals --missing checks.
    #[arg(long)]
    pub workflow: Option<String>,
    /// First date (YYYY-MM-DD, in the workflow's time zone; for a view, its first interval).
    #[arg(long)]
    pub from: Option<String>,
    /// Last date, inclusive.
    #[arg(long)]
    pub to: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CompactArgs {
    /// The table (`schema.table`).
    pub table: String,
}

#[derive(Debug, Args)]
pub(crate) struct VacuumArgs {
    /// The table (`schema.table`).
    pub table: String,
    /// Keep files that versions younger than this need (e.g. 7d, 168h); at least 7 days
    /// unless --allow-short-retention.
    #[arg(long, default_value = "7d")]
    pub retention: String,
    /// Accept a retention under 7 days: only when nothing reads or writes the table meanwhile,
    /// since a reader or writer on an older version can lose its files.
    #[arg(long)]
    pub allow_short_retention: bool,
    /// Only list the files that would be deleted.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum StoreCommand {
    /// Copy the store to FILE, safely even while a server runs (SQLite's online backup).
    Backup(StoreBackupArgs),
    /// Check the store's files, its integrity and its agreement with the logs folder;
    /// exits 1 on any problem.
    Check,
    /// Copy the project's embedded SQLite history (runs, tasks, attempts, backfills, tokens,
    /// sessions, events, notifications, data cursors) into the configured PostgreSQL store,
    /// which must be empty.
    MigrateFromSqlite(StoreMigrateArgs),
}

#[derive(Debug, Args)]
pub(crate) struct StoreMigrateArgs {
    /// The SQLite store to copy (default: the state folder's `tidewater.db`, where the
    /// project kept its runs before `[store] url` named PostgreSQL).
    #[arg(long, value_name = "PATH")]
    pub from: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct StoreBackupArgs {
    /// The file to write (relative to the current folder, not the project).
    pub file: PathBuf,
    /// Replace FILE if it exists.
    #[arg(long)]
    pub overwrite: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a token and print it (only it, on stdout); it is not shown again.
    Create(TokenCreateArgs),
    /// List the tokens: name, scope, created, last used, revoked (never the token itself).
    List(TokenListArgs),
    /// Revoke a token: it opens nothing from now on, and its UI sessions end.
    Revoke(TokenRevokeArgs),
}

#[derive(Debug, Args)]
pub(crate) struct TokenCreateArgs {
    /// A name to list and revoke it by (letters, digits, `.`, `_`, `-`).
    #[arg(long)]
    pub name: String,
    /// What it allows: read (GET), operate (also trigger, retry, cancel, pause, backfill),
    /// admin (also manage tokens), worker (only `tidewater worker`'s endpoints).
    #[arg(long, value_enum)]
    pub scope: TokenScopeArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum TokenScopeArg {
    Read,
    Operate,
    Admin,
    Worker,
}

#[derive(Debug, Args)]
pub(crate) struct TokenListArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct TokenRevokeArgs {
    /// The token's name (`tidewater token list` lists them).
    pub name: String,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct ConnectionsArgs {
    #[command(subcommand)]
    pub command: Option<ConnectionsCommand>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConnectionsCommand {
    /// Check one connection: http a GET to its URL, postgres a connection with start-up and
    /// authentication, others a TCP connection to host and port.
    Test(ConnectionsTestArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ConnectionsTestArgs {
    /// The connection's name (`tidewater connections` lists them).
    pub name: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Regression: positional arguments and `--json` had no help text, so `--help` listed
    /// them bare. Every argument of every command must say what it is.
    #[test]
    fn every_argument_of_every_command_has_help() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for argument in command.get_arguments() {
                let is_builtin = matches!(argument.get_id().as_str(), "help" | "version");
                if !is_builtin && argument.get_help().is_none() {
                    missing.push(format!("{path} {}", argument.get_id()));
                }
            }
            for subcommand in command.get_subcommands() {
                walk(
                    subcommand,
                    &format!("{path} {}", subcommand.get_name()),
                    missing,
                );
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "tidewater", &mut missing);
        assert!(
            missing.is_empty(),
            "arguments without help text: {missing:#?}"
        );
    }
}
