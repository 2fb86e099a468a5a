//! `empty: {}`: a join node that completes inside the scheduler.

use tidewater_core::TaskAction;

use super::{KindAction, TaskKind};
use crate::yaml_node::{YamlNode, YamlValue};
use crate::yaml_reader::{Entry, YamlReader};

pub(crate) const KIND: TaskKind = TaskKind {
    key: "empty",
    companions: &[],
    read,
};

fn read(
    reader: &mut YamlReader<'_>,
    value: &YamlNode<'_>,
    _companions: &[&Entry<'_, '_>],
) -> Option<KindAction> {
    let is_accepted = match &value.value {
        YamlValue::Null | YamlValue::Bool(true) => true,
        YamlValue::Mapping(entries) => entries.is_empty(),
        _ => false,
    };
    if !is_accepted {
        reader.wrong_type("empty", "`{}`, `null` or `true`", value);
        return None;
    }
    Some(KindAction {
        action: TaskAction::Empty,
        templates: Vec::new(),
        files: Vec::new(),
        workflows: Vec::new(),
        sql: None,
    })
}
