//! The keyring: the data-encryption keys, one per term, wrapped by the root key.
//!
//! Rotation installs term N+1; older terms stay to decrypt what they wrote, and
//! nothing is re-encrypted. Each term counts its encryptions, because the nonces
//! are random: past about 2^32 uses of one key a nonce collision becomes likely.
//! The count is persisted as a reservation (`reserved`) made before the uses it
//! covers, so after a crash the vault assumes the whole reservation was spent and
//! never undercounts.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aes_gcm::{Aes256Gcm, KeyInit};
use zeroize::Zeroizing;

use super::envelope;
use crate::random::RandomError;
use crate::secret::Key256;

/// Where the wrapped keyring is stored.
pub const KEYRING_PATH: &str = "core/keyring";
const MAGIC: &[u8; 4] = b"VKR1";
const TERM_RECORD_LEN: usize = 4 + 8 + 8 + Key256::LEN;

/// One data-encryption key and its use count.
pub struct Term {
    number: u32,
    key: Key256,
    cipher: Aes256Gcm,
    install_time: u64,
    encryptions: AtomicU64,
    reserved: AtomicU64,
}

impl Term {
    fn new(number: u32, key: Key256, install_time: u64, used: u64) -> Self {
        let cipher = Aes256Gcm::new(key.expose_secret().into());
        Term {
            number,
            key,
            cipher,
            install_time,
            encryptions: AtomicU64::new(used),
            reserved: AtomicU64::new(used),
        }
    }

    /// The term number written in each envelope's header.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// Seconds since the epoch when the term was installed.
    pub fn install_time(&self) -> u64 {
        self.install_time
    }

    /// Encryptions counted under this term (an upper bound after a restart).
    pub fn encryptions(&self) -> u64 {
        self.encryptions.load(Ordering::Relaxed)
    }

    /// The key bytes, for tests that check no key is stored in the clear.
    #[cfg(test)]
    pub(crate) fn key_for_tests(&self) -> &Key256 {
        &self.key
    }

    pub(crate) fn cipher(&self) -> &Aes256Gcm {
        &self.cipher
    }

    /// Counts one use and returns the new total.
    pub(crate) fn count_use(&self) -> u64 {
        self.encryptions.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn reserved(&self) -> u64 {
        self.reserved.load(Ordering::Acquire)
    }

    pub(crate) fn set_reserved(&self, value: u64) {
        self.reserved.store(value, Ordering::Release);
    }
}

impl fmt::Debug for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Term")
            .field("number", &self.number)
            .field("install_time", &self.install_time)
            .field("encryptions", &self.encryptions())
            .finish_non_exhaustive()
    }
}

/// The root key and every term. Immutable once built: rotation builds a new one
/// that shares the old terms (and their counters).
pub struct Keyring {
    root_cipher: Aes256Gcm,
    terms: BTreeMap<u32, Arc<Term>>,
    active: u32,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("active", &self.active)
            .field("terms", &self.terms.len())
            .finish_non_exhaustive()
    }
}

/// The keyring failed to decode after authenticating: a bug or a foreign writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedKeyring;

impl Keyring {
    /// A keyring with one fresh term, for init.
    pub fn generate(root_key: &Key256, now: u64) -> Result<Self, RandomError> {
        let term = Term::new(1, Key256::generate()?, now, 0);
        Ok(Keyring {
            root_cipher: root_cipher(root_key),
            terms: BTreeMap::from([(1, Arc::new(term))]),
            active: 1,
        })
    }

    /// The term new writes use.
    pub fn active_term(&self) -> &Arc<Term> {
        // `active` always names a term: every constructor inserts it.
        &self.terms[&self.active]
    }

    /// The term with this number, if the keyring has it.
    pub fn term(&self, number: u32) -> Option<&Arc<Term>> {
        self.terms.get(&number)
    }

    /// A keyring that also has term N+1 and uses it for new writes.
    pub fn rotated(&self, now: u64) -> Result<Self, RandomError> {
        let number = self.active + 1;
        let mut terms = self.terms.clone();
        terms.insert(
            number,
            Arc::new(Term::new(number, Key256::generate()?, now, 0)),
        );
        Ok(Keyring {
            root_cipher: self.root_cipher.clone(),
            terms,
            active: number,
        })
    }

    /// The keyring encrypted under the root key, as stored at [`KEYRING_PATH`].
    pub fn wrap(&self) -> Result<Vec<u8>, RandomError> {
        let plain = self.encode();
        envelope::seal(&self.root_cipher, 0, KEYRING_PATH, &plain)
    }

    /// Decrypts and decodes a stored keyring.
    pub fn unwrap(root_key: &Key256, blob: &[u8]) -> Result<Self, UnwrapError> {
        let cipher = root_cipher(root_key);
        let plain = envelope::open(&cipher, KEYRING_PATH, blob).map_err(UnwrapError::Envelope)?;
        Self::decode(cipher, plain.expose_secret()).map_err(|_| UnwrapError::Malformed)
    }

    /// Decrypts and decodes a stored keyring under this keyring's root key, so
    /// a node that holds the keys can follow a rotation made by another node.
    pub fn reopen(&self, blob: &[u8]) -> Result<Self, UnwrapError> {
        let plain =
            envelope::open(&self.root_cipher, KEYRING_PATH, blob).map_err(UnwrapError::Envelope)?;
        Self::decode(self.root_cipher.clone(), plain.expose_secret())
            .map_err(|_| UnwrapError::Malformed)
    }

    fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(12 + self.terms.len() * TERM_RECORD_LEN));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.active.to_be_bytes());
        out.extend_from_slice(&(self.terms.len() as u32).to_be_bytes());
        for term in self.terms.values() {
            out.extend_from_slice(&term.number.to_be_bytes());
            out.extend_from_slice(&term.install_time.to_be_bytes());
            out.extend_from_slice(&term.reserved().to_be_bytes());
            out.extend_from_slice(term.key.expose_secret());
        }
        out
    }

    fn decode(root_cipher: Aes256Gcm, bytes: &[u8]) -> Result<Self, MalformedKeyring> {
        let rest = bytes.strip_prefix(MAGIC).ok_or(MalformedKeyring)?;
        let (active, rest) = take_u32(rest)?;
        let (count, mut rest) = take_u32(rest)?;
        let mut terms = BTreeMap::new();
        for _ in 0..count {
            let (number, r) = take_u32(rest)?;
            let (install_time, r) = take_u64(r)?;
            let (reserved, r) = take_u64(r)?;
            if r.len() < Key256::LEN {
                return Err(MalformedKeyring);
            }
            let (key, r) = r.split_at(Key256::LEN);
            let key = Key256::from_slice(key).ok_or(MalformedKeyring)?;
            terms.insert(
                number,
                Arc::new(Term::new(number, key, install_time, reserved)),
            );
            rest = r;
        }
        if !rest.is_empty() || !terms.contains_key(&active) {
            return Err(MalformedKeyring);
        }
        Ok(Keyring {
            root_cipher,
            terms,
            active,
        })
    }
}

/// Why a stored keyring could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnwrapError {
    /// Wrong root key, or the stored keyring was altered.
    Envelope(envelope::Invalid),
    /// Authenticated but not decodable.
    Malformed,
}

fn root_cipher(root_key: &Key256) -> Aes256Gcm {
    Aes256Gcm::new(root_key.expose_secret().into())
}

fn take_u32(b: &[u8]) -> Result<(u32, &[u8]), MalformedKeyring> {
    let (head, rest) = b.split_first_chunk::<4>().ok_or(MalformedKeyring)?;
    Ok((u32::from_be_bytes(*head), rest))
}

fn take_u64(b: &[u8]) -> Result<(u64, &[u8]), MalformedKeyring> {
    let (head, rest) = b.split_first_chunk::<8>().ok_or(MalformedKeyring)?;
    Ok((u64::from_be_bytes(*head), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_unwrap_keeps_terms_and_reservations() {
        let root = Key256::generate().unwrap();
        let ring = Keyring::generate(&root, 100).unwrap().rotated(200).unwrap();
        ring.term(1).unwrap().set_reserved(65_536);
        let blob = ring.wrap().unwrap();
        let back = Keyring::unwrap(&root, &blob).unwrap();
        assert_eq!(back.active_term().number(), 2);
        assert_eq!(back.term(1).unwrap().install_time(), 100);
        // After a restart the whole reservation counts as spent.
        assert_eq!(back.term(1).unwrap().encryptions(), 65_536);
        let other = Key256::generate().unwrap();
        assert!(matches!(
            Keyring::unwrap(&other, &blob),
            Err(UnwrapError::Envelope(
                envelope::Invalid::AuthenticationFailed
            ))
        ));
    }
}
