//! [`VaultError`]: why a request, or an operation of the vault's own
//! (init, unseal, seal), failed. Every handler behind `Vault::handle`
//! answers in these terms; the messages name what is wrong and never carry a
//! secret. Its own file, so the handlers need not import the facade.

use crate::barrier::BarrierError;
use crate::random::RandomError;
use crate::seal::{SealConfigError, ShareFormatError};
use crate::storage::StorageError;
use crate::token::TokenError;

/// Why a vault operation failed. The messages name what is wrong and never carry
/// a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The vault holds no keys.
    #[error("vault is sealed")]
    Sealed,
    /// An HA standby: unsealed, but only the node holding the active lock
    /// serves requests (a front end forwards them there).
    #[error("this node is a standby; requests are served by the active node")]
    Standby,
    /// `init` has not run.
    #[error("vault is not initialized")]
    NotInitialized,
    /// `init` ran before.
    #[error("vault is already initialized")]
    AlreadyInitialized,
    /// Share count or threshold out of range.
    #[error(transparent)]
    SealConfig(#[from] SealConfigError),
    /// A share that is not well-formed; progress is untouched.
    #[error("invalid key: {0}")]
    InvalidShare(#[from] ShareFormatError),
    /// A full quorum that does not open the root key; progress was reset.
    #[error("invalid key: the shares given do not open the root key; progress was reset")]
    WrongKey,
    /// The caller lacks the token, or the nonce, the operation needs.
    #[error("{0}")]
    PermissionDenied(&'static str),
    /// Too many attempts from the caller's address (failed logins, unseal
    /// calls) or too many leases under a quota: refused, not queued. Says
    /// which limit and when to retry.
    #[error("{0}")]
    RateLimited(String),
    /// `rekey update`/`cancel` without a rekey.
    #[error("no rekey is in progress")]
    NoRekeyInProgress,
    /// `rekey init` while one runs.
    #[error("a rekey is already in progress; cancel it first")]
    RekeyInProgress,
    /// A rekey share given with another attempt's nonce.
    #[error("the nonce does not match the rekey in progress")]
    NonceMismatch,
    /// `rekey update` after the current quorum approved: the new shares were
    /// handed out and the rekey waits for a quorum of them.
    #[error(
        "this rekey's new shares were handed out and await verification: give a quorum of them \
         with the verification nonce (rekey verify), or cancel the rekey"
    )]
    RekeyVerificationPending,
    /// `rekey verify` (or its cancel) while no new shares await verification.
    #[error("no rekey verification is in progress")]
    NoRekeyVerification,
    /// A verification share given with another nonce.
    #[error("the nonce does not match the rekey verification in progress")]
    VerificationNonceMismatch,
    /// A full quorum of would-be new shares that does not open the root key
    /// kept for the rekey; progress was reset under a new nonce.
    #[error(
        "invalid key: the shares given do not open the root key kept for this rekey; verification \
         progress was reset and the verification nonce changed (the root token reads the new one)"
    )]
    RekeyVerificationFailed,
    /// A stored value failed authentication: altered, truncated or moved.
    #[error("integrity check failed for {path}: {reason}")]
    Integrity {
        /// The storage path.
        path: String,
        /// What was wrong.
        reason: &'static str,
    },
    /// A path the vault keeps for itself.
    #[error("{0:?} is reserved for the vault's own keys")]
    ReservedPath(String),
    /// The request is malformed; the message says how.
    #[error("{0}")]
    InvalidRequest(String),
    /// The path is not in canonical form.
    #[error(transparent)]
    InvalidPath(#[from] crate::path::PathError),
    /// Nothing at the path, or no mount serves it.
    #[error("{0}")]
    NotFound(String),
    /// No mount serves the path (Vault's words: "no handler for route").
    #[error("no handler for route {0:?}. route entry not found.")]
    NoRoute(String),
    /// A lease lookup or renewal named a lease that does not exist (or is
    /// not the caller's); the text is Vault's for each.
    #[error("{0}")]
    UnknownLease(&'static str),
    /// An auth method refused a login's credentials: one text for every
    /// reason, Vault's for the method.
    #[error("{0}")]
    LoginRefused(&'static str),
    /// The operation is not served on the path.
    #[error("{0}")]
    Unsupported(String),
    /// A precondition (check-and-set) failed.
    #[error("{0}")]
    Conflict(String),
    /// Something stored is damaged or a bug was hit; the message says what.
    #[error("internal error: {0}")]
    Internal(String),
    /// An external system an engine depends on (a database) failed or cannot
    /// be reached; the request may succeed later.
    #[error("{0}")]
    Upstream(String),
    /// No audit device recorded the request: nothing was done.
    #[error("the audit log is unavailable; the request was not served: {0}")]
    AuditUnavailable(String),
    /// High availability is off on this node, or its lock or members table
    /// could not be reached (`sys/step-down`, `sys/ha/members`).
    #[error("{0}")]
    HaUnavailable(String),
    /// Raw storage access is off (Vault's `raw_storage_endpoint`).
    #[error("raw storage access is disabled; enable it with raw_storage_endpoint = true")]
    RawDisabled,
    /// The stored seal configuration cannot be read.
    #[error("the stored seal configuration is unreadable: {0}")]
    BadSealConfig(String),
    /// The backend failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// No randomness.
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// A request field read, with a bad value turned into a caller error naming it.
pub(crate) fn field<T>(r: Result<T, crate::params::FieldError>) -> Result<T, VaultError> {
    r.map_err(|e| VaultError::InvalidRequest(e.to_string()))
}

/// A JSON value as response data (empty unless it is an object).
pub(crate) fn object(value: serde_json::Value) -> crate::request::Data {
    match value {
        serde_json::Value::Object(map) => map,
        _ => crate::request::Data::new(),
    }
}

impl VaultError {
    /// A short name for the kind of failure, for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            VaultError::Sealed => "sealed",
            VaultError::Standby => "standby",
            VaultError::NotInitialized => "not_initialized",
            VaultError::PermissionDenied(_)
            | VaultError::ReservedPath(_)
            | VaultError::LoginRefused(_) => "permission_denied",
            VaultError::RateLimited(_) => "rate_limited",
            VaultError::InvalidRequest(_)
            | VaultError::InvalidPath(_)
            | VaultError::InvalidShare(_)
            | VaultError::SealConfig(_) => "invalid_request",
            VaultError::NotFound(_) | VaultError::NoRoute(_) | VaultError::UnknownLease(_) => {
                "not_found"
            }
            VaultError::Unsupported(_) => "unsupported",
            VaultError::Conflict(_) => "conflict",
            VaultError::Upstream(_) => "upstream",
            VaultError::AuditUnavailable(_) => "audit_unavailable",
            VaultError::Storage(_) => "storage",
            _ => "internal",
        }
    }
}

impl From<TokenError> for VaultError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Invalid => VaultError::PermissionDenied("permission denied"),
            TokenError::NotRenewable => VaultError::InvalidRequest("token is not renewable".into()),
            TokenError::Barrier(b) => b.into(),
            TokenError::Malformed(m) => VaultError::Internal(m),
            TokenError::Random(r) => VaultError::Random(r),
            e @ TokenError::TooDeep => VaultError::InvalidRequest(e.to_string()),
        }
    }
}

impl From<BarrierError> for VaultError {
    fn from(e: BarrierError) -> Self {
        match e {
            BarrierError::Sealed => VaultError::Sealed,
            BarrierError::Integrity { path, reason } => VaultError::Integrity { path, reason },
            BarrierError::ReservedPath(p) => VaultError::ReservedPath(p),
            BarrierError::Storage(s) => VaultError::Storage(s),
            BarrierError::Random(r) => VaultError::Random(r),
        }
    }
}
