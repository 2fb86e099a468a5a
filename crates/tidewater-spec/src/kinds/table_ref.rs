//! Values shared by the kinds that name warehouse tables: `schema.table` and partitions.

use tidewater_core::TableName;

use super::TemplateText;
use crate::ProblemKind;
use crate::yaml_node::{YamlNode, YamlValue};
use crate::yaml_reader::YamlReader;

/// `schema.table`, read by the core's one rule for table names ([`TableName`]), so that
/// `validate` refuses every name a run would refuse.
pub(crate) fn table(
    reader: &mut YamlReader<'_>,
    key: &str,
    value: &YamlNode<'_>,
) -> Option<TableName> {
    let text = reader.string(key, value)?;
    match text.parse::<TableName>() {
        Ok(table) => Some(table),
        Err(error) => {
            reader.report(ProblemKind::InvalidTableName { error }, value.span.clone());
            None
        }
    }
}

/// `partition: { dt: "{{ ds }}" }`: column names and template values, in file order.
pub(crate) fn partition(
    reader: &mut YamlReader<'_>,
    value: &YamlNode<'_>,
    templates: &mut Vec<TemplateText>,
) -> Option<Vec<(String, String)>> {
    let entries = reader.entries("`partition`", value)?;
    let mut columns = Vec::with_capacity(entries.len());
    for entry in &entries {
        let text = match &entry.value.value {
            YamlValue::Sequence(_) | YamlValue::Mapping(_) | YamlValue::Null => {
                reader.wrong_type(&entry.name, "a value such as \"{{ ds }}\"", entry.value);
                continue;
            }
            _ => entry.value.key_text().map(|text| text.into_owned()),
        };
        let Some(text) = text else { continue };
        templates.push(TemplateText {
            text: text.clone(),
            span: entry.value.span.clone(),
        });
        columns.push((entry.name.to_string(), text));
    }
    if columns.is_empty() {
        reader.report(
            ProblemKind::InvalidValue {
                what: "`partition` names no column".to_owned(),
                hint: Some("e.g. `partition: { dt: \"{{ ds }}\" }`".to_owned()),
            },
            value.span.clone(),
        );
        return None;
    }
    Some(columns)
}
