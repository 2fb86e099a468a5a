//! The login routes: `GET /login` (the page), `POST /login` (its form), `POST /logout`, and
//! `POST`/`DELETE /api/v1/session` (the same for a script). A session is a random id in an
//! `HttpOnly; SameSite=Strict` cookie; the store keeps its hash, so it survives a restart of
//! the server, ends after `tidewater_control::SESSION_LIFETIME`, and ends with its token.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use percent_encoding::utf8_percent_encode;
use serde::{Deserialize, Serialize};
use tidewater_control::OpenedSession;

use super::login_page::login_page;
use super::session_cookie::{clear_cookie, set_cookie};
use super::{NEXT_ESCAPED, is_same_origin, session_id, unauthorized};
use crate::api::Api;
use crate::extract::{Body, QueryOf};
use crate::problem::Problem;

/// A token to log in with. (No `Debug`: it would print the token.)
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SessionRequest {
    /// A token made by `tidewater token create`.
    token: String,
}

/// The login form of `GET /login`.
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct LoginForm {
    /// A token made by `tidewater token create`.
    token: String,
    /// The page to go to once logged in (a path of this server); `/` if none.
    next: Option<String>,
}

/// A session just opened.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SessionJson {
    /// The name of the token it was opened with.
    token: String,
    /// Its token's scope: `read`, `operate` or `admin`.
    scope: String,
    /// When it ends unless its token is revoked before.
    expires_at: String,
}

impl SessionJson {
    fn new(session: &OpenedSession) -> SessionJson {
        SessionJson {
            token: session.token.name.to_string(),
            scope: session.token.scope.as_str().to_owned(),
            expires_at: session.expires_at.to_rfc3339(),
        }
    }
}

/// The login page's query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LoginQuery {
    /// The page to go to once logged in.
    next: Option<String>,
    /// Set when the last try's token was refused.
    failed: Option<String>,
}

/// The login page.
#[utoipa::path(
    get,
    path = "/login",
    tag = "session",
    params(LoginQuery),
    responses(
        (status = 200, description = "The login page", body = String, content_type = "text/html"),
        (status = 400, description = "A query parameter of the wrong type", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn login_form(QueryOf(query): QueryOf<LoginQuery>) -> Html<String> {
    Html(login_page(
        &local_path(query.next.as_deref()),
        query.failed.is_some(),
    ))
}

/// Logs in from the login page: sets the session cookie and goes on to `next`; with a
/// token that is unknown or revoked, back to the login page saying so.
#[utoipa::path(
    post,
    path = "/login",
    tag = "session",
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "To `next` with the session cookie set, or back to `/login?failed=1` if the token was refused"),
        (status = 403, description = "The form was posted from another site's page", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not a form", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The form has no token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn login(
    State(api): State<Api>,
    headers: HeaderMap,
    form: Result<axum::Form<LoginForm>, FormRejection>,
) -> Result<Response, Problem> {
    // A foreign page could log a browser in with the attacker's token; a script without
    // either header is not a browser on a page.
    if has_origin(&headers) && !is_same_origin(&headers) {
        return Err(foreign_origin());
    }
    let axum::Form(form) =
        form.map_err(|rejection| Problem::malformed(rejection.status(), rejection.body_text()))?;
    let next = local_path(form.next.as_deref());
    Ok(match api.control.open_session(&form.token).await? {
        Some(session) => (
            [(header::SET_COOKIE, set_cookie(&session))],
            Redirect::to(&next),
        )
            .into_response(),
        None => Redirect::to(&format!(
            "/login?failed=1&next={}",
            utf8_percent_encode(&next, NEXT_ESCAPED)
        ))
        .into_response(),
    })
}

/// Ends the browser's session and goes to the login page.
#[utoipa::path(
    post,
    path = "/logout",
    tag = "session",
    responses(
        (status = 303, description = "To the login page, the session ended and its cookie cleared"),
        (status = 403, description = "Posted from another site's page", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn logout(
    State(api): State<Api>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    if let Some(session) = session_id(&headers) {
        if !is_same_origin(&headers) {
            return Err(foreign_origin());
        }
        api.control.end_session(session).await?;
    }
    Ok((
        [(header::SET_COOKIE, clear_cookie())],
        Redirect::to("/login"),
    )
        .into_response())
}

/// Opens a session with a token: the `tidewater_session` cookie, for a client that then
/// works as the UI does.
#[utoipa::path(
    post,
    path = "/api/v1/session",
    tag = "session",
    request_body = SessionRequest,
    responses(
        (status = 201, description = "The session, its cookie set (`HttpOnly; SameSite=Strict; Path=/`)", body = SessionJson,
         headers(("set-cookie" = String, description = "tidewater_session=…"))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "The token is unknown or revoked", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The body has no token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn open_session(
    State(api): State<Api>,
    Body(request): Body<SessionRequest>,
) -> Result<Response, Problem> {
    Ok(match api.control.open_session(&request.token).await? {
        Some(session) => (
            StatusCode::CREATED,
            [(header::SET_COOKIE, set_cookie(&session))],
            Json(SessionJson::new(&session)),
        )
            .into_response(),
        None => unauthorized(
            "the token is unknown or revoked; `tidewater token list` shows the valid ones",
        ),
    })
}

/// Ends the session of the request's cookie (if it has one) and clears the cookie.
#[utoipa::path(
    delete,
    path = "/api/v1/session",
    tag = "session",
    responses((status = 204, description = "The session ended, its cookie cleared"))
)]
pub(crate) async fn end_session(
    State(api): State<Api>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    if let Some(session) = session_id(&headers) {
        api.control.end_session(session).await?;
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, clear_cookie())],
    )
        .into_response())
}

fn has_origin(headers: &HeaderMap) -> bool {
    headers.contains_key(header::ORIGIN) || headers.contains_key(header::REFERER)
}

fn foreign_origin() -> Problem {
    Problem::forbidden(
        "this must be posted from this server's own login page: its Origin (or Referer) \
         header must be this server's origin",
    )
}

/// `next` if it is a path of this server, else `/`: the login must not send a browser to
/// another site (`//evil.example` is a URL of another host).
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && !path.chars().any(char::is_control) =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_path_of_this_server_is_followed_after_login() {
        assert_eq!(
            local_path(Some("/grid/daily?runs=25")),
            "/grid/daily?runs=25"
        );
        for foreign in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "grid",
            "/a\nb",
        ] {
            assert_eq!(local_path(Some(foreign)), "/", "{foreign:?}");
        }
        assert_eq!(local_path(None), "/");
    }
}
