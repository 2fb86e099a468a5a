//! `on_failure: { webhook: { url, body } }` (and `on_success`, `on_deadline_miss`,
//! `on_retry`): a handler that is a webhook rather than a task; and `on_retry: { sh: … }`,
//! a command that is no task either (see [`tidewater_core::Workflow::on_retry_command`]).

use tidewater_core::{NotificationEvent, Webhook};

use crate::ProblemKind;
use crate::kinds::{TemplateText, read_body};
use crate::template_environment::template_environment;
use crate::yaml_node::{YamlNode, YamlValue};
use crate::yaml_reader::YamlReader;

const WEBHOOK_KEYS: &[&str] = &["url", "body"];
const URL_EXAMPLE: &str =
    "e.g. `on_failure: { webhook: { url: \"https://hooks.slack.com/services/T000/B000/XXXX\" } }`";

/// Whether a handler's value is a webhook (`{ webhook: … }`) rather than a task.
pub(crate) fn is_webhook(value: &YamlNode<'_>) -> bool {
    matches!(&value.value, YamlValue::Mapping(pairs)
        if pairs.iter().any(|(key, _)| key.key_text().is_some_and(|name| name == "webhook")))
}

/// Reads `{ webhook: { url, body } }` for `event`, reporting every problem at its place.
pub(crate) fn read_webhook(
    reader: &mut YamlReader<'_>,
    event: NotificationEvent,
    value: &YamlNode<'_>,
) -> Option<Webhook> {
    let context = format!("`{event}`");
    let entries = reader.entries(&context, value)?;
    let mut webhook = None;
    for entry in &entries {
        if entry.name == "webhook" {
            webhook = Some(entry.value);
        } else {
            // A webhook handler is no task: it has no `sh`, `retries` or `timeout`.
            reader.unknown_key(entry, &context, vec!["webhook"]);
        }
    }
    let Some(node) = webhook else {
        reader.report(
            ProblemKind::MissingKey {
                key: "webhook",
                context,
                example: "webhook: { url: \"https://hooks.example.com/tidewater\" }",
            },
            value.span.clone(),
        );
        return None;
    };
    let entries = reader.entries("`webhook`", node)?;
    let mut templates = Vec::new();
    let mut url = None;
    let mut body = Some(None);
    for entry in &entries {
        match entry.name.as_ref() {
            "url" => url = read_url(reader, entry.value),
            "body" => body = read_body(reader, entry.value, &mut templates).map(Some),
            _ => reader.unknown_key(entry, "`webhook`", WEBHOOK_KEYS.to_vec()),
        }
    }
    if !entries.iter().any(|entry| entry.name == "url") {
        reader.report(
            ProblemKind::InvalidValue {
                what: "`webhook` needs a `url`".to_owned(),
                hint: Some(URL_EXAMPLE.to_owned()),
            },
            node.span.clone(),
        );
    }
    // The body may name the notification's own variables (`event`, `failed_tasks`,
    // `run_url`…) besides the run's: its syntax is checked here, its names when it renders.
    for template in &templates {
        check_syntax(reader, template);
    }
    Some(Webhook {
        event,
        url: url?,
        body: body?,
    })
}

/// Reads `on_retry: { sh: "command" }`, the command a template, reporting every problem at
/// its place. Only `sh`: the command runs outside the run's DAG, so a task's keys (`retries`,
/// `pool`…) would mean nothing.
pub(crate) fn read_retry_command(
    reader: &mut YamlReader<'_>,
    value: &YamlNode<'_>,
) -> Option<String> {
    let context = format!("`{}`", NotificationEvent::OnRetry);
    let entries = reader.entries(&context, value)?;
    let mut command = None;
    let mut is_valid = true;
    for entry in &entries {
        if entry.name == "sh" {
            command = reader.string("sh", entry.value).map(|text| TemplateText {
                text: text.to_owned(),
                span: entry.value.span.clone(),
            });
            is_valid &= command.is_some();
        } else {
            reader.unknown_key(entry, &context, vec!["sh", "webhook"]);
            is_valid = false;
        }
    }
    let Some(command) = command else {
        if is_valid {
            reader.report(
                ProblemKind::MissingKey {
                    key: "sh",
                    context,
                    example: "sh: echo \"{{ retried_task }} failed attempt {{ attempt }}\" >> retries.log",
                },
                value.span.clone(),
            );
        }
        return None;
    };
    (check_syntax(reader, &command) && is_valid).then_some(command.text)
}

/// An `http://` or `https://` URL with a host, or a template that renders to one.
fn read_url(reader: &mut YamlReader<'_>, node: &YamlNode<'_>) -> Option<String> {
    let text = reader.string("url", node)?;
    if text.contains('{') {
        let template = TemplateText {
            text: text.to_owned(),
            span: node.span.clone(),
        };
        return check_syntax(reader, &template).then(|| text.to_owned());
    }
    let host = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
        .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or(""));
    match host {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => {
            Some(text.to_owned())
        }
        _ => {
            reader.report(
                ProblemKind::InvalidValue {
                    what: format!("`{text}` is not an http:// or https:// URL"),
                    hint: Some(URL_EXAMPLE.to_owned()),
                },
                node.span.clone(),
            );
            None
        }
    }
}

/// Whether `template` parses; reports it at its place when it does not.
fn check_syntax(reader: &mut YamlReader<'_>, template: &TemplateText) -> bool {
    if !template.text.contains('{') {
        return true;
    }
    match template_environment().template_from_str(&template.text) {
        Ok(_) => true,
        Err(error) => {
            let detail = error.detail().unwrap_or("invalid template").to_owned();
            reader.report(
                ProblemKind::TemplateSyntax { detail },
                template.span.clone(),
            );
            false
        }
    }
}
