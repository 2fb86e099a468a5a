use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry as MapEntry;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::did_you_mean::{did_you_mean, did_you_mean_key};
use crate::duration::{InvalidDuration, parse_duration};
use crate::yaml_node::{YamlNode, YamlValue};
use crate::{Diagnostics, Problem, ProblemKind};

/// Reads typed values out of one YAML file's nodes, collecting a [`Problem`] for every value
/// that is not what it should be and carrying on, so that all problems of a file are found
/// in one pass.
pub(crate) struct YamlReader<'p> {
    path: &'p Path,
    text: Arc<str>,
    problems: Diagnostics,
}

/// One `key: value` of a mapping whose key is a scalar.
pub(crate) struct Entry<'n, 'a> {
    pub name: Cow<'n, str>,
    pub key: &'n YamlNode<'a>,
    pub value: &'n YamlNode<'a>,
}

impl<'p> YamlReader<'p> {
    pub(crate) fn new(path: &'p Path, text: Arc<str>) -> Self {
        YamlReader {
            path,
            text,
            problems: Diagnostics::new(),
        }
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    pub(crate) fn has_problems(&self) -> bool {
        !self.problems.is_empty()
    }

    pub(crate) fn into_problems(mut self) -> Diagnostics {
        self.problems.sort_by_position(self.path);
        self.problems
    }

    pub(crate) fn problem(&self, kind: ProblemKind, span: Range<usize>) -> Problem {
        Problem::at(kind, self.path, self.text.clone(), span)
    }

    pub(crate) fn report(&mut self, kind: ProblemKind, span: Range<usize>) {
        let problem = self.problem(kind, span);
        self.problems.push(problem);
    }

    pub(crate) fn push(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    /// The entries of a mapping, in file order. Reports a value that is not a mapping, keys
    /// that are not scalars, and keys given twice (only the first is returned). `what` names
    /// the mapping in messages, e.g. "task `extract`".
    pub(crate) fn entries<'n, 'a>(
        &mut self,
        what: &str,
        node: &'n YamlNode<'a>,
    ) -> Option<Vec<Entry<'n, 'a>>> {
        self.entries_reporting_duplicates(what, node, |key| ProblemKind::DuplicateKey {
            key: key.to_owned(),
            context: what.to_owned(),
        })
    }

    /// [`YamlReader::entries`] with a chosen problem for duplicate keys.
    pub(crate) fn entries_reporting_duplicates<'n, 'a>(
        &mut self,
        what: &str,
        node: &'n YamlNode<'a>,
        duplicate: impl Fn(&str) -> ProblemKind,
    ) -> Option<Vec<Entry<'n, 'a>>> {
        let YamlValue::Mapping(pairs) = &node.value else {
            self.report(
                ProblemKind::NotAMap {
                    what: what.to_owned(),
                    found: node.describe(),
                },
                node.span.clone(),
            );
            return None;
        };
        let mut first_spans: HashMap<Cow<'n, str>, Range<usize>> =
            HashMap::with_capacity(pairs.len());
        let mut entries = Vec::with_capacity(pairs.len());
        for (key, value) in pairs {
            let Some(name) = key.key_text() else {
                self.report(
                    ProblemKind::KeyNotAName {
                        context: what.to_owned(),
                        found: key.describe(),
                    },
                    key.span.clone(),
                );
                continue;
            };
            match first_spans.entry(name.clone()) {
                MapEntry::Occupied(first) => {
                    let problem = self
                        .problem(duplicate(&name), key.span.clone())
                        .with_related(first.get().clone(), "first given here");
                    self.push(problem);
                }
                MapEntry::Vacant(slot) => {
                    slot.insert(key.span.clone());
                    entries.push(Entry { name, key, value });
                }
            }
        }
        Some(entries)
    }

    pub(crate) fn unknown_key(
        &mut self,
        entry: &Entry<'_, '_>,
        context: &str,
        expected: Vec<&'static str>,
    ) {
        let suggestion = did_you_mean_key(&entry.name, &expected);
        self.report(
            ProblemKind::UnknownKey {
                key: entry.name.to_string(),
                context: context.to_owned(),
                suggestion,
                expected,
            },
            entry.key.span.clone(),
        );
    }

    pub(crate) fn wrong_type(&mut self, key: &str, expected: &'static str, value: &YamlNode<'_>) {
        self.report(
            ProblemKind::WrongType {
                key: key.to_owned(),
                expected,
                found: value.describe(),
            },
            value.span.clone(),
        );
    }

    pub(crate) fn string<'n>(&mut self, key: &str, value: &'n YamlNode<'_>) -> Option<&'n str> {
        let text = value.as_str();
        if text.is_none() {
            self.wrong_type(key, "a string", value);
        }
        text
    }

    pub(crate) fn bool(&mut self, key: &str, value: &YamlNode<'_>) -> Option<bool> {
        match value.value {
            YamlValue::Bool(flag) => Some(flag),
            _ => {
                self.wrong_type(key, "true or false", value);
                None
            }
        }
    }

    /// A whole number within `minimum..=maximum`.
    pub(crate) fn integer(
        &mut self,
        key: &str,
        value: &YamlNode<'_>,
        minimum: i64,
        maximum: i64,
    ) -> Option<i64> {
        let YamlValue::Integer(number) = value.value else {
            self.wrong_type(key, "a whole number", value);
            return None;
        };
        if (minimum..=maximum).contains(&number) {
            Some(number)
        } else {
            self.report(
                ProblemKind::OutOfRange {
                    key: key.to_owned(),
                    found: number,
                    minimum,
                    maximum,
                },
                value.span.clone(),
            );
            None
        }
    }

    /// A whole number that fits a `u32` and is at least `minimum`.
    pub(crate) fn count(&mut self, key: &str, value: &YamlNode<'_>, minimum: u32) -> Option<u32> {
        self.integer(key, value, i64::from(minimum), i64::from(u32::MAX))
            .and_then(|number| u32::try_from(number).ok())
    }

    pub(crate) fn duration(&mut self, key: &str, value: &YamlNode<'_>) -> Option<Duration> {
        let text = self.duration_text(key, value)?;
        match parse_duration(text) {
            Ok(duration) => Some(duration),
            Err(InvalidDuration::TooLong) => {
                let problem = ProblemKind::DurationTooLong {
                    key: key.to_owned(),
                    text: text.to_owned(),
                };
                self.report(problem, value.span.clone());
                None
            }
            Err(InvalidDuration::Malformed(reason)) => {
                let problem = ProblemKind::InvalidDuration {
                    key: key.to_owned(),
                    text: text.to_owned(),
                    reason,
                };
                self.report(problem, value.span.clone());
                None
            }
        }
    }

    /// A duration longer than zero, e.g. a `timeout`.
    pub(crate) fn positive_duration(
        &mut self,
        key: &str,
        value: &YamlNode<'_>,
    ) -> Option<Duration> {
        let duration = self.duration(key, value)?;
        if duration.is_zero() {
            self.report(
                ProblemKind::DurationNotPositive {
                    key: key.to_owned(),
                    text: self.text[value.span.clone()].to_owned(),
                },
                value.span.clone(),
            );
            return None;
        }
        Some(duration)
    }

    /// A bare number is read by YAML as a number, but the problem is the same as `"30"`: the
    /// unit is missing. Say that rather than "must be a string".
    fn duration_text<'n>(&mut self, key: &str, value: &'n YamlNode<'_>) -> Option<&'n str> {
        match &value.value {
            YamlValue::String(text) => Some(text),
            YamlValue::Integer(_) | YamlValue::Float(_) => {
                let text = &self.text[value.span.clone()];
                self.report(
                    ProblemKind::InvalidDuration {
                        key: key.to_owned(),
                        text: text.to_owned(),
                        reason: "a unit is missing (ms, s, m, h, days)".to_owned(),
                    },
                    value.span.clone(),
                );
                None
            }
            _ => {
                self.wrong_type(key, "a duration such as `30s`", value);
                None
            }
        }
    }

    /// One of a fixed set of words, e.g. a trigger rule.
    pub(crate) fn choice<T>(
        &mut self,
        key: &'static str,
        value: &YamlNode<'_>,
        expected: &'static [&'static str],
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let text = self.string(key, value)?;
        let parsed = parse(text);
        if parsed.is_none() {
            self.report(
                ProblemKind::InvalidChoice {
                    key,
                    found: text.to_owned(),
                    expected,
                    suggestion: did_you_mean(text, expected.iter().copied()),
                },
                value.span.clone(),
            );
        }
        parsed
    }

    /// Reports keys given twice anywhere inside `node`, e.g. in nested `params`; `what` names
    /// the whole value in messages.
    pub(crate) fn check_nested_duplicates(&mut self, what: &str, node: &YamlNode<'_>) {
        let mut stack = vec![node];
        while let Some(node) = stack.pop() {
            match &node.value {
                YamlValue::Mapping(pairs) => {
                    // Only the reporting is wanted here; `params` are read as a whole.
                    let _ = self.entries(what, node);
                    stack.extend(pairs.iter().map(|(_, value)| value));
                }
                YamlValue::Sequence(items) => stack.extend(items),
                _ => {}
            }
        }
    }

    /// Where `fragment` sits inside the source of `node`, or the whole node when it cannot
    /// be found (escapes or folding can make the source differ from the value).
    pub(crate) fn locate(&self, node_span: &Range<usize>, fragment: &str) -> Range<usize> {
        self.find(node_span, fragment)
            .unwrap_or_else(|| node_span.clone())
    }

    /// Where `fragment` first sits inside the source of `node`, if it does.
    pub(crate) fn find(&self, node_span: &Range<usize>, fragment: &str) -> Option<Range<usize>> {
        if fragment.is_empty() {
            return None;
        }
        let raw = self.text.get(node_span.clone())?;
        let start = node_span.start + raw.find(fragment)?;
        Some(start..start + fragment.len())
    }
}
