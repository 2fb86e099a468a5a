use std::path::PathBuf;

/// What is wrong with a project or workflow file. Each variant's message says what and why;
/// [`ProblemKind::help`] says what to do about it when there is something to say.
///
/// Almost every problem is in the user's input; [`ProblemKind::ReadFailed`] is the
/// environment's; [`ProblemKind::Bug`] is ours.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProblemKind {
    #[error("no `tidewater.toml` in `{}`", root.display())]
    ProjectFileMissing { root: PathBuf },
    #[error("cannot read `{}`: {reason}", path.display())]
    ReadFailed { path: PathBuf, reason: String },
    #[error("invalid TOML: {message}")]
    TomlSyntax { message: String },
    #[error("invalid YAML: {message}")]
    YamlSyntax { message: String },
    #[error("a workflow file holds one YAML document, this one holds {count}")]
    SeveralDocuments { count: usize },
    #[error("YAML aliases in this file expand to too many values")]
    AliasesTooLarge,
    #[error("unknown key `{key}` in {context}")]
    UnknownKey {
        key: String,
        context: String,
        suggestion: Option<String>,
        expected: Vec<&'static str>,
    },
    #[error("the workflow file is empty")]
    EmptyWorkflowFile,
    #[error("{what} must be a map, found {found}")]
    NotAMap { what: String, found: &'static str },
    #[error("a key in {context} must be a name, found {found}")]
    KeyNotAName {
        context: String,
        found: &'static str,
    },
    #[error("{context} is missing `{key}`")]
    MissingKey {
        key: &'static str,
        context: String,
        example: &'static str,
    },
    #[error("`{key}` is given twice in {context}")]
    DuplicateKey { key: String, context: String },
    #[error("`{key}` must be {expected}, found {found}")]
    WrongType {
        key: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("{}", out_of_range_message(key, *found, *minimum, *maximum))]
    OutOfRange {
        key: String,
        found: i64,
        minimum: i64,
        maximum: i64,
    },
    #[error("`{found}` is not a valid `{key}`")]
    InvalidChoice {
        key: &'static str,
        found: String,
        expected: &'static [&'static str],
        suggestion: Option<String>,
    },
    #[error("invalid duration `{text}` for `{key}`: {reason}")]
    InvalidDuration {
        key: String,
        text: String,
        reason: String,
    },
    #[error("`{key}` must be longer than zero, found `{text}`")]
    DurationNotPositive { key: String, text: String },
    #[error("`{key}` is `{text}`, longer than the longest duration accepted")]
    DurationTooLong { key: String, text: String },
    #[error("invalid date `{text}` for `{key}`: {reason}")]
    InvalidDate {
        key: String,
        text: String,
        reason: String,
    },
    #[error("invalid workflow name `{name}`{}", if *is_file_name { " (taken from the file name)" } else { "" })]
    InvalidWorkflowName { name: String, is_file_name: bool },
    #[error("workflow `{name}` is also defined in `{}`", first.display())]
    DuplicateWorkflow { name: String, first: PathBuf },
    #[error("no workflow named `{name}`")]
    UnknownWorkflow {
        name: String,
        known: Vec<String>,
        suggestion: Option<String>,
    },
    #[error("invalid task name `{name}`")]
    InvalidTaskName { name: String },
    #[error("the {what} name is {length} characters long, longer than the limit of {maximum}")]
    NameTooLong {
        what: NamedThing,
        length: usize,
        maximum: usize,
    },
    #[error("{error}")]
    InvalidTableName {
        error: tidewater_core::InvalidTableName,
    },
    #[error("SQL syntax error: {detail}")]
    SqlSyntax { detail: String },
    #[error("`{name}` is reserved for a workflow handler")]
    ReservedTaskName { name: String },
    #[error("task `{task}` is defined twice")]
    DuplicateTask { task: String },
    #[error("the workflow has no tasks")]
    NoTasks,
    #[error("task `{task}` does not say what it runs")]
    MissingTaskKind { task: String },
    #[error("task `{task}` has two kinds, `{first}` and `{second}`")]
    TwoTaskKinds {
        task: String,
        first: &'static str,
        second: &'static str,
    },
    #[error("task kind `{kind}` is not available yet")]
    KindNotAvailable { kind: &'static str },
    #[error("this build of tidewater has no `{scheme}` store backend")]
    StoreBackendNotAvailable { scheme: String },
    #[error("`{key}` belongs to `{kind}` tasks")]
    KeyOfAnotherKind {
        key: &'static str,
        kind: &'static str,
    },
    #[error("{what}")]
    InvalidValue { what: String, hint: Option<String> },
    #[error("`{handler}` cannot have `{key}`: handlers run once every step is done")]
    HandlerKey {
        handler: &'static str,
        key: &'static str,
    },
    #[error("task `{task}` needs `{missing}`, which is not a task of this workflow")]
    UnknownDependency {
        task: String,
        missing: String,
        suggestion: Option<String>,
    },
    #[error("dependency cycle: {}", cycle_text(cycle))]
    DependencyCycle { cycle: Vec<String> },
    #[error("invalid schedule `{expression}`: {reason}")]
    InvalidSchedule { expression: String, reason: String },
    #[error("the schedule `{expression}` never fires")]
    ScheduleNeverFires { expression: String },
    #[error("unknown time zone `{name}`")]
    UnknownTimezone {
        name: String,
        suggestion: Option<String>,
    },
    #[error("pool `{pool}` is not declared in `tidewater.toml`")]
    UnknownPool {
        pool: String,
        suggestion: Option<String>,
    },
    #[error("engine `{engine}` is not declared in `tidewater.toml`")]
    UnknownEngine {
        engine: String,
        suggestion: Option<String>,
    },
    #[error("`engine` runs a `sql` task elsewhere; task `{task}` is not a `sql` task")]
    EngineOnNonSqlTask { task: String },
    #[error("task `{task}` takes {requested} slots of pool `{pool}`, which has only {slots}")]
    PoolTooSmall {
        task: String,
        pool: String,
        requested: u32,
        slots: u32,
    },
    #[error("`{queue}` is not a queue name: use lowercase letters, digits, `_` and `-`")]
    BadQueueName { queue: String },
    #[error("task `{task}` is a `{kind}` task, which cannot run on a worker's queue")]
    QueueOnKind { task: String, kind: String },
    #[error("template syntax error: {detail}")]
    TemplateSyntax { detail: String },
    #[error("unknown template variable `{variable}`")]
    UnknownTemplateVariable {
        variable: String,
        suggestion: Option<String>,
    },
    #[error("`params.{param}` is not among the workflow's `params`")]
    UnknownParam {
        param: String,
        suggestion: Option<String>,
    },
    #[error("`tasks.{referenced}` refers to no task of this workflow")]
    UnknownTemplateTask {
        referenced: String,
        suggestion: Option<String>,
    },
    #[error("task `{task}` reads the output of `{referenced}`, which is not upstream of it")]
    OutputNotUpstream { task: String, referenced: String },
    #[error("`tasks.{referenced}.{field}` does not exist")]
    UnknownTaskField { referenced: String, field: String },
    #[error("template fails with sample values: {detail}")]
    TemplateFails { detail: String },
    #[error("file `{path}` does not exist")]
    MissingFile { path: String },
    #[error("invalid deadline `{text}`: {reason}")]
    InvalidDeadline { text: String, reason: String },
    #[error(
        "`on_deadline_miss` runs when a run misses its deadline, but the workflow has no `deadline`"
    )]
    HandlerWithoutDeadline,
    #[error("task `{task}` waits for workflow `{workflow}`, which is not in this project")]
    UnknownWaitWorkflow {
        task: String,
        workflow: String,
        known: Vec<String>,
        suggestion: Option<String>,
    },
    #[error("task `{task}` waits for a run of its own workflow `{workflow}`")]
    WaitsForItsOwnWorkflow { task: String, workflow: String },
    #[error("the schedule starts runs on workflow `{workflow}`, which is not in this project")]
    UnknownTriggerWorkflow {
        workflow: String,
        known: Vec<String>,
        suggestion: Option<String>,
    },
    #[error("task `{task}` calls workflow `{workflow}`, which is not in this project")]
    UnknownCallWorkflow {
        task: String,
        workflow: String,
        known: Vec<String>,
        suggestion: Option<String>,
    },
    #[error(
        "the schedule starts runs on table `{table}`, which no workflow of this project writes and the warehouse does not have"
    )]
    UnknownTriggerTable {
        table: String,
        known: Vec<String>,
        suggestion: Option<String>,
    },
    #[error(
        "the view reads table `{table}`, which no workflow of this project writes and the warehouse does not have"
    )]
    UnknownViewTable {
        table: String,
        known: Vec<String>,
        suggestion: Option<String>,
    },
    #[error("task `{task}` calls its own workflow `{workflow}`")]
    CallsItsOwnWorkflow { task: String, workflow: String },
    /// Workflows that call each other in a circle, starting with the one reported.
    #[error(
        "task `{task}` calls workflow `{workflow}`, which calls back: {}",
        cycle_text(cycle)
    )]
    CallCycle {
        task: String,
        workflow: String,
        cycle: Vec<String>,
    },
    #[error("`conn.{connection}` refers to no connection of `tidewater.toml`")]
    UnknownConnection {
        connection: String,
        known: Vec<String>,
        suggestion: Option<String>,
    },
    #[error("connection `{connection}` has no `{field}`")]
    UnknownConnectionField {
        connection: String,
        field: String,
        known: Vec<String>,
        suggestion: Option<String>,
    },
    #[error("{detail}")]
    ConnectionValueUnreadable { detail: String },
    #[error("this is a bug in tidewater, please report it: {detail}")]
    Bug { detail: String },
}

/// What a [`ProblemKind::NameTooLong`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamedThing {
    Workflow,
    Task,
}

impl std::fmt::Display for NamedThing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NamedThing::Workflow => "workflow",
            NamedThing::Task => "task",
        })
    }
}

/// Template variables every task can use; `tasks` and `params` are checked more closely.
pub(crate) const TEMPLATE_VARIABLES: &[&str] = &[
    "ds",
    "ds_nodash",
    "logical_date",
    "data_interval_start",
    "data_interval_end",
    "run_id",
    "params",
    "workflow",
    "task",
    "tasks",
    "conn",
];

impl ProblemKind {
    /// A stable name for the problem, shown above the message.
    pub fn code(&self) -> &'static str {
        match self {
            ProblemKind::ProjectFileMissing { .. } => "tidewater::project_file_missing",
            ProblemKind::ReadFailed { .. } => "tidewater::read_failed",
            ProblemKind::TomlSyntax { .. } => "tidewater::toml_syntax",
            ProblemKind::YamlSyntax { .. } => "tidewater::yaml_syntax",
            ProblemKind::SeveralDocuments { .. } => "tidewater::several_documents",
            ProblemKind::AliasesTooLarge => "tidewater::aliases_too_large",
            ProblemKind::UnknownKey { .. } => "tidewater::unknown_key",
            ProblemKind::EmptyWorkflowFile => "tidewater::empty_workflow_file",
            ProblemKind::NotAMap { .. } => "tidewater::not_a_map",
            ProblemKind::KeyNotAName { .. } => "tidewater::key_not_a_name",
            ProblemKind::MissingKey { .. } => "tidewater::missing_key",
            ProblemKind::DuplicateKey { .. } => "tidewater::duplicate_key",
            ProblemKind::WrongType { .. } => "tidewater::wrong_type",
            ProblemKind::OutOfRange { .. } => "tidewater::out_of_range",
            ProblemKind::InvalidChoice { .. } => "tidewater::invalid_choice",
            ProblemKind::InvalidDuration { .. } => "tidewater::invalid_duration",
            ProblemKind::DurationNotPositive { .. } => "tidewater::duration_not_positive",
            ProblemKind::DurationTooLong { .. } => "tidewater::duration_too_long",
            ProblemKind::InvalidDate { .. } => "tidewater::invalid_date",
            ProblemKind::InvalidWorkflowName { .. } => "tidewater::invalid_workflow_name",
            ProblemKind::DuplicateWorkflow { .. } => "tidewater::duplicate_workflow",
            ProblemKind::UnknownWorkflow { .. } => "tidewater::unknown_workflow",
            ProblemKind::InvalidTaskName { .. } => "tidewater::invalid_task_name",
            ProblemKind::NameTooLong { .. } => "tidewater::name_too_long",
            ProblemKind::InvalidTableName { .. } => "tidewater::invalid_table_name",
            ProblemKind::SqlSyntax { .. } => "tidewater::sql_syntax",
            ProblemKind::ReservedTaskName { .. } => "tidewater::reserved_task_name",
            ProblemKind::DuplicateTask { .. } => "tidewater::duplicate_task",
            ProblemKind::NoTasks => "tidewater::no_tasks",
            ProblemKind::MissingTaskKind { .. } => "tidewater::missing_task_kind",
            ProblemKind::TwoTaskKinds { .. } => "tidewater::two_task_kinds",
            ProblemKind::KindNotAvailable { .. } => "tidewater::kind_not_available",
            ProblemKind::StoreBackendNotAvailable { .. } => {
                "tidewater::store_backend_not_available"
            }
            ProblemKind::KeyOfAnotherKind { .. } => "tidewater::key_of_another_kind",
            ProblemKind::InvalidValue { .. } => "tidewater::invalid_value",
            ProblemKind::HandlerKey { .. } => "tidewater::handler_key",
            ProblemKind::UnknownDependency { .. } => "tidewater::unknown_dependency",
            ProblemKind::DependencyCycle { .. } => "tidewater::dependency_cycle",
            ProblemKind::InvalidSchedule { .. } => "tidewater::invalid_schedule",
            ProblemKind::ScheduleNeverFires { .. } => "tidewater::schedule_never_fires",
            ProblemKind::UnknownTimezone { .. } => "tidewater::unknown_timezone",
            ProblemKind::UnknownPool { .. } => "tidewater::unknown_pool",
            ProblemKind::PoolTooSmall { .. } => "tidewater::pool_too_small",
            ProblemKind::UnknownEngine { .. } => "tidewater::unknown_engine",
            ProblemKind::EngineOnNonSqlTask { .. } => "tidewater::engine_on_non_sql_task",
            ProblemKind::BadQueueName { .. } => "tidewater::bad_queue_name",
            ProblemKind::QueueOnKind { .. } => "tidewater::queue_on_kind",
            ProblemKind::TemplateSyntax { .. } => "tidewater::template_syntax",
            ProblemKind::UnknownTemplateVariable { .. } => "tidewater::unknown_template_variable",
            ProblemKind::UnknownParam { .. } => "tidewater::unknown_param",
            ProblemKind::UnknownTemplateTask { .. } => "tidewater::unknown_template_task",
            ProblemKind::OutputNotUpstream { .. } => "tidewater::output_not_upstream",
            ProblemKind::UnknownTaskField { .. } => "tidewater::unknown_task_field",
            ProblemKind::TemplateFails { .. } => "tidewater::template_fails",
            ProblemKind::MissingFile { .. } => "tidewater::missing_file",
            ProblemKind::InvalidDeadline { .. } => "tidewater::invalid_deadline",
            ProblemKind::HandlerWithoutDeadline => "tidewater::handler_without_deadline",
            ProblemKind::UnknownWaitWorkflow { .. } => "tidewater::unknown_wait_workflow",
            ProblemKind::WaitsForItsOwnWorkflow { .. } => "tidewater::waits_for_its_own_workflow",
            ProblemKind::UnknownTriggerWorkflow { .. } => "tidewater::unknown_trigger_workflow",
            ProblemKind::UnknownTriggerTable { .. } => "tidewater::unknown_trigger_table",
            ProblemKind::UnknownViewTable { .. } => "tidewater::unknown_view_table",
            ProblemKind::UnknownCallWorkflow { .. } => "tidewater::unknown_call_workflow",
            ProblemKind::CallsItsOwnWorkflow { .. } => "tidewater::calls_its_own_workflow",
            ProblemKind::CallCycle { .. } => "tidewater::call_cycle",
            ProblemKind::UnknownConnection { .. } => "tidewater::unknown_connection",
            ProblemKind::UnknownConnectionField { .. } => "tidewater::unknown_connection_field",
            ProblemKind::ConnectionValueUnreadable { .. } => {
                "tidewater::connection_value_unreadable"
            }
            ProblemKind::Bug { .. } => "tidewater::bug",
        }
    }

    /// What to do about the problem, when there is a useful hint.
    pub fn help(&self) -> Option<String> {
        match self {
            ProblemKind::ProjectFileMissing { .. } => Some(
                "run `tidewater init` to create a project here, or point to the folder that holds `tidewater.toml`".to_owned(),
            ),
            ProblemKind::SeveralDocuments { .. } => {
                Some("put each workflow in its own file under `workflows/`".to_owned())
            }
            ProblemKind::AliasesTooLarge => {
                Some("use `defaults` for settings shared by many tasks".to_owned())
            }
            ProblemKind::UnknownKey {
                key,
                suggestion,
                expected,
                ..
            } => Some(match suggestion {
                Some(suggestion) => format!("did you mean `{suggestion}`?"),
                None if key == "<<" => {
                    "YAML merge keys are not supported; put shared task settings in `defaults`"
                        .to_owned()
                }
                None => format!("known keys: {}", expected.join(", ")),
            }),
            ProblemKind::EmptyWorkflowFile => Some(
                "a workflow needs at least `tasks`, e.g. `tasks: { hello: { sh: echo hello } }`"
                    .to_owned(),
            ),
            ProblemKind::MissingKey { example, .. } => Some(format!("for example: {example}")),
            ProblemKind::DuplicateKey { .. } => Some("remove one of them".to_owned()),
            ProblemKind::WrongType { expected, found, .. } => {
                (*expected == "a string" && *found != "a list" && *found != "a map")
                    .then(|| "put the value in quotes to make it a string".to_owned())
            }
            ProblemKind::InvalidChoice {
                suggestion,
                expected,
                ..
            } => Some(did_you_mean_or_list(suggestion, "expected one of", expected)),
            ProblemKind::InvalidDuration { .. } => Some(
                "write a number with a unit, e.g. `500ms`, `30s`, `5m`, `1h30m`, `2days`"
                    .to_owned(),
            ),
            ProblemKind::DurationTooLong { .. } => Some(format!(
                "write at most {} days (100 years)",
                crate::duration::LONGEST_DAYS
            )),
            ProblemKind::InvalidDate { .. } => Some("write the date as YYYY-MM-DD".to_owned()),
            ProblemKind::InvalidWorkflowName { is_file_name, .. } => Some(format!(
                "a workflow name uses lowercase letters, digits, `_` and `-`, e.g. `daily_sales`{}",
                if *is_file_name {
                    "; rename the file or set `name:`"
                } else {
                    ""
                }
            )),
            ProblemKind::DuplicateWorkflow { .. } => {
                Some("workflow names are unique in a project: rename one of them".to_owned())
            }
            ProblemKind::UnknownWorkflow {
                suggestion, known, ..
            } => Some(match suggestion {
                Some(suggestion) => format!("did you mean `{suggestion}`?"),
                None if known.is_empty() => {
                    "the project has no valid workflows under `workflows/`".to_owned()
                }
                None => format!("known workflows: {}", known.join(", ")),
            }),
            ProblemKind::InvalidTaskName { .. } => Some(
                "a task name uses letters, digits, `_` and `-`, e.g. `load_raw`".to_owned(),
            ),
            ProblemKind::NameTooLong { what, maximum, .. } => Some(format!(
                "shorten the {what} name to at most {maximum} characters; it is part of paths, logs and URLs"
            )),
            ProblemKind::InvalidTableName { .. } => Some(
                "name tables `schema.table` in lowercase letters, digits and `_`, e.g. `raw.orders`"
                    .to_owned(),
            ),
            ProblemKind::SqlSyntax { .. } => Some(
                "the query is parsed as the query engine (DataFusion) parses it, after rendering its templates with ds = 2026-01-01, run_id = 1 and the workflow's params"
                    .to_owned(),
            ),
            ProblemKind::ReservedTaskName { .. } => Some(
                "declare `on_failure`, `on_success` and `on_deadline_miss` next to `tasks`, not inside it"
                    .to_owned(),
            ),
            ProblemKind::DuplicateTask { .. } => Some("rename or remove one of them".to_owned()),
            ProblemKind::NoTasks => Some("add at least one task under `tasks`".to_owned()),
            ProblemKind::MissingTaskKind { .. } => {
                Some("add what the task runs, e.g. `sh: ./scripts/extract.sh` or `empty: {}`".to_owned())
            }
            ProblemKind::TwoTaskKinds { .. } => {
                Some("a task does one thing: split it into two tasks".to_owned())
            }
            ProblemKind::KeyOfAnotherKind { kind, .. } => {
                Some(format!("use it with `{kind}:`, or remove it"))
            }
            ProblemKind::InvalidValue { hint, .. } => hint.clone(),
            ProblemKind::KindNotAvailable { .. } => Some(format!(
                "available kinds: {}",
                crate::kinds::available_kinds().join(", ")
            )),
            ProblemKind::StoreBackendNotAvailable { .. } => Some(format!(
                "available store backends: {} (`url = \"sqlite:PATH\"`, or no `url` for `tidewater.db` in the `[store] path` folder)",
                crate::StoreBackend::AVAILABLE.join(", ")
            )),
            ProblemKind::HandlerKey { .. } => Some(
                "`on_failure` runs when the run fails, `on_success` when it succeeds, and `on_deadline_miss` when it misses its `deadline`"
                    .to_owned(),
            ),
            ProblemKind::UnknownDependency { suggestion, .. } => suggestion
                .as_ref()
                .map(|suggestion| format!("did you mean `{suggestion}`?")),
            ProblemKind::DependencyCycle { .. } => {
                Some("remove one of the `needs` entries on the cycle".to_owned())
            }
            ProblemKind::InvalidSchedule { .. } => Some(
                "use 5 cron fields (minute hour day-of-month month day-of-week) or one of @hourly, @daily, @weekly, @monthly, @yearly".to_owned(),
            ),
            ProblemKind::ScheduleNeverFires { .. } => {
                Some("check the day of month against the month".to_owned())
            }
            ProblemKind::UnknownTimezone { suggestion, .. } => Some(match suggestion {
                Some(suggestion) => format!("did you mean `{suggestion}`?"),
                None => "use an IANA time zone name, e.g. `Asia/Seoul` or `UTC`".to_owned(),
            }),
            ProblemKind::UnknownPool { suggestion, pool } => Some(match suggestion {
                Some(suggestion) => format!("did you mean `{suggestion}`?"),
                None => format!("declare it in `tidewater.toml`: [pools.{pool}] slots = 4"),
            }),
            ProblemKind::UnknownEngine { suggestion, engine } => Some(match suggestion {
                Some(suggestion) => format!("did you mean `{suggestion}`?"),
                None => format!(
                    "declare it in `tidewater.toml`: [engines.{engine}] ballista = \"df://127.0.0.1:50050\""
                ),
            }),
            ProblemKind::EngineOnNonSqlTask { .. } => {
                Some("remove `engine`, or make the task a `sql` task".to_owned())
            }
            ProblemKind::BadQueueName { .. } => {
                Some("for example `queue: gpu` or `queue: eu-west`".to_owned())
            }
            ProblemKind::QueueOnKind { .. } => Some(
                "`sh`, `sql`, `http` and `maintain` tasks may name a queue; `empty`, `wait` and \
                 `call` tasks run where their run is executed"
                    .to_owned(),
            ),
            ProblemKind::PoolTooSmall { pool, .. } => Some(format!(
                "lower `pool_slots` or raise `slots` of [pools.{pool}] in `tidewater.toml`"
            )),
            ProblemKind::UnknownConnection {
                suggestion, known, ..
            } => Some(match suggestion {
                Some(suggestion) => format!("did you mean `conn.{suggestion}`?"),
                None if known.is_empty() => {
                    "declare it in `tidewater.toml`: `[connections.NAME]` with `url = \"...\"`"
                        .to_owned()
                }
                None => format!("connections of this project: {}", known.join(", ")),
            }),
            ProblemKind::UnknownConnectionField {
                suggestion, known, ..
            } => Some(match suggestion {
                Some(suggestion) => format!("did you mean `{suggestion}`?"),
                None => format!("it has: {}", known.join(", ")),
            }),
            ProblemKind::ConnectionValueUnreadable { .. } => Some(
                "set the variable in the environment of the process that runs tasks, or create the file (relative to the project)"
                    .to_owned(),
            ),
            ProblemKind::UnknownTemplateVariable { suggestion, .. } => {
                Some(did_you_mean_or_list(suggestion, "known variables", TEMPLATE_VARIABLES))
            }
            ProblemKind::UnknownParam { suggestion, param } => Some(match suggestion {
                Some(suggestion) => format!("did you mean `params.{suggestion}`?"),
                None => format!("add it to the workflow: `params: {{ {param}: ... }}`"),
            }),
            ProblemKind::UnknownTemplateTask { suggestion, .. } => suggestion
                .as_ref()
                .map(|suggestion| format!("did you mean `tasks.{suggestion}`?")),
            ProblemKind::OutputNotUpstream { referenced, .. } => Some(format!(
                "add `{referenced}` to `needs`: a task reads only the outputs of tasks that finish before it"
            )),
            ProblemKind::UnknownTaskField { referenced, .. } => {
                Some(format!("a task's result is `tasks.{referenced}.output`"))
            }
            ProblemKind::TemplateFails { .. } => Some(
                "it was rendered with ds = 2026-01-01, run_id = 1 and the workflow's params"
                    .to_owned(),
            ),
            ProblemKind::MissingFile { .. } => Some(
                "paths starting with `./` or `../` are relative to the project folder".to_owned(),
            ),
            ProblemKind::InvalidDeadline { .. } | ProblemKind::HandlerWithoutDeadline => Some(
                "write a duration after the end of the data interval, e.g. `deadline: 3h`, or a local time of day in the workflow's time zone, e.g. `deadline: \"06:00\"`"
                    .to_owned(),
            ),
            ProblemKind::UnknownWaitWorkflow {
                suggestion, known, ..
            }
            | ProblemKind::UnknownTriggerWorkflow {
                suggestion, known, ..
            }
            | ProblemKind::UnknownCallWorkflow {
                suggestion, known, ..
            } => Some(match suggestion {
                Some(suggestion) => format!("did you mean `{suggestion}`?"),
                None if known.is_empty() => "the project has no other workflows".to_owned(),
                None => format!("workflows of this project: {}", known.join(", ")),
            }),
            ProblemKind::UnknownTriggerTable {
                suggestion, known, ..
            }
            | ProblemKind::UnknownViewTable {
                suggestion, known, ..
            } => Some(match suggestion {
                Some(suggestion) => format!("did you mean `{suggestion}`?"),
                None if known.is_empty() => {
                    "no workflow writes a table (`sql` with `into`) and the warehouse has none"
                        .to_owned()
                }
                None => format!("known tables: {}", known.join(", ")),
            }),
            ProblemKind::WaitsForItsOwnWorkflow { .. } => Some(
                "a run would wait for itself: name another workflow, or use `needs` for a task of this one"
                    .to_owned(),
            ),
            ProblemKind::CallsItsOwnWorkflow { .. } | ProblemKind::CallCycle { .. } => Some(
                "each run would start another without end: a workflow must not call itself, directly or through others"
                    .to_owned(),
            ),
            ProblemKind::ReadFailed { .. }
            | ProblemKind::TomlSyntax { .. }
            | ProblemKind::YamlSyntax { .. }
            | ProblemKind::OutOfRange { .. }
            | ProblemKind::NotAMap { .. }
            | ProblemKind::KeyNotAName { .. }
            | ProblemKind::DurationNotPositive { .. }
            | ProblemKind::TemplateSyntax { .. }
            | ProblemKind::Bug { .. } => None,
        }
    }

    /// The short text under the caret.
    pub fn label(&self) -> &'static str {
        match self {
            ProblemKind::TomlSyntax { .. } | ProblemKind::YamlSyntax { .. } => "here",
            ProblemKind::SeveralDocuments { .. } => "second document starts here",
            ProblemKind::AliasesTooLarge => "expansion stopped here",
            ProblemKind::UnknownKey { .. } => "unknown key",
            ProblemKind::EmptyWorkflowFile => "no settings",
            ProblemKind::NotAMap { .. } => "not a map",
            ProblemKind::KeyNotAName { .. } => "not a name",
            ProblemKind::MissingKey { .. } => "in this map",
            ProblemKind::DuplicateKey { .. } => "given again here",
            ProblemKind::WrongType { .. } => "wrong type",
            ProblemKind::OutOfRange { .. } => "out of range",
            ProblemKind::InvalidChoice { .. } => "not a known value",
            ProblemKind::InvalidDuration { .. } => "not a duration",
            ProblemKind::DurationNotPositive { .. } => "zero",
            ProblemKind::DurationTooLong { .. } => "too long",
            ProblemKind::InvalidDate { .. } => "not a date",
            ProblemKind::InvalidWorkflowName { .. } => "invalid name",
            ProblemKind::DuplicateWorkflow { .. } => "same name as another workflow",
            ProblemKind::InvalidTaskName { .. } => "invalid name",
            ProblemKind::NameTooLong { .. } => "too long",
            ProblemKind::InvalidTableName { .. } => "invalid table name",
            ProblemKind::SqlSyntax { .. } => "syntax error",
            ProblemKind::ReservedTaskName { .. } => "reserved name",
            ProblemKind::DuplicateTask { .. } => "defined again here",
            ProblemKind::NoTasks => "empty",
            ProblemKind::MissingTaskKind { .. } => "this task",
            ProblemKind::TwoTaskKinds { .. } => "second kind",
            ProblemKind::KindNotAvailable { .. } => "not available yet",
            ProblemKind::StoreBackendNotAvailable { .. } => "not in this build",
            ProblemKind::KeyOfAnotherKind { .. } => "not for this kind",
            ProblemKind::InvalidValue { .. } => "invalid value",
            ProblemKind::HandlerKey { .. } => "not allowed in a handler",
            ProblemKind::UnknownDependency { .. } => "unknown task",
            ProblemKind::DependencyCycle { .. } => "this dependency closes the cycle",
            ProblemKind::InvalidSchedule { .. } | ProblemKind::ScheduleNeverFires { .. } => {
                "invalid schedule"
            }
            ProblemKind::UnknownTimezone { .. } => "unknown time zone",
            ProblemKind::UnknownPool { .. } => "unknown pool",
            ProblemKind::PoolTooSmall { .. } => "more than the pool has",
            ProblemKind::UnknownEngine { .. } => "unknown engine",
            ProblemKind::EngineOnNonSqlTask { .. } => "not a sql task",
            ProblemKind::BadQueueName { .. } => "not a queue name",
            ProblemKind::QueueOnKind { .. } => "not for this kind",
            ProblemKind::TemplateSyntax { .. } => "template error",
            ProblemKind::UnknownTemplateVariable { .. } => "unknown variable",
            ProblemKind::UnknownParam { .. } => "unknown param",
            ProblemKind::UnknownTemplateTask { .. } => "unknown task",
            ProblemKind::OutputNotUpstream { .. } => "not upstream",
            ProblemKind::UnknownTaskField { .. } => "unknown field",
            ProblemKind::TemplateFails { .. } => "fails here",
            ProblemKind::MissingFile { .. } => "no such file",
            ProblemKind::InvalidDeadline { .. } => "not a deadline",
            ProblemKind::HandlerWithoutDeadline => "no deadline to miss",
            ProblemKind::UnknownWaitWorkflow { .. } => "unknown workflow",
            ProblemKind::WaitsForItsOwnWorkflow { .. } => "its own workflow",
            ProblemKind::UnknownTriggerWorkflow { .. } => "unknown workflow",
            ProblemKind::UnknownTriggerTable { .. } | ProblemKind::UnknownViewTable { .. } => {
                "unknown table"
            }
            ProblemKind::UnknownCallWorkflow { .. } => "unknown workflow",
            ProblemKind::CallsItsOwnWorkflow { .. } => "its own workflow",
            ProblemKind::CallCycle { .. } => "this call closes the cycle",
            ProblemKind::UnknownConnection { .. } => "unknown connection",
            ProblemKind::UnknownConnectionField { .. } => "unknown field",
            ProblemKind::ConnectionValueUnreadable { .. } => "cannot be read",
            ProblemKind::ProjectFileMissing { .. }
            | ProblemKind::ReadFailed { .. }
            | ProblemKind::UnknownWorkflow { .. }
            | ProblemKind::Bug { .. } => "here",
        }
    }
}

fn did_you_mean_or_list(suggestion: &Option<String>, heading: &str, choices: &[&str]) -> String {
    match suggestion {
        Some(suggestion) => format!("did you mean `{suggestion}`?"),
        None => format!("{heading}: {}", choices.join(", ")),
    }
}

fn out_of_range_message(key: &str, found: i64, minimum: i64, maximum: i64) -> String {
    if found < minimum {
        format!("`{key}` must be at least {minimum}, found {found}")
    } else {
        format!("`{key}` must be at most {maximum}, found {found}")
    }
}

/// `a -> b -> c -> a`: the cycle, closed.
fn cycle_text(cycle: &[String]) -> String {
    let mut text = cycle.join(" -> ");
    if let Some(first) = cycle.first() {
        text.push_str(" -> ");
        text.push_str(first);
    }
    text
}
