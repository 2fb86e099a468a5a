//! `sh: <command>`: a shell command (a template), run with `sh -c`, with `env: { NAME:
//! value }` for its environment (each value a template: `PGPASSWORD: "{{ conn.wh.password
//! }}"` gives a connection's secret to the command without writing it in the command line).

use tidewater_core::TaskAction;

use super::{FileReference, KindAction, NameRule, TaskKind, TemplateText, named_templates};
use crate::ProblemKind;
use crate::yaml_node::YamlNode;
use crate::yaml_reader::{Entry, YamlReader};

pub(crate) const KIND: TaskKind = TaskKind {
    key: "sh",
    companions: &["env"],
    read,
};

fn read(
    reader: &mut YamlReader<'_>,
    value: &YamlNode<'_>,
    companions: &[&Entry<'_, '_>],
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
    let mut templates = vec![TemplateText {
        text: command.to_owned(),
        span: value.span.clone(),
    }];
    let env = match companions.iter().find(|entry| entry.name == "env") {
        Some(entry) => named_templates(reader, "env", entry.value, &ENV_NAME, &mut templates)?,
        None => Vec::new(),
    };
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
            env,
        },
        templates,
        files,
        workflows: Vec::new(),
        sql: None,
    })
}

/// `env: { NAME: value }`: names a shell can use.
const ENV_NAME: NameRule = NameRule {
    is_valid: |name| {
        name.chars()
            .next()
            .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
            && name
                .chars()
                .all(|character| character.is_ascii_alphanumeric() || character == '_')
    },
    what: "an environment variable name",
    hint: "letters, digits and `_`, e.g. `PGPASSWORD`",
};

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
