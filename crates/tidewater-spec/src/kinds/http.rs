//! `http: { method, url, headers, body, expect, retry_on, output }`: one HTTP request.

use std::ops::RangeInclusive;

use tidewater_core::{HttpAction, HttpBody, HttpMethod, HttpOutput, StatusCodes, TaskAction};

use super::{KindAction, NameRule, TaskKind, TemplateText, named_templates};
use crate::ProblemKind;
use crate::yaml_node::{YamlNode, YamlValue};
use crate::yaml_reader::{Entry, YamlReader};

pub(crate) const KIND: TaskKind = TaskKind {
    key: "http",
    companions: &[],
    read,
};

const HTTP_KEYS: &[&str] = &[
    "method", "url", "headers", "body", "expect", "retry_on", "output",
];
const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
const STATUS_HINT: &str =
    "e.g. `expect: [200, 204]`, `expect: 2xx` or `expect: [\"200-299\", 304]`";

fn read(
    reader: &mut YamlReader<'_>,
    value: &YamlNode<'_>,
    _companions: &[&Entry<'_, '_>],
) -> Option<KindAction> {
    let entries = reader.entries("`http`", value)?;
    let mut templates = Vec::new();
    let mut method = Some(HttpMethod::default());
    let mut url = None;
    let mut headers = Some(Vec::new());
    let mut body = Some(None);
    let mut expect = Some(StatusCodes::success());
    let mut retry_on = Some(StatusCodes::default());
    let mut output = Some(HttpOutput::default());
    for entry in &entries {
        match entry.name.as_ref() {
            "method" => {
                method = reader.choice("method", entry.value, METHODS, HttpMethod::parse);
            }
            "url" => {
                url = reader.string("url", entry.value).map(|text| {
                    templates.push(TemplateText {
                        text: text.to_owned(),
                        span: entry.value.span.clone(),
                    });
                    text.to_owned()
                });
            }
            "headers" => {
                headers =
                    named_templates(reader, "headers", entry.value, &HEADER_NAME, &mut templates)
            }
            "body" => body = read_body(reader, entry.value, &mut templates).map(Some),
            "expect" => expect = status_codes(reader, "expect", entry.value),
            "retry_on" => retry_on = status_codes(reader, "retry_on", entry.value),
            "output" => output = read_output(reader, entry.value),
            _ => reader.unknown_key(entry, "`http`", HTTP_KEYS.to_vec()),
        }
    }
    if url.is_none() && !entries.iter().any(|entry| entry.name == "url") {
        reader.report(
            ProblemKind::InvalidValue {
                what: "`http` needs a `url`".to_owned(),
                hint: Some(
                    "e.g. `http: { url: \"https://api.example.com/orders?date={{ ds }}\" }`"
                        .to_owned(),
                ),
            },
            value.span.clone(),
        );
    }
    let action = HttpAction {
        method: method?,
        url: url?,
        headers: headers?,
        body: body?,
        expect: expect?,
        retry_on: retry_on?,
        output: output?,
    };
    Some(KindAction {
        action: TaskAction::Http(action),
        templates,
        files: Vec::new(),
        workflows: Vec::new(),
        sql: None,
    })
}

/// `headers: { Name: value }`: HTTP tokens (RFC 9110).
const HEADER_NAME: NameRule = NameRule {
    is_valid: |name| {
        !name.is_empty()
            && name
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte))
    },
    what: "an HTTP header name",
    hint: "e.g. `Authorization` or `X-Request-Id`",
};

/// A string is sent as written; a map or a list as JSON, each string in it a template.
pub(crate) fn read_body(
    reader: &mut YamlReader<'_>,
    node: &YamlNode<'_>,
    templates: &mut Vec<TemplateText>,
) -> Option<HttpBody> {
    match &node.value {
        YamlValue::String(text) => {
            templates.push(TemplateText {
                text: text.to_string(),
                span: node.span.clone(),
            });
            Some(HttpBody::Text(text.to_string()))
        }
        YamlValue::Mapping(_) | YamlValue::Sequence(_) => {
            reader.check_nested_duplicates("`body`", node);
            collect_strings(node, templates);
            Some(HttpBody::Json(node.to_json()))
        }
        _ => {
            reader.wrong_type("body", "a string, a map or a list", node);
            None
        }
    }
}

/// Every string inside a JSON body (or a `call`'s params), as templates to check.
pub(super) fn collect_strings(node: &YamlNode<'_>, templates: &mut Vec<TemplateText>) {
    match &node.value {
        YamlValue::String(text) => templates.push(TemplateText {
            text: text.to_string(),
            span: node.span.clone(),
        }),
        YamlValue::Sequence(items) => {
            for item in items {
                collect_strings(item, templates);
            }
        }
        YamlValue::Mapping(pairs) => {
            for (_, value) in pairs {
                collect_strings(value, templates);
            }
        }
        _ => {}
    }
}

fn read_output(reader: &mut YamlReader<'_>, node: &YamlNode<'_>) -> Option<HttpOutput> {
    let text = reader.string("output", node)?;
    if text == "response" {
        return Some(HttpOutput::Response);
    }
    if text.is_empty() || text.starts_with('/') {
        return Some(HttpOutput::Pointer(text.to_owned()));
    }
    reader.report(
        ProblemKind::InvalidValue {
            what: format!("`output: {text}` is neither `response` nor a JSON pointer"),
            hint: Some(
                "a JSON pointer starts with `/`, e.g. `output: /data/id`; `response` (the default) is the whole response"
                    .to_owned(),
            ),
        },
        node.span.clone(),
    );
    None
}

/// `200`, `[200, 204]`, `2xx`, `"200-299"`, or a list of these.
fn status_codes(
    reader: &mut YamlReader<'_>,
    key: &str,
    node: &YamlNode<'_>,
) -> Option<StatusCodes> {
    let items: &[YamlNode<'_>] = match &node.value {
        YamlValue::Sequence(items) => items,
        _ => std::slice::from_ref(node),
    };
    if items.is_empty() {
        reader.report(
            ProblemKind::InvalidValue {
                what: format!("`{key}` needs at least one status"),
                hint: Some(STATUS_HINT.to_owned()),
            },
            node.span.clone(),
        );
        return None;
    }
    let mut ranges = Vec::with_capacity(items.len());
    let mut is_valid = true;
    for item in items {
        match status_range(item) {
            Some(range) => ranges.push(range),
            None => {
                is_valid = false;
                reader.report(
                    ProblemKind::InvalidValue {
                        what: format!(
                            "`{}` is not an HTTP status (100 to 599), a class such as `2xx` or a range such as `200-299`",
                            &reader.text()[item.span.clone()]
                        ),
                        hint: Some(STATUS_HINT.to_owned()),
                    },
                    item.span.clone(),
                );
            }
        }
    }
    is_valid.then(|| StatusCodes::new(ranges))
}

fn status_range(item: &YamlNode<'_>) -> Option<RangeInclusive<u16>> {
    let range = match &item.value {
        YamlValue::Integer(number) => {
            let status = u16::try_from(*number).ok()?;
            status..=status
        }
        YamlValue::String(text) => {
            let text = text.trim();
            if let Some(class) = text.strip_suffix("xx").or_else(|| text.strip_suffix("XX")) {
                let class: u16 = class.parse().ok()?;
                class * 100..=class * 100 + 99
            } else if let Some((start, end)) = text.split_once('-') {
                start.trim().parse().ok()?..=end.trim().parse().ok()?
            } else {
                let status = text.parse().ok()?;
                status..=status
            }
        }
        _ => return None,
    };
    let is_valid = (100..=599).contains(range.start())
        && (100..=599).contains(range.end())
        && range.start() <= range.end();
    is_valid.then_some(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(value: YamlValue<'static>) -> Option<RangeInclusive<u16>> {
        status_range(&YamlNode { span: 0..0, value })
    }

    #[test]
    fn reads_statuses_classes_and_ranges() {
        assert_eq!(parsed(YamlValue::Integer(204)), Some(204..=204));
        assert_eq!(parsed(YamlValue::String("2xx".into())), Some(200..=299));
        assert_eq!(parsed(YamlValue::String("400-404".into())), Some(400..=404));
        assert_eq!(parsed(YamlValue::String("304".into())), Some(304..=304));
    }

    #[test]
    fn refuses_what_is_not_a_status() {
        assert_eq!(parsed(YamlValue::Integer(99)), None);
        assert_eq!(parsed(YamlValue::Integer(600)), None);
        assert_eq!(parsed(YamlValue::String("7xx".into())), None);
        assert_eq!(parsed(YamlValue::String("404-400".into())), None);
        assert_eq!(parsed(YamlValue::String("ok".into())), None);
    }
}
