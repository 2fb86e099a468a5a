//! JSON shapes of `tidewater connections --json` and `tidewater connections test --json`.

use serde::Serialize;

use crate::{ConnectionCheck, ConnectionSummary};

/// A connection of the project, never with a secret value.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectionJson {
    pub name: String,
    /// `http`, `postgres` or `generic`.
    pub kind: String,
    pub fields: Vec<ConnectionFieldJson>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectionFieldJson {
    /// `url`, `host`, `port`, `login`, `password` or `extra.KEY`.
    pub name: String,
    /// `tidewater.toml`, `env:VAR` or `file:PATH`.
    pub source: String,
    pub secret: bool,
    /// The value, only when it is not secret (a URL without its password).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Why the value cannot be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ConnectionJson {
    pub fn new(summary: &ConnectionSummary) -> ConnectionJson {
        ConnectionJson {
            name: summary.name.clone(),
            kind: summary.kind.name().to_owned(),
            fields: summary
                .fields
                .iter()
                .map(|field| ConnectionFieldJson {
                    name: field.name.clone(),
                    source: field.source.clone(),
                    secret: field.is_secret,
                    value: field.shown.clone(),
                    error: field.error.clone(),
                })
                .collect(),
        }
    }
}

/// The outcome of `tidewater connections test NAME`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectionCheckJson {
    pub name: String,
    pub kind: String,
    /// What was checked.
    pub checked: String,
    pub ok: bool,
    /// What answered, or why the check failed.
    pub detail: String,
}

impl ConnectionCheckJson {
    pub fn new(check: &ConnectionCheck) -> ConnectionCheckJson {
        let (ok, detail) = match &check.outcome {
            Ok(detail) => (true, detail.clone()),
            Err(detail) => (false, detail.clone()),
        };
        ConnectionCheckJson {
            name: check.name.clone(),
            kind: check.kind.name().to_owned(),
            checked: check.checked.clone(),
            ok,
            detail,
        }
    }
}
