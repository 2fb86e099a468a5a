//! The one place that decides how things are printed: data to stdout, diagnostics to
//! stderr, colour only on a terminal and never with `NO_COLOR`.

use std::io::IsTerminal;

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
    match error.downcast_ref::<ControlError>() {
        Some(ControlError::Diagnostics(diagnostics)) => {
            eprint!("{}", diagnostics.render(is_color()));
            eprintln!("error: {error:#} (see above)");
        }
        Some(ControlError::PinnedVersion { diagnostics, .. }) => {
            eprint!("{}", diagnostics.render(is_color()));
            eprintln!("error: {error:#}");
        }
        _ => eprintln!("error: {error:#}"),
    }
}

/// A diagnostic line for the user (progress, notes): stderr.
pub(crate) fn note(message: impl std::fmt::Display) {
    eprintln!("{message}");
}

/// Data: stdout.
pub(crate) fn data(text: impl std::fmt::Display) {
    write_stdout(format!("{text}\n").as_bytes());
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
