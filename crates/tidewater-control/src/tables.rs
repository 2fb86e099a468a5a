//! [`TableList`]: the read models behind `tidewater tables`: the warehouse's tables and one
//! table's description. They need the project only, not the store: listing tables must work
//! (and create nothing) where no run was ever made.

use tidewater_core::TableName;
use tidewater_flow::{ErrorClass, FlowError, TableDescription, Warehouse};
use tidewater_spec::{Diagnostics, LoadedWorkflow, Project};

use crate::control_error::{ControlError, ControlResult};
use crate::view_coverage::project_views;

/// The tables of the project's warehouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableList {
    /// Where the warehouse is (`[warehouse] location`).
    pub location: String,
    /// Sorted by name.
    pub tables: Vec<TableName>,
    /// The serving views (`serving.<name>`), sorted by name.
    pub views: Vec<TableName>,
}

/// The project's warehouse of Delta tables (`[warehouse] location`), with its serving views
/// (`views/*.yaml`) queryable as `serving.<name>`.
pub fn open_warehouse(project: &Project) -> ControlResult<Warehouse> {
    Warehouse::new(&project.config.warehouse, &project.root)
        .map(|warehouse| warehouse.with_views(project_views(project)))
        .map_err(|error| {
            ControlError::environment(
                format!("cannot open the warehouse {}", project.config.warehouse),
                error,
            )
        })
}

/// Every table of the project's warehouse.
pub async fn list_tables(project: &Project) -> ControlResult<TableList> {
    let warehouse = open_warehouse(project)?;
    let mut views: Vec<TableName> = warehouse
        .views()
        .iter()
        .map(|view| view.name.clone())
        .collect();
    views.sort();
    Ok(TableList {
        location: warehouse.location().to_owned(),
        tables: warehouse.tables().await?,
        views,
    })
}

/// One table's columns, version and partitions, each with the run and task that last wrote
/// it; an unknown table is [`ControlError::NotFound`].
pub async fn describe_table(
    project: &Project,
    table: &TableName,
) -> ControlResult<TableDescription> {
    open_warehouse(project)?
        .describe(table)
        .await
        .map_err(read_error)
}

/// The tables of `schedule: { on: [{ table }] }` that no workflow of the project writes and
/// the warehouse does not have, as diagnostics at the file and line that names them. The
/// warehouse is opened (and so its folder made) only when some table is not written by the
/// project.
pub async fn check_trigger_tables(
    project: &Project,
    workflows: &[LoadedWorkflow],
) -> ControlResult<Diagnostics> {
    let problems = Project::check_trigger_tables(workflows, &[]);
    if problems.is_empty() {
        return Ok(problems);
    }
    let tables = open_warehouse(project)?.tables().await?;
    Ok(Project::check_trigger_tables(workflows, &tables))
}

/// A warehouse's refusal of a read, classified for the front ends: the table asked for does
/// not exist ([`ControlError::NotFound`]), the request is otherwise wrong
/// ([`ControlError::Invalid`]), or the warehouse failed.
pub(crate) fn read_error(error: FlowError) -> ControlError {
    match &error {
        FlowError::UnknownTable { .. } => ControlError::NotFound(error.to_string()),
        _ if error.class() == ErrorClass::UserInput => ControlError::Invalid(error.to_string()),
        _ => ControlError::Warehouse(error),
    }
}
