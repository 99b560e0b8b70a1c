//! The verifier on real signatures: keys made by `ring` (ECDSA, Ed25519)
//! and by `openssl` (RSA, which `ring` cannot generate), tokens signed here.

use super::*;
use proptest::prelude::*;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::json;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A compact JWS of `header` and `claims`, signed by `sign`.
fn token(header: Value, claims: Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = sign(input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

fn es256() -> (EcdsaKeyPair, KeyEntry) {
    let rng = SystemRandom::new();
    let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("generate");
    let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).expect("parse");
    let key = KeyEntry {
        kid: Some("ec-1".into()),
        key: PublicKey::P256(pair.public_key().as_ref().to_vec()),
    };
    (pair, key)
}

fn es256_token(pair: &EcdsaKeyPair, kid: &str, claims: Value) -> String {
    let rng = SystemRandom::new();
    token(json!({"alg": "ES256", "kid": kid}), claims, |m| {
        pair.sign(&rng, m).expect("sign").as_ref().to_vec()
    })
}

fn claims() -> Value {
    json!({"iss": "https://issuer.test", "sub": "ci", "exp": 2_000_000_000u64})
}

#[test]
fn es256_verifies_and_a_changed_payload_does_not() {
    let (pair, key) = es256();
    let good = es256_token(&pair, "ec-1", claims());
    let verified = parse(&good).and_then(|t| t.verify(std::slice::from_ref(&key)));
    assert_eq!(verified.map(|c| c.0["sub"].clone()), Ok(json!("ci")));

    let mut parts: Vec<&str> = good.split('.').collect();
    let forged = b64(json!({"sub": "admin", "exp": 2_000_000_000u64})
        .to_string()
        .as_bytes());
    parts[1] = &forged;
    let tampered = parts.join(".");
    assert_eq!(
        parse(&tampered).and_then(|t| t.verify(&[key])),
        Err(JwtError::Signature)
    );
}

#[test]
fn another_key_or_kid_does_not_verify() {
    let (pair, _) = es256();
    let (_, other) = es256();
    let good = es256_token(&pair, "ec-1", claims());
    assert_eq!(
        parse(&good).and_then(|t| t.verify(&[other])),
        Err(JwtError::Signature)
    );
    let (pair, mut key) = es256();
    key.kid = Some("ec-2".into());
    let named = es256_token(&pair, "ec-1", claims());
    assert_eq!(
        parse(&named).and_then(|t| t.verify(&[key])),
        Err(JwtError::Signature)
    );
}

#[test]
fn eddsa_verifies() {
    let rng = SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("generate");
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("parse");
    let key = KeyEntry {
        kid: None,
        key: PublicKey::Ed25519(pair.public_key().as_ref().to_vec()),
    };
    let t = token(json!({"alg": "EdDSA"}), claims(), |m| {
        pair.sign(m).as_ref().to_vec()
    });
    assert!(parse(&t).and_then(|t| t.verify(&[key])).is_ok());
}

#[test]
fn rs256_verifies_with_an_openssl_key() {
    // A test-only RSA key, made here: ring signs with it but cannot make it.
    let out = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .args(["-outform", "DER"])
        .output()
        .expect("openssl runs");
    assert!(out.status.success(), "openssl genpkey failed");
    // OpenSSL 3 writes a DER RSA key as PKCS#1 (RSAPrivateKey).
    let pair = RsaKeyPair::from_der(&out.stdout).expect("PKCS#1 RSA key");
    let public: RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
    let jwk = json!({"kty": "RSA", "n": b64(&public.n), "e": b64(&public.e)});
    let key = KeyEntry {
        kid: None,
        key: PublicKey::from_jwk(jwk.as_object().expect("object")).expect("jwk"),
    };
    let rng = SystemRandom::new();
    for (name, padding) in [
        (
            "RS256",
            &signature::RSA_PKCS1_SHA256 as &dyn signature::RsaEncoding,
        ),
        ("PS256", &signature::RSA_PSS_SHA256),
    ] {
        let t = token(json!({"alg": name}), claims(), |m| {
            let mut sig = vec![0; pair.public().modulus_len()];
            pair.sign(padding, &rng, m, &mut sig).expect("sign");
            sig
        });
        assert!(
            parse(&t)
                .and_then(|t| t.verify(std::slice::from_ref(&key)))
                .is_ok(),
            "{name}"
        );
    }
    // The same key may not be used as if it were another kind.
    let t = token(json!({"alg": "ES256"}), claims(), |_| vec![0; 64]);
    assert_eq!(
        parse(&t).and_then(|t| t.verify(&[key])),
        Err(JwtError::Signature)
    );
}

#[test]
fn none_and_hmac_are_refused_before_any_key() {
    for alg in ["none", "HS256", "HS512", "None", ""] {
        let t = token(json!({"alg": alg}), claims(), |_| Vec::new());
        assert!(
            matches!(parse(&t), Err(JwtError::Algorithm(_))),
            "{alg} accepted"
        );
    }
}

#[test]
fn malformed_tokens_say_what_is_wrong() {
    let long = "a".repeat(MAX_TOKEN_BYTES + 1);
    let cases = [
        ("", "not three"),
        ("a.b", "not three"),
        ("a.b.c.d", "not three"),
        ("!!.e30.", "header is not base64url"),
        (long.as_str(), "longer than"),
    ];
    for (t, says) in cases {
        let err = parse(t).expect_err(t).to_string();
        assert!(err.contains(says), "{err}");
    }
    let crit = token(json!({"alg": "ES256", "crit": ["x"]}), claims(), |_| vec![]);
    assert!(parse(&crit).is_err());
    let deep = format!(
        "{}.{}.",
        b64(br#"{"alg":"ES256"}"#),
        b64(format!(
            "{}{}",
            "{\"a\":".repeat(20),
            "1".to_owned() + &"}".repeat(20)
        )
        .as_bytes())
    );
    assert_eq!(
        parse(&deep).map(|_| ()),
        Err(JwtError::Malformed("payload is not a bounded JSON object"))
    );
}

#[test]
fn time_claims_with_leeways() {
    let now = 1_000_000u64;
    let leeways = Leeways {
        clock_skew: 60,
        expiration: 150,
        not_before: 150,
    };
    let check =
        |c: Value| Claims(c.as_object().cloned().unwrap_or_default()).check_times(now, leeways);
    assert_eq!(check(json!({})), Err(JwtError::MissingExpiry));
    assert_eq!(check(json!({"exp": now})), Ok(()));
    assert_eq!(check(json!({"exp": now - 210})), Ok(()));
    assert_eq!(check(json!({"exp": now - 211})), Err(JwtError::Expired));
    assert_eq!(check(json!({"exp": now + 10, "nbf": now + 210})), Ok(()));
    assert_eq!(
        check(json!({"exp": now + 999, "nbf": now + 211})),
        Err(JwtError::NotYetValid)
    );
    assert_eq!(
        check(json!({"exp": now + 999, "iat": now + 500})),
        Err(JwtError::NotYetValid)
    );
    assert!(check(json!({"exp": "tomorrow"})).is_err());
    let strict = Leeways::default();
    assert_eq!(
        Claims(
            json!({"exp": now - 1})
                .as_object()
                .cloned()
                .unwrap_or_default()
        )
        .check_times(now, strict),
        Err(JwtError::Expired)
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any input: an answer, never a panic, and never a verified token
    /// without the key's signature.
    #[test]
    fn arbitrary_tokens_never_verify(input in "[A-Za-z0-9_.=-]{0,400}") {
        let (_, key) = es256();
        if let Ok(t) = parse(&input) {
            prop_assert!(t.verify(&[key]).is_err());
        }
    }

    /// A real header with an arbitrary payload and signature.
    #[test]
    fn forged_signatures_never_verify(payload in proptest::collection::vec(any::<u8>(), 0..300),
                                      sig in proptest::collection::vec(any::<u8>(), 0..100)) {
        let (_, key) = es256();
        let t = format!("{}.{}.{}", b64(br#"{"alg":"ES256"}"#), b64(&payload), b64(&sig));
        if let Ok(t) = parse(&t) {
            prop_assert!(t.verify(&[key]).is_err());
        }
    }
}

#[test]
fn debug_never_shows_the_token() {
    let (pair, _) = es256();
    let t = es256_token(&pair, "ec-1", claims());
    let shown = format!("{:?}", parse(&t).expect("parses"));
    let signature = t.rsplit('.').next().unwrap_or_default();
    assert!(
        !shown.contains(signature) && !shown.contains(&t[..20]),
        "{shown}"
    );
}
