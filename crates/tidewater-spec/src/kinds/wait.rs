//! `wait: { table, partition }`, `wait: { path }` or `wait: { workflow }`: a sensor that
//! holds no queue slot.

use std::time::Duration;

use tidewater_core::{TaskAction, WaitAction, WaitCondition, WorkflowName};

use super::{KindAction, TaskKind, TemplateText, WorkflowReference, WorkflowRelation, table_ref};
use crate::ProblemKind;
use crate::yaml_node::YamlNode;
use crate::yaml_reader::{Entry, YamlReader};

pub(crate) const KIND: TaskKind = TaskKind {
    key: "wait",
    companions: &[],
    read,
};

const WAIT_KEYS: &[&str] = &["table", "partition", "path", "workflow", "poke_interval"];
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
    let mut workflow = None;
    let mut workflows = Vec::new();
    // Whether `workflow` was given, even with a value that could not be read: then the
    // condition is known and only that value is reported.
    let mut has_workflow = false;
    // A `table` whose name is reported already: the condition is not what is wrong.
    let mut is_table_invalid = false;
    let mut poke_interval = DEFAULT_POKE_INTERVAL;
    for entry in &entries {
        match entry.name.as_ref() {
            "table" => {
                table = table_ref::table(reader, "table", entry.value);
                is_table_invalid = table.is_none();
            }
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
            "workflow" => {
                has_workflow = true;
                // Not a template: the run waited for has the same data interval, whatever
                // the templates would say.
                if let Some(reference) =
                    WorkflowReference::read(reader, entry.value, WorkflowRelation::Waits)
                {
                    workflow = Some(WorkflowName::new(reference.name.as_str()));
                    workflows.push(reference);
                }
            }
            "poke_interval" => poke_interval = reader.duration("poke_interval", entry.value)?,
            _ => reader.unknown_key(entry, "`wait`", WAIT_KEYS.to_vec()),
        }
    }
    let condition = match (table, partition, path, workflow) {
        (Some(table), Some(partition), None, None) if !has_workflow => {
            WaitCondition::Partition { table, partition }
        }
        (None, None, Some(pattern), None) if !has_workflow => WaitCondition::Path { pattern },
        (None, None, None, Some(workflow)) => WaitCondition::Workflow { workflow },
        // The value of `workflow` was wrong and is reported already.
        (None, None, None, None) if has_workflow => return None,
        (None, _, None, None) if is_table_invalid => return None,
        _ => {
            reader.report(
                ProblemKind::InvalidValue {
                    what: "`wait` needs exactly one condition: `table` with `partition`, `path`, or `workflow`"
                        .to_owned(),
                    hint: Some(
                        "e.g. `wait: { table: raw.orders, partition: { dt: \"{{ ds }}\" } }`, `wait: { path: \"landing/{{ ds }}/*.csv\" }` or `wait: { workflow: daily_orders }`"
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
        workflows,
        sql: None,
    })
}
