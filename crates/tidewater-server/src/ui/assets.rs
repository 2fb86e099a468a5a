//! The UI's static files (its stylesheet and scripts, and the vendored htmx), embedded in the
//! binary. Each is linked with its content's hash in the URL, so it can be cached for a year:
//! a changed file has a new URL.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "assets/"]
struct Assets;

/// Every asset's URL, `/assets/<name>?v=<first 16 hex digits of its SHA-256>`.
static URLS: LazyLock<HashMap<String, String>> = LazyLock::new(|| {
    Assets::iter()
        .filter_map(|name| {
            let file = Assets::get(&name)?;
            let hash: String = file.metadata.sha256_hash()[..8]
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect();
            Some((name.to_string(), format!("/assets/{name}?v={hash}")))
        })
        .collect()
});

/// The URL of the asset `name` (a file of `assets/`), with its version.
pub(super) fn url(name: &str) -> String {
    URLS.get(name)
        .cloned()
        .unwrap_or_else(|| format!("/assets/{name}"))
}

/// `GET /assets/{file}`.
pub(super) async fn asset(Path(file): Path<String>) -> Response {
    let Some(content) = Assets::get(&file) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let kind = match file.rsplit_once('.').map(|(_, extension)| extension) {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            // The URL names the content (`?v=`): it never changes under that URL.
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        content.data.into_owned(),
    )
        .into_response()
}
