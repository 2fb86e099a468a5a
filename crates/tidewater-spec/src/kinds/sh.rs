//! `sh: <command>`: a shell command (a template), run with `sh -c`.

use tidewater_core::TaskAction;

use super::{FileReference, KindAction, TaskKind, TemplateText};
use crate::ProblemKind;
use crate::yaml_node::YamlNode;
use crate::yaml_reader::{Entry, YamlReader};

pub(crate) const KIND: TaskKind = TaskKind {
    key: "sh",
    companions: &[],
    read,
};

fn read(
    reader: &mut YamlReader<'_>,
    value: &YamlNode<'_>,
    _companions: &[&Entry<'_, '_>],
) -> Option<KindAction> {
    let command = reader.string("sh", value)?;
    if command.trim().is_empty() {
        reader.report(
            ProblemKind::WrongType {
                key: "sh".to_owned(),
                expected: "a command",
                found: "an empty string",
            },
            value.span.clone(),
        );
        return None;
    }
    let files = script_path(command)
        .map(|path| FileReference {
            path: path.to_owned(),
            span: reader.locate(&value.span, path),
        })
        .into_iter()
        .collect();
    Some(KindAction {
        action: TaskAction::Sh {
            command: command.to_owned(),
        },
        templates: vec![TemplateText {
            text: command.to_owned(),
            span: value.span.clone(),
        }],
        files,
        workflows: Vec::new(),
        sql: None,
    })
}

/// The script a command runs when its first word is a project-relative path such as
/// `./scripts/extract.sh`. A path built by a template is only known at run time, so it is
/// not checked.
fn script_path(command: &str) -> Option<&str> {
    let first = command
        .trim_start()
        .split(|character: char| character.is_whitespace() || ";|&<>()".contains(character))
        .next()?;
    let is_relative = first.starts_with("./") || first.starts_with("../");
    let is_templated = ["{{", "{%", "{#"]
        .iter()
        .any(|marker| first.contains(marker));
    (is_relative && !is_templated).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_script_a_command_starts_with() {
        assert_eq!(
            script_path("./scripts/extract.sh {{ ds }}"),
            Some("./scripts/extract.sh")
        );
        assert_eq!(script_path("  ../bin/run;echo done"), Some("../bin/run"));
    }

    #[test]
    fn ignores_commands_on_the_path_and_templated_paths() {
        assert_eq!(script_path("echo ./not/checked"), None);
        assert_eq!(script_path("./scripts/{{ params.name }}.sh"), None);
        assert_eq!(script_path("/usr/bin/env true"), None);
    }
}
