//! What a request must pass before its body is read, so that nothing a caller
//! without a token sends costs more than a small, fixed amount of memory:
//! - a place among the requests in flight (`listener.max_concurrent_requests`),
//!   taken before the body, refused (not queued) when none is free;
//! - a body budget: `listener.max_unauthenticated_request_size` unless the
//!   request carries a live token (`Vault::token_is_live`, asked only when the
//!   body may be larger than that), then `listener.max_request_size`;
//! - a share of `listener.max_request_bytes_in_flight`, the bytes of all
//!   bodies being read at once, taken as the bytes arrive.
//!
//! One middleware for HTTP and gRPC alike. Health checks pass without a place,
//! so a busy node still answers its load balancer.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use vault_core::Vault;

use crate::server::Limits;

/// The admission state of one listener set.
#[derive(Debug)]
pub struct Admission {
    vault: Arc<Vault>,
    limits: Limits,
    // An HA node: a forwarded request's signed client address is honoured.
    ha: bool,
    in_flight: Arc<Semaphore>,
    body_bytes: Arc<Semaphore>,
}

impl Admission {
    pub fn new(vault: Arc<Vault>, limits: Limits, ha: bool) -> Self {
        Admission {
            vault,
            limits,
            ha,
            in_flight: Arc::new(Semaphore::new(limits.max_concurrent_requests)),
            body_bytes: Arc::new(Semaphore::new(limits.max_request_bytes_in_flight)),
        }
    }
}

/// A request's place among those in flight, carried in its extensions. The
/// task that runs the request to its end holds it; the `Logical` service
/// moves it into the task that handles the request, so a request still
/// running after its caller was answered still counts.
#[derive(Debug, Clone)]
pub struct InFlight(Arc<Mutex<Option<OwnedSemaphorePermit>>>);

impl InFlight {
    /// The permit, for the task that will hold it; `None` once taken.
    pub fn take(&self) -> Option<OwnedSemaphorePermit> {
        self.0.lock().ok().and_then(|mut p| p.take())
    }
}

/// The middleware.
pub async fn admit(
    State(admission): State<Arc<Admission>>,
    mut request: Request,
    next: Next,
) -> Response {
    if is_health_check(request.uri().path()) {
        return next.run(request).await;
    }
    client_behind_standby(&admission, &mut request).await;
    let grpc = is_grpc(request.headers());
    let limits = &admission.limits;
    let Ok(permit) = Arc::clone(&admission.in_flight).try_acquire_owned() else {
        return refuse(
            grpc,
            tonic::Status::resource_exhausted(format!(
                "too many requests in flight: the limit is {} (listener.max_concurrent_requests); \
                 retry shortly",
                limits.max_concurrent_requests
            )),
        );
    };
    request
        .extensions_mut()
        .insert(InFlight(Arc::new(Mutex::new(Some(permit)))));

    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let small = limits.max_unauthenticated_request_size;
    let empty = request.body().is_end_stream() || declared == Some(0);
    let may_be_large = !empty && declared.is_none_or(|n| n > small as u64);
    let (cap, setting) = if may_be_large && live_token(&admission.vault, request.headers()).await {
        (limits.max_request_size, "listener.max_request_size")
    } else {
        (small, UNAUTHENTICATED_SETTING)
    };
    if let Some(n) = declared
        && n > cap as u64
    {
        return refuse(grpc, too_large(cap, setting));
    }
    if !empty {
        let body = std::mem::take(request.body_mut());
        *request.body_mut() = Body::new(Budgeted {
            inner: body,
            left: cap,
            cap,
            setting,
            budget: Arc::clone(&admission.body_bytes),
            budget_size: limits.max_request_bytes_in_flight,
            held: None,
        });
    }
    next.run(request).await
}

const UNAUTHENTICATED_SETTING: &str =
    "listener.max_unauthenticated_request_size; a request with a valid token may send more";

fn too_large(cap: usize, setting: &str) -> tonic::Status {
    tonic::Status::out_of_range(format!(
        "the request body is larger than {cap} bytes ({setting})"
    ))
}

/// A request a standby forwarded carries its client's address, signed
/// (`x-vault-forwarded-for`, vault-core's forwarded.rs): when the signature
/// holds, that address becomes the request's, so that everything after
/// (bound CIDRs, login limits, the audit log) judges the client, not the
/// standby. The field is removed either way; a client that sends it itself
/// gains nothing.
async fn client_behind_standby(admission: &Admission, request: &mut Request) {
    let Some(value) = request
        .headers_mut()
        .remove(vault_proto::FORWARDED_FOR_METADATA_KEY)
    else {
        return;
    };
    if !admission.ha
        || !request
            .headers()
            .contains_key(vault_proto::FORWARDED_METADATA_KEY)
    {
        return;
    }
    let token = request
        .headers()
        .get(vault_proto::TOKEN_METADATA_KEY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(client) = (match value.to_str() {
        Ok(v) => admission.vault.verify_forwarded_for(v, token).await,
        Err(_) => None,
    }) else {
        tracing::warn!(
            "a forwarded request's client address did not verify; the connection's is used"
        );
        return;
    };
    if let Some(info) = request
        .extensions_mut()
        .get_mut::<tonic::transport::server::TcpConnectInfo>()
    {
        info.remote_addr = Some(std::net::SocketAddr::new(client, 0));
    }
}

/// gRPC's and Vault's health checks: answered whatever the load.
fn is_health_check(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/") || path == "/v1/sys/health"
}

fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

/// The request's token (HTTP: `X-Vault-Token` or `Authorization: Bearer`;
/// gRPC: the same metadata key) names a live token.
async fn live_token(vault: &Vault, headers: &HeaderMap) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let token = header(vault_proto::TOKEN_METADATA_KEY).or_else(|| {
        header("authorization").and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
    });
    match token.map(str::trim) {
        Some(t) if !t.is_empty() => vault.token_is_live(t).await,
        _ => false,
    }
}

/// The refusal, in the caller's protocol.
fn refuse(grpc: bool, status: tonic::Status) -> Response {
    if grpc {
        let (parts, ()) = status.into_http::<()>().into_parts();
        return Response::from_parts(parts, Body::empty());
    }
    let code = match status.code() {
        tonic::Code::OutOfRange => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::TOO_MANY_REQUESTS,
    };
    crate::http::error_reply(code, status.message())
}

/// A body read within its request's cap and the listener's shared budget;
/// the budget's bytes are given back when the body has been read (dropped).
struct Budgeted {
    inner: Body,
    left: usize,
    cap: usize,
    setting: &'static str,
    budget: Arc<Semaphore>,
    budget_size: usize,
    held: Option<OwnedSemaphorePermit>,
}

impl HttpBody for Budgeted {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        if let Some(data) = frame.data_ref() {
            let n = data.len();
            if n > this.left {
                return Poll::Ready(Some(Err(too_large(this.cap, this.setting).into())));
            }
            this.left -= n;
            let taken = u32::try_from(n)
                .ok()
                .and_then(|n| Arc::clone(&this.budget).try_acquire_many_owned(n).ok());
            let Some(taken) = taken else {
                return Poll::Ready(Some(Err(tonic::Status::resource_exhausted(format!(
                    "request bodies being read take all of {} bytes \
                     (listener.max_request_bytes_in_flight); retry shortly",
                    this.budget_size
                ))
                .into())));
            };
            match &mut this.held {
                Some(held) => held.merge(taken),
                None => this.held = Some(taken),
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Why a body could not be read, when admission refused it: the status
/// carried in the body's error chain.
pub fn refusal<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a tonic::Status> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(status) = e.downcast_ref::<tonic::Status>() {
            return Some(status);
        }
        next = e.source();
    }
    None
}
