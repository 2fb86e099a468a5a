//! `maintain: { table, compact: true, vacuum: 7d }`: table maintenance as a task.

use std::time::Duration;

use tidewater_core::{MaintainAction, TaskAction};

use super::{KindAction, TaskKind, table_ref};
use crate::ProblemKind;
use crate::yaml_node::YamlNode;
use crate::yaml_reader::{Entry, YamlReader};

pub(crate) const KIND: TaskKind = TaskKind {
    key: "maintain",
    companions: &[],
    read,
};

const MAINTAIN_KEYS: &[&str] = &["table", "compact", "vacuum", "allow_short_retention"];

/// The shortest `vacuum:` retention accepted without `allow_short_retention: true`: Delta's
/// default `delta.deletedFileRetentionDuration`, below which Delta's own tools refuse to
/// vacuum, because a reader or writer still working on an older version can lose its files.
/// `tidewater vacuum` uses the same minimum (`tidewater_flow::MIN_VACUUM_RETENTION`).
const MIN_VACUUM_RETENTION: Duration = Duration::from_secs(7 * 24 * 60 * 60);

fn read(
    reader: &mut YamlReader<'_>,
    value: &YamlNode<'_>,
    _companions: &[&Entry<'_, '_>],
) -> Option<KindAction> {
    let entries = reader.entries("`maintain`", value)?;
    let mut table = None;
    let mut should_compact = false;
    let mut vacuum_retention = None;
    let mut vacuum_node = None;
    let mut is_short_retention_allowed = false;
    for entry in &entries {
        match entry.name.as_ref() {
            "table" => table = table_ref::table(reader, "table", entry.value),
            "compact" => should_compact = reader.bool("compact", entry.value)?,
            "vacuum" => {
                vacuum_retention = Some(reader.duration("vacuum", entry.value)?);
                vacuum_node = Some(entry.value);
            }
            "allow_short_retention" => {
                is_short_retention_allowed = reader.bool("allow_short_retention", entry.value)?;
            }
            _ => reader.unknown_key(entry, "`maintain`", MAINTAIN_KEYS.to_vec()),
        }
    }
    if let (Some(retention), Some(node)) = (vacuum_retention, vacuum_node)
        && retention < MIN_VACUUM_RETENTION
        && !is_short_retention_allowed
    {
        reader.report(
            ProblemKind::InvalidValue {
                what: format!(
                    "`vacuum: {}` is shorter than the minimum retention of 7 days: a run or reader still on an older table version could lose its files",
                    node.as_str().unwrap_or_default()
                ),
                hint: Some(
                    "keep at least `vacuum: 7d`, or add `allow_short_retention: true` when nothing reads or writes the table meanwhile".to_owned(),
                ),
            },
            node.span.clone(),
        );
        return None;
    }
    let table = table?;
    if !should_compact && vacuum_retention.is_none() {
        reader.report(
            ProblemKind::InvalidValue {
                what:
                    "`maintain` does nothing: ask for `compact: true` and/or `vacuum: <retention>`"
                        .to_owned(),
                hint: Some(
                    "e.g. `maintain: { table: raw.orders, compact: true, vacuum: 7d }`".to_owned(),
                ),
            },
            value.span.clone(),
        );
        return None;
    }
    Some(KindAction {
        action: TaskAction::Maintain(MaintainAction {
            table,
            should_compact,
            vacuum_retention,
        }),
        templates: Vec::new(),
        files: Vec::new(),
        workflows: Vec::new(),
        sql: None,
    })
}
