use std::collections::BTreeMap;
use std::ops::Range;

use tidewater_core::{HandlerKind, PoolName, TaskRole};

use crate::kinds::{self, KindAction};
use crate::task_settings::{SETTING_KEYS, TaskSettings};
use crate::yaml_node::{YamlNode, YamlValue};
use crate::yaml_reader::{Entry, YamlReader};
use crate::{PoolConfig, ProblemKind};

/// One task as written in a workflow file: names still unresolved, spans kept for the
/// checks that need the whole workflow (dependencies, templates, pools).
#[derive(Debug)]
pub(crate) struct TaskSpec {
    pub name: String,
    pub name_span: Range<usize>,
    pub role: TaskRole,
    pub needs: Vec<Need>,
    pub settings: TaskSettings,
    pub pool_slots: Option<(u32, Range<usize>)>,
    /// `None` when the kind was missing or invalid (already reported).
    pub kind: Option<KindAction>,
}

/// One entry of `needs`.
#[derive(Debug)]
pub(crate) struct Need {
    pub name: String,
    pub span: Range<usize>,
}

/// Keys of a task besides its kind and the settings it shares with `defaults`.
const OWN_KEYS: &[&str] = &["needs", "trigger", "pool_slots", "description"];

impl TaskSpec {
    /// Reads a task's body; `role` decides whether `needs` and `trigger` are allowed.
    pub(crate) fn read(
        reader: &mut YamlReader<'_>,
        name: &YamlNode<'_>,
        name_text: &str,
        body: &YamlNode<'_>,
        role: TaskRole,
        pools: &BTreeMap<PoolName, PoolConfig>,
    ) -> TaskSpec {
        let mut spec = TaskSpec {
            name: name_text.to_owned(),
            name_span: name.span.clone(),
            role,
            needs: Vec::new(),
            settings: TaskSettings::default(),
            pool_slots: None,
            kind: None,
        };
        let context = match role {
            TaskRole::Step => format!("task `{name_text}`"),
            TaskRole::Handler(_) => format!("`{name_text}`"),
        };
        if matches!(body.value, YamlValue::Null) {
            reader.report(
                ProblemKind::MissingTaskKind {
                    task: name_text.to_owned(),
                },
                name.span.clone(),
            );
            return spec;
        }
        let Some(entries) = reader.entries(&context, body) else {
            return spec;
        };
        let mut kind_key: Option<&'static str> = None;
        // The kind first: its companion keys (e.g. `into`) may come before it in the file.
        let kind_entry = entries
            .iter()
            .find(|entry| kinds::find(&entry.name).is_some());
        let chosen = kind_entry.and_then(|entry| kinds::find(&entry.name));
        for entry in &entries {
            if let Some(kind) = kinds::find(&entry.name) {
                match kind_key {
                    Some(first) => reader.report(
                        ProblemKind::TwoTaskKinds {
                            task: name_text.to_owned(),
                            first,
                            second: kind.key,
                        },
                        entry.key.span.clone(),
                    ),
                    None => {
                        kind_key = Some(kind.key);
                        let companions: Vec<&Entry<'_, '_>> = entries
                            .iter()
                            .filter(|other| kind.companions.contains(&other.name.as_ref()))
                            .collect();
                        spec.kind = (kind.read)(reader, entry.value, &companions);
                    }
                }
            } else if let Some(planned) = kinds::planned(&entry.name) {
                kind_key.get_or_insert(planned);
                reader.report(
                    ProblemKind::KindNotAvailable { kind: planned },
                    entry.key.span.clone(),
                );
            } else if let Some(owner) = kinds::owner_of_companion(&entry.name) {
                let is_own =
                    chosen.is_some_and(|kind| kind.companions.contains(&entry.name.as_ref()));
                if !is_own {
                    reader.report(
                        ProblemKind::KeyOfAnotherKind {
                            key: owner
                                .companions
                                .iter()
                                .copied()
                                .find(|key| *key == entry.name)
                                .unwrap_or(owner.key),
                            kind: owner.key,
                        },
                        entry.key.span.clone(),
                    );
                }
            } else {
                spec.read_key(reader, entry, &context, pools);
            }
        }
        if kind_key.is_none() {
            reader.report(
                ProblemKind::MissingTaskKind {
                    task: name_text.to_owned(),
                },
                name.span.clone(),
            );
        }
        spec
    }

    fn read_key(
        &mut self,
        reader: &mut YamlReader<'_>,
        entry: &Entry<'_, '_>,
        context: &str,
        pools: &BTreeMap<PoolName, PoolConfig>,
    ) {
        if let TaskRole::Handler(kind) = self.role {
            for key in ["needs", "trigger"] {
                if entry.name == key {
                    reader.report(
                        ProblemKind::HandlerKey {
                            handler: handler_name(kind),
                            key,
                        },
                        entry.key.span.clone(),
                    );
                    return;
                }
            }
        }
        match entry.name.as_ref() {
            "needs" => self.needs = read_needs(reader, entry.value),
            "pool_slots" => {
                self.pool_slots = reader
                    .count("pool_slots", entry.value, 1)
                    .map(|slots| (slots, entry.value.span.clone()));
            }
            "description" => {
                reader.string("description", entry.value);
            }
            _ => {
                if !self.settings.read(reader, entry, pools) {
                    reader.unknown_key(entry, context, task_keys(self.role));
                }
            }
        }
    }
}

fn handler_name(kind: HandlerKind) -> &'static str {
    kind.task_name()
}

/// Every key a task may have, for "did you mean" and the list of known keys.
fn task_keys(role: TaskRole) -> Vec<&'static str> {
    let kind_keys = kinds::available_kinds();
    let own = OWN_KEYS
        .iter()
        .copied()
        .filter(|key| role == TaskRole::Step || !matches!(*key, "needs" | "trigger"));
    kind_keys
        .into_iter()
        .chain(kinds::companion_keys())
        .chain(own)
        .chain(SETTING_KEYS.iter().copied().filter(|key| *key != "trigger"))
        .collect()
}

/// `needs: extract` or `needs: [extract, clean]`. Repeated names are merged later, when
/// names are resolved.
fn read_needs(reader: &mut YamlReader<'_>, value: &YamlNode<'_>) -> Vec<Need> {
    const EXPECTED: &str = "a task name or a list of task names";
    let items: &[YamlNode<'_>] = match &value.value {
        YamlValue::Sequence(items) => items,
        _ => std::slice::from_ref(value),
    };
    let mut needs = Vec::with_capacity(items.len());
    for item in items {
        // A task named `2024` is written `2024:`, so a need may be a number too.
        let name = match item.value {
            YamlValue::Null | YamlValue::Sequence(_) | YamlValue::Mapping(_) => None,
            _ => item.key_text(),
        };
        match name {
            Some(name) => needs.push(Need {
                name: name.into_owned(),
                span: item.span.clone(),
            }),
            None => reader.wrong_type("needs", EXPECTED, item),
        }
    }
    needs
}
