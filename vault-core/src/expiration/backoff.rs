//! The retry schedule for failed revocations: exponential backoff with full
//! jitter, capped. Full jitter (a uniform draw below the exponential ceiling)
//! spreads the retries of many leases that failed together, so a database that
//! comes back is not hit by all of them in the same instant.

use std::time::Duration;

use crate::random::{self, RandomError};

/// Exponential backoff with full jitter: the n-th retry waits a uniform time in
/// `[1 ms, min(cap, base * 2^(n-1))]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first retry's wait.
    pub base: Duration,
    /// The most any retry waits. Retries never stop: a lease whose backend is
    /// down is tried at least once per `cap` until it is revoked.
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(180),
        }
    }
}

impl Backoff {
    /// The ceiling of the wait before retry number `attempt` (1 for the first), ms.
    pub fn ceiling_ms(&self, attempt: u32) -> u64 {
        let base = millis(self.base).max(1);
        let cap = millis(self.cap).max(1);
        let shift = attempt.saturating_sub(1).min(63);
        base.saturating_mul(1u64 << shift).min(cap)
    }

    /// A random wait before retry number `attempt`, ms. Never 0, so a retry is
    /// always later than the failure it follows (a tick never meets it again).
    pub fn delay_ms(&self, attempt: u32) -> Result<u64, RandomError> {
        let ceiling = self.ceiling_ms(attempt);
        let mut bytes = [0u8; 8];
        random::fill(&mut bytes)?;
        // The modulo bias is below 2^-20 for any ceiling under 2^44 ms (557 years).
        Ok(1 + u64::from_le_bytes(bytes) % ceiling)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_until_the_cap() {
        let b = Backoff::default();
        assert_eq!(b.ceiling_ms(1), 1_000);
        assert_eq!(b.ceiling_ms(2), 2_000);
        assert_eq!(b.ceiling_ms(8), 128_000);
        assert_eq!(b.ceiling_ms(9), 180_000);
        assert_eq!(b.ceiling_ms(u32::MAX), 180_000);
    }

    #[test]
    fn delays_stay_within_the_ceiling() {
        let b = Backoff {
            base: Duration::from_millis(10),
            cap: Duration::from_millis(50),
        };
        for attempt in 1..20 {
            let d = b.delay_ms(attempt).unwrap();
            assert!((1..=b.ceiling_ms(attempt)).contains(&d), "{attempt}: {d}");
        }
    }
}
