//! Secrets engines and the interface every mount handler implements.
//!
//! A handler sees only its own mount: the request path relative to the mount, and
//! a [`View`] of the barrier confined to the mount's storage prefix. It never sees
//! tokens or policies: the pipeline has decided access before calling it.

pub mod kv;
pub mod shared;
pub mod view;

use async_trait::async_trait;

use crate::barrier::BarrierError;
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
    /// Credentials (a login's) were refused. One message for every reason.
    #[error("permission denied")]
    PermissionDenied,
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

    /// Handles one request.
    async fn handle(
        &self,
        view: &View<'_>,
        request: EngineRequest<'_>,
    ) -> Result<Response, EngineError>;
}
