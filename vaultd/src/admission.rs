//! What a request must pass before its body is read, so that nothing a caller
//! without a token sends costs more than a small, fixed amount of memory:
//! - a place among the requests in flight (`listener.max_concurrent_requests`),
//!   taken before the body, refused (not queued) when none is free;
//! - a body budget: `listener.max_unauthenticated_request_size` unless the
//!   request carries a live token (`Vault::token_is_live`, asked only once the
//!   body is larger than that), then `listener.max_request_size`;
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
use vault_core::secret::SecretString;

use crate::config::Limits;

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
    if request.body().is_end_stream() || declared == Some(0) {
        return next.run(request).await;
    }
    let small = limits.max_unauthenticated_request_size;
    let token = token_of(request.headers()).map(|t| SecretString::new(t.to_owned()));
    // A declared length says at once which budget applies; otherwise (gRPC,
    // chunked bodies) the token is asked about only if the body passes the
    // small budget, so small requests cost no lookup.
    let mut check = match token {
        None => Check::NoToken,
        Some(token) => Check::Token(token),
    };
    if let Some(n) = declared
        && n > small as u64
    {
        check = match check {
            Check::Token(token) if admission.vault.token_is_live(token.expose_secret()).await => {
                Check::Live
            }
            _ => return refuse(grpc, too_large(small, UNAUTHENTICATED_SETTING)),
        };
        if n > limits.max_request_size as u64 {
            return refuse(grpc, too_large(limits.max_request_size, FULL_SETTING));
        }
    }
    let body = std::mem::take(request.body_mut());
    *request.body_mut() = Body::new(Budgeted {
        inner: body,
        read: 0,
        small,
        full: limits.max_request_size,
        check,
        vault: Arc::clone(&admission.vault),
        asking: None,
        stash: None,
        budget: Arc::clone(&admission.body_bytes),
        budget_size: limits.max_request_bytes_in_flight,
        held: None,
    });
    next.run(request).await
}

const FULL_SETTING: &str = "listener.max_request_size";

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
    let token = token_of(request.headers()).unwrap_or_default();
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

pub fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

/// The request's token (HTTP: `X-Vault-Token` or `Authorization: Bearer`;
/// gRPC: the same metadata key), if any.
pub fn token_of(headers: &HeaderMap) -> Option<&str> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    header(vault_proto::TOKEN_METADATA_KEY)
        .or_else(|| {
            header("authorization").and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The refusal, in the caller's protocol.
pub fn refuse(grpc: bool, status: tonic::Status) -> Response {
    if grpc {
        let (parts, ()) = status.into_http::<()>().into_parts();
        return Response::from_parts(parts, Body::empty());
    }
    let code = match status.code() {
        tonic::Code::OutOfRange => StatusCode::PAYLOAD_TOO_LARGE,
        tonic::Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        tonic::Code::DeadlineExceeded => StatusCode::REQUEST_TIMEOUT,
        tonic::Code::InvalidArgument => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    crate::http::reply::error(code, status.message())
}

/// How a body may pass the small budget.
enum Check {
    /// No token: it may not.
    NoToken,
    /// A token, not yet asked about.
    Token(SecretString),
    /// A live token: up to the full size.
    Live,
}

/// A body read within its request's budget and the listener's shared one;
/// the shared bytes are given back when the body has been read (dropped).
struct Budgeted {
    inner: Body,
    read: usize,
    small: usize,
    full: usize,
    check: Check,
    vault: Arc<Vault>,
    // The token lookup under way, and the frame that waits for its answer.
    asking: Option<Pin<Box<dyn std::future::Future<Output = bool> + Send>>>,
    stash: Option<Frame<Bytes>>,
    budget: Arc<Semaphore>,
    budget_size: usize,
    held: Option<OwnedSemaphorePermit>,
}

impl Budgeted {
    /// Counts `frame` against the budgets: `Ok` to pass it on.
    fn account(&mut self, n: usize) -> Result<(), tonic::Status> {
        if self.read + n > self.full {
            return Err(too_large(self.full, FULL_SETTING));
        }
        self.read += n;
        let taken = u32::try_from(n)
            .ok()
            .and_then(|n| Arc::clone(&self.budget).try_acquire_many_owned(n).ok())
            .ok_or_else(|| {
                tonic::Status::resource_exhausted(format!(
                    "request bodies being read take all of {} bytes \
                     (listener.max_request_bytes_in_flight); retry shortly",
                    self.budget_size
                ))
            })?;
        match &mut self.held {
            Some(held) => held.merge(taken),
            None => self.held = Some(taken),
        }
        Ok(())
    }
}

impl HttpBody for Budgeted {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        // A frame that passed the small budget waits for the token's answer.
        if let Some(asking) = &mut this.asking {
            let live = match asking.as_mut().poll(cx) {
                Poll::Ready(live) => live,
                Poll::Pending => return Poll::Pending,
            };
            this.asking = None;
            if !live {
                return Poll::Ready(Some(Err(
                    too_large(this.small, UNAUTHENTICATED_SETTING).into()
                )));
            }
            this.check = Check::Live;
            let Some(frame) = this.stash.take() else {
                return Poll::Ready(None);
            };
            let n = frame.data_ref().map_or(0, Bytes::len);
            return Poll::Ready(Some(match this.account(n) {
                Ok(()) => Ok(frame),
                Err(e) => Err(e.into()),
            }));
        }
        let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        let n = frame.data_ref().map_or(0, Bytes::len);
        if this.read + n > this.small {
            match std::mem::replace(&mut this.check, Check::NoToken) {
                Check::Live => this.check = Check::Live,
                Check::NoToken => {
                    return Poll::Ready(Some(Err(
                        too_large(this.small, UNAUTHENTICATED_SETTING).into()
                    )));
                }
                Check::Token(token) => {
                    let vault = Arc::clone(&this.vault);
                    this.asking = Some(Box::pin(async move {
                        vault.token_is_live(token.expose_secret()).await
                    }));
                    this.stash = Some(frame);
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            }
        }
        Poll::Ready(Some(match this.account(n) {
            Ok(()) => Ok(frame),
            Err(e) => Err(e.into()),
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.stash.is_none() && self.asking.is_none() && self.inner.is_end_stream()
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
