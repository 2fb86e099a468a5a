//! [`Shown`]: how a state looks on every page: its colour (a CSS class of
//! `assets/tidewater.css`), a symbol and its name, so colour is never the only cue.

/// A run, task or attempt state as a page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shown {
    /// The state's name as the CLI and the API write it (`up_for_retry`).
    pub(crate) name: &'static str,
    /// The CSS class giving its colour.
    pub(crate) class: &'static str,
    /// A one-character cue beside the colour.
    pub(crate) symbol: &'static str,
}

impl Shown {
    /// The look of the state named `name` (a run's, a task's, an attempt's outcome, or
    /// `orphaned`).
    pub(crate) fn of(name: &'static str) -> Shown {
        let (class, symbol) = match name {
            "queued" => ("s-queued", "…"),
            "pending" => ("s-pending", "·"),
            "running" | "started" => ("s-running", "▶"),
            "succeeded" => ("s-succeeded", "✓"),
            "failed" => ("s-failed", "✗"),
            "up_for_retry" => ("s-retry", "↻"),
            "upstream_failed" => ("s-upstream", "↑"),
            "cancelled" => ("s-cancelled", "⊘"),
            "skipped" => ("s-skipped", "»"),
            "orphaned" => ("s-orphaned", "?"),
            _ => ("s-pending", "·"),
        };
        Shown {
            name,
            class,
            symbol,
        }
    }

    /// The name in words (`up for retry`).
    pub(crate) fn words(&self) -> String {
        self.name.replace('_', " ")
    }
}
