//! What a login's caller sends the JWT and Kubernetes methods, before any
//! key: any text is a parsed token or an error, never a panic; a parsed
//! token names an accepted algorithm and never verifies against a key set
//! that holds no key; and any bytes are a JWKS or an error.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vault_core::auth::jwt::{jwks, verify};

fuzz_target!(|data: &[u8]| {
    let _ = jwks::parse(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(token) = verify::parse(text) {
        let _ = token.kid();
        let _ = token.unverified_claims();
        assert!(token.verify(&[]).is_err(), "verified without a key");
    }
});
