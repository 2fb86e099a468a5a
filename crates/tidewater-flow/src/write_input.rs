use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema as ArrowSchema, TimeUnit};
use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::{Expr, cast, lit};
use datafusion::prelude::DataFrame;
use deltalake::kernel::StructType;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::schema::cast::normalize_for_delta;

use crate::as_nullable::AsNullable;
use crate::flow_error::FlowError;
use crate::partition_check::{PartitionCheck, PartitionMismatchSlot};
use crate::write_spec::{WriteMode, WriteSpec};

/// The table a write goes to, as far as shaping the query's output is concerned.
pub(crate) struct ExistingTable<'a> {
    pub(crate) arrow_schema: &'a ArrowSchema,
    pub(crate) partition_columns: &'a [String],
}

/// A query's output shaped for a Delta write: partition columns present and checked, types a
/// reader-1/writer-2 table can hold, every column nullable.
pub(crate) struct WriteInput {
    pub(crate) dataframe: DataFrame,
    pub(crate) columns: Vec<String>,
    pub(crate) partition_columns: Vec<String>,
    /// `partition_column = value AND …` for `replace_partition`.
    pub(crate) replace_predicate: Option<Expr>,
    /// The output schema in Delta types, to compare with the table's.
    pub(crate) delta_schema: StructType,
    pub(crate) mismatch: PartitionMismatchSlot,
}

impl WriteInput {
    pub(crate) fn prepare(
        dataframe: DataFrame,
        spec: &WriteSpec,
        existing: Option<&ExistingTable<'_>>,
    ) -> Result<WriteInput, FlowError> {
        let partition_columns = effective_partition_columns(spec, existing)?;
        let mismatch = PartitionMismatchSlot::default();

        let mut seen = HashSet::new();
        let mut projection = Vec::new();
        let mut columns = Vec::new();
        let mut column_types = Vec::new();
        for (qualifier, field) in dataframe.schema().iter() {
            let name = field.name();
            if !seen.insert(name.clone()) {
                return Err(FlowError::DuplicateColumn {
                    column: name.clone(),
                });
            }
            let mut expression = Expr::Column(Column::new(qualifier.cloned(), name));
            if let Some((_, value)) = spec.partition.iter().find(|(column, _)| column == name) {
                let expected = partition_value(name, value, field.data_type())?;
                expression = PartitionCheck::call(name, expected, &mismatch, expression);
            }
            let target_type = delta_compatible(field.data_type());
            if target_type != *field.data_type() {
                expression = cast(expression, target_type.clone());
            }
            column_types.push((name.clone(), target_type));
            projection.push(AsNullable::call(expression).alias(name));
            columns.push(name.clone());
        }
        // The common case: the SQL selects the data, the write spec says which partition it is.
        for (column, value) in &spec.partition {
            if seen.contains(column) {
                continue;
            }
            let data_type = existing
                .and_then(|table| table.arrow_schema.field_with_name(column).ok())
                .map(|field| delta_compatible(field.data_type()))
                .unwrap_or(DataType::Utf8);
            let scalar = partition_value(column, value, &data_type)?;
            projection.push(AsNullable::call(lit(scalar)).alias(column));
            column_types.push((column.clone(), data_type));
            columns.push(column.clone());
        }

        let replace_predicate = match spec.mode {
            WriteMode::ReplacePartition => {
                let mut terms = Vec::new();
                for (column, value) in &spec.partition {
                    let data_type = column_types
                        .iter()
                        .find(|(name, _)| name == column)
                        .map(|(_, data_type)| data_type.clone())
                        .unwrap_or(DataType::Utf8);
                    let scalar = partition_value(column, value, &data_type)?;
                    terms.push(Expr::Column(Column::new_unqualified(column)).eq(lit(scalar)));
                }
                terms.into_iter().reduce(Expr::and)
            }
            _ => None,
        };

        let dataframe = dataframe.select(projection)?;
        let arrow_schema = Arc::new(dataframe.schema().as_arrow().clone());
        let delta_schema: StructType = normalize_for_delta(&arrow_schema)
            .as_ref()
            .try_into_kernel()
            .map_err(|error| FlowError::Delta(Box::new(error.into())))?;

        Ok(WriteInput {
            dataframe,
            columns,
            partition_columns,
            replace_predicate,
            delta_schema,
            mismatch,
        })
    }
}

pub(crate) fn effective_partition_columns(
    spec: &WriteSpec,
    existing: Option<&ExistingTable<'_>>,
) -> Result<Vec<String>, FlowError> {
    let declared: Vec<String> = spec
        .partition
        .iter()
        .map(|(column, _)| column.clone())
        .collect();
    let invalid = |reason: &str| FlowError::InvalidWriteSpec {
        table: spec.table.to_string(),
        reason: reason.to_owned(),
    };
    if declared.iter().collect::<HashSet<_>>().len() != declared.len() {
        return Err(invalid("a partition column is declared twice"));
    }
    if spec.mode == WriteMode::ReplacePartition && declared.is_empty() {
        return Err(invalid(
            "replace_partition needs the partition it replaces, e.g. partition: { dt: \"{{ ds }}\" }",
        ));
    }
    match existing {
        // Without a declared partition the write follows the table's partitioning, and the
        // query has to return those columns.
        Some(table) if declared.is_empty() => Ok(table.partition_columns.to_vec()),
        Some(table) if declared != table.partition_columns => {
            Err(FlowError::PartitionColumnsMismatch {
                table: spec.table.to_string(),
                table_columns: table.partition_columns.to_vec(),
                declared,
            })
        }
        _ => Ok(declared),
    }
}

pub(crate) fn partition_value(
    column: &str,
    value: &str,
    data_type: &DataType,
) -> Result<ScalarValue, FlowError> {
    ScalarValue::try_from_string(value.to_owned(), data_type).map_err(|_| {
        FlowError::InvalidPartitionValue {
            column: column.to_owned(),
            value: value.to_owned(),
            data_type: data_type.to_string(),
        }
    })
}

/// The type a column is written as, so that any Delta client can read the table:
/// view and dictionary types become their plain forms (the deltalake session reads strings as
/// `Utf8View`, DEPS.md pitfall 1), and every timestamp becomes `Timestamp(µs, "UTC")`, because
/// a zone-less timestamp would need the `timestampNtz` table feature (pitfall 11). A naive
/// timestamp is taken to be UTC.
pub(crate) fn delta_compatible(data_type: &DataType) -> DataType {
    let field = |field: &Field| {
        Arc::new(
            field
                .clone()
                .with_data_type(delta_compatible(field.data_type())),
        )
    };
    match data_type {
        DataType::Utf8View => DataType::Utf8,
        DataType::BinaryView => DataType::Binary,
        DataType::Dictionary(_, values) => delta_compatible(values),
        DataType::Timestamp(_, _) => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        DataType::List(item) | DataType::ListView(item) => DataType::List(field(item)),
        DataType::LargeList(item) | DataType::LargeListView(item) => {
            DataType::LargeList(field(item))
        }
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(|f| field(f)).collect()),
        DataType::Map(entries, sorted) => DataType::Map(field(entries), *sorted),
        other => other.clone(),
    }
}
