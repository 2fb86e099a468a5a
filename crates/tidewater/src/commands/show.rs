use std::fmt::Write;
use std::path::Path;

use tidewater_core::{TaskRole, Workflow};

use crate::Outcome;
use crate::args::{ShowArgs, ShowFormat};
use crate::output;
use crate::project_context::open_project;

pub(super) fn show(project: &Path, args: ShowArgs) -> anyhow::Result<Outcome> {
    let project = open_project(project)?;
    let loaded = crate::project_context::load_workflow(&project, &args.workflow)?;
    let workflow = &loaded.workflow;
    let text = match args.format {
        ShowFormat::Text => text(workflow),
        ShowFormat::Dot => dot(workflow),
        ShowFormat::Mermaid => mermaid(workflow),
    };
    output::data(text.trim_end());
    Ok(Outcome::Success)
}

/// Tasks in execution order, each with what it needs.
fn text(workflow: &Workflow) -> String {
    let mut text = format!("{}", workflow.name);
    if let Some(schedule) = &workflow.schedule {
        let _ = write!(
            text,
            " (schedule {} {})",
            schedule.expression(),
            workflow.timezone
        );
    }
    text.push('\n');
    for &index in workflow.dag().order() {
        let task = workflow.task(index);
        if task.role != TaskRole::Step {
            continue;
        }
        let needs: Vec<&str> = workflow
            .dag()
            .upstream(index)
            .iter()
            .map(|&up| workflow.task(up).name.as_str())
            .collect();
        let _ = write!(text, "  {} [{}]", task.name, task.action.kind());
        if !needs.is_empty() {
            let _ = write!(text, " <- {}", needs.join(", "));
        }
        if task.trigger != tidewater_core::TriggerRule::AllSuccess {
            let _ = write!(text, " (trigger {})", task.trigger.as_str());
        }
        text.push('\n');
    }
    for task in workflow
        .tasks()
        .iter()
        .filter(|task| task.role != TaskRole::Step)
    {
        let _ = writeln!(text, "  {} [{}] (handler)", task.name, task.action.kind());
    }
    text
}

fn dot(workflow: &Workflow) -> String {
    let mut text = format!("digraph {:?} {{\n  rankdir=LR;\n", workflow.name.as_str());
    for index in workflow.indices() {
        let task = workflow.task(index);
        let shape = if task.role == TaskRole::Step {
            "box"
        } else {
            "note"
        };
        let _ = writeln!(
            text,
            "  {:?} [shape={shape}, label={:?}];",
            task.name.as_str(),
            format!("{}\n{}", task.name, task.action.kind())
        );
        for &up in workflow.dag().upstream(index) {
            let _ = writeln!(
                text,
                "  {:?} -> {:?};",
                workflow.task(up).name.as_str(),
                task.name.as_str()
            );
        }
    }
    text.push_str("}\n");
    text
}

fn mermaid(workflow: &Workflow) -> String {
    // Mermaid node ids must be simple: use positions, and show names as labels.
    let mut text = String::from("flowchart LR\n");
    for index in workflow.indices() {
        let task = workflow.task(index);
        let _ = writeln!(
            text,
            "  t{}[\"{} ({})\"]",
            index.0,
            task.name,
            task.action.kind()
        );
        for &up in workflow.dag().upstream(index) {
            let _ = writeln!(text, "  t{} --> t{}", up.0, index.0);
        }
    }
    text
}
