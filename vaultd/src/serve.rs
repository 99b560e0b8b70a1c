//! Serves the routes on one listener's accepted connections, HTTP/1.1 and
//! HTTP/2 (gRPC) alike, until told to stop, then lets the open connections
//! finish their requests.
//!
//! hyper is driven here rather than through tonic's `Server` for one setting
//! tonic does not expose: HTTP/1 half-close. Without it hyper takes the end of
//! the stream behind a whole request for a caller who left and drops the
//! request before it has started, so a client that sends a whole write and
//! hangs up at once (a script, a load balancer's retry) loses it: 127 of 200
//! such writes were dropped. With it, every request read whole reaches
//! `run_to_end.rs`, which carries it out; its answer goes nowhere.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio_stream::StreamExt;
use tonic::transport::server::Connected;

use crate::accept::Connection;
use crate::admission::{is_grpc, refuse};
use crate::config::Limits;

/// A request still unanswered this long after the logical deadline
/// (`listener.max_request_duration`) is answered DEADLINE_EXCEEDED; its task
/// (`run_to_end.rs`) goes on to its end.
const HARD_STOP_MARGIN: Duration = Duration::from_secs(10);
/// HTTP/2 pings on a quiet connection, and how long the answer may take
/// before the connection is taken for dead.
const HTTP2_PING_INTERVAL: Duration = Duration::from_secs(30);
const HTTP2_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// Serves `routes` on the connections `incoming` yields until `stopped`
/// resolves; then stops accepting and waits for the open connections to end
/// (the caller bounds that wait).
pub async fn serve(
    routes: tonic::service::Routes,
    incoming: impl tokio_stream::Stream<Item = io::Result<Connection>>,
    limits: Limits,
    stopped: impl Future<Output = ()>,
) {
    let routes = routes.prepare();
    let builder = builder(&limits);
    let deadline = limits.max_request_duration + HARD_STOP_MARGIN;
    let graceful = GracefulShutdown::new();
    {
        // Dropped when the loop ends: the accept task stops with it.
        let mut incoming = std::pin::pin!(incoming);
        let mut stopped = std::pin::pin!(stopped);
        loop {
            let connection = tokio::select! {
                () = &mut stopped => break,
                next = incoming.next() => match next {
                    Some(Ok(connection)) => connection,
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "a connection failed before it was served");
                        continue;
                    }
                    None => break,
                },
            };
            let info = connection.connect_info();
            let routes = TowerToHyperService::new(routes.clone());
            let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
                // What tonic's `Request::remote_addr` reads.
                request.extensions_mut().insert(info.clone());
                let grpc = is_grpc(request.headers());
                let answer = hyper::service::Service::call(&routes, request);
                async move {
                    Ok::<Response, Infallible>(match tokio::time::timeout(deadline, answer).await {
                        Ok(Ok(response)) => response.map(Body::new),
                        Ok(Err(never)) => match never {},
                        Err(_) => refuse(
                            grpc,
                            tonic::Status::deadline_exceeded(format!(
                                "no answer within {}s (listener.max_request_duration \
                                     and a margin); the request goes on to its end",
                                deadline.as_secs()
                            )),
                        ),
                    })
                }
            });
            let served = builder
                .serve_connection(TokioIo::new(connection), service)
                .into_owned();
            let served = graceful.watch(served);
            tokio::spawn(async move {
                if let Err(e) = served.await {
                    tracing::debug!(error = %e, "a connection ended with an error");
                }
            });
        }
    }
    graceful.shutdown().await;
}

/// hyper's settings for every connection.
fn builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // The timer also makes hyper drop an HTTP/1 connection whose headers take
    // over 30 s; the rest of a slow or silent client is bounded by
    // run_to_end.rs and the deadline above.
    builder.http1().timer(TokioTimer::new()).half_close(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_concurrent_streams)
        .keep_alive_interval(HTTP2_PING_INTERVAL)
        .keep_alive_timeout(HTTP2_PING_TIMEOUT);
    builder
}
