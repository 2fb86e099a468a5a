//! JSON shapes of tokens: never the token's secret, nor its hash.

use serde::Serialize;
use tidewater_store::TokenRecord;

/// A token as `tidewater token list --json` prints it and `GET /api/v1/tokens` serves it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenJson {
    pub name: String,
    /// `read`, `operate`, `admin` or `worker`.
    pub scope: String,
    pub created_at: String,
    /// When it was last used (recorded at most once a minute); `null` if never.
    pub last_used_at: Option<String>,
    /// When it was revoked; `null` while it is valid.
    pub revoked_at: Option<String>,
}

/// A token just created, with its secret: the only time anyone sees it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedTokenJson {
    /// The token, to send as `Authorization: Bearer …`. It is not shown again.
    pub token: String,
    #[serde(flatten)]
    pub record: TokenJson,
}

impl TokenJson {
    pub fn new(record: &TokenRecord) -> TokenJson {
        TokenJson {
            name: record.name.to_string(),
            scope: record.scope.as_str().to_owned(),
            created_at: record.created_at.to_rfc3339(),
            last_used_at: record.last_used_at.map(|time| time.to_rfc3339()),
            revoked_at: record.revoked_at.map(|time| time.to_rfc3339()),
        }
    }
}
