//! The expiration manager: leases on issued secrets, renewed, revoked on time,
//! and never dropped silently when revocation fails.
//!
//! Every lease is a record behind the barrier plus index keys (see [`lease`]).
//! The schedule *is* the due index: its keys sort by due time, so the next due
//! leases are found with an ordered key scan, a page at a time. Nothing is
//! loaded at unseal or restart, and memory stays bounded however many leases
//! are stored.
//!
//! Revocation goes through a [`Revoker`] (the secrets engine). A retryable
//! failure puts the lease in `revoking` state and retries it for ever with
//! capped exponential backoff ([`Backoff`]); only a permanent failure (the mount
//! is gone) makes it `irrevocable`. Both show in [`ExpirationManager::count`]
//! and [`ExpirationManager::list_failing`].
//!
//! Leases owned by a token are indexed by the token's store hash, so revoking
//! the token can revoke them ([`ExpirationManager::revoke_by_token`]). The
//! choice, as in Vault: a lease dies with the token that made it, and never
//! outlives its own max TTL even if the token does.
//!
//! [`ExpirationManager::run`] is the background loop that calls `tick` on time.
//! Not yet wired into the request pipeline; the engine-facing API is here.

mod backoff;
mod lease;
mod manager;
pub(crate) mod quotas;
mod scheduler;
#[cfg(test)]
mod tests;

use async_trait::async_trait;

use crate::barrier::BarrierError;
use crate::random::RandomError;
use crate::storage::StorageError;

pub use backoff::Backoff;
pub(crate) use lease::ID_PREFIX;
pub use lease::{Lease, LeaseParams, LeaseState, new_lease_id};
pub use manager::{ExpirationManager, ExpirationOptions, LeaseCounts, RevokeReport, TickReport};

/// Why a revoker could not revoke (or renew) a secret.
///
/// The message is stored in the lease record, logged and shown to operators:
/// it must never contain a secret (a password, a connection string with one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevokeError {
    /// May succeed later (the database is down); retried with backoff.
    #[error("{0}")]
    Retryable(String),
    /// Can never succeed (the mount is gone); the lease becomes irrevocable.
    #[error("{0}")]
    Permanent(String),
}

/// What revokes and renews the external secret behind a lease: the secrets
/// engine that issued it.
///
/// Duties: `revoke` is idempotent (a secret already gone is revoked, `Ok`);
/// error messages never contain secrets; each call bounds its own time (a
/// timeout on the external system), since the manager waits for it.
#[async_trait]
pub trait Revoker: Send + Sync {
    /// Revokes the secret behind `lease`.
    async fn revoke(&self, lease: &Lease) -> Result<(), RevokeError>;

    /// Extends the secret behind `lease` to its new `expire_time` (e.g. a
    /// database role's `VALID UNTIL`). Most secrets need nothing.
    async fn renew(&self, lease: &Lease) -> Result<(), RevokeError> {
        let _ = lease;
        Ok(())
    }
}

/// Why an expiration operation failed. Lease ids are not secret; `internal`
/// never appears here.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExpirationError {
    /// No lease with that id.
    #[error("lease not found: {0}")]
    NotFound(String),
    /// The id or prefix is malformed (empty, `..` segments, control characters).
    #[error("invalid lease id or prefix")]
    InvalidId,
    /// The lease to register is malformed.
    #[error("invalid lease: {0}")]
    InvalidLease(&'static str),
    /// A lease with that id is already stored.
    #[error("lease already exists: {0}")]
    Exists(String),
    /// The lease is not renewable.
    #[error("lease is not renewable")]
    NotRenewable,
    /// The lease has expired or is being revoked; it cannot be renewed.
    #[error("lease is {0} and cannot be renewed")]
    NotActive(&'static str),
    /// Another operation (a revocation) holds the lease right now.
    #[error("lease is busy: {0}")]
    Busy(String),
    /// The engine refused the renewal; nothing was changed.
    #[error("renewal failed: {0}")]
    RenewFailed(RevokeError),
    /// The engine failed to revoke for good: the lease is stored as
    /// `irrevocable`.
    #[error("revocation failed: {0}")]
    RevokeFailed(RevokeError),
    /// The engine could not revoke now; the lease stays stored as `revoking`
    /// and the expiration manager retries it by itself.
    #[error(
        "not revoked yet, and queued: the lease is retried by itself until its secret is gone \
         (lease list --failing shows it): {0}"
    )]
    RevokeQueued(RevokeError),
    /// The barrier failed.
    #[error(transparent)]
    Barrier(#[from] BarrierError),
    /// A stored record does not decode.
    #[error("stored lease is malformed: {0}")]
    Malformed(String),
    /// No randomness for the backoff jitter.
    #[error(transparent)]
    Random(#[from] RandomError),
}

impl From<StorageError> for ExpirationError {
    fn from(e: StorageError) -> Self {
        ExpirationError::Barrier(BarrierError::Storage(e))
    }
}
