//! `call: { workflow, params, date }`: runs another workflow of the project as a child run
//! and succeeds or fails with it.

use tidewater_core::{CallAction, TaskAction, WorkflowName};

use super::{KindAction, TaskKind, TemplateText, WorkflowReference, WorkflowRelation};
use crate::ProblemKind;
use crate::yaml_node::{YamlNode, YamlValue};
use crate::yaml_reader::{Entry, YamlReader};

pub(crate) const KIND: TaskKind = TaskKind {
    key: "call",
    companions: &[],
    read,
};

const CALL_KEYS: &[&str] = &["workflow", "params", "date"];

fn read(
    reader: &mut YamlReader<'_>,
    value: &YamlNode<'_>,
    _companions: &[&Entry<'_, '_>],
) -> Option<KindAction> {
    let entries = reader.entries("`call`", value)?;
    let mut templates = Vec::new();
    let mut workflows = Vec::new();
    let mut workflow = None;
    // Whether `workflow` was given, even with a value that could not be read: then only
    // that value is reported, not its absence.
    let mut has_workflow = false;
    let mut params = Some(serde_json::Map::new());
    let mut date = Some(None);
    for entry in &entries {
        match entry.name.as_ref() {
            "workflow" => {
                has_workflow = true;
                if let Some(reference) =
                    WorkflowReference::read(reader, entry.value, WorkflowRelation::Calls)
                {
                    workflow = Some(WorkflowName::new(reference.name.as_str()));
                    workflows.push(reference);
                }
            }
            "params" => params = read_params(reader, entry.value, &mut templates),
            "date" => {
                date = reader.string("date", entry.value).map(|text| {
                    templates.push(TemplateText {
                        text: text.to_owned(),
                        span: entry.value.span.clone(),
                    });
                    Some(text.to_owned())
                });
            }
            _ => reader.unknown_key(entry, "`call`", CALL_KEYS.to_vec()),
        }
    }
    if !has_workflow {
        reader.report(
            ProblemKind::InvalidValue {
                what: "`call` needs the `workflow` to run".to_owned(),
                hint: Some(
                    "e.g. `call: { workflow: load_orders, params: { region: kr } }`".to_owned(),
                ),
            },
            value.span.clone(),
        );
    }
    Some(KindAction {
        action: TaskAction::Call(CallAction {
            workflow: workflow?,
            params: params?,
            date: date?,
        }),
        templates,
        files: Vec::new(),
        workflows,
        sql: None,
    })
}

/// `params: { name: value }`: each string in a value is a template, rendered with the
/// calling run's context.
fn read_params(
    reader: &mut YamlReader<'_>,
    node: &YamlNode<'_>,
    templates: &mut Vec<TemplateText>,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    let YamlValue::Mapping(_) = &node.value else {
        reader.wrong_type("params", "a map of parameter names to values", node);
        return None;
    };
    reader.check_nested_duplicates("`params`", node);
    super::http::collect_strings(node, templates);
    match node.to_json() {
        serde_json::Value::Object(map) => Some(map),
        _ => None,
    }
}
