//! Connection configs (`config/<name>`): the stored record, how a write is
//! read from a request (Vault's field names), and what a read shows: Vault's
//! shape, never a password.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::connection::ConnectSpec;
use super::fields;
use super::target::UrlTemplate;
use crate::barrier::BarrierError;
use crate::barrier::BarrierOp;
use crate::engines::EngineError;
use crate::engines::View;
use crate::engines::shared::{load_json, put_json};
use crate::params;
use crate::request::Data;
use crate::secret::SecretString;

/// The only plugin this engine speaks.
pub(super) const PLUGIN_NAME: &str = "postgresql-database-plugin";
/// Where configs are stored in the mount's view.
pub(super) const CONFIG_PREFIX: &str = "config/";
/// Default prefix of the roles `reconcile` looks at.
pub(super) const DEFAULT_RECONCILE_PREFIX: &str = "v-";
const DEFAULT_MAX_OPEN: u64 = 4;
const MAX_OPEN_LIMIT: u64 = 1_000;
const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5_000;
const DEFAULT_OPERATION_TIMEOUT_MS: u64 = 10_000;
/// The most PBKDF2 rounds a verifier may ask for: the vault pays them for
/// every credential, on the request's thread.
const MAX_SCRAM_ITERATIONS: u64 = 1_000_000;

/// A password as stored behind the barrier: serialised as plain text inside
/// the encrypted record, wiped from memory when dropped, never printed.
#[derive(Clone)]
pub(super) struct StoredSecret(pub SecretString);

impl StoredSecret {
    pub(super) fn new(text: String) -> Self {
        StoredSecret(SecretString::new(text))
    }
}

impl std::fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for StoredSecret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.expose_secret())
    }
}

impl<'de> Deserialize<'de> for StoredSecret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(StoredSecret::new)
    }
}

/// A stored connection config.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct ConfigRecord {
    pub plugin_name: String,
    /// The URL template as written (placeholders, never a password).
    pub connection_url: String,
    pub username: String,
    pub password: StoredSecret,
    /// The password of a root rotation in progress: the database may already
    /// have it. Tried when the current one is refused (see `rotate.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_password: Option<StoredSecret>,
    pub allowed_roles: Vec<String>,
    pub verify_connection: bool,
    pub max_open_connections: u64,
    pub connect_timeout_ms: u64,
    pub operation_timeout_ms: u64,
    pub reconcile_prefix: String,
    pub root_rotation_statements: Vec<String>,
    /// What `{{password}}` becomes in statements (Vault's field).
    #[serde(default)]
    pub password_authentication: PasswordAuthentication,
    /// PBKDF2 rounds of the SCRAM verifiers the vault makes (with
    /// `scram-sha-256`); PostgreSQL's default unless an operator lowers it
    /// (README: "SCRAM rounds").
    #[serde(default = "default_scram_iterations")]
    pub scram_iterations: u32,
    /// Changes with every change of the record; a pool made from another
    /// revision is replaced.
    pub revision: String,
}

impl std::fmt::Debug for ConfigRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigRecord")
            .field("plugin_name", &self.plugin_name)
            .field("username", &self.username)
            .field("allowed_roles", &self.allowed_roles)
            .field("revision", &self.revision)
            .finish_non_exhaustive()
    }
}

/// What `{{password}}` is filled with: the password itself (Vault's
/// default), or its SCRAM-SHA-256 verifier, made by the vault and stored as is
/// by PostgreSQL (10 and later).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum PasswordAuthentication {
    #[default]
    #[serde(rename = "password")]
    Password,
    #[serde(rename = "scram-sha-256")]
    ScramSha256,
}

impl PasswordAuthentication {
    fn name(self) -> &'static str {
        match self {
            PasswordAuthentication::Password => "password",
            PasswordAuthentication::ScramSha256 => "scram-sha-256",
        }
    }
}

fn default_scram_iterations() -> u32 {
    super::scram::DEFAULT_ITERATIONS.get()
}

/// The storage key of config `name`.
pub(super) fn key(name: &str) -> String {
    format!("{CONFIG_PREFIX}{name}")
}

/// Config `name`, if stored.
pub(super) async fn load(view: &View<'_>, name: &str) -> Result<Option<ConfigRecord>, EngineError> {
    load_json(view, &key(name), "database config").await
}

/// The op that stores `record` as config `name`.
pub(super) fn put(name: &str, record: &ConfigRecord) -> Result<BarrierOp, EngineError> {
    put_json(key(name), record)
}

/// A fresh revision id.
pub(super) fn new_revision() -> Result<String, EngineError> {
    Ok(crate::random::alphanumeric(16).map_err(BarrierError::from)?)
}

impl ConfigRecord {
    /// True if `role` may use this config: `*`, its name, or a glob (`ro-*`).
    pub(super) fn allows(&self, role: &str) -> bool {
        self.allowed_roles
            .iter()
            .any(|pattern| glob_match(pattern, role))
    }

    /// How to connect, with `password` (the current one unless a rotation
    /// says otherwise) and the pending one as fallback.
    pub(super) fn spec(&self, name: &str) -> Result<ConnectSpec, String> {
        Ok(ConnectSpec {
            name: name.to_owned(),
            url: UrlTemplate::parse(&self.connection_url)?,
            username: self.username.clone(),
            password: self.password.0.clone(),
            pending: self.pending_password.as_ref().map(|p| p.0.clone()),
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            operation_timeout: Duration::from_millis(self.operation_timeout_ms),
            max_open: usize::try_from(self.max_open_connections).unwrap_or(usize::MAX),
        })
    }

    /// What `{{password}}` stands for in a statement that sets `password`.
    pub(super) fn statement_password(
        &self,
        password: &crate::secret::SecretString,
    ) -> Result<zeroize::Zeroizing<String>, EngineError> {
        Ok(match self.password_authentication {
            PasswordAuthentication::Password => {
                zeroize::Zeroizing::new(password.expose_secret().to_owned())
            }
            PasswordAuthentication::ScramSha256 => {
                let rounds = std::num::NonZeroU32::new(self.scram_iterations)
                    .unwrap_or(super::scram::DEFAULT_ITERATIONS);
                super::scram::verifier(password.expose_secret(), rounds)
                    .map_err(BarrierError::from)?
            }
        })
    }

    /// What a read shows: Vault's shape, without any password.
    pub(super) fn to_data(&self) -> Data {
        let value = json!({
            "plugin_name": self.plugin_name,
            "plugin_version": "",
            "connection_details": {
                "connection_url": self.connection_url,
                "username": self.username,
                "max_open_connections": self.max_open_connections,
                "connect_timeout": params::format_duration_ms(self.connect_timeout_ms),
                "operation_timeout": params::format_duration_ms(self.operation_timeout_ms),
            },
            "allowed_roles": self.allowed_roles,
            "verify_connection": self.verify_connection,
            "root_credentials_rotate_statements": self.root_rotation_statements,
            "password_policy": "",
            "password_authentication": self.password_authentication.name(),
            "scram_iterations": self.scram_iterations,
            "reconcile_prefix": self.reconcile_prefix,
        });
        match value {
            Value::Object(map) => map,
            _ => Data::new(),
        }
    }
}

/// Fields a config write takes. Vault fields we accept only at their
/// defaults are in `DEFAULT_ONLY`.
const FIELDS: &[&str] = &[
    "plugin_name",
    "connection_url",
    "username",
    "password",
    "allowed_roles",
    "verify_connection",
    "max_open_connections",
    "connect_timeout",
    "operation_timeout",
    "reconcile_prefix",
    "root_rotation_statements",
    "password_authentication",
    "scram_iterations",
    // Accepted and ignored: every session is opened on demand and kept idle
    // until it fails, so these tunings have nothing to act on.
    "max_idle_connections",
    "max_connection_lifetime",
];

/// Vault fields a write may send only with their default value (clients such
/// as Terraform send them all): anything else would be silently ignored.
const DEFAULT_ONLY: &[(&str, &str)] = &[
    ("plugin_version", ""),
    ("password_policy", ""),
    ("username_template", ""),
    ("disable_escaping", "false"),
];

/// The record a write of config `name` makes, from the stored one (if any)
/// and the request body. Fields the body leaves out keep their stored value;
/// a new password clears a pending one. The stored password is kept only for
/// the server and user it was given for: a write that changes
/// `connection_url` (any part of it: host, port, database, TLS settings) or
/// `username` must send `password` too.
pub(super) fn apply_write(
    existing: Option<ConfigRecord>,
    data: &Data,
) -> Result<ConfigRecord, EngineError> {
    reject_unknown(data)?;
    let field = |e: params::FieldError| EngineError::InvalidRequest(e.to_string());
    let plugin_name = params::string(data, "plugin_name").map_err(field)?;
    if let Some(plugin) = &plugin_name
        && plugin != PLUGIN_NAME
    {
        return Err(EngineError::InvalidRequest(format!(
            "unsupported plugin_name {plugin:?}: this engine serves only {PLUGIN_NAME}"
        )));
    }
    let connection_url = params::string(data, "connection_url").map_err(field)?;
    let username = params::string(data, "username").map_err(field)?;
    let password = params::string(data, "password").map_err(field)?;
    if let Some(stored) = &existing {
        let url_changes = connection_url
            .as_deref()
            .is_some_and(|url| url.trim() != stored.connection_url);
        let user_changes = username.as_deref().is_some_and(|u| u != stored.username);
        if (url_changes || user_changes) && password.is_none() {
            // Else whoever may write the config could point it at a server of
            // theirs, and the next connect would hand them the root password.
            return Err(EngineError::InvalidRequest(
                "changing connection_url or username requires password: the stored password \
                 is only ever sent to the server it was given for"
                    .into(),
            ));
        }
    }
    let mut record = match existing {
        Some(record) => record,
        None => ConfigRecord {
            plugin_name: plugin_name
                .clone()
                .ok_or_else(|| EngineError::InvalidRequest("plugin_name is required".into()))?,
            connection_url: connection_url
                .clone()
                .ok_or_else(|| EngineError::InvalidRequest("connection_url is required".into()))?,
            username: String::new(),
            password: StoredSecret::new(String::new()),
            pending_password: None,
            allowed_roles: Vec::new(),
            verify_connection: true,
            max_open_connections: DEFAULT_MAX_OPEN,
            connect_timeout_ms: DEFAULT_CONNECT_TIMEOUT_MS,
            operation_timeout_ms: DEFAULT_OPERATION_TIMEOUT_MS,
            reconcile_prefix: DEFAULT_RECONCILE_PREFIX.to_owned(),
            root_rotation_statements: Vec::new(),
            password_authentication: PasswordAuthentication::default(),
            scram_iterations: default_scram_iterations(),
            revision: String::new(),
        },
    };
    if let Some(url) = connection_url {
        record.connection_url = url.trim().to_owned();
    }
    if let Some(username) = username {
        record.username = username;
    }
    if let Some(password) = password {
        record.password = StoredSecret::new(password);
        record.pending_password = None;
    }
    if let Some(roles) = params::string_list(data, "allowed_roles").map_err(field)? {
        record.allowed_roles = roles;
    }
    // As in Vault, each write says whether to verify; the default is to.
    record.verify_connection = params::boolean(data, "verify_connection")
        .map_err(field)?
        .unwrap_or(true);
    if let Some(max) = params::unsigned(data, "max_open_connections").map_err(field)? {
        record.max_open_connections = if max == 0 { DEFAULT_MAX_OPEN } else { max };
        if record.max_open_connections > MAX_OPEN_LIMIT {
            return Err(EngineError::InvalidRequest(format!(
                "max_open_connections may be at most {MAX_OPEN_LIMIT}"
            )));
        }
    }
    if let Some(ms) = params::duration_ms(data, "connect_timeout").map_err(field)? {
        record.connect_timeout_ms = if ms == 0 {
            DEFAULT_CONNECT_TIMEOUT_MS
        } else {
            ms
        };
    }
    if let Some(ms) = params::duration_ms(data, "operation_timeout").map_err(field)? {
        record.operation_timeout_ms = if ms == 0 {
            DEFAULT_OPERATION_TIMEOUT_MS
        } else {
            ms
        };
    }
    if let Some(name) = params::string(data, "password_authentication").map_err(field)? {
        record.password_authentication = match name.as_str() {
            "password" => PasswordAuthentication::Password,
            "scram-sha-256" => PasswordAuthentication::ScramSha256,
            other => {
                return Err(EngineError::InvalidRequest(format!(
                    "password_authentication must be \"password\" or \"scram-sha-256\", not {other:?}"
                )));
            }
        };
    }
    if let Some(rounds) = params::unsigned(data, "scram_iterations").map_err(field)? {
        if !(1..=MAX_SCRAM_ITERATIONS).contains(&rounds) {
            return Err(EngineError::InvalidRequest(format!(
                "scram_iterations must be between 1 and {MAX_SCRAM_ITERATIONS}, not {rounds}"
            )));
        }
        record.scram_iterations = u32::try_from(rounds).unwrap_or(u32::MAX);
    }
    if record.password_authentication == PasswordAuthentication::Password
        && record.scram_iterations != default_scram_iterations()
    {
        return Err(EngineError::InvalidRequest(
            "scram_iterations applies only to verifiers the vault makes: set \
             password_authentication=scram-sha-256 with it (with \"password\", PostgreSQL \
             hashes the password with its own scram_iterations)"
                .into(),
        ));
    }
    if let Some(prefix) = params::string(data, "reconcile_prefix").map_err(field)? {
        if prefix.is_empty() {
            return Err(EngineError::InvalidRequest(
                "reconcile_prefix may not be empty: reconcile would look at every role".into(),
            ));
        }
        record.reconcile_prefix = prefix;
    }
    if let Some(statements) = fields::statement_list(data, "root_rotation_statements")? {
        record.root_rotation_statements = statements;
    }
    let url = UrlTemplate::parse(&record.connection_url).map_err(EngineError::InvalidRequest)?;
    if url.uses_username() && record.username.is_empty() {
        return Err(EngineError::InvalidRequest(
            "connection_url uses {{username}} but username is empty".into(),
        ));
    }
    record.revision = new_revision()?;
    Ok(record)
}

fn reject_unknown(data: &Data) -> Result<(), EngineError> {
    for (key, value) in data {
        if FIELDS.contains(&key.as_str()) {
            continue;
        }
        match DEFAULT_ONLY.iter().find(|(name, _)| name == key) {
            Some((_, default)) => {
                let text = match value {
                    Value::String(s) => s.clone(),
                    Value::Null => continue,
                    other => other.to_string(),
                };
                if !text.is_empty() && text != *default {
                    return Err(EngineError::InvalidRequest(format!(
                        "{key} is not supported by this engine (only {default:?} is accepted)"
                    )));
                }
            }
            None => {
                return Err(EngineError::InvalidRequest(format!(
                    "unknown field {key:?} for a database config"
                )));
            }
        }
    }
    Ok(())
}

/// `*` matches any run of characters; everything else matches itself.
fn glob_match(pattern: &str, text: &str) -> bool {
    let Some((first, rest)) = pattern.split_once('*') else {
        return pattern == text;
    };
    let Some(mut remaining) = text.strip_prefix(first) else {
        return false;
    };
    let mut parts: Vec<&str> = rest.split('*').collect();
    let last = parts.pop().unwrap_or("");
    for part in parts {
        match remaining.find(part) {
            Some(at) => remaining = &remaining[at + part.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(value: Value) -> Data {
        match value {
            Value::Object(map) => map,
            _ => Data::new(),
        }
    }

    const URL: &str = "postgres://{{username}}:{{password}}@127.0.0.1:5432/postgres";

    #[test]
    fn create_needs_the_plugin_and_url_and_applies_defaults() {
        let missing = apply_write(None, &body(json!({"connection_url": URL})));
        assert!(missing.unwrap_err().to_string().contains("plugin_name"));
        let wrong = apply_write(
            None,
            &body(json!({"plugin_name": "mysql-database-plugin", "connection_url": URL})),
        );
        assert!(wrong.is_err());
        let record = apply_write(
            None,
            &body(json!({
                "plugin_name": PLUGIN_NAME, "connection_url": URL,
                "username": "admin", "password": "hunter2", "allowed_roles": "ro, rw"
            })),
        )
        .unwrap();
        assert_eq!(record.max_open_connections, 4);
        assert_eq!(record.connect_timeout_ms, 5_000);
        assert_eq!(record.operation_timeout_ms, 10_000);
        assert_eq!(record.reconcile_prefix, "v-");
        assert_eq!(record.allowed_roles, vec!["ro", "rw"]);
        assert!(record.verify_connection);
    }

    #[test]
    fn reads_never_show_the_password_and_updates_keep_it() {
        let record = apply_write(
            None,
            &body(json!({
                "plugin_name": PLUGIN_NAME, "connection_url": URL,
                "username": "admin", "password": "hunter2"
            })),
        )
        .unwrap();
        let shown = serde_json::to_string(&record.to_data()).unwrap();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("{{password}}"));
        assert!(!format!("{record:?}").contains("hunter2"));
        let revision = record.revision.clone();
        let updated = apply_write(Some(record), &body(json!({"max_open_connections": 9}))).unwrap();
        assert_eq!(updated.password.0.expose_secret(), "hunter2");
        assert_eq!(updated.max_open_connections, 9);
        assert_ne!(updated.revision, revision);
    }

    #[test]
    fn the_stored_password_never_follows_a_new_url_or_user() {
        let record = apply_write(
            None,
            &body(json!({
                "plugin_name": PLUGIN_NAME, "connection_url": URL,
                "username": "admin", "password": "hunter2"
            })),
        )
        .unwrap();
        let elsewhere = "postgres://{{username}}:{{password}}@evil.example:5432/postgres";
        for change in [
            json!({"connection_url": elsewhere}),
            json!({"connection_url": format!("{URL}?sslmode=disable")}),
            json!({"username": "someone"}),
            json!({"connection_url": elsewhere, "username": "admin"}),
        ] {
            let err = apply_write(Some(record.clone()), &body(change.clone()))
                .err()
                .unwrap_or_else(|| panic!("{change} kept the stored password"));
            assert!(
                err.to_string()
                    .contains("changing connection_url or username requires password"),
                "{err}"
            );
        }
        // With the password, or resending what is stored, it is fine.
        let moved = apply_write(
            Some(record.clone()),
            &body(json!({"connection_url": elsewhere, "password": "other"})),
        )
        .unwrap();
        assert_eq!(moved.password.0.expose_secret(), "other");
        let same = apply_write(
            Some(record),
            &body(json!({"connection_url": format!(" {URL} "), "username": "admin"})),
        )
        .unwrap();
        assert_eq!(same.password.0.expose_secret(), "hunter2");
    }

    #[test]
    fn a_new_password_clears_a_pending_one() {
        let mut record = apply_write(
            None,
            &body(json!({"plugin_name": PLUGIN_NAME, "connection_url": URL, "username": "a"})),
        )
        .unwrap();
        record.pending_password = Some(StoredSecret::new("next".into()));
        let updated = apply_write(Some(record), &body(json!({"password": "new"}))).unwrap();
        assert!(updated.pending_password.is_none());
    }

    #[test]
    fn bad_writes_are_refused() {
        let base = json!({"plugin_name": PLUGIN_NAME, "connection_url": URL, "username": "a"});
        for (field, value) in [
            ("reconcile_prefix", json!("")),
            ("max_open_connections", json!(5000)),
            ("disable_escaping", json!(true)),
            ("password_policy", json!("strong")),
            ("surprise", json!(1)),
            ("connection_url", json!("postgres://a:literal@h/db")),
        ] {
            let mut data = body(base.clone());
            data.insert(field.into(), value);
            assert!(apply_write(None, &data).is_err(), "{field} accepted");
        }
        let mut data = body(base);
        data.insert("disable_escaping".into(), json!(false));
        data.insert("max_idle_connections".into(), json!(2));
        assert!(apply_write(None, &data).is_ok());
        let no_user = apply_write(
            None,
            &body(json!({"plugin_name": PLUGIN_NAME, "connection_url": URL})),
        );
        assert!(no_user.unwrap_err().to_string().contains("username"));
    }

    #[test]
    fn allowed_roles_globs() {
        assert!(glob_match("*", "anything"));
        assert!(glob_match("ro-*", "ro-1"));
        assert!(!glob_match("ro-*", "rw-1"));
        assert!(glob_match("a*c*e", "abcde"));
        assert!(!glob_match("a*c*e", "abcd"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("", "x"));
    }
}
