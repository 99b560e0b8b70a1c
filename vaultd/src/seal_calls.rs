//! The calls this node answers itself, sealed or not, outside the request
//! pipeline and never forwarded (vault-core's `handle.rs` lists every request
//! served without a token): init, unseal and the seal status with this
//! node's HA role. Both adapters use them: the `Sys` gRPC service (sys.rs)
//! and the HTTP API (`sys/init`, `sys/unseal`, `sys/seal-status`,
//! `sys/health`, `sys/leader`), so each is mapped to its message once.

use std::net::IpAddr;
use std::sync::Arc;

use tonic::Status;
use tonic_health::server::HealthReporter;
use vault_core::ha::{HaNode, Role};
use vault_core::{SealStatus, Vault, clock};
use vault_proto::v1::{InitResponse, SealStatusResponse, UnsealRequest, UnsealResponse};

use crate::health;
use crate::status::from_vault;

/// Init, unseal and seal status for one vault.
#[derive(Debug)]
pub struct SealCalls {
    vault: Arc<Vault>,
    health: HealthReporter,
    ha: Option<Arc<HaNode>>,
}

impl SealCalls {
    pub fn new(vault: Arc<Vault>, health: HealthReporter, ha: Option<Arc<HaNode>>) -> Self {
        SealCalls { vault, health, ha }
    }

    /// Brings the health service up to date at once after an unseal or seal
    /// (the watcher in `health.rs` would within a moment).
    pub async fn report_health(&self) {
        health::report(&self.vault, self.ha.as_deref(), &self.health).await;
    }

    /// The seal status, with this node's HA role and degraded reasons. A
    /// `token` that is the root token's shows more (the unseal nonce).
    pub async fn seal_status(&self, token: Option<&str>) -> Result<SealStatusResponse, Status> {
        let status = self.vault.status(token).await.map_err(from_vault)?;
        let mut status = message(status);
        self.ha_status(&mut status);
        status.degraded = self.vault.degraded().await;
        Ok(status)
    }

    /// Initialises the vault: the shares and the root token, once.
    pub async fn init(&self, shares: u32, threshold: u32) -> Result<InitResponse, Status> {
        let out = self
            .vault
            .init(shares, threshold)
            .await
            .map_err(from_vault)?;
        Ok(InitResponse {
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
        })
    }

    /// One share from `remote` (rate-limited per address), or a reset.
    pub async fn unseal(
        &self,
        remote: Option<IpAddr>,
        token: Option<&str>,
        asked: &UnsealRequest,
    ) -> Result<UnsealResponse, Status> {
        if asked.reset {
            let nonce = (!asked.nonce.is_empty()).then_some(asked.nonce.as_str());
            let status = self
                .vault
                .unseal_reset_from(remote, nonce, token)
                .await
                .map_err(from_vault)?;
            return Ok(UnsealResponse {
                status: Some(message(status)),
                duplicate: false,
                nonce: String::new(),
            });
        }
        let result = self.vault.unseal_from(remote, &asked.key).await;
        self.report_health().await;
        let out = result.map_err(from_vault)?;
        Ok(UnsealResponse {
            status: Some(message(out.status)),
            duplicate: out.duplicate,
            nonce: out.nonce,
        })
    }

    /// The HA fields of the status.
    fn ha_status(&self, status: &mut SealStatusResponse) {
        let Some(ha) = &self.ha else {
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

fn message(s: SealStatus) -> SealStatusResponse {
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
