use std::borrow::Cow;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, MatchKind};

/// What every secret value is replaced with.
pub const REDACTED: &str = "***";

/// Secrets shorter than this are not replaced: a one-letter password would turn every such
/// letter of every log into `***`, and protects nothing that replacing it could save.
pub const MIN_SECRET_BYTES: usize = 4;

/// Replaces the project's secret values with [`REDACTED`] in text on its way out: attempt
/// logs, failure messages, the server's log. Built once from the resolved connections
/// ([`crate::Connections::redactor`]) and passed down; cheap to clone.
///
/// One automaton for all secrets (aho-corasick, leftmost-longest, so that of two secrets
/// where one starts the other the longer is replaced whole) rather than a `replace` per
/// secret: a log line is scanned once however many secrets the project has.
#[derive(Clone, Default)]
pub struct Redactor {
    inner: Option<Arc<Secrets>>,
}

struct Secrets {
    matcher: AhoCorasick,
    /// The secrets' bytes, longest first: what a stream may have to hold back.
    values: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Redactor {
    // Never the secrets themselves.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.inner.as_ref().map_or(0, |inner| inner.values.len());
        write!(f, "Redactor({count} secrets)")
    }
}

impl PartialEq for Redactor {
    fn eq(&self, other: &Redactor) -> bool {
        let values = |redactor: &Redactor| {
            redactor
                .inner
                .as_ref()
                .map(|inner| inner.values.clone())
                .unwrap_or_default()
        };
        values(self) == values(other)
    }
}

impl Redactor {
    /// A redactor of `secrets`; values shorter than [`MIN_SECRET_BYTES`] are ignored (they
    /// would match nearly everywhere).
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Redactor {
        let mut values: Vec<Vec<u8>> = secrets
            .into_iter()
            .filter(|secret| secret.len() >= MIN_SECRET_BYTES)
            .map(String::into_bytes)
            .collect();
        values.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        values.dedup();
        if values.is_empty() {
            return Redactor::default();
        }
        // Building fails only past the automaton's size limits, far beyond a project's few
        // secrets; should it happen, no redaction would be a leak, so every line is hidden.
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&values)
            .unwrap_or_else(|_| match_everything());
        Redactor {
            inner: Some(Arc::new(Secrets { matcher, values })),
        }
    }

    /// Whether there is anything to redact.
    pub fn is_empty(&self) -> bool {
        self.inner.is_none()
    }

    /// `text` with every secret replaced.
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        match self.redact_bytes(text.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            // Secrets are whole UTF-8 strings and the replacement is ASCII: cutting them out
            // of valid UTF-8 leaves valid UTF-8.
            Cow::Owned(bytes) => Cow::Owned(
                String::from_utf8(bytes)
                    .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned()),
            ),
        }
    }

    /// `bytes` with every secret replaced.
    pub fn redact_bytes<'b>(&self, bytes: &'b [u8]) -> Cow<'b, [u8]> {
        let Some(inner) = &self.inner else {
            return Cow::Borrowed(bytes);
        };
        let mut matches = inner.matcher.find_iter(bytes).peekable();
        if matches.peek().is_none() {
            return Cow::Borrowed(bytes);
        }
        let mut redacted = Vec::with_capacity(bytes.len());
        let mut from = 0;
        for found in matches {
            redacted.extend_from_slice(&bytes[from..found.start()]);
            redacted.extend_from_slice(REDACTED.as_bytes());
            from = found.end();
        }
        redacted.extend_from_slice(&bytes[from..]);
        Cow::Owned(redacted)
    }

    /// Every string in `value` redacted (a task's JSON output, say).
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        if self.is_empty() {
            return;
        }
        match value {
            serde_json::Value::String(text) => {
                let redacted = match self.redact(text) {
                    Cow::Owned(redacted) => Some(redacted),
                    Cow::Borrowed(_) => None,
                };
                if let Some(redacted) = redacted {
                    *text = redacted;
                }
            }
            serde_json::Value::Array(items) => {
                items.iter_mut().for_each(|item| self.redact_json(item));
            }
            serde_json::Value::Object(map) => {
                map.values_mut().for_each(|item| self.redact_json(item));
            }
            _ => {}
        }
    }

    /// A redactor for output that arrives in pieces (a task's stdout), which may cut a secret
    /// in two.
    pub fn stream(&self) -> StreamRedactor {
        StreamRedactor {
            redactor: self.clone(),
            held: Vec::new(),
        }
    }
}

/// An automaton that matches every byte, for [`Redactor::new`]'s impossible failure.
fn match_everything() -> AhoCorasick {
    let every_byte: Vec<[u8; 1]> = (0..=u8::MAX).map(|byte| [byte]).collect();
    #[expect(
        clippy::expect_used,
        reason = "256 one-byte patterns are far below every limit of the automaton"
    )]
    AhoCorasick::new(every_byte).expect("a tiny automaton")
}

/// Redacts a stream written in pieces. A secret may be split across two writes of the task
/// (`printf 'se'; sleep 1; printf 'cret'`), so the end of each piece that could be the
/// start of a secret is held back until the next piece shows whether it is, or until
/// [`StreamRedactor::finish`]. At most the longest secret's length less one byte is held,
/// and only while the tail really is a secret's beginning: ordinary output passes at once.
#[derive(Debug)]
pub struct StreamRedactor {
    redactor: Redactor,
    held: Vec<u8>,
}

impl StreamRedactor {
    /// The next piece of the stream; returns what may be passed on now, redacted.
    pub fn push(&mut self, piece: &[u8]) -> Vec<u8> {
        let Some(inner) = self.redactor.inner.clone() else {
            return piece.to_vec();
        };
        let mut buffer = std::mem::take(&mut self.held);
        buffer.extend_from_slice(piece);
        // The longest tail that is the beginning of a secret (not a whole one) stays.
        let mut cut = buffer.len() - longest_secret_prefix(&inner.values, &buffer);
        // A whole secret that started before the cut is replaced whole, even if the held
        // tail began inside it.
        let mut redacted = Vec::with_capacity(buffer.len());
        let mut from = 0;
        for found in inner.matcher.find_iter(&buffer) {
            if found.start() >= cut {
                break;
            }
            redacted.extend_from_slice(&buffer[from..found.start()]);
            redacted.extend_from_slice(REDACTED.as_bytes());
            from = found.end();
            cut = cut.max(found.end());
        }
        redacted.extend_from_slice(&buffer[from..cut]);
        self.held = buffer.split_off(cut);
        redacted
    }

    /// The end of the stream: what was held back, redacted.
    pub fn finish(&mut self) -> Vec<u8> {
        let held = std::mem::take(&mut self.held);
        self.redactor.redact_bytes(&held).into_owned()
    }
}

/// The length of the longest suffix of `buffer` that is a proper prefix of one of `secrets`.
fn longest_secret_prefix(secrets: &[Vec<u8>], buffer: &[u8]) -> usize {
    let mut longest = 0;
    for secret in secrets {
        let most = (secret.len() - 1).min(buffer.len());
        for length in (longest + 1..=most).rev() {
            if buffer.ends_with(&secret[..length]) {
                longest = length;
                break;
            }
        }
    }
    longest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor() -> Redactor {
        Redactor::new(["secret".to_owned(), "hunter2".to_owned(), "abc".to_owned()])
    }

    #[test]
    fn every_secret_is_replaced_and_other_text_is_kept() {
        let redactor = redactor();
        assert_eq!(
            redactor.redact("a secret, hunter2 and secrets"),
            "a ***, *** and ***s"
        );
        assert!(matches!(redactor.redact("nothing here"), Cow::Borrowed(_)));
        assert_eq!(redactor.redact("abc"), "abc", "too short to be replaced");
        assert_eq!(Redactor::default().redact("secret"), "secret");
    }

    #[test]
    fn the_longer_of_two_overlapping_secrets_is_replaced_whole() {
        let redactor = Redactor::new(["pass".to_owned(), "password".to_owned()]);
        assert_eq!(redactor.redact("my password"), "my ***");
    }

    #[test]
    fn a_secret_split_across_pieces_of_a_stream_is_caught() {
        let redactor = redactor();
        let mut stream = redactor.stream();
        let mut out = stream.push(b"the se");
        assert_eq!(out, b"the ", "the possible start of a secret is held");
        out.extend(stream.push(b"cret is out\nhun"));
        out.extend(stream.push(b"ter"));
        out.extend(stream.push(b"2"));
        out.extend(stream.finish());
        assert_eq!(String::from_utf8_lossy(&out), "the *** is out\n***");
    }

    #[test]
    fn a_held_tail_that_is_no_secret_comes_out_at_the_end() {
        let mut stream = redactor().stream();
        let mut out = stream.push(b"ends with sec");
        assert_eq!(out, b"ends with ");
        out.extend(stream.finish());
        assert_eq!(out, b"ends with sec");
    }

    #[test]
    fn any_split_of_any_text_gives_what_redacting_it_whole_gives() {
        let redactor = redactor();
        let text = b"xsecretsecrethunter2 hunsecret s ecret hunter2secre";
        let whole = redactor.redact_bytes(text).into_owned();
        for first in 0..text.len() {
            for second in first..text.len() {
                let mut stream = redactor.stream();
                let mut out = stream.push(&text[..first]);
                out.extend(stream.push(&text[first..second]));
                out.extend(stream.push(&text[second..]));
                out.extend(stream.finish());
                assert_eq!(out, whole, "split at {first} and {second}");
            }
        }
    }

    #[test]
    fn json_strings_are_redacted_at_any_depth() {
        let mut value = serde_json::json!({ "a": ["x secret", { "b": "hunter2" }], "n": 1 });
        redactor().redact_json(&mut value);
        assert_eq!(
            value,
            serde_json::json!({ "a": ["x ***", { "b": "***" }], "n": 1 })
        );
    }

    #[test]
    fn debug_never_shows_a_secret() {
        assert_eq!(format!("{:?}", redactor()), "Redactor(2 secrets)");
    }
}
