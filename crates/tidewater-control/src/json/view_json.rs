//! JSON shape of a serving view's coverage (`tidewater tables serving.NAME --json`,
//! `/api/v1/views/{name}`).

use serde::Serialize;

use crate::view_coverage::ViewCoverage;

/// A serving view and where it reads each interval from.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ViewJson {
    /// `serving.<name>`.
    pub view: String,
    /// The batch table, `schema.table`.
    pub batch: String,
    /// The stream table, `schema.table`.
    pub stream: String,
    /// The partition column both tables share.
    pub by: String,
    /// Covered stream partitions older than this many seconds are pruned by `maintain`;
    /// `null` when the view has no retention.
    pub retention_seconds: Option<u64>,
    /// Oldest first.
    pub intervals: Vec<ViewIntervalJson>,
}

/// One interval (value of `by`) of a view.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ViewIntervalJson {
    /// The value of `by`; `null` for the null partition.
    pub value: Option<String>,
    /// `batch` (the batch table has the partition), `stream` (only the stream has it) or
    /// `missing` (neither).
    pub source: String,
    /// The rows the view returns for it; `null` when a file has no statistics.
    pub rows: Option<u64>,
    /// For a `batch` interval the stream still has: the stream rows it replaces.
    pub replaced_stream_rows: Option<u64>,
}

impl ViewJson {
    pub fn new(coverage: &ViewCoverage) -> ViewJson {
        let view = &coverage.view;
        ViewJson {
            view: view.name.to_string(),
            batch: view.batch.to_string(),
            stream: view.stream.to_string(),
            by: view.by.clone(),
            retention_seconds: view.retention.map(|retention| retention.as_secs()),
            intervals: coverage
                .intervals
                .iter()
                .map(|interval| ViewIntervalJson {
                    value: interval.value.clone(),
                    source: interval.source.name().to_owned(),
                    rows: interval.rows,
                    replaced_stream_rows: interval.replaced_stream_rows,
                })
                .collect(),
        }
    }
}
