//! What a device's key does to its entries: secret values written as their
//! HMACs, checkpoints signed; and how much of a request's data an entry holds.

use ring::{hkdf, hmac};
use serde_json::{Map, Value, json};

use super::AuditError;
use super::canonical::{Body, canonical_object, write_leaves_of};
use crate::clock;
use crate::secret::Key256;

/// HMACs values for one device. Checkpoints are signed under a second key,
/// derived from the device key with HKDF-SHA256 (RFC 5869) rather than as an
/// HMAC under it: everything the device writes for a caller's input is
/// `HMAC(device key, input)`, so a key that is itself such an HMAC (as v1's
/// `HMAC(device key, "vault-audit-checkpoint-key-v1")` was) can be put into
/// the log by anyone who can send that string, and then signs forged
/// checkpoints. HKDF's extract step uses the device key as the *message* under
/// a fixed salt, a computation the value path never makes.
pub struct Hasher {
    key: hmac::Key,
    checkpoint_key: hmac::Key,
}

/// HKDF's salt for the checkpoint key: fixed, public, ours alone.
const CHECKPOINT_KEY_SALT: &[u8] = b"vault-audit-checkpoint-key-salt";
/// HKDF's info for the checkpoint key. v1 was the HMAC derivation above; a
/// checkpoint signed under it no longer verifies (see the module docs).
const CHECKPOINT_KEY_INFO: &[u8] = b"vault-audit-checkpoint-key-v2";

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hasher(<key redacted>)")
    }
}

impl Hasher {
    /// A hasher with the device's key.
    pub fn new(key: &Key256) -> Result<Self, AuditError> {
        let prk =
            hkdf::Salt::new(hkdf::HKDF_SHA256, CHECKPOINT_KEY_SALT).extract(key.expose_secret());
        // Expanding fails only for outputs over 255 hash lengths; one key is one.
        let checkpoint_key = prk
            .expand(&[CHECKPOINT_KEY_INFO], hmac::HMAC_SHA256)
            .map(hmac::Key::from)
            .map_err(|_| AuditError::KeyDerivation)?;
        Ok(Hasher {
            key: hmac::Key::new(hmac::HMAC_SHA256, key.expose_secret()),
            checkpoint_key,
        })
    }

    /// The signature of the checkpoint at `seq` after `prev_hash`.
    pub fn sign_checkpoint(&self, seq: u64, prev_hash: &str) -> String {
        let message = checkpoint_message(seq, prev_hash);
        format!(
            "hmac-sha256:{}",
            hex::encode(hmac::sign(&self.checkpoint_key, message.as_bytes()))
        )
    }

    /// `hmac-sha256:<hex>` of `input`.
    pub fn hash(&self, input: &str) -> String {
        let mut out = Vec::with_capacity(HMAC_PREFIX.len() + 64);
        self.write_hash_text(input, &mut out);
        // Only ASCII was written.
        String::from_utf8(out).unwrap_or_default()
    }

    /// [`Hasher::hash`] of `input` as a JSON string, appended to `out`
    /// (the prefix and hex digits need no escaping).
    pub(crate) fn write_hash(&self, input: &str, out: &mut Vec<u8>) {
        out.push(b'"');
        self.write_hash_text(input, out);
        out.push(b'"');
    }

    /// `hmac-sha256:<hex>` of `input`, appended to `out`.
    fn write_hash_text(&self, input: &str, out: &mut Vec<u8>) {
        let tag = hmac::sign(&self.key, input.as_bytes());
        let mut hex_text = [0u8; 64];
        out.extend_from_slice(HMAC_PREFIX.as_bytes());
        // 32 bytes always fit 64 hex digits.
        if hex::encode_to_slice(tag.as_ref(), &mut hex_text).is_ok() {
            out.extend_from_slice(&hex_text);
        }
    }

    /// `map` in canonical form with every string and number in it (keys
    /// stay) written as its HMAC: a PIN stored as a number is as secret as
    /// one stored as text.
    pub(crate) fn write_hashed_map(&self, map: &Map<String, Value>, out: &mut Vec<u8>) {
        write_leaves_of(map, &|leaf, out| self.write_hash(leaf, out), out);
    }
}

/// What every HMAC in an entry starts with.
const HMAC_PREFIX: &str = "hmac-sha256:";

/// Request data as an entry records it, bounded: every string and number in
/// it becomes a 76-byte HMAC, so a body of many small values would cost far
/// more audit space than its own size. Past `MAX_VALUES` values or
/// `MAX_BYTES` of text (tighter for a request without a valid token, which
/// anyone can send), the entry holds the canonical body as one string, which
/// every device HMACs as one value, and `data_length` says how long it was.
#[derive(Debug, PartialEq)]
pub(crate) enum Bounded<'a> {
    /// Small enough: recorded as it is, its values HMAC'd.
    Whole(&'a Map<String, Value>),
    /// Too large: its canonical text, recorded as `{"summarized_body": HMAC}`.
    Summarized(String),
}

/// [`Bounded`] of `data`.
pub(crate) fn bounded_data(data: &Map<String, Value>, authenticated: bool) -> Bounded<'_> {
    let (max_values, max_bytes) = if authenticated {
        (1024, 64 << 10)
    } else {
        (64, 4 << 10)
    };
    let mut values = 0usize;
    let mut bytes = 0usize;
    let mut stack: Vec<&Value> = data.values().collect();
    bytes += data.keys().map(String::len).sum::<usize>();
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => {
                values += 1;
                bytes += s.len();
            }
            Value::Number(_) => {
                values += 1;
                bytes += 8;
            }
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => {
                bytes += map.keys().map(String::len).sum::<usize>();
                stack.extend(map.values());
            }
            Value::Bool(_) | Value::Null => bytes += 4,
        }
        if values > max_values || bytes > max_bytes {
            // Canonical: the same body gives the same text, so the same HMAC.
            return Bounded::Summarized(canonical_object(data));
        }
    }
    Bounded::Whole(data)
}

/// The text a checkpoint signature is the HMAC of.
pub fn checkpoint_message(seq: u64, prev_hash: &str) -> String {
    format!("vault-audit-checkpoint\n{seq}\n{prev_hash}")
}

/// A checkpoint entry (the chain fields are added by the device).
pub(crate) fn checkpoint_body(hasher: &Hasher, seq: u64, prev_hash: &str, reason: &str) -> Body {
    let mut body = Map::new();
    body.insert("time".into(), json!(clock::rfc3339(clock::now_unix())));
    body.insert("type".into(), json!("checkpoint"));
    body.insert(
        "checkpoint".into(),
        json!({ "reason": reason, "signature": hasher.sign_checkpoint(seq, prev_hash) }),
    );
    Body::new(&body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_data_past_its_bound_is_summarised_as_its_canonical_text() {
        let small: Map<String, Value> =
            serde_json::from_str(r#"{"role_id":"r","n":[1,2,3]}"#).unwrap();
        assert_eq!(bounded_data(&small, false), Bounded::Whole(&small));

        let numbers: Vec<Value> = (0..10_000).map(|i| json!(i)).collect();
        let big: Map<String, Value> = [("a".to_owned(), Value::Array(numbers))]
            .into_iter()
            .collect();
        let text = crate::audit::canonical_json(&Value::Object(big.clone()));
        assert_eq!(bounded_data(&big, false), Bounded::Summarized(text));
        // With a valid token the bound is wider, but still a bound.
        assert!(matches!(bounded_data(&big, true), Bounded::Summarized(_)));
        let medium: Map<String, Value> = [("a".to_owned(), json!((0..500).collect::<Vec<_>>()))]
            .into_iter()
            .collect();
        assert!(matches!(
            bounded_data(&medium, false),
            Bounded::Summarized(_)
        ));
        assert_eq!(bounded_data(&medium, true), Bounded::Whole(&medium));
    }

    #[test]
    fn data_is_written_with_every_value_hashed_and_its_keys_kept() {
        let hasher = Hasher::new(&Key256::from_slice(&[7; 32]).unwrap()).unwrap();
        let data = json!({"b": {"pw": "hunter2", "n": 3}, "a": [true, null, "x"]});
        let mut out = Vec::new();
        hasher.write_hashed_map(data.as_object().unwrap(), &mut out);
        let expected = format!(
            r#"{{"a":[true,null,"{x}"],"b":{{"n":"{three}","pw":"{pw}"}}}}"#,
            x = hasher.hash("x"),
            three = hasher.hash("3"),
            pw = hasher.hash("hunter2"),
        );
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        assert!(hasher.hash("x").starts_with("hmac-sha256:"));
        assert_eq!(hasher.hash("x").len(), 12 + 64);
        // A checkpoint signature is not the field HMAC of its message.
        assert_ne!(
            hasher.sign_checkpoint(1, "00"),
            hasher.hash(&checkpoint_message(1, "00"))
        );
    }

    #[test]
    fn the_checkpoint_key_is_hkdf_of_the_device_key() {
        let hasher = Hasher::new(&Key256::from_slice(&[7; 32]).unwrap()).unwrap();
        // Computed apart from ring (Python's hmac, RFC 5869 by hand): a change
        // of derivation would leave every existing checkpoint unverifiable.
        assert_eq!(
            hasher.sign_checkpoint(1, "00"),
            "hmac-sha256:0cd7fdd31032821844a07bebd1bde18afa5a9df14eb3159057d0ec6c24248fa8"
        );
    }

    #[test]
    fn no_logged_value_is_the_checkpoint_key() {
        let hasher = Hasher::new(&Key256::from_slice(&[9; 32]).unwrap()).unwrap();
        let message = checkpoint_message(3, "ab");
        let labels = [
            "vault-audit-checkpoint-key-v1",
            "vault-audit-checkpoint-key-v2",
            "vault-audit-checkpoint-key-salt",
            "",
        ];
        for label in labels {
            // What the log holds for `label`, taken as a key by an attacker.
            let logged = hasher.hash(label);
            let bytes = hex::decode(logged.trim_start_matches("hmac-sha256:")).unwrap();
            let forger = Hasher::new(&Key256::from_slice(&bytes).unwrap()).unwrap();
            assert_ne!(
                forger.hash(&message),
                hasher.sign_checkpoint(3, "ab"),
                "{label}"
            );
        }
    }
}
