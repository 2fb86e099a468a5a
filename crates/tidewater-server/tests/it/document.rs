//! The OpenAPI document holds every route the router serves: the router adds routes only
//! through utoipa-axum's `routes!` (which takes a handler only with its `#[utoipa::path]`),
//! and this is the list of them.

use std::collections::BTreeSet;

/// Every route of the API, as `METHOD path`.
const ROUTES: &[&str] = &[
    "delete /api/v1/session",
    "delete /api/v1/tokens/{name}",
    "get /api/v1/backfills/{id}",
    "get /api/v1/events",
    "get /api/v1/openapi.json",
    "get /api/v1/queue",
    "get /api/v1/runs",
    "get /api/v1/runs/{id}",
    "get /api/v1/streams",
    "get /api/v1/streams/{name}",
    "get /api/v1/tokens",
    "get /api/v1/views/{name}",
    "get /api/v1/runs/{id}/tasks/{task}/attempts/{attempt}/log",
    "get /api/v1/runs/{id}/tasks/{task}/attempts/{attempt}/log/tail",
    "get /api/v1/tables",
    "get /api/v1/tables/{name}",
    "get /api/v1/workers",
    "get /api/v1/workflows",
    "get /api/v1/workflows/{name}",
    "get /login",
    "get /metrics",
    "post /api/v1/backfills",
    "post /api/v1/runs/{id}/cancel",
    "post /api/v1/runs/{id}/clear",
    "post /api/v1/runs/{id}/retry",
    "post /api/v1/session",
    "post /api/v1/tokens",
    "post /api/v1/workers/attempts/{id}/log",
    "post /api/v1/workers/attempts/{id}/report",
    "post /api/v1/workers/claim",
    "post /api/v1/workers/heartbeat",
    "post /api/v1/workflows/{name}/runs",
    "post /login",
    "post /logout",
    "put /api/v1/streams/{name}/paused",
    "put /api/v1/workflows/{name}/paused",
];

#[test]
fn the_document_is_openapi_3_1_and_lists_every_route() {
    let document = serde_json::to_value(tidewater_server::document()).expect("serialises");
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|version| version.starts_with("3.1")),
        "{}",
        document["openapi"]
    );
    let documented: BTreeSet<String> = document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("a path item")
                .keys()
                .map(move |method| format!("{method} {path}"))
        })
        .collect();
    let expected: BTreeSet<String> = ROUTES.iter().map(|route| (*route).to_owned()).collect();
    assert_eq!(documented, expected);
}

#[test]
fn every_error_answer_is_documented_as_a_problem() {
    let document = serde_json::to_value(tidewater_server::document()).expect("serialises");
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            for (status, response) in operation["responses"].as_object().expect("responses") {
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(
                        response["content"]["application/problem+json"].is_object(),
                        "{method} {path} {status}: {response}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_document_declares_the_bearer_token_on_every_route_but_the_login_ones() {
    let document = serde_json::to_value(tidewater_server::document()).expect("serialises");
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["type"], "apiKey");
    assert_eq!(schemes["session"]["in"], "cookie");
    let open = [
        "get /login",
        "post /login",
        "post /logout",
        "post /api/v1/session",
    ];
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            let route = format!("{method} {path}");
            let security = &operation["security"];
            if open.contains(&route.as_str()) {
                assert_eq!(security, &serde_json::json!([{}]), "{route}");
            } else {
                assert_eq!(
                    security,
                    &serde_json::json!([{"bearer": []}, {"session": []}]),
                    "{route}"
                );
                assert!(operation["responses"]["401"].is_object(), "{route}");
                assert_eq!(
                    operation["responses"]["403"].is_object(),
                    method != "get" || path.starts_with("/api/v1/tokens"),
                    "{route}: 403 only where a scope can be too small"
                );
            }
        }
    }
}

#[test]
fn no_route_bypasses_the_document() {
    // axum's own `route`, `route_service`, `nest` and `merge` would serve a route that the
    // document does not list. The web UI (`src/ui.rs`, `src/ui/`) is exempt: its routes are
    // HTML pages, not the API, and stay out of the document on purpose (the next test keeps
    // them out of `/api`).
    let mut folders = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("a source folder") {
            let path = entry.expect("an entry").path();
            if path
                .file_name()
                .is_some_and(|name| name == "ui.rs" || name == "ui")
            {
                continue;
            }
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a source file");
            for call in [
                ".route(",
                ".route_service(",
                ".nest(",
                ".merge(",
                ".nest_service(",
            ] {
                assert!(
                    !text.contains(call),
                    "{} calls {call}: add the route with `routes!` instead",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn the_ui_serves_no_path_under_the_api() {
    // Every path the UI's router adds is the first string after a `.route(` in `ui.rs`.
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ui.rs");
    let text = std::fs::read_to_string(source).expect("ui.rs");
    let paths: Vec<&str> = text
        .split(".route(")
        .skip(1)
        .filter_map(|call| call.split('"').nth(1))
        .collect();
    assert!(paths.contains(&"/runs/{id}"), "{paths:?}");
    for path in paths {
        assert!(
            !path.starts_with("/api"),
            "the UI route {path} is under /api, where only documented routes go"
        );
    }
}
