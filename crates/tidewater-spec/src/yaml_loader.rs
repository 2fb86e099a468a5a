//! Builds [`YamlNode`] trees from saphyr's parser events, with byte spans.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

use saphyr::Scalar;
use saphyr_parser::{Event, Marker, Parser, ScalarStyle, Span, SpannedEventReceiver, Tag};

use crate::yaml_node::{YamlNode, YamlValue};

/// Aliases are expanded by copying the anchored node. Past this many copied nodes the file is
/// refused, so that a "billion laughs" document cannot exhaust memory.
const MAX_ALIAS_NODES: usize = 1_000_000;

/// The documents of one YAML file.
#[derive(Debug)]
pub(crate) struct LoadedYaml<'a> {
    pub documents: Vec<YamlNode<'a>>,
    /// Where alias expansion was cut off, if it was.
    pub alias_overflow: Option<Range<usize>>,
}

/// A YAML syntax error, with the byte offset the parser stopped at.
#[derive(Debug, Clone)]
pub(crate) struct YamlSyntaxError {
    pub message: String,
    pub offset: usize,
}

pub(crate) fn load_yaml(source: &str) -> Result<LoadedYaml<'_>, YamlSyntaxError> {
    let offsets = ByteOffsets::new(source);
    let mut builder = TreeBuilder {
        offsets: &offsets,
        stack: Vec::new(),
        documents: Vec::new(),
        anchors: HashMap::new(),
        copied_nodes: 0,
        alias_overflow: None,
    };
    let mut parser = Parser::new_from_str(source);
    parser
        .load(&mut builder, true)
        .map_err(|error| YamlSyntaxError {
            message: error.info().to_owned(),
            offset: offsets.byte(error.marker()),
        })?;
    Ok(LoadedYaml {
        documents: builder.documents,
        alias_overflow: builder.alias_overflow,
    })
}

/// Converts saphyr's markers, which count characters, into byte offsets for miette.
struct ByteOffsets<'a> {
    source: &'a str,
    /// The byte offset of each character; empty when the source is ASCII (offsets are equal).
    char_starts: Vec<usize>,
    line_starts: Vec<usize>,
}

impl<'a> ByteOffsets<'a> {
    fn new(source: &'a str) -> Self {
        let char_starts = if source.is_ascii() {
            Vec::new()
        } else {
            source.char_indices().map(|(offset, _)| offset).collect()
        };
        let line_starts = std::iter::once(0)
            .chain(source.match_indices('\n').map(|(offset, _)| offset + 1))
            .collect();
        ByteOffsets {
            source,
            char_starts,
            line_starts,
        }
    }

    fn byte(&self, marker: &Marker) -> usize {
        let from_index = if self.char_starts.is_empty() {
            marker.index().min(self.source.len())
        } else {
            self.char_starts
                .get(marker.index())
                .copied()
                .unwrap_or(self.source.len())
        };
        // The character index is exact in every case we know of; the line is the safer
        // fact, so when the two disagree trust the line and count columns within it.
        let line = marker.line().max(1);
        if self.line_of(from_index) == line {
            return from_index;
        }
        let Some(&line_start) = self.line_starts.get(line - 1) else {
            return from_index;
        };
        let rest = &self.source[line_start..];
        let line_text = rest.split('\n').next().unwrap_or(rest);
        let column_bytes: usize = line_text
            .chars()
            .take(marker.col())
            .map(char::len_utf8)
            .sum();
        line_start + column_bytes
    }

    /// The 1-based line holding `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset)
    }

    fn range(&self, span: &Span) -> Range<usize> {
        let start = self.byte(&span.start);
        let end = self.byte(&span.end).max(start);
        start..end
    }
}

enum Frame<'a> {
    Sequence {
        start: usize,
        anchor: usize,
        items: Vec<YamlNode<'a>>,
    },
    Mapping {
        start: usize,
        anchor: usize,
        entries: Vec<(YamlNode<'a>, YamlNode<'a>)>,
        pending_key: Option<YamlNode<'a>>,
    },
}

struct TreeBuilder<'o, 'a> {
    offsets: &'o ByteOffsets<'o>,
    stack: Vec<Frame<'a>>,
    documents: Vec<YamlNode<'a>>,
    /// Anchored nodes with their sizes, so an alias knows what it costs to copy.
    anchors: HashMap<usize, (YamlNode<'a>, usize)>,
    copied_nodes: usize,
    alias_overflow: Option<Range<usize>>,
}

impl<'a> SpannedEventReceiver<'a> for TreeBuilder<'_, 'a> {
    fn on_event(&mut self, event: Event<'a>, span: Span) {
        let range = self.offsets.range(&span);
        match event {
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd => {}
            Event::Scalar(text, style, anchor, tag) => {
                let node = YamlNode {
                    span: range,
                    value: scalar_value(text, style, tag.as_ref()),
                };
                self.complete(node, anchor);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Sequence {
                start: range.start,
                anchor,
                items: Vec::new(),
            }),
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Mapping {
                start: range.start,
                anchor,
                entries: Vec::new(),
                pending_key: None,
            }),
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return;
                };
                let (start, anchor, value) = match frame {
                    Frame::Sequence {
                        start,
                        anchor,
                        items,
                    } => (start, anchor, YamlValue::Sequence(items)),
                    Frame::Mapping {
                        start,
                        anchor,
                        entries,
                        ..
                    } => (start, anchor, YamlValue::Mapping(entries)),
                };
                let end = range.end.max(start);
                self.complete(
                    YamlNode {
                        span: start..end,
                        value,
                    },
                    anchor,
                );
            }
            Event::Alias(anchor) => {
                let node = match self.anchors.get(&anchor) {
                    Some((node, size)) if self.copied_nodes + size <= MAX_ALIAS_NODES => {
                        self.copied_nodes += size;
                        YamlNode {
                            span: range,
                            value: node.value.clone(),
                        }
                    }
                    Some(_) => {
                        self.alias_overflow.get_or_insert(range.clone());
                        YamlNode {
                            span: range,
                            value: YamlValue::Null,
                        }
                    }
                    None => YamlNode {
                        span: range,
                        value: YamlValue::Null,
                    },
                };
                self.complete(node, 0);
            }
        }
    }
}

impl<'a> TreeBuilder<'_, 'a> {
    /// Places a finished node into its parent (or makes it a document).
    fn complete(&mut self, node: YamlNode<'a>, anchor: usize) {
        // Anchor ids start at 1; 0 means "no anchor".
        if anchor > 0 {
            let size = node.size();
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => self.documents.push(node),
            Some(Frame::Sequence { items, .. }) => items.push(node),
            Some(Frame::Mapping {
                entries,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => *pending_key = Some(node),
                Some(key) => entries.push((key, node)),
            },
        }
    }
}

fn scalar_value<'a>(
    text: Cow<'a, str>,
    style: ScalarStyle,
    tag: Option<&Cow<'a, Tag>>,
) -> YamlValue<'a> {
    match Scalar::parse_from_cow_and_metadata(text.clone(), style, tag) {
        Some(Scalar::Null) => YamlValue::Null,
        Some(Scalar::Boolean(value)) => YamlValue::Bool(value),
        Some(Scalar::Integer(value)) => YamlValue::Integer(value),
        Some(Scalar::FloatingPoint(value)) => YamlValue::Float(value.0),
        Some(Scalar::String(text)) => YamlValue::String(text),
        None => YamlValue::Invalid(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping<'n, 'a>(node: &'n YamlNode<'a>) -> &'n [(YamlNode<'a>, YamlNode<'a>)] {
        match &node.value {
            YamlValue::Mapping(entries) => entries,
            other => panic!("expected a mapping, found {other:?}"),
        }
    }

    #[test]
    fn spans_are_byte_offsets_even_after_multibyte_text() {
        let source = "# 한국어 주석\nname: 서울 # 도시\nretries: 3\n";
        let loaded = load_yaml(source).expect("valid yaml");
        let entries = mapping(&loaded.documents[0]);
        let (key, value) = &entries[1];
        assert_eq!(&source[key.span.clone()], "retries");
        assert_eq!(&source[value.span.clone()], "3");
        assert_eq!(&source[entries[0].1.span.clone()], "서울");
    }

    #[test]
    fn duplicate_keys_are_all_kept_in_order() {
        let loaded = load_yaml("a: 1\nb: 2\na: 3\n").expect("valid yaml");
        let keys: Vec<_> = mapping(&loaded.documents[0])
            .iter()
            .map(|(key, _)| key.as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(keys, ["a", "b", "a"]);
    }

    #[test]
    fn syntax_errors_carry_the_byte_offset() {
        let source = "a: [1, 2\nb: 3\n";
        let error = load_yaml(source).expect_err("unclosed flow sequence");
        assert!(error.offset <= source.len());
        assert!(!error.message.is_empty());
    }

    #[test]
    fn alias_bombs_are_cut_off() {
        let mut source = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..10 {
            let previous = format!("*a{}", level - 1);
            let items = vec![previous; 10].join(", ");
            source.push_str(&format!("a{level}: &a{level} [{items}]\n"));
        }
        let loaded = load_yaml(&source).expect("valid yaml");
        assert!(loaded.alias_overflow.is_some());
    }
}
