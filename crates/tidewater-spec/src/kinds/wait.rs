//! `wait: { table, partition }` or `wait: { path }`: a sensor that holds no queue slot.

use std::time::Duration;

use tidewater_core::{TaskAction, WaitAction, WaitCondition};

use super::{KindAction, TaskKind, TemplateText, table_ref};
use crate::ProblemKind;
use crate::yaml_node::YamlNode;
use crate::yaml_reader::{Entry, YamlReader};

pub(crate) const KIND: TaskKind = TaskKind {
    key: "wait",
    companions: &[],
    read,
};

const WAIT_KEYS: &[&str] = &["table", "partition", "path", "poke_interval"];
/// Often enough to notice data soon, rarely enough to cost nothing.
const DEFAULT_POKE_INTERVAL: Duration = Duration::from_secs(30);

fn read(
    reader: &mut YamlReader<'_>,
    value: &YamlNode<'_>,
    _companions: &[&Entry<'_, '_>],
) -> Option<KindAction> {
    let entries = reader.entries("`wait`", value)?;
    let mut templates = Vec::new();
    let mut table = None;
    let mut partition = None;
    let mut path = None;
    let mut poke_interval = DEFAULT_POKE_INTERVAL;
    for entry in &entries {
        match entry.name.as_ref() {
            "table" => table = table_ref::table(reader, "table", entry.value),
            "partition" => partition = table_ref::partition(reader, entry.value, &mut templates),
            "path" => {
                if let Some(text) = reader.string("path", entry.value) {
                    templates.push(TemplateText {
                        text: text.to_owned(),
                        span: entry.value.span.clone(),
                    });
                    path = Some(text.to_owned());
                }
            }
            "poke_interval" => poke_interval = reader.duration("poke_interval", entry.value)?,
            _ => reader.unknown_key(entry, "`wait`", WAIT_KEYS.to_vec()),
        }
    }
    let condition = match (table, partition, path) {
        (Some(table), Some(partition), None) => WaitCondition::Partition { table, partition },
        (None, None, Some(pattern)) => WaitCondition::Path { pattern },
        _ => {
            reader.report(
                ProblemKind::InvalidValue {
                    what: "`wait` needs either `table` with `partition`, or `path`".to_owned(),
                    hint: Some(
                        "e.g. `wait: { table: raw.orders, partition: { dt: \"{{ ds }}\" } }` or `wait: { path: \"landing/{{ ds }}/*.csv\" }`"
                            .to_owned(),
                    ),
                },
                value.span.clone(),
            );
            return None;
        }
    };
    Some(KindAction {
        action: TaskAction::Wait(WaitAction {
            condition,
            poke_interval,
        }),
        templates,
        files: Vec::new(),
    })
}
