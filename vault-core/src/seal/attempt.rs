//! A quorum being gathered: the shares given so far in one unseal or rekey
//! attempt, under that attempt's nonce.

use super::shamir::Share;
use crate::random::{self, RandomError};
use crate::secret::constant_time_eq;

/// Shares collected towards a threshold.
#[derive(Debug)]
pub struct KeyAttempt {
    nonce: String,
    threshold: u32,
    shares: Vec<Share>,
}

/// What one submission did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Submission {
    /// The share had been given already in this attempt and did not count again.
    pub duplicate: bool,
    /// Distinct shares now held.
    pub progress: u32,
}

impl KeyAttempt {
    /// A new attempt with a fresh nonce.
    pub fn start(threshold: u32) -> Result<Self, RandomError> {
        Ok(KeyAttempt {
            nonce: random::uuid_v4()?,
            threshold,
            shares: Vec::new(),
        })
    }

    /// The same attempt (same nonce) with its shares dropped: a wrong quorum.
    pub fn restart(nonce: String, threshold: u32) -> Self {
        KeyAttempt {
            nonce,
            threshold,
            shares: Vec::new(),
        }
    }

    /// The attempt's nonce.
    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    /// True if `candidate` is this attempt's nonce (compared in constant time).
    pub fn nonce_matches(&self, candidate: &str) -> bool {
        constant_time_eq(self.nonce.as_bytes(), candidate.as_bytes())
    }

    /// Shares needed to complete the attempt.
    pub fn threshold(&self) -> u32 {
        self.threshold
    }

    /// Distinct shares held.
    pub fn progress(&self) -> u32 {
        self.shares.len() as u32
    }

    /// Adds a share unless one with the same identifier was given already. A
    /// share's identifier (its x-coordinate) is not secret.
    pub fn submit(&mut self, share: Share) -> Submission {
        let duplicate = self.shares.iter().any(|s| s.x() == share.x());
        if !duplicate {
            self.shares.push(share);
        }
        Submission {
            duplicate,
            progress: self.progress(),
        }
    }

    /// True once the threshold is reached.
    pub fn is_complete(&self) -> bool {
        self.progress() >= self.threshold
    }

    /// The shares, consuming the attempt.
    pub fn into_shares(self) -> Vec<Share> {
        self.shares
    }

    /// The shares, leaving the attempt empty under the same nonce: whatever
    /// the quorum turns out to be, it is used once, and a wrong one starts
    /// over without a new nonce to hand round.
    pub fn take_shares(&mut self) -> Vec<Share> {
        std::mem::take(&mut self.shares)
    }
}
