//! [`UiError`]: what a page answers when a use case refuses or fails: the status the API
//! would give (the one mapping, [`Problem`]) and the use case's message, as a page.

use askama::Template;
use axum::extract::rejection::{FormRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Response};
use serde::de::DeserializeOwned;
use tidewater_control::ControlError;

use super::layout::{Layout, Live, Nav};
use crate::problem::Problem;

/// A page that could not be shown, or an action refused.
#[derive(Debug)]
pub(crate) struct UiError(pub(crate) Problem);

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    problem: &'a Problem,
}

impl From<ControlError> for UiError {
    fn from(error: ControlError) -> UiError {
        UiError(Problem::from(error))
    }
}

impl From<Problem> for UiError {
    fn from(problem: Problem) -> UiError {
        UiError(problem)
    }
}

impl UiError {
    /// The caller's input is wrong (422), with what to fix.
    pub(crate) fn invalid(detail: impl Into<String>) -> UiError {
        UiError::from(ControlError::Invalid(detail.into()))
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let page = ErrorPage {
            layout: Layout::new(&self.0.title, Nav::None, Live::Static),
            problem: &self.0,
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, self.0.detail).into_response(),
        }
    }
}

/// A page's result: its HTML, or the error page.
pub(crate) type PageResult = Result<Response, UiError>;

/// Renders a page's template.
pub(crate) fn page(template: &impl Template) -> PageResult {
    template
        .render()
        .map(|html| Html(html).into_response())
        .map_err(|error| {
            tracing::error!(%error, "a page of the UI did not render");
            UiError(Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "The server failed",
                "the page did not render; the server's log says why",
            ))
        })
}

/// The path's parameters; a path that does not parse names no page (400, as the API).
pub(crate) struct UiPath<T>(pub(crate) T);

/// The query string.
pub(crate) struct UiQuery<T>(pub(crate) T);

/// A submitted form (`application/x-www-form-urlencoded`).
pub(crate) struct UiForm<T>(pub(crate) T);

impl<T, S> FromRequestParts<S> for UiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, UiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| UiPath(value))
            .map_err(|rejection: PathRejection| {
                UiError(Problem::malformed(
                    StatusCode::BAD_REQUEST,
                    rejection.body_text(),
                ))
            })
    }
}

impl<T, S> FromRequestParts<S> for UiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, UiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| UiQuery(value))
            .map_err(|rejection: QueryRejection| {
                UiError(Problem::malformed(
                    rejection.status(),
                    rejection.body_text(),
                ))
            })
    }
}

impl<T, S> FromRequest<S> for UiForm<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = UiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, UiError> {
        axum::Form::<T>::from_request(request, state)
            .await
            .map(|axum::Form(value)| UiForm(value))
            .map_err(|rejection: FormRejection| {
                UiError(Problem::malformed(
                    rejection.status(),
                    rejection.body_text(),
                ))
            })
    }
}
