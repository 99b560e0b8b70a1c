//! Secrets engines and the interface every mount handler implements.
//!
//! A handler sees only its own mount: the request path relative to the mount, a
//! [`View`] of the barrier confined to the mount's storage prefix, and the
//! caller as the pipeline admitted it. It never judges access: the pipeline has
//! decided it (token, ACL, sudo) before calling it. The system backends
//! (`sys/`, `auth/token/`, in [`crate::sys`]) implement the same trait.

pub mod database;
pub mod kv;
pub mod shared;
pub mod view;

use async_trait::async_trait;

use crate::barrier::BarrierError;
use crate::error::VaultError;
use crate::expiration::{Lease, RevokeError};
use crate::request::{Caller, Data, Operation, Response};

pub use view::View;

/// Why a handler refused or failed a request. Messages never carry a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// Nothing at the path.
    #[error("no value found at {0:?}")]
    NotFound(String),
    /// Bad input: the message says what is wrong.
    #[error("{0}")]
    InvalidRequest(String),
    /// The path exists but not for this operation.
    #[error("{operation} is not supported on {path:?}")]
    UnsupportedOperation {
        /// The operation asked for.
        operation: Operation,
        /// The mount-relative path.
        path: String,
    },
    /// A check-and-set or similar precondition failed.
    #[error("{0}")]
    Conflict(String),
    /// Credentials (a login's) were refused: one message for every reason,
    /// Vault's words for the method ("invalid username or password").
    #[error("{0}")]
    LoginRefused(&'static str),
    /// An external system the engine talks to (a database) failed or cannot be
    /// reached. The message names the system and never carries a secret.
    #[error("{0}")]
    Upstream(String),
    /// The barrier failed.
    #[error(transparent)]
    Barrier(#[from] BarrierError),
    /// A system backend's failure, in the vault's own terms (a seal, a rekey,
    /// a token): the pipeline answers it as it is.
    #[error(transparent)]
    System(Box<VaultError>),
}

impl From<VaultError> for EngineError {
    fn from(e: VaultError) -> Self {
        EngineError::System(Box::new(e))
    }
}

impl From<EngineError> for VaultError {
    fn from(e: EngineError) -> Self {
        use EngineError as E;
        match e {
            E::NotFound(p) => VaultError::NotFound(format!("no value found at {p:?}")),
            E::InvalidRequest(m) => VaultError::InvalidRequest(m),
            e @ E::UnsupportedOperation { .. } => VaultError::Unsupported(e.to_string()),
            E::Conflict(m) => VaultError::Conflict(m),
            E::LoginRefused(m) => VaultError::LoginRefused(m),
            E::Upstream(m) => VaultError::Upstream(m),
            E::Barrier(b) => b.into(),
            E::System(e) => *e,
        }
    }
}

/// A request as a handler sees it.
#[derive(Debug, Clone, Copy)]
pub struct EngineRequest<'a> {
    /// What to do.
    pub operation: Operation,
    /// The path relative to the mount (no leading slash; may be empty).
    pub path: &'a str,
    /// The request body.
    pub data: &'a Data,
    /// The caller's address.
    pub remote_addr: Option<std::net::IpAddr>,
    /// The mount's path (`database/`): a leased secret's id starts with it
    /// (see [`crate::expiration::new_lease_id`]).
    pub mount_path: &'a str,
    /// The caller, as the pipeline admitted it: its display name makes
    /// usernames from a template; the system backends read its token.
    pub caller: &'a Caller,
    /// The token the caller presented, if any (the token store's
    /// `lookup-self` and `renew-self` answer with it).
    pub client_token: Option<&'a crate::secret::SecretString>,
    /// Which leases exist, for engines that reconcile external state with them.
    pub leases: &'a dyn LeaseQuery,
    /// What a lease this request issues will be held to, so the engine can
    /// give the external secret the same expiry (a database role's
    /// `VALID UNTIL`).
    pub lease_bounds: LeaseBounds,
}

impl<'a> EngineRequest<'a> {
    /// The route `parse` makes of the path, or the refusal a path the engine
    /// does not serve gets: the opening of every engine's `handle`.
    pub fn route<R>(&self, parse: impl FnOnce(&'a str) -> Option<R>) -> Result<R, EngineError> {
        parse(self.path).ok_or_else(|| self.unsupported())
    }

    /// The refusal of this operation on this path.
    pub fn unsupported(&self) -> EngineError {
        EngineError::UnsupportedOperation {
            operation: self.operation,
            path: self.path.to_owned(),
        }
    }
}

/// The limits a lease is held to when it is issued: the mount's TTLs and
/// what the caller's token tree has left. The pipeline computes them once
/// per request; the engine and the lease it registers see the same numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseBounds {
    /// The TTL a lease gets when its engine asks for none, ms.
    pub default_ttl: u64,
    /// The most a lease may live, renewals included, ms: the mount's max and
    /// the token tree's.
    pub max_ttl: u64,
    /// What the caller's token has left, ms (`u64::MAX`: no limit).
    pub token_left: u64,
}

impl LeaseBounds {
    /// No mount or token in the way: the system's default and max TTL.
    pub const SYSTEM: LeaseBounds = LeaseBounds {
        default_ttl: crate::router::SYSTEM_MAX_TTL * 1000,
        max_ttl: crate::router::SYSTEM_MAX_TTL * 1000,
        token_left: u64::MAX,
    };

    /// The (TTL, max TTL) of a lease whose engine asks for `ttl` and
    /// `max_ttl` (0: the mount's), in ms.
    pub fn lease_ttls(&self, ttl: u64, max_ttl: u64) -> (u64, u64) {
        let max_ttl = match max_ttl {
            0 => self.max_ttl,
            m => m.min(self.max_ttl),
        };
        let ttl = match ttl {
            0 => self.default_ttl,
            t => t,
        };
        (ttl.min(max_ttl).min(self.token_left), max_ttl)
    }
}

impl<'a> EngineRequest<'a> {
    /// A request with no caller details, mount path or lease store: what tests
    /// and engines calling themselves need.
    pub fn new(operation: Operation, path: &'a str, data: &'a Data) -> Self {
        EngineRequest {
            operation,
            path,
            data,
            remote_addr: None,
            mount_path: "",
            caller: &NO_CALLER,
            client_token: None,
            leases: &NoLeases,
            lease_bounds: LeaseBounds::SYSTEM,
        }
    }
}

/// The caller of a request made without one (tests, an engine calling
/// itself).
static NO_CALLER: Caller = Caller::ANONYMOUS;

/// Asks the expiration manager whether a lease is stored (live, or still being
/// revoked). The only view of leases an engine gets.
#[async_trait]
pub trait LeaseQuery: Send + Sync + std::fmt::Debug {
    /// True if lease `id` is stored.
    async fn lease_exists(&self, id: &str) -> Result<bool, EngineError>;
}

/// A lease store that holds nothing, for engines used without a vault.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoLeases;

#[async_trait]
impl LeaseQuery for NoLeases {
    async fn lease_exists(&self, _id: &str) -> Result<bool, EngineError> {
        Ok(false)
    }
}

/// What a mount's handler implements.
#[async_trait]
pub trait LogicalBackend: Send + Sync + std::fmt::Debug {
    /// True if something exists at `path`: decides whether a write is `Create` or
    /// `Update` for the ACL. The default says nothing exists (every write creates).
    async fn exists(&self, _view: &View<'_>, _path: &str) -> Result<bool, EngineError> {
        Ok(false)
    }

    /// True for paths that take no token (an auth method's login). The pipeline
    /// skips the token and ACL for them; the handler itself checks credentials.
    fn is_login_path(&self, _path: &str) -> bool {
        false
    }

    /// True for requests that may issue a leased secret (a database role's
    /// `creds/<role>`): lease-count quotas are checked before the handler
    /// runs, so a refused request makes nothing.
    fn may_issue_lease(&self, _path: &str, _operation: Operation) -> bool {
        false
    }

    /// Handles one request.
    async fn handle(
        &self,
        view: &View<'_>,
        request: EngineRequest<'_>,
    ) -> Result<Response, EngineError>;

    /// Revokes the external secret behind a lease this engine issued (its
    /// [`SecretGrant`](crate::request::SecretGrant)). Idempotent: a secret
    /// already gone is revoked. The default has nothing external to revoke.
    async fn revoke(&self, _view: &View<'_>, _lease: &Lease) -> Result<(), RevokeError> {
        Ok(())
    }

    /// Extends the external secret behind a lease to its new `expire_time`.
    async fn renew(&self, _view: &View<'_>, _lease: &Lease) -> Result<(), RevokeError> {
        Ok(())
    }

    /// Background work that falls due by itself (a static role's password
    /// rotation). Called every few seconds while the vault is unsealed; each
    /// call bounds its own time. Errors are logged and the call repeated.
    async fn periodic(&self, _view: &View<'_>) -> Result<(), EngineError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::LeaseBounds;

    #[test]
    fn a_lease_asks_within_the_mount_and_the_token() {
        let bounds = LeaseBounds {
            default_ttl: 3_600_000,
            max_ttl: 86_400_000,
            token_left: u64::MAX,
        };
        // Nothing asked: the mount's default and max.
        assert_eq!(bounds.lease_ttls(0, 0), (3_600_000, 86_400_000));
        // Asked: kept within the mount's max.
        assert_eq!(bounds.lease_ttls(7_200_000, 0), (7_200_000, 86_400_000));
        assert_eq!(
            bounds.lease_ttls(200_000_000, 300_000_000),
            (86_400_000, 86_400_000)
        );
        assert_eq!(bounds.lease_ttls(0, 60_000), (60_000, 60_000));
        // The token's time left caps the TTL, not the max.
        let short = LeaseBounds {
            token_left: 1_000,
            ..bounds
        };
        assert_eq!(short.lease_ttls(0, 0), (1_000, 86_400_000));
    }
}
