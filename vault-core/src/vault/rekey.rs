//! `rekey`: replace the shares. A token with `sudo` on `sys/rekey/` starts and
//! cancels it; a quorum of the current shares, given with the attempt's nonce
//! (`sys/rekey/update`, no token needed), approves it. The root key
//! is re-wrapped under a new unseal key; no data is touched.
//!
//! With verification (Vault's `require_verification`), the approving quorum
//! makes the new shares and hands them out but stores nothing: the new seal
//! configuration and the root key wrapped under the new unseal key wait in
//! memory until a quorum of the new shares comes back (`sys/rekey/verify`),
//! which proves they reached their holders. Only then are both stored, and the
//! old shares stop working. Until then (and if the answer carrying the new
//! shares is lost, the rekey is cancelled or the vault is sealed) the old
//! shares keep opening the vault. Without verification the new shares take
//! effect in the same call that hands them out, so an answer lost in transit
//! locks every share holder out at the next seal.

use crate::seal::attempt::KeyAttempt;
use crate::seal::{self, SEAL_CONFIG_PATH, SealConfig, Share, config, shamir};
use crate::secret::{Key256, SecretBytes};
use crate::storage::BatchOp;

use super::{Vault, VaultError};
use crate::sys::Rekeying;

pub use crate::seal::rekey::{RekeyOutcome, RekeyStatus, RekeyVerifyOutcome, RekeyVerifyStatus};

/// A rekey in progress. Lives only in memory (in the lifecycle state): sealing
/// or losing the active lock drops it, and the stored seal is then the one it
/// started from.
#[derive(Debug)]
pub(super) struct RekeyAttempt {
    new_shares: u32,
    new_threshold: u32,
    require_verification: bool,
    stage: Stage,
}

#[derive(Debug)]
enum Stage {
    /// Gathering a quorum of the current shares under the rekey's nonce.
    Approving(KeyAttempt),
    /// The new shares were handed out; waiting for a quorum of them.
    Verifying(PendingVerification),
}

/// What a rekey keeps between handing out the new shares and seeing a quorum
/// of them come back. Neither the new unseal key nor the root key is kept: the
/// new unseal key exists only as the shares handed out, and the root key only
/// wrapped under it, so nothing here opens the vault by itself.
#[derive(Debug)]
struct PendingVerification {
    /// The rekey's nonce (the current shares were given with it).
    rekey_nonce: String,
    /// The seal configuration to store: the new share count and threshold.
    config: SealConfig,
    /// The root key wrapped under the new unseal key, to store as it is. It is
    /// ciphertext, but held as secret bytes anyway: wiped on drop and never in
    /// Debug output, because with the new shares it is the vault's front door.
    wrapped_root_key: SecretBytes,
    /// New shares gathered, to the new threshold, under the verification nonce.
    attempt: KeyAttempt,
}

impl RekeyAttempt {
    fn nonce(&self) -> &str {
        match &self.stage {
            Stage::Approving(attempt) => attempt.nonce(),
            Stage::Verifying(pending) => &pending.rekey_nonce,
        }
    }

    fn nonce_matches(&self, candidate: &str) -> bool {
        crate::secret::constant_time_eq(self.nonce().as_bytes(), candidate.as_bytes())
    }
}

impl Vault {
    /// Starts a rekey to `shares`/`threshold` (`PUT sys/rekey/init`). With
    /// `require_verification`, the new shares take effect only once a quorum
    /// of them is given to [`Vault::rekey_verify`].
    pub(super) async fn rekey_start(
        &self,
        shares: u32,
        threshold: u32,
        require_verification: bool,
    ) -> Result<RekeyStatus, VaultError> {
        let mut life = self.lifecycle.lock().await;
        config::validate(shares, threshold)?;
        if life.rekey.is_some() {
            return Err(VaultError::RekeyInProgress);
        }
        let current = self
            .seal_config()
            .await?
            .ok_or(VaultError::NotInitialized)?;
        let attempt = RekeyAttempt {
            new_shares: shares,
            new_threshold: threshold,
            require_verification,
            stage: Stage::Approving(KeyAttempt::start(current.secret_threshold)?),
        };
        let status = self.rekey_status_of(Some(&attempt)).await?;
        life.rekey = Some(attempt);
        Ok(status)
    }

    /// The rekey in progress, if any (`GET sys/rekey/init`).
    pub(super) async fn rekey_current(&self) -> Result<RekeyStatus, VaultError> {
        let life = self.lifecycle.lock().await;
        self.rekey_status_of(life.rekey.as_ref()).await
    }

    /// Abandons the rekey in progress, verification included: the current
    /// shares stay in effect (`DELETE sys/rekey/init`).
    pub(super) async fn rekey_abandon(&self) -> Result<RekeyStatus, VaultError> {
        let mut life = self.lifecycle.lock().await;
        life.rekey = None;
        self.rekey_status_of(None).await
    }

    /// The rekey verification in progress, if any (`GET sys/rekey/verify`).
    pub(super) async fn rekey_verification(&self) -> RekeyVerifyStatus {
        let life = self.lifecycle.lock().await;
        verify_status_of(life.rekey.as_ref())
    }

    /// Starts the verification over (new shares given so far are dropped)
    /// under a new nonce; the rekey and its pending new shares stay. Vault's
    /// `DELETE sys/rekey/verify`.
    pub(super) async fn rekey_verification_restart(&self) -> Result<RekeyVerifyStatus, VaultError> {
        let mut life = self.lifecycle.lock().await;
        let rekey = life.rekey.as_mut().ok_or(VaultError::NoRekeyInProgress)?;
        let Stage::Verifying(pending) = &mut rekey.stage else {
            return Err(VaultError::NoRekeyVerification);
        };
        // A new nonce, as Vault: whoever was handed the old one is out of
        // this round and must be told the new one.
        pending.attempt = KeyAttempt::start(pending.config.secret_threshold)?;
        Ok(verify_status_of(life.rekey.as_ref()))
    }

    /// Adds one current share to the rekey with this `nonce`. At the threshold the
    /// quorum is checked against the stored root key; a wrong quorum resets
    /// progress. A right one makes the new shares and returns them: installed
    /// at once without verification, kept pending with it.
    pub(super) async fn rekey_update(
        &self,
        nonce: &str,
        key: &str,
    ) -> Result<RekeyOutcome, VaultError> {
        let mut life = self.lifecycle.lock().await;
        if self.barrier.is_sealed() {
            return Err(VaultError::Sealed);
        }
        let rekey = life.rekey.as_mut().ok_or(VaultError::NoRekeyInProgress)?;
        if !rekey.nonce_matches(nonce) {
            return Err(VaultError::NonceMismatch);
        }
        let Stage::Approving(attempt) = &mut rekey.stage else {
            return Err(VaultError::RekeyVerificationPending);
        };
        let share = Share::parse(key, Key256::LEN)?;
        let submitted = attempt.submit(share);
        if !attempt.is_complete() {
            let status = self.rekey_status_of(life.rekey.as_ref()).await?;
            return Ok(RekeyOutcome {
                status,
                duplicate: submitted.duplicate,
                new_shares: None,
                new_threshold: 0,
                complete: false,
            });
        }
        // The quorum is used once; if it is wrong (or anything below fails)
        // the rekey stays, with its nonce, and its quorum starts over.
        let rekey_nonce = attempt.nonce().to_owned();
        let quorum = attempt.take_shares();
        let (new_shares, new_threshold) = (rekey.new_shares, rekey.new_threshold);
        let root_key = self.root_key_from(&quorum).await?;
        let made = self
            .make_new_shares(&root_key, new_shares, new_threshold)
            .await?;
        drop(root_key);
        if !rekey.require_verification {
            self.store_seal(&made.config, &made.wrapped_root_key)
                .await?;
            life.rekey = None;
            tracing::info!(new_shares, new_threshold, "vault rekeyed");
            return Ok(RekeyOutcome {
                status: self.rekey_status_of(None).await?,
                duplicate: false,
                new_shares: Some(made.shares),
                new_threshold,
                complete: true,
            });
        }
        rekey.stage = Stage::Verifying(PendingVerification {
            rekey_nonce,
            config: made.config,
            wrapped_root_key: made.wrapped_root_key,
            attempt: KeyAttempt::start(new_threshold)?,
        });
        tracing::info!(
            new_shares,
            new_threshold,
            "rekey: new shares handed out; they take effect once a quorum of them is verified"
        );
        Ok(RekeyOutcome {
            status: self.rekey_status_of(life.rekey.as_ref()).await?,
            duplicate: false,
            new_shares: Some(made.shares),
            new_threshold,
            complete: false,
        })
    }

    /// Adds one new share to the pending verification. At the new threshold the
    /// shares must open the pending wrapped root key; then the new seal is
    /// stored and the rekey ends.
    pub(super) async fn rekey_verify(
        &self,
        nonce: &str,
        key: &str,
    ) -> Result<RekeyVerifyOutcome, VaultError> {
        let mut life = self.lifecycle.lock().await;
        if self.barrier.is_sealed() {
            return Err(VaultError::Sealed);
        }
        let rekey = life.rekey.as_mut().ok_or(VaultError::NoRekeyInProgress)?;
        let Stage::Verifying(pending) = &mut rekey.stage else {
            return Err(VaultError::NoRekeyVerification);
        };
        if !pending.attempt.nonce_matches(nonce) {
            return Err(VaultError::VerificationNonceMismatch);
        }
        let share = Share::parse(key, Key256::LEN)?;
        let submitted = pending.attempt.submit(share);
        if !pending.attempt.is_complete() {
            return Ok(RekeyVerifyOutcome {
                status: verify_status_of(life.rekey.as_ref()),
                duplicate: submitted.duplicate,
                complete: false,
            });
        }
        let quorum = pending.attempt.take_shares();
        if !opens(&quorum, pending.wrapped_root_key.expose_secret()) {
            // As Vault, a failed quorum also changes the verification nonce:
            // at least one share given under the old one was not one of
            // ours, so whoever holds that nonce is not to be trusted with the
            // next round; the root token reads the new one. The pending new
            // shares stay: the right holders can still verify them.
            pending.attempt = KeyAttempt::start(pending.config.secret_threshold)?;
            return Err(VaultError::RekeyVerificationFailed);
        }
        // On a storage error the verification stays under the same nonce,
        // to be given again: the shares were right. Storing the same two
        // values again is harmless, so a retry also settles a batch whose
        // outcome is unknown (a PostgreSQL COMMIT cut off); and either way
        // the holders have just shown they hold the new shares, so nobody
        // is locked out.
        self.store_seal(&pending.config, &pending.wrapped_root_key)
            .await?;
        let status = RekeyVerifyStatus {
            started: false,
            nonce: pending.attempt.nonce().to_owned(),
            t: pending.config.secret_threshold,
            n: pending.config.secret_shares,
            progress: pending.config.secret_threshold,
        };
        life.rekey = None;
        tracing::info!(
            new_shares = status.n,
            new_threshold = status.t,
            "vault rekeyed: a quorum of the new shares was verified"
        );
        Ok(RekeyVerifyOutcome {
            status,
            duplicate: false,
            complete: true,
        })
    }

    /// Splits a new unseal key and wraps the root key under it, storing
    /// nothing: the shares, and what [`Self::store_seal`] would store.
    async fn make_new_shares(
        &self,
        root_key: &Key256,
        shares: u32,
        threshold: u32,
    ) -> Result<NewSeal, VaultError> {
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
        Ok(NewSeal {
            shares: split,
            config,
            wrapped_root_key: SecretBytes::new(seal::wrap_root_key(&unseal_key, root_key)?),
        })
    }

    /// Stores a new seal configuration and the root key wrapped under the new
    /// unseal key in one atomic batch: the old shares stop working, the new
    /// ones open the vault from the next unseal.
    async fn store_seal(
        &self,
        config: &SealConfig,
        wrapped_root_key: &SecretBytes,
    ) -> Result<(), VaultError> {
        // The root token verifier is the stored one, not the copy the rekey
        // took: a revocation since then (token_backend.rs) emptied it, and
        // the rekey must not bring it back. Callers hold the lifecycle lock.
        let mut config = config.clone();
        if let Some(stored) = self.seal_config().await? {
            config.root_token_verifier = stored.root_token_verifier;
        }
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
                    value: wrapped_root_key.expose_secret().to_vec(),
                },
            ])
            .await?;
        self.forget_seen_config();
        Ok(())
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
            status.nonce = r.nonce().to_owned();
            status.new_shares = r.new_shares;
            status.new_threshold = r.new_threshold;
            status.verification_required = r.require_verification;
            match &r.stage {
                Stage::Approving(attempt) => status.progress = attempt.progress(),
                Stage::Verifying(pending) => {
                    // The current quorum approved; its shares are gone.
                    status.progress = config.secret_threshold;
                    status.verification_nonce = pending.attempt.nonce().to_owned();
                }
            }
        }
        Ok(status)
    }
}

/// A new unseal key's shares, and the seal that goes with them, not stored.
struct NewSeal {
    shares: Vec<Share>,
    config: SealConfig,
    wrapped_root_key: SecretBytes,
}

/// True if `shares` combine into the unseal key that wrapped `wrapped`: the
/// AEAD tag is the proof. The root key it opens is dropped (and wiped) at once.
fn opens(shares: &[Share], wrapped: &[u8]) -> bool {
    let Ok(combined) = shamir::combine(shares) else {
        return false;
    };
    let Some(candidate) = Key256::from_slice(combined.expose_secret()) else {
        return false;
    };
    seal::unwrap_root_key(&candidate, wrapped).is_ok()
}

fn verify_status_of(rekey: Option<&RekeyAttempt>) -> RekeyVerifyStatus {
    let Some(rekey) = rekey else {
        return RekeyVerifyStatus::default();
    };
    match &rekey.stage {
        Stage::Approving(_) if !rekey.require_verification => RekeyVerifyStatus::default(),
        // Not started yet: what the verification will ask for.
        Stage::Approving(_) => RekeyVerifyStatus {
            t: rekey.new_threshold,
            n: rekey.new_shares,
            ..RekeyVerifyStatus::default()
        },
        Stage::Verifying(pending) => RekeyVerifyStatus {
            started: true,
            nonce: pending.attempt.nonce().to_owned(),
            t: pending.config.secret_threshold,
            n: pending.config.secret_shares,
            progress: pending.attempt.progress(),
        },
    }
}

#[async_trait::async_trait]
impl Rekeying for Vault {
    async fn start(
        &self,
        shares: u32,
        threshold: u32,
        require_verification: bool,
    ) -> Result<RekeyStatus, VaultError> {
        self.rekey_start(shares, threshold, require_verification)
            .await
    }
    async fn current(&self) -> Result<RekeyStatus, VaultError> {
        self.rekey_current().await
    }
    async fn abandon(&self) -> Result<RekeyStatus, VaultError> {
        self.rekey_abandon().await
    }
    async fn update(&self, nonce: &str, key: &str) -> Result<RekeyOutcome, VaultError> {
        self.rekey_update(nonce, key).await
    }
    async fn verify(&self, nonce: &str, key: &str) -> Result<RekeyVerifyOutcome, VaultError> {
        self.rekey_verify(nonce, key).await
    }
    async fn verification(&self) -> RekeyVerifyStatus {
        self.rekey_verification().await
    }
    async fn restart_verification(&self) -> Result<RekeyVerifyStatus, VaultError> {
        self.rekey_verification_restart().await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::request::Operation;
    use crate::storage::MemoryBackend;

    async fn stored(vault: &Vault) -> (Vec<u8>, Vec<u8>) {
        let backend = vault.barrier.backend();
        let get = |path: &'static str| async move { backend.get(path).await.unwrap().unwrap() };
        (get(SEAL_CONFIG_PATH).await, get(seal::ROOT_KEY_PATH).await)
    }

    fn hex(shares: &[Share]) -> Vec<String> {
        shares
            .iter()
            .map(|s| s.to_hex().expose_secret().to_owned())
            .collect()
    }

    /// A vault initialised 3-of-2 and unsealed: (vault, root token, shares).
    async fn unsealed(vault: &Vault) -> (String, Vec<String>) {
        let init = vault.init(3, 2).await.unwrap();
        let shares = hex(&init.shares);
        for s in &shares[..2] {
            vault.unseal(s).await.unwrap();
        }
        (init.root_token.expose_secret().to_owned(), shares)
    }

    /// Starts a verified rekey to 4-of-3 and gives it the current quorum.
    async fn pending(vault: &Vault, old: &[String]) -> (Vec<String>, String) {
        let status = vault.rekey_start(4, 3, true).await.unwrap();
        vault.rekey_update(&status.nonce, &old[0]).await.unwrap();
        let out = vault.rekey_update(&status.nonce, &old[2]).await.unwrap();
        assert!(!out.complete);
        assert_eq!(out.new_threshold, 3);
        assert!(out.status.verification_required);
        let new = hex(&out.new_shares.unwrap());
        (new, out.status.verification_nonce)
    }

    #[tokio::test]
    async fn nothing_is_stored_until_a_quorum_of_the_new_shares_opens_the_pending_root_key() {
        let vault = Vault::new(Arc::new(MemoryBackend::new()));
        let (root, old) = unsealed(&vault).await;
        let before = stored(&vault).await;
        let (new, vnonce) = pending(&vault, &old).await;
        assert_eq!(new.len(), 4);
        assert_eq!(stored(&vault).await, before, "stored before verification");

        // What waits in memory is ciphertext only, and Debug shows none of it.
        let wrapped = {
            let life = vault.lifecycle.lock().await;
            let Some(RekeyAttempt {
                stage: Stage::Verifying(p),
                ..
            }) = &life.rekey
            else {
                panic!("no pending verification");
            };
            p.wrapped_root_key.expose_secret().to_vec()
        };
        let shown = format!("{vault:?}");
        assert!(shown.contains("Verifying"), "{shown}");
        // Its first bytes, as a byte list would print them, and as hex.
        let as_list = format!("{:?}", &wrapped[..8]);
        assert!(!shown.contains(as_list.trim_end_matches(']')), "{shown}");
        assert!(!shown.contains(&hex::encode(&wrapped[..8])), "{shown}");

        for s in &new[..2] {
            let out = vault.rekey_verify(&vnonce, s).await.unwrap();
            assert!(!out.complete);
        }
        assert_eq!(stored(&vault).await, before);
        let out = vault.rekey_verify(&vnonce, &new[3]).await.unwrap();
        assert!(out.complete);
        assert_eq!((out.status.t, out.status.n), (3, 4));
        let (config, root_key) = stored(&vault).await;
        assert_eq!(root_key, wrapped, "the pending blob is what is stored");
        let config: SealConfig = serde_json::from_slice(&config).unwrap();
        assert_eq!((config.secret_threshold, config.secret_shares), (3, 4));
        assert!(!vault.rekey_current().await.unwrap().started);

        vault
            .sys_as(&root, Operation::Update, "seal")
            .await
            .unwrap();
        for s in &new[1..4] {
            vault.unseal(s).await.unwrap();
        }
        assert!(!vault.barrier.is_sealed());
    }

    #[tokio::test]
    async fn a_root_token_revoked_during_verification_stays_retired() {
        let vault = Vault::new(Arc::new(MemoryBackend::new()));
        let (root, old) = unsealed(&vault).await;
        let (new, vnonce) = pending(&vault, &old).await;
        // The initial root token is revoked while the new shares await
        // verification: the stored verifier is emptied (token_backend.rs).
        let revoke = crate::request::Request::new(
            crate::request::Operation::Update,
            "auth/token/revoke-self",
        )
        .with_token(&root);
        vault.handle(revoke).await.unwrap();
        async fn verifier(vault: &Vault) -> String {
            let config = vault.seal_config().await.unwrap().unwrap();
            config.root_token_verifier
        }
        assert_eq!(verifier(&vault).await, "");
        for s in &new[..3] {
            vault.rekey_verify(&vnonce, s).await.unwrap();
        }
        assert_eq!(
            verifier(&vault).await,
            "",
            "the verified rekey must not bring back the revoked token's verifier"
        );
    }

    #[tokio::test]
    async fn seal_drops_a_pending_rekey_and_the_old_shares_keep_working() {
        let vault = Vault::new(Arc::new(MemoryBackend::new()));
        let (root, old) = unsealed(&vault).await;
        let (new, vnonce) = pending(&vault, &old).await;
        vault
            .sys_as(&root, Operation::Update, "seal")
            .await
            .unwrap();
        assert!(vault.lifecycle.lock().await.rekey.is_none());
        for s in &old[1..] {
            vault.unseal(s).await.unwrap();
        }
        assert!(!vault.barrier.is_sealed());
        assert!(matches!(
            vault.rekey_verify(&vnonce, &new[0]).await,
            Err(VaultError::NoRekeyInProgress)
        ));
    }

    #[tokio::test]
    async fn a_wrong_quorum_resets_verification_under_a_new_nonce() {
        let vault = Vault::new(Arc::new(MemoryBackend::new()));
        let (_, old) = unsealed(&vault).await;
        let (new, vnonce) = pending(&vault, &old).await;
        // Two new shares and a made-up one with a fresh identifier.
        vault.rekey_verify(&vnonce, &new[0]).await.unwrap();
        vault.rekey_verify(&vnonce, &new[1]).await.unwrap();
        let used: Vec<&str> = new[..2].iter().map(|s| &s[s.len() - 2..]).collect();
        let x = (1..=255u8)
            .map(|x| format!("{x:02x}"))
            .find(|x| !used.contains(&x.as_str()))
            .unwrap();
        let foreign = format!("{}{x}", "ab".repeat(32));
        assert!(matches!(
            vault.rekey_verify(&vnonce, &foreign).await,
            Err(VaultError::RekeyVerificationFailed)
        ));
        let status = vault.rekey_verification().await;
        assert!(status.started);
        assert_eq!(status.progress, 0);
        assert_ne!(status.nonce, vnonce);
        assert!(matches!(
            vault.rekey_verify(&vnonce, &new[0]).await,
            Err(VaultError::VerificationNonceMismatch)
        ));
        // Cancelling the verification changes the nonce again; the rekey stays.
        let restarted = vault.rekey_verification_restart().await.unwrap();
        assert_ne!(restarted.nonce, status.nonce);
        assert!(vault.rekey_current().await.unwrap().started);
        for s in &new[..2] {
            vault.rekey_verify(&restarted.nonce, s).await.unwrap();
        }
        let out = vault.rekey_verify(&restarted.nonce, &new[2]).await.unwrap();
        assert!(out.complete);
    }

    #[tokio::test]
    async fn without_verification_the_new_shares_are_stored_at_once() {
        let vault = Vault::new(Arc::new(MemoryBackend::new()));
        let (_, old) = unsealed(&vault).await;
        let before = stored(&vault).await;
        let status = vault.rekey_start(1, 1, false).await.unwrap();
        assert!(!status.verification_required);
        vault.rekey_update(&status.nonce, &old[0]).await.unwrap();
        let out = vault.rekey_update(&status.nonce, &old[1]).await.unwrap();
        assert!(out.complete);
        assert!(out.status.verification_nonce.is_empty());
        assert_ne!(stored(&vault).await, before);
        assert!(matches!(
            vault.rekey_verify("any", "any").await,
            Err(VaultError::NoRekeyInProgress)
        ));
    }

    #[tokio::test]
    async fn losing_the_active_lock_drops_a_pending_rekey() {
        let vault = Vault::with_options(
            Arc::new(MemoryBackend::new()),
            crate::VaultOptions {
                standby: true,
                ..crate::VaultOptions::default()
            },
        );
        let init = vault.init(3, 2).await.unwrap();
        let old = hex(&init.shares);
        for s in &old[..2] {
            vault.unseal(s).await.unwrap();
        }
        vault.activate().await.unwrap();
        pending(&vault, &old).await;
        vault.deactivate().await;
        vault.activate().await.unwrap();
        assert!(!vault.rekey_current().await.unwrap().started);
    }
}
