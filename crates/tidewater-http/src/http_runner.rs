//! Runs `http` tasks: render, send, check the status, read the output.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tidewater_core::{
    AttemptOutcome, FailureClass, FailureReason, HttpAction, HttpBody, HttpMethod, HttpOutput,
    StatusCodes, Timestamp,
};
use tidewater_runner::{
    AttemptControl, AttemptLog, AttemptReporter, Clock, StartRequest, StartedAttempt, TaskRunner,
};
use tidewater_spec::render_json_strings;
use tokio::sync::oneshot;

/// How much of a response body goes to the attempt's log: enough for an error message or
/// a small JSON document, not a whole export.
pub const LOGGED_BODY_BYTES: usize = 4 * 1024;

/// The largest response body read. The whole body is held in memory to be parsed as JSON,
/// so an endpoint that streams gigabytes must not take the scheduler's memory with it.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// How long connecting may take. A refused connection fails at once; this bounds a host
/// that drops packets when the task has no `timeout` of its own.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `http` tasks. One client (and its connection pool) serves every attempt.
///
/// The client is built when the first `http` task starts, not with the runner: building it
/// reads the system's CA certificates, which every `run` and `server` would otherwise pay
/// for, and a machine without them must still run its `sh` and `sql` tasks (its `http`
/// attempts then fail as `environment`, saying why).
#[derive(Default)]
pub struct HttpRunner {
    client: OnceLock<Result<reqwest::Client, String>>,
}

impl HttpRunner {
    pub fn new() -> HttpRunner {
        HttpRunner::default()
    }

    fn client(&self) -> Result<&reqwest::Client, &str> {
        self.client
            .get_or_init(|| {
                reqwest::Client::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .user_agent(concat!("tidewater/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|error| {
                        format!("cannot set up the HTTP client: {}", error_chain(&error))
                    })
            })
            .as_ref()
            .map_err(String::as_str)
    }
}

impl TaskRunner<HttpAction> for HttpRunner {
    fn start(
        &self,
        action: &HttpAction,
        request: StartRequest<'_>,
        reporter: AttemptReporter,
    ) -> StartedAttempt {
        let Some((log, reporter)) = AttemptLog::for_request(&request, reporter) else {
            return StartedAttempt::finished();
        };
        let client = match self.client() {
            Ok(client) => client,
            Err(message) => {
                log.note(message);
                log.flush();
                reporter.could_not_start(FailureClass::Environment, message);
                return StartedAttempt::finished();
            }
        };
        let prepared = match prepare(client, action, &request) {
            Ok(prepared) => prepared,
            Err(message) => {
                // Templates and the URL they make are the task's input.
                log.note(&message);
                log.flush();
                reporter.could_not_start(FailureClass::Input, message);
                return StartedAttempt::finished();
            }
        };
        log.note(format!(
            "attempt {}: {} {}",
            request.attempt,
            action.method.as_str(),
            prepared.url
        ));
        if !action.headers.is_empty() {
            // Names only: a value may be a token.
            let names: Vec<&str> = action
                .headers
                .iter()
                .map(|(name, _)| name.as_str())
                .collect();
            log.note(format!("headers (values not logged): {}", names.join(", ")));
        }
        let attempt = Attempt {
            log,
            reporter,
            clock: request.clock.clone(),
            deadline: request.deadline(),
            expect: action.expect.clone(),
            retry_on: action.retry_on.clone(),
            output: action.output.clone(),
        };
        let (stop_sender, stop) = oneshot::channel();
        tokio::spawn(attempt.run(client.clone(), prepared.request, stop));
        StartedAttempt {
            process: None,
            control: AttemptControl::new(stop_sender),
        }
    }
}

/// A rendered request, ready to send.
struct Prepared {
    url: reqwest::Url,
    request: reqwest::Request,
}

/// Renders the task's templates into a request; an error is the task's input.
fn prepare(
    client: &reqwest::Client,
    action: &HttpAction,
    request: &StartRequest<'_>,
) -> Result<Prepared, String> {
    let render = |what: &str, template: &str| {
        request
            .template
            .render(template)
            .map_err(|error| format!("cannot render the {what}: {error}"))
    };
    let url_text = render("url", &action.url)?;
    let url = reqwest::Url::parse(url_text.trim())
        .map_err(|error| format!("`{url_text}` is not a URL: {error}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "`{url}` is not an http or https URL (its scheme is `{}`)",
            url.scheme()
        ));
    }
    let mut builder = client.request(method(action.method), url.clone());
    for (name, template) in &action.headers {
        let value = render(&format!("value of the header `{name}`"), template)?;
        // The value is left out of the message: it may be a token.
        let value = reqwest::header::HeaderValue::from_str(&value).map_err(|_| {
            format!("the header `{name}` renders to a value that cannot be sent (a line break or another control character)")
        })?;
        builder = builder.header(name.as_str(), value);
    }
    builder = match &action.body {
        None => builder,
        Some(HttpBody::Text(template)) => builder.body(render("body", template)?),
        Some(HttpBody::Json(value)) => builder.json(&render_json_strings(value, &|template| {
            render("body", template)
        })?),
    };
    let built = builder
        .build()
        .map_err(|error| format!("cannot build the request: {}", error_chain(&error)))?;
    Ok(Prepared {
        url,
        request: built,
    })
}

fn method(method: HttpMethod) -> reqwest::Method {
    match method {
        HttpMethod::Get => reqwest::Method::GET,
        HttpMethod::Head => reqwest::Method::HEAD,
        HttpMethod::Post => reqwest::Method::POST,
        HttpMethod::Put => reqwest::Method::PUT,
        HttpMethod::Patch => reqwest::Method::PATCH,
        HttpMethod::Delete => reqwest::Method::DELETE,
        HttpMethod::Options => reqwest::Method::OPTIONS,
    }
}

/// One attempt in flight: what it reports to, and how its response is judged.
struct Attempt {
    log: AttemptLog,
    reporter: AttemptReporter,
    clock: Arc<dyn Clock>,
    deadline: Option<Timestamp>,
    expect: StatusCodes,
    retry_on: StatusCodes,
    output: HttpOutput,
}

impl Attempt {
    /// Sends the request and reports the outcome, unless the task's timeout passes or the
    /// attempt is stopped first: then the request is dropped, which closes its connection.
    async fn run(
        self,
        client: reqwest::Client,
        request: reqwest::Request,
        stop: oneshot::Receiver<()>,
    ) {
        let timed_out = async {
            match self.deadline {
                Some(deadline) => self.clock.sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        let started = Instant::now();
        let outcome = tokio::select! {
            result = exchange(&client, request) => self.judge(result, started),
            () = timed_out => {
                self.log.note(format!(
                    "timed out after {:.3}s; the request was abandoned",
                    started.elapsed().as_secs_f64()
                ));
                AttemptOutcome::Failed { reason: FailureReason::TimedOut }
            }
            Ok(()) = stop => {
                self.log.note("stopped; the request was abandoned");
                AttemptOutcome::Failed { reason: FailureReason::Cancelled }
            }
        };
        self.log.flush();
        let outcome = outcome.with_log_error(self.log.write_error());
        self.reporter.report(outcome);
    }

    /// Logs the response and decides the outcome.
    fn judge(&self, result: Result<Exchange, ExchangeError>, started: Instant) -> AttemptOutcome {
        let elapsed = started.elapsed().as_secs_f64();
        let exchange = match result {
            Ok(exchange) => exchange,
            Err(error) => {
                let message = error.to_string();
                self.log
                    .note(format!("failed after {elapsed:.3}s: {message}"));
                return failed(message, error.class());
            }
        };
        self.log.note(format!(
            "{:?} {} in {elapsed:.3}s, {} bytes",
            exchange.version,
            exchange.status,
            exchange.body.len()
        ));
        self.log_body(&exchange.body);
        let status = exchange.status.as_u16();
        if !self.expect.contains(status) {
            let class = status_class(status, &self.retry_on);
            let message = format!(
                "the response's status is {} (expected {})",
                exchange.status, self.expect
            );
            self.log.note(format!("failed: {message}"));
            return failed(message, class);
        }
        match self.read_output(&exchange.body) {
            Ok(output) => AttemptOutcome::Succeeded {
                output,
                log_error: None,
            },
            Err(message) => {
                self.log.note(format!("failed: {message}"));
                // The server answered as expected but not with what the task reads: the
                // task's own failure, which its `retries` may cover.
                failed(message, FailureClass::Task)
            }
        }
    }

    /// The body's first [`LOGGED_BODY_BYTES`], line by line, and how much was left out.
    fn log_body(&self, body: &[u8]) {
        let shown = &body[..body.len().min(LOGGED_BODY_BYTES)];
        for line in String::from_utf8_lossy(shown).lines() {
            self.log.line("body", line.as_bytes());
        }
        if body.len() > shown.len() {
            self.log.note(format!(
                "the body's {} remaining bytes are not logged (the first {LOGGED_BODY_BYTES} are)",
                body.len() - shown.len()
            ));
        }
    }

    fn read_output(&self, body: &[u8]) -> Result<Option<serde_json::Value>, String> {
        let json = serde_json::from_slice::<serde_json::Value>(body);
        match &self.output {
            // Not JSON (an empty 204, say): no output, which is not an error.
            HttpOutput::Response => Ok(json.ok()),
            HttpOutput::Pointer(pointer) => {
                let json = json.map_err(|error| {
                    format!("`output: {pointer}` reads JSON, but the response is not JSON: {error}")
                })?;
                json.pointer(pointer)
                    .cloned()
                    .map(Some)
                    .ok_or_else(|| format!("the response has nothing at `output: {pointer}`"))
            }
        }
    }
}

fn failed(message: String, class: FailureClass) -> AttemptOutcome {
    AttemptOutcome::Failed {
        reason: FailureReason::TaskError { message, class },
    }
}

/// Who must act on an unexpected status: a server error (5xx) is the server's, and trying
/// again may help; anything else (a 404, a 400 for a bad body) says the request is wrong, so
/// it fails the same way every time, unless the task lists it in `retry_on` (a 429, say).
fn status_class(status: u16, retry_on: &StatusCodes) -> FailureClass {
    if status >= 500 || retry_on.contains(status) {
        FailureClass::Environment
    } else {
        FailureClass::Input
    }
}

/// A response, its body read.
struct Exchange {
    version: reqwest::Version,
    status: reqwest::StatusCode,
    body: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
enum ExchangeError {
    #[error("the request failed: {0}")]
    Request(String),
    #[error("the response body is larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
}

impl ExchangeError {
    fn class(&self) -> FailureClass {
        match self {
            // A refused connection, a reset, a name that does not resolve: the network's.
            ExchangeError::Request(_) => FailureClass::Environment,
            ExchangeError::TooLarge => FailureClass::Task,
        }
    }
}

async fn exchange(
    client: &reqwest::Client,
    request: reqwest::Request,
) -> Result<Exchange, ExchangeError> {
    let request_error = |error: reqwest::Error| ExchangeError::Request(error_chain(&error));
    let mut response = client.execute(request).await.map_err(request_error)?;
    let version = response.version();
    let status = response.status();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(request_error)? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(ExchangeError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Exchange {
        version,
        status,
        body,
    })
}

/// An error and its causes, e.g. "error sending request: client error (Connect): tcp
/// connect error: Connection refused": reqwest's own message alone hides the cause.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_error_is_the_environments_and_a_client_error_the_inputs() {
        let none = StatusCodes::default();
        assert_eq!(status_class(503, &none), FailureClass::Environment);
        assert_eq!(status_class(404, &none), FailureClass::Input);
        assert_eq!(status_class(302, &none), FailureClass::Input);
    }

    #[test]
    fn retry_on_makes_a_status_below_500_worth_trying_again() {
        let retry_on = StatusCodes::new(vec![429..=429]);
        assert_eq!(status_class(429, &retry_on), FailureClass::Environment);
        assert_eq!(status_class(400, &retry_on), FailureClass::Input);
    }
}
