//! `views/*.yaml`: serving views over a batch table and a stream table (the lambda view).
//!
//! ```yaml
//! name: orders            # default: the file stem; queried as `serving.orders`
//! batch: mart.orders      # written per closed interval with `replace_partition`
//! stream: stream.orders   # appended to by a stream
//! by: dt                  # the partition column both tables share
//! retention: 7d           # optional: covered stream partitions older than this are pruned
//! ```
//!
//! A file is read on its own ([`Project::load_views`]); what needs the other files or the
//! warehouse (tables that exist, their partition columns, names that clash) is
//! [`Project::check_views`], given what the caller read from the warehouse.

use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tidewater_core::{ServingView, SqlAction, TableName, TaskAction};

use crate::did_you_mean::did_you_mean;
use crate::kinds::table_ref;
use crate::project::read_failed;
use crate::yaml_loader::load_yaml;
use crate::yaml_node::{YamlNode, YamlValue};
use crate::yaml_reader::YamlReader;
use crate::{Diagnostics, LoadedWorkflow, Problem, ProblemKind, Project};

const VIEWS_DIR: &str = "views";
const VIEW_KEYS: &[&str] = &["name", "batch", "stream", "by", "retention"];
const VIEW_EXAMPLE: &str =
    "e.g. `name: orders`, `batch: mart.orders`, `stream: stream.orders`, `by: dt`";

/// A checked view file, with the places of its values for the checks that need the
/// warehouse.
#[derive(Debug, Clone)]
pub struct LoadedView {
    pub path: PathBuf,
    pub source: String,
    pub view: ServingView,
    name_span: Range<usize>,
    batch_span: Range<usize>,
    stream_span: Range<usize>,
    by_span: Range<usize>,
}

/// What the warehouse says about one table, for [`Project::check_views`]; this crate cannot
/// read the warehouse itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownTable {
    pub name: TableName,
    pub partition_columns: Vec<String>,
}

impl Project {
    /// Every `views/*.yaml` and `views/*.yml`, sorted by path. A project without a `views`
    /// folder has none.
    pub fn view_paths(&self) -> io::Result<Vec<PathBuf>> {
        self.yaml_files(VIEWS_DIR)
    }

    /// Reads every view file: the valid views, and every problem of the others. Of two files
    /// with one view name the first (by path) is kept and the second reported.
    pub fn load_views(&self) -> (Vec<LoadedView>, Diagnostics) {
        let mut diagnostics = Diagnostics::new();
        let paths = match self.view_paths() {
            Ok(paths) => paths,
            Err(error) => {
                diagnostics.push(read_failed(&self.root.join(VIEWS_DIR), &error));
                return (Vec::new(), diagnostics);
            }
        };
        let mut views: Vec<LoadedView> = Vec::new();
        for path in paths {
            let source = match std::fs::read_to_string(&path) {
                Ok(source) => source,
                Err(error) => {
                    diagnostics.push(read_failed(&path, &error));
                    continue;
                }
            };
            match parse_view(&path, &source) {
                Ok(loaded) => {
                    if let Some(first) =
                        views.iter().find(|view| view.view.name == loaded.view.name)
                    {
                        diagnostics.push(loaded.problem(
                            ProblemKind::InvalidValue {
                                what: format!(
                                    "the view `{}` is already defined in {}",
                                    loaded.view.name,
                                    first.path.display()
                                ),
                                hint: Some("give each view its own `name`".to_owned()),
                            },
                            loaded.name_span.clone(),
                        ));
                    } else {
                        views.push(loaded);
                    }
                }
                Err(problems) => diagnostics.extend(problems),
            }
        }
        (views, diagnostics)
    }

    /// The checks of view files that need the workflows and the warehouse: each table a view
    /// reads is written by a workflow of the project or exists in the warehouse; `by` is a
    /// partition column of each of its tables that the warehouse or a workflow's `into`
    /// shows; and a view's name is no table's.
    pub fn check_views(
        views: &[LoadedView],
        workflows: &[LoadedWorkflow],
        warehouse: &[KnownTable],
    ) -> Diagnostics {
        // Tables the project writes, with the partition columns each `into` names.
        let mut written: Vec<KnownTable> = Vec::new();
        for task in workflows.iter().flat_map(|loaded| loaded.workflow.tasks()) {
            if let TaskAction::Sql(SqlAction {
                into: Some(target), ..
            }) = &task.action
            {
                written.push(KnownTable {
                    name: target.table.clone(),
                    partition_columns: target
                        .partition
                        .iter()
                        .map(|(column, _)| column.clone())
                        .collect(),
                });
            }
        }
        let mut known: Vec<String> = written
            .iter()
            .chain(warehouse)
            .map(|table| table.name.to_string())
            .collect();
        known.sort();
        known.dedup();
        let mut problems = Diagnostics::new();
        for loaded in views {
            let view = &loaded.view;
            if known.contains(&view.name.to_string()) {
                problems.push(loaded.problem(
                    ProblemKind::InvalidValue {
                        what: format!(
                            "the view `{}` has the name of a table of the warehouse or one a workflow writes",
                            view.name
                        ),
                        hint: Some(
                            "rename the view (queries would not know which one is meant)"
                                .to_owned(),
                        ),
                    },
                    loaded.name_span.clone(),
                ));
            }
            for (table, span) in [
                (&view.batch, &loaded.batch_span),
                (&view.stream, &loaded.stream_span),
            ] {
                let name = table.to_string();
                if !known.contains(&name) {
                    let suggestion = did_you_mean(&name, known.iter().map(String::as_str));
                    problems.push(loaded.problem(
                        ProblemKind::UnknownViewTable {
                            table: name,
                            known: known.clone(),
                            suggestion,
                        },
                        span.clone(),
                    ));
                    continue;
                }
                // A column the warehouse or an `into` shows is a partition column; when none
                // shows any (a table written only by a stream not yet run), nothing is known.
                let columns: Vec<&String> = warehouse
                    .iter()
                    .chain(&written)
                    .filter(|known| known.name == *table)
                    .flat_map(|known| &known.partition_columns)
                    .collect();
                if !columns.is_empty() && !columns.contains(&&view.by) {
                    let mut shown: Vec<String> = columns.iter().map(|c| format!("`{c}`")).collect();
                    shown.sort();
                    shown.dedup();
                    problems.push(loaded.problem(
                        ProblemKind::InvalidValue {
                            what: format!(
                                "`by: {}` is not a partition column of `{table}`",
                                view.by
                            ),
                            hint: Some(format!("`{table}` is partitioned by {}", shown.join(", "))),
                        },
                        loaded.by_span.clone(),
                    ));
                }
            }
        }
        problems
    }
}

impl LoadedView {
    fn problem(&self, kind: ProblemKind, span: Range<usize>) -> Problem {
        Problem::at(kind, &self.path, Arc::from(self.source.as_str()), span)
    }
}

/// Reads one view file, every problem of it at its place.
fn parse_view(path: &Path, source: &str) -> Result<LoadedView, Diagnostics> {
    let text: Arc<str> = Arc::from(source);
    let mut reader = YamlReader::new(path, text);
    let view = match load_yaml(source) {
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
                Some(root) if !matches!(root.value, YamlValue::Null) => {
                    read_view(&mut reader, path, source, root)
                }
                _ => {
                    reader.report(
                        ProblemKind::InvalidValue {
                            what: "the view file is empty".to_owned(),
                            hint: Some(VIEW_EXAMPLE.to_owned()),
                        },
                        0..0,
                    );
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
    match view {
        Some(view) if !reader.has_problems() => Ok(view),
        _ => Err(reader.into_problems()),
    }
}

fn read_view(
    reader: &mut YamlReader<'_>,
    path: &Path,
    source: &str,
    root: &YamlNode<'_>,
) -> Option<LoadedView> {
    let entries = reader.entries("the view", root)?;
    let mut name = None;
    let mut name_span = 0..0;
    let mut batch = None;
    let mut stream = None;
    let mut by = None;
    let mut retention = None;
    let mut spans = [0..0, 0..0, 0..0];
    for entry in &entries {
        match entry.name.as_ref() {
            "name" => {
                name_span = entry.value.span.clone();
                name = reader.string("name", entry.value).map(str::to_owned);
            }
            "batch" => {
                spans[0] = entry.value.span.clone();
                batch = table_ref::table(reader, "batch", entry.value);
            }
            "stream" => {
                spans[1] = entry.value.span.clone();
                stream = table_ref::table(reader, "stream", entry.value);
            }
            "by" => {
                spans[2] = entry.value.span.clone();
                by = read_column(reader, entry.value);
            }
            // A bad retention is reported and the other keys are still read.
            "retention" => retention = reader.positive_duration("retention", entry.value),
            _ => reader.unknown_key(entry, "the view", VIEW_KEYS.to_vec()),
        }
    }
    for key in ["batch", "stream", "by"] {
        if !entries.iter().any(|entry| entry.name == key) {
            reader.report(
                ProblemKind::MissingKey {
                    key,
                    context: "the view".to_owned(),
                    example: "batch: mart.orders",
                },
                root.span.start..root.span.start,
            );
        }
    }
    let name = name.unwrap_or_else(|| crate::project::file_stem(path));
    let name = match TableName::new(ServingView::SCHEMA, &name) {
        Ok(name) => name,
        Err(error) => {
            reader.report(ProblemKind::InvalidTableName { error }, name_span.clone());
            return None;
        }
    };
    let (batch, stream, by) = (batch?, stream?, by?);
    if batch == stream {
        reader.report(
            ProblemKind::InvalidValue {
                what: format!("`batch` and `stream` are both `{batch}`"),
                hint: Some(
                    "a view reads two tables: the batch layer's and the stream's".to_owned(),
                ),
            },
            spans[1].clone(),
        );
        return None;
    }
    if batch.schema() == ServingView::SCHEMA || stream.schema() == ServingView::SCHEMA {
        reader.report(
            ProblemKind::InvalidValue {
                what: format!(
                    "a view reads tables, and `{}` names views",
                    ServingView::SCHEMA
                ),
                hint: Some(VIEW_EXAMPLE.to_owned()),
            },
            if batch.schema() == ServingView::SCHEMA {
                spans[0].clone()
            } else {
                spans[1].clone()
            },
        );
        return None;
    }
    let [batch_span, stream_span, by_span] = spans;
    Some(LoadedView {
        path: path.to_path_buf(),
        source: source.to_owned(),
        view: ServingView {
            name,
            batch,
            stream,
            by,
            retention,
        },
        name_span,
        batch_span,
        stream_span,
        by_span,
    })
}

/// A column name: the same identifiers table names use (lowercase, `_`, digits).
fn read_column(reader: &mut YamlReader<'_>, value: &YamlNode<'_>) -> Option<String> {
    let text = reader.string("by", value)?;
    let is_identifier = text
        .chars()
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first == '_')
        && text.chars().all(|character| {
            character.is_ascii_lowercase() || character.is_ascii_digit() || character == '_'
        });
    if is_identifier {
        Some(text.to_owned())
    } else {
        reader.report(
            ProblemKind::InvalidValue {
                what: format!("`by: {text}` is not a column name"),
                hint: Some("the partition column both tables share, e.g. `by: dt`".to_owned()),
            },
            value.span.clone(),
        );
        None
    }
}
