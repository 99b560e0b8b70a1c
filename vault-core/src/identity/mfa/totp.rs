//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP) as authenticator
//! apps compute them: HMAC-SHA1, a 30-second step, 6 digits; and the base32
//! text (RFC 4648, no padding) their secrets travel in.
//!
//! Public so that black-box tests and clients can compute the code a login
//! expects (login MFA's TOTP methods, userpass's own second factor). The secret a caller passes here is the raw key, not its base32.

use ring::hmac;

use crate::secret::constant_time_eq;

/// Seconds one code is valid for.
pub const STEP_SECS: u64 = 30;

/// Digits in a code.
pub const DIGITS: u32 = 6;

/// RFC 4648's base32 alphabet.
const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// The 6-digit code for `secret` at `unix_secs` (seconds since the epoch).
pub fn code(secret: &[u8], unix_secs: u64) -> String {
    hotp(secret, unix_secs / STEP_SECS, DIGITS)
}

/// RFC 4226 HOTP: the `digits`-digit code of `counter` under `secret`.
/// `digits` is 6 for logins; RFC 6238's test vectors use 8.
pub(crate) fn hotp(secret: &[u8], counter: u64, digits: u32) -> String {
    // SHA-1 is what every authenticator app computes by default; HMAC-SHA1 is
    // still a sound PRF, which is all HOTP needs of it.
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let mac = tag.as_ref();
    // Dynamic truncation (RFC 4226, 5.3): the low nibble of the last byte picks
    // four bytes, read big-endian without their top bit. A SHA-1 tag is 20
    // bytes, so offset + 3 <= 18.
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = (u32::from(mac[offset]) & 0x7f) << 24
        | u32::from(mac[offset + 1]) << 16
        | u32::from(mac[offset + 2]) << 8
        | u32::from(mac[offset + 3]);
    let modulus = 10u64.pow(digits);
    format!(
        "{:0width$}",
        u64::from(binary) % modulus,
        width = digits as usize
    )
}

/// The step of `secret`'s code that `candidate` is, among the step of `unix_secs`
/// and its two neighbours (for clock skew), keeping only steps after
/// `after` (the last step accepted, so that no code is accepted twice). `None`
/// if it matches none of them or is not six digits.
pub(crate) fn matching_step(
    secret: &[u8],
    unix_secs: u64,
    candidate: &str,
    after: Option<u64>,
) -> Option<u64> {
    let candidate = candidate.trim();
    if candidate.len() != DIGITS as usize || !candidate.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = unix_secs / STEP_SECS;
    let mut found = None;
    // Every candidate step is computed and compared, so the time taken does not
    // say which one (if any) matched.
    for step in [now.checked_sub(1), Some(now), now.checked_add(1)]
        .into_iter()
        .flatten()
    {
        let fresh = after.is_none_or(|last| step > last);
        let equal = constant_time_eq(hotp(secret, step, DIGITS).as_bytes(), candidate.as_bytes());
        if equal && fresh && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// Checks `candidate` against the stored base32 `secret` at `unix_secs`,
/// accepting only a step after `*last_step`; on success moves `*last_step`
/// to it, for the caller to store before it answers. The one check
/// userpass's own second factor and login MFA share.
pub(crate) fn spend(
    secret: &str,
    last_step: &mut Option<u64>,
    candidate: &str,
    unix_secs: u64,
) -> Result<bool, Base32Error> {
    let key = zeroize::Zeroizing::new(base32_decode(secret)?);
    match matching_step(&key, unix_secs, candidate, *last_step) {
        Some(step) => {
            *last_step = Some(step);
            Ok(true)
        }
        None => Ok(false),
    }
}

/// The `otpauth://` URL authenticator apps read from a QR code.
/// `issuer` and `account` must need no percent-encoding (usernames do not).
pub fn otpauth_url(issuer: &str, account: &str, secret_base32: &str) -> String {
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret_base32}&issuer={issuer}\
         &algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}"
    )
}

/// Text that is not base32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Base32Error {
    /// A character outside the alphabet (the text is not echoed: it may be a secret).
    #[error("invalid base32: a character outside A-Z and 2-7")]
    InvalidCharacter,
    /// A length no encoding produces, or leftover bits that are not zero.
    #[error("invalid base32: truncated or non-canonical")]
    NonCanonical,
}

/// `bytes` as RFC 4648 base32, upper case, without `=` padding.
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 0x1f) as usize]));
        }
        // Keep only the bits not yet written, so the buffer never overflows.
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(
            ALPHABET[((buffer << (5 - bits)) & 0x1f) as usize],
        ));
    }
    out
}

/// Decodes RFC 4648 base32: either case, trailing `=` padding optional.
pub fn base32_decode(text: &str) -> Result<Vec<u8>, Base32Error> {
    let text = text.trim_end_matches('=');
    // 1, 3 or 6 characters past a full 8-character group encode no whole byte.
    if matches!(text.len() % 8, 1 | 3 | 6) {
        return Err(Base32Error::NonCanonical);
    }
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for c in text.bytes() {
        let value = match c.to_ascii_uppercase() {
            c @ b'A'..=b'Z' => c - b'A',
            c @ b'2'..=b'7' => c - b'2' + 26,
            _ => return Err(Base32Error::InvalidCharacter),
        };
        buffer = (buffer << 5) | u32::from(value);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    // Leftover bits are padding; an encoder always writes them as zero, so
    // anything else is a second spelling of the same bytes.
    if buffer != 0 {
        return Err(Base32Error::NonCanonical);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC6238_SHA1_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc_6238_appendix_b_sha1_vectors() {
        for (time, expected) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(
                hotp(RFC6238_SHA1_SECRET, time / STEP_SECS, 8),
                expected,
                "T = {time}"
            );
            // Six digits are the same number modulo 10^6.
            assert_eq!(code(RFC6238_SHA1_SECRET, time), expected[2..], "T = {time}");
        }
        assert_eq!(code(RFC6238_SHA1_SECRET, 59), "287082");
    }

    #[test]
    fn rfc_4226_appendix_d_hotp_vectors() {
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, want) in expected.iter().enumerate() {
            assert_eq!(hotp(RFC6238_SHA1_SECRET, counter as u64, 6), *want);
        }
    }

    #[test]
    fn base32_follows_rfc_4648() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32_encode(plain.as_bytes()), encoded);
            assert_eq!(base32_decode(encoded).unwrap(), plain.as_bytes());
        }
        assert_eq!(base32_decode("mzxw6ytboi======").unwrap(), b"foobar");
    }

    #[test]
    fn base32_round_trips_every_length() {
        let bytes: Vec<u8> = (0..=255u8).rev().collect();
        for len in 0..64 {
            let encoded = base32_encode(&bytes[..len]);
            assert!(!encoded.contains('='));
            assert_eq!(base32_decode(&encoded).unwrap(), &bytes[..len], "{len}");
        }
    }

    #[test]
    fn base32_refuses_what_no_encoder_writes() {
        assert_eq!(base32_decode("MZ1Q"), Err(Base32Error::InvalidCharacter));
        assert_eq!(base32_decode("MZ/Q"), Err(Base32Error::InvalidCharacter));
        assert_eq!(base32_decode("M"), Err(Base32Error::NonCanonical));
        assert_eq!(base32_decode("MZX"), Err(Base32Error::NonCanonical));
        // "MZ" is "f"; "MZ" with a non-zero leftover bit is not.
        assert_eq!(base32_decode("M3"), Err(Base32Error::NonCanonical));
    }

    #[test]
    fn matching_allows_one_step_of_skew_and_no_replay() {
        let secret = RFC6238_SHA1_SECRET;
        let now = 1_111_111_111;
        let step = now / STEP_SECS;
        let current = code(secret, now);
        assert_eq!(matching_step(secret, now, &current, None), Some(step));
        assert_eq!(
            matching_step(secret, now, &format!(" {current}\n"), None),
            Some(step)
        );
        let previous = code(secret, now - STEP_SECS);
        let next = code(secret, now + STEP_SECS);
        assert_eq!(matching_step(secret, now, &previous, None), Some(step - 1));
        assert_eq!(matching_step(secret, now, &next, None), Some(step + 1));
        let too_old = code(secret, now - 2 * STEP_SECS);
        assert_eq!(matching_step(secret, now, &too_old, None), None);
        // Once a step is used, neither it nor an earlier one is accepted.
        assert_eq!(matching_step(secret, now, &current, Some(step)), None);
        assert_eq!(matching_step(secret, now, &previous, Some(step)), None);
        assert_eq!(
            matching_step(secret, now, &next, Some(step)),
            Some(step + 1)
        );
        for malformed in ["", "12345", "1234567", "12345a", "-12345"] {
            assert_eq!(matching_step(secret, now, malformed, None), None);
        }
    }

    #[test]
    fn otpauth_url_names_everything_an_app_needs() {
        assert_eq!(
            otpauth_url("vault", "alice", "GEZDGNBV"),
            "otpauth://totp/vault:alice?secret=GEZDGNBV&issuer=vault&algorithm=SHA1&digits=6&period=30"
        );
    }
}
