//! Stream files, `streams/*.yaml` (issue 19): a NATS JetStream source, the JSON schema of its
//! messages, the `sql` run over each micro-batch, the table it goes `into` and the trigger
//! that closes a batch. Read with the same YAML reader as workflow files, so every problem
//! points at its file and line and all of a file's problems are reported together.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tidewater_core::TableName;

use crate::kinds::table_ref;
use crate::project::read_failed;
use crate::yaml_loader::load_yaml;
use crate::yaml_node::{YamlNode, YamlValue};
use crate::yaml_reader::YamlReader;
use crate::{Diagnostics, Problem, ProblemKind, Project};

const STREAMS_DIR: &str = "streams";

const STREAM_KEYS: &[&str] = &[
    "name",
    "description",
    "source",
    "schema",
    "sql",
    "into",
    "trigger",
    "dead_letters",
    "compact_every",
];
const SOURCE_KEYS: &[&str] = &["nats"];
const NATS_KEYS: &[&str] = &["url", "stream", "subjects", "consumer"];
const INTO_KEYS: &[&str] = &["table", "partition"];
const TRIGGER_KEYS: &[&str] = &["every", "max_messages"];

/// The trigger when a file gives none: a batch at least every 5 s, at most 10,000 messages.
const DEFAULT_EVERY: Duration = Duration::from_secs(5);
const DEFAULT_MAX_MESSAGES: u32 = 10_000;
/// Compaction of the micro-batches' small files after this many commits, unless the file says
/// otherwise (`compact_every: 0` turns it off).
const DEFAULT_COMPACT_EVERY: u32 = 100;

/// One stream file, read and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSpec {
    pub name: String,
    pub path: PathBuf,
    pub source: NatsSource,
    /// The message fields in file order: what the JSON decoding checks each message against.
    pub schema: Vec<StreamField>,
    /// The query over each micro-batch (registered as `messages`), read from its file when
    /// the stream file says `sql: file:path.sql`.
    pub sql: String,
    pub into: StreamTarget,
    /// Where malformed messages go: `into`'s table with `_dead_letters` appended, unless the
    /// file names one.
    pub dead_letters: TableName,
    pub trigger: StreamTrigger,
    /// Compact the target table after this many commits; `None` never.
    pub compact_every: Option<u32>,
}

impl StreamSpec {
    /// The Delta transaction identifier (`txn.appId`) of this stream's commits into its
    /// table: the stream's position of record, read by the runner and the listing alike.
    pub fn app_id(&self) -> String {
        format!("tidewater-stream:{}", self.name)
    }

    /// The app id of this stream's commits into its dead-letter table: its own, because the
    /// two tables are committed one after the other and each records how far it got.
    pub fn dead_letters_app_id(&self) -> String {
        format!("tidewater-stream:{}:dead_letters", self.name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsSource {
    pub url: String,
    pub stream: String,
    pub subjects: Vec<String>,
    /// The durable consumer's name.
    pub consumer: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamField {
    pub name: String,
    pub field_type: FieldType,
    /// `false` when the type is written with a trailing `?` (`note: string?`): the field may
    /// be missing or null. Otherwise a message without it is a dead letter.
    pub is_required: bool,
}

/// The JSON value types a stream's schema can declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    String,
    /// 64-bit float; JSON integers are accepted too.
    Double,
    /// 64-bit integer.
    Long,
    /// 32-bit integer.
    Int,
    Boolean,
    /// RFC 3339 text (`2026-12-07T09:00:00Z`), or a number of milliseconds since the epoch.
    Timestamp,
    /// `YYYY-MM-DD`.
    Date,
}

const FIELD_TYPES: &[&str] = &[
    "string",
    "double",
    "long",
    "int",
    "boolean",
    "timestamp",
    "date",
];

impl FieldType {
    pub fn parse(text: &str) -> Option<FieldType> {
        Some(match text {
            "string" => FieldType::String,
            "double" | "float" => FieldType::Double,
            "long" | "bigint" => FieldType::Long,
            "int" | "integer" => FieldType::Int,
            "boolean" | "bool" => FieldType::Boolean,
            "timestamp" => FieldType::Timestamp,
            "date" => FieldType::Date,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Double => "double",
            FieldType::Long => "long",
            FieldType::Int => "int",
            FieldType::Boolean => "boolean",
            FieldType::Timestamp => "timestamp",
            FieldType::Date => "date",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamTarget {
    pub table: TableName,
    /// Partition columns of the table, taken from each row (not fixed values as in a task).
    pub partition: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamTrigger {
    /// A batch is committed at the latest this long after its first message arrived.
    pub every: Duration,
    /// ... or as soon as it holds this many messages, whichever comes first.
    pub max_messages: u32,
}

/// Every `streams/*.yaml` and `*.yml`, sorted by path.
pub fn stream_paths(project: &Project) -> io::Result<Vec<PathBuf>> {
    project.yaml_files(STREAMS_DIR)
}

/// Every stream file of the project: the valid streams and every problem of the others. Two
/// files naming the same stream: the second is reported.
pub fn load_streams(project: &Project) -> (Vec<StreamSpec>, Diagnostics) {
    let mut diagnostics = Diagnostics::new();
    let paths = match stream_paths(project) {
        Ok(paths) => paths,
        Err(error) => {
            diagnostics.push(read_failed(&project.root.join(STREAMS_DIR), &error));
            return (Vec::new(), diagnostics);
        }
    };
    let mut streams: Vec<StreamSpec> = Vec::new();
    for path in paths {
        let source = match std::fs::read_to_string(&path) {
            Ok(source) => source,
            Err(error) => {
                diagnostics.push(read_failed(&path, &error));
                continue;
            }
        };
        match parse_stream(project, &path, &source) {
            Ok(stream) => {
                if let Some(first) = streams.iter().find(|other| other.name == stream.name) {
                    diagnostics.push(Problem::new(ProblemKind::InvalidValue {
                        what: format!(
                            "stream `{}` of `{}` is also defined in `{}`",
                            stream.name,
                            path.display(),
                            first.path.display()
                        ),
                        hint: Some("give each stream file its own `name`".to_owned()),
                    }));
                } else {
                    streams.push(stream);
                }
            }
            Err(problems) => diagnostics.extend(problems),
        }
    }
    (streams, diagnostics)
}

/// The stream called `name`: every stream file is read, so that a broken file elsewhere does
/// not hide it, but only its own problems are returned.
pub fn load_stream(project: &Project, name: &str) -> Result<StreamSpec, Diagnostics> {
    let (streams, diagnostics) = load_streams(project);
    if let Some(stream) = streams.into_iter().find(|stream| stream.name == name) {
        return Ok(stream);
    }
    let own: Vec<_> = stream_paths(project)
        .unwrap_or_default()
        .into_iter()
        .filter(|path| crate::project::file_stem(path) == name)
        .collect();
    if !own.is_empty() && !diagnostics.is_empty() {
        return Err(diagnostics);
    }
    let mut missing = Diagnostics::new();
    missing.push(Problem::new(ProblemKind::InvalidValue {
        what: format!("no stream named `{name}` in `streams/`"),
        hint: Some("`tidewater streams` lists the project's streams".to_owned()),
    }));
    if !diagnostics.is_empty() {
        missing.extend(diagnostics);
    }
    Err(missing)
}

/// Reads one stream file's text.
pub fn parse_stream(
    project: &Project,
    path: &Path,
    source: &str,
) -> Result<StreamSpec, Diagnostics> {
    let text: Arc<str> = Arc::from(source);
    let mut reader = YamlReader::new(path, text);
    let stream = match load_yaml(source) {
        Ok(loaded) => match loaded.documents.first() {
            Some(root) if !matches!(root.value, YamlValue::Null) => {
                read_stream(&mut reader, project, path, root)
            }
            _ => {
                reader.report(
                    ProblemKind::InvalidValue {
                        what: "the stream file is empty".to_owned(),
                        hint: Some(EXAMPLE.to_owned()),
                    },
                    0..0,
                );
                None
            }
        },
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
    match stream {
        Some(stream) if !reader.has_problems() => Ok(stream),
        _ => Err(reader.into_problems()),
    }
}

const EXAMPLE: &str = "e.g. name: orders_live, source: { nats: { url, stream, subjects, consumer } }, schema, sql, into: { table, partition }, trigger: { every: 2s, max_messages: 10000 }";

fn read_stream(
    reader: &mut YamlReader<'_>,
    project: &Project,
    path: &Path,
    root: &YamlNode<'_>,
) -> Option<StreamSpec> {
    let entries = reader.entries("the stream file", root)?;
    let mut name = None;
    let mut source = None;
    let mut schema = None;
    let mut sql = None;
    let mut into = None;
    let mut dead_letters = None;
    let mut trigger = StreamTrigger {
        every: DEFAULT_EVERY,
        max_messages: DEFAULT_MAX_MESSAGES,
    };
    let mut compact_every = Some(DEFAULT_COMPACT_EVERY);
    for entry in &entries {
        match entry.name.as_ref() {
            "name" => name = read_name(reader, entry.value),
            "description" => {
                reader.string("description", entry.value);
            }
            "source" => source = read_source(reader, entry.value),
            "schema" => schema = read_schema(reader, entry.value),
            "sql" => sql = read_sql(reader, project, entry.value),
            "into" => into = read_into(reader, entry.value),
            "dead_letters" => dead_letters = table_ref::table(reader, "dead_letters", entry.value),
            "trigger" => {
                if let Some(read) = read_trigger(reader, entry.value) {
                    trigger = read;
                }
            }
            "compact_every" => {
                compact_every = reader
                    .count("compact_every", entry.value, 0)
                    .map(|count| (count > 0).then_some(count))
                    .unwrap_or(None);
            }
            _ => reader.unknown_key(entry, "the stream file", STREAM_KEYS.to_vec()),
        }
    }
    let mut require = |value_is_some: bool, key: &'static str, example: &'static str| {
        if !value_is_some && !entries.iter().any(|entry| entry.name == key) {
            reader.report(
                ProblemKind::MissingKey {
                    key,
                    context: "the stream file".to_owned(),
                    example,
                },
                root.span.start..root.span.start,
            );
        }
    };
    require(
        source.is_some(),
        "source",
        "source: { nats: { url: \"nats://127.0.0.1:4222\", stream: ORDERS, subjects: [\"orders.>\"], consumer: tidewater_orders } }",
    );
    require(
        schema.is_some(),
        "schema",
        "schema: { order_id: string, amount: double, ts: timestamp }",
    );
    require(sql.is_some(), "sql", "sql: SELECT * FROM messages");
    require(
        into.is_some(),
        "into",
        "into: { table: stream.orders, partition: [dt] }",
    );
    let name = name.unwrap_or_else(|| crate::project::file_stem(path));
    let into = into?;
    let dead_letters = match dead_letters {
        Some(table) => table,
        None => TableName::new(
            into.table.schema(),
            &format!("{}_dead_letters", into.table.table()),
        )
        .ok()?,
    };
    Some(StreamSpec {
        name,
        path: path.to_path_buf(),
        source: source?,
        schema: schema?,
        sql: sql?,
        into,
        dead_letters,
        trigger,
        compact_every,
    })
}

fn read_name(reader: &mut YamlReader<'_>, value: &YamlNode<'_>) -> Option<String> {
    let text = reader.string("name", value)?;
    let is_valid = !text.is_empty()
        && text.len() <= 200
        && text
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || "_-".contains(character));
    if !is_valid {
        reader.report(
            ProblemKind::InvalidValue {
                what: format!("invalid stream name `{text}`"),
                hint: Some("use letters, digits, `_` and `-`".to_owned()),
            },
            value.span.clone(),
        );
        return None;
    }
    Some(text.to_owned())
}

fn read_source(reader: &mut YamlReader<'_>, node: &YamlNode<'_>) -> Option<NatsSource> {
    let entries = reader.entries("`source`", node)?;
    let mut nats = None;
    for entry in &entries {
        match entry.name.as_ref() {
            "nats" => nats = read_nats(reader, entry.value),
            _ => reader.unknown_key(entry, "`source`", SOURCE_KEYS.to_vec()),
        }
    }
    if nats.is_none() && !entries.iter().any(|entry| entry.name == "nats") {
        reader.report(
            ProblemKind::MissingKey {
                key: "nats",
                context: "`source`".to_owned(),
                example: "nats: { url: \"nats://127.0.0.1:4222\", stream: ORDERS, subjects: [\"orders.>\"], consumer: tidewater_orders }",
            },
            node.span.clone(),
        );
    }
    nats
}

fn read_nats(reader: &mut YamlReader<'_>, node: &YamlNode<'_>) -> Option<NatsSource> {
    let entries = reader.entries("`nats`", node)?;
    let mut url = None;
    let mut stream = None;
    let mut subjects = None;
    let mut consumer = None;
    for entry in &entries {
        match entry.name.as_ref() {
            "url" => url = reader.string("url", entry.value).map(str::to_owned),
            "stream" => stream = reader.string("stream", entry.value).map(str::to_owned),
            "consumer" => consumer = reader.string("consumer", entry.value).map(str::to_owned),
            "subjects" => match &entry.value.value {
                YamlValue::Sequence(items) if !items.is_empty() => {
                    subjects = items
                        .iter()
                        .map(|item| reader.string("subjects", item).map(str::to_owned))
                        .collect::<Option<Vec<_>>>();
                }
                YamlValue::String(subject) => subjects = Some(vec![subject.to_string()]),
                _ => reader.wrong_type("subjects", "a list of subjects", entry.value),
            },
            _ => reader.unknown_key(entry, "`nats`", NATS_KEYS.to_vec()),
        }
    }
    for (key, is_some) in [
        ("url", url.is_some()),
        ("stream", stream.is_some()),
        ("subjects", subjects.is_some()),
        ("consumer", consumer.is_some()),
    ] {
        if !is_some && !entries.iter().any(|entry| entry.name == key) {
            reader.report(
                ProblemKind::MissingKey {
                    key,
                    context: "`nats`".to_owned(),
                    example: "nats: { url: \"nats://127.0.0.1:4222\", stream: ORDERS, subjects: [\"orders.>\"], consumer: tidewater_orders }",
                },
                node.span.clone(),
            );
        }
    }
    if let Some(name) = &consumer
        && !is_nats_name(name)
    {
        let span = entries
            .iter()
            .find(|entry| entry.name == "consumer")
            .map_or(node.span.clone(), |entry| entry.value.span.clone());
        reader.report(
            ProblemKind::InvalidValue {
                what: format!("invalid consumer name `{name}`"),
                hint: Some("a JetStream name has no spaces, `.`, `*` or `>`".to_owned()),
            },
            span,
        );
        return None;
    }
    Some(NatsSource {
        url: url?,
        stream: stream?,
        subjects: subjects?,
        consumer: consumer?,
    })
}

fn is_nats_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|character| character.is_whitespace() || ".*>/\\".contains(character))
}

fn read_schema(reader: &mut YamlReader<'_>, node: &YamlNode<'_>) -> Option<Vec<StreamField>> {
    let entries = reader.entries("`schema`", node)?;
    let mut fields = Vec::with_capacity(entries.len());
    let mut is_valid = true;
    for entry in &entries {
        let Some(text) = reader.string(&entry.name, entry.value) else {
            is_valid = false;
            continue;
        };
        let (type_text, is_required) = match text.strip_suffix('?') {
            Some(base) => (base, false),
            None => (text, true),
        };
        match FieldType::parse(type_text) {
            Some(field_type) => fields.push(StreamField {
                name: entry.name.to_string(),
                field_type,
                is_required,
            }),
            None => {
                reader.report(
                    ProblemKind::InvalidChoice {
                        key: "schema",
                        found: text.to_owned(),
                        expected: FIELD_TYPES,
                        suggestion: crate::did_you_mean::did_you_mean(
                            type_text,
                            FIELD_TYPES.iter().copied(),
                        ),
                    },
                    entry.value.span.clone(),
                );
                is_valid = false;
            }
        }
    }
    if fields.is_empty() && is_valid {
        reader.report(
            ProblemKind::InvalidValue {
                what: "`schema` declares no field".to_owned(),
                hint: Some("e.g. `schema: { order_id: string, amount: double }`".to_owned()),
            },
            node.span.clone(),
        );
        return None;
    }
    is_valid.then_some(fields)
}

fn read_sql(
    reader: &mut YamlReader<'_>,
    project: &Project,
    value: &YamlNode<'_>,
) -> Option<String> {
    let text = reader.string("sql", value)?;
    let sql = if let Some(file) = text.strip_prefix("file:") {
        let file = file.trim();
        match std::fs::read_to_string(project.root.join(file)) {
            Ok(sql) => sql,
            Err(_) => {
                let span = reader.locate(&value.span, file);
                reader.report(
                    ProblemKind::MissingFile {
                        path: file.to_owned(),
                    },
                    span,
                );
                return None;
            }
        }
    } else {
        text.to_owned()
    };
    if sql.trim().is_empty() {
        reader.wrong_type("sql", "a query or `file:path.sql`", value);
        return None;
    }
    // The same parser DataFusion runs the query with (see `sql_syntax`): a syntax error is
    // found by `validate`, not by the first batch.
    let dialect = sqlparser::dialect::GenericDialect {};
    if let Err(error) = sqlparser::parser::Parser::parse_sql(&dialect, &sql) {
        reader.report(
            ProblemKind::SqlSyntax {
                detail: error.to_string(),
            },
            value.span.clone(),
        );
        return None;
    }
    Some(sql)
}

fn read_into(reader: &mut YamlReader<'_>, node: &YamlNode<'_>) -> Option<StreamTarget> {
    let entries = reader.entries("`into`", node)?;
    let mut table = None;
    let mut partition = Vec::new();
    for entry in &entries {
        match entry.name.as_ref() {
            "table" => table = table_ref::table(reader, "table", entry.value),
            "partition" => match &entry.value.value {
                YamlValue::Sequence(items) => {
                    for item in items {
                        if let Some(column) = reader.string("partition", item) {
                            partition.push(column.to_owned());
                        }
                    }
                }
                YamlValue::String(column) => partition.push(column.to_string()),
                _ => reader.wrong_type("partition", "a list of columns such as [dt]", entry.value),
            },
            _ => reader.unknown_key(entry, "`into`", INTO_KEYS.to_vec()),
        }
    }
    if table.is_none() && !entries.iter().any(|entry| entry.name == "table") {
        reader.report(
            ProblemKind::MissingKey {
                key: "table",
                context: "`into`".to_owned(),
                example: "into: { table: stream.orders, partition: [dt] }",
            },
            node.span.clone(),
        );
    }
    Some(StreamTarget {
        table: table?,
        partition,
    })
}

fn read_trigger(reader: &mut YamlReader<'_>, node: &YamlNode<'_>) -> Option<StreamTrigger> {
    let entries = reader.entries("`trigger`", node)?;
    let mut trigger = StreamTrigger {
        every: DEFAULT_EVERY,
        max_messages: DEFAULT_MAX_MESSAGES,
    };
    for entry in &entries {
        match entry.name.as_ref() {
            "every" => trigger.every = reader.positive_duration("every", entry.value)?,
            "max_messages" => {
                trigger.max_messages = reader.count("max_messages", entry.value, 1)?;
            }
            _ => reader.unknown_key(entry, "`trigger`", TRIGGER_KEYS.to_vec()),
        }
    }
    Some(trigger)
}
