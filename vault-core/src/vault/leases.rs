//! Leases in the pipeline: the lease on a secret an engine issued, revocations
//! and renewals routed back to the engine that issued it, the leases of revoked
//! tokens, and the background loop that revokes on time.
//!
//! A lease's TTL is the engine's (or the mount's default), capped by the mount's
//! max and by the caller's token: a lease never outlives the token that made it,
//! so a token that merely expires takes its leases with it without any sweep,
//! and revoking a token revokes its leases explicitly.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::clock;
use crate::engines::{EngineError, LeaseBounds, LeaseQuery, LogicalBackend, View};
use crate::expiration::{ExpirationError, Lease, LeaseParams, RevokeError, Revoker};
use crate::request::{LeaseInfo, Request, Response, SecretGrant};
use crate::router::MountEntry;

use super::{Vault, VaultError};
use crate::request::Caller;

/// How often the expiration loop looks whether the vault was unsealed.
const SEALED_POLL: Duration = Duration::from_secs(1);
/// How often engines' periodic work runs (see `LogicalBackend::periodic`),
/// and expired tokens are removed.
const PERIODIC_EVERY: Duration = Duration::from_secs(5);

/// Routes a lease's revocation and renewal to the engine of the mount that
/// issued it.
#[derive(Debug)]
pub(super) struct EngineRevoker<'a> {
    pub vault: &'a Vault,
}

impl EngineRevoker<'_> {
    fn engine(&self, lease: &Lease) -> Result<(Arc<dyn LogicalBackend>, MountEntry), RevokeError> {
        if !self.vault.is_ready() {
            // Sealed, or unsealing with the mount table not loaded yet: no
            // mount can be judged gone now.
            return Err(RevokeError::Retryable("the vault is sealed".into()));
        }
        let table = self.vault.mount_table();
        let mount = table
            .route(&lease.path)
            .map(|(m, _)| m)
            .filter(|m| m.path == lease.mount_path)
            .ok_or_else(|| {
                RevokeError::Permanent(format!("the mount {} is gone", lease.mount_path))
            })?
            .clone();
        match self.vault.engine_for(&mount) {
            Ok(Some(engine)) => Ok((engine, mount)),
            Ok(None) => Err(RevokeError::Permanent(format!(
                "the mount {} issues no leases",
                mount.path
            ))),
            Err(e) => Err(RevokeError::Retryable(e.to_string())),
        }
    }
}

#[async_trait]
impl Revoker for EngineRevoker<'_> {
    async fn revoke(&self, lease: &Lease) -> Result<(), RevokeError> {
        let (engine, mount) = self.engine(lease)?;
        let view = View::new(&self.vault.barrier, mount.storage_prefix());
        engine.revoke(&view, lease).await
    }

    async fn renew(&self, lease: &Lease) -> Result<(), RevokeError> {
        let (engine, mount) = self.engine(lease)?;
        let view = View::new(&self.vault.barrier, mount.storage_prefix());
        engine.renew(&view, lease).await
    }
}

/// The engines' view of which leases exist.
#[derive(Debug)]
pub(super) struct StoredLeases<'a> {
    pub vault: &'a Vault,
}

#[async_trait]
impl LeaseQuery for StoredLeases<'_> {
    async fn lease_exists(&self, id: &str) -> Result<bool, EngineError> {
        match self.vault.expiration.lookup(&self.vault.barrier, id).await {
            Ok(_) => Ok(true),
            Err(ExpirationError::NotFound(_)) => Ok(false),
            Err(ExpirationError::Barrier(b)) => Err(EngineError::Barrier(b)),
            Err(e) => Err(EngineError::InvalidRequest(e.to_string())),
        }
    }
}

impl From<ExpirationError> for VaultError {
    fn from(e: ExpirationError) -> Self {
        use ExpirationError as E;
        match e {
            E::NotFound(id) => VaultError::NotFound(format!("lease not found: {id}")),
            E::InvalidId | E::NotRenewable | E::NotActive(_) => {
                VaultError::InvalidRequest(e.to_string())
            }
            E::Busy(_) => VaultError::Conflict(e.to_string()),
            E::RenewFailed(_) | E::RevokeFailed(_) | E::RevokeQueued(_) => {
                VaultError::Upstream(e.to_string())
            }
            E::Barrier(b) => b.into(),
            E::Random(r) => VaultError::Random(r),
            e => VaultError::Internal(e.to_string()),
        }
    }
}

impl Vault {
    /// What a lease issued now for `caller` on `mount` is held to: the
    /// mount's TTLs, and the deadlines of the caller's token and every
    /// ancestor (a lease dies no later than the token tree that made it).
    pub(super) async fn lease_bounds(
        &self,
        caller: &Caller,
        mount: &MountEntry,
    ) -> Result<LeaseBounds, VaultError> {
        let now = clock::now_unix_millis();
        let mut bounds = LeaseBounds {
            default_ttl: mount.config.effective_default_ttl().saturating_mul(1000),
            max_ttl: mount.config.effective_max_ttl().saturating_mul(1000),
            token_left: u64::MAX,
        };
        if let Some(token) = &caller.token {
            // A token gone since admission counts as no limit here: the check
            // after storing revokes the lease (and so the secret already
            // made) at once.
            let (expire, max_expire) = self
                .tokens
                .tree_deadlines(&self.barrier, &token.id_hash, now)
                .await?
                .unwrap_or((0, 0));
            if max_expire > 0 {
                bounds.max_ttl = bounds.max_ttl.min(max_expire.saturating_sub(now));
            }
            if expire > 0 {
                bounds.token_left = expire.saturating_sub(now);
            }
        }
        Ok(bounds)
    }

    /// Stores the lease on the secret an engine just issued and puts its id in
    /// the response. If it cannot be stored, the secret is revoked at once
    /// (best effort: reconciliation finds what that misses) and the request fails.
    pub(super) async fn register_lease(
        &self,
        request: &Request,
        caller: &Caller,
        mount: &MountEntry,
        bounds: LeaseBounds,
        grant: SecretGrant,
        mut response: Response,
    ) -> Result<Response, VaultError> {
        let now = clock::now_unix_millis();
        let (ttl, max_ttl) = bounds.lease_ttls(grant.ttl, grant.max_ttl);
        let unbounded = LeaseBounds {
            token_left: u64::MAX,
            ..bounds
        };
        if unbounded.lease_ttls(grant.ttl, grant.max_ttl).0 > ttl {
            response.warnings.push(format!(
                "the lease's TTL was capped at the {}s the token that made it has left",
                bounds.token_left / 1000
            ));
        }
        let token_hash = caller
            .token
            .as_ref()
            .map(|t| t.id_hash.clone())
            .unwrap_or_default();
        let params = LeaseParams {
            mount_path: mount.path.clone(),
            path: request.path.clone(),
            ttl,
            max_ttl,
            renewable: grant.renewable,
            token_hash,
            internal: grant.internal,
        };
        let mut lease = Lease::new(params, now)?;
        lease.id = grant.lease_id;
        let info = LeaseInfo {
            lease_id: lease.id.clone(),
            lease_duration: lease.ttl.div_ceil(1000),
            renewable: lease.renewable,
        };
        if let Err(e) = self.expiration.register(&self.barrier, lease.clone()).await {
            let revoker = EngineRevoker { vault: self };
            if let Err(undo) = revoker.revoke(&lease).await {
                tracing::error!(lease_id = %lease.id, error = %undo,
                    "a secret whose lease could not be stored was not revoked either; reconcile the mount");
            }
            return Err(e.into());
        }
        // A token revoked, or a mount being disabled, while the secret was
        // being made: their sweeps may have run before this lease was stored,
        // so it must not outlive them. (Checked after storing: a sweep that
        // starts later finds the lease itself.)
        let orphaned = if self.is_disabling(&mount.uuid) {
            Some("the mount is being disabled")
        } else if !lease.token_hash.is_empty()
            && self
                .tokens
                .lookup_hash(&self.barrier, &lease.token_hash, now)
                .await?
                .is_none()
        {
            Some("the token was revoked")
        } else {
            None
        };
        if let Some(why) = orphaned {
            self.revoke_unanswered(&lease.id).await;
            return Err(VaultError::Conflict(format!(
                "{why} while the secret was being issued; it was revoked"
            )));
        }
        response.lease = Some(info);
        Ok(response)
    }

    /// True while `disable_mount` revokes the leases of the mount `uuid`.
    pub(super) fn is_disabling(&self, uuid: &str) -> bool {
        self.disabling
            .lock()
            .map(|d| d.contains(uuid))
            .unwrap_or(true)
    }

    /// Revokes the leases of tokens just revoked. Failures stay scheduled (the
    /// leases move to `revoking` and are retried), so only storage errors fail.
    pub(super) async fn revoke_token_leases(&self, hashes: &[String]) -> Result<(), VaultError> {
        let revoker = EngineRevoker { vault: self };
        for hash in hashes {
            let report = self
                .expiration
                .revoke_by_token(&self.barrier, &revoker, hash)
                .await?;
            if report.retrying + report.irrevocable > 0 {
                tracing::warn!(
                    revoked = report.revoked,
                    retrying = report.retrying,
                    irrevocable = report.irrevocable,
                    "some leases of a revoked token could not be revoked yet"
                );
            }
        }
        Ok(())
    }

    /// Revokes every lease a secrets mount issued, before it is disabled.
    pub(super) async fn revoke_mount_leases(&self, mount: &MountEntry) -> Result<(), VaultError> {
        let revoker = EngineRevoker { vault: self };
        let report = self
            .expiration
            .revoke_prefix(&self.barrier, &revoker, mount.path.trim_end_matches('/'))
            .await?;
        let left = report.retrying + report.irrevocable + report.skipped + report.errors;
        if left > 0 {
            return Err(VaultError::Upstream(format!(
                "{left} leases of {} could not be revoked, so it stays mounted; \
                 see `lease list --failing`, or abandon them with sys/leases/revoke-force",
                mount.path
            )));
        }
        Ok(())
    }

    /// Revokes a lease right after it was issued (its response could not be
    /// audited, so the caller never got the secret).
    pub(super) async fn revoke_unanswered(&self, lease_id: &str) {
        let revoker = EngineRevoker { vault: self };
        if let Err(e) = self
            .expiration
            .revoke(&self.barrier, &revoker, lease_id)
            .await
        {
            tracing::warn!(lease_id, error = %e, "an unanswered lease is left to its schedule");
        }
    }

    /// Revokes expired leases on time while the vault is unsealed, until
    /// `shutdown` completes. Spawn it once per vault (vaultd does); it waits
    /// through seals and resumes after each unseal. Nothing is loaded at unseal:
    /// the schedule is read from storage a page at a time.
    pub async fn run_expiration(&self, shutdown: impl std::future::Future<Output = ()>) {
        use std::sync::atomic::Ordering;
        use std::task::Poll;
        // `shutdown` is awaited by several loops in turn; once it has completed
        // it must not be polled again, so it is fused here.
        let mut shutdown = std::pin::pin!(shutdown);
        let stopped = std::sync::atomic::AtomicBool::new(false);
        let mut fused = std::future::poll_fn(|cx| {
            if stopped.load(Ordering::Relaxed) {
                return Poll::Ready(());
            }
            let poll = shutdown.as_mut().poll(cx);
            if poll.is_ready() {
                stopped.store(true, Ordering::Relaxed);
            }
            poll
        });
        while !stopped.load(Ordering::Relaxed) {
            if !self.is_ready() {
                // Woken at once by an unseal or a promotion; the poll covers
                // a wake-up missed between the check and the wait.
                let mut serving = self.ready.subscribe();
                tokio::select! {
                    () = &mut fused => {}
                    _ = serving.wait_for(|s| *s) => {}
                    () = tokio::time::sleep(SEALED_POLL) => {}
                }
                continue;
            }
            let revoker = EngineRevoker { vault: self };
            // Returns when `shutdown` completes, or the vault is sealed or
            // steps down (HA): then only the new active node revokes.
            let mut serving = self.ready.subscribe();
            let until = async {
                tokio::select! {
                    () = &mut fused => {}
                    _ = serving.wait_for(|s| !*s) => {}
                }
            };
            self.expiration.run(&self.barrier, &revoker, until).await;
        }
    }

    /// Runs every secrets engine's periodic work (static role rotations)
    /// every few seconds while the vault is unsealed, until `shutdown`
    /// completes. Spawn it once per vault, next to [`Vault::run_expiration`].
    pub async fn run_periodic(&self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(PERIODIC_EVERY) => {}
            }
            if !self.is_ready() {
                continue;
            }
            match self.sweep_expired_tokens().await {
                Ok(0) => {}
                Ok(count) => tracing::debug!(count, "expired tokens removed"),
                Err(e) => {
                    tracing::warn!(error = %e, "removing expired tokens failed; retried later")
                }
            }
            let table = self.mount_table();
            for mount in table.entries.iter().filter(|m| !m.is_auth()) {
                let engine = match self.engine_for(mount) {
                    Ok(Some(engine)) => engine,
                    Ok(None) => continue,
                    Err(e) => {
                        tracing::warn!(mount = %mount.path, error = %e, "no engine for periodic work");
                        continue;
                    }
                };
                let view = View::new(&self.barrier, mount.storage_prefix());
                let work = engine.periodic(&view);
                tokio::select! {
                    () = &mut shutdown => return,
                    done = work => if let Err(e) = done {
                        tracing::warn!(mount = %mount.path, error = %e, "periodic work failed; retried later");
                    },
                }
            }
        }
    }
}
