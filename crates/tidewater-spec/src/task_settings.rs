use std::collections::BTreeMap;
use std::time::Duration;

use std::ops::Range;

use tidewater_core::{Backoff, EngineName, PoolName, QueueName, RetryPolicy, TriggerRule};

use crate::did_you_mean::did_you_mean;
use crate::yaml_reader::{Entry, YamlReader};
use crate::{PoolConfig, ProblemKind};

/// The settings a task may take from the workflow's `defaults`. Each is `None` when not
/// given, so that a task's own value wins and a default fills in the rest.
#[derive(Debug, Clone, Default)]
pub(crate) struct TaskSettings {
    pub retries: Option<u32>,
    pub retry_delay: Option<Duration>,
    pub retry_backoff: Option<BackoffChoice>,
    pub retry_max_delay: Option<Duration>,
    pub retry_jitter: Option<bool>,
    pub timeout: Option<Duration>,
    pub pool: Option<PoolName>,
    /// `queue`: the queue of workers that runs the task.
    pub queue: Option<QueueName>,
    pub priority: Option<i32>,
    pub trigger: Option<TriggerRule>,
    /// `engine: NAME` where it was written; checked against `[engines]` by the workflow
    /// reader, which has the project (`sql` tasks only).
    pub engine: Option<(EngineName, Range<usize>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BackoffChoice {
    Constant,
    Exponential,
}

pub(crate) const SETTING_KEYS: &[&str] = &[
    "retries",
    "retry_delay",
    "retry_backoff",
    "retry_max_delay",
    "retry_jitter",
    "timeout",
    "pool",
    "queue",
    "priority",
    "trigger",
    "engine",
];

const BACKOFFS: &[&str] = &["constant", "exponential"];

/// `retry_max_delay` when an exponential backoff does not give one.
const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(60 * 60);

impl TaskSettings {
    /// Reads `entry` into these settings. Returns `false` when the key is not a setting, so
    /// the caller can try its own keys or report it as unknown.
    pub(crate) fn read(
        &mut self,
        reader: &mut YamlReader<'_>,
        entry: &Entry<'_, '_>,
        pools: &BTreeMap<PoolName, PoolConfig>,
    ) -> bool {
        let value = entry.value;
        match entry.name.as_ref() {
            "retries" => self.retries = reader.count("retries", value, 0),
            "retry_delay" => self.retry_delay = reader.duration("retry_delay", value),
            "retry_backoff" => {
                self.retry_backoff =
                    reader.choice("retry_backoff", value, BACKOFFS, |text| match text {
                        "constant" => Some(BackoffChoice::Constant),
                        "exponential" => Some(BackoffChoice::Exponential),
                        _ => None,
                    });
            }
            "retry_max_delay" => self.retry_max_delay = reader.duration("retry_max_delay", value),
            "retry_jitter" => self.retry_jitter = reader.bool("retry_jitter", value),
            "timeout" => self.timeout = reader.positive_duration("timeout", value),
            "pool" => self.pool = read_pool(reader, entry, pools),
            "queue" => self.queue = read_queue(reader, entry),
            "priority" => {
                self.priority = reader
                    .integer("priority", value, i64::from(i32::MIN), i64::from(i32::MAX))
                    .and_then(|priority| i32::try_from(priority).ok());
            }
            "trigger" => {
                self.trigger = reader.choice("trigger", value, TRIGGER_NAMES, TriggerRule::parse);
            }
            "engine" => {
                self.engine = reader
                    .string("engine", value)
                    .map(|name| (EngineName::new(name), value.span.clone()));
            }
            _ => return false,
        }
        true
    }

    /// These settings with the gaps filled from `defaults`.
    pub(crate) fn over(self, defaults: &TaskSettings) -> TaskSettings {
        TaskSettings {
            retries: self.retries.or(defaults.retries),
            retry_delay: self.retry_delay.or(defaults.retry_delay),
            retry_backoff: self.retry_backoff.or(defaults.retry_backoff),
            retry_max_delay: self.retry_max_delay.or(defaults.retry_max_delay),
            retry_jitter: self.retry_jitter.or(defaults.retry_jitter),
            timeout: self.timeout.or(defaults.timeout),
            pool: self.pool.or_else(|| defaults.pool.clone()),
            queue: self.queue.or_else(|| defaults.queue.clone()),
            priority: self.priority.or(defaults.priority),
            trigger: self.trigger.or(defaults.trigger),
            engine: self.engine.or_else(|| defaults.engine.clone()),
        }
    }

    pub(crate) fn retry_policy(&self) -> RetryPolicy {
        let default = RetryPolicy::default();
        let backoff = match self.retry_backoff {
            None | Some(BackoffChoice::Constant) => Backoff::Constant,
            Some(BackoffChoice::Exponential) => Backoff::Exponential {
                max_delay: self.retry_max_delay.unwrap_or(DEFAULT_MAX_DELAY),
            },
        };
        RetryPolicy {
            retries: self.retries.unwrap_or(default.retries),
            delay: self.retry_delay.unwrap_or(default.delay),
            backoff,
            has_jitter: self.retry_jitter.unwrap_or(default.has_jitter),
        }
    }
}

const TRIGGER_NAMES: &[&str] = &[
    "all_success",
    "all_done",
    "all_failed",
    "one_success",
    "one_failed",
    "none_failed",
];

fn read_pool(
    reader: &mut YamlReader<'_>,
    entry: &Entry<'_, '_>,
    pools: &BTreeMap<PoolName, PoolConfig>,
) -> Option<PoolName> {
    let name = reader.string("pool", entry.value)?;
    if pools.contains_key(name) {
        return Some(PoolName::new(name));
    }
    reader.report(
        ProblemKind::UnknownPool {
            pool: name.to_owned(),
            suggestion: did_you_mean(name, pools.keys().map(PoolName::as_str)),
        },
        entry.value.span.clone(),
    );
    None
}

/// A queue name: what a worker's `--queues` names, so the same characters as a workflow's.
fn read_queue(reader: &mut YamlReader<'_>, entry: &Entry<'_, '_>) -> Option<QueueName> {
    let name = reader.string("queue", entry.value)?;
    if crate::workflow_file::is_workflow_name(name) {
        return Some(QueueName::new(name));
    }
    reader.report(
        ProblemKind::BadQueueName {
            queue: name.to_owned(),
        },
        entry.value.span.clone(),
    );
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_names_match_the_core_rules() {
        let core: Vec<&str> = TriggerRule::ALL.iter().map(|rule| rule.as_str()).collect();
        assert_eq!(TRIGGER_NAMES, core.as_slice());
    }

    #[test]
    fn a_task_value_wins_over_the_default_and_gaps_are_filled() {
        let defaults = TaskSettings {
            retries: Some(3),
            retry_delay: Some(Duration::from_secs(10)),
            retry_backoff: Some(BackoffChoice::Exponential),
            ..TaskSettings::default()
        };
        let task = TaskSettings {
            retries: Some(1),
            ..TaskSettings::default()
        };
        let policy = task.over(&defaults).retry_policy();
        assert_eq!(policy.retries, 1);
        assert_eq!(policy.delay, Duration::from_secs(10));
        assert_eq!(
            policy.backoff,
            Backoff::Exponential {
                max_delay: DEFAULT_MAX_DELAY
            }
        );
    }
}
