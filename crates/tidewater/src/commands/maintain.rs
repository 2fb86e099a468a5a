use std::path::Path;

use tidewater_flow::{MIN_VACUUM_RETENTION, TableName};

use crate::Outcome;
use crate::args::{CompactArgs, VacuumArgs};
use crate::output;
use crate::project_context::{open_project, open_warehouse};

pub(super) async fn compact(project: &Path, args: CompactArgs) -> anyhow::Result<Outcome> {
    let project = open_project(project)?;
    let warehouse = open_warehouse(&project)?;
    let table: TableName = args.table.parse()?;
    let summary = warehouse.compact(&table).await?;
    match summary.version {
        Some(version) => output::data(format!(
            "{table}: compacted {} files into {} (version {version})",
            summary.files_removed, summary.files_added
        )),
        None => output::data(format!("{table}: nothing to compact")),
    }
    Ok(Outcome::Success)
}

pub(super) async fn vacuum(project: &Path, args: VacuumArgs) -> anyhow::Result<Outcome> {
    let project = open_project(project)?;
    let warehouse = open_warehouse(&project)?;
    let table: TableName = args.table.parse()?;
    let retention = tidewater_spec::parse_duration(&args.retention)
        .map_err(|error| anyhow::anyhow!("--retention `{}`: {error}", args.retention))?;
    if retention < MIN_VACUUM_RETENTION && !args.allow_short_retention {
        anyhow::bail!(
            "--retention `{}` is shorter than the minimum of 7 days: a run or reader still on an older version of {table} could lose its files; add --allow-short-retention if nothing reads or writes the table meanwhile",
            args.retention
        );
    }
    let summary = warehouse.vacuum(&table, retention, args.dry_run).await?;
    let verb = if summary.is_dry_run {
        "would delete"
    } else {
        "deleted"
    };
    output::data(format!(
        "{table}: {verb} {} unreferenced files older than {}",
        summary.files.len(),
        args.retention
    ));
    for file in &summary.files {
        output::data(format!("  {file}"));
    }
    if !summary.staged_orphans.is_empty() {
        output::data(format!(
            "{table}: {} of them were moved into the table by attempts killed before their commit",
            summary.staged_orphans.len()
        ));
    }
    Ok(Outcome::Success)
}
