//! The tables (`/tables`, `/tables/{name}`): the warehouse's tables; one table's schema,
//! version and partition strip, each partition linked to the run that wrote it, and the
//! intervals of a chosen workflow and date range whose partition is missing.

use askama::Template;
use axum::extract::State;
use serde::Deserialize;
use tidewater_control::{
    IntervalSource, MissingIntervals, MissingRequest, ViewCoverage, describe_table, list_tables,
    time_arg,
};
use tidewater_core::{ServingView, TableName};

use super::layout::{Layout, Live, Nav, url_component};
use super::ui_error::{PageResult, UiError, UiPath, UiQuery, page};
use crate::api::Api;

#[derive(Template)]
#[template(path = "tables.html")]
struct TablesPage {
    layout: Layout,
    location: String,
    tables: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "table.html")]
struct TablePage {
    layout: Layout,
    table: String,
    version: u64,
    columns: Vec<ColumnRow>,
    partition_columns: String,
    partitions: Vec<PartitionChip>,
    query: MissingQuery,
    missing: Option<Result<MissingView, String>>,
}

#[derive(Template)]
#[template(path = "view.html")]
struct ViewPage {
    layout: Layout,
    view: String,
    batch: String,
    stream: String,
    by: String,
    intervals: Vec<IntervalChip>,
}

/// One interval of a view's strip: batch (final), stream only (fresh) or missing.
struct IntervalChip {
    value: String,
    source: &'static str,
    rows: String,
    class: &'static str,
    symbol: &'static str,
    title: String,
}

struct ColumnRow {
    name: String,
    data_type: String,
    nullable: bool,
    is_partition: bool,
}

struct PartitionChip {
    label: String,
    rows: String,
    files: u64,
    /// The run, task and attempt that last wrote it, and the run's page.
    writer: Option<(String, String)>,
    title: String,
}

struct MissingView {
    column: String,
    intervals: Vec<String>,
}

/// Which workflow's intervals in which range to check for missing partitions.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct MissingQuery {
    #[serde(default)]
    workflow: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// `GET /tables`.
pub(crate) async fn tables(State(api): State<Api>) -> PageResult {
    let list = list_tables(&api.control.project).await?;
    page(&TablesPage {
        layout: Layout::new("Tables", Nav::Tables, Live::Polled),
        location: list.location,
        tables: list
            .tables
            .iter()
            .chain(&list.views)
            .map(|table| {
                let name = table.to_string();
                (format!("/tables/{}", url_component(&name)), name)
            })
            .collect(),
    })
}

/// `GET /tables/{name}?workflow=&from=&to=`.
pub(crate) async fn table(
    State(api): State<Api>,
    UiPath(name): UiPath<String>,
    UiQuery(query): UiQuery<MissingQuery>,
) -> PageResult {
    let table: TableName = name
        .parse()
        .map_err(|error: tidewater_core::InvalidTableName| UiError::invalid(error.to_string()))?;
    let project = &api.control.project;
    if table.schema() == ServingView::SCHEMA {
        return view(project, &table).await;
    }
    let description = describe_table(project, &table).await?;
    let missing = if query.workflow.is_empty() {
        None
    } else {
        Some(missing(project, &table, &query).await)
    };
    page(&TablePage {
        layout: Layout::new(&name, Nav::Tables, Live::Polled),
        table: name,
        version: description.version,
        columns: description
            .columns
            .iter()
            .map(|column| ColumnRow {
                name: column.name.clone(),
                data_type: column.data_type.clone(),
                nullable: column.nullable,
                is_partition: description.partition_columns.contains(&column.name),
            })
            .collect(),
        partition_columns: description.partition_columns.join(", "),
        partitions: description
            .partitions
            .iter()
            .map(|partition| {
                let label = if partition.values.is_empty() {
                    "(whole table)".to_owned()
                } else {
                    partition
                        .values
                        .iter()
                        .map(|(_, value)| value.as_deref().unwrap_or("null"))
                        .collect::<Vec<_>>()
                        .join(" / ")
                };
                let rows = partition
                    .rows
                    .map_or_else(|| "? rows".to_owned(), |rows| format!("{rows} rows"));
                let writer = partition
                    .last_write
                    .as_ref()
                    .and_then(|write| write.writer.as_ref())
                    .map(|writer| {
                        (
                            format!(
                                "run {} · {} · attempt {}",
                                writer.run_id, writer.task, writer.attempt
                            ),
                            format!("/runs/{}", writer.run_id),
                        )
                    });
                let written = partition.last_write.as_ref().map_or_else(
                    || "written before the log kept".to_owned(),
                    |write| format!("version {}", write.version),
                );
                PartitionChip {
                    title: format!("{label}: {rows}, {written}"),
                    label,
                    rows,
                    files: partition.files,
                    writer,
                }
            })
            .collect(),
        query,
        missing,
    })
}

async fn missing(
    project: &tidewater_spec::Project,
    table: &TableName,
    query: &MissingQuery,
) -> Result<MissingView, String> {
    let request = MissingRequest {
        table: table.clone(),
        workflow: query.workflow.clone(),
        from: time_arg::parse_date(&query.from).map_err(|error| format!("from: {error}"))?,
        to: time_arg::parse_date(&query.to).map_err(|error| format!("to: {error}"))?,
    };
    let found = MissingIntervals::find(project, &request)
        .await
        .map_err(|error| crate::problem::Problem::from(error).detail)?;
    Ok(MissingView {
        intervals: found
            .intervals
            .iter()
            .map(|interval| interval.ds(found.timezone).to_string())
            .collect(),
        column: found.column,
    })
}

/// `GET /tables/serving.NAME`: a view's intervals as a strip.
async fn view(project: &tidewater_spec::Project, name: &TableName) -> PageResult {
    let coverage = ViewCoverage::read(project, name, None).await?;
    let view = &coverage.view;
    page(&ViewPage {
        layout: Layout::new(&name.to_string(), Nav::Tables, Live::Polled),
        view: name.to_string(),
        batch: view.batch.to_string(),
        stream: view.stream.to_string(),
        by: view.by.clone(),
        intervals: coverage
            .intervals
            .iter()
            .map(|interval| {
                let value = interval.value.clone().unwrap_or_else(|| "null".to_owned());
                let rows = interval
                    .rows
                    .map_or_else(|| "? rows".to_owned(), |rows| format!("{rows} rows"));
                let (class, symbol, source) = match interval.source {
                    IntervalSource::Batch => ("s-succeeded", "✓", "batch"),
                    IntervalSource::Stream => ("s-running", "~", "stream only"),
                    IntervalSource::Missing => ("s-failed missing", "✗", "missing"),
                };
                IntervalChip {
                    title: format!("{} = {value}: {source}, {rows}", view.by),
                    value,
                    source,
                    rows,
                    class,
                    symbol,
                }
            })
            .collect(),
    })
}
