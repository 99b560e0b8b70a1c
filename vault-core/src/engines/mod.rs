//! Secrets engines and the interface every mount handler implements.
//!
//! A handler sees only its own mount: the request path relative to the mount, and
//! a [`View`] of the barrier confined to the mount's storage prefix. It never sees
//! tokens or policies: the pipeline has decided access before calling it.

pub mod database;
pub mod kv;
pub mod shared;
pub mod view;

use async_trait::async_trait;

use crate::barrier::BarrierError;
use crate::expiration::{Lease, RevokeError};
use crate::request::{Data, Operation, Response};

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
    /// The caller's display name (`approle`, `userpass-alice`), for usernames
    /// made from a template; empty for unauthenticated calls.
    pub display_name: &'a str,
    /// Which leases exist, for engines that reconcile external state with them.
    pub leases: &'a dyn LeaseQuery,
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
            display_name: "",
            leases: &NoLeases,
        }
    }
}

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
