//! Building audit entries: the request and response records, with every secret
//! replaced by its HMAC under the device's key.

use ring::{hkdf, hmac};
use serde_json::{Map, Value, json};

use super::AuditError;
use super::canonical::Body;
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
        let tag = hmac::sign(&self.key, input.as_bytes());
        let mut hex_text = [0u8; 64];
        let mut out = String::with_capacity(HMAC_PREFIX.len() + hex_text.len());
        out.push_str(HMAC_PREFIX);
        // 32 bytes always fit 64 hex digits, which are ASCII.
        if hex::encode_to_slice(tag.as_ref(), &mut hex_text).is_ok() {
            out.push_str(std::str::from_utf8(&hex_text).unwrap_or_default());
        }
        out
    }

    /// Replaces every string and number inside `value` by its HMAC (keys
    /// stay): a PIN stored as a number is as secret as one stored as text.
    fn hash_in_place(&self, value: &mut Value) {
        match value {
            Value::String(s) => *s = self.hash(s),
            Value::Number(n) => *value = Value::String(self.hash(&n.to_string())),
            Value::Array(items) => items.iter_mut().for_each(|v| self.hash_in_place(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.hash_in_place(v)),
            Value::Bool(_) | Value::Null => {}
        }
    }

    /// An entry as this device writes it: the raw entry with its secret fields
    /// (see [`SECRET_FIELDS`]) HMAC'd.
    pub fn redact(&self, raw: &Value) -> Value {
        self.redact_owned(raw.clone())
    }

    /// [`Hasher::redact`] of an entry no other device needs: in place.
    pub fn redact_owned(&self, mut out: Value) -> Value {
        for path in SECRET_FIELDS {
            if let Some(target) = field_mut(&mut out, path) {
                self.hash_in_place(target);
            }
        }
        out
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
pub(crate) fn bounded_data(
    data: &Map<String, Value>,
    authenticated: bool,
) -> (Value, Option<usize>) {
    let (max_values, max_bytes) = if authenticated {
        (1024, 64 << 10)
    } else {
        (64, 4 << 10)
    };
    let mut values = 0usize;
    let mut bytes = 0usize;
    let mut stack: Vec<&Value> = data.values().collect();
    bytes += data.keys().map(String::len).sum::<usize>();
    let mut over = false;
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
            over = true;
            break;
        }
    }
    if !over {
        return (Value::Object(data.clone()), None);
    }
    // Canonical: the same body gives the same text, so the same HMAC.
    let text = super::canonical_json(&Value::Object(data.clone()));
    let length = text.len();
    (json!({ "summarized_body": text }), Some(length))
}

/// JSON pointers of everything that is HMAC'd in an entry: the data both ways,
/// every token and accessor, and token metadata wherever it appears (Vault
/// and OpenBao log `auth.metadata` in the clear; it often names people,
/// hosts or tickets, and it rides on every request the token makes).
const SECRET_FIELDS: &[&str] = &[
    "/auth/client_token",
    "/auth/accessor",
    "/auth/metadata",
    "/request/client_token",
    "/request/data",
    "/response/data",
    "/response/auth/client_token",
    "/response/auth/accessor",
    "/response/auth/metadata",
    // With a passcode, it completes a login.
    "/response/auth/mfa_requirement/mfa_request_id",
    "/request/wrapping_token_accessor",
    "/response/wrap_info/token",
    "/response/wrap_info/accessor",
    "/response/wrap_info/wrapped_accessor",
];

/// The non-null value at `pointer` (one of [`SECRET_FIELDS`]: plain names,
/// no escapes), found without the allocations of a general JSON pointer.
fn field_mut<'a>(value: &'a mut Value, pointer: &str) -> Option<&'a mut Value> {
    let mut at = value;
    for name in pointer.split('/').skip(1) {
        at = at.as_object_mut()?.get_mut(name)?;
    }
    (!at.is_null()).then_some(at)
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
    fn large_request_data_is_recorded_as_one_hmac_and_its_length() {
        let key = Key256::from_slice(&[7; 32]).unwrap();
        let hasher = Hasher::new(&key).unwrap();
        let small: Map<String, Value> =
            serde_json::from_str(r#"{"role_id":"r","n":[1,2,3]}"#).unwrap();
        let (kept, length) = bounded_data(&small, false);
        assert_eq!((kept, length), (Value::Object(small.clone()), None));

        let numbers: Vec<Value> = (0..10_000).map(|i| json!(i)).collect();
        let big: Map<String, Value> = [("a".to_owned(), Value::Array(numbers))]
            .into_iter()
            .collect();
        let (summary, length) = bounded_data(&big, false);
        let text = crate::audit::canonical_json(&Value::Object(big.clone()));
        assert_eq!(length, Some(text.len()));
        let entry = json!({"request": {"data": summary}});
        let out = hasher.redact(&entry);
        let written = out.to_string();
        assert!(written.len() < 300, "{} bytes", written.len());
        assert_eq!(
            out["request"]["data"]["summarized_body"],
            hasher.hash(&text)
        );
        // With a valid token the bound is wider, but still a bound.
        assert!(bounded_data(&big, true).1.is_some());
        let medium: Map<String, Value> = [("a".to_owned(), json!((0..500).collect::<Vec<_>>()))]
            .into_iter()
            .collect();
        assert!(bounded_data(&medium, false).1.is_some());
        assert!(bounded_data(&medium, true).1.is_none());
    }

    #[test]
    fn secrets_are_hashed_and_the_rest_kept() {
        let hasher = Hasher::new(&Key256::from_slice(&[7; 32]).unwrap()).unwrap();
        let raw = json!({
            "type": "request",
            "auth": {"client_token": "s.token", "accessor": "acc", "policies": ["default"],
                     "metadata": {"team": "payments-oncall"}},
            "request": {"path": "secret/data/app", "data": {"data": {"pw": "hunter2", "n": 3}}},
        });
        let out = hasher.redact(&raw);
        let text = out.to_string();
        for secret in ["s.token", "\"acc\"", "hunter2", "payments-oncall"] {
            assert!(!text.contains(secret), "{text}");
        }
        assert_eq!(out["request"]["path"], "secret/data/app");
        assert_eq!(out["request"]["data"]["data"]["n"], hasher.hash("3"));
        // A checkpoint signature is not the field HMAC of its message.
        assert_ne!(
            hasher.sign_checkpoint(1, "00"),
            hasher.hash(&checkpoint_message(1, "00"))
        );
        assert_eq!(out["auth"]["policies"][0], "default");
        assert_eq!(out["request"]["data"]["data"]["pw"], hasher.hash("hunter2"));
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
