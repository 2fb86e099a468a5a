//! [`WorkerClient`]: `tidewater worker`'s side of HTTP, a bearer token and JSON to one server.
//! The protocol's shapes are `tidewater-control`'s (`json/worker_json.rs`, which the server
//! serves and documents); this crate only carries them, so that reqwest stays here.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::http_runner::error_chain;

/// One server, and the token to reach it with. The token is sent, never printed: errors
/// quote the path and the server's problem, not the headers.
///
/// Each request says how long it may take (`timeout`): a server that stopped answering, or a
/// network that dropped, is then noticed in time to try again before a lease runs out, and a
/// long-polled claim is not taken for a dead server.
pub struct WorkerClient {
    client: reqwest::Client,
    base: String,
    token: String,
}

/// Why a request to the server did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum WorkerClientError {
    /// The server answered 409: the lease named is stale.
    #[error("{0}")]
    Stale(String),
    /// The server refused the request (a 4xx other than 409: the token, the request).
    #[error("the server refused {path} ({status}): {detail}")]
    Refused {
        path: String,
        status: u16,
        detail: String,
    },
    /// No answer, or a failed one (5xx): worth trying again.
    #[error("cannot reach the server at {path}: {detail}")]
    Unreachable { path: String, detail: String },
}

impl WorkerClient {
    /// A client for the server at `base` (`http://host:port`).
    pub fn new(base: &str, token: String) -> Result<WorkerClient, String> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("tidewater-worker/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| format!("cannot set up the HTTP client: {}", error_chain(&error)))?;
        Ok(WorkerClient {
            client,
            base: base.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// POSTs `body` as JSON to `path` and reads the JSON answer.
    pub async fn post_json<B: Serialize, A: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        timeout: Duration,
    ) -> Result<A, WorkerClientError> {
        let request = self.client.post(self.url(path)).timeout(timeout).json(body);
        let response = self.send(path, request).await?;
        response
            .json()
            .await
            .map_err(|error| WorkerClientError::Unreachable {
                path: path.to_owned(),
                detail: format!("unreadable answer: {}", error_chain(&error)),
            })
    }

    /// POSTs `body` as JSON to `path`, expecting no content back.
    pub async fn post_json_empty<B: Serialize>(
        &self,
        path: &str,
        body: &B,
        timeout: Duration,
    ) -> Result<(), WorkerClientError> {
        let request = self.client.post(self.url(path)).timeout(timeout).json(body);
        self.send(path, request).await.map(drop)
    }

    /// POSTs raw bytes to `path` (with its query).
    pub async fn post_bytes(
        &self,
        path: &str,
        bytes: Vec<u8>,
        timeout: Duration,
    ) -> Result<(), WorkerClientError> {
        let request = self
            .client
            .post(self.url(path))
            .timeout(timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(bytes);
        self.send(path, request).await.map(drop)
    }

    /// GETs the JSON at `path`.
    pub async fn get_json<A: DeserializeOwned>(
        &self,
        path: &str,
        timeout: Duration,
    ) -> Result<A, WorkerClientError> {
        let request = self.client.get(self.url(path)).timeout(timeout);
        let response = self.send(path, request).await?;
        response
            .json()
            .await
            .map_err(|error| WorkerClientError::Unreachable {
                path: path.to_owned(),
                detail: format!("unreadable answer: {}", error_chain(&error)),
            })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(
        &self,
        path: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, WorkerClientError> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|error| WorkerClientError::Unreachable {
                path: path.to_owned(),
                detail: error_chain(&error),
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        // A problem's `detail` says why; the body of anything else is shown as it is.
        let text = response.text().await.unwrap_or_default();
        let detail = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|problem| problem.get("detail")?.as_str().map(str::to_owned))
            .unwrap_or(text);
        if status.as_u16() == 409 {
            Err(WorkerClientError::Stale(detail))
        } else if status.is_server_error() {
            Err(WorkerClientError::Unreachable {
                path: path.to_owned(),
                detail: format!("{status}: {detail}"),
            })
        } else {
            Err(WorkerClientError::Refused {
                path: path.to_owned(),
                status: status.as_u16(),
                detail,
            })
        }
    }
}
