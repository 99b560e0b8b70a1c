//! `rekey`: replace the shares. The root token starts and cancels it; a quorum of
//! the current shares, given with the attempt's nonce, finishes it. The root key is
//! re-wrapped under a new unseal key, so old shares stop working at once and no
//! data is touched.

use crate::seal::attempt::KeyAttempt;
use crate::seal::{self, SEAL_CONFIG_PATH, Share, config, shamir};
use crate::secret::Key256;
use crate::storage::BatchOp;

use super::{Vault, VaultError};

#[derive(Debug)]
pub(super) struct RekeyAttempt {
    attempt: KeyAttempt,
    new_shares: u32,
    new_threshold: u32,
}

/// A rekey's progress, as `operator rekey --status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RekeyStatus {
    /// A rekey is in progress.
    pub started: bool,
    /// Its nonce (every share must be given with it).
    pub nonce: String,
    /// Current threshold: shares that must approve.
    pub t: u32,
    /// Current share count.
    pub n: u32,
    /// Current shares given so far.
    pub progress: u32,
    /// The share count the rekey will install.
    pub new_shares: u32,
    /// The threshold the rekey will install.
    pub new_threshold: u32,
}

/// The answer to one rekey share.
#[derive(Debug)]
pub struct RekeyOutcome {
    /// The status after the call.
    pub status: RekeyStatus,
    /// The share had been given already and did not count again.
    pub duplicate: bool,
    /// Set when the rekey completed: the new shares, to hand out and forget.
    pub new_shares: Option<Vec<Share>>,
}

impl Vault {
    /// Starts a rekey to `shares`/`threshold`. Needs the root token.
    pub async fn rekey_init(
        &self,
        token: &str,
        shares: u32,
        threshold: u32,
    ) -> Result<RekeyStatus, VaultError> {
        self.audited(
            "sys/rekey/init",
            Some(token),
            self.rekey_init_inner(token, shares, threshold),
        )
        .await
    }

    /// The rekey in progress, if any. Needs the root token.
    pub async fn rekey_status(&self, token: &str) -> Result<RekeyStatus, VaultError> {
        self.audited(
            "sys/rekey/status",
            Some(token),
            self.rekey_status_inner(token),
        )
        .await
    }

    /// Abandons the rekey in progress. Needs the root token.
    pub async fn rekey_cancel(&self, token: &str) -> Result<RekeyStatus, VaultError> {
        self.audited(
            "sys/rekey/cancel",
            Some(token),
            self.rekey_cancel_inner(token),
        )
        .await
    }

    /// Adds one current share to the rekey with this `nonce` (audited without the
    /// share, and without the new shares it may return).
    pub async fn rekey_update(&self, nonce: &str, key: &str) -> Result<RekeyOutcome, VaultError> {
        self.audited(
            "sys/rekey/update",
            None,
            self.rekey_update_inner(nonce, key),
        )
        .await
    }

    /// Starts a rekey to `shares`/`threshold`. Needs the root token.
    async fn rekey_init_inner(
        &self,
        token: &str,
        shares: u32,
        threshold: u32,
    ) -> Result<RekeyStatus, VaultError> {
        let mut life = self.lifecycle.lock().await;
        self.check_root(token).await?;
        config::validate(shares, threshold)?;
        if life.rekey.is_some() {
            return Err(VaultError::RekeyInProgress);
        }
        let current = self
            .seal_config()
            .await?
            .ok_or(VaultError::NotInitialized)?;
        let attempt = RekeyAttempt {
            attempt: KeyAttempt::start(current.secret_threshold)?,
            new_shares: shares,
            new_threshold: threshold,
        };
        let status = self.rekey_status_of(Some(&attempt)).await?;
        life.rekey = Some(attempt);
        Ok(status)
    }

    /// The rekey in progress, if any. Needs the root token.
    async fn rekey_status_inner(&self, token: &str) -> Result<RekeyStatus, VaultError> {
        let life = self.lifecycle.lock().await;
        self.check_root(token).await?;
        self.rekey_status_of(life.rekey.as_ref()).await
    }

    /// Abandons the rekey in progress. Needs the root token.
    async fn rekey_cancel_inner(&self, token: &str) -> Result<RekeyStatus, VaultError> {
        let mut life = self.lifecycle.lock().await;
        self.check_root(token).await?;
        life.rekey = None;
        self.rekey_status_of(None).await
    }

    /// Adds one current share to the rekey with this `nonce`. At the threshold the
    /// quorum is checked against the stored root key; a wrong quorum resets
    /// progress, a right one installs the new shares and returns them.
    async fn rekey_update_inner(&self, nonce: &str, key: &str) -> Result<RekeyOutcome, VaultError> {
        let mut life = self.lifecycle.lock().await;
        if self.barrier.is_sealed() {
            return Err(VaultError::Sealed);
        }
        let rekey = life.rekey.as_mut().ok_or(VaultError::NoRekeyInProgress)?;
        if !rekey.attempt.nonce_matches(nonce) {
            return Err(VaultError::NonceMismatch);
        }
        let share = Share::parse(key, Key256::LEN)?;
        let submitted = rekey.attempt.submit(share);
        if !rekey.attempt.is_complete() {
            let status = self.rekey_status_of(life.rekey.as_ref()).await?;
            return Ok(RekeyOutcome {
                status,
                duplicate: submitted.duplicate,
                new_shares: None,
            });
        }
        let Some(done) = life.rekey.take() else {
            return Err(VaultError::NoRekeyInProgress);
        };
        let (new_shares, new_threshold) = (done.new_shares, done.new_threshold);
        let nonce = done.attempt.nonce().to_owned();
        let threshold = self.seal_config().await?.map_or(0, |c| c.secret_threshold);
        let root_key = match self.root_key_from(&done.attempt.into_shares()).await {
            Ok(key) => key,
            Err(e) => {
                // Keep the rekey, with its nonce, but start its quorum over.
                life.rekey = Some(RekeyAttempt {
                    attempt: KeyAttempt::restart(nonce, threshold),
                    new_shares,
                    new_threshold,
                });
                return Err(e);
            }
        };
        let shares = self
            .install_new_shares(&root_key, new_shares, new_threshold)
            .await?;
        tracing::info!(new_shares, new_threshold, "vault rekeyed");
        Ok(RekeyOutcome {
            status: self.rekey_status_of(None).await?,
            duplicate: false,
            new_shares: Some(shares),
        })
    }

    /// Splits a new unseal key, re-wraps the root key under it and stores both in
    /// one atomic batch with the new seal configuration.
    async fn install_new_shares(
        &self,
        root_key: &Key256,
        shares: u32,
        threshold: u32,
    ) -> Result<Vec<Share>, VaultError> {
        let (n, t) = config::validate(shares, threshold)?;
        let mut config = self
            .seal_config()
            .await?
            .ok_or(VaultError::NotInitialized)?;
        let unseal_key = Key256::generate()?;
        let split = shamir::split(unseal_key.expose_secret(), n, t).map_err(|e| match e {
            shamir::ShamirError::Random(r) => VaultError::Random(r),
            other => VaultError::BadSealConfig(other.to_string()),
        })?;
        config.secret_shares = shares;
        config.secret_threshold = threshold;
        let config_json =
            serde_json::to_vec(&config).map_err(|e| VaultError::BadSealConfig(e.to_string()))?;
        self.barrier
            .backend()
            .batch(vec![
                BatchOp::Put {
                    key: SEAL_CONFIG_PATH.into(),
                    value: config_json,
                },
                BatchOp::Put {
                    key: seal::ROOT_KEY_PATH.into(),
                    value: seal::wrap_root_key(&unseal_key, root_key)?,
                },
            ])
            .await?;
        self.forget_seen_config();
        Ok(split)
    }

    async fn rekey_status_of(
        &self,
        rekey: Option<&RekeyAttempt>,
    ) -> Result<RekeyStatus, VaultError> {
        let config = self
            .seal_config()
            .await?
            .ok_or(VaultError::NotInitialized)?;
        let mut status = RekeyStatus {
            t: config.secret_threshold,
            n: config.secret_shares,
            ..RekeyStatus::default()
        };
        if let Some(r) = rekey {
            status.started = true;
            status.nonce = r.attempt.nonce().to_owned();
            status.progress = r.attempt.progress();
            status.new_shares = r.new_shares;
            status.new_threshold = r.new_threshold;
        }
        Ok(status)
    }
}
