//! Removing expired tokens on schedule: a token past its TTL is refused when
//! presented, but its entry, its cubbyhole (a wrapped response, say) and its
//! leases must go at expiry even if nobody ever presents it again.

use crate::clock;

use super::{Vault, VaultError};

/// Index keys read per sweep; the rest wait for the next sweep, so one sweep
/// costs a bounded amount of memory and time.
const SWEEP_LIMIT: usize = 1_000;

impl Vault {
    /// Revokes the tokens that have expired, each with its descendants,
    /// cubbyhole and leases, earliest first; returns how many were removed.
    pub(super) async fn sweep_expired_tokens(&self) -> Result<usize, VaultError> {
        let now = clock::now_unix_millis();
        let due = self.tokens.expired(&self.barrier, now, SWEEP_LIMIT).await?;
        let mut count = 0;
        for token in &due {
            let removed = self
                .tokens
                .remove_expired(&self.barrier, token, now)
                .await?;
            self.revoke_token_leases(&removed).await?;
            count += removed.len();
        }
        Ok(count)
    }
}
