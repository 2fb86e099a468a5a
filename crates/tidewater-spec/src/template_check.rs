use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

use minijinja::ErrorKind;
use serde_json::{Map, Value};
use tidewater_core::{DataInterval, RunId, TaskIndex, TaskName, WorkflowName};

use crate::did_you_mean::did_you_mean;
use crate::kinds::TemplateText;
use crate::problem_kind::TEMPLATE_VARIABLES;
use crate::template_environment::{template_environment, validation_environment};
use crate::yaml_reader::YamlReader;
use crate::{Connections, ProblemKind, TemplateContext};

/// Checks template strings before any run: syntax, variables that will not exist, outputs of
/// tasks that will not have finished, and filters that do not exist.
pub(crate) struct TemplateCheck<'w> {
    pub workflow: &'w WorkflowName,
    pub timezone: chrono_tz::Tz,
    pub params: &'w Map<String, Value>,
    /// Steps by name.
    pub steps: &'w HashMap<&'w str, usize>,
    /// Resolved `needs` of each step.
    pub upstream: &'w [Vec<TaskIndex>],
    /// The project's connections with sample values.
    pub connections: Arc<Connections>,
}

/// Which task a template belongs to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TemplateOwner<'t> {
    Step {
        name: &'t str,
        index: usize,
    },
    /// A handler runs after every step, so it may read any step's output.
    Handler {
        name: &'t str,
    },
}

impl TemplateOwner<'_> {
    fn name(&self) -> &str {
        match self {
            TemplateOwner::Step { name, .. } | TemplateOwner::Handler { name } => name,
        }
    }
}

impl TemplateCheck<'_> {
    pub(crate) fn check(
        &self,
        reader: &mut YamlReader<'_>,
        owner: TemplateOwner<'_>,
        template: &TemplateText,
    ) {
        // Every tag, expression and comment starts with `{` (the environment sets no line
        // statements): text without one renders as itself and has nothing to check. Most
        // commands are such text, and compiling and sample-rendering each was most of the
        // time it takes to parse a workflow file.
        if !template.text.contains('{') {
            return;
        }
        let compiled = match template_environment().template_from_str(&template.text) {
            Ok(compiled) => compiled,
            Err(error) => {
                let span = syntax_error_span(reader, template, &error);
                let detail = error.detail().unwrap_or("invalid template").to_owned();
                reader.report(ProblemKind::TemplateSyntax { detail }, span);
                return;
            }
        };
        let mut variables: Vec<String> = compiled.undeclared_variables(true).into_iter().collect();
        variables.sort();
        let mut reported_roots = HashSet::new();
        let mut has_problems = false;
        let mut reads_outputs = false;
        for variable in &variables {
            let parts: Vec<&str> = variable.split('.').collect();
            reads_outputs |= parts[0] == "tasks";
            let Some((kind, fragment)) = self.check_variable(owner, &parts) else {
                continue;
            };
            if reported_roots.insert(fragment.clone()) {
                has_problems = true;
                let span = locate_in_template(reader, &template.span, &fragment);
                reader.report(kind, span);
            }
        }
        // Rendering with sample values finds what the variable analysis cannot see, such as
        // an unknown filter. Outputs of other tasks have no sample value, so templates that
        // read them are left to run time.
        if !has_problems && !reads_outputs {
            self.render_with_sample_values(reader, owner, template);
        }
    }

    /// The problem with one variable path (`params.region`, `tasks.extract.output`), and the
    /// text to point at.
    fn check_variable(
        &self,
        owner: TemplateOwner<'_>,
        parts: &[&str],
    ) -> Option<(ProblemKind, String)> {
        let root = parts[0];
        if validation_environment()
            .globals()
            .any(|(name, _)| name == root)
        {
            return None;
        }
        if !TEMPLATE_VARIABLES.contains(&root) {
            let suggestion = did_you_mean(root, TEMPLATE_VARIABLES.iter().copied());
            let kind = ProblemKind::UnknownTemplateVariable {
                variable: root.to_owned(),
                suggestion,
            };
            return Some((kind, root.to_owned()));
        }
        match (root, parts.get(1)) {
            ("params", Some(&param)) if !self.params.contains_key(param) => {
                let suggestion = did_you_mean(param, self.params.keys().map(String::as_str));
                let kind = ProblemKind::UnknownParam {
                    param: param.to_owned(),
                    suggestion,
                };
                Some((kind, format!("params.{param}")))
            }
            ("tasks", Some(&referenced)) => self.check_output(owner, referenced, parts.get(2)),
            ("conn", Some(&connection)) => self.check_connection(connection, &parts[2..]),
            _ => None,
        }
    }

    fn check_output(
        &self,
        owner: TemplateOwner<'_>,
        referenced: &str,
        field: Option<&&str>,
    ) -> Option<(ProblemKind, String)> {
        let fragment = format!("tasks.{referenced}");
        let Some(&referenced_index) = self.steps.get(referenced) else {
            let suggestion = did_you_mean(referenced, self.steps.keys().copied());
            let kind = ProblemKind::UnknownTemplateTask {
                referenced: referenced.to_owned(),
                suggestion,
            };
            return Some((kind, fragment));
        };
        if let TemplateOwner::Step { index, .. } = owner
            && !self.is_upstream(referenced_index, index)
        {
            let kind = ProblemKind::OutputNotUpstream {
                task: owner.name().to_owned(),
                referenced: referenced.to_owned(),
            };
            return Some((kind, fragment));
        }
        match field {
            Some(&field) if field != "output" => {
                let kind = ProblemKind::UnknownTaskField {
                    referenced: referenced.to_owned(),
                    field: field.to_owned(),
                };
                Some((kind, format!("{fragment}.{field}")))
            }
            _ => None,
        }
    }

    /// `conn.NAME.FIELD` (or `conn.NAME.extra.KEY`): a connection of `tidewater.toml`, and a
    /// value it has.
    fn check_connection(&self, name: &str, rest: &[&str]) -> Option<(ProblemKind, String)> {
        let fragment = format!("conn.{name}");
        let Some(connection) = self.connections.get(name) else {
            let known: Vec<String> = self.connections.names().map(str::to_owned).collect();
            let suggestion = did_you_mean(name, known.iter().map(String::as_str));
            let kind = ProblemKind::UnknownConnection {
                connection: name.to_owned(),
                known,
                suggestion,
            };
            return Some((kind, fragment));
        };
        let field = match rest {
            [] | ["extra"] => return None,
            ["extra", key, ..] => format!("extra.{key}"),
            [field, ..] => (*field).to_owned(),
        };
        if connection.fields.contains_key(&field) {
            return None;
        }
        let known: Vec<String> = connection.fields.keys().cloned().collect();
        let suggestion = did_you_mean(&field, known.iter().map(String::as_str));
        let shown_fragment = format!("{fragment}.{field}");
        let kind = ProblemKind::UnknownConnectionField {
            connection: name.to_owned(),
            field,
            known,
            suggestion,
        };
        Some((kind, shown_fragment))
    }

    /// Whether `candidate` finishes before `task` starts: a walk up `needs` from `task`.
    /// Only templates that read outputs pay for it.
    fn is_upstream(&self, candidate: usize, task: usize) -> bool {
        let mut seen = vec![false; self.upstream.len()];
        let mut stack: Vec<usize> = self.upstream[task]
            .iter()
            .map(|index| index.get())
            .collect();
        while let Some(current) = stack.pop() {
            if current == candidate {
                return true;
            }
            if !std::mem::replace(&mut seen[current], true) {
                stack.extend(self.upstream[current].iter().map(|index| index.get()));
            }
        }
        false
    }

    /// `text` rendered with the sample values, or `None` when it cannot be (a template
    /// problem, reported by [`TemplateCheck::check`] for templates of the workflow file, or
    /// the output of another task, which has no sample value). Text without a tag is itself.
    pub(crate) fn sample_render(&self, owner: TemplateOwner<'_>, text: &str) -> Option<String> {
        if !text.contains('{') {
            return Some(text.to_owned());
        }
        self.try_sample_render(owner, text)?.ok()
    }

    /// `None` when the template does not compile.
    fn try_sample_render(
        &self,
        owner: TemplateOwner<'_>,
        text: &str,
    ) -> Option<Result<String, minijinja::Error>> {
        let context = TemplateContext {
            workflow: self.workflow.clone(),
            task: TaskName::new(owner.name()),
            run_id: RunId(1),
            interval: sample_interval(self.timezone),
            timezone: self.timezone,
            params: self.params.clone(),
            task_outputs: BTreeMap::new(),
            connections: self.connections.clone(),
        };
        let compiled = validation_environment().template_from_str(text).ok()?;
        Some(compiled.render(minijinja::value::Serde(context.variables())))
    }

    fn render_with_sample_values(
        &self,
        reader: &mut YamlReader<'_>,
        owner: TemplateOwner<'_>,
        template: &TemplateText,
    ) {
        let Some(Err(error)) = self.try_sample_render(owner, &template.text) else {
            return;
        };
        // The sample values are valid for every run (dates of the right shape, the real
        // params), so a failure here fails every run too. Running out of fuel only means the
        // template is long to render.
        if error.kind() == ErrorKind::OutOfFuel {
            return;
        }
        let span = error
            .range()
            .and_then(|range| template.text.get(range))
            .and_then(|fragment| reader.find(&template.span, fragment))
            .unwrap_or_else(|| template.span.clone());
        let detail = match error.detail() {
            Some(detail) => format!("{}: {detail}", error.kind()),
            None => error.kind().to_string(),
        };
        reader.report(ProblemKind::TemplateFails { detail }, span);
    }
}

/// The interval of sample renders: the local day of 2026-01-01.
fn sample_interval(timezone: chrono_tz::Tz) -> DataInterval {
    let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();
    DataInterval::day(day, timezone)
}

/// Where a syntax error is in the file. minijinja gives a line and a byte range inside the
/// template text; the YAML source of a block scalar holds that line verbatim (indented), so
/// the range is placed inside the line's source. Otherwise: the fragment, or the scalar.
fn syntax_error_span(
    reader: &YamlReader<'_>,
    template: &TemplateText,
    error: &minijinja::Error,
) -> Range<usize> {
    let text = template.text.as_str();
    let range = error
        .range()
        .filter(|range| text.get(range.clone()).is_some());
    if let Some(line_number) = error.line() {
        let line_start: usize = text
            .split_inclusive('\n')
            .take(line_number.saturating_sub(1))
            .map(str::len)
            .sum();
        let line = text
            .get(line_start..)
            .and_then(|rest| rest.lines().next())
            .unwrap_or_default();
        if let Some(line_in_file) = reader.find(&template.span, line) {
            return match range {
                Some(range)
                    if range.start >= line_start && range.end <= line_start + line.len() =>
                {
                    let start = line_in_file.start + (range.start - line_start);
                    start..line_in_file.start + (range.end - line_start)
                }
                _ => line_in_file,
            };
        }
    }
    range
        .and_then(|range| text.get(range))
        .and_then(|fragment| reader.find(&template.span, fragment))
        .unwrap_or_else(|| template.span.clone())
}

/// Finds `fragment` as a whole word after the first `{{` or `{%` of the scalar, so that
/// `echo ds {{ ds }}` points at the second `ds`.
fn locate_in_template(
    reader: &YamlReader<'_>,
    span: &Range<usize>,
    fragment: &str,
) -> Range<usize> {
    let Some(raw) = reader.text().get(span.clone()) else {
        return span.clone();
    };
    let first_tag = ["{{", "{%"]
        .iter()
        .filter_map(|marker| raw.find(marker))
        .min()
        .unwrap_or(0);
    let is_word = |character: Option<char>| {
        character.is_some_and(|character| character.is_alphanumeric() || character == '_')
    };
    raw.match_indices(fragment)
        .map(|(offset, _)| offset)
        .filter(|&offset| offset >= first_tag)
        .find(|&offset| {
            let before = raw[..offset].chars().next_back();
            let after = raw[offset + fragment.len()..].chars().next();
            !is_word(before) && !is_word(after)
        })
        .map_or(span.clone(), |offset| {
            let start = span.start + offset;
            start..start + fragment.len()
        })
}
