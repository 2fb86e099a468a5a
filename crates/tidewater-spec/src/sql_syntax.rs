//! The syntax check of `sql` tasks: `validate` parses each query as DataFusion will, so that
//! `SELEC 1` is reported at its file, line and column instead of failing its first run.
//!
//! DataFusion parses with `sqlparser` and, by default, its `GenericDialect`
//! (`datafusion.sql_parser.dialect = "generic"`); its own parser (`DFParser`) only adds
//! statements a task may not run anyway (`CREATE EXTERNAL TABLE`, `COPY`, `EXPLAIN`, `RESET`),
//! and hands everything else to `sqlparser`'s. So a query that parses here parses there, and a
//! syntax error here is one there. The query is what a run would send: the template rendered,
//! here with the sample values of validation.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use sqlparser::dialect::GenericDialect;
use sqlparser::parser::{Parser, ParserError};

use crate::kinds::SqlSource;
use crate::template_check::{TemplateCheck, TemplateOwner};
use crate::yaml_reader::YamlReader;
use crate::{Problem, ProblemKind};

/// A syntax error in a query, and where `sqlparser` found it in the text it parsed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SqlSyntaxError {
    /// The parser's message without its position, e.g. `Expected: an SQL statement, found: SELEC`.
    pub detail: String,
    /// The 1-based line and column (in characters) in the parsed text; the parser gives none
    /// for an error at the end of the text.
    pub position: Option<(usize, usize)>,
}

/// DataFusion's `sql_parser.recursion_limit` default, which is also `sqlparser`'s: nesting
/// deeper than this fails there, so it fails here (and the parse cannot overflow the stack).
const RECURSION_LIMIT: usize = 50;

/// Statements DataFusion's own parser reads before `sqlparser` sees them. A task may run none
/// of them (the runner refuses anything but one `SELECT`/`WITH` query, with a message that says
/// so), so they are left to that message instead of a syntax error that might not be DataFusion's.
const DATAFUSION_STATEMENTS: &[&str] = &["create", "copy", "explain", "reset"];

/// Parses `sql` as DataFusion does.
pub(crate) fn parse_query(sql: &str) -> Result<(), SqlSyntaxError> {
    let first_word = sql
        .split(|character: char| !character.is_alphanumeric() && character != '_')
        .find(|word| !word.is_empty())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if DATAFUSION_STATEMENTS.contains(&first_word.as_str()) {
        return Ok(());
    }
    let parsed = Parser::new(&GenericDialect {})
        .with_recursion_limit(RECURSION_LIMIT)
        .try_with_sql(sql)
        .and_then(|mut parser| parser.parse_statements());
    match parsed {
        Ok(_) => Ok(()),
        Err(error) => Err(SqlSyntaxError::from_parser(&error)),
    }
}

impl SqlSyntaxError {
    /// `sqlparser` puts the position only into its message, as ` at Line: 3, Column: 8`.
    fn from_parser(error: &ParserError) -> SqlSyntaxError {
        let message = match error {
            ParserError::TokenizerError(message) | ParserError::ParserError(message) => {
                message.as_str()
            }
            ParserError::RecursionLimitExceeded => {
                return SqlSyntaxError {
                    detail: format!("the query nests deeper than {RECURSION_LIMIT} levels"),
                    position: None,
                };
            }
        };
        let parsed = message
            .rsplit_once(" at Line: ")
            .and_then(|(detail, place)| {
                let (line, column) = place.split_once(", Column: ")?;
                Some((detail, (line.parse().ok()?, column.parse().ok()?)))
            });
        match parsed {
            Some((detail, position)) => SqlSyntaxError {
                detail: detail.to_owned(),
                position: Some(position),
            },
            None => SqlSyntaxError {
                detail: message.to_owned(),
                position: None,
            },
        }
    }
}

/// Checks the query of one `sql` task and reports a syntax error where it is written: in the
/// workflow file for inline SQL, in the `.sql` file for `file:` SQL. A query that cannot be
/// rendered with sample values (a template problem, reported elsewhere, or the output of
/// another task) is not checked; a missing file is reported elsewhere.
pub(crate) fn check_sql(
    reader: &mut YamlReader<'_>,
    templates: &TemplateCheck<'_>,
    owner: TemplateOwner<'_>,
    source: &SqlSource,
    project_root: &Path,
) {
    match source {
        SqlSource::Inline(template) => {
            let Some(rendered) = templates.sample_render(owner, &template.text) else {
                return;
            };
            let Err(error) = parse_query(&rendered) else {
                return;
            };
            let span = match template_offset(&template.text, &rendered, &error) {
                Some(place) => span_in_scalar(reader, &template.span, &template.text, place),
                None => template.span.clone(),
            };
            reader.report(
                ProblemKind::SqlSyntax {
                    detail: error.detail,
                },
                span,
            );
        }
        SqlSource::File(relative) => {
            let path = project_root.join(relative);
            // A missing file is reported already; an unreadable one fails at run time with
            // the reason.
            let Ok(text) = std::fs::read_to_string(&path) else {
                return;
            };
            let Some(rendered) = templates.sample_render(owner, &text) else {
                return;
            };
            let Err(error) = parse_query(&rendered) else {
                return;
            };
            let span = match template_offset(&text, &rendered, &error) {
                Some(TemplatePlace::Exact(offset)) => word_at(&text, offset),
                Some(TemplatePlace::Line(line)) => line,
                None => 0..0,
            };
            reader.push(Problem::at(
                ProblemKind::SqlSyntax {
                    detail: error.detail,
                },
                &path,
                Arc::from(text),
                span,
            ));
        }
    }
}

/// Where an error of the rendered query is in the template it was rendered from, as byte
/// offsets into the template.
#[derive(Debug, PartialEq, Eq)]
enum TemplatePlace {
    /// The very character.
    Exact(usize),
    /// Somewhere on this line (its range, without the newline).
    Line(Range<usize>),
}

/// Maps the error's line and column in the rendered query back to the template. Rendering
/// keeps lines without tags as they are, so the rendered line is looked up verbatim in the
/// template: the same line number first, else its first copy. A line that an expression
/// changed (`WHERE dt = '{{ ds }}'`) is not in the template; then the line with the same
/// number is named, which is right unless `{% if %}` or `{% for %}` blocks added or removed
/// lines above it — the place is approximate then. An error at the end of the query (the
/// parser gives no position) is placed after its last character.
fn template_offset(
    template: &str,
    rendered: &str,
    error: &SqlSyntaxError,
) -> Option<TemplatePlace> {
    let (line_number, column) = error.position.unwrap_or_else(|| end_position(rendered));
    let rendered_line = rendered.lines().nth(line_number.checked_sub(1)?)?;
    let template_lines = line_ranges(template);
    let same_line = template_lines
        .get(line_number - 1)
        .filter(|range| &template[(*range).clone()] == rendered_line);
    let copy = || {
        template_lines
            .iter()
            .find(|range| &template[(*range).clone()] == rendered_line)
    };
    let within = rendered_line
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(rendered_line.len(), |(offset, _)| offset);
    if let Some(range) = same_line.or_else(copy) {
        return Some(TemplatePlace::Exact(range.start + within));
    }
    let range = template_lines.get(line_number - 1)?.clone();
    let line = &template[range.clone()];
    // The text before the first expression and after the last is the same in both lines:
    // an error there has an exact place, one inside what an expression rendered has none.
    let prefix = common_prefix(line, rendered_line);
    let suffix = common_suffix(&line[prefix..], &rendered_line[prefix..]);
    if within < prefix {
        Some(TemplatePlace::Exact(range.start + within))
    } else if within >= rendered_line.len() - suffix {
        Some(TemplatePlace::Exact(
            range.end - (rendered_line.len() - within),
        ))
    } else {
        Some(TemplatePlace::Line(range))
    }
}

/// The length in bytes of the longest common start of `a` and `b`, on character boundaries.
fn common_prefix(a: &str, b: &str) -> usize {
    a.char_indices()
        .zip(b.chars())
        .find(|((_, left), right)| left != right)
        .map_or(a.len().min(b.len()), |((offset, _), _)| offset)
}

/// The length in bytes of the longest common end of `a` and `b`, on character boundaries.
fn common_suffix(a: &str, b: &str) -> usize {
    a.chars()
        .rev()
        .zip(b.chars().rev())
        .take_while(|(left, right)| left == right)
        .map(|(character, _)| character.len_utf8())
        .sum()
}

/// The line and column just after the last character that is not white space.
fn end_position(text: &str) -> (usize, usize) {
    let trimmed = text.trim_end();
    let line = trimmed.lines().count().max(1);
    let column = trimmed
        .lines()
        .last()
        .map_or(0, |last| last.chars().count())
        + 1;
    (line, column)
}

/// The byte range of every line of `text`, without line endings.
fn line_ranges(text: &str) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let content = line.trim_end_matches('\n').trim_end_matches('\r');
        ranges.push(start..start + content.len());
        start += line.len();
    }
    ranges
}

/// The word that starts at `offset` (up to white space), or an empty span at the end of the
/// text.
fn word_at(text: &str, offset: usize) -> Range<usize> {
    let rest = text.get(offset..).unwrap_or_default();
    let length = rest.find(char::is_whitespace).unwrap_or(rest.len());
    offset..offset + length
}

/// Where a place of the template is in the workflow file. The template is the value of a YAML
/// scalar whose source is at `scalar`: a block scalar (`|`) holds each line verbatim after its
/// indentation, a one-line plain or quoted scalar holds the line itself, so each line of the
/// template is looked up in the source, in order. Escapes and folding can make a line differ
/// from its source; then the word at the place is looked up, and failing that the whole value
/// is named.
fn span_in_scalar(
    reader: &YamlReader<'_>,
    scalar: &Range<usize>,
    template: &str,
    place: TemplatePlace,
) -> Range<usize> {
    let (line_index, within_line) = match &place {
        TemplatePlace::Exact(offset) => {
            let ranges = line_ranges(template);
            let index = ranges
                .iter()
                .position(|range| range.contains(offset) || range.end == *offset)
                .unwrap_or(0);
            (
                index,
                Some(offset - ranges.get(index).map_or(0, |range| range.start)),
            )
        }
        TemplatePlace::Line(range) => (
            line_ranges(template)
                .iter()
                .position(|line| line == range)
                .unwrap_or(0),
            None,
        ),
    };
    let source = reader.text();
    let mut cursor = scalar.start;
    let mut found = None;
    for (index, range) in line_ranges(template).iter().enumerate() {
        let line = &template[range.clone()];
        let Some(position) = source
            .get(cursor..scalar.end)
            .and_then(|rest| rest.find(line))
        else {
            break;
        };
        let start = cursor + position;
        cursor = start + line.len();
        if index == line_index {
            found = Some(start..cursor);
            break;
        }
    }
    match (found, within_line) {
        (Some(line), Some(within)) => {
            let offset = line.start + within;
            let word = word_at(source, offset);
            offset..word.end.min(line.end)
        }
        (Some(line), None) => line,
        (None, _) => {
            let word = match &place {
                TemplatePlace::Exact(offset) => {
                    let word = word_at(template, *offset);
                    &template[word]
                }
                TemplatePlace::Line(range) => template[range.clone()].trim(),
            };
            reader.locate(scalar, word)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_position_out_of_the_parser_message() {
        let error = parse_query("SELECT 1\nFROM t\nWHERE a = )").unwrap_err();
        assert_eq!(error.position, Some((3, 11)));
        assert!(error.detail.ends_with("found: )"), "{}", error.detail);
        assert!(!error.detail.contains("Line:"), "{}", error.detail);
    }

    #[test]
    fn accepts_what_datafusion_accepts() {
        for sql in [
            "SELECT * FROM read_csv('data/orders.csv')",
            "WITH a AS (SELECT 1 AS x) SELECT x FROM a",
            "SELECT CAST('2026-01-01' AS DATE) + INTERVAL '1 day'",
            "SELECT a::int, b FROM raw.orders WHERE dt = '2026-01-01' ORDER BY a LIMIT 5;",
            "COPY (SELECT 1) TO 'out.parquet'",
            "",
        ] {
            assert_eq!(parse_query(sql), Ok(()), "{sql}");
        }
    }

    #[test]
    fn maps_a_rendered_line_back_to_the_template() {
        let template = "SELECT *\nFROM t\nWHERE dt = '{{ ds }}' AND\n";
        let rendered = "SELECT *\nFROM t\nWHERE dt = '2026-01-01' AND\n";
        let error = parse_query(rendered).unwrap_err();
        assert_eq!(error.position, None);
        // The end of the query is after the expression that changed its line: the same
        // distance from the end of the template's line.
        assert_eq!(
            template_offset(template, rendered, &error),
            Some(TemplatePlace::Exact(41))
        );
        // Inside what the expression rendered: the line is named.
        let error = SqlSyntaxError {
            detail: String::new(),
            position: Some((3, 15)),
        };
        assert_eq!(
            template_offset(template, rendered, &error),
            Some(TemplatePlace::Line(16..41))
        );
        let error = SqlSyntaxError {
            detail: String::new(),
            position: Some((2, 6)),
        };
        assert_eq!(
            template_offset(template, rendered, &error),
            Some(TemplatePlace::Exact(14))
        );
    }
}
