use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::{DataType, Schema as ArrowSchema};
use datafusion::common::ScalarValue;
use datafusion::parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use datafusion::parquet::arrow::parquet_to_arrow_schema;
use datafusion::parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use serde_json::{Map, Value};

use crate::flow_error::FlowError;

/// How many leading columns get min/max statistics in an `add` action: Delta's default
/// `delta.dataSkippingNumIndexedCols`, which is also what deltalake's own writer uses for
/// tables that do not set it (Tidewater's tables never do).
const INDEXED_COLUMNS: usize = 32;

/// One Parquet file an engine outside this process wrote for an attempt, known by its footer
/// alone: the rows are never read here.
pub(crate) struct StagedFile {
    pub(crate) path: PathBuf,
    pub(crate) size: u64,
    /// The columns as the writer declared them (its Arrow schema hint, or the Parquet types).
    pub(crate) schema: ArrowSchema,
    metadata: ParquetMetaData,
}

/// What a file's footer statistics say about a partition column.
#[derive(Debug, PartialEq)]
pub(crate) enum PartitionEvidence {
    /// Every row holds the expected value.
    Matches,
    /// At least one row holds `found` instead.
    Differs { found: String },
    /// The statistics cannot tell (missing, or truncated): the rows would have to be read.
    Unknown,
}

impl StagedFile {
    pub(crate) fn read(path: &Path) -> Result<StagedFile, FlowError> {
        let shown = || path.display().to_string();
        let file = std::fs::File::open(path).map_err(|source| FlowError::Io {
            action: "opening the staged file",
            path: shown(),
            source,
        })?;
        let size = file
            .metadata()
            .map_err(|source| FlowError::Io {
                action: "reading the size of the staged file",
                path: shown(),
                source,
            })?
            .len();
        let parquet = |error: datafusion::parquet::errors::ParquetError| {
            FlowError::DataFusion(Box::new(error.into()))
        };
        let metadata = ParquetMetaDataReader::new()
            .parse_and_finish(&file)
            .map_err(parquet)?;
        let file_metadata = metadata.file_metadata();
        let schema = parquet_to_arrow_schema(
            file_metadata.schema_descr(),
            file_metadata.key_value_metadata(),
        )
        .map_err(parquet)?;
        Ok(StagedFile {
            path: path.to_path_buf(),
            size,
            schema,
            metadata,
        })
    }

    pub(crate) fn num_rows(&self) -> u64 {
        u64::try_from(self.metadata.file_metadata().num_rows()).unwrap_or(0)
    }

    /// Whether every row of `column` holds `expected` (a value of the column's type in this
    /// file), from the row groups' min, max and null count.
    pub(crate) fn partition_evidence(
        &self,
        column: &str,
        expected: &ScalarValue,
    ) -> Result<PartitionEvidence, FlowError> {
        let Some(statistics) = self.column_statistics(column)? else {
            return Ok(PartitionEvidence::Unknown);
        };
        for group in 0..statistics.row_counts.len() {
            if statistics.row_counts[group] == 0 {
                continue;
            }
            match statistics.null_counts[group] {
                None => return Ok(PartitionEvidence::Unknown),
                Some(0) => {}
                Some(_) => {
                    return Ok(PartitionEvidence::Differs {
                        found: "NULL".to_owned(),
                    });
                }
            }
            for (bound, is_exact) in [
                (&statistics.mins[group], statistics.is_min_exact[group]),
                (&statistics.maxes[group], statistics.is_max_exact[group]),
            ] {
                // A truncated bound of a long string says nothing about equality.
                if bound.is_null() || !is_exact {
                    return Ok(PartitionEvidence::Unknown);
                }
                if bound != expected {
                    return Ok(PartitionEvidence::Differs {
                        found: bound.to_string(),
                    });
                }
            }
        }
        Ok(PartitionEvidence::Matches)
    }

    /// The `stats` of the file's `add` action (Delta's JSON: `numRecords`, `minValues`,
    /// `maxValues`, `nullCount`), from the footer, so that readers can skip the file. Partition
    /// columns are left out (their value is in `partitionValues`), as are min/max of types
    /// whose Delta form is not written here (a bound that is merely missing only costs
    /// pruning; a wrong one would lose rows).
    pub(crate) fn delta_statistics(
        &self,
        partition_columns: &[String],
    ) -> Result<String, FlowError> {
        let mut min_values = Map::new();
        let mut max_values = Map::new();
        let mut null_count = Map::new();
        let columns = self
            .schema
            .fields()
            .iter()
            .filter(|field| !partition_columns.contains(field.name()))
            .take(INDEXED_COLUMNS);
        for field in columns {
            let Some(statistics) = self.column_statistics(field.name())? else {
                continue;
            };
            let nulls: Option<u64> = statistics.null_counts.iter().copied().sum();
            if let Some(nulls) = nulls {
                null_count.insert(field.name().clone(), Value::from(nulls));
            }
            if let Some(min) = bound(&statistics.mins, Ordering::Less) {
                min_values.insert(field.name().clone(), min);
            }
            if let Some(max) = bound(&statistics.maxes, Ordering::Greater) {
                max_values.insert(field.name().clone(), max);
            }
        }
        let statistics = serde_json::json!({
            "numRecords": self.num_rows(),
            "minValues": min_values,
            "maxValues": max_values,
            "nullCount": null_count,
        });
        Ok(statistics.to_string())
    }

    /// The statistics of a top-level column, one entry per row group; `None` when the file
    /// has no such leaf column (a nested type) or no statistics.
    fn column_statistics(&self, column: &str) -> Result<Option<ColumnStatistics>, FlowError> {
        let error = |error: datafusion::parquet::errors::ParquetError| {
            FlowError::DataFusion(Box::new(error.into()))
        };
        let Some((_, field)) = self.schema.column_with_name(column) else {
            return Ok(None);
        };
        if field.data_type().is_nested() {
            return Ok(None);
        }
        let converter = StatisticsConverter::try_new(
            column,
            &self.schema,
            self.metadata.file_metadata().schema_descr(),
        )
        .map_err(error)?;
        if converter.parquet_column_index().is_none() {
            return Ok(None);
        }
        let groups = self.metadata.row_groups();
        let scalars = |array: &dyn Array| -> Result<Vec<ScalarValue>, FlowError> {
            (0..array.len())
                .map(|index| ScalarValue::try_from_array(array, index).map_err(FlowError::from))
                .collect()
        };
        let booleans = |array: datafusion::arrow::array::BooleanArray| -> Vec<bool> {
            (0..array.len())
                .map(|index| array.is_valid(index) && array.value(index))
                .collect()
        };
        let null_counts = converter.row_group_null_counts(groups).map_err(error)?;
        Ok(Some(ColumnStatistics {
            row_counts: groups
                .iter()
                .map(|group| u64::try_from(group.num_rows()).unwrap_or(0))
                .collect(),
            mins: scalars(converter.row_group_mins(groups).map_err(error)?.as_ref())?,
            maxes: scalars(converter.row_group_maxes(groups).map_err(error)?.as_ref())?,
            is_min_exact: booleans(
                converter
                    .row_group_is_min_value_exact(groups)
                    .map_err(error)?,
            ),
            is_max_exact: booleans(
                converter
                    .row_group_is_max_value_exact(groups)
                    .map_err(error)?,
            ),
            null_counts: (0..null_counts.len())
                .map(|index| {
                    null_counts
                        .is_valid(index)
                        .then(|| null_counts.value(index))
                })
                .collect(),
        }))
    }
}

struct ColumnStatistics {
    row_counts: Vec<u64>,
    mins: Vec<ScalarValue>,
    maxes: Vec<ScalarValue>,
    is_min_exact: Vec<bool>,
    is_max_exact: Vec<bool>,
    null_counts: Vec<Option<u64>>,
}

/// The smallest (`Ordering::Less`) or largest (`Ordering::Greater`) of the row groups' bounds,
/// as Delta writes it in `stats`; `None` when a row group has none (all nulls, or not
/// recorded) or the type has no Delta form here.
///
/// An inexact (truncated) string bound is still a bound: Parquet truncates a minimum to a
/// prefix and rounds a truncated maximum up, which is what pruning needs.
fn bound(values: &[ScalarValue], wanted: Ordering) -> Option<Value> {
    let mut best: Option<&ScalarValue> = None;
    for value in values {
        if value.is_null() {
            return None;
        }
        best = match best {
            None => Some(value),
            Some(current) => match value.partial_cmp(current)? {
                ordering if ordering == wanted => Some(value),
                _ => Some(current),
            },
        };
    }
    delta_json(best?)
}

/// A statistic in Delta's JSON form. Timestamps are left out: Delta's statistics hold
/// milliseconds, and a maximum cut to milliseconds would be below the true one.
fn delta_json(value: &ScalarValue) -> Option<Value> {
    match value {
        ScalarValue::Int8(Some(value)) => Some(Value::from(*value)),
        ScalarValue::Int16(Some(value)) => Some(Value::from(*value)),
        ScalarValue::Int32(Some(value)) => Some(Value::from(*value)),
        ScalarValue::Int64(Some(value)) => Some(Value::from(*value)),
        ScalarValue::UInt8(Some(value)) => Some(Value::from(*value)),
        ScalarValue::UInt16(Some(value)) => Some(Value::from(*value)),
        ScalarValue::UInt32(Some(value)) => Some(Value::from(*value)),
        ScalarValue::UInt64(Some(value)) => Some(Value::from(*value)),
        ScalarValue::Float32(Some(value)) if value.is_finite() => Some(Value::from(*value)),
        ScalarValue::Float64(Some(value)) if value.is_finite() => Some(Value::from(*value)),
        ScalarValue::Utf8(Some(value))
        | ScalarValue::LargeUtf8(Some(value))
        | ScalarValue::Utf8View(Some(value)) => Some(Value::from(value.clone())),
        ScalarValue::Date32(Some(_)) => Some(Value::from(value.to_string())),
        _ => None,
    }
}

/// Whether a partition column of type `data_type` can be committed from footers: its values
/// have a Delta form written here ([`delta_partition_value`]).
pub(crate) fn has_delta_partition_form(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::Boolean
            | DataType::Date32
    )
}

/// A partition value as Delta's `partitionValues` hold it (the form deltalake's writer
/// serializes): the plain text of strings, integers, booleans and dates.
pub(crate) fn delta_partition_value(value: &ScalarValue) -> Option<String> {
    match value {
        ScalarValue::Utf8(Some(text))
        | ScalarValue::LargeUtf8(Some(text))
        | ScalarValue::Utf8View(Some(text)) => Some(text.clone()),
        ScalarValue::Int8(Some(_))
        | ScalarValue::Int16(Some(_))
        | ScalarValue::Int32(Some(_))
        | ScalarValue::Int64(Some(_))
        | ScalarValue::Boolean(Some(_))
        | ScalarValue::Date32(Some(_)) => Some(value.to_string()),
        _ => None,
    }
}
