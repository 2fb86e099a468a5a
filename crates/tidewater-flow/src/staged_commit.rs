use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use datafusion::arrow::datatypes::{DataType, Field, Schema as ArrowSchema};
use deltalake::DeltaTable;
use deltalake::DeltaTableError;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::schema::cast::normalize_for_delta;
use deltalake::kernel::transaction::{CommitBuilder, TableReference};
use deltalake::kernel::{Action, Add, StructType};
use deltalake::protocol::{DeltaOperation, SaveMode};
use futures::TryStreamExt;

use crate::commit_info::CommitInfo;
use crate::flow_error::FlowError;
use crate::schema_difference::SchemaDifference;
use crate::staged_file::{
    PartitionEvidence, StagedFile, delta_partition_value, has_delta_partition_form,
};
use crate::staging_manifest::StagingManifest;
use crate::table_write::{AttemptOutcome, commit_properties, is_conflict};
use crate::write_input::{
    ExistingTable, delta_compatible, effective_partition_columns, partition_value,
};
use crate::write_spec::{SchemaPolicy, WriteMode, WriteSpec};

/// One attempt at committing an attempt's staged Parquet files as they are: the files are
/// checked by their footers, moved from the staging folder into the table's folder (a rename;
/// no row is read or written), and added to the log in one commit with the `remove`s the
/// write mode needs.
///
/// Like [`crate::table_write::TableWrite`], an attempt that loses the commit race is reported
/// as a conflict and tried again against the new version; the files are moved only once.
pub(crate) struct StagedCommit<'a> {
    pub(crate) table_folder: &'a Path,
    /// The attempt's staging folder, which holds its [`StagingManifest`] while files are out.
    pub(crate) staging_folder: &'a Path,
    pub(crate) spec: &'a WriteSpec,
    pub(crate) commit: &'a CommitInfo,
    pub(crate) files: &'a [StagedFile],
}

/// How the staged files enter the table.
pub(crate) enum StagedLayout {
    /// Added as they are, all in one partition.
    AddFiles(FileLayout),
    /// Read back and written by deltalake's writer, for what needs the rows themselves.
    Rewrite { reason: &'static str },
}

pub(crate) struct FileLayout {
    partition_columns: Vec<String>,
    /// The Delta `partitionValues` every file gets, in `partition_columns` order.
    partition_values: Vec<(String, String)>,
    /// The output's columns in Delta types, all nullable, as the embedded path compares them.
    delta_schema: StructType,
}

/// A staged file moved into the table: where from (to move it back), where to, and its action.
pub(crate) struct MovedFile {
    from: PathBuf,
    to: PathBuf,
    rows: u64,
    add: Add,
}

pub(crate) enum StagedAttemptError {
    /// Another writer committed first; nothing of this attempt is in the table.
    Conflict(DeltaTableError),
    /// Refused before committing (a check failed): nothing of this attempt is in the table.
    Rejected(FlowError),
    /// The commit itself failed: whether it landed is not known, so its files stay.
    Failed(FlowError),
    /// The files cannot be added as they are (see [`StagedLayout::Rewrite`]).
    NeedsRewrite { reason: &'static str },
}

impl From<FlowError> for StagedAttemptError {
    fn from(error: FlowError) -> Self {
        StagedAttemptError::Rejected(error)
    }
}

impl StagedCommit<'_> {
    /// `moved` holds the files moved by an earlier attempt of the same commit (empty at
    /// first); the files are moved once the checks pass, and stay moved between attempts.
    pub(crate) async fn attempt(
        &self,
        table: &DeltaTable,
        moved: &mut Vec<MovedFile>,
    ) -> Result<AttemptOutcome, StagedAttemptError> {
        let state = table.snapshot().ok();
        if self.spec.mode == WriteMode::AppendAtomic
            && let Some(state) = state
        {
            let recorded = state
                .transaction_version(table.log_store().as_ref(), self.commit.transaction_app_id())
                .await
                .map_err(FlowError::from)?;
            if let Some(attempt) = recorded {
                return Ok(AttemptOutcome::AlreadyCommitted { attempt });
            }
        }
        let layout = match self.layout(table)? {
            StagedLayout::AddFiles(layout) => layout,
            StagedLayout::Rewrite { reason } => {
                return Err(StagedAttemptError::NeedsRewrite { reason });
            }
        };
        if moved.is_empty() {
            *moved = self.move_into_table(&layout)?;
        }
        let adds: Vec<Action> = moved
            .iter()
            .map(|file| Action::Add(file.add.clone()))
            .collect();
        let rows_written = moved.iter().map(|file| file.rows).sum();
        let files_added = moved.len() as u64;
        let mut properties = commit_properties(self.spec, self.commit);

        let Some(state) = state else {
            // The first write creates the table, with the files, in version 0. As in
            // `TableWrite::write`, deltalake must not retry a lost race for version 0 itself
            // (it would commit a second `metaData` beside the winner's): the race is a
            // conflict here, and the next attempt adds to the table the winner created.
            properties = properties.with_max_retries(0);
            let created = table
                .create()
                .with_columns(layout.delta_schema.fields().cloned())
                .with_partition_columns(layout.partition_columns.clone())
                .with_table_name(self.spec.table.to_string())
                .with_save_mode(SaveMode::ErrorIfExists)
                .with_actions(adds)
                .with_commit_properties(properties)
                .await;
            return match created {
                Ok(table) => Ok(AttemptOutcome::Committed {
                    version: table.version().unwrap_or_default(),
                    rows_written,
                    files_added,
                    files_removed: 0,
                }),
                Err(error) if is_conflict(&error) => Err(StagedAttemptError::Conflict(error)),
                // deltalake says "already exists" in an error type of its own that it does not
                // export: a table that exists now is the lost race.
                Err(error) if table_exists(table.clone()).await => {
                    Err(StagedAttemptError::Conflict(error))
                }
                Err(error) => Err(StagedAttemptError::Failed(error.into())),
            };
        };

        let removes = self.removes(table).await?;
        let files_removed = removes.len() as u64;
        let (save_mode, predicate) = match self.spec.mode {
            WriteMode::Overwrite => (SaveMode::Overwrite, None),
            WriteMode::ReplacePartition => (SaveMode::Overwrite, Some(replace_predicate(&layout))),
            WriteMode::Append | WriteMode::AppendAtomic | WriteMode::Merge => {
                (SaveMode::Append, None)
            }
        };
        let operation = DeltaOperation::Write {
            mode: save_mode,
            partition_by: (!layout.partition_columns.is_empty())
                .then(|| layout.partition_columns.clone()),
            predicate,
        };
        let mut actions = adds;
        actions.extend(removes.into_iter().map(Action::Remove));
        let committed = CommitBuilder::from(properties)
            .with_actions(actions)
            .build(
                Some(state as &dyn TableReference),
                table.log_store(),
                operation,
            )
            .await;
        match committed {
            Ok(commit) => Ok(AttemptOutcome::Committed {
                version: commit.version(),
                rows_written,
                files_added,
                files_removed,
            }),
            Err(error) if is_conflict(&error) => Err(StagedAttemptError::Conflict(error)),
            Err(error) => Err(StagedAttemptError::Failed(error.into())),
        }
    }

    /// What a process killed between the moves and the commit leaves: the files checked and
    /// moved into the table's folder, the manifest written, no commit. Returns how many files
    /// moved (none when the files would be rewritten instead). Only for tests of the clean-up
    /// ([`crate::Warehouse::stage_without_commit`]).
    pub(crate) fn move_without_commit(&self, table: &DeltaTable) -> Result<usize, FlowError> {
        match self.layout(table)? {
            StagedLayout::AddFiles(layout) => Ok(self.move_into_table(&layout)?.len()),
            StagedLayout::Rewrite { .. } => Ok(0),
        }
    }

    /// The checks of the embedded path (`WriteInput::prepare` and `TableWrite::attempt`), made
    /// on the files' footers: partition columns, partition values, schema.
    pub(crate) fn layout(&self, table: &DeltaTable) -> Result<StagedLayout, FlowError> {
        let spec = self.spec;
        let state = table.snapshot().ok();
        if spec.mode == WriteMode::Merge && state.is_some() {
            return Ok(StagedLayout::Rewrite {
                reason: "merge matches each row against the table's rows",
            });
        }
        let Some(first) = self.files.first() else {
            return Ok(StagedLayout::Rewrite {
                reason: "nothing was staged",
            });
        };
        if self
            .files
            .iter()
            .any(|file| !same_columns(&file.schema, &first.schema))
        {
            return Ok(StagedLayout::Rewrite {
                reason: "the staged files disagree on their columns",
            });
        }
        let table_arrow_schema = state.map(|state| state.snapshot().arrow_schema());
        let existing = match (state, &table_arrow_schema) {
            (Some(state), Some(arrow_schema)) => Some(ExistingTable {
                arrow_schema,
                partition_columns: state.metadata().partition_columns(),
            }),
            _ => None,
        };
        let partition_columns = effective_partition_columns(spec, existing.as_ref())?;
        if partition_columns.len() != spec.partition.len() {
            // The write follows the table's partitioning without declaring a partition:
            // which rows go where is only known by reading them.
            return Ok(StagedLayout::Rewrite {
                reason: "the partition of each row is known only from the rows",
            });
        }

        let mut seen = HashSet::new();
        let mut fields = Vec::new();
        for field in first.schema.fields() {
            if !seen.insert(field.name().clone()) {
                return Err(FlowError::DuplicateColumn {
                    column: field.name().clone(),
                });
            }
            fields.push(Field::new(
                field.name(),
                delta_compatible(field.data_type()),
                true,
            ));
        }
        let mut partition_values = Vec::new();
        for (column, value) in &spec.partition {
            let data_type = match first.schema.field_with_name(column) {
                Ok(field) => {
                    // The query returns the column: every row must hold the declared value.
                    let expected = partition_value(column, value, field.data_type())?;
                    for file in self.files.iter().filter(|file| file.num_rows() > 0) {
                        match file.partition_evidence(column, &expected)? {
                            PartitionEvidence::Matches => {}
                            PartitionEvidence::Differs { found } => {
                                return Err(FlowError::PartitionMismatch {
                                    column: column.clone(),
                                    expected: expected.to_string(),
                                    found,
                                });
                            }
                            PartitionEvidence::Unknown => {
                                return Ok(StagedLayout::Rewrite {
                                    reason: "the files' statistics do not show the partition value",
                                });
                            }
                        }
                    }
                    delta_compatible(field.data_type())
                }
                Err(_) => {
                    let data_type = existing
                        .as_ref()
                        .and_then(|table| table.arrow_schema.field_with_name(column).ok())
                        .map(|field| delta_compatible(field.data_type()))
                        .unwrap_or(DataType::Utf8);
                    fields.push(Field::new(column, data_type.clone(), true));
                    data_type
                }
            };
            let scalar = partition_value(column, value, &data_type)?;
            let delta_value = has_delta_partition_form(&data_type)
                .then(|| delta_partition_value(&scalar))
                .flatten();
            let Some(delta_value) = delta_value else {
                return Ok(StagedLayout::Rewrite {
                    reason: "the partition column's type has no partition value form here",
                });
            };
            partition_values.push((column.clone(), delta_value));
        }

        let arrow_schema = Arc::new(ArrowSchema::new(fields));
        let delta_schema: StructType = normalize_for_delta(&arrow_schema)
            .as_ref()
            .try_into_kernel()
            .map_err(|error| FlowError::Delta(Box::new(error.into())))?;
        if let Some(state) = state {
            let mut differences = SchemaDifference::between(&state.schema(), &delta_schema);
            if spec.schema_policy == SchemaPolicy::Evolve {
                if differences
                    .iter()
                    .any(|difference| !matches!(difference, SchemaDifference::TypeChanged { .. }))
                {
                    // Evolving changes the table's `metaData`, which deltalake's writer does.
                    return Ok(StagedLayout::Rewrite {
                        reason: "the write evolves the table's schema",
                    });
                }
                differences.retain(|difference| {
                    matches!(difference, SchemaDifference::TypeChanged { .. })
                });
            }
            if !differences.is_empty() {
                return Err(FlowError::SchemaMismatch {
                    table: spec.table.to_string(),
                    differences,
                });
            }
        }
        Ok(StagedLayout::AddFiles(FileLayout {
            partition_columns,
            partition_values,
            delta_schema,
        }))
    }

    /// Moves every staged file with rows into the table's folder (into its partition's
    /// folder, `dt=2026-01-01/`, when the values need no escaping; Delta finds files by the
    /// log, so the folder is only for people), and builds its `add` action. Files without
    /// rows (the one written to carry an empty output's columns) are not added.
    fn move_into_table(&self, layout: &FileLayout) -> Result<Vec<MovedFile>, FlowError> {
        let partition_folder = layout
            .partition_values
            .iter()
            .map(|(column, value)| {
                let segment = format!("{column}={value}");
                is_plain(&segment).then_some(segment)
            })
            .collect::<Option<Vec<_>>>()
            .map(|segments| segments.join("/"))
            .unwrap_or_default();
        let folder = self.table_folder.join(&partition_folder);
        std::fs::create_dir_all(&folder).map_err(|source| FlowError::Io {
            action: "creating the partition folder",
            path: folder.display().to_string(),
            source,
        })?;
        let modification_time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_millis() as i64)
            .unwrap_or_default();
        let partition_values: HashMap<String, Option<String>> = layout
            .partition_values
            .iter()
            .map(|(column, value)| (column.clone(), Some(value.clone())))
            .collect();
        // Everything that can fail is done before the first file moves.
        let mut planned = Vec::new();
        for file in self.files.iter().filter(|file| file.num_rows() > 0) {
            let staged_name = file
                .path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            // The run and attempt keep files of different attempts apart; DataFusion's own
            // name (a random write id) keeps the files of one attempt apart. `staged-` says
            // where a file came from (deltalake's writer names its files `part-…`).
            let name: String = format!(
                "staged-r{}-a{}-{}",
                self.commit.run_id, self.commit.attempt, staged_name
            )
            .chars()
            .map(|character| {
                if is_plain_char(character) {
                    character
                } else {
                    '_'
                }
            })
            .collect();
            let to = folder.join(&name);
            let path = if partition_folder.is_empty() {
                name
            } else {
                format!("{partition_folder}/{name}")
            };
            let add = Add {
                path,
                partition_values: partition_values.clone(),
                size: i64::try_from(file.size).unwrap_or(i64::MAX),
                modification_time,
                data_change: true,
                stats: Some(file.delta_statistics(&layout.partition_columns)?),
                tags: None,
                deletion_vector: None,
                base_row_id: None,
                default_row_commit_version: None,
                clustering_provider: None,
            };
            planned.push(MovedFile {
                from: file.path.clone(),
                to,
                rows: file.num_rows(),
                add,
            });
        }
        if !planned.is_empty() {
            StagingManifest {
                table_paths: planned.iter().map(|file| file.add.path.clone()).collect(),
            }
            .write(self.staging_folder)?;
        }
        let mut moved = Vec::new();
        for file in planned {
            if let Err(source) = std::fs::rename(&file.from, &file.to) {
                move_back(&moved);
                return Err(FlowError::Io {
                    action: "moving the staged file into the table",
                    path: file.from.display().to_string(),
                    source,
                });
            }
            moved.push(file);
        }
        Ok(moved)
    }

    /// The files the write mode replaces: all of them (`overwrite`), those of the declared
    /// partition (`replace_partition`), none otherwise.
    async fn removes(
        &self,
        table: &DeltaTable,
    ) -> Result<Vec<deltalake::kernel::Remove>, FlowError> {
        let mut removes = Vec::new();
        let replaced: Option<Vec<(String, String)>> = match self.spec.mode {
            WriteMode::Overwrite => Some(Vec::new()),
            WriteMode::ReplacePartition => Some(self.spec.partition.clone()),
            WriteMode::Append | WriteMode::AppendAtomic | WriteMode::Merge => None,
        };
        let Some(replaced) = replaced else {
            return Ok(removes);
        };
        let mut files = table.get_active_add_actions_by_partitions(&[]);
        while let Some(file) = files.try_next().await? {
            let values = file.partition_values_map();
            let is_replaced = replaced.iter().all(|(column, value)| {
                values
                    .get(column)
                    .is_some_and(|found| found.as_deref() == Some(value))
            });
            if is_replaced {
                removes.push(file.remove_action(true));
            }
        }
        Ok(removes)
    }
}

/// Undoes [`StagedCommit::move_into_table`] for files no commit references (the staging
/// folder is then removed with them). Best effort: a file that cannot be moved back stays in
/// the table's folder, unreferenced, and its [`StagingManifest`] must stay too, for the next
/// attempt or vacuum to delete it. Returns whether every file is back.
pub(crate) fn move_back(moved: &[MovedFile]) -> bool {
    let mut is_all_back = true;
    for file in moved {
        if let Err(error) = std::fs::rename(&file.to, &file.from) {
            tracing::warn!(%error, path = %file.to.display(), "an uncommitted file stays in the table's folder until the next attempt or vacuum");
            is_all_back = false;
        }
    }
    is_all_back
}

/// The `replace_where` predicate of the commit's operation, as deltalake's writer records it;
/// its conflict checker reads it to tell which concurrent writes touch the same partition.
fn replace_predicate(layout: &FileLayout) -> String {
    layout
        .partition_values
        .iter()
        .map(|(column, value)| {
            format!(
                "\"{}\" = '{}'",
                column.replace('"', "\"\""),
                value.replace('\'', "''")
            )
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

fn same_columns(left: &ArrowSchema, right: &ArrowSchema) -> bool {
    left.fields().len() == right.fields().len()
        && left
            .fields()
            .iter()
            .zip(right.fields())
            .all(|(left, right)| {
                left.name() == right.name()
                    && delta_compatible(left.data_type()) == delta_compatible(right.data_type())
            })
}

async fn table_exists(mut table: DeltaTable) -> bool {
    table.load().await.is_ok() && table.version().is_some()
}

fn is_plain(text: &str) -> bool {
    text.chars()
        .all(|character| is_plain_char(character) || character == '=')
}

/// Characters a path segment keeps as they are in a Delta log `path` (a URI): nothing to
/// escape, so the log's path and the file's name are the same text.
fn is_plain_char(character: char) -> bool {
    character.is_ascii_alphanumeric() || matches!(character, '-' | '_' | '.')
}
