//! The TOTP key in an `otpauth://` URL, as an authenticator app reads it
//! from the QR code: what tests enrolled in login MFA or userpass TOTP
//! compute their codes from.

use vault_core::identity::mfa::totp;

/// The key in `url` (its `secret=` parameter, base32), noted for the
/// secret scan.
pub fn key_of(url: &str) -> Vec<u8> {
    let secret = url
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("secret="))
        .expect("an otpauth:// URL has a secret");
    crate::secret_scan::note(secret);
    totp::base32_decode(secret).expect("the secret is base32")
}
