//! `tidewater connections test` for an `http` connection: one GET to its URL.

use std::time::Duration;

use crate::http_runner::error_chain;

/// What answered a probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeStatus {
    /// `200 OK`.
    pub line: String,
    /// A 2xx or 3xx status: the URL answered and the credentials (if any) were taken.
    pub is_success: bool,
}

/// Sends `GET url` (with basic authentication when `credentials` has a login), waiting at
/// most `timeout` for the answer's status. The error says why nothing answered.
pub async fn probe(
    url: &str,
    credentials: Option<(String, Option<String>)>,
    timeout: Duration,
) -> Result<ProbeStatus, String> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("tidewater/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|error| format!("cannot set up the HTTP client: {}", error_chain(&error)))?;
    let mut request = client.get(url);
    if let Some((login, password)) = credentials {
        request = request.basic_auth(login, password);
    }
    let response = request
        .send()
        .await
        .map_err(|error| format!("no answer: {}", error_chain(&error)))?;
    let status = response.status();
    Ok(ProbeStatus {
        line: format!(
            "{} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        )
        .trim_end()
        .to_owned(),
        is_success: status.is_success() || status.is_redirection(),
    })
}
