//! Whether a request comes from a page of this server: its `Origin`, or else its `Referer`,
//! against the origin its `Host` header names.

use axum::http::{HeaderMap, header};

/// True if the request's `Origin` (or, without one, its `Referer`) is this server's origin:
/// `http://HOST` or `https://HOST` with `HOST` as the `Host` header gives it (host and port).
/// Both schemes, because behind a TLS-terminating proxy the browser's origin is `https`
/// while this server speaks plain HTTP; what tells a foreign site apart is its host and
/// port. False without either header, or without `Host`.
pub(crate) fn is_same_origin(headers: &HeaderMap) -> bool {
    let Some(host) = text(headers, header::HOST) else {
        return false;
    };
    let claimed = match text(headers, header::ORIGIN) {
        Some(origin) => origin,
        None => match text(headers, header::REFERER) {
            Some(referer) => origin_of(referer),
            None => return false,
        },
    };
    let Some((scheme, authority)) = claimed.split_once("://") else {
        return false;
    };
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return false,
    };
    // A browser leaves the scheme's default port out of `Origin`; a client may leave it in
    // `Host` or not.
    let without_default = |authority: &str| {
        authority
            .strip_suffix(default_port)
            .unwrap_or(authority)
            .to_ascii_lowercase()
    };
    without_default(authority) == without_default(host)
}

fn text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name)?.to_str().ok()
}

/// `scheme://authority` of a URL.
fn origin_of(url: &str) -> &str {
    let Some((_, rest)) = url.split_once("://") else {
        return url;
    };
    let end = rest
        .find(['/', '?', '#'])
        .map_or(url.len(), |index| url.len() - rest.len() + index);
    &url[..end]
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.clone(), HeaderValue::from_static(value)))
            .collect()
    }

    #[test]
    fn the_origin_must_be_the_host_the_request_was_sent_to() {
        let host = (header::HOST, "127.0.0.1:8080");
        let same = [
            (header::ORIGIN, "http://127.0.0.1:8080"),
            (header::ORIGIN, "https://127.0.0.1:8080"),
            (header::REFERER, "http://127.0.0.1:8080/grid/daily?x=1"),
            (header::REFERER, "http://127.0.0.1:8080"),
        ];
        for claimed in same {
            assert!(
                is_same_origin(&headers(&[host.clone(), claimed.clone()])),
                "{claimed:?}"
            );
        }
        let foreign = [
            (header::ORIGIN, "http://evil.example"),
            (header::ORIGIN, "http://127.0.0.1:8081"),
            (header::ORIGIN, "http://127.0.0.1"),
            (header::ORIGIN, "null"),
            (header::REFERER, "http://127.0.0.1:8080.evil.example/"),
            (header::REFERER, "http://evil.example/http://127.0.0.1:8080"),
        ];
        for claimed in foreign {
            assert!(
                !is_same_origin(&headers(&[host.clone(), claimed.clone()])),
                "{claimed:?}"
            );
        }
        assert!(
            !is_same_origin(&headers(std::slice::from_ref(&host))),
            "neither header"
        );
        assert!(
            !is_same_origin(&headers(&[(header::ORIGIN, "http://127.0.0.1:8080")])),
            "no Host"
        );
        // The Origin decides when both are there.
        assert!(!is_same_origin(&headers(&[
            host,
            (header::ORIGIN, "http://evil.example"),
            (header::REFERER, "http://127.0.0.1:8080/"),
        ])));
        // Default ports.
        assert!(is_same_origin(&headers(&[
            (header::HOST, "tower.example:80"),
            (header::ORIGIN, "http://tower.example"),
        ])));
    }
}
