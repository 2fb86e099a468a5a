//! [`Metrics`]: the project's metrics in Prometheus' text format (`GET /metrics`), read from
//! the store so that they are the same whichever process did the work.
//!
//! Two kinds, read two ways:
//!
//! - Gauges say what is now, read on each scrape: runs by workflow and state (one grouped
//!   count, [`tidewater_store::ControlStore::run_counts_by_workflow`]) and the queue's depth
//!   by pool and reason (the queue explanation, [`Control::explain_queue`], grouped).
//! - Counters and histograms say what happened since the server started: each scrape reads
//!   the store's change feed from where the last one stopped. The feed holds every state
//!   change any process records (the server, a `tidewater run` beside it), so nothing is
//!   counted twice or missed; a server that restarts starts from zero, which Prometheus reads
//!   as a counter reset. Reading the feed at the scrape rather than in a task of its own costs
//!   nothing between scrapes; the store keeps [`tidewater_store::EVENTS_KEPT`] events, so a
//!   scrape more than that many events after the last one misses some, and counts it in
//!   `tidewater_metrics_feed_resets_total`.
//!
//! `prometheus-client` lives in this crate only: the numbers are this read model's, and the
//! server just sends the text (as it sends the JSON of [`crate::json`]).

use std::collections::{BTreeMap, HashSet};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tidewater_core::{Attempt, RunId, RunTrigger, TaskName, TaskStateKind, Timestamp};
use tidewater_store::{AttemptStep, EventFilter, EventPage, EventSeq, FeedChange, FeedEvent};

use crate::control_error::ControlResult;
use crate::{Control, EVENT_PAGE, QueuedRuns};

/// The media type of [`Control::scrape_metrics`]'s text: Prometheus' text exposition format 0.0.4.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Attempt durations, in seconds: from a tenth of a second to six hours.
const ATTEMPT_SECONDS: [f64; 14] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 21600.0,
];

/// Scheduling delays, in seconds: from a second (a server that keeps up) to a day (one that
/// was down, or a queue far behind).
const DELAY_SECONDS: [f64; 12] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0,
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    workflow: String,
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    workflow: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkflowLabels {
    workflow: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotificationLabels {
    workflow: String,
    event: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    /// Empty for a run, or a task without a pool.
    pool: String,
    reason: &'static str,
}

type HistogramFamily = Family<WorkflowLabels, Histogram, fn() -> Histogram>;

/// The metrics of one server: its registry, and how far it has read the change feed.
pub struct Metrics {
    registry: Registry,
    runs: Family<RunLabels, Gauge>,
    queue_depth: Family<QueueLabels, Gauge>,
    attempts: Family<AttemptLabels, Counter>,
    attempt_seconds: HistogramFamily,
    retries: Family<WorkflowLabels, Counter>,
    scheduling_delay: HistogramFamily,
    feed_resets: Counter,
    notification_failures: Family<NotificationLabels, Counter>,
    /// The last event counted. Scrapes take turns: one reads the feed and sets the gauges
    /// while the next waits, so that no event is counted twice.
    after: tokio::sync::Mutex<EventSeq>,
}

impl Control {
    /// Metrics that count from now on (the newest event of the feed).
    pub async fn start_metrics(&self) -> ControlResult<Metrics> {
        Ok(Metrics::new(self.store.last_event().await?))
    }

    /// Reads what happened since the last scrape and what is now, and writes every metric in
    /// Prometheus' text format ([`METRICS_CONTENT_TYPE`]). `parallelism` overrides
    /// tidewater.toml's, as in [`Control::explain_queue`].
    pub async fn scrape_metrics(
        &self,
        metrics: &Metrics,
        parallelism: Option<u32>,
    ) -> ControlResult<String> {
        let mut after = metrics.after.lock().await;
        *after = self.count_events(metrics, *after).await?;

        metrics.runs.clear();
        for count in self.store.run_counts_by_workflow().await? {
            metrics
                .runs
                .get_or_create(&RunLabels {
                    workflow: count.workflow.to_string(),
                    state: count.state.name(),
                })
                .set(i64::try_from(count.runs).unwrap_or(i64::MAX));
        }

        // The store's own totals, which only grow: a counter that counts from the store's
        // start rather than the server's, so that a webhook given up on by a `tidewater run`
        // beside the server, or before it started, is counted too.
        for (workflow, event, failures) in self.store.notification_failures().await? {
            let counter = metrics
                .notification_failures
                .get_or_create(&NotificationLabels {
                    workflow: workflow.to_string(),
                    event: event.as_str(),
                });
            counter.inc_by(failures.saturating_sub(counter.get()));
        }

        let queue = self.explain_queue(parallelism, QueuedRuns::Grouped).await?;
        let mut depth: BTreeMap<(String, &'static str), u64> = BTreeMap::new();
        for group in &queue.groups {
            *depth
                .entry((String::new(), group.kind.as_str()))
                .or_default() += group.count;
        }
        for waiting in &queue.waiting {
            let pool = waiting.pool.as_ref().map(ToString::to_string);
            *depth
                .entry((pool.unwrap_or_default(), waiting.kind.as_str()))
                .or_default() += 1;
        }
        metrics.queue_depth.clear();
        for ((pool, reason), count) in depth {
            metrics
                .queue_depth
                .get_or_create(&QueueLabels { pool, reason })
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
        Ok(metrics.text())
    }

    /// Counts the feed's events after `after`, page by page; returns the last one read.
    async fn count_events(
        &self,
        metrics: &Metrics,
        mut after: EventSeq,
    ) -> ControlResult<EventSeq> {
        loop {
            match self
                .store
                .events_after(after, &EventFilter::default(), EVENT_PAGE)
                .await?
            {
                EventPage::Events { events, through } => {
                    self.count_page(metrics, &events).await?;
                    after = through;
                    if events.len() < EVENT_PAGE as usize {
                        return Ok(after);
                    }
                }
                EventPage::Reset { latest } => {
                    metrics.feed_resets.inc();
                    return Ok(latest);
                }
            }
        }
    }

    async fn count_page(&self, metrics: &Metrics, events: &[FeedEvent]) -> ControlResult<()> {
        // Attempts that ended, by run: their durations are read once per run of the page.
        let mut ended: BTreeMap<RunId, Vec<(TaskName, Attempt)>> = BTreeMap::new();
        let mut started_runs = Vec::new();
        for event in events {
            let workflow = || WorkflowLabels {
                workflow: event.workflow.to_string(),
            };
            match &event.change {
                FeedChange::Attempt {
                    task,
                    attempt,
                    step: step @ (AttemptStep::Succeeded | AttemptStep::Failed(_)),
                } => {
                    let outcome = match step {
                        AttemptStep::Succeeded => "succeeded",
                        _ => "failed",
                    };
                    metrics
                        .attempts
                        .get_or_create(&AttemptLabels {
                            workflow: event.workflow.to_string(),
                            outcome,
                        })
                        .inc();
                    ended
                        .entry(event.run)
                        .or_default()
                        .push((task.clone(), *attempt));
                }
                FeedChange::Task {
                    state: TaskStateKind::UpForRetry,
                    ..
                } => {
                    metrics.retries.get_or_create(&workflow()).inc();
                }
                FeedChange::Run(tidewater_core::RunStateKind::Running) => {
                    started_runs.push(event.run);
                }
                _ => {}
            }
        }
        for (run, attempts) in ended {
            let Some(record) = self.store.run(run).await? else {
                continue;
            };
            let labels = WorkflowLabels {
                workflow: record.workflow.to_string(),
            };
            for recorded in self.store.attempts(run, None).await? {
                if let Some((finished, _)) = &recorded.finished
                    && attempts.contains(&(recorded.task.clone(), recorded.attempt))
                {
                    metrics
                        .attempt_seconds
                        .get_or_create(&labels)
                        .observe(seconds_between(recorded.started_at, *finished));
                }
            }
        }
        let mut seen = HashSet::new();
        for run in started_runs {
            if !seen.insert(run) {
                continue;
            }
            let Some(record) = self.store.run(run).await? else {
                continue;
            };
            let Some(started_at) = record.state.started_at() else {
                continue;
            };
            if record.trigger != RunTrigger::Scheduled {
                continue;
            }
            // Only a run's first start is late by its interval: a run resumed after a retry
            // starts again, and has attempts from before.
            let is_first_start = self
                .store
                .attempts(run, None)
                .await?
                .iter()
                .all(|attempt| attempt.started_at >= started_at);
            if is_first_start {
                metrics
                    .scheduling_delay
                    .get_or_create(&WorkflowLabels {
                        workflow: record.workflow.to_string(),
                    })
                    .observe(seconds_between(record.interval.end, started_at));
            }
        }
        Ok(())
    }
}

/// Seconds from `from` to `to`, never negative (clocks of two processes may disagree a little).
fn seconds_between(from: Timestamp, to: Timestamp) -> f64 {
    let micros = (to - from).num_microseconds().unwrap_or(i64::MAX).max(0);
    micros as f64 / 1e6
}

impl Metrics {
    fn new(after: EventSeq) -> Metrics {
        let mut registry = Registry::with_prefix("tidewater");
        let runs = Family::<RunLabels, Gauge>::default();
        registry.register(
            "runs",
            "Runs by workflow and state, as recorded in the store now",
            runs.clone(),
        );
        let queue_depth = Family::<QueueLabels, Gauge>::default();
        registry.register(
            "queue_depth",
            "Runs and tasks that wait, by pool (empty: a run, or a task without a pool) and \
             reason, as `tidewater queue` explains them now",
            queue_depth.clone(),
        );
        let attempts = Family::<AttemptLabels, Counter>::default();
        registry.register(
            "task_attempts",
            "Task attempts that ended, by workflow and outcome (succeeded, failed), since the \
             server started",
            attempts.clone(),
        );
        let attempt_seconds: HistogramFamily =
            Family::new_with_constructor(|| Histogram::new(ATTEMPT_SECONDS));
        registry.register(
            "task_attempt_duration_seconds",
            "How long task attempts that ended took, by workflow, since the server started",
            attempt_seconds.clone(),
        );
        let retries = Family::<WorkflowLabels, Counter>::default();
        registry.register(
            "task_retries",
            "Failed task attempts that will be retried, by workflow, since the server started",
            retries.clone(),
        );
        let scheduling_delay: HistogramFamily =
            Family::new_with_constructor(|| Histogram::new(DELAY_SECONDS));
        registry.register(
            "scheduling_delay_seconds",
            "From the end of a scheduled run's data interval to its first start, by workflow, \
             for the runs that started since the server started",
            scheduling_delay.clone(),
        );
        let feed_resets = Counter::default();
        registry.register(
            "metrics_feed_resets",
            "Scrapes that found events missing from the store's change feed (pruned since the \
             last scrape): counters missed what they held",
            feed_resets.clone(),
        );
        let notification_failures = Family::<NotificationLabels, Counter>::default();
        registry.register(
            "notification_failures",
            "Webhooks given up on after every delivery failed, by workflow and event \
             (on_failure, on_success, on_deadline_miss, on_retry), as recorded in the store",
            notification_failures.clone(),
        );
        Metrics {
            registry,
            notification_failures,
            runs,
            queue_depth,
            attempts,
            attempt_seconds,
            retries,
            scheduling_delay,
            feed_resets,
            after: tokio::sync::Mutex::new(after),
        }
    }

    /// The registry in Prometheus' text format 0.0.4.
    fn text(&self) -> String {
        let mut open_metrics = String::new();
        // Writing to a String cannot fail; a metric that could not be written is left out.
        let _ =
            prometheus_client::encoding::text::encode_registry(&mut open_metrics, &self.registry);
        prometheus_text(&open_metrics)
    }
}

/// Prometheus' text format 0.0.4 from `prometheus-client`'s OpenMetrics text (without its
/// `# EOF`). The two differ, for what this crate writes, only in the name a counter's `HELP`
/// and `TYPE` lines give: OpenMetrics names the family (`x`) and its sample `x_total`;
/// Prometheus' format names both `x_total`, and its parsers take a sample of another name
/// for a metric of its own, untyped.
fn prometheus_text(open_metrics: &str) -> String {
    let counters: HashSet<&str> = open_metrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut text = String::with_capacity(open_metrics.len() + 16 * counters.len());
    for line in open_metrics.lines() {
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, after_name) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {after_name}"))
        });
        match renamed {
            Some(line) => text.push_str(&line),
            None => text.push_str(line),
        }
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_is_named_by_its_sample_in_prometheus_text() {
        let open_metrics = "# HELP tidewater_task_retries Retries.\n\
                            # TYPE tidewater_task_retries counter\n\
                            tidewater_task_retries_total{workflow=\"a\"} 2\n\
                            # HELP tidewater_runs Runs.\n\
                            # TYPE tidewater_runs gauge\n\
                            tidewater_runs{workflow=\"a\",state=\"queued\"} 1\n";
        assert_eq!(
            prometheus_text(open_metrics),
            "# HELP tidewater_task_retries_total Retries.\n\
             # TYPE tidewater_task_retries_total counter\n\
             tidewater_task_retries_total{workflow=\"a\"} 2\n\
             # HELP tidewater_runs Runs.\n\
             # TYPE tidewater_runs gauge\n\
             tidewater_runs{workflow=\"a\",state=\"queued\"} 1\n"
        );
    }

    #[test]
    fn every_family_with_a_sample_is_written_in_prometheus_text_and_no_eof() {
        let metrics = Metrics::new(EventSeq(0));
        let workflow = WorkflowLabels {
            workflow: "a".to_owned(),
        };
        metrics
            .runs
            .get_or_create(&RunLabels {
                workflow: "a".to_owned(),
                state: "queued",
            })
            .set(1);
        metrics
            .queue_depth
            .get_or_create(&QueueLabels {
                pool: String::new(),
                reason: "starting",
            })
            .set(1);
        metrics
            .attempts
            .get_or_create(&AttemptLabels {
                workflow: "a".to_owned(),
                outcome: "failed",
            })
            .inc();
        metrics
            .attempt_seconds
            .get_or_create(&workflow)
            .observe(0.3);
        metrics.retries.get_or_create(&workflow).inc();
        metrics
            .scheduling_delay
            .get_or_create(&workflow)
            .observe(2.0);
        let text = metrics.text();
        for line in [
            "# TYPE tidewater_runs gauge",
            "# TYPE tidewater_queue_depth gauge",
            "# TYPE tidewater_task_attempts_total counter",
            "tidewater_task_attempts_total{workflow=\"a\",outcome=\"failed\"} 1",
            "# TYPE tidewater_task_attempt_duration_seconds histogram",
            "tidewater_task_attempt_duration_seconds_bucket{le=\"0.5\",workflow=\"a\"} 1",
            "# TYPE tidewater_task_retries_total counter",
            "# TYPE tidewater_scheduling_delay_seconds histogram",
            "# TYPE tidewater_metrics_feed_resets_total counter",
            "tidewater_metrics_feed_resets_total 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
        }
        assert!(!text.contains("# EOF"), "{text}");
    }
}
