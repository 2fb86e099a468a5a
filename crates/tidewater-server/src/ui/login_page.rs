//! The login page in the UI's look: a form that posts an API token and the page to return to
//! to `POST /login`, which opens a session (`auth/sessions.rs` serves both routes and calls
//! this). The token field is a password field, and the page never echoes a token.

use askama::Template;

use super::layout::{Layout, Live, Nav};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    layout: Layout,
    next: &'a str,
    has_failed: bool,
}

/// The page; `next` (a local path, checked by the caller) is carried through the form.
pub(crate) fn login_html(next: &str, has_failed: bool) -> String {
    LoginPage {
        layout: Layout::new("Log in", Nav::None, Live::Static),
        next,
        has_failed,
    }
    .render()
    .unwrap_or_else(|error| {
        tracing::error!(%error, "the login page did not render");
        "the login page did not render; the server's log says why".to_owned()
    })
}
