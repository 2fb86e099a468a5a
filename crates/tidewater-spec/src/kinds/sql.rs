//! `sql: <query>` or `sql: file:sql/x.sql`, with `into: { table, partition, mode, keys, schema }`.

use tidewater_core::{SchemaPolicy, SqlAction, SqlTarget, SqlText, TaskAction, WriteMode};

use super::{FileReference, KindAction, SqlSource, TaskKind, TemplateText, table_ref};
use crate::ProblemKind;
use crate::yaml_node::{YamlNode, YamlValue};
use crate::yaml_reader::{Entry, YamlReader};

pub(crate) const KIND: TaskKind = TaskKind {
    key: "sql",
    companions: &["into"],
    read,
};

const INTO_KEYS: &[&str] = &["table", "partition", "mode", "keys", "schema"];
const MODES: &[&str] = &[
    "replace_partition",
    "overwrite",
    "append_atomic",
    "merge",
    "append",
];
const SCHEMA_POLICIES: &[&str] = &["strict", "evolve"];

fn read(
    reader: &mut YamlReader<'_>,
    value: &YamlNode<'_>,
    companions: &[&Entry<'_, '_>],
) -> Option<KindAction> {
    let text = reader.string("sql", value)?;
    let mut templates = Vec::new();
    let mut files = Vec::new();
    let (sql, source) = if let Some(path) = text.strip_prefix("file:") {
        let path = path.trim();
        files.push(FileReference {
            path: path.to_owned(),
            span: reader.locate(&value.span, path),
        });
        (
            SqlText::File(path.to_owned()),
            SqlSource::File(path.to_owned()),
        )
    } else {
        if text.trim().is_empty() {
            reader.wrong_type("sql", "a query or `file:path.sql`", value);
            return None;
        }
        let template = TemplateText {
            text: text.to_owned(),
            span: value.span.clone(),
        };
        templates.push(template.clone());
        (
            SqlText::Inline(text.to_owned()),
            SqlSource::Inline(template),
        )
    };
    let into = match companions.iter().find(|entry| entry.name == "into") {
        Some(entry) => Some(read_into(reader, entry.value, &mut templates)?),
        None => None,
    };
    Some(KindAction {
        action: TaskAction::Sql(SqlAction {
            sql,
            into,
            engine: None,
        }),
        templates,
        files,
        workflows: Vec::new(),
        sql: Some(source),
    })
}

fn read_into(
    reader: &mut YamlReader<'_>,
    node: &YamlNode<'_>,
    templates: &mut Vec<TemplateText>,
) -> Option<SqlTarget> {
    let entries = reader.entries("`into`", node)?;
    let mut table = None;
    let mut partition = Vec::new();
    let mut mode = None;
    let mut keys = Vec::new();
    let mut schema = SchemaPolicy::Strict;
    let mut is_valid = true;
    for entry in &entries {
        match entry.name.as_ref() {
            "table" => table = table_ref::table(reader, "table", entry.value),
            "partition" => match table_ref::partition(reader, entry.value, templates) {
                Some(columns) => partition = columns,
                None => is_valid = false,
            },
            "mode" => {
                mode = reader.choice("mode", entry.value, MODES, WriteMode::parse);
                is_valid &= mode.is_some();
            }
            "keys" => keys = read_keys(reader, entry.value)?,
            "schema" => {
                schema =
                    reader.choice("schema", entry.value, SCHEMA_POLICIES, |text| match text {
                        "strict" => Some(SchemaPolicy::Strict),
                        "evolve" => Some(SchemaPolicy::Evolve),
                        _ => None,
                    })?;
            }
            _ => reader.unknown_key(entry, "`into`", INTO_KEYS.to_vec()),
        }
    }
    let Some(table) = table else {
        if !entries.iter().any(|entry| entry.name == "table") {
            invalid(
                reader,
                node,
                "`into` needs a `table`",
                "e.g. `into: { table: raw.orders, partition: { dt: \"{{ ds }}\" } }`",
            );
        }
        return None;
    };
    // Without a mode, a partition means the idempotent partition replace; otherwise the
    // whole table is replaced. Plain `append` is never chosen for the user.
    let mode = mode.unwrap_or(if partition.is_empty() {
        WriteMode::Overwrite
    } else {
        WriteMode::ReplacePartition
    });
    if mode == WriteMode::ReplacePartition && partition.is_empty() {
        invalid(
            reader,
            node,
            "`replace_partition` needs a `partition`",
            "e.g. `partition: { dt: \"{{ ds }}\" }`",
        );
        return None;
    }
    if mode == WriteMode::Merge && keys.is_empty() {
        invalid(
            reader,
            node,
            "`merge` needs `keys`: the columns that identify a row",
            "e.g. `keys: [order_id]`",
        );
        return None;
    }
    is_valid.then_some(SqlTarget {
        table,
        partition,
        mode,
        keys,
        schema,
    })
}

fn read_keys(reader: &mut YamlReader<'_>, value: &YamlNode<'_>) -> Option<Vec<String>> {
    let items: &[YamlNode<'_>] = match &value.value {
        YamlValue::Sequence(items) => items,
        _ => std::slice::from_ref(value),
    };
    items
        .iter()
        .map(|item| reader.string("keys", item).map(str::to_owned))
        .collect()
}

fn invalid(reader: &mut YamlReader<'_>, node: &YamlNode<'_>, what: &str, hint: &str) {
    reader.report(
        ProblemKind::InvalidValue {
            what: what.to_owned(),
            hint: Some(hint.to_owned()),
        },
        node.span.clone(),
    );
}
