//! A quick look at a workflow file's text for its top-level `name`, without parsing the YAML:
//! finding one workflow of a project (`tidewater run X`) then parses only the files that may
//! be `X`, not every other workflow (a 10,000-task file takes tens of milliseconds to parse).
//!
//! The look only answers when the text is plain block YAML; anything unusual at the top level
//! (document markers, flow or quoted keys, block scalars, anchors, tags, escapes) makes it
//! [`NameScan::Unsure`] and the file is parsed as usual.

/// What the text says about the workflow's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NameScan {
    /// No top-level `name` key: the workflow is named after its file.
    Stem,
    Named(String),
    /// Only parsing can tell.
    Unsure,
}

pub(crate) fn scan_name(source: &str) -> NameScan {
    let mut named = None;
    for line in top_level_lines(source) {
        let Some(first) = line.chars().next() else {
            continue;
        };
        if matches!(
            first,
            '-' | '.' | '%' | '{' | '[' | '?' | '&' | '*' | '!' | '"' | '\'' | '\t' | '|' | '>'
        ) {
            return NameScan::Unsure;
        }
        let Some(rest) = line.strip_prefix("name") else {
            continue;
        };
        let Some(value) = rest.strip_prefix(':') else {
            if rest.starts_with([' ', ':']) {
                // `name :` is the key too.
                return NameScan::Unsure;
            }
            continue; // Another key, e.g. `names:`.
        };
        if named.is_some() {
            return NameScan::Unsure; // A duplicate key: the parser reports it.
        }
        match scalar(value) {
            Some(value) => named = Some(value),
            None => return NameScan::Unsure,
        }
    }
    named.map_or(NameScan::Stem, NameScan::Named)
}

/// Every line but the indented ones (starting with a space), which belong to some key's value
/// and cannot hold a top-level key, without its line break (`\n` or `\r\n`). A 10,000-task
/// file has a handful of such lines among tens of thousands: finding line ends with `memchr`
/// halves the look (0.9 ms to 0.45 ms of CPU for a 488 KB file, reading it included).
fn top_level_lines(source: &str) -> impl Iterator<Item = &str> {
    let bytes = source.as_bytes();
    std::iter::once(0)
        .chain(memchr::memchr_iter(b'\n', bytes).map(|end| end + 1))
        .filter(move |&start| start < bytes.len() && bytes[start] != b' ')
        .map(move |start| {
            let end =
                memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |length| start + length);
            // Both ends sit at a line break or the end of the text: character boundaries.
            let line = &source[start..end];
            line.strip_suffix('\r').unwrap_or(line)
        })
}

/// A one-line scalar value (`x`, `"x"`, `'x'`, with an optional comment), or `None` when it
/// is anything else.
fn scalar(value: &str) -> Option<String> {
    if !value.is_empty() && !value.starts_with([' ', '\t']) {
        return None; // `name:x` is a plain scalar key, not the `name` key.
    }
    let value = value.trim();
    if let Some(quoted) = value.strip_prefix('"') {
        let (inner, after) = quoted.split_once('"')?;
        return (!inner.contains('\\') && is_comment_or_nothing(after)).then(|| inner.to_owned());
    }
    if let Some(quoted) = value.strip_prefix('\'') {
        let (inner, after) = quoted.split_once('\'')?;
        return (!after.starts_with('\'') && is_comment_or_nothing(after))
            .then(|| inner.to_owned());
    }
    let plain = match value.split_once(" #") {
        Some((plain, _)) => plain.trim_end(),
        None => value,
    };
    let is_simple = !plain.is_empty()
        && plain
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
    is_simple.then(|| plain.to_owned())
}

fn is_comment_or_nothing(text: &str) -> bool {
    let text = text.trim_start();
    text.is_empty() || (text.starts_with('#'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> NameScan {
        NameScan::Named(name.to_owned())
    }

    #[test]
    fn plain_block_yaml_answers() {
        assert_eq!(scan_name("tasks:\n  a:\n    empty: {}\n"), NameScan::Stem);
        assert_eq!(scan_name("name: daily\ntasks: {}\n"), named("daily"));
        assert_eq!(scan_name("# x\nname: \"daily\"  # c\n"), named("daily"));
        assert_eq!(scan_name("name: 'daily'\n"), named("daily"));
        assert_eq!(scan_name("names: x\nname_x: y\n"), NameScan::Stem);
        // Indented `name:` keys belong to tasks or params, not the workflow.
        assert_eq!(scan_name("tasks:\n  a:\n    name: x\n"), NameScan::Stem);
        // Windows line ends, blank lines, a key after the tasks, no final line break.
        assert_eq!(
            scan_name("tasks:\r\n  a: {}\r\n\r\nname: w\r\n"),
            named("w")
        );
        assert_eq!(scan_name("tasks:\n  a: {}\n\nname: w"), named("w"));
        assert_eq!(scan_name(""), NameScan::Stem);
        assert_eq!(scan_name("\n\n"), NameScan::Stem);
    }

    #[test]
    fn anything_unusual_is_left_to_the_parser() {
        for source in [
            "---\nname: a\n",
            "{name: a, tasks: {}}\n",
            "\"name\": a\n",
            "name : a\n",
            "name: |\n  a\n",
            "name: &anchor a\n",
            "name: !!str a\n",
            "name: \"a\\tb\"\n",
            "name: 'it''s'\n",
            "name: a\nname: b\n",
            "name:\n",
            "name: a b\n",
            "name: [a]\n",
            "tasks:\n  a: {}\n\tname: x\n",
            "tasks: {}\r\nname: a\r\nname: b\r\n",
        ] {
            assert_eq!(scan_name(source), NameScan::Unsure, "{source:?}");
        }
    }
}
