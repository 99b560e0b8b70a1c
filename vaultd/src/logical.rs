//! The `Logical` gRPC service, an adapter: each call becomes a
//! `vault_core::Request` for the dispatcher (dispatch.rs) and the answer
//! Vault's envelope as a message (logical_wire.rs). No access decision is
//! made here.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use vault_core::request::{self as core, Operation};
use vault_proto::v1::logical_server::Logical;
use vault_proto::v1::{LogicalRequest, LogicalResponse};

use crate::dispatch::{Call, Dispatcher};
use crate::trace;

/// The response metadata key carrying the request id (also in the message,
/// and in the audit entries).
pub const REQUEST_ID_METADATA_KEY: &str = "x-vault-request-id";

/// Serves `vault.v1.Logical`.
#[derive(Debug)]
pub struct LogicalService {
    dispatch: Arc<Dispatcher>,
    json: vault_core::json_limits::JsonLimits,
}

impl LogicalService {
    pub fn new(dispatch: Arc<Dispatcher>, json: vault_core::json_limits::JsonLimits) -> Self {
        LogicalService { dispatch, json }
    }

    /// One call: its data parsed (within the listener's JSON limits) on the
    /// way in, written out on the way back.
    async fn call(
        &self,
        operation: Operation,
        request: Request<LogicalRequest>,
    ) -> Result<Response<LogicalResponse>, Status> {
        let (metadata, extensions, message) = request.into_parts();
        let data = vault_core::json_limits::parse_object(message.data_json.as_bytes(), &self.json)
            .map_err(|e| Status::invalid_argument(format!("data_json: {e}")))?;
        let request = core::Request::new(operation, message.path).with_data(data);
        let mut call = Call::from_wire(request, &metadata.into_headers(), &extensions);
        if !message.wrap_ttl.is_empty() {
            call.request.wrap_ttl = Some(message.wrap_ttl);
        }
        let answer = self.dispatch.serve(call).await?;
        let (mut message, data) = crate::logical_wire::to_wire(answer.request_id, answer.response);
        if let Some(data) = data {
            message.data_json = serde_json::Value::Object(data).to_string();
        }
        let request_id = message.request_id.clone();
        let mut response = Response::new(message);
        let metadata = response.metadata_mut();
        if let Ok(value) = answer.traceparent.parse() {
            metadata.insert(trace::TRACEPARENT, value);
        }
        if let Ok(value) = request_id.parse() {
            metadata.insert(REQUEST_ID_METADATA_KEY, value);
        }
        Ok(response)
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
