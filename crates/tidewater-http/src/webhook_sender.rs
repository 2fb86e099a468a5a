//! Delivering one webhook: a POST with a timeout, accepted on any 2xx.

use std::sync::OnceLock;
use std::time::Duration;

use tidewater_core::HttpBody;

use tidewater_spec::render_json_strings;

use crate::http_runner::error_chain;

/// A webhook's body, rendered.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookBody {
    Json(serde_json::Value),
    Text(String),
}

impl WebhookBody {
    /// Renders a workflow's `body`: a string as written, each string of a JSON body.
    pub fn render(
        body: &HttpBody,
        render: impl Fn(&str) -> Result<String, String>,
    ) -> Result<WebhookBody, String> {
        match body {
            HttpBody::Text(template) => render(template).map(WebhookBody::Text),
            HttpBody::Json(value) => render_json_strings(value, &render).map(WebhookBody::Json),
        }
    }
}

/// Sends webhooks on one client, made on the first delivery (as [`crate::HttpRunner`] does,
/// so that a process that sends none never reads the system's certificates).
#[derive(Default)]
pub struct WebhookSender {
    client: OnceLock<Result<reqwest::Client, String>>,
}

impl WebhookSender {
    pub fn new() -> WebhookSender {
        WebhookSender::default()
    }

    /// POSTs `body` to `url`, waiting at most `timeout` for the whole exchange. The
    /// `Idempotency-Key` header is the same for every delivery of one notification, so that a
    /// receiver can drop a second one (after a crash between its answer and our record of
    /// it). An error never quotes the URL: a Slack or Teams webhook URL is a secret.
    pub async fn post(
        &self,
        url: &str,
        body: &WebhookBody,
        idempotency_key: &str,
        timeout: Duration,
    ) -> Result<(), String> {
        let client = self
            .client
            .get_or_init(|| {
                reqwest::Client::builder()
                    .user_agent(concat!("tidewater/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|error| {
                        format!("cannot set up the HTTP client: {}", error_chain(&error))
                    })
            })
            .as_ref()
            .map_err(String::clone)?;
        let request = client
            .post(url)
            .timeout(timeout)
            .header("Idempotency-Key", idempotency_key);
        let request = match body {
            WebhookBody::Json(value) => request.json(value),
            WebhookBody::Text(text) => request
                .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .body(text.clone()),
        };
        let response = request.send().await.map_err(|error| {
            if error.is_timeout() {
                format!("no answer within {}", humanize(timeout))
            } else {
                error_chain(&error.without_url())
            }
        })?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the receiver answered {status}"))
        }
    }
}

fn humanize(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}
