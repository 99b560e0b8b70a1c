//! The `Logical` gRPC service: turns each call into a `vault_core::Request` for
//! `Vault::handle` and the `Response` back into Vault's envelope. No access
//! decision is made here.

use std::sync::Arc;

use serde_json::Value;
use tonic::{Request, Response, Status};
use vault_core::Vault;
use vault_core::request::{self as core, Data, Operation};
use vault_proto::v1::logical_client::LogicalClient;
use vault_proto::v1::logical_server::Logical;
use vault_proto::v1::{Auth, LogicalRequest, LogicalResponse};

use crate::config::Limits;
use crate::forward::{Forwarder, Target};
use crate::status::from_vault;
use crate::trace::{self, SpanExport, SpanSink, TraceContext};
use tracing::Instrument as _;

/// Serves `vault.v1.Logical` over one vault.
#[derive(Debug)]
pub struct LogicalService {
    vault: Arc<Vault>,
    forward: Arc<Forwarder>,
    limits: Limits,
    export: SpanSink,
}

impl LogicalService {
    pub fn new(
        vault: Arc<Vault>,
        forward: Arc<Forwarder>,
        limits: Limits,
        export: &SpanExport,
    ) -> Self {
        LogicalService {
            vault,
            forward,
            limits,
            export: SpanSink::start(export),
        }
    }

    /// Serves one logical request, whichever front end it came by: forwarded
    /// to the active node, or handled here. The data stays parsed on the way
    /// in and out, so the HTTP front end does not turn it into text and back.
    pub(crate) async fn serve(
        &self,
        operation: Operation,
        request: Request<Incoming>,
    ) -> Result<Outgoing, Status> {
        let started = (std::time::Instant::now(), trace::unix_nanos());
        let context = TraceContext::for_request(
            request
                .metadata()
                .get(trace::TRACEPARENT)
                .and_then(|v| v.to_str().ok()),
        );
        // The place admission gave the request (admission.rs), held by the
        // task that handles it, so a request still running after its caller
        // was answered DEADLINE_EXCEEDED counts.
        let permit = request
            .extensions()
            .get::<crate::admission::InFlight>()
            .and_then(crate::admission::InFlight::take);
        if let Some(target) = self.forward.route(&request).await? {
            let request = request.map(|r| LogicalRequest {
                path: r.path,
                data_json: Value::Object(r.data).to_string(),
            });
            let mut message = self
                .forward_to(target, operation, request)
                .await?
                .into_inner();
            let data = match std::mem::take(&mut message.data_json) {
                text if text.trim().is_empty() => None,
                text => Some(serde_json::from_str(&text).map_err(|e| {
                    Status::internal(format!(
                        "the active node answered data that is not JSON: {e}"
                    ))
                })?),
            };
            return Ok(Outgoing {
                message,
                data,
                traceparent: context.traceparent(),
            });
        }
        let token = request
            .metadata()
            .get(vault_proto::TOKEN_METADATA_KEY)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let remote = request.remote_addr().map(|a| a.ip());
        let incoming = request.into_inner();
        let mut call = core::Request::new(operation, incoming.path).with_data(incoming.data);
        call.remote_addr = remote;
        if let Some(token) = token.filter(|t| !t.is_empty()) {
            call = call.with_token(&token);
        }
        let request_id = call.id.clone();
        let path = call.path.clone();
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
                vault.handle(call).await
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
            Ok(_) => std::borrow::Cow::Borrowed("ok"),
            Err(status) => std::borrow::Cow::Owned(format!("{:?}", status.code())),
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
        let out = result?;
        let lease = out.lease.unwrap_or_default();
        let message = LogicalResponse {
            request_id,
            lease_id: lease.lease_id,
            lease_duration: lease.lease_duration,
            renewable: lease.renewable,
            data_json: String::new(),
            warnings: out.warnings,
            auth: out.auth.map(|a| Auth {
                client_token: a.client_token,
                accessor: a.accessor,
                policies: a.policies,
                lease_duration: a.lease_duration,
                renewable: a.renewable,
                metadata: a.metadata.into_iter().collect(),
                num_uses: a.num_uses,
                orphan: a.orphan,
            }),
        };
        Ok(Outgoing {
            message,
            data: out.data.map(Value::Object),
            traceparent: context.traceparent(),
        })
    }

    /// A gRPC call: its data parsed on the way in, written out on the way back.
    async fn call(
        &self,
        operation: Operation,
        request: Request<LogicalRequest>,
    ) -> Result<Response<LogicalResponse>, Status> {
        let (metadata, extensions, message) = request.into_parts();
        let data: Data =
            vault_core::json_limits::parse_object(message.data_json.as_bytes(), &self.limits.json)
                .map_err(|e| Status::invalid_argument(format!("data_json: {e}")))?;
        let incoming = Incoming {
            path: message.path,
            data,
        };
        let out = self
            .serve(
                operation,
                Request::from_parts(metadata, extensions, incoming),
            )
            .await?;
        let mut message = out.message;
        if let Some(data) = out.data {
            message.data_json = data.to_string();
        }
        let request_id = message.request_id.clone();
        let mut response = Response::new(message);
        let metadata = response.metadata_mut();
        if let Ok(value) = out.traceparent.parse() {
            metadata.insert(trace::TRACEPARENT, value);
        }
        if let Ok(value) = request_id.parse() {
            metadata.insert(REQUEST_ID_METADATA_KEY, value);
        }
        Ok(response)
    }
}

/// A logical request with its data parsed.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub path: String,
    pub data: Data,
}

/// A logical answer: the message without its data, and the data, parsed.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub message: LogicalResponse,
    pub data: Option<Value>,
    /// This request's span in the caller's trace, for the response.
    pub traceparent: String,
}

/// The response metadata key carrying the request id (also in the message,
/// and in the audit entries).
pub const REQUEST_ID_METADATA_KEY: &str = "x-vault-request-id";

impl LogicalService {
    /// The same call on the active node.
    async fn forward_to(
        &self,
        target: Target,
        operation: Operation,
        request: Request<LogicalRequest>,
    ) -> Result<Response<LogicalResponse>, Status> {
        self.forward
            .call(
                target,
                request,
                LogicalClient::new,
                |mut client, r| async move {
                    match operation {
                        Operation::Read => client.read(r).await,
                        Operation::Patch => client.patch(r).await,
                        Operation::Delete => client.delete(r).await,
                        Operation::List => client.list(r).await,
                        Operation::Create | Operation::Update => client.write(r).await,
                    }
                },
            )
            .await
    }
}

#[tonic::async_trait]
impl Logical for LogicalService {
    async fn read(
        &self,
        request: Request<LogicalRequest>,
    ) -> Result<Response<LogicalResponse>, Status> {
        self.call(Operation::Read, request).await
    }

    async fn write(
        &self,
        request: Request<LogicalRequest>,
    ) -> Result<Response<LogicalResponse>, Status> {
        // Update here; the pipeline makes it Create where nothing exists yet.
        self.call(Operation::Update, request).await
    }

    async fn patch(
        &self,
        request: Request<LogicalRequest>,
    ) -> Result<Response<LogicalResponse>, Status> {
        self.call(Operation::Patch, request).await
    }

    async fn delete(
        &self,
        request: Request<LogicalRequest>,
    ) -> Result<Response<LogicalResponse>, Status> {
        self.call(Operation::Delete, request).await
    }

    async fn list(
        &self,
        request: Request<LogicalRequest>,
    ) -> Result<Response<LogicalResponse>, Status> {
        self.call(Operation::List, request).await
    }
}
