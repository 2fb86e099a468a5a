//! A stream's micro-batch into its table: the batch's decoded messages registered as
//! `messages`, the stream's SQL over them (and over the warehouse's tables, to join
//! dimensions), and the result appended in one Delta commit that
//! also records the stream's position as a Delta transaction identifier (`txn` action:
//! `appId` = the stream, `version` = the last source sequence of the batch). The commit and
//! the position are one atomic step, so a stream that crashed anywhere reads back exactly
//! what is in the table (issue 19) — the same mechanism as `append_atomic`
//! (`table_write.rs`), with the source's sequence in place of the attempt.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::protocol::SaveMode;

use crate::TableName;
use crate::flow_error::FlowError;
use crate::planned_query::NamedBatch;
use crate::warehouse::Warehouse;

/// The name the micro-batch has in the stream's SQL.
pub const MESSAGES_TABLE: &str = "messages";

/// The key of the commit info entry every stream commit carries (beside deltalake's own).
const STREAM_COMMIT_KEY: &str = "tidewater_stream";

/// One column of decoded messages. Each variant is the Arrow type a schema's field type is
/// read as; `None` is a null (an optional field that was missing).
#[derive(Debug, Clone, PartialEq)]
pub enum StreamValues {
    Utf8(Vec<Option<String>>),
    Float64(Vec<Option<f64>>),
    Int64(Vec<Option<i64>>),
    Int32(Vec<Option<i32>>),
    Boolean(Vec<Option<bool>>),
    /// Microseconds since the epoch, UTC.
    TimestampMicros(Vec<Option<i64>>),
    /// Days since the epoch.
    Date32(Vec<Option<i32>>),
}

impl StreamValues {
    fn len(&self) -> usize {
        match self {
            StreamValues::Utf8(values) => values.len(),
            StreamValues::Float64(values) => values.len(),
            StreamValues::Int64(values) => values.len(),
            StreamValues::Int32(values) => values.len(),
            StreamValues::Boolean(values) => values.len(),
            StreamValues::TimestampMicros(values) => values.len(),
            StreamValues::Date32(values) => values.len(),
        }
    }

    fn into_array(self) -> (DataType, ArrayRef) {
        match self {
            StreamValues::Utf8(values) => (DataType::Utf8, Arc::new(StringArray::from(values))),
            StreamValues::Float64(values) => {
                (DataType::Float64, Arc::new(Float64Array::from(values)))
            }
            StreamValues::Int64(values) => (DataType::Int64, Arc::new(Int64Array::from(values))),
            StreamValues::Int32(values) => (DataType::Int32, Arc::new(Int32Array::from(values))),
            StreamValues::Boolean(values) => {
                (DataType::Boolean, Arc::new(BooleanArray::from(values)))
            }
            StreamValues::TimestampMicros(values) => (
                utc_micros(),
                Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC")),
            ),
            StreamValues::Date32(values) => (DataType::Date32, Arc::new(Date32Array::from(values))),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StreamColumn {
    pub name: String,
    pub values: StreamValues,
}

/// One micro-batch to commit.
#[derive(Debug)]
pub struct StreamAppend<'a> {
    pub table: &'a TableName,
    /// Partition columns, used when the commit creates the table.
    pub partition: &'a [String],
    /// The query over `messages`; `None` writes the columns as they are (dead letters).
    pub sql: Option<&'a str>,
    pub columns: Vec<StreamColumn>,
    /// The Delta transaction identifier's `appId`, one per stream and table.
    pub app_id: &'a str,
    /// The last source sequence of the batch: recorded as the `txn` version.
    pub position: i64,
}

/// What a stream commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamCommit {
    Committed {
        version: u64,
        rows_written: u64,
    },
    /// The table already records `position` (or a later one) for the app id: a batch
    /// redelivered after a crash between the commit and the acknowledgement. Nothing written.
    AlreadyCommitted {
        position: i64,
    },
}

impl Warehouse {
    /// The stream position `table` records for `app_id` (the last committed source sequence),
    /// `None` when the table does not exist or has no commit of that app id.
    pub async fn stream_position(
        &self,
        table: &TableName,
        app_id: &str,
    ) -> Result<Option<i64>, FlowError> {
        let Some(handle) = self.open_table(table).await? else {
            return Ok(None);
        };
        let state = handle.snapshot()?;
        Ok(state
            .transaction_version(handle.log_store().as_ref(), app_id)
            .await?)
    }

    /// Runs the stream's SQL over the batch and appends the result to the table in one commit
    /// that records `position` for `app_id`. A batch whose position the table already holds
    /// writes nothing. One owner per stream is the caller's duty (the store's stream owner):
    /// two writers of one app id would both pass this check.
    pub async fn append_stream_batch(
        &self,
        append: StreamAppend<'_>,
    ) -> Result<StreamCommit, FlowError> {
        let table = self.table_handle(append.table).await?;
        if let Ok(state) = table.snapshot() {
            let recorded = state
                .transaction_version(table.log_store().as_ref(), append.app_id)
                .await?;
            if let Some(recorded) = recorded
                && recorded >= append.position
            {
                return Ok(StreamCommit::AlreadyCommitted { position: recorded });
            }
        }
        let messages = messages_batch(append.columns)?;
        let (schema, batches) = match append.sql {
            Some(sql) => self.run_stream_sql(sql, messages).await?,
            None => (messages.schema(), vec![messages]),
        };
        let delta_schema = delta_schema(&schema);
        let mut shaped = Vec::with_capacity(batches.len().max(1));
        for batch in &batches {
            shaped.push(shape(batch, &delta_schema)?);
        }
        if shaped.is_empty() {
            // An empty batch still carries the schema and lets the commit record the position.
            shaped.push(RecordBatch::new_empty(delta_schema.clone()));
        }
        let rows: usize = shaped.iter().map(RecordBatch::num_rows).sum();
        let properties = CommitProperties::default()
            .with_application_transaction(Transaction::new(append.app_id, append.position))
            .with_metadata([(
                STREAM_COMMIT_KEY.to_owned(),
                serde_json::json!({ "app_id": append.app_id, "position": append.position }),
            )]);
        let written = table
            .write(shaped)
            .with_save_mode(SaveMode::Append)
            .with_partition_columns(append.partition.to_vec())
            .with_table_name(append.table.to_string())
            .with_commit_properties(properties)
            .await?;
        Ok(StreamCommit::Committed {
            version: written.version().unwrap_or_default(),
            rows_written: rows as u64,
        })
    }

    /// Checks that the stream's SQL plans over `messages` with the given columns (no rows) and
    /// the warehouse: a stream refuses to start with a query that names a missing column or
    /// table rather than sending every batch to an error.
    pub async fn check_stream_sql(
        &self,
        sql: &str,
        columns: Vec<StreamColumn>,
    ) -> Result<(), FlowError> {
        self.run_stream_sql(sql, messages_batch(columns)?)
            .await
            .map(|_| ())
    }

    /// The query's output schema (known even when it returns no rows) and its rows. Beside
    /// `messages` the query reads the warehouse's tables and serving views, each at its newest
    /// version when the batch runs, as `tidewater query` does (a dimension table to enrich
    /// the stream with). Only a query is accepted: the stream's SQL creates, drops or writes
    /// nothing.
    async fn run_stream_sql(
        &self,
        sql: &str,
        messages: RecordBatch,
    ) -> Result<(SchemaRef, Vec<RecordBatch>), FlowError> {
        let batch = NamedBatch {
            name: MESSAGES_TABLE,
            batch: messages,
        };
        let dataframe = self.plan(sql, Some(batch)).await?.dataframe;
        let schema: SchemaRef = Arc::new(dataframe.schema().as_arrow().clone());
        Ok((schema, dataframe.collect().await?))
    }
}

fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn messages_batch(columns: Vec<StreamColumn>) -> Result<RecordBatch, FlowError> {
    let rows = columns.first().map_or(0, |column| column.values.len());
    let mut fields = Vec::with_capacity(columns.len());
    let mut arrays = Vec::with_capacity(columns.len());
    for column in columns {
        let (data_type, array) = column.values.into_array();
        fields.push(Field::new(column.name, data_type, true));
        arrays.push(array);
    }
    let options =
        datafusion::arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(rows));
    RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), arrays, &options)
        .map_err(|error| FlowError::DataFusion(Box::new(error.into())))
}

/// The schema written: the types any Delta client reads (as `write_input.rs` does for
/// tasks: plain strings, UTC microsecond timestamps), every column nullable.
fn delta_schema(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|field| {
            let data_type = match field.data_type() {
                DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
                DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
                DataType::Timestamp(_, _) => utc_micros(),
                other => other.clone(),
            };
            Field::new(field.name(), data_type, true)
        })
        .collect();
    Arc::new(Schema::new(fields))
}

fn shape(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, FlowError> {
    let arrow_error =
        |error: datafusion::arrow::error::ArrowError| FlowError::DataFusion(Box::new(error.into()));
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| cast(column, field.data_type()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(arrow_error)?;
    RecordBatch::try_new(schema.clone(), columns).map_err(arrow_error)
}
