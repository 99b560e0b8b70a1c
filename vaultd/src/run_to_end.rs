//! Every request runs to its end: once its body has arrived whole, it is
//! handled on a task of its own, so a client that hangs up, or a deadline
//! that drops its connection's future, cannot stop a state change halfway (a
//! keyring term stored but not in effect, a seal without its audit entry).
//! The answer goes to the caller if it is still there; the audit log has it
//! either way.
//!
//! The body is read here, before the task starts, while the connection that
//! feeds it is held: a request whose body never arrives whole starts nothing.
//! A client that sends its whole request and hangs up at once still gets it
//! carried out: the connection is served with HTTP/1 half-close (serve.rs).

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::admission::{InFlight, is_grpc, refuse};

/// The middleware: the body read (within `body_timeout`), then `next` (the
/// route's handler) on its own task.
pub async fn run_to_end(
    State(body_timeout): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let grpc = is_grpc(&parts.headers);
    let body = if axum::body::HttpBody::is_end_stream(&body) {
        body
    } else {
        // The caps were set by admission (admission.rs): its wrapper refuses
        // past them, so no limit is needed here.
        match tokio::time::timeout(body_timeout, axum::body::to_bytes(body, usize::MAX)).await {
            Ok(Ok(bytes)) => Body::from(bytes),
            Ok(Err(e)) => {
                let refused = std::error::Error::source(&e)
                    .and_then(crate::admission::refusal)
                    .cloned();
                return refuse(
                    grpc,
                    refused.unwrap_or_else(|| {
                        tonic::Status::invalid_argument(format!(
                            "the request body could not be read: {e}"
                        ))
                    }),
                );
            }
            Err(_) => {
                return refuse(
                    grpc,
                    tonic::Status::deadline_exceeded(format!(
                        "the request body did not arrive within {}s \
                         (listener.max_request_duration)",
                        body_timeout.as_secs()
                    )),
                );
            }
        }
    };
    let request = Request::from_parts(parts, body);
    // The request's place in flight is held until its task ends (unless the
    // handler moves it into a task of its own).
    let place = request.extensions().get::<InFlight>().cloned();
    let task = tokio::spawn(async move {
        let response = next.run(request).await;
        drop(place);
        response
    });
    match task.await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(error = %e, "a request's task failed");
            refuse(grpc, tonic::Status::internal("the request's task failed"))
        }
    }
}
