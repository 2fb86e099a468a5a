use std::path::Path;

use tidewater_flow::{OutputFormat, format_batches};

use crate::Outcome;
use crate::args::{QueryArgs, QueryFormat};
use crate::output;
use crate::project_context::{open_project, open_warehouse};

pub(super) async fn query(project: &Path, args: QueryArgs) -> anyhow::Result<Outcome> {
    let project = open_project(project)?;
    let warehouse = open_warehouse(&project)?;
    let batches = warehouse.query(&args.sql).await?;
    let format = match args.format {
        QueryFormat::Table => OutputFormat::Table,
        QueryFormat::Csv => OutputFormat::Csv,
        QueryFormat::Json => OutputFormat::Json,
    };
    output::data(format_batches(&batches, format)?.trim_end());
    Ok(Outcome::Success)
}
