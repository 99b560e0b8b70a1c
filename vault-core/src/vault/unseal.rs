//! `unseal`: gather a quorum of shares, one call at a time, and open the root key.

use crate::seal::attempt::KeyAttempt;
use crate::seal::root_token;
use crate::seal::{self, Share, shamir};
use crate::secret::Key256;

use super::{SealStatus, Vault, VaultError};

/// The answer to one unseal call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsealOutcome {
    /// The status after the call (sealed until the quorum is complete).
    pub status: SealStatus,
    /// The share had been given already in this attempt and did not count again.
    pub duplicate: bool,
    /// The attempt's nonce, for its share holders (needed to reset it). Empty once
    /// unsealed.
    pub nonce: String,
}

impl Vault {
    /// Adds one share (hex or base64) to the current attempt, starting one if
    /// needed. A malformed share is refused without touching progress; a full
    /// quorum that does not open the root key resets progress and fails.
    pub async fn unseal(&self, key: &str) -> Result<UnsealOutcome, VaultError> {
        let mut life = self.lifecycle.lock().await;
        let config = self
            .seal_config()
            .await?
            .ok_or(VaultError::NotInitialized)?;
        if !self.barrier.is_sealed() {
            return Ok(UnsealOutcome {
                status: self.status_from(Some(&config), 0, String::new()),
                duplicate: false,
                nonce: String::new(),
            });
        }
        let share = Share::parse(key, Key256::LEN)?;
        let attempt = match &mut life.unseal {
            Some(attempt) => attempt,
            slot => slot.insert(KeyAttempt::start(config.secret_threshold)?),
        };
        let submitted = attempt.submit(share);
        let nonce = attempt.nonce().to_owned();
        if !attempt.is_complete() {
            return Ok(UnsealOutcome {
                status: self.status_from(Some(&config), submitted.progress, String::new()),
                duplicate: submitted.duplicate,
                nonce,
            });
        }
        // Complete: whatever happens next, this attempt is over.
        let shares = life
            .unseal
            .take()
            .map(KeyAttempt::into_shares)
            .unwrap_or_default();
        let root_key = self.root_key_from(&shares).await?;
        if self.standby {
            // A standby holds the keys and waits: only the node that takes the
            // active lock loads the rest and serves (Vault::activate).
            self.barrier.unseal(&root_key).await?;
            tracing::info!(
                shares_given = shares.len(),
                "vault unsealed; standing by for the active lock"
            );
            return Ok(UnsealOutcome {
                status: self.status_from(Some(&config), 0, String::new()),
                duplicate: false,
                nonce: String::new(),
            });
        }
        // Until the audit devices are running, nothing may be served unaudited:
        // the gate is closed before the barrier opens.
        self.audit.expect_devices(usize::MAX);
        self.barrier.unseal(&root_key).await?;
        if let Err(e) = self.load_after_unseal().await {
            // Half-unsealed is not a state: drop the keys again.
            self.wipe_keys();
            return Err(e);
        }
        if let Err(e) = self.start_audit().await {
            // The device table cannot be read: refuse to unseal rather than serve
            // without knowing what must record the requests.
            tracing::error!(error = %e, "audit devices could not be loaded; staying sealed");
            self.stop_audit().await;
            self.wipe_keys();
            return Err(e);
        }
        // The count and the outcome, never a share (the shares given before the
        // devices could be opened are gone; only their number is recorded).
        let mut record = crate::request::Data::new();
        record.insert("shares_given".into(), (shares.len() as u64).into());
        record.insert("outcome".into(), "unsealed".into());
        self.audit_lifecycle("sys/unseal", record).await;
        // Only now may leases be revoked: before the mount table is loaded,
        // every lease's mount would look gone.
        self.ready.send_replace(true);
        tracing::info!("vault unsealed");
        Ok(UnsealOutcome {
            status: self.status_from(Some(&config), 0, String::new()),
            duplicate: false,
            nonce: String::new(),
        })
    }

    /// [`Self::unseal`] (or, with `reset`, [`Self::unseal_reset`]) for a caller
    /// at `remote`: each call spends one of the address's unseal attempts
    /// (rate_limit.unseal), so nobody can pour shares or resets at the
    /// ceremony. Calls without an address (an embedding application's) are
    /// not limited.
    pub async fn unseal_from(
        &self,
        remote: Option<std::net::IpAddr>,
        key: &str,
    ) -> Result<UnsealOutcome, VaultError> {
        self.unseal_attempt(remote)?;
        self.unseal(key).await
    }

    /// [`Self::unseal_reset`] for a caller at `remote`, limited as
    /// [`Self::unseal_from`].
    pub async fn unseal_reset_from(
        &self,
        remote: Option<std::net::IpAddr>,
        nonce: Option<&str>,
        token: Option<&str>,
    ) -> Result<SealStatus, VaultError> {
        self.unseal_attempt(remote)?;
        self.unseal_reset(nonce, token).await
    }

    fn unseal_attempt(&self, remote: Option<std::net::IpAddr>) -> Result<(), VaultError> {
        self.unseal_attempts.acquire(remote).map_err(|t| {
            VaultError::RateLimited(format!(
                "too many unseal calls from this address: retry in {}s (the limit is \
                 rate_limit.unseal in the server's config)",
                t.retry_after.as_secs().max(1)
            ))
        })
    }

    /// Abandons the current unseal attempt. Needs the attempt's nonce or the
    /// root token made at init (until it is revoked: its verifier is retired
    /// then), so a stranger cannot throw away a quorum being gathered.
    pub async fn unseal_reset(
        &self,
        nonce: Option<&str>,
        token: Option<&str>,
    ) -> Result<SealStatus, VaultError> {
        let mut life = self.lifecycle.lock().await;
        let config = self
            .seal_config()
            .await?
            .ok_or(VaultError::NotInitialized)?;
        if let Some(attempt) = &life.unseal {
            let by_nonce = nonce.is_some_and(|n| attempt.nonce_matches(n));
            let by_token =
                token.is_some_and(|t| root_token::verify(t, &config.root_token_verifier));
            if !by_nonce && !by_token {
                return Err(VaultError::PermissionDenied(
                    "permission denied: resetting an unseal attempt needs its nonce or the root token",
                ));
            }
            life.unseal = None;
        }
        Ok(self.status_from(Some(&config), 0, String::new()))
    }

    /// Combines shares into the unseal key and opens the stored root key with it.
    pub(super) async fn root_key_from(&self, shares: &[Share]) -> Result<Key256, VaultError> {
        let combined = shamir::combine(shares).map_err(|_| VaultError::WrongKey)?;
        let unseal_key =
            Key256::from_slice(combined.expose_secret()).ok_or(VaultError::WrongKey)?;
        let blob = self
            .barrier
            .backend()
            .get(seal::ROOT_KEY_PATH)
            .await?
            .ok_or(VaultError::Integrity {
                path: seal::ROOT_KEY_PATH.into(),
                reason: "the wrapped root key is missing",
            })?;
        seal::unwrap_root_key(&unseal_key, &blob).map_err(|_| VaultError::WrongKey)
    }
}
