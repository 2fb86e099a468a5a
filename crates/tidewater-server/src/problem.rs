//! [`Problem`]: every error the API answers, as RFC 9457 `application/problem+json`. All of
//! the mapping from a use case's [`ControlError`] (and from a request that does not parse)
//! to a status is here, so that no handler decides a status of its own.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tidewater_control::ControlError;
use tidewater_spec::ProblemKind;

/// An error response (RFC 9457). `type` names the kind of problem, `detail` says what to do.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`urn:tidewater:problem:not-found`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// The kind of problem in words; the same for every problem of its `type`.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong in this request, and what to do.
    pub detail: String,
}

impl Problem {
    pub fn new(status: StatusCode, kind: &str, title: &str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: format!("urn:tidewater:problem:{kind}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
        }
    }

    /// The request does not parse: malformed JSON, a path or query of the wrong type (400),
    /// a body of the wrong shape (422), a body that is not JSON (415).
    pub fn malformed(status: StatusCode, detail: impl Into<String>) -> Problem {
        let (kind, title) = match status {
            StatusCode::UNPROCESSABLE_ENTITY => ("invalid", "The request is invalid"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                ("unsupported-media-type", "The body must be JSON")
            }
            _ => ("malformed", "The request is malformed"),
        };
        Problem::new(status, kind, title, detail)
    }

    /// The request has no valid token or session (the caller adds `WWW-Authenticate`).
    pub fn unauthorized(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "A valid token is needed",
            detail,
        )
    }

    /// The token or session is valid but may not do this: its scope is too small, or a
    /// cookie request came from another site.
    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::FORBIDDEN, "forbidden", "Not allowed", detail)
    }

    /// No route has this path.
    pub fn no_route(path: &str) -> Problem {
        Problem::new(
            StatusCode::NOT_FOUND,
            "no-such-route",
            "No such route",
            format!("nothing is served at {path}; GET /api/v1/openapi.json lists the routes"),
        )
    }

    /// A byte range (or offset) of a log that it does not hold.
    pub fn range_not_satisfiable(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "range-not-satisfiable",
            "The range is not in the log",
            detail,
        )
    }

    /// The route exists, but not with this method.
    pub fn method_not_allowed(path: &str) -> Problem {
        Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            format!("{path} does not take this method; GET /api/v1/openapi.json lists the routes"),
        )
    }
}

impl From<ControlError> for Problem {
    fn from(error: ControlError) -> Problem {
        match error {
            ControlError::NotFound(detail) => {
                Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
            }
            ControlError::Conflict(detail) => Problem::new(
                StatusCode::CONFLICT,
                "conflict",
                "The state forbids it now",
                detail,
            ),
            ControlError::Invalid(detail) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                "The request is invalid",
                detail,
            ),
            // A workflow name that no file has is a resource that does not exist.
            ControlError::Diagnostics(diagnostics)
                if !diagnostics.is_empty()
                    && diagnostics.iter().all(|problem| {
                        matches!(problem.kind(), ProblemKind::UnknownWorkflow { .. })
                    }) =>
            {
                Problem::new(
                    StatusCode::NOT_FOUND,
                    "not-found",
                    "Not found",
                    diagnostics.render(false).trim_end().to_owned(),
                )
            }
            ControlError::Diagnostics(diagnostics) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "project-files",
                "The project's files have problems",
                diagnostics.render(false).trim_end().to_owned(),
            ),
            ControlError::PinnedVersion { run, diagnostics } => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "pinned-version",
                "The run's workflow version no longer loads",
                format!(
                    "the workflow version run {run} was created with no longer loads:\n{}",
                    diagnostics.render(false).trim_end()
                ),
            ),
            // Says how to restore the store; names paths, no secret.
            ControlError::HistoryLost(detail) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "history-lost",
                "The store lost its history",
                detail,
            ),
            // The store's, the engine's and the machine's messages can name a store URL
            // (with its password) or a path outside the project: they go to the server's
            // log, and the answer says where to look.
            other => {
                tracing::error!(error = %format!("{other:#}"), "an API request failed");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "The server failed",
                    "the request failed inside the server; its log says why",
                )
            }
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response()
    }
}
