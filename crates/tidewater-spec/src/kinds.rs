//! Task kinds: the one key of a task that says what it does (`sh`, `empty`, ...).
//!
//! Each kind is a module with a [`TaskKind`] constant that reads the kind's value into a
//! [`TaskAction`]. Adding a kind is one module here, one line in [`KINDS`], and its runner in
//! the engine.

mod call;
mod empty;
mod http;
mod maintain;
mod sh;
mod sql;
pub(crate) mod table_ref;
mod wait;

pub(crate) use http::read_body;

use std::ops::Range;

use tidewater_core::TaskAction;

use crate::ProblemKind;
use crate::workflow_file::is_workflow_name;
use crate::yaml_node::{YamlNode, YamlValue};
use crate::yaml_reader::{Entry, YamlReader};

/// How one kind reads its value.
pub(crate) struct TaskKind {
    pub key: &'static str,
    /// Task keys that belong to this kind (e.g. `into` for `sql`); other kinds refuse them.
    pub companions: &'static [&'static str],
    /// Reads the kind's value and its companion entries present in the task.
    pub read: fn(&mut YamlReader<'_>, &YamlNode<'_>, &[&Entry<'_, '_>]) -> Option<KindAction>,
}

/// What a kind's value becomes, plus what validation must look at.
#[derive(Debug)]
pub(crate) struct KindAction {
    pub action: TaskAction,
    /// Template strings of the action, checked before any run.
    pub templates: Vec<TemplateText>,
    /// Files of the project the action runs, which must exist.
    pub files: Vec<FileReference>,
    /// Other workflows the action names, which must be in the project (checked once every
    /// workflow file is read).
    pub workflows: Vec<WorkflowReference>,
    /// The SQL of a `sql` task, whose syntax is checked once its templates are.
    pub sql: Option<SqlSource>,
}

/// Where a `sql` task's query is written.
#[derive(Debug)]
pub(crate) enum SqlSource {
    /// In the workflow file (also one of the action's [`KindAction::templates`]).
    Inline(TemplateText),
    /// In a file of the project, relative to its root.
    File(String),
}

/// A template string and where its YAML scalar is in the file.
#[derive(Debug, Clone)]
pub(crate) struct TemplateText {
    pub text: String,
    pub span: Range<usize>,
}

/// A path relative to the project root, e.g. `./scripts/extract.sh`.
#[derive(Debug)]
pub(crate) struct FileReference {
    pub path: String,
    pub span: Range<usize>,
}

/// A workflow named in a task, e.g. `wait: { workflow: daily_orders }`.
#[derive(Debug, Clone)]
pub(crate) struct WorkflowReference {
    pub name: String,
    pub span: Range<usize>,
    pub relation: WorkflowRelation,
}

/// What a task does with the workflow it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WorkflowRelation {
    /// `wait: { workflow }`: waits for a succeeded run of it.
    Waits,
    /// `call: { workflow }`: runs it as a child run (so calls must not form a cycle).
    Calls,
    /// `schedule: { on: [{ workflow }] }`: the schedule starts a run after each succeeded
    /// run of it (not a task's: read by the workflow file, which checks it is not its own).
    StartsAfter,
}

impl WorkflowReference {
    /// Reads the `workflow` a task names (not a template: a workflow name is checked
    /// against the project); an invalid one is reported and `None`.
    pub(crate) fn read(
        reader: &mut YamlReader<'_>,
        value: &YamlNode<'_>,
        relation: WorkflowRelation,
    ) -> Option<WorkflowReference> {
        let name = reader.string("workflow", value)?;
        if !is_workflow_name(name) {
            reader.report(
                ProblemKind::InvalidWorkflowName {
                    name: name.to_owned(),
                    is_file_name: false,
                },
                value.span.clone(),
            );
            return None;
        }
        Some(WorkflowReference {
            name: name.to_owned(),
            span: value.span.clone(),
            relation,
        })
    }
}

/// What the names of a map of templates must be (`env`'s, `headers`'): a rule, and what the
/// report says of a name that breaks it.
pub(crate) struct NameRule {
    pub is_valid: fn(&str) -> bool,
    /// e.g. "an environment variable name".
    pub what: &'static str,
    pub hint: &'static str,
}

/// A map of names to templates (`env: { NAME: value }`, `headers`): each name checked by
/// `rule`, each value a string (a template), number or boolean; every mistake is reported, and
/// then the map is `None`. The templates are added to `templates`, for validation.
pub(crate) fn named_templates(
    reader: &mut YamlReader<'_>,
    key: &str,
    node: &YamlNode<'_>,
    rule: &NameRule,
    templates: &mut Vec<TemplateText>,
) -> Option<Vec<(String, String)>> {
    let entries = reader.entries(&format!("`{key}`"), node)?;
    let mut named = Vec::with_capacity(entries.len());
    let mut is_valid = true;
    for entry in &entries {
        if !(rule.is_valid)(&entry.name) {
            reader.report(
                ProblemKind::InvalidValue {
                    what: format!("`{}` is not {}", entry.name, rule.what),
                    hint: Some(rule.hint.to_owned()),
                },
                entry.key.span.clone(),
            );
            is_valid = false;
            continue;
        }
        let Some(text) = scalar_template(reader, entry, templates) else {
            is_valid = false;
            continue;
        };
        named.push((entry.name.to_string(), text));
    }
    is_valid.then_some(named)
}

/// A map entry's value as a template: a string as written, a number or boolean as its text;
/// anything else is reported. The template is added to `templates`, for validation.
fn scalar_template(
    reader: &mut YamlReader<'_>,
    entry: &Entry<'_, '_>,
    templates: &mut Vec<TemplateText>,
) -> Option<String> {
    let text = match &entry.value.value {
        YamlValue::String(text) => text.to_string(),
        YamlValue::Integer(number) => number.to_string(),
        YamlValue::Bool(flag) => flag.to_string(),
        _ => {
            reader.wrong_type(&entry.name, "a string", entry.value);
            return None;
        }
    };
    templates.push(TemplateText {
        text: text.clone(),
        span: entry.value.span.clone(),
    });
    Some(text)
}

pub(crate) const KINDS: &[TaskKind] = &[
    sh::KIND,
    empty::KIND,
    sql::KIND,
    wait::KIND,
    maintain::KIND,
    http::KIND,
    call::KIND,
];

/// Kinds that are designed (DESIGN.md) but not implemented: named in the error instead of
/// being reported as unknown keys.
pub(crate) const PLANNED_KINDS: &[&str] = &[];

pub(crate) fn find(key: &str) -> Option<&'static TaskKind> {
    KINDS.iter().find(|kind| kind.key == key)
}

pub(crate) fn planned(key: &str) -> Option<&'static str> {
    PLANNED_KINDS
        .iter()
        .copied()
        .find(|planned| *planned == key)
}

pub(crate) fn available_kinds() -> Vec<&'static str> {
    KINDS.iter().map(|kind| kind.key).collect()
}

/// The kind a companion key belongs to, e.g. `into` → `sql`.
pub(crate) fn owner_of_companion(key: &str) -> Option<&'static TaskKind> {
    KINDS.iter().find(|kind| kind.companions.contains(&key))
}

pub(crate) fn companion_keys() -> impl Iterator<Item = &'static str> {
    KINDS
        .iter()
        .flat_map(|kind| kind.companions.iter().copied())
}
