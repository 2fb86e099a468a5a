//! `tidewater store backup FILE` and `tidewater store check`: operations of the SQLite
//! backend (its online backup, its file report), which open the configured SQLite file
//! directly rather than through the backend-neutral `Store`; and `tidewater store
//! migrate-from-sqlite`, which copies such a file's history into a PostgreSQL store.

use std::path::Path;

use anyhow::Context;
use tidewater_core::RunId;
use tidewater_engine::AttemptPaths;
use tidewater_spec::Project;
use tidewater_sqlite::{BackupTarget, SqliteStore, StoreReport};
use tidewater_store::Store;

use crate::Outcome;
use crate::args::{StoreBackupArgs, StoreCommand, StoreMigrateArgs};
use crate::output;
use crate::project_context::{open_postgres, open_project, shown, sqlite_path};

pub(super) async fn store(project: &Path, command: StoreCommand) -> anyhow::Result<Outcome> {
    let project = open_project(project)?;
    match command {
        StoreCommand::Backup(args) => backup(&project, args).await,
        StoreCommand::Check => check(&project),
        StoreCommand::MigrateFromSqlite(args) => migrate_from_sqlite(&project, args).await,
    }
}

/// `tidewater store migrate-from-sqlite`: the SQLite store's history, copied as it is (ids
/// kept, so the logs folder still matches) into the configured PostgreSQL store, refused
/// unless that store is empty. The copy reads one snapshot of the SQLite file and writes one
/// PostgreSQL transaction: it lands whole or not at all.
async fn migrate_from_sqlite(project: &Project, args: StoreMigrateArgs) -> anyhow::Result<Outcome> {
    let target = open_postgres(project).await?;
    let source = args
        .from
        .unwrap_or_else(|| project.config.state_dir.join("tidewater.db"));
    if !source.is_file() {
        anyhow::bail!(
            "there is no SQLite store at {} to copy (give --from PATH)",
            shown(project, &source)
        );
    }
    let sqlite = SqliteStore::open(&source)
        .await
        .with_context(|| format!("cannot open the SQLite store {}", source.display()))?;
    let history = sqlite.export_history().await?;
    let highest = sqlite.highest_run_id().await?;
    sqlite.close().await;
    let copied = target
        .import_history(&history, highest)
        .await
        .with_context(|| format!("cannot copy the history into {}", project.config.store))?;
    target.close().await;
    let counts: Vec<String> = copied
        .iter()
        .filter(|(_, rows)| *rows > 0)
        .map(|(table, rows)| format!("{rows} {table}"))
        .collect();
    output::note(format!(
        "copied {} from {} into {}",
        if counts.is_empty() {
            "nothing (the SQLite store is empty)".to_owned()
        } else {
            counts.join(", ")
        },
        shown(project, &source),
        project.config.store
    ));
    Ok(Outcome::Success)
}

async fn backup(project: &Project, args: StoreBackupArgs) -> anyhow::Result<Outcome> {
    let database = sqlite_path(project, "`tidewater store backup`")?;
    if !database.exists() {
        anyhow::bail!(
            "there is no store to back up at {} (no run has been recorded yet)",
            shown(project, database)
        );
    }
    // Opened without comparing it with the logs folder: a backup is worth taking in any
    // state, and it changes nothing.
    let store = SqliteStore::open(database)
        .await
        .with_context(|| format!("cannot open the store {}", database.display()))?;
    let target = if args.overwrite {
        BackupTarget::Overwrite
    } else {
        BackupTarget::NewFile
    };
    store.backup(&args.file, target).await?;
    store.close().await;
    // Read back: the copy must open as a store, with the runs it should hold.
    let copy = StoreReport::inspect(&args.file);
    if let Some(problem) = copy.problems.first() {
        anyhow::bail!("the backup {} is not sound: {problem}", args.file.display());
    }
    let runs = copy.contents.map_or(0, |contents| contents.runs);
    output::note(format!(
        "backed up the store ({runs} run{}, {}) to {}",
        if runs == 1 { "" } else { "s" },
        bytes(copy.database_bytes.unwrap_or(0)),
        args.file.display()
    ));
    Ok(Outcome::Success)
}

fn check(project: &Project) -> anyhow::Result<Outcome> {
    let database = sqlite_path(project, "`tidewater store check`")?;
    let state_dir = &project.config.state_dir;
    let logs_folder = shown(project, &AttemptPaths::logs_folder(state_dir));
    // The folders before the store, as `check_history` does: a run created meanwhile by
    // another process can then not look missing from the store.
    let logged = AttemptPaths::logged_runs(state_dir)
        .with_context(|| format!("cannot read the logs folder {logs_folder}"))?;
    let report = StoreReport::inspect(database);
    let mut problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();

    let mut rows = vec![[
        "store".to_owned(),
        match report.database_bytes {
            None => format!("{} (none)", shown(project, database)),
            Some(size) => format!(
                "{} ({}; write-ahead log {})",
                shown(project, database),
                bytes(size),
                report.log_bytes.map_or("none".to_owned(), bytes)
            ),
        },
    ]];
    if let Some(version) = report.schema_version {
        let age = match version.cmp(&report.latest_schema_version) {
            std::cmp::Ordering::Less => "older: the next command brings it up to date",
            std::cmp::Ordering::Equal => "current",
            std::cmp::Ordering::Greater => "newer than this tidewater",
        };
        rows.push(["schema".to_owned(), format!("version {version} ({age})")]);
    }
    let highest_stored = report.contents.and_then(|contents| contents.highest_run_id);
    if let Some(contents) = report.contents {
        rows.push([
            "runs".to_owned(),
            format!(
                "{} (highest id {}), {} task instances, {} attempts",
                contents.runs,
                highest_stored.map_or("none".to_owned(), |id| id.to_string()),
                contents.task_instances,
                contents.attempts
            ),
        ]);
    }
    rows.push([
        "logs".to_owned(),
        match (logged.first(), logged.last()) {
            (Some(first), Some(last)) => format!(
                "{logs_folder}: {} run folders ({first}–{last})",
                logged.len()
            ),
            _ => format!("{logs_folder}: none"),
        },
    ]);
    for [label, value] in &rows {
        output::data(format!("{label:<8}{value}"));
    }

    // The store and the logs must agree (see `check_history` in project_context.rs). Only
    // checked when the store itself could be read: otherwise its problem says more.
    let unknown: Vec<RunId> = logged
        .iter()
        .copied()
        .filter(|id| highest_stored.is_none_or(|highest| *id > highest))
        .collect();
    if report.problems.is_empty()
        && let (Some(first), Some(last)) = (unknown.first(), unknown.last())
    {
        problems.push(format!(
            "{logs_folder} holds logs of {} runs ({first}–{last}) that the store does not have: \
             the store lost them (its write-ahead log deleted, or tidewater.db copied alone) or \
             was restored from an older backup",
            unknown.len(),
        ));
    }
    if report.database_bytes.is_none() && problems.is_empty() {
        output::note("no store yet: nothing has been recorded in this project");
        return Ok(Outcome::Success);
    }
    if problems.is_empty() {
        output::note("ok: the store is sound and agrees with its logs");
        return Ok(Outcome::Success);
    }
    for problem in &problems {
        output::note(format!("problem: {problem}"));
    }
    output::note(format!(
        "{} problem(s) found; a backup made with `tidewater store backup` can replace the store \
         (copy it over {} and delete its -wal and -shm files while no tidewater runs)",
        problems.len(),
        shown(project, database)
    ));
    Ok(Outcome::Failure)
}

/// A size as a person reads it: 512 B, 148.0 KiB, 3.2 MiB.
fn bytes(size: u64) -> String {
    const KIB: f64 = 1024.0;
    let size_f = size as f64;
    if size < 1024 {
        format!("{size} B")
    } else if size_f < KIB * KIB {
        format!("{:.1} KiB", size_f / KIB)
    } else {
        format!("{:.1} MiB", size_f / (KIB * KIB))
    }
}
