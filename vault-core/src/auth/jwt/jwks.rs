//! A JSON Web Key Set (RFC 7517 section 5), as a `jwks_url` or an OIDC
//! provider's `jwks_uri` serves it: the signing keys, bounded in count and
//! size, with the keys this vault cannot use left out rather than failing
//! the whole set (providers publish encryption keys and new key types next
//! to the ones that sign).

use serde_json::Value;

use super::verify::{JwtError, KeyEntry, PublicKey};
use crate::json_limits::{self, JsonLimits};

/// The largest JWKS document read: real ones are a few KiB.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// The most keys kept from one set.
pub const MAX_KEYS: usize = 64;

const LIMITS: JsonLimits = JsonLimits {
    max_depth: 8,
    max_string_length: 16 * 1024,
    max_object_entries: 64,
    max_array_elements: 256,
};

/// The signing keys of a JWKS document. Fails when the document is not a
/// bounded JWKS or holds no key this vault can verify with.
pub fn parse(document: &[u8]) -> Result<Vec<KeyEntry>, JwtError> {
    if document.len() > MAX_JWKS_BYTES {
        return Err(JwtError::Key("JWKS document is larger than 256 KiB".into()));
    }
    let set = json_limits::parse_object(document, &LIMITS)
        .map_err(|e| JwtError::Key(format!("JWKS is not a bounded JSON object: {e}")))?;
    let keys = set
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| JwtError::Key("JWKS has no keys array".into()))?;
    let usable: Vec<KeyEntry> = keys
        .iter()
        .filter_map(Value::as_object)
        // A key marked for encryption never verifies a signature.
        .filter(|jwk| {
            jwk.get("use")
                .and_then(Value::as_str)
                .is_none_or(|u| u == "sig")
        })
        .filter_map(|jwk| {
            let key = PublicKey::from_jwk(jwk).ok()?;
            let kid = jwk.get("kid").and_then(Value::as_str).map(str::to_owned);
            Some(KeyEntry { kid, key })
        })
        .take(MAX_KEYS)
        .collect();
    if usable.is_empty() {
        return Err(JwtError::Key("JWKS holds no usable signing key".into()));
    }
    Ok(usable)
}

#[cfg(test)]
mod tests {
    use super::*;

    const P256_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const P256_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

    #[test]
    fn keeps_signing_keys_and_skips_the_rest() {
        let doc = serde_json::json!({"keys": [
            {"kty": "EC", "crv": "P-256", "x": P256_X, "y": P256_Y, "kid": "a", "use": "sig"},
            {"kty": "EC", "crv": "P-256", "x": P256_X, "y": P256_Y, "kid": "enc", "use": "enc"},
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {"kty": "EC", "crv": "P-521", "x": P256_X, "y": P256_Y, "kid": "p521"},
            "not an object"
        ]});
        let keys = parse(doc.to_string().as_bytes()).expect("one usable key");
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some("a"));
    }

    #[test]
    fn refuses_what_is_not_a_usable_set() {
        for (doc, says) in [
            (r#"{"keys": []}"#, "no usable"),
            (r#"{"kty": "EC"}"#, "no keys array"),
            ("[1]", "not a bounded JSON object"),
            (
                r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#,
                "no usable",
            ),
        ] {
            let err = parse(doc.as_bytes()).expect_err(doc).to_string();
            assert!(err.contains(says), "{doc}: {err}");
        }
        let big = vec![b' '; MAX_JWKS_BYTES + 1];
        assert!(
            parse(&big)
                .expect_err("too big")
                .to_string()
                .contains("256 KiB")
        );
    }
}
