//! The login page (`GET /login`): a form that posts an API token and the page to return to
//! to `POST /login`, which opens a session (the auth middleware's). The token field is a
//! password field: it is never shown, and the page never echoes one.

use askama::Template;
use serde::Deserialize;

use super::layout::{Layout, Live, Nav};
use super::ui_error::{PageResult, UiQuery, page};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    next: String,
    has_failed: bool,
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoginQuery {
    next: Option<String>,
    /// Set when a token was refused.
    #[serde(default)]
    failed: bool,
}

/// `GET /login?next=/path`.
pub(crate) async fn login(UiQuery(query): UiQuery<LoginQuery>) -> PageResult {
    // Only a path of this site: an absolute or scheme-relative URL would send the person
    // elsewhere after logging in.
    let next = query
        .next
        .filter(|next| next.starts_with('/') && !next.starts_with("//"))
        .unwrap_or_else(|| "/".to_owned());
    page(&LoginPage {
        layout: Layout::new("Log in", Nav::None, Live::Static),
        next,
        has_failed: query.failed,
    })
}
