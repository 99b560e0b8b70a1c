//! Public keys given as PEM (`jwt_validation_pubkeys`, Kubernetes'
//! `pem_keys`): `PUBLIC KEY` blocks (SubjectPublicKeyInfo) or
//! `CERTIFICATE` blocks (the certificate's key), RSA, ECDSA P-256/P-384 or
//! Ed25519. Parsing is x509-parser's; the keys verify through ring
//! ([`super::verify`]).

use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
    OID_SIG_ED25519,
};
use x509_parser::pem::Pem;
use x509_parser::prelude::FromDer as _;
use x509_parser::public_key::PublicKey as Parsed;
use x509_parser::x509::SubjectPublicKeyInfo;

use super::verify::{JwtError, KeyEntry, PublicKey};

/// Keys one PEM text may hold.
pub const MAX_PEM_KEYS: usize = 64;

/// The keys in `text`, in order; each block must be a usable key.
pub fn keys(text: &str) -> Result<Vec<KeyEntry>, JwtError> {
    let mut out = Vec::new();
    for (i, block) in Pem::iter_from_buffer(text.as_bytes()).enumerate() {
        let n = i + 1;
        if n > MAX_PEM_KEYS {
            return Err(JwtError::Key(format!(
                "more than {MAX_PEM_KEYS} PEM blocks"
            )));
        }
        let block =
            block.map_err(|e| JwtError::Key(format!("PEM block {n} is not valid PEM: {e}")))?;
        let key = match block.label.as_str() {
            "PUBLIC KEY" => {
                let (_, spki) = SubjectPublicKeyInfo::from_der(&block.contents).map_err(|e| {
                    JwtError::Key(format!("PEM block {n} is not a public key: {e}"))
                })?;
                from_spki(&spki)
            }
            "CERTIFICATE" => {
                let (_, cert) =
                    x509_parser::parse_x509_certificate(&block.contents).map_err(|e| {
                        JwtError::Key(format!("PEM block {n} is not a certificate: {e}"))
                    })?;
                from_spki(cert.public_key())
            }
            other => Err(JwtError::Key(format!(
                "a {other:?} block; expected PUBLIC KEY or CERTIFICATE"
            ))),
        }
        .map_err(|e| JwtError::Key(format!("PEM block {n}: {e}")))?;
        out.push(KeyEntry { kid: None, key });
    }
    if out.is_empty() {
        return Err(JwtError::Key("no PEM public key found".into()));
    }
    Ok(out)
}

fn from_spki(spki: &SubjectPublicKeyInfo<'_>) -> Result<PublicKey, JwtError> {
    let algorithm = &spki.algorithm.algorithm;
    let bits = spki.subject_public_key.data.to_vec();
    if *algorithm == OID_SIG_ED25519 {
        return if bits.len() == 32 {
            Ok(PublicKey::Ed25519(bits))
        } else {
            Err(JwtError::Key("an Ed25519 key is not 32 bytes".into()))
        };
    }
    if *algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .ok_or_else(|| JwtError::Key("an EC key without its curve".into()))?;
        return if curve == OID_EC_P256 {
            Ok(PublicKey::P256(bits))
        } else if curve == OID_NIST_EC_P384 {
            Ok(PublicKey::P384(bits))
        } else {
            Err(JwtError::Key(format!(
                "EC curve {curve} is not supported; expected P-256 or P-384"
            )))
        };
    }
    if *algorithm == OID_PKCS1_RSAENCRYPTION {
        return match spki.parsed() {
            Ok(Parsed::RSA(rsa)) => Ok(PublicKey::Rsa {
                n: strip_zeros(rsa.modulus),
                e: strip_zeros(rsa.exponent),
            }),
            _ => Err(JwtError::Key("an RSA key that does not parse".into())),
        };
    }
    Err(JwtError::Key(format!(
        "key algorithm {algorithm} is not supported; expected RSA, EC or Ed25519"
    )))
}

/// DER integers carry a leading zero when the top bit is set.
fn strip_zeros(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes[start..].to_vec()
}
