//! Delivering the webhooks `decide` recorded in the store's outbox
//! ([`tidewater_core::Change::Notify`]): each claimed, POSTed with a timeout, and its outcome
//! recorded; a failed delivery is tried again after a back-off that doubles, until
//! `[notifications] attempts` have failed. The server delivers every run's; a run executed
//! in the foreground delivers its own, during the run and before the command returns.
//!
//! `on_retry: { sh: … }` goes through the same outbox: delivering it is running the command,
//! which succeeds when it exits 0 within the timeout.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tidewater_core::{AttemptOutcome, NotificationEvent, RunId, TaskState, Timestamp};
use tidewater_http::{WebhookBody, WebhookSender};
use tidewater_spec::TemplateContext;
use tidewater_store::{DeliveryOutcome, NotificationRecord};

use crate::Control;
use crate::control_error::ControlResult;

/// How often a deliverer looks for due notifications when it knows of none sooner.
const LOOK: Duration = Duration::from_millis(500);
/// The longest wait between two deliveries of one notification.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Deliveries claimed at once.
const CLAIM_LIMIT: u32 = 16;

/// Sends a project's webhooks (see the module doc).
pub struct Notifier<'c> {
    control: &'c Control,
    sender: WebhookSender,
}

/// What became of one delivery, for a front end's log.
#[derive(Debug, Clone)]
pub struct DeliveryReport {
    pub run: RunId,
    pub event: NotificationEvent,
    /// Why it failed, if it did, and whether it will be tried again.
    pub failure: Option<(String, bool)>,
}

impl<'c> Notifier<'c> {
    pub fn new(control: &'c Control) -> Notifier<'c> {
        Notifier {
            control,
            sender: WebhookSender::new(),
        }
    }

    /// Delivers every notification due now (of `run` only, if given), one after the other,
    /// and says how each went.
    pub async fn deliver_due(&self, run: Option<RunId>) -> ControlResult<Vec<DeliveryReport>> {
        let settings = self.control.project.config.notifications;
        // A deliverer that dies mid-delivery leaves its claim to expire: the next one waits
        // out the delivery's timeout first, so that two never send at once.
        let lease = settings.timeout + Duration::from_secs(5);
        let mut reports = Vec::new();
        loop {
            let now = chrono::Utc::now();
            // A read first: claiming takes the store's write lock, which a look that finds
            // nothing due (almost every look) must not.
            let due = self.control.store.next_notification_due(run).await?;
            if due.is_none_or(|due| due > now) {
                return Ok(reports);
            }
            let claimed = self
                .control
                .store
                .claim_notifications(run, now, lease, CLAIM_LIMIT)
                .await?;
            if claimed.is_empty() {
                return Ok(reports);
            }
            for notification in claimed {
                let result = self.deliver(&notification).await;
                let at = chrono::Utc::now();
                let outcome = match &result {
                    Ok(()) => DeliveryOutcome::Delivered { at },
                    Err(error) => DeliveryOutcome::Failed {
                        at,
                        error: error.clone(),
                        retry_at: (notification.deliveries < settings.attempts).then(|| {
                            at + to_chrono(backoff(settings.backoff, notification.deliveries))
                        }),
                    },
                };
                self.control
                    .store
                    .record_delivery(notification.id, &outcome)
                    .await?;
                reports.push(DeliveryReport {
                    run: notification.run,
                    event: notification.key.event,
                    failure: match outcome {
                        DeliveryOutcome::Delivered { .. } => None,
                        DeliveryOutcome::Failed {
                            error, retry_at, ..
                        } => Some((error, retry_at.is_some())),
                    },
                });
            }
        }
    }

    /// Delivers every project's notification as it falls due, forever (the server's loop);
    /// `report` hears of each failed delivery.
    pub async fn serve(&self, report: impl Fn(&DeliveryReport)) -> std::convert::Infallible {
        loop {
            // A store unreachable for now is the service's to report; delivery waits for it.
            if let Ok(reports) = self.deliver_due(None).await {
                for delivery in reports.iter().filter(|delivery| delivery.failure.is_some()) {
                    report(delivery);
                }
            }
            let wait = self.wait_for_next(None).await;
            tokio::time::sleep(wait).await;
        }
    }

    /// Delivers `run`'s notifications until none is pending: every one delivered or given
    /// up on, which takes at most `attempts` timeouts and back-offs.
    pub async fn drain(&self, run: RunId) -> ControlResult<()> {
        loop {
            self.deliver_due(Some(run)).await?;
            if self
                .control
                .store
                .next_notification_due(Some(run))
                .await?
                .is_none()
            {
                return Ok(());
            }
            tokio::time::sleep(self.wait_for_next(Some(run)).await).await;
        }
    }

    /// How long until the next notification is due, at most [`LOOK`].
    async fn wait_for_next(&self, run: Option<RunId>) -> Duration {
        match self.control.store.next_notification_due(run).await {
            Ok(Some(due)) => (due - chrono::Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(LOOK),
            _ => LOOK,
        }
    }

    /// One delivery: the webhook of the run's pinned workflow, its body rendered, or its
    /// `on_retry` command run.
    async fn deliver(&self, notification: &NotificationRecord) -> Result<(), String> {
        let control = self.control;
        let record = control
            .run_record(notification.run)
            .await
            .map_err(|error| error.to_string())?;
        let loaded = control
            .pinned_workflow(&record)
            .await
            .map_err(|error| error.to_string())?;
        let workflow = &loaded.workflow;
        let event = notification.key.event;
        let instances = control
            .store
            .task_instances(record.id)
            .await
            .map_err(|error| error.to_string())?;
        let failed_tasks: Vec<String> = instances
            .iter()
            .filter(|(_, instance)| matches!(instance.state, TaskState::Failed { .. }))
            .filter(|(task, _)| {
                workflow.index_of(task.as_str()).is_some_and(|index| {
                    workflow.task(index).role == tidewater_core::TaskRole::Step
                })
            })
            .map(|(task, _)| task.to_string())
            .collect();
        let run_url = control
            .project
            .config
            .server_url
            .as_ref()
            .map(|base| format!("{base}/runs/{}", record.id));
        let context = TemplateContext {
            workflow: workflow.name.clone(),
            task: tidewater_core::TaskName::new(event.as_str()),
            run_id: record.id,
            interval: record.interval,
            timezone: workflow.timezone,
            params: record.params.clone(),
            task_outputs: BTreeMap::new(),
            // A body (or URL) may name a connection, e.g. a token from the environment.
            connections: control.connections().clone(),
        };
        let retried = notification.key.retried.as_ref();
        let reason = match retried {
            Some((task, attempt)) => self.failure_reason(record.id, task, *attempt).await,
            None => None,
        };
        let extra = Map::from_iter([
            ("event".to_owned(), json!(event.as_str())),
            ("failed_tasks".to_owned(), json!(failed_tasks)),
            ("run_url".to_owned(), json!(run_url)),
            (
                "retried_task".to_owned(),
                json!(retried.map(|(task, _)| task.to_string())),
            ),
            (
                "attempt".to_owned(),
                json!(retried.map(|(_, attempt)| attempt.0)),
            ),
            ("reason".to_owned(), json!(reason)),
        ]);
        let render = |template: &str| {
            context
                .render_with(template, &extra)
                .map_err(|error| error.to_string())
        };
        let webhook = match (workflow.webhook(event), &workflow.on_retry_command) {
            (Some(webhook), _) => webhook,
            (None, Some(command)) if event == NotificationEvent::OnRetry => {
                let mut env = context.env_vars();
                if let Some((task, attempt)) = retried {
                    env.push(("TIDEWATER_RETRIED_TASK".to_owned(), task.to_string()));
                    env.push(("TIDEWATER_ATTEMPT".to_owned(), attempt.0.to_string()));
                }
                env.push(("TIDEWATER_REASON".to_owned(), reason.unwrap_or_default()));
                return self.run_command(&render(command)?, env).await;
            }
            (None, _) => return Err(format!("the run's workflow has no `{event}` webhook")),
        };
        let url = render(&webhook.url)?;
        let body = match &webhook.body {
            Some(body) => WebhookBody::render(body, render)?,
            None => WebhookBody::Json(default_body(&DefaultBody {
                workflow: workflow.name.as_str(),
                run: record.id,
                event,
                interval: (
                    local(record.interval.start, workflow.timezone),
                    local(record.interval.end, workflow.timezone),
                ),
                failed_tasks: &failed_tasks,
                retried: retried.map(|(task, attempt)| (task.as_str(), attempt.0)),
                run_url: run_url.as_deref(),
            })),
        };
        let key = format!("tidewater-{}-{}", record.id, notification.id.0);
        self.sender
            .post(
                &url,
                &body,
                &key,
                control.project.config.notifications.timeout,
            )
            .await
    }

    /// Why `attempt` of `task` failed, as `status` says it, if it is recorded.
    async fn failure_reason(
        &self,
        run: RunId,
        task: &tidewater_core::TaskName,
        attempt: tidewater_core::Attempt,
    ) -> Option<String> {
        let attempts = self.control.store.attempts(run, Some(task)).await.ok()?;
        attempts
            .into_iter()
            .find(|record| record.attempt == attempt)
            .and_then(|record| match record.finished? {
                (_, AttemptOutcome::Failed { reason }) => Some(reason.to_string()),
                _ => None,
            })
    }

    /// Runs `on_retry`'s command with `sh -c` in the project folder, its output discarded
    /// (it is no task, and has no log): delivered when it exits 0 within the timeout, else
    /// killed and tried again like a webhook.
    async fn run_command(&self, command: &str, env: Vec<(String, String)>) -> Result<(), String> {
        let timeout = self.control.project.config.notifications.timeout;
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(&self.control.project.root)
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| format!("the command could not start: {error}"))?;
        match tokio::time::timeout(timeout, child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => Err(format!("the command ended with {status}")),
            Ok(Err(error)) => Err(format!("the command could not be waited for: {error}")),
            Err(_) => Err(format!("the command did not end within {timeout:?}")),
        }
    }
}

/// What the default body says.
struct DefaultBody<'a> {
    workflow: &'a str,
    run: RunId,
    event: NotificationEvent,
    interval: (String, String),
    failed_tasks: &'a [String],
    retried: Option<(&'a str, u32)>,
    run_url: Option<&'a str>,
}

/// A Slack-compatible message (`text`, and the same as one `mrkdwn` section in `blocks`),
/// with the facts also as plain fields for receivers that are not Slack.
fn default_body(body: &DefaultBody<'_>) -> Value {
    let headline = match body.event {
        NotificationEvent::OnFailure => format!("Run {} of `{}` failed", body.run, body.workflow),
        NotificationEvent::OnSuccess => {
            format!("Run {} of `{}` succeeded", body.run, body.workflow)
        }
        NotificationEvent::OnDeadlineMiss => format!(
            "Run {} of `{}` missed its deadline",
            body.run, body.workflow
        ),
        NotificationEvent::OnRetry => match body.retried {
            Some((task, attempt)) => format!(
                "Task `{task}` of run {} of `{}` failed attempt {attempt} and will be retried",
                body.run, body.workflow
            ),
            None => format!(
                "A task of run {} of `{}` will be retried",
                body.run, body.workflow
            ),
        },
    };
    let mut text = format!(
        "{headline}\nInterval: {} to {}",
        body.interval.0, body.interval.1
    );
    if !body.failed_tasks.is_empty() {
        text.push_str(&format!("\nFailed tasks: {}", body.failed_tasks.join(", ")));
    }
    if let Some(url) = body.run_url {
        text.push_str(&format!("\n<{url}|Open the run>"));
    }
    json!({
        "text": text,
        "blocks": [{ "type": "section", "text": { "type": "mrkdwn", "text": text } }],
        "workflow": body.workflow,
        "run_id": body.run.0,
        "event": body.event.as_str(),
        "data_interval_start": body.interval.0,
        "data_interval_end": body.interval.1,
        "failed_tasks": body.failed_tasks,
        "run_url": body.run_url,
    })
}

fn local(time: Timestamp, timezone: chrono_tz::Tz) -> String {
    time.with_timezone(&timezone)
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
}

/// The wait after the `failed`-th failed delivery: `first`, doubled each time, at most
/// [`MAX_BACKOFF`].
fn backoff(first: Duration, failed: u32) -> Duration {
    first
        .saturating_mul(1 << failed.saturating_sub(1).min(16))
        .min(MAX_BACKOFF)
}

fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}
