use std::fmt;
use std::path::Path;

use miette::{GraphicalReportHandler, GraphicalTheme};

use crate::Problem;

/// Every problem found while reading a project or its workflows, in file order.
///
/// A loader keeps going after the first problem so that one `tidewater validate` shows
/// everything to fix.
#[derive(Debug, Default)]
pub struct Diagnostics {
    problems: Vec<Problem>,
}

/// Rendered lines are wrapped at this width, so output does not depend on the terminal.
const RENDER_WIDTH: usize = 100;

impl Diagnostics {
    pub fn new() -> Diagnostics {
        Diagnostics::default()
    }

    pub fn push(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.problems.extend(other.problems);
    }

    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn len(&self) -> usize {
        self.problems.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Problem> {
        self.problems.iter()
    }

    /// Orders problems of one file by where they are, so output reads top to bottom; problems
    /// the file's checks found in other files (a `.sql` file of a task) follow, in the order
    /// they were found.
    pub(crate) fn sort_by_position(&mut self, file: &Path) {
        self.problems.sort_by_key(|problem| match problem.path() {
            Some(path) if path != file => (1, 0),
            _ => (0, problem.span().map_or(0, |span| span.start)),
        });
    }

    /// Every problem as miette draws it: file, line and column, the source with a caret,
    /// and the hint. `color` picks ANSI colors; without it the output is plain text.
    pub fn render(&self, color: bool) -> String {
        let theme = if color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        let handler = GraphicalReportHandler::new_themed(theme)
            .with_width(RENDER_WIDTH)
            .with_links(false);
        let mut output = String::new();
        for problem in &self.problems {
            // Writing into a String cannot fail; a failing Display impl inside miette would
            // only cut this problem short, which is better than losing the others.
            let _ = handler.render_report(&mut output, problem);
            output.push('\n');
        }
        output
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

impl std::error::Error for Diagnostics {}

impl From<Problem> for Diagnostics {
    fn from(problem: Problem) -> Diagnostics {
        Diagnostics {
            problems: vec![problem],
        }
    }
}

impl FromIterator<Problem> for Diagnostics {
    fn from_iter<I: IntoIterator<Item = Problem>>(iter: I) -> Diagnostics {
        Diagnostics {
            problems: iter.into_iter().collect(),
        }
    }
}

impl IntoIterator for Diagnostics {
    type Item = Problem;
    type IntoIter = std::vec::IntoIter<Problem>;

    fn into_iter(self) -> Self::IntoIter {
        self.problems.into_iter()
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Problem;
    type IntoIter = std::slice::Iter<'a, Problem>;

    fn into_iter(self) -> Self::IntoIter {
        self.problems.iter()
    }
}
