//! The one place that decides how things are printed: data to stdout, diagnostics to
//! stderr, colour only on a terminal and never with `NO_COLOR`.

use std::borrow::Cow;
use std::io::IsTerminal;
use std::sync::OnceLock;

use tidewater_spec::Redactor;

/// The project's secrets, hidden in everything this process prints (its notes, errors,
/// data, the server's log and tracing lines). Set once the project is open; a process that
/// prints before then has read no secret yet.
static REDACTOR: OnceLock<Redactor> = OnceLock::new();

/// Hides `redactor`'s secrets in all output from now on. The first call wins: a process
/// opens one project.
pub(crate) fn redact_with(redactor: &Redactor) {
    let _ = REDACTOR.set(redactor.clone());
}

/// `text` with the project's secrets replaced by `***`.
pub(crate) fn redact(text: &str) -> Cow<'_, str> {
    match REDACTOR.get() {
        Some(redactor) => redactor.redact(text),
        None => Cow::Borrowed(text),
    }
}

/// Stderr for tracing's lines, with the project's secrets hidden. tracing's formatter writes
/// each event with one `write_all` of the whole line, so no secret is cut between writes.
pub(crate) struct RedactedStderr;

impl std::io::Write for RedactedStderr {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let redacted = match REDACTOR.get() {
            Some(redactor) => redactor.redact_bytes(bytes),
            None => Cow::Borrowed(bytes),
        };
        std::io::stderr().write_all(&redacted)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

pub(crate) fn is_color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
        && std::io::stderr().is_terminal()
}

pub(crate) fn is_interactive() -> bool {
    std::io::stderr().is_terminal()
}

/// An error, printed once with its chain of causes; problems in project files are shown
/// first, each at its file and line.
pub(crate) fn error(error: &anyhow::Error) {
    use tidewater_control::ControlError;
    let text = match error.downcast_ref::<ControlError>() {
        Some(ControlError::Diagnostics(diagnostics)) => format!(
            "{}error: {error:#} (see above)\n",
            diagnostics.render(is_color())
        ),
        Some(ControlError::PinnedVersion { diagnostics, .. }) => {
            format!("{}error: {error:#}\n", diagnostics.render(is_color()))
        }
        _ => format!("error: {error:#}\n"),
    };
    eprint!("{}", redact(&text));
}

/// Problems of project files, each at its file and line (whose quoted lines may hold a
/// secret written in `tidewater.toml`): stderr.
pub(crate) fn diagnostics(diagnostics: &tidewater_spec::Diagnostics) {
    eprint!("{}", redact(&diagnostics.render(is_color())));
}

/// A diagnostic line for the user (progress, notes): stderr.
pub(crate) fn note(message: impl std::fmt::Display) {
    eprintln!("{}", redact(&message.to_string()));
}

/// Data: stdout.
pub(crate) fn data(text: impl std::fmt::Display) {
    write_stdout(redact(&format!("{text}\n")).as_bytes());
}

/// Writes data to stdout. A closed pipe (`tidewater runs | head`) means the reader has what it
/// wants: exit quietly, as Unix tools do, rather than fail or panic.
pub(crate) fn write_stdout(bytes: &[u8]) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to stdout: {error}");
        std::process::exit(2);
    }
}

/// JSON data on stdout.
pub(crate) fn json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    data(text);
    Ok(())
}

/// A plain aligned table (no borders), for data on stdout.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|header| header.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let mut push_row = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        for (index, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            if index == last {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  "));
            }
        }
        text.push('\n');
    };
    push_row(headers.to_vec());
    for row in rows {
        push_row(row.iter().map(String::as_str).collect());
    }
    text.trim_end().to_owned()
}

/// A duration as a person reads it: 850ms, 12.3s, 4m05s, 2h03m.
pub(crate) fn duration(duration: chrono::Duration) -> String {
    let millis = duration.num_milliseconds().max(0);
    if millis < 1000 {
        format!("{millis}ms")
    } else if millis < 60_000 {
        format!("{:.1}s", millis as f64 / 1000.0)
    } else if millis < 3_600_000 {
        format!("{}m{:02}s", millis / 60_000, (millis / 1000) % 60)
    } else {
        format!("{}h{:02}m", millis / 3_600_000, (millis / 60_000) % 60)
    }
}
