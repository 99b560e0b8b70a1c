//! The seal: the key hierarchy above the keyring, and the pieces the vault's
//! lifecycle is made of.
//!
//! Shares (Shamir, [`shamir`]) combine into the *unseal key*; the unseal key
//! decrypts the *root key* stored at [`ROOT_KEY_PATH`]; the root key decrypts the
//! keyring (see [`crate::barrier`]). Rekey re-splits a new unseal key and re-wraps
//! the root key; nothing below it changes.

pub mod attempt;
pub mod config;
pub mod gf256;
pub mod rekey;
pub mod root_token;
pub mod shamir;

use aes_gcm::{Aes256Gcm, KeyInit};

use crate::barrier::envelope;
use crate::random::RandomError;
use crate::secret::Key256;

pub use attempt::{KeyAttempt, Submission};
pub use config::{SEAL_CONFIG_PATH, SealConfig, SealConfigError};
pub use shamir::{Share, ShareFormatError};

/// Where the root key, wrapped by the unseal key, is stored.
pub const ROOT_KEY_PATH: &str = "core/root-key";

/// The root key encrypted under the unseal key (envelope term 0: "the level above").
pub fn wrap_root_key(unseal_key: &Key256, root_key: &Key256) -> Result<Vec<u8>, RandomError> {
    let cipher = Aes256Gcm::new(unseal_key.expose_secret().into());
    envelope::seal(&cipher, 0, ROOT_KEY_PATH, root_key.expose_secret())
}

/// The root key, if `unseal_key` is the one that wrapped `blob`.
pub fn unwrap_root_key(unseal_key: &Key256, blob: &[u8]) -> Result<Key256, envelope::Invalid> {
    let cipher = Aes256Gcm::new(unseal_key.expose_secret().into());
    let plain = envelope::open(&cipher, ROOT_KEY_PATH, blob)?;
    Key256::from_slice(plain.expose_secret()).ok_or(envelope::Invalid::AuthenticationFailed)
}
