//! The `Sys` gRPC service: each method turns a message into a vault-core call and
//! the answer back into a message. No access decision is made here.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use tonic_health::server::HealthReporter;
use vault_core::barrier::KeyStatus;
use vault_core::ha::Role;
use vault_core::{Caller, RekeyStatus, RekeyVerifyStatus, SealStatus, Vault, clock};
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

/// The name the health service reports for this service.
pub const SERVICE_NAME: &str = "vault.v1.Sys";

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

fn rekey_status(s: RekeyStatus) -> RekeyStatusResponse {
    RekeyStatusResponse {
        started: s.started,
        nonce: s.nonce,
        t: s.t,
        n: s.n,
        progress: s.progress,
        required: s.t,
        new_shares: s.new_shares,
        new_threshold: s.new_threshold,
        verification_required: s.verification_required,
        verification_nonce: s.verification_nonce,
    }
}

fn rekey_verify_status(s: RekeyVerifyStatus) -> RekeyVerifyStatusResponse {
    RekeyVerifyStatusResponse {
        started: s.started,
        nonce: s.nonce,
        t: s.t,
        n: s.n,
        progress: s.progress,
    }
}

fn key_status(s: KeyStatus) -> KeyStatusResponse {
    KeyStatusResponse {
        term: s.term,
        install_time: clock::rfc3339(s.install_time),
        encryptions: s.encryptions,
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
        let (token, remote) = (token(&request), request.remote_addr().map(|a| a.ip()));
        let result = self.vault.seal(Caller::new(&token, remote)).await;
        self.report_health().await;
        result.map_err(from_vault)?;
        Ok(Response::new(SealResponse {}))
    }

    async fn rekey_init(
        &self,
        request: Request<RekeyInitRequest>,
    ) -> Result<Response<RekeyStatusResponse>, Status> {
        served_by_active!(self, request, rekey_init);
        let (token, remote) = (token(&request), request.remote_addr().map(|a| a.ip()));
        let req = request.into_inner();
        let status = self
            .vault
            .rekey_init(
                Caller::new(&token, remote),
                req.secret_shares,
                req.secret_threshold,
                !req.skip_verification,
            )
            .await
            .map_err(from_vault)?;
        Ok(Response::new(rekey_status(status)))
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
            status: Some(rekey_status(out.status)),
        }))
    }

    async fn rekey_cancel(
        &self,
        request: Request<RekeyCancelRequest>,
    ) -> Result<Response<RekeyStatusResponse>, Status> {
        served_by_active!(self, request, rekey_cancel);
        let (token, remote) = (token(&request), request.remote_addr().map(|a| a.ip()));
        let status = self
            .vault
            .rekey_cancel(Caller::new(&token, remote))
            .await
            .map_err(from_vault)?;
        Ok(Response::new(rekey_status(status)))
    }

    async fn rekey_status(
        &self,
        request: Request<RekeyStatusRequest>,
    ) -> Result<Response<RekeyStatusResponse>, Status> {
        served_by_active!(self, request, rekey_status);
        let (token, remote) = (token(&request), request.remote_addr().map(|a| a.ip()));
        let status = self
            .vault
            .rekey_status(Caller::new(&token, remote))
            .await
            .map_err(from_vault)?;
        Ok(Response::new(rekey_status(status)))
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
            status: Some(rekey_verify_status(out.status)),
        }))
    }

    async fn rekey_verify_status(
        &self,
        request: Request<RekeyVerifyStatusRequest>,
    ) -> Result<Response<RekeyVerifyStatusResponse>, Status> {
        served_by_active!(self, request, rekey_verify_status);
        let (token, remote) = (token(&request), request.remote_addr().map(|a| a.ip()));
        let status = self
            .vault
            .rekey_verify_status(Caller::new(&token, remote))
            .await
            .map_err(from_vault)?;
        Ok(Response::new(rekey_verify_status(status)))
    }

    async fn rekey_verify_cancel(
        &self,
        request: Request<RekeyVerifyCancelRequest>,
    ) -> Result<Response<RekeyVerifyStatusResponse>, Status> {
        served_by_active!(self, request, rekey_verify_cancel);
        let (token, remote) = (token(&request), request.remote_addr().map(|a| a.ip()));
        let status = self
            .vault
            .rekey_verify_cancel(Caller::new(&token, remote))
            .await
            .map_err(from_vault)?;
        Ok(Response::new(rekey_verify_status(status)))
    }

    async fn rotate(
        &self,
        request: Request<RotateRequest>,
    ) -> Result<Response<KeyStatusResponse>, Status> {
        served_by_active!(self, request, rotate);
        let (token, remote) = (token(&request), request.remote_addr().map(|a| a.ip()));
        let status = self
            .vault
            .rotate(Caller::new(&token, remote))
            .await
            .map_err(from_vault)?;
        Ok(Response::new(key_status(status)))
    }

    async fn key_status(
        &self,
        request: Request<KeyStatusRequest>,
    ) -> Result<Response<KeyStatusResponse>, Status> {
        served_by_active!(self, request, key_status);
        let (token, remote) = (token(&request), request.remote_addr().map(|a| a.ip()));
        let status = self
            .vault
            .key_status(Caller::new(&token, remote))
            .await
            .map_err(from_vault)?;
        Ok(Response::new(key_status(status)))
    }

    async fn raw_read(
        &self,
        request: Request<RawPathRequest>,
    ) -> Result<Response<RawReadResponse>, Status> {
        served_by_active!(self, request, raw_read);
        let (token, remote) = (token(&request), request.remote_addr().map(|a| a.ip()));
        let path = request.into_inner().path;
        let value = self
            .vault
            .raw_read(Caller::new(&token, remote), &path)
            .await
            .map_err(from_vault)?;
        let value = value.ok_or_else(|| Status::not_found(format!("no value at {path:?}")))?;
        Ok(Response::new(RawReadResponse {
            value: value.expose_secret().to_vec(),
        }))
    }

    async fn raw_write(
        &self,
        request: Request<RawWriteRequest>,
    ) -> Result<Response<RawWriteResponse>, Status> {
        served_by_active!(self, request, raw_write);
        let (token, remote) = (token(&request), request.remote_addr().map(|a| a.ip()));
        let req = request.into_inner();
        self.vault
            .raw_write(Caller::new(&token, remote), &req.path, &req.value)
            .await
            .map_err(from_vault)?;
        Ok(Response::new(RawWriteResponse {}))
    }

    async fn raw_delete(
        &self,
        request: Request<RawPathRequest>,
    ) -> Result<Response<RawWriteResponse>, Status> {
        served_by_active!(self, request, raw_delete);
        let (token, remote) = (token(&request), request.remote_addr().map(|a| a.ip()));
        let path = request.into_inner().path;
        self.vault
            .raw_delete(Caller::new(&token, remote), &path)
            .await
            .map_err(from_vault)?;
        Ok(Response::new(RawWriteResponse {}))
    }

    async fn raw_list(
        &self,
        request: Request<RawPathRequest>,
    ) -> Result<Response<RawListResponse>, Status> {
        served_by_active!(self, request, raw_list);
        let (token, remote) = (token(&request), request.remote_addr().map(|a| a.ip()));
        let path = request.into_inner().path;
        let keys = self
            .vault
            .raw_list(Caller::new(&token, remote), &path)
            .await
            .map_err(from_vault)?;
        Ok(Response::new(RawListResponse { keys }))
    }

    async fn step_down(
        &self,
        request: Request<StepDownRequest>,
    ) -> Result<Response<StepDownResponse>, Status> {
        served_by_active!(self, request, step_down);
        let (token, remote) = (token(&request), request.remote_addr().map(|a| a.ip()));
        let ha = self.forward.ha().ok_or_else(|| {
            Status::failed_precondition("high availability is not enabled on this node")
        })?;
        self.vault
            .authorize_operator("sys/step-down", Caller::new(&token, remote))
            .await
            .map_err(from_vault)?;
        ha.step_down()
            .await
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        Ok(Response::new(StepDownResponse {}))
    }

    async fn members(
        &self,
        request: Request<MembersRequest>,
    ) -> Result<Response<MembersResponse>, Status> {
        served_by_active!(self, request, members);
        let (token, remote) = (token(&request), request.remote_addr().map(|a| a.ip()));
        let ha = self.forward.ha().ok_or_else(|| {
            Status::failed_precondition("high availability is not enabled on this node")
        })?;
        self.vault
            .authorize_operator("sys/ha/members", Caller::new(&token, remote))
            .await
            .map_err(from_vault)?;
        let members = ha
            .members()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(Response::new(MembersResponse {
            members: members
                .into_iter()
                .map(|m| Member {
                    state: m.state().to_owned(),
                    node_id: m.member.node_id,
                    api_address: m.member.api_address,
                    active: m.active,
                    last_seen: clock::rfc3339(m.member.last_seen),
                    version: m.member.version,
                })
                .collect(),
        }))
    }
}
