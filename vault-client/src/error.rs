//! What can go wrong talking to the vault, split by who has to react: the
//! vault's answer ([`ClientError::Rpc`], or [`ClientError::Embedded`] from a
//! vault in the same process), an answer this client cannot read
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
    /// A vault embedded in this process (a [`LeaseApi`](crate::LeaseApi) that
    /// calls the library directly, not a server) refused the request or
    /// failed. `source` is the library's own error: downcast it to tell, say,
    /// a sealed vault from a lease that is gone.
    #[error("{doing} failed: {source}")]
    Embedded {
        /// What the client was doing, e.g. "renewing the lease".
        doing: &'static str,
        /// The embedded vault's error.
        source: Box<dyn std::error::Error + Send + Sync>,
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
