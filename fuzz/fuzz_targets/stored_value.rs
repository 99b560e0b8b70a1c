//! Stored bytes as the barrier reads them back from a backend an attacker may
//! write to: an envelope, the wrapped keyring and the wrapped root key. Every
//! input is a value or an error, never a panic; what does open is consistent
//! with its header; and seal -> open gives back what was sealed.
//!
//! The keyring's own decoding runs only after authentication, which no mutation
//! passes, so the target also seals its input as a keyring under a known root
//! key and unwraps that: the decoder then sees every byte string.

#![no_main]

use aes_gcm::{Aes256Gcm, KeyInit};
use libfuzzer_sys::fuzz_target;
use vault_core::barrier::envelope::{self, Invalid, MIN_LEN};
use vault_core::barrier::{KEYRING_PATH, Keyring, UnwrapError};
use vault_core::seal::{self, ROOT_KEY_PATH};
use vault_core::secret::Key256;

/// The key the committed seeds were sealed under (`[7; 32]`), so that they open.
const KEY: [u8; 32] = [7; 32];
const PATH: &str = "secret/data/app";

fuzz_target!(|data: &[u8]| {
    let cipher = Aes256Gcm::new(&KEY.into());
    let key = Key256::from_slice(&KEY).unwrap();

    // As read from storage.
    let term = envelope::term_of(data);
    match envelope::open(&cipher, PATH, data) {
        Ok(plain) => {
            assert!(term.is_ok());
            assert_eq!(plain.len(), data.len() - MIN_LEN);
        }
        // A bad header is reported as such; a good one with a bad body is
        // an authentication failure.
        Err(reason) => match term {
            Err(header) => assert_eq!(reason, header),
            Ok(_) => assert_eq!(reason, Invalid::AuthenticationFailed),
        },
    }
    assert_eq!(term == Err(Invalid::TooShort), data.len() < MIN_LEN);
    if let Ok(keyring) = Keyring::unwrap(&key, data) {
        assert!(keyring.term(keyring.active_term().number()).is_some());
    }
    if let Ok(root) = seal::unwrap_root_key(&key, data) {
        assert_eq!(data.len(), MIN_LEN + Key256::LEN);
        drop(root);
    }

    // Sealed by us: it opens, only at its own path.
    let blob = envelope::seal(&cipher, 9, PATH, data).unwrap();
    assert_eq!(envelope::term_of(&blob), Ok(9));
    assert_eq!(
        envelope::open(&cipher, PATH, &blob)
            .unwrap()
            .expose_secret(),
        data
    );
    assert_eq!(
        envelope::open(&cipher, "secret/data/other", &blob).unwrap_err(),
        Invalid::AuthenticationFailed
    );

    // Any plaintext as a keyring: decoded or refused, and a decoded one
    // survives its own wrap/unwrap.
    let wrapped = envelope::seal(&cipher, 0, KEYRING_PATH, data).unwrap();
    match Keyring::unwrap(&key, &wrapped) {
        Ok(keyring) => {
            let active = keyring.active_term().number();
            let again = Keyring::unwrap(&key, &keyring.wrap().unwrap()).unwrap();
            assert_eq!(again.active_term().number(), active);
        }
        Err(UnwrapError::Malformed) => {}
        Err(other) => panic!("an authentic keyring blob gave {other:?}"),
    }
    // Any plaintext as a root key: only 32 bytes are one.
    let wrapped = envelope::seal(&cipher, 0, ROOT_KEY_PATH, data).unwrap();
    assert_eq!(
        seal::unwrap_root_key(&key, &wrapped).is_ok(),
        data.len() == Key256::LEN
    );
});
