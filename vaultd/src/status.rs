//! How a vault error becomes a gRPC status: the code says which kind of failure,
//! the message says what and why (it never carries a secret: VaultError's
//! messages do not).

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
        VaultError::NotFound(_) => Code::NotFound,
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
        | VaultError::RawDisabled => Code::FailedPrecondition,
        VaultError::SealConfig(_)
        | VaultError::InvalidShare(_)
        | VaultError::WrongKey
        | VaultError::NonceMismatch
        | VaultError::VerificationNonceMismatch
        | VaultError::RekeyVerificationFailed => Code::InvalidArgument,
        VaultError::PermissionDenied(_) | VaultError::ReservedPath(_) => Code::PermissionDenied,
        VaultError::Integrity { .. } | VaultError::BadSealConfig(_) => Code::DataLoss,
        VaultError::Storage(s) if s.is_corruption() => Code::DataLoss,
        _ => Code::Internal,
    };
    if code == Code::Internal || code == Code::DataLoss {
        tracing::error!(error = %e, "request failed");
    }
    Status::new(code, e.to_string())
}
