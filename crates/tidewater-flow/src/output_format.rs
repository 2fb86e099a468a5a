use datafusion::arrow::csv::WriterBuilder as CsvWriterBuilder;
use datafusion::arrow::json::ArrayWriter;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;

use crate::flow_error::FlowError;

/// How `tidewater query` prints a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OutputFormat {
    /// A boxed text table for people.
    #[default]
    Table,
    /// CSV with a header row.
    Csv,
    /// A JSON array of objects, one per row.
    Json,
}

/// Renders query results; the CLI decides where the text goes.
pub fn format_batches(batches: &[RecordBatch], format: OutputFormat) -> Result<String, FlowError> {
    let arrow_error =
        |error: datafusion::arrow::error::ArrowError| FlowError::DataFusion(Box::new(error.into()));
    match format {
        OutputFormat::Table => Ok(pretty_format_batches(batches)
            .map_err(arrow_error)?
            .to_string()),
        OutputFormat::Csv => {
            let mut writer = CsvWriterBuilder::new().with_header(true).build(Vec::new());
            for batch in batches {
                writer.write(batch).map_err(arrow_error)?;
            }
            into_text(writer.into_inner())
        }
        OutputFormat::Json => {
            let mut writer = ArrayWriter::new(Vec::new());
            for batch in batches {
                writer.write(batch).map_err(arrow_error)?;
            }
            writer.finish().map_err(arrow_error)?;
            let mut text = into_text(writer.into_inner())?;
            if text.is_empty() {
                // ArrayWriter writes nothing, not `[]`, for no rows.
                text.push_str("[]");
            }
            Ok(text)
        }
    }
}

fn into_text(bytes: Vec<u8>) -> Result<String, FlowError> {
    // Both writers emit UTF-8; a failure here would be a bug in arrow.
    String::from_utf8(bytes).map_err(|error| {
        FlowError::DataFusion(Box::new(datafusion::error::DataFusionError::Internal(
            format!("formatter wrote invalid UTF-8: {error}"),
        )))
    })
}
