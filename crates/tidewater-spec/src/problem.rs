use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{LabeledSpan, NamedSource, SourceCode};

use crate::ProblemKind;

/// One problem found in a project or workflow file: what is wrong ([`ProblemKind`]), and
/// where (the file, and a byte span inside it). It renders as a miette diagnostic with the
/// file name, line, column, a caret under the span and a hint.
#[derive(Debug)]
pub struct Problem {
    kind: ProblemKind,
    location: Option<Location>,
}

#[derive(Debug)]
struct Location {
    path: PathBuf,
    source: NamedSource<Arc<str>>,
    span: Range<usize>,
    /// Further places worth showing, e.g. where a duplicated key was first given.
    related: Vec<(Range<usize>, &'static str)>,
}

impl Problem {
    /// A problem that no single place in a file shows, such as a missing project file.
    pub(crate) fn new(kind: ProblemKind) -> Problem {
        Problem {
            kind,
            location: None,
        }
    }

    /// A problem at `span` (bytes) of `text`, the contents of the file at `path`.
    pub(crate) fn at(
        kind: ProblemKind,
        path: &Path,
        text: Arc<str>,
        span: Range<usize>,
    ) -> Problem {
        let span = clamp_to_text(&text, span);
        Problem {
            kind,
            location: Some(Location {
                path: path.to_path_buf(),
                source: NamedSource::new(path.display().to_string(), text),
                span,
                related: Vec::new(),
            }),
        }
    }

    /// Adds a second labelled place in the same file.
    pub(crate) fn with_related(mut self, span: Range<usize>, label: &'static str) -> Problem {
        if let Some(location) = &mut self.location {
            let span = clamp_to_text(location.source.inner(), span);
            location.related.push((span, label));
        }
        self
    }

    pub fn kind(&self) -> &ProblemKind {
        &self.kind
    }

    /// The file the problem is in, as its path was given.
    pub fn path(&self) -> Option<&Path> {
        self.location
            .as_ref()
            .map(|location| location.path.as_path())
    }

    /// The byte range the problem points at.
    pub fn span(&self) -> Option<Range<usize>> {
        self.location.as_ref().map(|location| location.span.clone())
    }

    /// The 1-based line and column (in characters) of the start of the span.
    pub fn line_column(&self) -> Option<(usize, usize)> {
        let location = self.location.as_ref()?;
        let before = &location.source.inner()[..location.span.start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |index| index + 1);
        let column = before[line_start..].chars().count() + 1;
        Some((line, column))
    }
}

/// Keeps a span inside the text and on character boundaries, so rendering can never panic
/// whatever offsets a parser reported.
fn clamp_to_text(text: &str, span: Range<usize>) -> Range<usize> {
    let start = text.floor_char_boundary(span.start.min(text.len()));
    let end = text
        .floor_char_boundary(span.end.min(text.len()))
        .max(start);
    start..end
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)
    }
}

impl std::error::Error for Problem {}

impl miette::Diagnostic for Problem {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.kind.code()))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.kind
            .help()
            .map(|help| Box::new(help) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.location
            .as_ref()
            .map(|location| &location.source as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let location = self.location.as_ref()?;
        let primary = LabeledSpan::new_primary_with_span(
            Some(self.kind.label().to_owned()),
            location.span.clone(),
        );
        let related = location.related.iter().map(|(span, label)| {
            LabeledSpan::new_with_span(Some((*label).to_owned()), span.clone())
        });
        Some(Box::new(std::iter::once(primary).chain(related)))
    }
}
