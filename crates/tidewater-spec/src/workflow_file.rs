use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use serde_json::{Map, Value};
use tidewater_core::{
    DataTrigger, Deadline, EngineName, HandlerKind, NotificationEvent, Schedule, ScheduleError,
    TableName, Task, TaskAction, TaskIndex, TaskName, TaskRole, Webhook, Workflow, WorkflowName,
    WorkflowSettings,
};

use crate::did_you_mean::{did_you_mean, did_you_mean_timezone};
use crate::duration::{InvalidDuration, parse_duration};
use crate::kinds::{WorkflowReference, WorkflowRelation, table_ref};
use crate::sql_syntax::check_sql;
use crate::task_graph::TaskGraph;
use crate::task_settings::{SETTING_KEYS, TaskSettings};
use crate::task_spec::TaskSpec;
use crate::template_check::{TemplateCheck, TemplateOwner};
use crate::webhook_spec::{is_webhook, read_retry_command, read_webhook};
use crate::yaml_loader::load_yaml;
use crate::yaml_node::{YamlNode, YamlValue};
use crate::yaml_reader::{Entry, YamlReader};
use crate::{Diagnostics, NamedThing, ProblemKind, Project};

/// One workflow file read and checked: its name (as far as it could be read) and either the
/// workflow or every problem found in it.
pub(crate) struct WorkflowFile {
    /// The `name` key, or the file stem when there is none.
    pub name: String,
    /// Where `name` is written, when it is.
    pub name_span: Option<Range<usize>>,
    pub text: Arc<str>,
    pub outcome: Result<Workflow, Diagnostics>,
    /// The other workflows its tasks wait for, to be checked against the project.
    pub waited_workflows: Vec<WaitedWorkflow>,
    /// The workflows `schedule: { on: [{ workflow }] }` names, to be checked likewise.
    pub trigger_workflows: Vec<WorkflowReference>,
    /// The tables `schedule: { on: [{ table }] }` names, with where: checked against the
    /// tables the project writes and the warehouse's by [`crate::Project::check_trigger_tables`].
    pub trigger_tables: Vec<(TableName, Range<usize>)>,
}

/// A task's `wait: { workflow }` or `call: { workflow }`.
#[derive(Debug, Clone)]
pub(crate) struct WaitedWorkflow {
    pub task: String,
    pub workflow: WorkflowReference,
}

const WORKFLOW_KEYS: &[&str] = &[
    "name",
    "description",
    "schedule",
    "timezone",
    "start",
    "catchup",
    "max_active_runs",
    "max_active_tasks",
    "params",
    "defaults",
    "timeout",
    "deadline",
    "tasks",
    "on_failure",
    "on_success",
    "on_deadline_miss",
    "on_retry",
];

const SCHEDULE_KEYS: &[&str] = &["cron", "on"];
const ON_KEYS: &[&str] = &["table", "workflow"];
const SCHEDULE_EXAMPLE: &str = "e.g. `schedule: { on: [{ table: raw.orders }, { workflow: daily_orders }] }`, with `cron: \"@daily\"` for the intervals and runs on time too";

/// What `schedule` says: a cron, data triggers, both or neither.
#[derive(Default)]
struct ScheduleSpec {
    cron: Option<Schedule>,
    triggers: Vec<DataTrigger>,
}

const HANDLERS: [HandlerKind; 3] = HandlerKind::ALL;

/// The longest workflow or task name, in characters (Airflow's limit for DAG and task ids).
/// Names become folder names, log paths and URL segments, which must stay well under the
/// 255-byte file-name limit of common file systems (valid names are ASCII: a character is a
/// byte).
const MAX_NAME_LENGTH: usize = 250;

const TASKS_EXAMPLE: &str = "tasks: { hello: { sh: echo hello } }";

impl WorkflowFile {
    pub(crate) fn parse(project: &Project, path: &Path, source: &str) -> WorkflowFile {
        let text: Arc<str> = Arc::from(source);
        let mut reader = YamlReader::new(path, text.clone());
        let mut file = WorkflowFile {
            name: crate::project::file_stem(path),
            name_span: None,
            text,
            outcome: Err(Diagnostics::new()),
            waited_workflows: Vec::new(),
            trigger_workflows: Vec::new(),
            trigger_tables: Vec::new(),
        };
        let workflow = match load_yaml(source) {
            Ok(loaded) => {
                if let Some(second) = loaded.documents.get(1) {
                    reader.report(
                        ProblemKind::SeveralDocuments {
                            count: loaded.documents.len(),
                        },
                        second.span.start..second.span.start,
                    );
                }
                if let Some(span) = loaded.alias_overflow {
                    reader.report(ProblemKind::AliasesTooLarge, span);
                }
                match loaded.documents.first() {
                    Some(root) if !matches!(root.value, YamlValue::Null) => WorkflowReader {
                        reader: &mut reader,
                        project,
                    }
                    .read(root, &mut file),
                    _ => {
                        reader.report(ProblemKind::EmptyWorkflowFile, 0..0);
                        None
                    }
                }
            }
            Err(error) => {
                reader.report(
                    ProblemKind::YamlSyntax {
                        message: error.message,
                    },
                    error.offset..error.offset,
                );
                None
            }
        };
        file.outcome = match workflow {
            Some(workflow) if !reader.has_problems() => Ok(workflow),
            _ => Err(reader.into_problems()),
        };
        file
    }
}

struct WorkflowReader<'r, 'p> {
    reader: &'r mut YamlReader<'p>,
    project: &'r Project,
}

/// The top-level keys that were given, looked up by name.
struct TopLevel<'e, 'n, 'a> {
    entries: &'e [Entry<'n, 'a>],
}

impl<'n, 'a> TopLevel<'_, 'n, 'a> {
    fn get(&self, key: &str) -> Option<&Entry<'n, 'a>> {
        self.entries.iter().find(|entry| entry.name == key)
    }
}

impl WorkflowReader<'_, '_> {
    fn read(mut self, root: &YamlNode<'_>, file: &mut WorkflowFile) -> Option<Workflow> {
        let entries = self.reader.entries("the workflow", root)?;
        for entry in &entries {
            if !WORKFLOW_KEYS.contains(&entry.name.as_ref()) {
                self.reader
                    .unknown_key(entry, "the workflow", WORKFLOW_KEYS.to_vec());
            }
        }
        let top = TopLevel { entries: &entries };
        // Every part is read even when an earlier one failed (with a stand-in value), so that
        // one pass reports all problems; no workflow is built if there was any.
        let settings = self.settings(&top, file);
        let defaults = self.defaults(&top);
        let steps = self.steps(&top, root);
        let webhooks = self.webhooks(&top);
        let on_retry_command = self.on_retry_command(&top);
        let handlers: Vec<TaskSpec> = HANDLERS
            .iter()
            .filter_map(|&kind| {
                let entry = top.get(kind.task_name())?;
                if is_webhook(entry.value) {
                    return None;
                }
                Some(TaskSpec::read(
                    self.reader,
                    entry.key,
                    kind.task_name(),
                    entry.value,
                    TaskRole::Handler(kind),
                    &self.project.config.pools,
                ))
            })
            .collect();
        // Only when `deadline` is absent: an unreadable one is reported already.
        if top.get("deadline").is_none()
            && let Some(entry) = top.get(HandlerKind::OnDeadlineMiss.task_name())
        {
            self.reader
                .report(ProblemKind::HandlerWithoutDeadline, entry.key.span.clone());
        }
        file.waited_workflows =
            self.waited_workflows(&settings.name, steps.iter().chain(&handlers));
        let mut workflow = self.assemble(settings, &defaults, steps, handlers)?;
        workflow.webhooks = webhooks?;
        workflow.on_retry_command = on_retry_command?;
        Some(workflow)
    }

    /// The handlers written as `{ webhook: … }`.
    fn webhooks(&mut self, top: &TopLevel<'_, '_, '_>) -> Option<Vec<Webhook>> {
        let mut webhooks = Some(Vec::new());
        for event in NotificationEvent::ALL {
            let Some(entry) = top.get(event.as_str()) else {
                continue;
            };
            if !is_webhook(entry.value) {
                // A task, read with the steps' reader, or `on_retry`'s command.
                continue;
            }
            match (read_webhook(self.reader, event, entry.value), &mut webhooks) {
                (Some(webhook), Some(list)) => list.push(webhook),
                _ => webhooks = None,
            }
        }
        webhooks
    }

    /// `on_retry: { sh: … }`: `Some(None)` without one, `None` if it is not readable.
    fn on_retry_command(&mut self, top: &TopLevel<'_, '_, '_>) -> Option<Option<String>> {
        match top.get(NotificationEvent::OnRetry.as_str()) {
            Some(entry) if !is_webhook(entry.value) => {
                read_retry_command(self.reader, entry.value).map(Some)
            }
            _ => Some(None),
        }
    }

    /// The workflows the tasks wait for; waiting for this one is reported here, the others
    /// are checked by the project once every file is read.
    fn waited_workflows<'s>(
        &mut self,
        own: &WorkflowName,
        specs: impl Iterator<Item = &'s TaskSpec>,
    ) -> Vec<WaitedWorkflow> {
        let mut waited = Vec::new();
        for spec in specs {
            let Some(kind) = &spec.kind else { continue };
            for reference in &kind.workflows {
                if reference.name == own.as_str() {
                    let task = spec.name.clone();
                    let workflow = reference.name.clone();
                    self.reader.report(
                        match reference.relation {
                            WorkflowRelation::Waits => {
                                ProblemKind::WaitsForItsOwnWorkflow { task, workflow }
                            }
                            WorkflowRelation::Calls => {
                                ProblemKind::CallsItsOwnWorkflow { task, workflow }
                            }
                            // Only schedules name it, and they check their own workflow.
                            WorkflowRelation::StartsAfter => ProblemKind::InvalidValue {
                                what: format!(
                                    "the schedule starts runs on its own workflow `{workflow}`"
                                ),
                                hint: None,
                            },
                        },
                        reference.span.clone(),
                    );
                } else {
                    waited.push(WaitedWorkflow {
                        task: spec.name.clone(),
                        workflow: reference.clone(),
                    });
                }
            }
        }
        waited
    }

    fn settings(
        &mut self,
        top: &TopLevel<'_, '_, '_>,
        file: &mut WorkflowFile,
    ) -> WorkflowSettings {
        let name = self.name(top, file);
        if let Some(entry) = top.get("description") {
            self.reader.string("description", entry.value);
        }
        let ScheduleSpec {
            cron: schedule,
            triggers: data_triggers,
        } = top
            .get("schedule")
            .map(|entry| self.schedule(entry.value, file))
            .unwrap_or_default();
        let timezone = top
            .get("timezone")
            .and_then(|entry| self.timezone(entry.value));
        let start = top.get("start").and_then(|entry| self.start(entry.value));
        let catchup = top
            .get("catchup")
            .and_then(|entry| self.reader.bool("catchup", entry.value));
        let max_active_runs = top
            .get("max_active_runs")
            .and_then(|entry| self.reader.count("max_active_runs", entry.value, 1));
        let max_active_tasks = top
            .get("max_active_tasks")
            .and_then(|entry| self.reader.count("max_active_tasks", entry.value, 1));
        let params = top.get("params").and_then(|entry| self.params(entry.value));
        let timeout = top
            .get("timeout")
            .and_then(|entry| self.reader.positive_duration("timeout", entry.value));
        let deadline = top
            .get("deadline")
            .and_then(|entry| self.deadline(entry.value));
        WorkflowSettings {
            name: WorkflowName::new(name),
            schedule,
            data_triggers,
            timezone: timezone.unwrap_or(chrono_tz::UTC),
            start,
            catchup: catchup.unwrap_or(false),
            max_active_runs: max_active_runs.unwrap_or(1),
            max_active_tasks,
            params: params.unwrap_or_default(),
            timeout,
            deadline,
        }
    }

    /// The workflow's name; the file stem when `name` is absent or unreadable.
    fn name(&mut self, top: &TopLevel<'_, '_, '_>, file: &mut WorkflowFile) -> String {
        let given = top.get("name");
        let span = match given {
            Some(entry) => {
                let Some(name) = self.reader.string("name", entry.value) else {
                    return file.name.clone();
                };
                file.name = name.to_owned();
                file.name_span = Some(entry.value.span.clone());
                entry.value.span.clone()
            }
            None => 0..0,
        };
        let name = file.name.clone();
        let length = name.chars().count();
        if length > MAX_NAME_LENGTH {
            self.reader.report(
                ProblemKind::NameTooLong {
                    what: NamedThing::Workflow,
                    length,
                    maximum: MAX_NAME_LENGTH,
                },
                span,
            );
        } else if !is_workflow_name(&name) {
            self.reader.report(
                ProblemKind::InvalidWorkflowName {
                    name: name.clone(),
                    is_file_name: given.is_none(),
                },
                span,
            );
        }
        name
    }

    /// `schedule: "0 2 * * *"`, or `schedule: { cron, on }` with either or both: the cron
    /// creates a run per interval as it ends, and each entry of `on` a run per upstream change
    /// (for the cron's interval of the changed partition, or its day without a cron).
    fn schedule(&mut self, value: &YamlNode<'_>, file: &mut WorkflowFile) -> ScheduleSpec {
        if matches!(value.value, YamlValue::Null) {
            return ScheduleSpec::default();
        }
        if !matches!(value.value, YamlValue::Mapping(_)) {
            let Some(expression) = self.reader.string("schedule", value) else {
                return ScheduleSpec::default();
            };
            return ScheduleSpec {
                cron: self.cron(expression, value),
                triggers: Vec::new(),
            };
        }
        let Some(entries) = self.reader.entries("`schedule`", value) else {
            return ScheduleSpec::default();
        };
        let mut spec = ScheduleSpec::default();
        let mut is_given = false;
        for entry in &entries {
            match entry.name.as_ref() {
                "cron" => {
                    is_given = true;
                    if let Some(expression) = self.reader.string("cron", entry.value) {
                        spec.cron = self.cron(expression, entry.value);
                    }
                }
                "on" => {
                    is_given = true;
                    spec.triggers = self.data_triggers(entry.value, file);
                }
                _ => self
                    .reader
                    .unknown_key(entry, "`schedule`", SCHEDULE_KEYS.to_vec()),
            }
        }
        if !is_given {
            self.reader.report(
                ProblemKind::InvalidValue {
                    what: "`schedule` needs `cron`, `on` or both".to_owned(),
                    hint: Some(SCHEDULE_EXAMPLE.to_owned()),
                },
                value.span.clone(),
            );
        }
        spec
    }

    /// `on: [{ table: raw.orders }, { workflow: daily_orders }]`.
    fn data_triggers(&mut self, value: &YamlNode<'_>, file: &mut WorkflowFile) -> Vec<DataTrigger> {
        let YamlValue::Sequence(items) = &value.value else {
            self.reader.wrong_type("on", "a list", value);
            return Vec::new();
        };
        if items.is_empty() {
            self.reader.report(
                ProblemKind::InvalidValue {
                    what: "`on` lists no source".to_owned(),
                    hint: Some(SCHEDULE_EXAMPLE.to_owned()),
                },
                value.span.clone(),
            );
        }
        let mut triggers = Vec::new();
        for item in items {
            if let Some(trigger) = self.data_trigger(item, file)
                && !triggers.contains(&trigger)
            {
                triggers.push(trigger);
            }
        }
        triggers
    }

    /// One entry of `on`: exactly one of `table` and `workflow`.
    fn data_trigger(
        &mut self,
        item: &YamlNode<'_>,
        file: &mut WorkflowFile,
    ) -> Option<DataTrigger> {
        let entries = self.reader.entries("an entry of `on`", item)?;
        let mut triggers = Vec::new();
        let mut is_named = false;
        for entry in &entries {
            match entry.name.as_ref() {
                "table" => {
                    is_named = true;
                    let table = table_ref::table(self.reader, "table", entry.value)?;
                    file.trigger_tables
                        .push((table.clone(), entry.value.span.clone()));
                    triggers.push(DataTrigger::Table(table));
                }
                "workflow" => {
                    is_named = true;
                    let name = self.reader.string("workflow", entry.value)?;
                    if !is_workflow_name(name) {
                        self.reader.report(
                            ProblemKind::InvalidWorkflowName {
                                name: name.to_owned(),
                                is_file_name: false,
                            },
                            entry.value.span.clone(),
                        );
                        return None;
                    }
                    if name == file.name {
                        self.reader.report(
                            ProblemKind::InvalidValue {
                                what: format!(
                                    "the schedule starts runs on its own workflow `{name}`"
                                ),
                                hint: Some(
                                    "each run would start another: name another workflow"
                                        .to_owned(),
                                ),
                            },
                            entry.value.span.clone(),
                        );
                        return None;
                    }
                    file.trigger_workflows.push(WorkflowReference {
                        name: name.to_owned(),
                        span: entry.value.span.clone(),
                        relation: WorkflowRelation::StartsAfter,
                    });
                    triggers.push(DataTrigger::Workflow(WorkflowName::new(name)));
                }
                _ => {
                    // Reported with a suggestion; the entry is not reported again as empty.
                    is_named = true;
                    self.reader
                        .unknown_key(entry, "an entry of `on`", ON_KEYS.to_vec());
                }
            }
        }
        match triggers.len() {
            1 => triggers.pop(),
            // A source was named but could not be read (or misspelled): reported already.
            0 if is_named => None,
            _ => {
                self.reader.report(
                    ProblemKind::InvalidValue {
                        what: "an entry of `on` needs exactly one of `table` and `workflow`"
                            .to_owned(),
                        hint: Some(SCHEDULE_EXAMPLE.to_owned()),
                    },
                    item.span.clone(),
                );
                None
            }
        }
    }

    fn cron(&mut self, expression: &str, value: &YamlNode<'_>) -> Option<Schedule> {
        match Schedule::parse(expression) {
            Ok(schedule) => Some(schedule),
            Err(ScheduleError::InvalidCron { expression, reason }) => {
                self.reader.report(
                    ProblemKind::InvalidSchedule { expression, reason },
                    value.span.clone(),
                );
                None
            }
            Err(ScheduleError::NeverFires { expression }) => {
                self.reader.report(
                    ProblemKind::ScheduleNeverFires { expression },
                    value.span.clone(),
                );
                None
            }
        }
    }

    fn timezone(&mut self, value: &YamlNode<'_>) -> Option<chrono_tz::Tz> {
        let name = self.reader.string("timezone", value)?;
        let parsed = name.parse::<chrono_tz::Tz>().ok();
        if parsed.is_none() {
            self.reader.report(
                ProblemKind::UnknownTimezone {
                    name: name.to_owned(),
                    suggestion: did_you_mean_timezone(name),
                },
                value.span.clone(),
            );
        }
        parsed
    }

    fn start(&mut self, value: &YamlNode<'_>) -> Option<NaiveDate> {
        let text = self.reader.string("start", value)?;
        match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            Ok(date) => Some(date),
            Err(error) => {
                self.reader.report(
                    ProblemKind::InvalidDate {
                        key: "start".to_owned(),
                        text: text.to_owned(),
                        reason: error.to_string(),
                    },
                    value.span.clone(),
                );
                None
            }
        }
    }

    /// `deadline: 3h` (after the end of the data interval) or `deadline: "06:00"` (local time
    /// of day in the workflow's time zone).
    fn deadline(&mut self, value: &YamlNode<'_>) -> Option<Deadline> {
        let text = match &value.value {
            YamlValue::String(text) => text.as_ref(),
            YamlValue::Integer(_) | YamlValue::Float(_) => {
                let text = self.reader.text()[value.span.clone()].to_owned();
                self.reader.report(
                    ProblemKind::InvalidDeadline {
                        text,
                        reason: "a unit is missing (ms, s, m, h, days)".to_owned(),
                    },
                    value.span.clone(),
                );
                return None;
            }
            _ => {
                self.reader.wrong_type(
                    "deadline",
                    "a duration such as `3h` or a time of day such as `\"06:00\"`",
                    value,
                );
                return None;
            }
        };
        let invalid = |reason: &str| ProblemKind::InvalidDeadline {
            text: text.to_owned(),
            reason: reason.to_owned(),
        };
        if text.contains(':') {
            let deadline =
                time_of_day(text).and_then(|(hour, minute)| Deadline::time_of_day(hour, minute));
            if deadline.is_none() {
                self.reader.report(
                    invalid("a time of day is written HH:MM, from 00:00 to 23:59"),
                    value.span.clone(),
                );
            }
            return deadline;
        }
        match parse_duration(text) {
            Ok(delay) if delay.is_zero() => {
                self.reader.report(
                    ProblemKind::DurationNotPositive {
                        key: "deadline".to_owned(),
                        text: text.to_owned(),
                    },
                    value.span.clone(),
                );
                None
            }
            Ok(delay) => Some(Deadline::after_interval_end(delay)),
            Err(InvalidDuration::TooLong) => {
                self.reader.report(
                    ProblemKind::DurationTooLong {
                        key: "deadline".to_owned(),
                        text: text.to_owned(),
                    },
                    value.span.clone(),
                );
                None
            }
            // The parser's reason (e.g. "expected number at 0") helps only when the text
            // looks like a duration.
            Err(InvalidDuration::Malformed(reason))
                if text.starts_with(|character: char| character.is_ascii_digit()) =>
            {
                self.reader.report(invalid(&reason), value.span.clone());
                None
            }
            Err(_) => {
                self.reader.report(
                    invalid(
                        "it is neither a duration such as `3h` nor a time of day such as `06:00`",
                    ),
                    value.span.clone(),
                );
                None
            }
        }
    }

    fn params(&mut self, value: &YamlNode<'_>) -> Option<Map<String, Value>> {
        if matches!(value.value, YamlValue::Null) {
            return Some(Map::new());
        }
        if !matches!(value.value, YamlValue::Mapping(_)) {
            self.reader.wrong_type("params", "a map", value);
            return None;
        }
        self.reader.check_nested_duplicates("`params`", value);
        match value.to_json() {
            Value::Object(params) => Some(params),
            _ => None,
        }
    }

    fn defaults(&mut self, top: &TopLevel<'_, '_, '_>) -> TaskSettings {
        let mut defaults = TaskSettings::default();
        let Some(entry) = top.get("defaults") else {
            return defaults;
        };
        if matches!(entry.value.value, YamlValue::Null) {
            return defaults;
        }
        let Some(entries) = self.reader.entries("`defaults`", entry.value) else {
            return defaults;
        };
        for setting in &entries {
            if !defaults.read(self.reader, setting, &self.project.config.pools) {
                self.reader
                    .unknown_key(setting, "`defaults`", SETTING_KEYS.to_vec());
            }
        }
        // Checked once here; the tasks that inherit it are not told again.
        if let Some((engine, span)) = &defaults.engine {
            self.check_engine(engine, span);
        }
        defaults
    }

    /// Reports an `engine` that `tidewater.toml` does not declare, at `span`.
    fn check_engine(&mut self, engine: &EngineName, span: &Range<usize>) {
        let engines = &self.project.config.engines;
        if !engines.contains_key(engine) {
            self.reader.report(
                ProblemKind::UnknownEngine {
                    engine: engine.to_string(),
                    suggestion: did_you_mean(
                        engine.as_str(),
                        engines.keys().map(EngineName::as_str),
                    ),
                },
                span.clone(),
            );
        }
    }

    fn steps(&mut self, top: &TopLevel<'_, '_, '_>, root: &YamlNode<'_>) -> Vec<TaskSpec> {
        let Some(entry) = top.get("tasks") else {
            self.reader.report(
                ProblemKind::MissingKey {
                    key: "tasks",
                    context: "the workflow".to_owned(),
                    example: TASKS_EXAMPLE,
                },
                root.span.start..root.span.start,
            );
            return Vec::new();
        };
        let is_empty = match &entry.value.value {
            YamlValue::Null => true,
            YamlValue::Mapping(entries) => entries.is_empty(),
            _ => false,
        };
        if is_empty {
            self.reader
                .report(ProblemKind::NoTasks, entry.key.span.clone());
            return Vec::new();
        }
        let Some(entries) =
            self.reader
                .entries_reporting_duplicates("`tasks`", entry.value, |task| {
                    ProblemKind::DuplicateTask {
                        task: task.to_owned(),
                    }
                })
        else {
            return Vec::new();
        };
        let mut steps = Vec::with_capacity(entries.len());
        for task in &entries {
            let name = task.name.as_ref();
            if HANDLERS.iter().any(|kind| kind.task_name() == name) {
                self.reader.report(
                    ProblemKind::ReservedTaskName {
                        name: name.to_owned(),
                    },
                    task.key.span.clone(),
                );
            } else if name.chars().count() > MAX_NAME_LENGTH {
                self.reader.report(
                    ProblemKind::NameTooLong {
                        what: NamedThing::Task,
                        length: name.chars().count(),
                        maximum: MAX_NAME_LENGTH,
                    },
                    task.key.span.clone(),
                );
            } else if !is_task_name(name) {
                self.reader.report(
                    ProblemKind::InvalidTaskName {
                        name: name.to_owned(),
                    },
                    task.key.span.clone(),
                );
            }
            steps.push(TaskSpec::read(
                self.reader,
                task.key,
                name,
                task.value,
                TaskRole::Step,
                &self.project.config.pools,
            ));
        }
        steps
    }

    /// The checks that need the whole workflow, then the core model.
    fn assemble(
        mut self,
        settings: WorkflowSettings,
        defaults: &TaskSettings,
        steps: Vec<TaskSpec>,
        handlers: Vec<TaskSpec>,
    ) -> Option<Workflow> {
        let mut graph = TaskGraph::resolve(self.reader, &steps);
        graph.report_cycles(self.reader, &steps);
        let template_check = TemplateCheck {
            workflow: &settings.name,
            timezone: settings.timezone,
            params: &settings.params,
            steps: &graph.by_name,
            upstream: &graph.upstream,
            connections: Arc::new(crate::Connections::samples(
                &self.project.config.connections,
            )),
        };
        let mut tasks = Vec::with_capacity(steps.len() + handlers.len());
        for (index, spec) in steps.iter().chain(&handlers).enumerate() {
            let owner = match spec.role {
                TaskRole::Step => TemplateOwner::Step {
                    name: &spec.name,
                    index,
                },
                TaskRole::Handler(_) => TemplateOwner::Handler { name: &spec.name },
            };
            if let Some(kind) = &spec.kind {
                for template in &kind.templates {
                    template_check.check(self.reader, owner, template);
                }
                for file in &kind.files {
                    if !self.project.root.join(&file.path).exists() {
                        self.reader.report(
                            ProblemKind::MissingFile {
                                path: file.path.clone(),
                            },
                            file.span.clone(),
                        );
                    }
                }
                if let Some(sql) = &kind.sql {
                    check_sql(self.reader, &template_check, owner, sql, &self.project.root);
                }
            }
            let needs = graph.upstream.get(index).cloned().unwrap_or_default();
            tasks.push(self.task(spec, defaults, needs));
        }
        if self.reader.has_problems() {
            return None;
        }
        match Workflow::new(settings, tasks) {
            Ok(workflow) => Some(workflow),
            Err(error) => {
                self.reader.report(
                    ProblemKind::Bug {
                        detail: format!("the checked workflow was refused by the core: {error}"),
                    },
                    0..0,
                );
                None
            }
        }
    }

    fn task(&mut self, spec: &TaskSpec, defaults: &TaskSettings, needs: Vec<TaskIndex>) -> Task {
        let settings = spec.settings.clone().over(defaults);
        let pool_slots = spec.pool_slots.as_ref().map_or(1, |(slots, _)| *slots);
        if let (Some(pool), Some((requested, span))) = (&settings.pool, &spec.pool_slots)
            && let Some(config) = self.project.config.pools.get(pool)
            && *requested > config.slots
        {
            self.reader.report(
                ProblemKind::PoolTooSmall {
                    task: spec.name.clone(),
                    pool: pool.to_string(),
                    requested: *requested,
                    slots: config.slots,
                },
                span.clone(),
            );
        }
        let mut action = spec
            .kind
            .as_ref()
            .map_or(TaskAction::Empty, |kind| kind.action.clone());
        // A task's own `engine` is checked here; one from `defaults` was checked there and
        // applies to the workflow's `sql` tasks only.
        if let Some((engine, span)) = &spec.settings.engine {
            if matches!(action, TaskAction::Sql(_)) {
                self.check_engine(engine, span);
            } else if spec.kind.is_some() {
                self.reader.report(
                    ProblemKind::EngineOnNonSqlTask {
                        task: spec.name.clone(),
                    },
                    span.clone(),
                );
            }
        }
        if let TaskAction::Sql(sql) = &mut action {
            sql.engine = settings.engine.as_ref().map(|(engine, _)| engine.clone());
        }
        // Only tasks a worker can run alone take a queue: `empty` completes in the scheduler,
        // `wait` and `call` ask the store. A queue from `defaults` passes them by; one the task
        // names itself is a mistake worth saying.
        let queue = match (&action, settings.queue.clone()) {
            (TaskAction::Empty | TaskAction::Wait(_) | TaskAction::Call(_), Some(_)) => {
                if spec.settings.queue.is_some() {
                    self.reader.report(
                        ProblemKind::QueueOnKind {
                            task: spec.name.clone(),
                            kind: action.kind().to_owned(),
                        },
                        spec.name_span.clone(),
                    );
                }
                None
            }
            (_, queue) => queue,
        };
        Task {
            name: TaskName::new(spec.name.as_str()),
            action,
            needs,
            trigger: match spec.role {
                TaskRole::Step => settings.trigger.unwrap_or_default(),
                TaskRole::Handler(_) => Default::default(),
            },
            retry: settings.retry_policy(),
            timeout: settings.timeout,
            pool: settings.pool,
            pool_slots,
            priority: settings.priority.unwrap_or(0),
            role: spec.role,
            queue,
        }
    }
}

/// Lowercase letters, digits, `_` and `-`.
pub(crate) fn is_workflow_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().all(|character| {
            character.is_ascii_lowercase()
                || character.is_ascii_digit()
                || matches!(character, '_' | '-')
        })
}

/// `HH:MM` (or `H:MM`) as hour and minute, not yet checked against the clock's range.
fn time_of_day(text: &str) -> Option<(u32, u32)> {
    let (hour, minute) = text.trim().split_once(':')?;
    let is_number = |part: &str, widths: std::ops::RangeInclusive<usize>| {
        widths.contains(&part.len()) && part.chars().all(|character| character.is_ascii_digit())
    };
    if !is_number(hour, 1..=2) || !is_number(minute, 2..=2) {
        return None;
    }
    Some((hour.parse().ok()?, minute.parse().ok()?))
}

/// Letters, digits, `_` and `-`: names that are safe in paths, logs and URLs.
fn is_task_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || matches!(character, '_' | '-'))
}
