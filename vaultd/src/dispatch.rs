//! The one way vaultd serves a request, whichever wire it came by. The gRPC
//! services (logical.rs, sys.rs) and Vault's HTTP API (http/) are adapters:
//! each turns its wire format into a [`Call`] (a `vault_core::Request` and
//! what the transport knows about it) and the [`Answer`] back. Here, once:
//! forwarding to the active node (forward.rs), the request's span in the
//! caller's trace, running `Vault::handle` on a task of its own within
//! `listener.max_request_duration`, and the request's log line.
//!
//! No access decision is made here: `Vault::handle` makes them all.

use std::borrow::Cow;
use std::sync::Arc;

use axum::http::{Extensions, HeaderMap};
use tokio::sync::OwnedSemaphorePermit;
use tonic::Status;
use tonic::transport::server::TcpConnectInfo;
use tracing::Instrument as _;
use vault_core::Vault;
use vault_core::request::{Request, Response};

use crate::config::Limits;
use crate::forward::Forwarder;
use crate::status::from_vault;
use crate::trace::{self, SpanExport, SpanSink, TraceContext};

/// One request, from either wire.
#[derive(Debug)]
pub struct Call {
    /// What to do, where, with which data, token and client address.
    pub request: Request,
    /// A standby forwarded it here (`x-vault-forwarded-by`): never forwarded
    /// again.
    pub forwarded: bool,
    /// The client asked a standby to answer with the active node's address
    /// rather than forward (`X-Vault-No-Request-Forwarding`).
    pub no_forward: bool,
    /// The caller's W3C `traceparent`, if it sent one.
    pub traceparent: Option<String>,
    /// The place admission gave the request (admission.rs), held until it is
    /// handled, so a request still running after its caller was answered
    /// DEADLINE_EXCEEDED counts.
    pub permit: Option<OwnedSemaphorePermit>,
}

impl Call {
    /// `request` as it came, with what both wires carry the same way: the
    /// headers (gRPC metadata is HTTP headers, with the same names) for the
    /// token, the forwarding marks and the trace, and the connection's
    /// extensions for the client's address (a forwarded request's, once
    /// admission verified it) and the request's place in flight.
    pub fn from_wire(mut request: Request, headers: &HeaderMap, extensions: &Extensions) -> Call {
        if let Some(token) = crate::admission::token_of(headers) {
            request = request.with_token(token);
        }
        request.remote_addr = client_address(extensions);
        // Bounded again where they are read (vault-core's mfa check); at
        // most this many values are taken off the wire.
        request.mfa = headers
            .get_all(vault_proto::MFA_METADATA_KEY)
            .iter()
            .take(MAX_MFA_HEADERS)
            .filter_map(|v| v.to_str().ok())
            .map(vault_core::secret::SecretString::from)
            .collect();
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        // Judged (and refused with a clear error) by vault-core after routing.
        request.wrap_ttl = headers
            .get(vault_proto::WRAP_TTL_METADATA_KEY)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        Call {
            forwarded: headers.contains_key(vault_proto::FORWARDED_METADATA_KEY),
            no_forward: text(vault_proto::NO_FORWARD_METADATA_KEY)
                .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1"),
            traceparent: text(trace::TRACEPARENT).map(str::to_owned),
            permit: extensions
                .get::<crate::admission::InFlight>()
                .and_then(crate::admission::InFlight::take),
            request,
        }
    }
}

/// `X-Vault-MFA` values read from one request at most.
const MAX_MFA_HEADERS: usize = 8;

/// The client's address from the connection's extensions (a forwarded
/// request's, once admission verified its signature).
pub fn client_address(extensions: &Extensions) -> Option<std::net::IpAddr> {
    extensions
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .map(|a| a.ip())
}

/// What a request produced, here or on the active node.
#[derive(Debug)]
pub struct Answer {
    /// The id of the request on the node that handled it (in its audit log).
    pub request_id: String,
    pub response: Response,
    /// This request's span in the caller's trace, for the response.
    pub traceparent: String,
}

/// Serves [`Call`]s for both adapters.
#[derive(Debug)]
pub struct Dispatcher {
    vault: Arc<Vault>,
    forward: Arc<Forwarder>,
    limits: Limits,
    export: SpanSink,
}

impl Dispatcher {
    pub fn new(
        vault: Arc<Vault>,
        forward: Arc<Forwarder>,
        limits: Limits,
        export: &SpanExport,
    ) -> Self {
        Dispatcher {
            vault,
            forward,
            limits,
            export: SpanSink::start(export),
        }
    }

    /// Serves `call`: on the active node when this one is a standby,
    /// otherwise through `Vault::handle` here.
    pub async fn serve(&self, call: Call) -> Result<Answer, Status> {
        let started = (std::time::Instant::now(), trace::unix_nanos());
        let context = TraceContext::for_request(call.traceparent.as_deref());
        let Call {
            request,
            forwarded,
            no_forward,
            permit,
            ..
        } = call;
        if let Some(target) = self.forward.route(forwarded, no_forward).await? {
            let message = self
                .forward
                .logical(target, request, &context.traceparent())
                .await?;
            let (request_id, response) = crate::logical_wire::from_wire(message)?;
            return Ok(Answer {
                request_id,
                response,
                traceparent: context.traceparent(),
            });
        }
        let request_id = request.id.clone();
        let path = request.path.clone();
        let operation = request.operation;
        // Every log line written while the request is handled carries these.
        let span = tracing::info_span!(
            "request",
            request_id = %request_id,
            trace_id = %context.trace_id,
            span_id = %context.span_id,
        );
        // On a task of its own: a client that hangs up, or the deadline, must
        // not cancel a request halfway (a database role made, its lease not
        // yet stored).
        let vault = Arc::clone(&self.vault);
        let task = tokio::spawn(
            async move {
                let _permit = permit;
                vault.handle(request).await
            }
            .instrument(span.clone()),
        );
        let result = match tokio::time::timeout(self.limits.max_request_duration, task).await {
            Err(_) => Err(Status::deadline_exceeded(format!(
                "request {request_id} took longer than {}s \
                 (listener.max_request_duration); it goes on, and its outcome is in the \
                 audit log",
                self.limits.max_request_duration.as_secs()
            ))),
            Ok(joined) => joined
                .map_err(|e| Status::internal(format!("the request task failed: {e}")))
                .and_then(|handled| handled.map_err(from_vault)),
        };
        let outcome = match &result {
            Ok(_) => Cow::Borrowed("ok"),
            Err(status) => Cow::Owned(format!("{:?}", status.code())),
        };
        span.in_scope(|| {
            tracing::debug!(
                operation = %operation,
                path = %path,
                outcome = %outcome,
                elapsed_ms = started.0.elapsed().as_millis() as u64,
                "request finished"
            );
        });
        self.export.finish(&trace::FinishedSpan {
            context: &context,
            request_id: &request_id,
            operation: operation.as_str(),
            path: &path,
            started: started.0,
            started_unix_nanos: started.1,
            outcome: &outcome,
        });
        Ok(Answer {
            request_id,
            response: result?,
            traceparent: context.traceparent(),
        })
    }
}
