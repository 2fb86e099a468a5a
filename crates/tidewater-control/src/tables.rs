//! [`TableList`]: the read models behind `tidewater tables`: the warehouse's tables and one
//! table's description. They need the project only, not the store: listing tables must work
//! (and create nothing) where no run was ever made.

use tidewater_core::TableName;
use tidewater_flow::{ErrorClass, FlowError, TableDescription, Warehouse};
use tidewater_spec::Project;

use crate::control_error::{ControlError, ControlResult};

/// The tables of the project's warehouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableList {
    /// Where the warehouse is (`[warehouse] location`).
    pub location: String,
    /// Sorted by name.
    pub tables: Vec<TableName>,
}

/// The project's warehouse of Delta tables (`[warehouse] location`).
pub fn open_warehouse(project: &Project) -> ControlResult<Warehouse> {
    Warehouse::new(&project.config.warehouse, &project.root).map_err(|error| {
        ControlError::environment(
            format!("cannot open the warehouse {}", project.config.warehouse),
            error,
        )
    })
}

/// Every table of the project's warehouse.
pub async fn list_tables(project: &Project) -> ControlResult<TableList> {
    let warehouse = open_warehouse(project)?;
    Ok(TableList {
        location: warehouse.location().to_owned(),
        tables: warehouse.tables().await?,
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
