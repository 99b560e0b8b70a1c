//! Types that hold secrets: they wipe their memory on drop and never print it.
//!
//! Every read of a secret is an explicit `expose_secret()` at the point of use, so a
//! grep finds every place one is touched (the age/rage habit, STYLE.md).

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// A 256-bit key: the unseal key, the root key and each keyring term.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Key256([u8; 32]);

impl Key256 {
    /// Length in bytes.
    pub const LEN: usize = 32;

    /// A fresh key from the system CSPRNG.
    pub fn generate() -> Result<Self, crate::random::RandomError> {
        let mut key = Key256([0u8; 32]);
        crate::random::fill(&mut key.0)?;
        Ok(key)
    }

    /// Takes a key from exactly 32 bytes; `None` for any other length.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let array: [u8; 32] = bytes.try_into().ok()?;
        Some(Key256(array))
    }

    /// The key bytes. Callers say at the call site why they need them.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Key256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key256(<redacted>)")
    }
}

/// Secret bytes of any length (a decrypted value, a share's y-coordinates).
#[derive(Clone, Default, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Wraps bytes that are secret from now on.
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(bytes)
    }

    /// The bytes. Callers say at the call site why they need them.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Zeroizing<Vec<u8>>> for SecretBytes {
    fn from(mut bytes: Zeroizing<Vec<u8>>) -> Self {
        SecretBytes(std::mem::take(&mut *bytes))
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

/// A secret string: a token, an encoded share.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a string that is secret from now on.
    pub fn new(text: String) -> Self {
        SecretString(text)
    }

    /// The text. Callers say at the call site why they need it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl From<&str> for SecretString {
    fn from(text: &str) -> Self {
        SecretString(text.to_owned())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimiser from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_secret() {
        let key = Key256::from_slice(&[0xAB; 32]).unwrap();
        let bytes = SecretBytes::new(b"hunter2".to_vec());
        let text = SecretString::from("s.topsecret");
        let printed = format!("{key:?} {bytes:?} {text:?}");
        assert!(!printed.contains("ab") && !printed.contains("AB") && !printed.contains("171"));
        assert!(!printed.contains("hunter2"));
        assert!(!printed.contains("topsecret"));
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
