//! The request's parts as the handlers take them: axum's extractors whose rejections are
//! [`Problem`]s (axum's own answer plain text).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::problem::Problem;

/// A JSON body.
pub(crate) struct Body<T>(pub(crate) T);

/// The path's parameters.
pub(crate) struct PathOf<T>(pub(crate) T);

/// The query string.
pub(crate) struct QueryOf<T>(pub(crate) T);

impl<T, S> FromRequest<S> for Body<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(Problem::malformed(
                rejection.status(),
                rejection.body_text(),
            )),
        }
    }
}

impl<T, S> FromRequestParts<S> for PathOf<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(PathOf(value)),
            // A path that does not parse names no resource: 400, never 500.
            Err(rejection) => Err(Problem::malformed(
                axum::http::StatusCode::BAD_REQUEST,
                rejection.body_text(),
            )),
        }
    }
}

impl<T, S> FromRequestParts<S> for QueryOf<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(QueryOf(value)),
            Err(rejection) => Err(Problem::malformed(
                rejection.status(),
                rejection.body_text(),
            )),
        }
    }
}
