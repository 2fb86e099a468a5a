//! [`Layout`]: what every page's frame (`templates/base.html`) shows: its title, which entry
//! of the navigation is current, its assets, and how it stays live.

use tidewater_core::RunId;

use super::assets;

/// The entries of the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Workflows,
    Runs,
    Queue,
    Tables,
    Workers,
    Streams,
    None,
}

/// Which events a page refreshes on.
#[derive(Debug, Clone)]
pub(crate) enum Live {
    /// The page does not change by itself (an error, a form).
    Static,
    /// Every run's events.
    Everything,
    /// One run's.
    Run(RunId),
    /// One workflow's runs'.
    Workflow(String),
    /// Every run's events (a task's commit ends with one), and a look every few seconds too,
    /// for what changes without any run: a stream's commits, lag and state.
    Polled,
}

/// How often a [`Live::Polled`] page looks again without an event.
const POLL_MS: u32 = 5_000;

/// A page's frame.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) title: String,
    pub(crate) nav: Nav,
    pub(crate) stylesheet: String,
    pub(crate) htmx: String,
    pub(crate) script: String,
    /// The events stream the page subscribes to (`GET /api/v1/events`, filtered).
    pub(crate) events: Option<String>,
    /// How often the page refreshes its live parts without an event, in milliseconds.
    pub(crate) poll_ms: Option<u32>,
}

impl Layout {
    /// A page that refreshes on `live`'s events.
    pub(crate) fn new(title: &str, nav: Nav, live: Live) -> Layout {
        let events = match &live {
            Live::Static => None,
            Live::Everything | Live::Polled => Some("/api/v1/events".to_owned()),
            Live::Run(run) => Some(format!("/api/v1/events?run={run}")),
            Live::Workflow(name) => {
                Some(format!("/api/v1/events?workflow={}", url_component(name)))
            }
        };
        Layout {
            title: title.to_owned(),
            nav,
            stylesheet: assets::url("tidewater.css"),
            htmx: assets::url("htmx-2.0.11.min.js"),
            script: assets::url("tidewater.js"),
            events,
            poll_ms: matches!(live, Live::Polled).then_some(POLL_MS),
        }
    }

    /// Whether `entry` (`workflows`, `runs`, `queue`, `tables`, `workers`, `streams`) is the
    /// current page's.
    pub(crate) fn is_current(&self, entry: &str) -> bool {
        let current = match self.nav {
            Nav::Workflows => "workflows",
            Nav::Runs => "runs",
            Nav::Queue => "queue",
            Nav::Tables => "tables",
            Nav::Workers => "workers",
            Nav::Streams => "streams",
            Nav::None => return false,
        };
        current == entry
    }
}

/// `text` as one component of a URL (a path segment or a query value).
pub(crate) fn url_component(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                encoded.push(char::from(byte));
            }
            other => encoded.push_str(&format!("%{other:02X}")),
        }
    }
    encoded
}
