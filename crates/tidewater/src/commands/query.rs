use std::path::Path;

use tidewater_flow::{EngineName, FlowError, OutputFormat, format_batches};

use crate::Outcome;
use crate::args::{QueryArgs, QueryFormat};
use crate::output;
use crate::project_context::{open_project, open_warehouse};

pub(super) async fn query(project: &Path, args: QueryArgs) -> anyhow::Result<Outcome> {
    let project = open_project(project)?;
    let warehouse = open_warehouse(&project)?;
    let batches = match &args.engine {
        None => warehouse.query(&args.sql).await?,
        Some(name) => {
            let name = EngineName::new(name.as_str());
            if !project.config.engines.contains_key(&name) {
                return Err(FlowError::UnknownEngine {
                    engine: name.to_string(),
                }
                .into());
            }
            match super::ballista::remote_engines(&project) {
                Some(engines) => engines.query(&warehouse, &name, &args.sql).await?,
                None => {
                    return Err(FlowError::EngineNotBuilt {
                        engine: name.to_string(),
                    }
                    .into());
                }
            }
        }
    };
    let format = match args.format {
        QueryFormat::Table => OutputFormat::Table,
        QueryFormat::Csv => OutputFormat::Csv,
        QueryFormat::Json => OutputFormat::Json,
    };
    output::data(format_batches(&batches, format)?.trim_end());
    Ok(Outcome::Success)
}
