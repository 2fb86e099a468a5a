//! `/api/v1/tokens`: the API's tokens, for an `admin` token (the access check in `auth.rs`
//! asks for that scope on every route here). The same use cases as `tidewater token`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use tidewater_control::ControlError;
use tidewater_control::json::{CreatedTokenJson, TokenJson};
use tidewater_store::TokenScope;

use crate::api::Api;
use crate::extract::{Body, PathOf};
use crate::problem::Problem;

/// A token to create.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenRequest {
    /// Letters, digits, `.`, `_` and `-`; unique among unrevoked tokens.
    name: String,
    /// `read`, `operate`, `admin` or `worker`.
    scope: String,
}

/// Every token, revoked ones too, oldest first (never a token's secret).
#[utoipa::path(
    get,
    path = "/api/v1/tokens",
    tag = "tokens",
    responses((status = 200, description = "Every token", body = Vec<TokenJson>))
)]
pub(crate) async fn list_tokens(State(api): State<Api>) -> Result<Json<Vec<TokenJson>>, Problem> {
    let tokens = api.control.tokens().await?;
    Ok(Json(tokens.iter().map(TokenJson::new).collect()))
}

/// Creates a token. The answer holds the token itself, the only time it is shown.
#[utoipa::path(
    post,
    path = "/api/v1/tokens",
    tag = "tokens",
    request_body = TokenRequest,
    responses(
        (status = 201, description = "The token, shown this once", body = CreatedTokenJson),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "An unrevoked token has this name", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad name or scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_token(
    State(api): State<Api>,
    Body(request): Body<TokenRequest>,
) -> Result<(StatusCode, Json<CreatedTokenJson>), Problem> {
    let scope = TokenScope::parse(&request.scope).ok_or_else(|| {
        ControlError::Invalid(format!(
            "`{}` is not a scope (read, operate, admin, worker)",
            request.scope
        ))
    })?;
    let created = api.control.create_token(&request.name, scope).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedTokenJson {
            token: created.secret.expose().to_owned(),
            record: TokenJson::new(&created.record),
        }),
    ))
}

/// Revokes a token: from the next request on it opens nothing, and its sessions have ended.
#[utoipa::path(
    delete,
    path = "/api/v1/tokens/{name}",
    tag = "tokens",
    params(("name" = String, Path, description = "The token's name")),
    responses(
        (status = 200, description = "The token, revoked", body = TokenJson),
        (status = 404, description = "No unrevoked token has this name", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn revoke_token(
    State(api): State<Api>,
    PathOf(name): PathOf<String>,
) -> Result<Json<TokenJson>, Problem> {
    let token = api.control.revoke_token(&name).await?;
    Ok(Json(TokenJson::new(&token)))
}
