//! A YAML tree that remembers where every node came from.

use std::borrow::Cow;
use std::ops::Range;

/// One node of a parsed YAML document with its byte range in the file.
///
/// Mappings keep every entry in file order, duplicates included, so that a task defined twice
/// can be reported instead of silently replaced.
#[derive(Debug, Clone)]
pub(crate) struct YamlNode<'a> {
    pub span: Range<usize>,
    pub value: YamlValue<'a>,
}

#[derive(Debug, Clone)]
pub(crate) enum YamlValue<'a> {
    Null,
    Bool(bool),
    Integer(i64),
    Float(f64),
    String(Cow<'a, str>),
    /// A scalar whose explicit tag does not fit its text, e.g. `!!int abc`.
    Invalid(Cow<'a, str>),
    Sequence(Vec<YamlNode<'a>>),
    Mapping(Vec<(YamlNode<'a>, YamlNode<'a>)>),
}

impl<'a> YamlNode<'a> {
    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.value {
            YamlValue::String(text) => Some(text),
            _ => None,
        }
    }

    /// The text a scalar key is written as, whatever it resolves to: `1:` and `true:` are keys
    /// too, and should be reported by name.
    pub(crate) fn key_text(&self) -> Option<Cow<'_, str>> {
        match &self.value {
            YamlValue::String(text) | YamlValue::Invalid(text) => Some(Cow::Borrowed(text)),
            YamlValue::Null => Some(Cow::Borrowed("null")),
            YamlValue::Bool(value) => Some(Cow::Owned(value.to_string())),
            YamlValue::Integer(value) => Some(Cow::Owned(value.to_string())),
            YamlValue::Float(value) => Some(Cow::Owned(value.to_string())),
            YamlValue::Sequence(_) | YamlValue::Mapping(_) => None,
        }
    }

    /// What the value is, for messages such as "found a string".
    pub(crate) fn describe(&self) -> &'static str {
        match &self.value {
            YamlValue::Null => "nothing (null)",
            YamlValue::Bool(_) => "true/false",
            YamlValue::Integer(_) => "a whole number",
            YamlValue::Float(_) => "a decimal number",
            YamlValue::String(_) => "a string",
            YamlValue::Invalid(_) => "a value that does not match its tag",
            YamlValue::Sequence(_) => "a list",
            YamlValue::Mapping(_) => "a map",
        }
    }

    /// The node as JSON, for `params`. Non-string keys become their text; a float that JSON
    /// cannot hold (NaN, infinity) becomes null.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.value {
            YamlValue::Null => Value::Null,
            YamlValue::Bool(value) => Value::Bool(*value),
            YamlValue::Integer(value) => Value::from(*value),
            YamlValue::Float(value) => serde_json::Number::from_f64(*value)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            YamlValue::String(text) | YamlValue::Invalid(text) => Value::String(text.to_string()),
            YamlValue::Sequence(items) => Value::Array(items.iter().map(Self::to_json).collect()),
            YamlValue::Mapping(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(key, value)| {
                        let key = key
                            .key_text()
                            .map(Cow::into_owned)
                            .unwrap_or_else(|| key.to_json().to_string());
                        (key, value.to_json())
                    })
                    .collect(),
            ),
        }
    }

    /// How many nodes this subtree holds, counting itself.
    pub(crate) fn size(&self) -> usize {
        let mut count = 0;
        let mut stack = vec![self];
        while let Some(node) = stack.pop() {
            count += 1;
            match &node.value {
                YamlValue::Sequence(items) => stack.extend(items),
                YamlValue::Mapping(entries) => {
                    for (key, value) in entries {
                        stack.push(key);
                        stack.push(value);
                    }
                }
                _ => {}
            }
        }
        count
    }
}
