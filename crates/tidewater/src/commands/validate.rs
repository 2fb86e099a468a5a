use std::path::Path;

use tidewater_control::{Control, ControlError, check_trigger_tables, check_views};

use crate::Outcome;
use crate::output;

pub(super) async fn validate(project: &Path) -> anyhow::Result<Outcome> {
    let project = match Control::open_project(project) {
        Ok(project) => project,
        Err(ControlError::Diagnostics(diagnostics)) => {
            output::diagnostics(&diagnostics);
            return Ok(Outcome::Failure);
        }
        Err(error) => return Err(error.into()),
    };
    let (workflows, mut diagnostics) = project.load_workflows();
    diagnostics.extend(check_trigger_tables(&project, &workflows).await?);
    diagnostics.extend(check_views(&project, &workflows).await?);
    // Connection values from the environment or files: read now as a run would read them.
    let connections = tidewater_control::resolve_connections(&project);
    output::redact_with(connections.redactor());
    diagnostics.extend(connections.problems(&project.config.connections));
    let (streams, stream_problems) = tidewater_spec::load_streams(&project);
    diagnostics.extend(stream_problems);
    if !diagnostics.is_empty() {
        output::diagnostics(&diagnostics);
        output::note(format!(
            "{} problem(s) found; {} workflow(s) valid",
            diagnostics.len(),
            workflows.len()
        ));
        return Ok(Outcome::Failure);
    }
    let names: Vec<String> = workflows
        .iter()
        .map(|loaded| {
            format!(
                "{} ({} tasks)",
                loaded.workflow.name,
                loaded.workflow.tasks().len()
            )
        })
        .collect();
    output::data(format!(
        "{} workflow(s) valid: {}",
        workflows.len(),
        names.join(", ")
    ));
    if !streams.is_empty() {
        let names: Vec<&str> = streams.iter().map(|stream| stream.name.as_str()).collect();
        output::data(format!(
            "{} stream(s) valid: {}",
            streams.len(),
            names.join(", ")
        ));
    }
    Ok(Outcome::Success)
}
