//! The system backends ([`crate::sys`]: `sys/` and `auth/token/`; and
//! [`crate::identity`]'s `identity/`), built per
//! request from this vault's parts. Each is handed the narrow parts it acts
//! on (the barrier, the token store, the expiration manager, the audit
//! broker, and this vault as each of the traits the backends define for the
//! bookkeeping only it holds); none is handed the vault itself.

use async_trait::async_trait;

use crate::router::MountEntry;
use crate::sys::{SysBackend, TokenBackend, TokenRevocation};
use crate::token::TtlLimits;

use super::leases::EngineRevoker;
use super::{Vault, VaultError};

impl Vault {
    /// The handler of `sys/`, revoking and renewing leases through `revoker`.
    pub(super) fn sys_backend<'a>(&'a self, revoker: &'a EngineRevoker<'a>) -> SysBackend<'a> {
        SysBackend {
            barrier: &self.barrier,
            tokens: &self.tokens,
            expiration: &self.expiration,
            revoker,
            mounts: self,
            policies: &self.policies,
            identity: &self.identity,
            audit: &self.audit,
            audit_table: &self.audit_devices,
            quotas: &self.quotas,
            rekey: self,
            metrics: self,
            ha: self.ha.get().and_then(std::sync::Weak::upgrade),
            raw_storage: self.raw_storage,
        }
    }

    /// The handler of `identity/`, over the mount table as it is now.
    pub(super) fn identity_backend<'a>(
        &'a self,
        mounts: &'a crate::router::MountTable,
    ) -> crate::identity::IdentityBackend<'a> {
        crate::identity::IdentityBackend {
            barrier: &self.barrier,
            store: &self.identity,
            mounts,
            mfa: &self.mfa.store,
        }
    }

    /// The handler of `auth/token/`, mounted as `mount`.
    pub(super) fn token_backend(&self, mount: &MountEntry) -> TokenBackend<'_> {
        TokenBackend {
            barrier: &self.barrier,
            tokens: &self.tokens,
            revocation: self,
            limits: TtlLimits {
                default_ttl: mount.config.effective_default_ttl().saturating_mul(1000),
                max_ttl: mount.config.effective_max_ttl().saturating_mul(1000),
            },
            identity: &self.identity,
        }
    }
}

#[async_trait]
impl TokenRevocation for Vault {
    async fn revoke_leases(&self, hashes: &[String]) -> Result<(), VaultError> {
        self.revoke_token_leases(hashes).await
    }

    async fn retire_root_token_verifier(&self) -> Result<(), VaultError> {
        Vault::retire_root_token_verifier(self).await
    }
}
