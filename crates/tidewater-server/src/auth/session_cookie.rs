//! The session cookie: its name, reading it from a request, and the `Set-Cookie` values that
//! set and clear it.

use axum::http::{HeaderMap, header};
use tidewater_control::{OpenedSession, SESSION_LIFETIME};

/// The cookie holding a session's id (random, never the token).
pub(crate) const SESSION_COOKIE: &str = "tidewater_session";

/// The session id a request's `Cookie` headers carry, if any.
pub(crate) fn session_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .find_map(|cookie| {
            let (name, value) = cookie.trim().split_once('=')?;
            (name == SESSION_COOKIE).then_some(value)
        })
}

/// `Set-Cookie` for a new session. `HttpOnly`: no script of a page can read it.
/// `SameSite=Strict`: a browser sends it only with requests from this site's own pages.
/// `Path=/`: the UI and the API share it. Not `Secure`: this server speaks plain HTTP, and a
/// browser never sends a `Secure` cookie back over plain HTTP to an address like
/// `192.168.1.5` (nor, in some browsers, to `127.0.0.1`), so the login would silently not
/// hold. Behind a TLS-terminating proxy the proxy may add `Secure`.
pub(crate) fn set_cookie(session: &OpenedSession) -> String {
    format!(
        "{SESSION_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        session.secret.expose(),
        SESSION_LIFETIME.as_secs()
    )
}

/// `Set-Cookie` that makes the browser forget the session.
pub(crate) fn clear_cookie() -> String {
    format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn the_session_is_found_among_other_cookies() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("theme=dark"));
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; tidewater_session=abc; b=2"),
        );
        assert_eq!(session_id(&headers), Some("abc"));
        let mut other = HeaderMap::new();
        other.append(
            header::COOKIE,
            HeaderValue::from_static("tidewater_sessionx=abc"),
        );
        assert_eq!(session_id(&other), None);
    }
}
