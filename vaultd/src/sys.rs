//! The `Sys` gRPC service: each method turns a message into a vault-core call and
//! the answer back into a message. No access decision is made here: the
//! operator calls (seal, rotate, key-status, raw storage, rekey's token-held
//! steps, step-down, members) are requests through `Vault::handle`, judged
//! by the ACL like any other.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use tonic::{Request, Response, Status};
use tonic_health::server::HealthReporter;
use vault_core::ha::Role;
use vault_core::request::{self as core, Data, Operation};
use vault_core::{SealStatus, Vault, clock};
use vault_proto::v1::sys_client::SysClient;
use vault_proto::v1::sys_server::Sys;
use vault_proto::v1::*;

use crate::forward::Forwarder;
use crate::health;
use crate::status::from_vault;

/// Serves `vault.v1.Sys` over one vault.
#[derive(Debug)]
pub struct SysService {
    vault: Arc<Vault>,
    health: HealthReporter,
    forward: Arc<Forwarder>,
}

impl SysService {
    pub fn new(vault: Arc<Vault>, health: HealthReporter, forward: Arc<Forwarder>) -> Self {
        SysService {
            vault,
            health,
            forward,
        }
    }

    /// Brings the health service up to date at once after an unseal or seal
    /// (the watcher in `health.rs` would within a moment).
    async fn report_health(&self) {
        health::report(
            &self.vault,
            self.forward.ha().map(|h| h.as_ref()),
            &self.health,
        )
        .await;
    }

    /// The HA fields of the status.
    fn ha_status(&self, status: &mut SealStatusResponse) {
        let Some(ha) = self.forward.ha() else {
            return;
        };
        status.ha_enabled = true;
        status.node_id = ha.node_id().to_owned();
        match ha.role() {
            Role::Active { since } => {
                status.is_self = true;
                status.active_time = clock::rfc3339(since / 1000);
                status.leader_address = ha.advertise().to_owned();
            }
            Role::Standby { leader } => {
                status.leader_address = leader.map(|l| l.address).unwrap_or_default();
            }
            Role::Sealed => {}
        }
    }
}

/// Serves the call here, or on the active node when this one is a standby.
macro_rules! served_by_active {
    ($self:ident, $request:ident, $method:ident) => {
        if let Some(target) = $self.forward.route(&$request).await? {
            return $self
                .forward
                .call(
                    target,
                    $request,
                    SysClient::new,
                    |mut client, r| async move { client.$method(r).await },
                )
                .await;
        }
    };
}

/// The caller's token from the request metadata; empty if absent or not text.
fn token<T>(request: &Request<T>) -> String {
    request
        .metadata()
        .get(vault_proto::TOKEN_METADATA_KEY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn optional(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

fn seal_status(s: SealStatus) -> SealStatusResponse {
    SealStatusResponse {
        r#type: s.seal_type,
        initialized: s.initialized,
        sealed: s.sealed,
        t: s.t,
        n: s.n,
        progress: s.progress,
        nonce: s.nonce,
        version: s.version,
        storage_type: s.storage_type,
        ..SealStatusResponse::default()
    }
}

fn number(data: &Data, key: &str) -> u64 {
    data.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn flag(data: &Data, key: &str) -> bool {
    data.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn text(data: &Data, key: &str) -> String {
    data.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// `sys/rekey/init`'s answer as the message.
fn rekey_status(data: &Data) -> RekeyStatusResponse {
    let count = |k| u32::try_from(number(data, k)).unwrap_or(u32::MAX);
    RekeyStatusResponse {
        started: flag(data, "started"),
        nonce: text(data, "nonce"),
        t: count("t"),
        n: count("n"),
        progress: count("progress"),
        required: count("required"),
        new_shares: count("new_shares"),
        new_threshold: count("new_threshold"),
        verification_required: flag(data, "verification_required"),
        verification_nonce: text(data, "verification_nonce"),
    }
}

/// `sys/rekey/verify`'s answer as the message.
fn rekey_verify_status(data: &Data) -> RekeyVerifyStatusResponse {
    let count = |k| u32::try_from(number(data, k)).unwrap_or(u32::MAX);
    RekeyVerifyStatusResponse {
        started: flag(data, "started"),
        nonce: text(data, "nonce"),
        t: count("t"),
        n: count("n"),
        progress: count("progress"),
    }
}

/// `sys/key-status`'s (and `sys/rotate`'s) answer as the message.
fn key_status(data: &Data) -> KeyStatusResponse {
    KeyStatusResponse {
        term: u32::try_from(number(data, "term")).unwrap_or(u32::MAX),
        install_time: text(data, "install_time"),
        encryptions: number(data, "encryptions"),
    }
}

impl SysService {
    /// `operation` on `sys/<path>` with `data`, as a request through the
    /// pipeline with the caller's token and address (the ACL decides; the
    /// attempt is audited). On a task of its own, so a caller that hangs up
    /// does not cancel a state change halfway. Returns the answer's data.
    async fn handled<T>(
        &self,
        request: &Request<T>,
        operation: Operation,
        path: &str,
        data: Data,
    ) -> Result<Data, Status> {
        let mut call = core::Request::new(operation, format!("sys/{path}")).with_data(data);
        call.remote_addr = request.remote_addr().map(|a| a.ip());
        let token = token(request);
        if !token.is_empty() {
            call = call.with_token(&token);
        }
        let vault = Arc::clone(&self.vault);
        let answer = tokio::spawn(async move { vault.handle(call).await })
            .await
            .map_err(|e| Status::internal(format!("the request task failed: {e}")))?
            .map_err(from_vault)?;
        Ok(answer.data.unwrap_or_default())
    }
}

#[tonic::async_trait]
impl Sys for SysService {
    async fn seal_status(
        &self,
        request: Request<SealStatusRequest>,
    ) -> Result<Response<SealStatusResponse>, Status> {
        let token = token(&request);
        let status = self
            .vault
            .status(optional(&token))
            .await
            .map_err(from_vault)?;
        let mut status = seal_status(status);
        self.ha_status(&mut status);
        status.degraded = self.vault.degraded().await;
        Ok(Response::new(status))
    }

    async fn init(&self, request: Request<InitRequest>) -> Result<Response<InitResponse>, Status> {
        let req = request.into_inner();
        let out = self
            .vault
            .init(req.secret_shares, req.secret_threshold)
            .await
            .map_err(from_vault)?;
        Ok(Response::new(InitResponse {
            unseal_keys_hex: out
                .shares
                .iter()
                .map(|s| s.to_hex().expose_secret().to_owned())
                .collect(),
            unseal_keys_b64: out
                .shares
                .iter()
                .map(|s| s.to_base64().expose_secret().to_owned())
                .collect(),
            unseal_shares: out.shares.len() as u32,
            unseal_threshold: out.threshold,
            root_token: out.root_token.expose_secret().to_owned(),
        }))
    }

    async fn unseal(
        &self,
        request: Request<UnsealRequest>,
    ) -> Result<Response<UnsealResponse>, Status> {
        let (token, remote) = (token(&request), request.remote_addr().map(|a| a.ip()));
        let req = request.into_inner();
        if req.reset {
            let status = self
                .vault
                .unseal_reset_from(remote, optional(&req.nonce), optional(&token))
                .await
                .map_err(from_vault)?;
            return Ok(Response::new(UnsealResponse {
                status: Some(seal_status(status)),
                duplicate: false,
                nonce: String::new(),
            }));
        }
        let result = self.vault.unseal_from(remote, &req.key).await;
        self.report_health().await;
        let out = result.map_err(from_vault)?;
        Ok(Response::new(UnsealResponse {
            status: Some(seal_status(out.status)),
            duplicate: out.duplicate,
            nonce: out.nonce,
        }))
    }

    async fn seal(&self, request: Request<SealRequest>) -> Result<Response<SealResponse>, Status> {
        served_by_active!(self, request, seal);
        let result = self
            .handled(&request, Operation::Update, "seal", Data::new())
            .await;
        self.report_health().await;
        result?;
        Ok(Response::new(SealResponse {}))
    }

    async fn rekey_init(
        &self,
        request: Request<RekeyInitRequest>,
    ) -> Result<Response<RekeyStatusResponse>, Status> {
        served_by_active!(self, request, rekey_init);
        let asked = request.get_ref();
        let data = json!({
            "secret_shares": asked.secret_shares,
            "secret_threshold": asked.secret_threshold,
            "require_verification": !asked.skip_verification,
        });
        let data = match data {
            Value::Object(map) => map,
            _ => Data::new(),
        };
        let status = self
            .handled(&request, Operation::Update, "rekey/init", data)
            .await?;
        Ok(Response::new(rekey_status(&status)))
    }

    async fn rekey_update(
        &self,
        request: Request<RekeyUpdateRequest>,
    ) -> Result<Response<RekeyUpdateResponse>, Status> {
        served_by_active!(self, request, rekey_update);
        let req = request.into_inner();
        let out = self
            .vault
            .rekey_update(&req.nonce, &req.key)
            .await
            .map_err(from_vault)?;
        let shares = out.new_shares.unwrap_or_default();
        Ok(Response::new(RekeyUpdateResponse {
            // Keys with `complete` false: handed out, awaiting verification.
            complete: out.complete,
            duplicate: out.duplicate,
            new_shares: shares.len() as u32,
            new_threshold: out.new_threshold,
            verification_required: out.status.verification_required,
            verification_nonce: out.status.verification_nonce.clone(),
            keys_hex: shares
                .iter()
                .map(|s| s.to_hex().expose_secret().to_owned())
                .collect(),
            keys_b64: shares
                .iter()
                .map(|s| s.to_base64().expose_secret().to_owned())
                .collect(),
            status: Some(rekey_status(&out.status.to_data())),
        }))
    }

    async fn rekey_cancel(
        &self,
        request: Request<RekeyCancelRequest>,
    ) -> Result<Response<RekeyStatusResponse>, Status> {
        served_by_active!(self, request, rekey_cancel);
        let status = self
            .handled(&request, Operation::Delete, "rekey/init", Data::new())
            .await?;
        Ok(Response::new(rekey_status(&status)))
    }

    async fn rekey_status(
        &self,
        request: Request<RekeyStatusRequest>,
    ) -> Result<Response<RekeyStatusResponse>, Status> {
        served_by_active!(self, request, rekey_status);
        let status = self
            .handled(&request, Operation::Read, "rekey/init", Data::new())
            .await?;
        Ok(Response::new(rekey_status(&status)))
    }

    async fn rekey_verify(
        &self,
        request: Request<RekeyVerifyRequest>,
    ) -> Result<Response<RekeyVerifyResponse>, Status> {
        served_by_active!(self, request, rekey_verify);
        let req = request.into_inner();
        let out = self
            .vault
            .rekey_verify(&req.nonce, &req.key)
            .await
            .map_err(from_vault)?;
        Ok(Response::new(RekeyVerifyResponse {
            complete: out.complete,
            duplicate: out.duplicate,
            status: Some(rekey_verify_status(&out.status.to_data())),
        }))
    }

    async fn rekey_verify_status(
        &self,
        request: Request<RekeyVerifyStatusRequest>,
    ) -> Result<Response<RekeyVerifyStatusResponse>, Status> {
        served_by_active!(self, request, rekey_verify_status);
        let status = self
            .handled(&request, Operation::Read, "rekey/verify", Data::new())
            .await?;
        Ok(Response::new(rekey_verify_status(&status)))
    }

    async fn rekey_verify_cancel(
        &self,
        request: Request<RekeyVerifyCancelRequest>,
    ) -> Result<Response<RekeyVerifyStatusResponse>, Status> {
        served_by_active!(self, request, rekey_verify_cancel);
        let status = self
            .handled(&request, Operation::Delete, "rekey/verify", Data::new())
            .await?;
        Ok(Response::new(rekey_verify_status(&status)))
    }

    async fn rotate(
        &self,
        request: Request<RotateRequest>,
    ) -> Result<Response<KeyStatusResponse>, Status> {
        served_by_active!(self, request, rotate);
        let status = self
            .handled(&request, Operation::Update, "rotate", Data::new())
            .await?;
        Ok(Response::new(key_status(&status)))
    }

    async fn key_status(
        &self,
        request: Request<KeyStatusRequest>,
    ) -> Result<Response<KeyStatusResponse>, Status> {
        served_by_active!(self, request, key_status);
        let status = self
            .handled(&request, Operation::Read, "key-status", Data::new())
            .await?;
        Ok(Response::new(key_status(&status)))
    }

    async fn raw_read(
        &self,
        request: Request<RawPathRequest>,
    ) -> Result<Response<RawReadResponse>, Status> {
        served_by_active!(self, request, raw_read);
        let path = format!("raw/{}", request.get_ref().path);
        let answer = self
            .handled(&request, Operation::Read, &path, base64_encoding())
            .await?;
        let value = BASE64
            .decode(text(&answer, "value"))
            .map_err(|e| Status::internal(format!("sys/raw answered a value not base64: {e}")))?;
        Ok(Response::new(RawReadResponse { value }))
    }

    async fn raw_write(
        &self,
        request: Request<RawWriteRequest>,
    ) -> Result<Response<RawWriteResponse>, Status> {
        served_by_active!(self, request, raw_write);
        let path = format!("raw/{}", request.get_ref().path);
        let mut data = base64_encoding();
        data.insert(
            "value".into(),
            Value::String(BASE64.encode(&request.get_ref().value)),
        );
        self.handled(&request, Operation::Update, &path, data)
            .await?;
        Ok(Response::new(RawWriteResponse {}))
    }

    async fn raw_delete(
        &self,
        request: Request<RawPathRequest>,
    ) -> Result<Response<RawWriteResponse>, Status> {
        served_by_active!(self, request, raw_delete);
        let path = format!("raw/{}", request.get_ref().path);
        self.handled(&request, Operation::Delete, &path, Data::new())
            .await?;
        Ok(Response::new(RawWriteResponse {}))
    }

    async fn raw_list(
        &self,
        request: Request<RawPathRequest>,
    ) -> Result<Response<RawListResponse>, Status> {
        served_by_active!(self, request, raw_list);
        let path = format!("raw/{}", request.get_ref().path);
        let answer = self
            .handled(&request, Operation::List, &path, Data::new())
            .await?;
        let keys = answer
            .get("keys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        Ok(Response::new(RawListResponse { keys }))
    }

    async fn step_down(
        &self,
        request: Request<StepDownRequest>,
    ) -> Result<Response<StepDownResponse>, Status> {
        served_by_active!(self, request, step_down);
        self.handled(&request, Operation::Update, "step-down", Data::new())
            .await?;
        Ok(Response::new(StepDownResponse {}))
    }

    async fn members(
        &self,
        request: Request<MembersRequest>,
    ) -> Result<Response<MembersResponse>, Status> {
        served_by_active!(self, request, members);
        let answer = self
            .handled(&request, Operation::Read, "ha/members", Data::new())
            .await?;
        let members = answer
            .get("nodes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .map(|m| Member {
                state: text(m, "state"),
                node_id: text(m, "node_id"),
                api_address: text(m, "api_address"),
                active: flag(m, "active_node"),
                last_seen: text(m, "last_echo"),
                version: text(m, "version"),
            })
            .collect();
        Ok(Response::new(MembersResponse { members }))
    }
}

/// `encoding=base64`: raw values cross as base64, so any bytes do.
fn base64_encoding() -> Data {
    let mut data = Data::new();
    data.insert("encoding".into(), Value::String("base64".into()));
    data
}
