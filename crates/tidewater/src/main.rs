//! The `tidewater` binary: parses the command line, wires the store, the engine and the
//! project together, and decides what is printed. The only crate that picks backends.

mod args;
mod commands;
mod dependency_panic;
mod output;
mod progress;
mod project_context;
mod service_log;

use std::process::ExitCode;

use clap::Parser;
use nix::sys::signal::{self, SigHandler, Signal};

/// Warnings and errors; of the Delta libraries, only deltalake's errors outside a commit. The
/// Delta kernel logs an error for every table it is asked about before it exists (an expected
/// case here). deltalake logs its warnings for states it handles itself, and in
/// `kernel::transaction` and `logstore` a warning or error for every commit race it loses
/// ("conflict detected, aborting transaction"): Tidewater plans such a write again, and a
/// commit that truly fails is returned to Tidewater, which reports it where it belongs (the
/// task's log). `TIDEWATER_LOG=warn,deltalake_core=debug` shows them all.
const DEFAULT_LOG: &str = "warn,buoyant_kernel=off,deltalake_core=error,\
    deltalake_core::kernel::transaction=off,deltalake_core::logstore=off";

/// How a command ended, mapped to the exit code in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done; for `run`, the run succeeded.
    Success,
    /// The command worked but found failure: a run failed, validation found problems.
    Failure,
    /// The run was cancelled (Ctrl-C); it can be resumed with `retry`.
    Cancelled,
    /// The exit status of a task's own command, passed on (`test` of an `sh` task); never 0.
    Exit(u8),
}

fn main() -> ExitCode {
    // Before anything can build a TLS config: async-nats builds one without naming a provider,
    // which panics with the two providers compiled in (DEPS.md pitfall 2).
    tidewater_stream::install_crypto_provider();
    let cli = args::Cli::parse();
    // A write past the file-size limit (`ulimit -f`) then fails with EFBIG, which the store
    // and the attempt logs report like a full disk, instead of killing Tidewater with its runs
    // left orphaned. Tasks get the signal back at its default (the engine's `task_process`).
    // SAFETY: setting a signal's disposition to ignored, before any thread starts.
    if let Err(error) = unsafe { signal::signal(Signal::SIGXFSZ, SigHandler::SigIgn) } {
        eprintln!("error: cannot ignore SIGXFSZ: {error}");
        return ExitCode::from(2);
    }
    // Wake-ups are SIGUSR1, whose default kills: one sent to a dead owner's pid that this
    // process now has (a crash test's server restarted, say) must not end it before it listens
    // (a listener replaces this with its handler). Tasks get the signal back at its default.
    // SAFETY: as above, before any thread starts.
    if let Err(error) = unsafe { signal::signal(Signal::SIGUSR1, SigHandler::SigIgn) } {
        eprintln!("error: cannot ignore SIGUSR1: {error}");
        return ExitCode::from(2);
    }
    // Logs are diagnostics: stderr, never stdout, which carries data.
    tracing_subscriber::fmt()
        .with_writer(|| output::RedactedStderr)
        // The same rule as Tidewater's own output: colour codes only on a terminal, never
        // with NO_COLOR (they are noise in a log file or a CI log).
        .with_ansi(output::is_color())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TIDEWATER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG)),
        )
        .init();
    dependency_panic::install_hook();
    // One thread: the executor is a loop of short decisions and waits on child processes, and
    // cross-thread wake-ups cost more than they parallelise (BENCHMARKS.md). SQLite runs on
    // this thread too (`tidewater-sqlite` calls it directly).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Failure) => ExitCode::from(1),
        Ok(Outcome::Cancelled) => ExitCode::from(130),
        Ok(Outcome::Exit(code)) => ExitCode::from(code),
        Err(error) => {
            output::error(&error);
            ExitCode::from(2)
        }
    }
}
