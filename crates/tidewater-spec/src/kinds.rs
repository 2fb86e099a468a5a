//! Task kinds: the one key of a task that says what it does (`sh`, `empty`, ...).
//!
//! Each kind is a module with a [`TaskKind`] constant that reads the kind's value into a
//! [`TaskAction`]. Adding a kind is one module here, one line in [`KINDS`], and its runner in
//! the engine.

mod empty;
mod http;
mod maintain;
mod sh;
mod sql;
mod table_ref;
mod wait;

pub(crate) use http::read_body;

use std::ops::Range;

use tidewater_core::TaskAction;

use crate::yaml_node::YamlNode;
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
}

pub(crate) const KINDS: &[TaskKind] = &[
    sh::KIND,
    empty::KIND,
    sql::KIND,
    wait::KIND,
    maintain::KIND,
    http::KIND,
];

/// Kinds that are designed (DESIGN.md) but not implemented: named in the error instead of
/// being reported as unknown keys.
pub(crate) const PLANNED_KINDS: &[&str] = &["call"];

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
