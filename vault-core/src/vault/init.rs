//! `init`: make the keys, split the unseal key, store the seal. Runs once. And
//! the end of what init stored for the root token it made: its verifier in the
//! seal configuration, retired when that token is revoked.

use crate::barrier::Barrier;
use crate::clock;
use crate::seal::root_token;
use crate::seal::{self, SEAL_CONFIG_PATH, SealConfig, Share, config, shamir};
use crate::secret::{Key256, SecretString};
use crate::storage::BatchOp;
use crate::token::{self, TokenStore};

use super::{Vault, VaultError};

/// What init hands to the operators, once: the shares and the root token.
#[derive(Debug)]
pub struct InitOutput {
    /// The unseal key shares; show each to its holder and forget it.
    pub shares: Vec<Share>,
    /// Shares needed to unseal.
    pub threshold: u32,
    /// The root token.
    pub root_token: SecretString,
}

impl Vault {
    /// Initialises the vault: `shares` shares of a new unseal key, `threshold` of
    /// which unseal it. The vault stays sealed. Fails if it was initialised before.
    pub async fn init(&self, shares: u32, threshold: u32) -> Result<InitOutput, VaultError> {
        let (n, t) = config::validate(shares, threshold)?;
        let _life = self.lifecycle.lock().await;
        if self.seal_config().await?.is_some() {
            return Err(VaultError::AlreadyInitialized);
        }
        let unseal_key = Key256::generate()?;
        let root_key = Key256::generate()?;
        let root_token = token::generate_token()?;
        let token_key = Key256::generate()?;
        let verifier = root_token::verifier(root_token.expose_secret());
        let split = shamir::split(unseal_key.expose_secret(), n, t).map_err(|e| match e {
            shamir::ShamirError::Random(r) => VaultError::Random(r),
            // validate() has ruled the rest out.
            other => VaultError::BadSealConfig(other.to_string()),
        })?;
        let config = SealConfig {
            kind: "shamir".into(),
            secret_shares: shares,
            secret_threshold: threshold,
            root_token_verifier: verifier.clone(),
        };
        let config_json =
            serde_json::to_vec(&config).map_err(|e| VaultError::BadSealConfig(e.to_string()))?;
        let mut ops = vec![
            BatchOp::Put {
                key: SEAL_CONFIG_PATH.into(),
                value: config_json,
            },
            BatchOp::Put {
                key: seal::ROOT_KEY_PATH.into(),
                value: seal::wrap_root_key(&unseal_key, &root_key)?,
            },
        ];
        let records = TokenStore::initial_records(
            &token_key,
            root_token.expose_secret(),
            clock::now_unix_millis(),
        )
        .map_err(|e| VaultError::BadSealConfig(e.to_string()))?;
        let records: Vec<(&str, &[u8])> = records
            .iter()
            .map(|(path, value)| (path.as_str(), value.expose_secret()))
            .collect();
        ops.extend(Barrier::initial_records(&root_key, &records)?);
        self.barrier.backend().batch(ops).await?;
        tracing::info!(shares, threshold, "vault initialized");
        Ok(InitOutput {
            shares: split,
            threshold,
            root_token,
        })
    }

    /// Retires the verifier of the initial root token kept in the seal
    /// configuration. Called just before that token is revoked: while sealed
    /// the verifier is all there is to check a token against, so a revoked
    /// initial root token would otherwise still see an unseal attempt's nonce
    /// and reset it. Before, not after: a failure in between leaves a live
    /// token without its while-sealed reset, never a dead token with it.
    pub(super) async fn retire_root_token_verifier(&self) -> Result<(), VaultError> {
        // Under `lifecycle`, as init and rekey write the seal configuration,
        // so that none of them writes back a copy read before this one.
        let _life = self.lifecycle.lock().await;
        let Some(mut config) = self.seal_config().await? else {
            return Ok(());
        };
        if config.root_token_verifier.is_empty() {
            return Ok(());
        }
        config.root_token_verifier.clear();
        let config_json =
            serde_json::to_vec(&config).map_err(|e| VaultError::BadSealConfig(e.to_string()))?;
        self.barrier
            .backend()
            .put(SEAL_CONFIG_PATH, config_json)
            .await?;
        self.forget_seen_config();
        tracing::info!(
            "the initial root token is being revoked: it can no longer reset an unseal attempt \
             or see its nonce while sealed"
        );
        Ok(())
    }
}
