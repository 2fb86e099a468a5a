//! `maintain: { table, compact: true, vacuum: 7d }`: table maintenance as a task.

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

const MAINTAIN_KEYS: &[&str] = &["table", "compact", "vacuum"];

fn read(
    reader: &mut YamlReader<'_>,
    value: &YamlNode<'_>,
    _companions: &[&Entry<'_, '_>],
) -> Option<KindAction> {
    let entries = reader.entries("`maintain`", value)?;
    let mut table = None;
    let mut should_compact = false;
    let mut vacuum_retention = None;
    for entry in &entries {
        match entry.name.as_ref() {
            "table" => table = table_ref::table(reader, "table", entry.value),
            "compact" => should_compact = reader.bool("compact", entry.value)?,
            "vacuum" => vacuum_retention = Some(reader.duration("vacuum", entry.value)?),
            _ => reader.unknown_key(entry, "`maintain`", MAINTAIN_KEYS.to_vec()),
        }
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
    })
}
