//! What a rekey reports: its progress, and the answer to each share given
//! (the current holders' approval, then the new holders' verification). The
//! rekey itself runs under the vault's lifecycle lock.

use super::Share;

/// A rekey's progress, as `operator rekey --status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RekeyStatus {
    /// A rekey is in progress.
    pub started: bool,
    /// Its nonce (every current share must be given with it).
    pub nonce: String,
    /// Current threshold: shares that must approve.
    pub t: u32,
    /// Current share count.
    pub n: u32,
    /// Current shares given so far (the threshold once the quorum approved).
    pub progress: u32,
    /// The share count the rekey will install.
    pub new_shares: u32,
    /// The threshold the rekey will install.
    pub new_threshold: u32,
    /// The rekey was started with verification: its new shares take effect
    /// only once a quorum of them has been given back.
    pub verification_required: bool,
    /// Set once the new shares were handed out and await verification: the
    /// nonce to give them with. Empty otherwise.
    pub verification_nonce: String,
}

/// The answer to one rekey share.
#[derive(Debug)]
pub struct RekeyOutcome {
    /// The status after the call.
    pub status: RekeyStatus,
    /// The share had been given already and did not count again.
    pub duplicate: bool,
    /// Set when the current quorum approved: the new shares, to hand out and
    /// forget.
    pub new_shares: Option<Vec<Share>>,
    /// The threshold of the new shares (0 without them).
    pub new_threshold: u32,
    /// The new shares are in effect (stored). False in the answer that carries
    /// them when they await verification: `status.verification_nonce` then
    /// says what to give them with.
    pub complete: bool,
}

/// A rekey verification's progress (Vault's `sys/rekey/verify`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RekeyVerifyStatus {
    /// New shares were handed out and await verification.
    pub started: bool,
    /// The verification nonce: every new share must be given with it.
    pub nonce: String,
    /// The new threshold: new shares that must be given back.
    pub t: u32,
    /// The new share count.
    pub n: u32,
    /// New shares given so far.
    pub progress: u32,
}

/// The answer to one verification share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RekeyVerifyOutcome {
    /// The status after the call: not started once complete (its nonce, `t`,
    /// `n` and `progress` are then those of the verification that completed).
    pub status: RekeyVerifyStatus,
    /// The share had been given already and did not count again.
    pub duplicate: bool,
    /// The new shares are stored and in effect; the old ones no longer work.
    pub complete: bool,
}
