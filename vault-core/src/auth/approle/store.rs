//! What the AppRole method keeps in its view and how: the keyed hash that keeps
//! credentials out of storage key names, the role and secret_id records, and
//! the only code that builds storage keys (the layout is described in `mod.rs`).

use std::collections::BTreeMap;
use std::fmt;

use ring::hmac;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::barrier::{BarrierError, BarrierOp};
use crate::clock;
use crate::engines::{EngineError, View};
use crate::request::Data;
use crate::secret::{Key256, SecretBytes};

/// Where the mount's HMAC key lives.
const SALT_PATH: &str = "salt";
/// The folder of role records; its children are the role names.
pub(super) const ROLE_FOLDER: &str = "role/";

/// The storage key of role `name`'s record.
pub(super) fn role_key(name: &str) -> String {
    format!("{ROLE_FOLDER}{name}")
}

/// The folder holding role `name`'s secret_id records.
pub(super) fn secret_id_folder(name: &str) -> String {
    format!("secret_id/{name}/")
}

/// The storage key of a secret_id record, from the secret_id's keyed hash.
pub(super) fn secret_id_key(name: &str, hash: &str) -> String {
    format!("secret_id/{name}/{hash}")
}

/// The folder holding role `name`'s accessor index.
pub(super) fn accessor_folder(name: &str) -> String {
    format!("accessor/{name}/")
}

/// The per-mount HMAC-SHA256 key. Storage key names are not encrypted, so every
/// credential that addresses a record (role_id, secret_id, accessor) appears in a
/// key name only as its keyed hash: someone reading the raw database learns
/// neither the credential nor, without the key, anything to test guesses against.
pub(super) struct Salt(Key256);

impl fmt::Debug for Salt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Salt(<redacted>)")
    }
}

impl Salt {
    /// The mount's key, if one has been made.
    pub(super) async fn load(view: &View<'_>) -> Result<Option<Salt>, EngineError> {
        let Some(bytes) = view.get(SALT_PATH).await? else {
            return Ok(None);
        };
        Key256::from_slice(bytes.expose_secret())
            .map(|key| Some(Salt(key)))
            .ok_or_else(|| malformed(view, SALT_PATH))
    }

    /// The mount's key, made on first use. `init` serialises the making, so two
    /// first writes cannot each store (and hash under) a different key.
    pub(super) async fn load_or_create(
        view: &View<'_>,
        init: &tokio::sync::Mutex<()>,
    ) -> Result<Salt, EngineError> {
        if let Some(salt) = Salt::load(view).await? {
            return Ok(salt);
        }
        let _guard = init.lock().await;
        if let Some(salt) = Salt::load(view).await? {
            return Ok(salt);
        }
        let key = Key256::generate().map_err(BarrierError::from)?;
        view.put(SALT_PATH, key.expose_secret()).await?;
        Ok(Salt(key))
    }

    /// HMAC-SHA256 of `value`, hex, in the domain `kind`. The domain keeps
    /// equal strings of different kinds (a role_id reused as a secret_id) from
    /// hashing to the same name, which would show that they are equal.
    fn hash(&self, kind: &str, value: &str) -> String {
        // The key is exposed only to key the MAC.
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.0.expose_secret());
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(kind.as_bytes());
        ctx.update(&[0]);
        ctx.update(value.as_bytes());
        hex::encode(ctx.sign())
    }

    /// The storage key of the role_id index entry for `role_id`.
    pub(super) fn role_id_key(&self, role_id: &str) -> String {
        format!("role_id/{}", self.hash("role_id", role_id))
    }

    /// The keyed hash that names `secret_id`'s record.
    pub(super) fn secret_id_hash(&self, secret_id: &str) -> String {
        self.hash("secret_id", secret_id)
    }

    /// The storage key of the accessor index entry for `accessor` of role `name`.
    /// Scoped by role, so an accessor presented under another role's path finds
    /// nothing there.
    pub(super) fn accessor_key(&self, name: &str, accessor: &str) -> String {
        format!(
            "{}{}",
            accessor_folder(name),
            self.hash("accessor", accessor)
        )
    }
}

/// A role (`role/<name>`). Durations are milliseconds.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct RoleEntry {
    /// The role's RoleID: a credential, so it is kept only here (encrypted) and,
    /// hashed, in the index.
    pub(super) role_id: String,
    /// Login needs a secret_id.
    pub(super) bind_secret_id: bool,
    /// Networks logins (and secret_ids) may come from.
    pub(super) secret_id_bound_cidrs: Vec<String>,
    /// Uses a new secret_id gets (0: unlimited).
    pub(super) secret_id_num_uses: u64,
    /// Life of a new secret_id (0: forever).
    pub(super) secret_id_ttl: u64,
    /// Policies of tokens issued (canonical names).
    pub(super) token_policies: Vec<String>,
    /// Leave `default` out of issued tokens.
    pub(super) token_no_default_policy: bool,
    /// TTL of issued tokens (0: the mount's default).
    pub(super) token_ttl: u64,
    /// Longest life of a non-periodic issued token (0: the mount's).
    pub(super) token_max_ttl: u64,
    /// Hard limit on issued tokens, periodic or not (0: none).
    pub(super) token_explicit_max_ttl: u64,
    /// Issued tokens are periodic with this period (0: not periodic).
    pub(super) token_period: u64,
    /// Uses of issued tokens (0: unlimited).
    pub(super) token_num_uses: u64,
    /// Networks issued tokens may be used from.
    pub(super) token_bound_cidrs: Vec<String>,
}

impl Default for RoleEntry {
    fn default() -> Self {
        RoleEntry {
            role_id: String::new(),
            // Vault's default: a role without it needs another constraint.
            bind_secret_id: true,
            secret_id_bound_cidrs: Vec::new(),
            secret_id_num_uses: 0,
            secret_id_ttl: 0,
            token_policies: Vec::new(),
            token_no_default_policy: false,
            token_ttl: 0,
            token_max_ttl: 0,
            token_explicit_max_ttl: 0,
            token_period: 0,
            token_num_uses: 0,
            token_bound_cidrs: Vec::new(),
        }
    }
}

impl fmt::Debug for RoleEntry {
    // By hand: the role_id is a credential and must not reach a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoleEntry")
            .field("role_id", &"<redacted>")
            .field("bind_secret_id", &self.bind_secret_id)
            .field("secret_id_bound_cidrs", &self.secret_id_bound_cidrs)
            .field("secret_id_num_uses", &self.secret_id_num_uses)
            .field("secret_id_ttl", &self.secret_id_ttl)
            .field("token_policies", &self.token_policies)
            .field("token_ttl", &self.token_ttl)
            .field("token_max_ttl", &self.token_max_ttl)
            .field("token_period", &self.token_period)
            .field("token_num_uses", &self.token_num_uses)
            .field("token_bound_cidrs", &self.token_bound_cidrs)
            .finish_non_exhaustive()
    }
}

impl RoleEntry {
    /// The role as `role/<name>` reads show it (durations in seconds).
    pub(super) fn to_data(&self) -> Data {
        let secs = |ms: u64| ms / 1000;
        object(json!({
            "bind_secret_id": self.bind_secret_id,
            "secret_id_bound_cidrs": self.secret_id_bound_cidrs,
            "secret_id_num_uses": self.secret_id_num_uses,
            "secret_id_ttl": secs(self.secret_id_ttl),
            "token_policies": self.token_policies,
            "policies": self.token_policies,
            "token_no_default_policy": self.token_no_default_policy,
            "token_ttl": secs(self.token_ttl),
            "token_max_ttl": secs(self.token_max_ttl),
            "token_explicit_max_ttl": secs(self.token_explicit_max_ttl),
            "token_period": secs(self.token_period),
            "token_num_uses": self.token_num_uses,
            "token_bound_cidrs": self.token_bound_cidrs,
            "token_type": "default",
        }))
    }
}

/// One secret_id (`secret_id/<role>/<hash>`). The secret_id itself is never
/// stored. Times are Unix milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct SecretIdEntry {
    /// The role it was made for; checked again on every use.
    pub(super) role_name: String,
    /// Its accessor (a handle for operators, not a credential).
    pub(super) accessor: String,
    /// Uses left (0: unlimited).
    pub(super) num_uses: u64,
    /// The TTL it was made with (0: none).
    pub(super) ttl: u64,
    /// When it was made.
    pub(super) creation_time: u64,
    /// When it dies (0: never).
    pub(super) expiration_time: u64,
    /// When a use last changed it.
    pub(super) last_updated_time: u64,
    /// The operator's labels.
    pub(super) metadata: BTreeMap<String, String>,
    /// Networks logins with it may come from (empty: anywhere the role allows).
    pub(super) cidr_list: Vec<String>,
}

impl SecretIdEntry {
    /// True once its TTL has run out at `now`.
    pub(super) fn is_expired(&self, now: u64) -> bool {
        self.expiration_time != 0 && now >= self.expiration_time
    }

    /// The record as the lookup endpoints show it.
    pub(super) fn to_data(&self) -> Data {
        let time = |ms: u64| clock::rfc3339(ms / 1000);
        object(json!({
            "creation_time": time(self.creation_time),
            // Vault shows Go's zero time for a secret_id that never expires.
            "expiration_time": if self.expiration_time == 0 {
                "0001-01-01T00:00:00Z".to_owned()
            } else {
                time(self.expiration_time)
            },
            "last_updated_time": time(self.last_updated_time),
            "metadata": self.metadata,
            "secret_id_accessor": self.accessor,
            "secret_id_num_uses": self.num_uses,
            "secret_id_ttl": self.ttl / 1000,
            "cidr_list": self.cidr_list,
        }))
    }
}

/// The object inside a `json!({...})` literal.
pub(super) fn object(value: Value) -> Data {
    match value {
        Value::Object(map) => map,
        _ => Data::new(),
    }
}

const MALFORMED: &str = "the stored AppRole record is malformed";

/// The integrity error for a stored record that does not decode.
pub(super) fn malformed(view: &View<'_>, path: &str) -> EngineError {
    crate::engines::shared::malformed(view, path, MALFORMED)
}

/// The record at `path`, decoded.
pub(super) async fn load<T: DeserializeOwned>(
    view: &View<'_>,
    path: &str,
) -> Result<Option<T>, EngineError> {
    crate::engines::shared::load_json(view, path, MALFORMED).await
}

pub(super) use crate::engines::shared::put_json as put;

/// A [`BarrierOp::Put`] of plain text (an index entry) at `path`.
pub(super) fn put_text(path: String, text: &str) -> BarrierOp {
    BarrierOp::Put {
        path,
        value: SecretBytes::new(text.as_bytes().to_vec()),
    }
}

/// The plain-text index entry at `path`.
pub(super) async fn load_text(view: &View<'_>, path: &str) -> Result<Option<String>, EngineError> {
    let Some(bytes) = view.get(path).await? else {
        return Ok(None);
    };
    String::from_utf8(bytes.expose_secret().to_vec())
        .map(Some)
        .map_err(|_| malformed(view, path))
}

/// Role `name`, if it exists.
pub(super) async fn load_role(
    view: &View<'_>,
    name: &str,
) -> Result<Option<RoleEntry>, EngineError> {
    load(view, &role_key(name)).await
}

/// A [`BarrierOp::Delete`] of `path`.
pub(super) fn delete(path: String) -> BarrierOp {
    BarrierOp::Delete { path }
}
