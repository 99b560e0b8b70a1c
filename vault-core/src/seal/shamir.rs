//! Shamir's secret sharing over GF(256), byte by byte, in constant time.
//!
//! Our own code rather than `sharks` (RUSTSEC-2024-0398: its coefficients were
//! drawn from 1..=255, a bias; never patched). Here every coefficient is a uniform
//! byte, the x-coordinates are distinct, non-zero and shuffled, and combining
//! rejects repeated x-coordinates. A share is stored and shown as
//! `y-bytes || x`, as in Vault and OpenBao: 33 bytes for a 32-byte key.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::gf256;
use crate::random::{self, RandomError};
use crate::secret::{SecretBytes, SecretString};

/// The most shares one secret can be split into (x-coordinates 1..=255).
pub const MAX_SHARES: u8 = 255;

/// One share: an x-coordinate and the polynomial values there.
#[derive(Clone)]
pub struct Share {
    x: u8,
    y: SecretBytes,
}

impl std::fmt::Debug for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The x-coordinate is not secret; the values are.
        write!(
            f,
            "Share(x = {}, <{} bytes redacted>)",
            self.x,
            self.y.len()
        )
    }
}

/// Why a split or a combination was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShamirError {
    /// The threshold or share count is out of range.
    #[error("cannot split into {shares} shares with threshold {threshold}")]
    BadParameters {
        /// Shares asked for.
        shares: u8,
        /// Threshold asked for.
        threshold: u8,
    },
    /// Nothing to split.
    #[error("the secret is empty")]
    EmptySecret,
    /// No shares were given.
    #[error("no shares given")]
    NoShares,
    /// Two shares have the same x-coordinate.
    #[error("two shares have the same identifier")]
    DuplicateShare,
    /// The shares have different lengths.
    #[error("the shares have different lengths")]
    LengthMismatch,
    /// No randomness.
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// Why a typed share was refused (nothing of the share is echoed back).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShareFormatError {
    /// Neither hex nor standard base64.
    #[error("the key is not valid hex or base64")]
    Encoding,
    /// Decoded, but not `expected` bytes long.
    #[error("the key is {got} bytes long; an unseal key share is {expected} bytes ({} hex characters)", expected * 2)]
    Length {
        /// Bytes decoded.
        got: usize,
        /// Bytes a share has.
        expected: usize,
    },
    /// The x-coordinate byte is zero, which no share has.
    #[error("the key is not a share: its identifier byte is zero")]
    ZeroIdentifier,
}

impl Share {
    /// The x-coordinate (the share's identifier; not secret).
    pub fn x(&self) -> u8 {
        self.x
    }

    /// `y || x`, the form shown to operators.
    pub fn to_bytes(&self) -> SecretBytes {
        let mut out = Vec::with_capacity(self.y.len() + 1);
        out.extend_from_slice(self.y.expose_secret());
        out.push(self.x);
        SecretBytes::new(out)
    }

    /// The share as lower-case hex.
    pub fn to_hex(&self) -> SecretString {
        SecretString::new(hex::encode(self.to_bytes().expose_secret()))
    }

    /// The share as standard base64.
    pub fn to_base64(&self) -> SecretString {
        SecretString::new(BASE64.encode(self.to_bytes().expose_secret()))
    }

    /// Reads a share typed as hex or base64, for a secret of `secret_len` bytes.
    pub fn parse(text: &str, secret_len: usize) -> Result<Share, ShareFormatError> {
        let text = text.trim();
        let expected = secret_len + 1;
        let looks_hex = text.len() == expected * 2 && text.bytes().all(|b| b.is_ascii_hexdigit());
        let decoded = if looks_hex {
            hex::decode(text).ok()
        } else {
            BASE64.decode(text).ok().or_else(|| hex::decode(text).ok())
        };
        let bytes = decoded.ok_or(ShareFormatError::Encoding)?;
        let mut bytes = SecretBytes::new(bytes);
        if bytes.len() != expected {
            return Err(ShareFormatError::Length {
                got: bytes.len(),
                expected,
            });
        }
        let raw = bytes.expose_secret();
        let x = raw[secret_len];
        if x == 0 {
            return Err(ShareFormatError::ZeroIdentifier);
        }
        let y = SecretBytes::new(raw[..secret_len].to_vec());
        zeroize::Zeroize::zeroize(&mut bytes);
        Ok(Share { x, y })
    }
}

/// Splits `secret` into `shares` shares, any `threshold` of which recover it.
pub fn split(secret: &[u8], shares: u8, threshold: u8) -> Result<Vec<Share>, ShamirError> {
    if threshold == 0 || shares == 0 || threshold > shares {
        return Err(ShamirError::BadParameters { shares, threshold });
    }
    if secret.is_empty() {
        return Err(ShamirError::EmptySecret);
    }
    let xs = distinct_x_coordinates(shares)?;
    let mut ys: Vec<Vec<u8>> = vec![Vec::with_capacity(secret.len()); usize::from(shares)];
    // One polynomial per secret byte: the byte is the constant term, the other
    // coefficients uniform random bytes.
    let mut coefficients = SecretBytes::new(vec![0u8; usize::from(threshold) - 1]);
    for &byte in secret {
        let mut fresh = vec![0u8; coefficients.len()];
        random::fill(&mut fresh)?;
        coefficients = SecretBytes::new(fresh);
        for (x, y) in xs.iter().zip(ys.iter_mut()) {
            y.push(evaluate(byte, coefficients.expose_secret(), *x));
        }
    }
    Ok(xs
        .into_iter()
        .zip(ys)
        .map(|(x, y)| Share {
            x,
            y: SecretBytes::new(y),
        })
        .collect())
}

/// Recovers the secret from shares (Lagrange interpolation at zero). Given fewer
/// shares than the threshold it returns a wrong value, not an error: only the
/// caller, by trying the key, can tell.
pub fn combine(shares: &[Share]) -> Result<SecretBytes, ShamirError> {
    let first = shares.first().ok_or(ShamirError::NoShares)?;
    let len = first.y.len();
    for (i, a) in shares.iter().enumerate() {
        if a.y.len() != len {
            return Err(ShamirError::LengthMismatch);
        }
        if shares[..i].iter().any(|b| b.x == a.x) {
            return Err(ShamirError::DuplicateShare);
        }
    }
    let basis: Vec<u8> = shares
        .iter()
        .map(|si| {
            shares
                .iter()
                .filter(|sj| sj.x != si.x)
                .fold(1u8, |acc, sj| {
                    gf256::mul(acc, gf256::div(sj.x, sj.x ^ si.x))
                })
        })
        .collect();
    let mut secret = vec![0u8; len];
    for (share, &l) in shares.iter().zip(&basis) {
        for (out, &y) in secret.iter_mut().zip(share.y.expose_secret()) {
            *out ^= gf256::mul(y, l);
        }
    }
    Ok(SecretBytes::new(secret))
}

fn evaluate(constant: u8, coefficients: &[u8], x: u8) -> u8 {
    // Horner's rule from the highest coefficient down.
    let acc = coefficients
        .iter()
        .rev()
        .fold(0u8, |acc, &c| gf256::mul(acc, x) ^ c);
    gf256::mul(acc, x) ^ constant
}

/// `count` distinct x-coordinates from 1..=255 in random order (Fisher-Yates with
/// rejection sampling, so every order is equally likely).
fn distinct_x_coordinates(count: u8) -> Result<Vec<u8>, RandomError> {
    let mut pool: Vec<u8> = (1..=255).collect();
    for i in (1..pool.len()).rev() {
        let j = uniform_below(i + 1)?;
        pool.swap(i, j);
    }
    pool.truncate(usize::from(count));
    Ok(pool)
}

fn uniform_below(bound: usize) -> Result<usize, RandomError> {
    // bound <= 255, so one byte suffices; reject the top to avoid modulo bias.
    let limit = 256 - (256 % bound);
    loop {
        let mut b = [0u8; 1];
        random::fill(&mut b)?;
        if usize::from(b[0]) < limit {
            return Ok(usize::from(b[0]) % bound);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(x: u8, y: &[u8]) -> Share {
        Share {
            x,
            y: SecretBytes::new(y.to_vec()),
        }
    }

    #[test]
    fn known_answer_degree_one() {
        // f(x) = 0x2a + 0x53 x. f(1) = 0x79; f(2) = 0x2a ^ (0x53 * 2 = 0xa6) = 0x8c.
        assert_eq!(evaluate(0x2a, &[0x53], 1), 0x79);
        assert_eq!(evaluate(0x2a, &[0x53], 2), 0x8c);
        let secret = combine(&[share(1, &[0x79]), share(2, &[0x8c])]).unwrap();
        assert_eq!(secret.expose_secret(), &[0x2a]);
    }

    #[test]
    fn known_answer_degree_two() {
        // f(x) = 0x01 + 0x02 x + 0x03 x^2 at x = 3: 0x01 ^ (2*3 = 6) ^ (3 * (3*3 = 5) = 0x0f) = 0x08.
        assert_eq!(evaluate(0x01, &[0x02, 0x03], 3), 0x08);
        let points: Vec<Share> = [1u8, 3, 7]
            .iter()
            .map(|&x| share(x, &[evaluate(0x01, &[0x02, 0x03], x)]))
            .collect();
        assert_eq!(combine(&points).unwrap().expose_secret(), &[0x01]);
    }

    #[test]
    fn every_quorum_recovers_and_fewer_do_not() {
        for (n, t) in [(1u8, 1u8), (2, 2), (3, 2), (5, 3), (6, 6)] {
            let mut secret = vec![0u8; 32];
            random::fill(&mut secret).unwrap();
            let shares = split(&secret, n, t).unwrap();
            assert_eq!(shares.len(), usize::from(n));
            // Every subset of size t, by bitmask.
            for mask in 0u32..(1 << n) {
                if mask.count_ones() != u32::from(t) {
                    continue;
                }
                let subset: Vec<Share> = (0..n)
                    .filter(|i| mask & (1 << i) != 0)
                    .map(|i| shares[usize::from(i)].clone())
                    .collect();
                assert_eq!(combine(&subset).unwrap().expose_secret(), &secret[..]);
                if t > 1 {
                    let fewer = combine(&subset[1..]).unwrap();
                    assert_ne!(fewer.expose_secret(), &secret[..]);
                }
            }
        }
    }

    #[test]
    fn x_coordinates_are_distinct_and_nonzero() {
        let shares = split(&[7u8; 32], 255, 2).unwrap();
        let mut xs: Vec<u8> = shares.iter().map(Share::x).collect();
        xs.sort();
        xs.dedup();
        assert_eq!(xs.len(), 255);
        assert!(!xs.contains(&0));
    }

    #[test]
    fn coefficients_take_every_byte_value() {
        // RUSTSEC-2024-0398 was coefficients that were never zero. With threshold 2,
        // y - secret = c * x, so c = 0 shows as y == secret; over 32 * 200 bytes a
        // uniform c is zero about 25 times, a biased one never.
        let mut zeros = 0;
        for _ in 0..200 {
            let secret = [0x5au8; 32];
            let s = &split(&secret, 2, 2).unwrap()[0];
            zeros += s.y.expose_secret().iter().filter(|&&y| y == 0x5a).count();
        }
        assert!(
            zeros > 0,
            "no zero coefficient in 6400 draws: biased sampling"
        );
    }

    #[test]
    fn refuses_bad_input() {
        assert!(split(&[1], 3, 4).is_err());
        assert!(split(&[1], 0, 0).is_err());
        assert_eq!(split(&[], 3, 2).unwrap_err(), ShamirError::EmptySecret);
        let s = share(1, &[1, 2]);
        assert_eq!(
            combine(&[s.clone(), s.clone()]).unwrap_err(),
            ShamirError::DuplicateShare
        );
        assert_eq!(
            combine(&[s, share(2, &[1])]).unwrap_err(),
            ShamirError::LengthMismatch
        );
        assert_eq!(combine(&[]).unwrap_err(), ShamirError::NoShares);
    }

    #[test]
    fn parses_hex_and_base64_and_rejects_the_rest() {
        let shares = split(&[9u8; 32], 3, 2).unwrap();
        let hex = shares[0].to_hex();
        let b64 = shares[0].to_base64();
        assert_eq!(hex.expose_secret().len(), 66);
        for text in [hex.expose_secret(), b64.expose_secret()] {
            let parsed = Share::parse(text, 32).unwrap();
            assert_eq!(parsed.x, shares[0].x);
            assert_eq!(parsed.y.expose_secret(), shares[0].y.expose_secret());
        }
        assert_eq!(
            Share::parse("not a key!", 32).unwrap_err(),
            ShareFormatError::Encoding
        );
        assert!(matches!(
            Share::parse("abcd", 32).unwrap_err(),
            ShareFormatError::Length { expected: 33, .. }
        ));
        let zero_x = format!("{}00", "11".repeat(32));
        assert_eq!(
            Share::parse(&zero_x, 32).unwrap_err(),
            ShareFormatError::ZeroIdentifier
        );
    }
}
