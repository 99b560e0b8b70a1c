//! Test-only: an ES256 key made for one test (by rcgen), its public key as
//! PEM, and tokens signed with it (by ring).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use serde_json::{Value, json};

/// A signing key made for this test, with its public key as PEM.
pub(crate) struct Signer {
    pair: EcdsaKeyPair,
    pub(crate) pem: String,
}

impl Signer {
    pub(crate) fn new() -> Signer {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &key.serialize_der(),
            &SystemRandom::new(),
        )
        .unwrap();
        Signer {
            pair,
            pem: key.public_key_pem(),
        }
    }

    pub(crate) fn sign_with(&self, header: Value, claims: &Value) -> String {
        let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let input = format!("{}.{}", b64(&header), b64(claims));
        let sig = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }

    pub(crate) fn sign(&self, claims: &Value) -> String {
        self.sign_with(json!({"alg": "ES256", "typ": "JWT"}), claims)
    }
}
