//! [`document_request_refusals`]: the answers every route gives to a request that does not
//! parse, added to the OpenAPI document in one place because they come from the extractors
//! ([`crate::extract`]), not from the handlers: a route that takes a JSON body answers 400
//! (malformed JSON), 415 (no `Content-Type: application/json`) and 422 (JSON of the wrong
//! shape); a route with path or query parameters answers 400 for one of the wrong type.
//! Found by Schemathesis: these answers were given but not documented.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

/// Adds the extractors' refusals to every operation that can give them; a route that
/// documents one of these statuses itself keeps its own description.
pub(crate) fn document_request_refusals(document: &mut OpenApi) {
    for item in document.paths.paths.values_mut() {
        let path_parameters = item
            .parameters
            .iter()
            .flatten()
            .any(|parameter| matches!(parameter, RefOr::T(parameter) if parameter.parameter_in == ParameterIn::Path));
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            add_refusals(operation, path_parameters);
        }
    }
}

fn add_refusals(operation: &mut Operation, path_parameters: bool) {
    let has_parameters = path_parameters
        || operation.parameters.iter().flatten().any(|parameter| {
            matches!(parameter, RefOr::T(parameter)
                if matches!(parameter.parameter_in, ParameterIn::Path | ParameterIn::Query))
        });
    let has_body = operation.request_body.is_some();
    let mut refusals = Vec::new();
    if has_parameters || has_body {
        refusals.push((
            "400",
            "A path or query parameter of the wrong type, or a body that is not JSON",
        ));
    }
    if has_body {
        refusals.push((
            "415",
            "The body is not sent as `Content-Type: application/json`",
        ));
        refusals.push(("422", "The body is JSON of the wrong shape, or invalid"));
    }
    for (status, description) in refusals {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(problem(description)));
    }
}

fn problem(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}
