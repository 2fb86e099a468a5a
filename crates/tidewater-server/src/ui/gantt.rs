//! [`Gantt`]: a run's attempts on a time axis, one row per task, each attempt a bar (so a
//! retried task shows a bar per attempt). Pure geometry over the run's status and `now` (the
//! end of an attempt still running); the run page draws it as SVG.

use tidewater_control::RunStatus;
use tidewater_core::{AttemptOutcome, Timestamp};

use super::state_style::Shown;

/// Width of the task names' column and of the time axis, in px.
const LABEL_WIDTH: u32 = 180;
const AXIS_WIDTH: u32 = 720;
const ROW_HEIGHT: u32 = 26;
const HEADER: u32 = 24;
/// Tick steps, in seconds, from which the one giving at most 8 ticks is taken.
const STEPS: &[i64] = &[
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14_400, 21_600, 43_200, 86_400,
];

#[derive(Debug, Clone)]
pub(crate) struct Gantt {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) label_width: u32,
    pub(crate) row_height: u32,
    pub(crate) rows: Vec<GanttRow>,
    pub(crate) bars: Vec<GanttBar>,
    pub(crate) ticks: Vec<GanttTick>,
}

#[derive(Debug, Clone)]
pub(crate) struct GanttRow {
    pub(crate) task: String,
    pub(crate) href: String,
    /// The baseline of the row's text.
    pub(crate) text_y: u32,
    pub(crate) y: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct GanttBar {
    pub(crate) x: u32,
    pub(crate) y: u32,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) shown: Shown,
    pub(crate) title: String,
    pub(crate) href: String,
}

#[derive(Debug, Clone)]
pub(crate) struct GanttTick {
    pub(crate) x: u32,
    pub(crate) label: String,
}

impl Gantt {
    /// The chart of `status`'s attempts; `None` while no attempt has started. `href` gives
    /// a task's page.
    pub(crate) fn new(
        status: &RunStatus,
        now: Timestamp,
        href: impl Fn(&str) -> String,
    ) -> Option<Gantt> {
        let attempts = || status.tasks.iter().flat_map(|task| task.attempts.iter());
        let start = attempts().map(|attempt| attempt.started_at).min()?;
        let end_of = |finished: &Option<(Timestamp, AttemptOutcome)>| {
            finished.as_ref().map_or(now, |(at, _)| *at)
        };
        let end = attempts()
            .map(|attempt| end_of(&attempt.finished))
            .max()
            .unwrap_or(now)
            .max(start);
        let span_ms = (end - start).num_milliseconds().max(1000);
        let x_of = |at: Timestamp| -> u32 {
            let offset = (at - start).num_milliseconds().clamp(0, span_ms);
            LABEL_WIDTH + (offset * i64::from(AXIS_WIDTH) / span_ms) as u32
        };
        let step = STEPS
            .iter()
            .copied()
            .find(|step| span_ms / (step * 1000) <= 8)
            .unwrap_or(86_400 * ((span_ms / 86_400_000) / 8 + 1));
        let ticks = (0..)
            .map(|index| index * step)
            .take_while(|seconds| seconds * 1000 <= span_ms)
            .map(|seconds| GanttTick {
                x: LABEL_WIDTH + (seconds * 1000 * i64::from(AXIS_WIDTH) / span_ms) as u32,
                label: offset_label(seconds),
            })
            .collect();
        let mut rows = Vec::new();
        let mut bars = Vec::new();
        for (index, task) in status.tasks.iter().enumerate() {
            let y = HEADER + index as u32 * ROW_HEIGHT;
            let name = task.task.as_str();
            rows.push(GanttRow {
                task: name.to_owned(),
                href: href(name),
                text_y: y + ROW_HEIGHT / 2 + 4,
                y,
            });
            for attempt in &task.attempts {
                let state = match &attempt.finished {
                    None => "running",
                    Some((_, AttemptOutcome::Succeeded { .. })) => "succeeded",
                    Some((_, AttemptOutcome::Failed { .. })) => "failed",
                };
                let x = x_of(attempt.started_at);
                let finished_at = end_of(&attempt.finished);
                let seconds = (finished_at - attempt.started_at).num_milliseconds() as f64 / 1000.0;
                bars.push(GanttBar {
                    x,
                    y: y + 5,
                    // At least 3 px, so an attempt of a few milliseconds is seen.
                    width: x_of(finished_at).saturating_sub(x).max(3),
                    height: ROW_HEIGHT - 10,
                    shown: Shown::of(state),
                    title: format!(
                        "{name} attempt {} · {state} · {seconds:.1} s",
                        attempt.attempt
                    ),
                    href: format!("{}?attempt={}", href(name), attempt.attempt),
                });
            }
        }
        Some(Gantt {
            width: LABEL_WIDTH + AXIS_WIDTH + 40,
            height: HEADER + status.tasks.len() as u32 * ROW_HEIGHT + 4,
            label_width: LABEL_WIDTH,
            row_height: ROW_HEIGHT,
            rows,
            bars,
            ticks,
        })
    }
}

/// `90` → `1m30s`: a tick's offset from the first attempt's start.
fn offset_label(seconds: i64) -> String {
    match (seconds / 3600, seconds % 3600 / 60, seconds % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, _) => format!("{h}h"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}
