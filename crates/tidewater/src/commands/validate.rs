use std::path::Path;

use tidewater_control::{Control, ControlError, check_trigger_tables};

use crate::Outcome;
use crate::output;

pub(super) async fn validate(project: &Path) -> anyhow::Result<Outcome> {
    let project = match Control::open_project(project) {
        Ok(project) => project,
        Err(ControlError::Diagnostics(diagnostics)) => {
            eprint!("{}", diagnostics.render(output::is_color()));
            return Ok(Outcome::Failure);
        }
        Err(error) => return Err(error.into()),
    };
    let (workflows, mut diagnostics) = project.load_workflows();
    diagnostics.extend(check_trigger_tables(&project, &workflows).await?);
    if !diagnostics.is_empty() {
        eprint!("{}", diagnostics.render(output::is_color()));
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
    Ok(Outcome::Success)
}
