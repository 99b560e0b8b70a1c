//! The seal configuration: the one record stored in the clear, because it is
//! needed while the vault is sealed.

use serde::{Deserialize, Serialize};

use super::shamir::MAX_SHARES;

/// Where the seal configuration is stored.
pub const SEAL_CONFIG_PATH: &str = "core/seal-config";

/// How the unseal key is split, and the verifier of the root token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealConfig {
    /// Always `shamir` for now.
    #[serde(rename = "type")]
    pub kind: String,
    /// Shares the unseal key was split into.
    pub secret_shares: u32,
    /// Shares needed to unseal.
    pub secret_threshold: u32,
    /// SHA-256 of the root token made at init, hex. Lets the root token reset an
    /// unseal attempt (and see its nonce) while sealed, when the barrier cannot be
    /// read. A hash of a 143-bit random token reveals nothing of it. Empty once
    /// that token is revoked: it then matches no token.
    pub root_token_verifier: String,
}

/// A share count or threshold an operator asked for that breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealConfigError {
    /// No shares asked for.
    #[error("invalid seal configuration: shares must be at least 1")]
    NoShares,
    /// More shares than x-coordinates.
    #[error("invalid seal configuration: shares must be at most {MAX_SHARES} (got {0})")]
    TooManyShares(u32),
    /// Threshold zero.
    #[error("invalid seal configuration: threshold must be at least 1")]
    NoThreshold,
    /// Threshold above share count.
    #[error(
        "invalid seal configuration: threshold cannot be larger than shares ({threshold} > {shares})"
    )]
    ThresholdAboveShares {
        /// Shares asked for.
        shares: u32,
        /// Threshold asked for.
        threshold: u32,
    },
    /// One share would open the vault while others exist.
    #[error(
        "invalid seal configuration: threshold must be at least 2 when there is more than one share (got {shares} shares, threshold 1)"
    )]
    ThresholdOneOfMany {
        /// Shares asked for.
        shares: u32,
    },
}

/// Checks a share count and threshold; returns them as bytes for the splitter.
pub fn validate(shares: u32, threshold: u32) -> Result<(u8, u8), SealConfigError> {
    if shares == 0 {
        return Err(SealConfigError::NoShares);
    }
    let shares_u8 = u8::try_from(shares).map_err(|_| SealConfigError::TooManyShares(shares))?;
    if threshold == 0 {
        return Err(SealConfigError::NoThreshold);
    }
    if threshold > shares {
        return Err(SealConfigError::ThresholdAboveShares { shares, threshold });
    }
    if shares > 1 && threshold < 2 {
        return Err(SealConfigError::ThresholdOneOfMany { shares });
    }
    // threshold <= shares <= 255 here.
    Ok((shares_u8, threshold as u8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_broken_rule() {
        assert_eq!(validate(0, 0), Err(SealConfigError::NoShares));
        assert_eq!(validate(256, 3), Err(SealConfigError::TooManyShares(256)));
        assert_eq!(
            validate(5, 6),
            Err(SealConfigError::ThresholdAboveShares {
                shares: 5,
                threshold: 6
            })
        );
        assert_eq!(
            validate(5, 1),
            Err(SealConfigError::ThresholdOneOfMany { shares: 5 })
        );
        assert_eq!(validate(3, 0), Err(SealConfigError::NoThreshold));
        assert_eq!(validate(1, 1), Ok((1, 1)));
        assert_eq!(validate(255, 255), Ok((255, 255)));
        assert!(
            validate(256, 3)
                .unwrap_err()
                .to_string()
                .contains("at most 255")
        );
    }
}
