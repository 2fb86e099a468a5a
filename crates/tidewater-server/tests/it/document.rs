//! The OpenAPI document holds every route the router serves: the router adds routes only
//! through utoipa-axum's `routes!` (which takes a handler only with its `#[utoipa::path]`),
//! and this is the list of them.

use std::collections::BTreeSet;

/// Every route of the API, as `METHOD path`.
const ROUTES: &[&str] = &[
    "get /api/v1/backfills/{id}",
    "get /api/v1/openapi.json",
    "get /api/v1/queue",
    "get /api/v1/runs",
    "get /api/v1/runs/{id}",
    "get /api/v1/runs/{id}/tasks/{task}/attempts/{attempt}/log",
    "get /api/v1/runs/{id}/tasks/{task}/attempts/{attempt}/log/tail",
    "get /api/v1/tables",
    "get /api/v1/tables/{name}",
    "get /api/v1/workflows",
    "get /api/v1/workflows/{name}",
    "post /api/v1/backfills",
    "post /api/v1/runs/{id}/cancel",
    "post /api/v1/runs/{id}/retry",
    "post /api/v1/workflows/{name}/runs",
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
fn no_route_bypasses_the_document() {
    // axum's own `route`, `route_service`, `nest` and `merge` would serve a route that the
    // document does not list.
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in std::fs::read_dir(&source).expect("src") {
        let path = entry.expect("an entry").path();
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
