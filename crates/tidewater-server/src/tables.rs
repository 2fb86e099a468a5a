//! `/api/v1/tables`: the warehouse's tables, one table's schema and partitions with the run
//! that wrote each, and which intervals of a workflow have no partition yet.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use tidewater_control::json::{MissingJson, TableJson, ViewJson, table_names_json};
use tidewater_control::{
    ControlError, MissingIntervals, MissingRequest, ViewCoverage, describe_table, list_tables,
    time_arg,
};
use tidewater_core::TableName;

use crate::api::Api;
use crate::extract::{PathOf, QueryOf};
use crate::problem::Problem;

/// Which intervals to look for: all three together, or none.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct TableQuery {
    /// The workflow whose intervals are looked for (with `from` and `to`).
    workflow: Option<String>,
    /// First local date of the range, `YYYY-MM-DD`, in the workflow's zone.
    from: Option<String>,
    /// Last local date of the range, included.
    to: Option<String>,
}

/// One table, and with `workflow`, `from` and `to`, the intervals it misses.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TableDetail {
    #[serde(flatten)]
    table: TableJson,
    /// Only when `workflow`, `from` and `to` were given.
    #[serde(skip_serializing_if = "Option::is_none")]
    missing: Option<MissingDetail>,
}

/// The intervals of a workflow in a range whose partition of the table has no rows.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct MissingDetail {
    workflow: String,
    /// The partition column the workflow's tasks write.
    column: String,
    from: String,
    to: String,
    /// Oldest first.
    intervals: Vec<MissingJson>,
}

/// The names of the warehouse's tables (`schema.table`), sorted, then the serving views'
/// (`serving.<name>`).
#[utoipa::path(
    get,
    path = "/api/v1/tables",
    tag = "tables",
    responses(
        (status = 200, description = "Every table of the warehouse, then every serving view", body = Vec<String>),
    )
)]
pub(crate) async fn list(State(api): State<Api>) -> Result<Json<Vec<String>>, Problem> {
    let list = list_tables(&api.control.project).await?;
    Ok(Json(table_names_json(&list)))
}

/// A table's columns, version and partitions, each partition with its rows and the run,
/// task and attempt that last wrote it; with `workflow`, `from` and `to`, also the intervals
/// of that workflow in the range whose partition is missing (to backfill them).
#[utoipa::path(
    get,
    path = "/api/v1/tables/{name}",
    tag = "tables",
    params(
        ("name" = String, Path, description = "The table, `schema.table`"),
        TableQuery,
    ),
    responses(
        (status = 200, description = "The table", body = TableDetail),
        (status = 404, description = "No such table, or no workflow has this name", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`workflow`, `from` and `to` not all given, a bad date or range, a range of more intervals than one backfill may cover, or a workflow that writes no partition of the table", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn table(
    State(api): State<Api>,
    PathOf(name): PathOf<String>,
    QueryOf(query): QueryOf<TableQuery>,
) -> Result<Json<TableDetail>, Problem> {
    let project = &api.control.project;
    // A name that cannot be a table's names none.
    let table: TableName = name
        .parse()
        .map_err(|error| ControlError::NotFound(format!("there is no table `{name}`: {error}")))?;
    let asked = match (query.workflow, query.from, query.to) {
        (None, None, None) => None,
        (Some(workflow), Some(from), Some(to)) => Some((workflow, from, to)),
        _ => {
            return Err(ControlError::Invalid(
                "`workflow`, `from` and `to` go together: the intervals of that workflow from \
                 one date to the other"
                    .to_owned(),
            )
            .into());
        }
    };
    let description = describe_table(project, &table).await?;
    let missing = match asked {
        None => None,
        Some((workflow, from, to)) => {
            let request = MissingRequest {
                table,
                workflow,
                from: time_arg::parse_date(&from)?,
                to: time_arg::parse_date(&to)?,
            };
            let found = MissingIntervals::find(project, &request).await?;
            Some(MissingDetail {
                intervals: MissingJson::list(&found),
                workflow: request.workflow,
                column: found.column,
                from,
                to,
            })
        }
    };
    Ok(Json(TableDetail {
        table: TableJson::new(&description),
        missing,
    }))
}

/// Which intervals of a view to list: both dates, or neither.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ViewQuery {
    /// First interval to list, `YYYY-MM-DD` (with `to`); days neither table has are `missing`.
    from: Option<String>,
    /// Last interval to list, included.
    to: Option<String>,
}

/// A serving view (`serving.<name>`, from `views/<name>.yaml`): for each interval (value of
/// its `by` column) whether it reads the batch table, the stream table only, or nothing
/// (`missing`), with the rows it returns.
#[utoipa::path(
    get,
    path = "/api/v1/views/{name}",
    tag = "tables",
    params(
        ("name" = String, Path, description = "The view, `serving.NAME` or `NAME`"),
        ViewQuery,
    ),
    responses(
        (status = 200, description = "The view per interval", body = ViewJson),
        (status = 404, description = "No such view", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Only one of `from` and `to`, a bad date, or a range of more than 10,000 days", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn view(
    State(api): State<Api>,
    PathOf(name): PathOf<String>,
    QueryOf(query): QueryOf<ViewQuery>,
) -> Result<Json<ViewJson>, Problem> {
    let qualified = if name.contains('.') {
        name.clone()
    } else {
        format!("{}.{name}", tidewater_core::ServingView::SCHEMA)
    };
    let view: TableName = qualified
        .parse()
        .map_err(|error| ControlError::NotFound(format!("there is no view `{name}`: {error}")))?;
    let range = match (query.from, query.to) {
        (None, None) => None,
        (Some(from), Some(to)) => Some((time_arg::parse_date(&from)?, time_arg::parse_date(&to)?)),
        _ => {
            return Err(ControlError::Invalid(
                "`from` and `to` go together: the first and last interval to list".to_owned(),
            )
            .into());
        }
    };
    let coverage = ViewCoverage::read(&api.control.project, &view, range).await?;
    Ok(Json(ViewJson::new(&coverage)))
}
