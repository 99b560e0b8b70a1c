//! How a vault error becomes a gRPC status: the code says which kind of failure,
//! the message says what and why (it never carries a secret: VaultError's
//! messages do not).

use tonic::metadata::MetadataValue;
use tonic::{Code, Status};
use vault_core::VaultError;
use vault_core::storage::StorageError;

/// The gRPC status for `e`.
pub fn from_vault(e: VaultError) -> Status {
    let code = match &e {
        VaultError::Sealed
        | VaultError::Standby
        | VaultError::AuditUnavailable(_)
        | VaultError::Upstream(_)
        | VaultError::Storage(StorageError::Fenced(_)) => Code::Unavailable,
        VaultError::NotFound(_) | VaultError::NoRoute(_) | VaultError::UnknownLease(_) => {
            Code::NotFound
        }
        VaultError::RateLimited(_) => Code::ResourceExhausted,
        VaultError::Unsupported(_) => Code::Unimplemented,
        VaultError::Conflict(_) => Code::FailedPrecondition,
        VaultError::InvalidPath(_) | VaultError::InvalidRequest(_) => Code::InvalidArgument,
        VaultError::NotInitialized
        | VaultError::AlreadyInitialized
        | VaultError::NoRekeyInProgress
        | VaultError::RekeyInProgress
        | VaultError::RekeyVerificationPending
        | VaultError::NoRekeyVerification
        | VaultError::RawDisabled
        | VaultError::HaUnavailable(_) => Code::FailedPrecondition,
        VaultError::SealConfig(_)
        | VaultError::InvalidShare(_)
        | VaultError::WrongKey
        | VaultError::NonceMismatch
        | VaultError::VerificationNonceMismatch
        | VaultError::RekeyVerificationFailed => Code::InvalidArgument,
        VaultError::PermissionDenied(_)
        | VaultError::ReservedPath(_)
        | VaultError::LoginRefused(_) => Code::PermissionDenied,
        VaultError::Integrity { .. } | VaultError::BadSealConfig(_) => Code::DataLoss,
        VaultError::Storage(s) if s.is_corruption() => Code::DataLoss,
        _ => Code::Internal,
    };
    if code == Code::Internal || code == Code::DataLoss {
        tracing::error!(error = %e, "request failed");
    }
    let http = match &e {
        VaultError::LoginRefused(_) | VaultError::UnknownLease(_) => Some("400"),
        VaultError::NoRoute(_) => Some("404"),
        _ => None,
    };
    let mut status = Status::new(code, e.to_string());
    if let Some(http) = http {
        status
            .metadata_mut()
            .insert(HTTP_STATUS_KEY, MetadataValue::from_static(http));
    }
    status
}

/// Where Vault's HTTP API answers a failure with another status than its
/// kind says (a refused login is 400 there, PERMISSION_DENIED in gRPC), the
/// status carries Vault's HTTP code under this key, and the HTTP front end
/// answers with it and the message (http/reply.rs).
pub const HTTP_STATUS_KEY: &str = "x-vault-http-status";
