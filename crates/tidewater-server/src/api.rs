//! [`Api`]: what every handler is given, and the router of every route with its OpenAPI
//! document, built together so that no route is served undocumented.

use std::sync::Arc;

use axum::Router;
use axum::extract::OriginalUri;
use tidewater_control::{Control, Metrics};
use utoipa::OpenApi;
use utoipa::openapi::OpenApi as Document;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::problem::Problem;
use crate::request_refusals::document_request_refusals;
use crate::{
    auth, backfills, events, logs, metrics, queue, runs, streams, tables, tokens, workers,
    workflows,
};

/// The project every request works on.
#[derive(Clone)]
pub struct Api {
    pub control: Arc<Control>,
    /// The server's `--parallelism`, which the queue's explanation must agree with.
    pub parallelism: Option<u32>,
    /// Turns `true` when the server begins to stop: long-lived answers (the events stream, a log's
    /// live tail) end then, so that stopping does not wait for them.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// What `GET /metrics` counts, since the server started.
    pub metrics: Arc<Metrics>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tidewater",
        description = "The control tower of a Tidewater project: its workflows, runs, backfills, \
                       queue, attempts' logs and warehouse tables. Errors are RFC 9457 \
                       `application/problem+json`. Once a token exists (`tidewater token \
                       create`), every request needs `Authorization: Bearer TOKEN` or the \
                       session cookie of `POST /login`."
    ),
    tags(
        (name = "workflows", description = "The project's workflows"),
        (name = "runs", description = "Runs and what can be done to them"),
        (name = "backfills", description = "Runs of a date range, a few at a time"),
        (name = "queue", description = "What waits and why"),
        (name = "tokens", description = "The API's tokens (scope admin)"),
        (name = "session", description = "Logging in with a token: the UI's session cookie"),
        (name = "events", description = "State changes as they happen (server-sent events)"),
        (name = "logs", description = "Attempts' logs, by byte range or live"),
        (name = "tables", description = "The warehouse's tables and their partitions"),
        (name = "meta", description = "This API itself, and the server's metrics"),
        (name = "workers", description = "`tidewater worker` processes: the list (scope read), and their protocol (scope worker)"),
        (name = "streams", description = "Streams from NATS JetStream into Delta tables, supervised by the server"),
    ),
    components(schemas(Problem))
)]
struct ApiDoc;

/// The router of the API (under `/api/v1`) and its OpenAPI 3.1 document, which it also
/// serves at `/api/v1/openapi.json`. Every route is added through [`routes`], so a route
/// exists only with its entry in the document.
pub fn router(api: Api) -> (Router, Document) {
    let (router, mut document) = routes().with_state(api).split_for_parts();
    document_request_refusals(&mut document);
    auth::document_security(&mut document);
    let served = document.clone();
    let router = router
        .layer(axum::Extension(Arc::new(served)))
        .fallback(|OriginalUri(uri): OriginalUri| async move { Problem::no_route(uri.path()) })
        .method_not_allowed_fallback(|OriginalUri(uri): OriginalUri| async move {
            Problem::method_not_allowed(uri.path())
        });
    (router, document)
}

/// The OpenAPI document of the API, without serving it.
pub fn document() -> Document {
    let mut document = routes().split_for_parts().1;
    document_request_refusals(&mut document);
    auth::document_security(&mut document);
    document
}

/// Every route, each with its `#[utoipa::path]` (which `routes!` requires). Nothing else
/// adds a route: a test checks that this crate never calls axum's own `route`.
fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(workflows::list_workflows))
        .routes(routes!(workflows::workflow))
        .routes(routes!(workflows::create_run))
        .routes(routes!(workflows::set_paused))
        .routes(routes!(runs::list_runs))
        .routes(routes!(runs::run))
        .routes(routes!(runs::retry))
        .routes(routes!(runs::clear))
        .routes(routes!(runs::cancel))
        .routes(routes!(logs::log))
        .routes(routes!(logs::tail))
        .routes(routes!(backfills::start_backfill))
        .routes(routes!(backfills::backfill))
        .routes(routes!(queue::queue))
        .routes(routes!(events::events))
        .routes(routes!(tables::list))
        .routes(routes!(tables::table))
        .routes(routes!(tables::view))
        .routes(routes!(openapi_document))
        .routes(routes!(metrics::metrics))
        .routes(routes!(tokens::list_tokens, tokens::create_token))
        .routes(routes!(tokens::revoke_token))
        .routes(routes!(workers::list_workers))
        .routes(routes!(workers::claim))
        .routes(routes!(workers::heartbeat))
        .routes(routes!(workers::append_log))
        .routes(routes!(workers::report))
        .routes(routes!(auth::sessions::login_form, auth::sessions::login))
        .routes(routes!(auth::sessions::logout))
        .routes(routes!(streams::list_streams))
        .routes(routes!(streams::stream))
        .routes(routes!(streams::set_paused))
        .routes(routes!(
            auth::sessions::open_session,
            auth::sessions::end_session
        ))
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json"))
)]
async fn openapi_document(
    axum::Extension(document): axum::Extension<Arc<Document>>,
) -> axum::Json<Document> {
    axum::Json((*document).clone())
}
