//! The stored form of an encrypted value:
//! `version (1) | key term (4, big-endian) | nonce (12, random) | ciphertext | tag (16)`.
//!
//! The associated data is the header followed by the storage path, so a value
//! copied to another path, or given another term or version byte, fails to
//! authenticate. Every malformed input, whatever its length, is an [`Invalid`]
//! reason and never a panic.

use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes256Gcm, Nonce, Tag};

use crate::random::{self, RandomError};
use crate::secret::SecretBytes;

/// The format version this build writes.
pub const VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 4 + 12;
const TAG_LEN: usize = 16;
/// The smallest valid envelope (an empty plaintext).
pub const MIN_LEN: usize = HEADER_LEN + TAG_LEN;

/// Why a stored value was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// Shorter than a header and a tag.
    TooShort,
    /// A version byte this build does not know.
    UnknownVersion,
    /// A term the keyring does not have.
    UnknownTerm,
    /// The tag does not match: the value was altered or moved.
    AuthenticationFailed,
}

impl Invalid {
    /// Operator-facing wording.
    pub fn reason(self) -> &'static str {
        match self {
            Invalid::TooShort => "value is truncated",
            Invalid::UnknownVersion => "unknown format version",
            Invalid::UnknownTerm => "unknown key term",
            Invalid::AuthenticationFailed => "message authentication failed",
        }
    }
}

/// The term named in an envelope's header.
pub fn term_of(blob: &[u8]) -> Result<u32, Invalid> {
    if blob.len() < MIN_LEN {
        return Err(Invalid::TooShort);
    }
    if blob[0] != VERSION {
        return Err(Invalid::UnknownVersion);
    }
    Ok(u32::from_be_bytes([blob[1], blob[2], blob[3], blob[4]]))
}

/// Encrypts `plaintext` for `path` under `cipher`, recording `term` in the header.
pub fn seal(
    cipher: &Aes256Gcm,
    term: u32,
    path: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, RandomError> {
    let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
    out.push(VERSION);
    out.extend_from_slice(&term.to_be_bytes());
    let mut nonce = [0u8; 12];
    random::fill(&mut nonce)?;
    out.extend_from_slice(&nonce);
    let aad = associated_data(&out[..HEADER_LEN], path);
    out.extend_from_slice(plaintext);
    let tag = cipher
        .encrypt_inout_detached(&Nonce::from(nonce), &aad, (&mut out[HEADER_LEN..]).into())
        // Only over-long inputs (2^36 bytes) fail; a vault value is never that big.
        .map_err(|_| RandomError)?;
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Decrypts an envelope read from `path`.
pub fn open(cipher: &Aes256Gcm, path: &str, blob: &[u8]) -> Result<SecretBytes, Invalid> {
    term_of(blob)?;
    let (header, rest) = blob.split_at(HEADER_LEN);
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&header[5..]);
    let mut tag_bytes = [0u8; TAG_LEN];
    tag_bytes.copy_from_slice(tag);
    let aad = associated_data(header, path);
    let mut plaintext = SecretBuffer(ciphertext.to_vec());
    cipher
        .decrypt_inout_detached(
            &Nonce::from(nonce),
            &aad,
            plaintext.0.as_mut_slice().into(),
            &Tag::from(tag_bytes),
        )
        .map_err(|_| Invalid::AuthenticationFailed)?;
    Ok(SecretBytes::new(std::mem::take(&mut plaintext.0)))
}

fn associated_data(header: &[u8], path: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(header.len() + path.len());
    aad.extend_from_slice(header);
    aad.extend_from_slice(path.as_bytes());
    aad
}

/// Wipes a half-decrypted buffer if authentication fails.
struct SecretBuffer(Vec<u8>);

impl Drop for SecretBuffer {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::KeyInit;

    fn cipher(byte: u8) -> Aes256Gcm {
        Aes256Gcm::new(&[byte; 32].into())
    }

    #[test]
    fn round_trip_and_layout() {
        let c = cipher(7);
        let blob = seal(&c, 3, "a/b", b"hello").unwrap();
        assert_eq!(blob.len(), MIN_LEN + 5);
        assert_eq!(blob[0], VERSION);
        assert_eq!(term_of(&blob), Ok(3));
        assert_eq!(open(&c, "a/b", &blob).unwrap().expose_secret(), b"hello");
    }

    #[test]
    fn every_tampering_is_an_authentication_failure_or_a_format_error() {
        let c = cipher(7);
        let blob = seal(&c, 1, "a/b", b"hello world").unwrap();
        assert_eq!(
            open(&c, "a/c", &blob).unwrap_err(),
            Invalid::AuthenticationFailed
        );
        assert_eq!(
            open(&cipher(8), "a/b", &blob).unwrap_err(),
            Invalid::AuthenticationFailed
        );
        for i in 0..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 0x01;
            let err = open(&c, "a/b", &bad).unwrap_err();
            let expected = if i == 0 {
                Invalid::UnknownVersion
            } else {
                Invalid::AuthenticationFailed
            };
            assert_eq!(err, expected, "flipped byte {i}");
        }
        for len in 0..blob.len() {
            assert!(open(&c, "a/b", &blob[..len]).is_err(), "truncated to {len}");
        }
    }
}
