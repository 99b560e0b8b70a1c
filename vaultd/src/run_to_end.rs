//! Every request runs to its end: it is handled on a task of its own, so a
//! client that hangs up, or a deadline that drops its connection's future,
//! cannot stop a state change halfway (a keyring term stored but not in
//! effect, a seal without its audit entry). The answer goes to the caller if
//! it is still there; the audit log has it either way.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The middleware: `next` (the route's handler) on its own task.
pub async fn run_to_end(request: Request, next: Next) -> Response {
    // The request's place in flight is held until its task ends (unless the
    // handler moves it into a task of its own).
    let place = request
        .extensions()
        .get::<crate::admission::InFlight>()
        .cloned();
    let task = tokio::spawn(async move {
        let response = next.run(request).await;
        drop(place);
        response
    });
    match task.await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(error = %e, "a request's task failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the request's task failed",
            )
                .into_response()
        }
    }
}
