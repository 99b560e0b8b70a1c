//! The `Logical` gRPC service: turns each call into a `vault_core::Request` for
//! `Vault::handle` and the `Response` back into Vault's envelope. No access
//! decision is made here.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use vault_core::Vault;
use vault_core::request::{self as core, Data, Operation};
use vault_proto::v1::logical_client::LogicalClient;
use vault_proto::v1::logical_server::Logical;
use vault_proto::v1::{Auth, LogicalRequest, LogicalResponse};

use crate::forward::{Forwarder, Target};
use crate::status::from_vault;

/// Serves `vault.v1.Logical` over one vault.
#[derive(Debug)]
pub struct LogicalService {
    vault: Arc<Vault>,
    forward: Arc<Forwarder>,
}

impl LogicalService {
    pub fn new(vault: Arc<Vault>, forward: Arc<Forwarder>) -> Self {
        LogicalService { vault, forward }
    }

    async fn call(
        &self,
        operation: Operation,
        request: Request<LogicalRequest>,
    ) -> Result<Response<LogicalResponse>, Status> {
        if let Some(target) = self.forward.route(&request)? {
            return self.forward_to(target, operation, request).await;
        }
        let token = request
            .metadata()
            .get(vault_proto::TOKEN_METADATA_KEY)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let remote = request.remote_addr().map(|a| a.ip());
        let message = request.into_inner();
        let data: Data = if message.data_json.trim().is_empty() {
            Data::new()
        } else {
            serde_json::from_str(&message.data_json).map_err(|e| {
                Status::invalid_argument(format!("data_json is not a JSON object: {e}"))
            })?
        };
        let mut call = core::Request::new(operation, message.path).with_data(data);
        call.remote_addr = remote;
        if let Some(token) = token.filter(|t| !t.is_empty()) {
            call = call.with_token(&token);
        }
        let request_id = call.id.clone();
        // On a task of its own: a client that hangs up must not cancel a request
        // halfway (a database role made, its lease not yet stored).
        let vault = Arc::clone(&self.vault);
        let out = tokio::spawn(async move { vault.handle(call).await })
            .await
            .map_err(|e| Status::internal(format!("the request task failed: {e}")))?
            .map_err(from_vault)?;
        let data_json = match &out.data {
            Some(d) => serde_json::to_string(d).map_err(|e| Status::internal(e.to_string()))?,
            None => String::new(),
        };
        let lease = out.lease.unwrap_or_default();
        Ok(Response::new(LogicalResponse {
            request_id,
            lease_id: lease.lease_id,
            lease_duration: lease.lease_duration,
            renewable: lease.renewable,
            data_json,
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
        }))
    }
}

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
