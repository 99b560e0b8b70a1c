//! What can go wrong talking to the vault, split by who has to react: the
//! vault's answer ([`ClientError::Rpc`]), an answer this client cannot read
//! ([`ClientError::UnexpectedResponse`]), or the caller's own input.

/// An error from this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The vault refused the request, or could not be reached. The status code
    /// says which (e.g. `Unavailable` for a sealed or unreachable vault,
    /// `NotFound` for a lease that is gone or not the caller's).
    #[error("{doing} failed: {} (code: {:?})", status.message(), status.code())]
    Rpc {
        /// What the client was doing, e.g. "renewing the lease".
        doing: &'static str,
        /// The gRPC status.
        status: tonic::Status,
    },
    /// The vault answered something this client does not understand: most
    /// likely a server of another version.
    #[error("unexpected answer when {doing}: {reason}")]
    UnexpectedResponse {
        /// What the client was doing.
        doing: &'static str,
        /// What was wrong with the answer.
        reason: String,
    },
    /// The token has characters gRPC metadata cannot carry.
    #[error("the token contains characters a token cannot have")]
    InvalidToken,
    /// A duration the caller gave could not be parsed.
    #[error("invalid duration {text:?}: {reason}")]
    InvalidDuration {
        /// The text as given.
        text: String,
        /// Why it is not a duration.
        reason: String,
    },
}
