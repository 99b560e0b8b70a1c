//! Verifying a JWT (a JWS in compact form) before anything in it is trusted:
//! a bounded parse, the algorithm from a closed list (never `none`, never an
//! HMAC: the keys here are public), the signature checked by `ring`, then
//! the time claims with the role's leeways. What the claims *mean* (issuer,
//! audience, subject, bound claims) is the login's business, after this.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::{Map, Value};

use crate::json_limits::{self, JsonLimits};

/// The longest token accepted, in bytes: Kubernetes' service account tokens
/// and CI providers' are 1-2 KiB; 16 KiB leaves room for large group claims
/// and bounds the work a stranger's login can cause.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// How a header or claim set may nest: JWTs are flat, groups are one array.
const LIMITS: JsonLimits = JsonLimits {
    max_depth: 8,
    max_string_length: 8 * 1024,
    max_object_entries: 256,
    max_array_elements: 1024,
};

/// Why a token was not accepted. The texts name what is wrong and never
/// quote the token.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    /// Not three base64url parts of bounded JSON.
    #[error("malformed JWT: {0}")]
    Malformed(&'static str),
    /// `none`, an HMAC, or an algorithm not supported.
    #[error("JWT algorithm {0:?} is not allowed")]
    Algorithm(String),
    /// No configured key verifies the signature.
    #[error("JWT signature did not verify with any configured key")]
    Signature,
    /// A key in the configuration or a JWKS is unusable.
    #[error("invalid public key: {0}")]
    Key(String),
    /// `exp` is required.
    #[error("JWT has no exp claim")]
    MissingExpiry,
    /// Past `exp` (with the leeways).
    #[error("JWT is expired")]
    Expired,
    /// Before `nbf` or `iat` (with the leeways).
    #[error("JWT is not yet valid")]
    NotYetValid,
}

/// The signature algorithms accepted (JWA names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// RSASSA-PSS with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512.
    Ps512,
    /// ECDSA over P-256 with SHA-256.
    Es256,
    /// ECDSA over P-384 with SHA-384.
    Es384,
    /// Ed25519.
    EdDsa,
}

impl Algorithm {
    /// The algorithm a header names, if it is one accepted here.
    pub fn from_name(name: &str) -> Result<Self, JwtError> {
        Ok(match name {
            "RS256" => Algorithm::Rs256,
            "RS384" => Algorithm::Rs384,
            "RS512" => Algorithm::Rs512,
            "PS256" => Algorithm::Ps256,
            "PS384" => Algorithm::Ps384,
            "PS512" => Algorithm::Ps512,
            "ES256" => Algorithm::Es256,
            "ES384" => Algorithm::Es384,
            "EdDSA" => Algorithm::EdDsa,
            other => return Err(JwtError::Algorithm(other.chars().take(32).collect())),
        })
    }
}

/// A public key that may verify tokens.
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// RSA: modulus and exponent, big-endian.
    Rsa {
        /// Modulus.
        n: Vec<u8>,
        /// Public exponent.
        e: Vec<u8>,
    },
    /// ECDSA P-256: the uncompressed point.
    P256(Vec<u8>),
    /// ECDSA P-384: the uncompressed point.
    P384(Vec<u8>),
    /// Ed25519: the 32-byte key.
    Ed25519(Vec<u8>),
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Public, but long: the kind is what a reader needs.
        f.write_str(match self {
            PublicKey::Rsa { .. } => "PublicKey::Rsa",
            PublicKey::P256(_) => "PublicKey::P256",
            PublicKey::P384(_) => "PublicKey::P384",
            PublicKey::Ed25519(_) => "PublicKey::Ed25519",
        })
    }
}

/// One key of a JWKS, with the id tokens name it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEntry {
    /// The JWK's `kid`, if it has one.
    pub kid: Option<String>,
    /// The key.
    pub key: PublicKey,
}

impl PublicKey {
    /// A key from a JWK (RFC 7517): `kty` RSA (`n`, `e`), EC (`crv` P-256
    /// or P-384, `x`, `y`) or OKP (`crv` Ed25519, `x`).
    pub fn from_jwk(jwk: &Map<String, Value>) -> Result<Self, JwtError> {
        let field = |name: &str| -> Result<Vec<u8>, JwtError> {
            let text = jwk
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| JwtError::Key(format!("JWK has no {name}")))?;
            URL_SAFE_NO_PAD
                .decode(text)
                .map_err(|_| JwtError::Key(format!("JWK {name} is not base64url")))
        };
        let kty = jwk.get("kty").and_then(Value::as_str).unwrap_or_default();
        let crv = jwk.get("crv").and_then(Value::as_str).unwrap_or_default();
        match (kty, crv) {
            ("RSA", _) => Ok(PublicKey::Rsa {
                n: field("n")?,
                e: field("e")?,
            }),
            ("EC", "P-256") | ("EC", "P-384") => {
                let (x, y) = (field("x")?, field("y")?);
                let size = if crv == "P-256" { 32 } else { 48 };
                if x.len() != size || y.len() != size {
                    return Err(JwtError::Key(format!(
                        "JWK {crv} coordinates of the wrong size"
                    )));
                }
                let mut point = Vec::with_capacity(1 + 2 * size);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Ok(if size == 32 {
                    PublicKey::P256(point)
                } else {
                    PublicKey::P384(point)
                })
            }
            ("OKP", "Ed25519") => {
                let x = field("x")?;
                if x.len() != 32 {
                    return Err(JwtError::Key("JWK Ed25519 key is not 32 bytes".into()));
                }
                Ok(PublicKey::Ed25519(x))
            }
            _ => Err(JwtError::Key(format!(
                "JWK kty {:?} crv {:?} is not supported",
                kty.chars().take(16).collect::<String>(),
                crv.chars().take(16).collect::<String>()
            ))),
        }
    }

    /// Whether `signature` over `message` verifies under this key with
    /// `alg`. A key of another kind than the algorithm's never does.
    fn verifies(&self, alg: Algorithm, message: &[u8], sig: &[u8]) -> bool {
        use Algorithm::*;
        match (self, alg) {
            (PublicKey::Rsa { n, e }, Rs256 | Rs384 | Rs512 | Ps256 | Ps384 | Ps512) => {
                let params: &signature::RsaParameters = match alg {
                    Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                    Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                    Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
                    Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
                    _ => &signature::RSA_PSS_2048_8192_SHA512,
                };
                RsaPublicKeyComponents { n, e }
                    .verify(params, message, sig)
                    .is_ok()
            }
            (PublicKey::P256(point), Es256) => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, sig)
                    .is_ok()
            }
            (PublicKey::P384(point), Es384) => {
                UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, point)
                    .verify(message, sig)
                    .is_ok()
            }
            (PublicKey::Ed25519(key), EdDsa) => UnparsedPublicKey::new(&signature::ED25519, key)
                .verify(message, sig)
                .is_ok(),
            _ => false,
        }
    }
}

/// A token parsed but not yet trusted. It holds the token, a bearer
/// credential, so its Debug output names only the algorithm and key id.
pub struct Unverified {
    alg: Algorithm,
    kid: Option<String>,
    signing_input_len: usize,
    // Wiped when dropped: it is a bearer credential until it expires.
    token: zeroize::Zeroizing<String>,
    signature: Vec<u8>,
    claims: Map<String, Value>,
}

impl std::fmt::Debug for Unverified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unverified")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// The claims of a token whose signature verified.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims(pub Map<String, Value>);

/// Splits and decodes a token, refusing anything out of bounds or signed
/// with an algorithm not accepted here.
pub fn parse(token: &str) -> Result<Unverified, JwtError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JwtError::Malformed("longer than 16 KiB"));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed("not three dot-separated parts"));
    };
    let header = json_part(
        header,
        "header is not base64url",
        "header is not a bounded JSON object",
    )?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(JwtError::Malformed("header has no alg"))?;
    let alg = Algorithm::from_name(alg)?;
    if header.get("crit").is_some() {
        // RFC 7515 4.1.11: extensions this verifier does not know must fail.
        return Err(JwtError::Malformed("header has crit extensions"));
    }
    let kid = header.get("kid").and_then(Value::as_str).map(str::to_owned);
    let claims = json_part(
        payload,
        "payload is not base64url",
        "payload is not a bounded JSON object",
    )?;
    let signature = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| JwtError::Malformed("signature is not base64url"))?;
    Ok(Unverified {
        alg,
        kid,
        signing_input_len: token.len() - sig.len() - 1,
        token: zeroize::Zeroizing::new(token.to_owned()),
        signature,
        claims,
    })
}

/// One JSON part of the token, decoded within [`LIMITS`].
fn json_part(
    part: &str,
    not_base64: &'static str,
    not_json: &'static str,
) -> Result<Map<String, Value>, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed(not_base64))?;
    json_limits::parse_object(&bytes, &LIMITS).map_err(|_| JwtError::Malformed(not_json))
}

impl Unverified {
    /// The algorithm the header names.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The key id the header names, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The claims, for a caller that must read one (the issuer, to pick a
    /// discovery document) before it can verify. Not to be trusted.
    pub fn unverified_claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// The claims, if a key verifies the signature. A token naming a `kid`
    /// is tried only against keys with that id, or without one.
    pub fn verify(self, keys: &[KeyEntry]) -> Result<Claims, JwtError> {
        let message = &self.token.as_bytes()[..self.signing_input_len];
        let verified = keys
            .iter()
            .filter(|k| match (&self.kid, &k.kid) {
                (Some(wanted), Some(has)) => wanted == has,
                _ => true,
            })
            .any(|k| k.key.verifies(self.alg, message, &self.signature));
        if verified {
            Ok(Claims(self.claims))
        } else {
            Err(JwtError::Signature)
        }
    }
}

/// The role's tolerances for the time claims, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Leeways {
    /// Added to every comparison (`clock_skew_leeway`; Vault's default 60).
    pub clock_skew: u64,
    /// Added past `exp` (`expiration_leeway`; Vault's default 150).
    pub expiration: u64,
    /// Allowed before `nbf` (`not_before_leeway`; Vault's default 150).
    pub not_before: u64,
}

impl Claims {
    /// Checks `exp` (required), `nbf` and `iat` against `now` (Unix
    /// seconds) with the leeways.
    pub fn check_times(&self, now: u64, leeways: Leeways) -> Result<(), JwtError> {
        let seconds = |name: &str| -> Result<Option<u64>, JwtError> {
            match self.0.get(name) {
                None => Ok(None),
                Some(v) => v
                    .as_u64()
                    .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
                    .map(Some)
                    .ok_or(JwtError::Malformed(
                        "a time claim is not a number of seconds",
                    )),
            }
        };
        let exp = seconds("exp")?.ok_or(JwtError::MissingExpiry)?;
        let late = leeways.clock_skew.saturating_add(leeways.expiration);
        if now > exp.saturating_add(late) {
            return Err(JwtError::Expired);
        }
        let early = leeways.clock_skew.saturating_add(leeways.not_before);
        for name in ["nbf", "iat"] {
            if let Some(start) = seconds(name)?
                && start > now.saturating_add(early)
            {
                return Err(JwtError::NotYetValid);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
