//! The system backends, mounted like any engine and served through the same
//! handler trait ([`LogicalBackend`]): [`SysBackend`] at `sys/` (mounts and
//! auth methods, policies, capabilities, leases, quotas, audit devices,
//! metrics, and the operator endpoints: seal, rotate, key-status, raw
//! storage, rekey, step-down, HA members) and [`token::TokenBackend`] at
//! `auth/token/`. Field names and answers are Vault's.
//!
//! Neither sees the `Vault` facade. Each is built, per request, from the
//! narrow parts it acts on: the barrier, the token store, the expiration
//! manager and its lease quotas, the policy store, the audit broker and its
//! device table, the HA node; and, for what only the vault can do, one trait
//! each, defined here and implemented by it: the mount table with its
//! engines ([`MountAdmin`]), the seal's rekey ([`Rekeying`]), the metrics
//! ([`MetricsSource`]) and what revoking a token entails
//! ([`TokenRevocation`]). The pipeline has decided access (token, ACL, sudo)
//! before a handler runs; the handlers only narrow it further where Vault
//! does (a lease that is not the caller's, an orphan without sudo).

mod audit;
mod leases;
mod mounts;
mod operator;
mod policies;
mod quotas;
pub(crate) mod token;

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;

use crate::audit::AuditBroker;
use crate::audit::table::DeviceTable;
use crate::barrier::Barrier;
use crate::engines::{EngineError, EngineRequest, LogicalBackend, View};
use crate::error::{VaultError, object};
use crate::expiration::quotas::LeaseQuotas;
use crate::expiration::{ExpirationManager, Revoker};
use crate::ha::HaNode;
use crate::policy::store::PolicyStore;
use crate::request::{Operation, Response};
use crate::token::TokenStore;

pub(crate) use mounts::MountAdmin;
pub(crate) use operator::{Rekeying, is_operator_path, seals, share_held};
pub(crate) use token::{TokenBackend, TokenRevocation, auth_of};

/// Renders the metrics for `sys/metrics` (their counts brought up to date).
#[async_trait]
pub(crate) trait MetricsSource: Send + Sync + std::fmt::Debug {
    /// Every metric, in the Prometheus text format.
    async fn render(&self) -> Result<String, VaultError>;
}

/// The handler mounted at `sys/`, over the parts it acts on.
pub(crate) struct SysBackend<'a> {
    /// Raw storage (`sys/raw`), rotate and key status.
    pub barrier: &'a Barrier,
    /// Capabilities of another token, lease owners' deadlines.
    pub tokens: &'a TokenStore,
    /// `sys/leases/*`.
    pub expiration: &'a ExpirationManager,
    /// Revokes and renews through the engine that issued a lease.
    pub revoker: &'a dyn Revoker,
    /// `sys/mounts`, `sys/auth`, tuning, `sys/internal/ui/mounts`.
    pub mounts: &'a dyn MountAdmin,
    /// `sys/policy`, `sys/policies/acl`, capabilities.
    pub policies: &'a PolicyStore,
    /// Entities, whose policies a token's capabilities include.
    pub identity: &'a crate::identity::IdentityStore,
    /// The running audit devices (status, hashes, checkpoints).
    pub audit: &'a AuditBroker,
    /// The audit device table (enable, disable).
    pub audit_table: &'a DeviceTable,
    /// `sys/quotas/lease-count`.
    pub quotas: &'a LeaseQuotas,
    /// `sys/rekey/*`.
    pub rekey: &'a dyn Rekeying,
    /// `sys/metrics`.
    pub metrics: &'a dyn MetricsSource,
    /// The HA node this vault runs under, if any: `sys/step-down`,
    /// `sys/ha/members`.
    pub ha: Option<Arc<HaNode>>,
    /// Whether `sys/raw` is served (Vault's `raw_storage_endpoint`).
    pub raw_storage: bool,
}

impl std::fmt::Debug for SysBackend<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SysBackend")
            .field("ha", &self.ha.is_some())
            .field("raw_storage", &self.raw_storage)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl LogicalBackend for SysBackend<'_> {
    async fn handle(
        &self,
        _view: &View<'_>,
        request: EngineRequest<'_>,
    ) -> Result<Response, EngineError> {
        Ok(self.serve(&request).await?)
    }
}

impl SysBackend<'_> {
    async fn serve(&self, request: &EngineRequest<'_>) -> Result<Response, VaultError> {
        let op = request.operation;
        let write = matches!(op, Operation::Create | Operation::Update);
        let data = request.data;
        let path = request.path.trim_end_matches('/');
        let unsupported =
            || VaultError::Unsupported(format!("{op} is not supported on sys/{path}"));
        if is_operator_path(path) {
            return self.operator().serve(op, path, data).await;
        }
        if let Some(answer) = self.mounts().serve(request, path).await {
            return answer;
        }
        if let Some(rest) = path.strip_prefix("leases/") {
            return self.leases().serve(request, rest).await;
        }
        if path == "renew" || path.starts_with("renew/") {
            // Vault's older path for sys/leases/renew.
            return self.leases().serve(request, path).await;
        }
        if path == "metrics" && op == Operation::Read {
            let text = self.metrics.render().await?;
            return Ok(Response::with_data(object(
                json!({ "format": "prometheus", "text": text }),
            )));
        }
        if path == "quotas/lease-count" {
            return self.quotas().serve("", op, data).await;
        }
        if let Some(name) = path.strip_prefix("quotas/lease-count/") {
            return self.quotas().serve(name, op, data).await;
        }
        if path == "audit" || path.starts_with("audit/") {
            return self.audit().serve(path, op, data).await;
        }
        if let Some(name) = path.strip_prefix("audit-hash/") {
            if !write {
                return Err(unsupported());
            }
            return audit::hash(self.audit, name, data);
        }
        if let Some(answer) = self.policies().serve(request, path).await {
            return answer;
        }
        Err(unsupported())
    }

    fn operator(&self) -> operator::Operator<'_> {
        operator::Operator {
            barrier: self.barrier,
            rekey: self.rekey,
            ha: self.ha.clone(),
            raw_storage: self.raw_storage,
        }
    }

    fn mounts(&self) -> mounts::Mounts<'_> {
        mounts::Mounts {
            barrier: self.barrier,
            mounts: self.mounts,
            policies: self.policies,
            identity: self.identity,
        }
    }

    fn leases(&self) -> leases::Leases<'_> {
        leases::Leases {
            barrier: self.barrier,
            tokens: self.tokens,
            expiration: self.expiration,
            revoker: self.revoker,
        }
    }

    fn quotas(&self) -> quotas::Quotas<'_> {
        quotas::Quotas {
            barrier: self.barrier,
            expiration: self.expiration,
            quotas: self.quotas,
            mounts: self.mounts,
        }
    }

    fn audit(&self) -> audit::Devices<'_> {
        audit::Devices {
            barrier: self.barrier,
            broker: self.audit,
            table: self.audit_table,
        }
    }

    fn policies(&self) -> policies::Policies<'_> {
        policies::Policies {
            barrier: self.barrier,
            tokens: self.tokens,
            policies: self.policies,
            identity: self.identity,
        }
    }
}
