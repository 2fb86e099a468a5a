//! Who may ask what: one middleware ([`protect`]) around the whole router, the API under
//! `/api/v1` and the UI's pages alike, and the login routes that open a UI session.
//!
//! - While no token was ever created, everything is open, as before tokens existed (the
//!   server then listens on loopback only).
//! - Once one was (even if revoked since), a request needs `Authorization: Bearer TOKEN` or
//!   the session cookie. Without either, or with a token or session that is unknown, revoked
//!   or expired, the API answers 401 with `WWW-Authenticate: Bearer`, and a UI page (`GET` of
//!   any path outside `/api/`) redirects to `/login?next=…`. The login routes and `/assets/`
//!   stay open.
//! - A scope too small is 403: `read` may `GET` and `HEAD`, `operate` also change state,
//!   `admin` also manage tokens (`/api/v1/tokens`).
//! - A request authenticated by its cookie that changes state must come from a page of this
//!   server: its `Origin` (or else its `Referer`) must be this server's origin, as the `Host`
//!   header names it, or it is 403. The cookie is `SameSite=Strict` too; checking the origin
//!   also holds for browsers that ignore that. A bearer token is never sent by a browser on
//!   its own, so bearer requests need no origin.
//!
//! No token, session id or hash is ever logged or answered: the secrets travel as
//! `tidewater_control::Secret`, whose `Debug` shows nothing.

mod login_page;
mod origin;
mod session_cookie;
pub(crate) mod sessions;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use tidewater_control::{AccessCheck, Control};
use tidewater_store::TokenScope;
use utoipa::openapi::OpenApi as Document;

use crate::problem::Problem;

pub(crate) use origin::is_same_origin;
pub(crate) use session_cookie::{SESSION_COOKIE, session_id};

/// Wraps `router` (every route, and its fallback) in the access check.
pub fn protect(router: Router, control: Arc<Control>) -> Router {
    router.layer(axum::middleware::from_fn_with_state(
        Arc::new(AccessCheck::new(control)),
        require_access,
    ))
}

/// The middleware: lets the request through, or answers 401, 403 or a redirect to the login
/// page.
async fn require_access(
    State(check): State<Arc<AccessCheck>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    if is_open(&method, &path) {
        return next.run(request).await;
    }
    match check.is_controlled().await {
        Ok(true) => {}
        Ok(false) => return next.run(request).await,
        Err(error) => return Problem::from(error).into_response(),
    }
    let needed = needed_scope(&method, &path);
    let headers = request.headers();

    if let Some(authorization) = headers.get(header::AUTHORIZATION) {
        let Some(token) = bearer_token(authorization) else {
            return unauthorized(
                "the Authorization header must be `Bearer TOKEN`, a token made by `tidewater \
                 token create`",
            );
        };
        return match check.token(token).await {
            Ok(Some(token)) => admit(token.scope, needed, request, next).await,
            Ok(None) => unauthorized(
                "the bearer token is unknown or revoked; `tidewater token list` shows the \
                 valid ones",
            ),
            Err(error) => Problem::from(error).into_response(),
        };
    }

    if let Some(session) = session_id(headers) {
        match check.session(session).await {
            Ok(Some(session)) => {
                if !is_safe(&method) && !is_same_origin(headers) {
                    return Problem::forbidden(
                        "a request that changes state with the session cookie must come from \
                         this server's own pages: its Origin (or Referer) header must be this \
                         server's origin",
                    )
                    .into_response();
                }
                return admit(session.token.scope, needed, request, next).await;
            }
            // Expired or ended: as if there were no cookie.
            Ok(None) => {}
            Err(error) => return Problem::from(error).into_response(),
        }
    }

    if is_ui_page(&method, &path) {
        return Redirect::to(&login_location(request.uri())).into_response();
    }
    unauthorized(
        "this API needs a token: send `Authorization: Bearer TOKEN` (`tidewater token create` \
         makes one), or log in at /login",
    )
}

/// Lets the request through if `scope` allows what it needs.
async fn admit(scope: TokenScope, needed: TokenScope, request: Request, next: Next) -> Response {
    if scope.allows(needed) {
        next.run(request).await
    } else {
        Problem::forbidden(format!(
            "this needs a token of scope {needed} (or wider); this one's scope is {scope}"
        ))
        .into_response()
    }
}

/// Reachable without a token: the login page and its form, the JSON login, and the UI's
/// static files. Logging out needs no valid session either (it checks its origin itself).
fn is_open(method: &Method, path: &str) -> bool {
    match path {
        "/login" => matches!(*method, Method::GET | Method::HEAD | Method::POST),
        "/logout" => *method == Method::POST,
        "/api/v1/session" => *method == Method::POST,
        _ => path.starts_with("/assets/"),
    }
}

/// The scope a request needs: reading needs `read`, changing state `operate`, managing
/// tokens `admin`. Ending one's own session only needs to have one.
fn needed_scope(method: &Method, path: &str) -> TokenScope {
    if path == "/api/v1/tokens" || path.starts_with("/api/v1/tokens/") {
        TokenScope::Admin
    } else if path.starts_with("/api/v1/workers/") {
        TokenScope::Worker
    } else if is_safe(method) || (path == "/api/v1/session" && *method == Method::DELETE) {
        TokenScope::Read
    } else {
        TokenScope::Operate
    }
}

/// Methods that change nothing.
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A page of the UI, which a browser follows to the login page: any `GET` outside `/api/`
/// but `/metrics`, which Prometheus reads with a token (and must be told 401, not redirected).
fn is_ui_page(method: &Method, path: &str) -> bool {
    matches!(*method, Method::GET | Method::HEAD)
        && !path.starts_with("/api/")
        && path != "/metrics"
}

/// The token of `Authorization: Bearer TOKEN` (the scheme in any case, RFC 9110).
fn bearer_token(value: &HeaderValue) -> Option<&str> {
    let (scheme, token) = value.to_str().ok()?.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

/// Characters escaped in `next=`: everything but letters, digits and what a path keeps.
const NEXT_ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `/login?next=PATH`, to come back to the page asked for after logging in.
fn login_location(uri: &axum::http::Uri) -> String {
    let asked = uri
        .path_and_query()
        .map_or("/", |path_and_query| path_and_query.as_str());
    format!("/login?next={}", utf8_percent_encode(asked, NEXT_ESCAPED))
}

/// 401 with the challenge RFC 9110 requires of it.
fn unauthorized(detail: &str) -> Response {
    (
        [(header::WWW_AUTHENTICATE, "Bearer realm=\"tidewater\"")],
        Problem::unauthorized(detail),
    )
        .into_response()
}

/// Declares the API's security in its document: the bearer token and the session cookie
/// (either will do), on every operation but the open ones, and the 401 and 403 answers
/// they may give. Called on the document once every route is in it.
pub(crate) fn document_security(document: &mut Document) {
    use utoipa::openapi::security::{
        ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
    };
    let components = document.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("tw_ and 64 hex digits (`tidewater token create`)")
                .description(Some(
                    "A token of scope read (GET), operate (also state changes) or admin (also \
                     tokens). Needed once any token exists.",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        "session",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            SESSION_COOKIE,
            "The UI's session (POST /login or /api/v1/session), with its token's scope. A \
             request that changes state with it must carry this server's Origin.",
        ))),
    );
    let protected = vec![
        SecurityRequirement::new("bearer", Vec::<String>::new()),
        SecurityRequirement::new("session", Vec::<String>::new()),
    ];
    for (path, item) in document.paths.paths.iter_mut() {
        let operations = [
            (Method::GET, &mut item.get),
            (Method::HEAD, &mut item.head),
            (Method::POST, &mut item.post),
            (Method::PUT, &mut item.put),
            (Method::DELETE, &mut item.delete),
            (Method::PATCH, &mut item.patch),
        ];
        for (method, operation) in operations {
            let Some(operation) = operation else {
                continue;
            };
            if is_open(&method, path) {
                // Open operations say so with an empty requirement.
                operation.security = Some(vec![SecurityRequirement::default()]);
                continue;
            }
            operation.security = Some(protected.clone());
            let responses = &mut operation.responses.responses;
            responses
                .entry(StatusCode::UNAUTHORIZED.as_str().to_owned())
                .or_insert_with(|| {
                    problem_response(
                        "No valid token or session (`WWW-Authenticate: Bearer`); only once a \
                         token exists",
                    )
                });
            if needed_scope(&method, path) > TokenScope::Read || !is_safe(&method) {
                responses
                    .entry(StatusCode::FORBIDDEN.as_str().to_owned())
                    .or_insert_with(|| {
                        problem_response(
                            "The token's scope is too small, or a cookie request came from \
                             another origin",
                        )
                    });
            }
        }
    }
}

/// A documented answer that is a [`Problem`].
pub(crate) fn problem_response(
    description: &str,
) -> utoipa::openapi::RefOr<utoipa::openapi::Response> {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scope_allows_what_its_requests_need() {
        let cases = [
            (Method::GET, "/api/v1/runs", TokenScope::Read),
            (Method::HEAD, "/grid/daily", TokenScope::Read),
            (Method::POST, "/api/v1/runs/3/retry", TokenScope::Operate),
            (
                Method::PUT,
                "/api/v1/workflows/a/paused",
                TokenScope::Operate,
            ),
            (Method::POST, "/runs/3/cancel", TokenScope::Operate),
            (Method::GET, "/api/v1/tokens", TokenScope::Admin),
            (Method::DELETE, "/api/v1/tokens/ci", TokenScope::Admin),
            (Method::DELETE, "/api/v1/session", TokenScope::Read),
            (Method::GET, "/api/v1/workers", TokenScope::Read),
            (Method::POST, "/api/v1/workers/claim", TokenScope::Worker),
            (
                Method::POST,
                "/api/v1/workers/attempts/3/report",
                TokenScope::Worker,
            ),
        ];
        for (method, path, needed) in cases {
            assert_eq!(needed_scope(&method, path), needed, "{method} {path}");
        }
        assert!(TokenScope::Admin.allows(TokenScope::Operate));
        assert!(TokenScope::Operate.allows(TokenScope::Read));
        assert!(!TokenScope::Read.allows(TokenScope::Operate));
        assert!(!TokenScope::Operate.allows(TokenScope::Admin));
        // A worker's token opens only the worker endpoints; an admin's opens them too.
        assert!(TokenScope::Worker.allows(TokenScope::Worker));
        assert!(!TokenScope::Worker.allows(TokenScope::Read));
        assert!(!TokenScope::Operate.allows(TokenScope::Worker));
        assert!(TokenScope::Admin.allows(TokenScope::Worker));
    }

    #[test]
    fn only_the_login_routes_and_assets_are_open() {
        assert!(is_open(&Method::GET, "/login"));
        assert!(is_open(&Method::POST, "/login"));
        assert!(is_open(&Method::POST, "/api/v1/session"));
        assert!(is_open(&Method::GET, "/assets/htmx.min.js"));
        assert!(!is_open(&Method::DELETE, "/api/v1/session"));
        assert!(!is_open(&Method::GET, "/api/v1/openapi.json"));
        assert!(!is_open(&Method::GET, "/"));
        assert!(!is_open(&Method::GET, "/assetsx"));
    }

    #[test]
    fn the_login_redirect_keeps_the_page_asked_for() {
        let uri: axum::http::Uri = "/grid/daily?runs=25&x=a%20b".parse().expect("a URI");
        assert_eq!(
            login_location(&uri),
            "/login?next=/grid/daily%3Fruns%3D25%26x%3Da%2520b"
        );
    }

    #[test]
    fn a_bearer_token_is_read_whatever_the_scheme_case() {
        let token =
            |text: &'static str| bearer_token(&HeaderValue::from_static(text)).map(str::to_owned);
        assert_eq!(token("Bearer tw_abc").as_deref(), Some("tw_abc"));
        assert_eq!(token("bearer tw_abc").as_deref(), Some("tw_abc"));
        assert_eq!(token("Basic dXNlcg=="), None);
        assert_eq!(token("Bearer "), None);
        assert_eq!(token("Bearer"), None);
    }

    #[test]
    fn headers_without_credentials_have_no_session() {
        assert_eq!(session_id(&axum::http::HeaderMap::new()), None);
    }
}
