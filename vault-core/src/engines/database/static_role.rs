//! Static roles (`static-roles/<name>`): an existing database user whose
//! password the vault rotates on a period and hands out as it is, without a
//! lease. The stored record, how a write is read from a request (Vault's field
//! names), what the reads show, and when the next rotation falls due. The
//! rotations themselves are in `static_rotate.rs`.
//!
//! The engine never creates or drops a static role's user: creating a static
//! role takes over an existing user's password, deleting one only stops the
//! rotations (the user keeps its last password, as in Vault).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::config::StoredSecret;
use super::fields;
use super::statements::{self, Values};
use crate::barrier::BarrierOp;
use crate::engines::shared::{load_json, put_json};
use crate::engines::{EngineError, View};
use crate::params;
use crate::request::Data;

/// Where static roles are stored in the mount's view (Vault's own layout).
pub(super) const STATIC_ROLE_PREFIX: &str = "static-role/";
/// The shortest rotation period (Vault's: its rotation queue ticks every 5 s,
/// and so does the vault's periodic work).
const MIN_ROTATION_PERIOD_MS: u64 = 5_000;
/// What rotates a password when the role names no statements.
const DEFAULT_ROTATION: &str = "ALTER ROLE {{name}} WITH PASSWORD {{password}};";
/// The wait before retrying after a first failed rotation; it doubles with
/// each further failure up to [`RETRY_MAX_MS`].
const RETRY_FIRST_MS: u64 = 5_000;
const RETRY_MAX_MS: u64 = 300_000;
/// PostgreSQL cuts longer identifiers to this many bytes (NAMEDATALEN - 1):
/// a longer username would silently name another role.
const MAX_USERNAME_BYTES: usize = 63;

/// A stored static role. Times in Unix ms.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct StaticRoleRecord {
    pub db_name: String,
    /// The database user. Never the config's own user.
    pub username: String,
    pub rotation_period_ms: u64,
    /// Empty: [`DEFAULT_ROTATION`].
    #[serde(default)]
    pub rotation_statements: Vec<String>,
    /// The last committed password: what `static-creds` hands out. `None`
    /// until the first rotation has committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<StoredSecret>,
    /// The password of a rotation in progress, stored before the database is
    /// changed. Found set under the role's lock, it belongs to a rotation that
    /// crashed or whose outcome is unknown: the database has it or the
    /// current one, and the next rotation (due at once) replaces both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_password: Option<StoredSecret>,
    /// When `password` was committed (0: never).
    #[serde(default)]
    pub last_vault_rotation_ms: u64,
    /// Rotations failed since the last one that worked.
    #[serde(default)]
    pub failures: u32,
    /// When a rotation was last tried (0: never).
    #[serde(default)]
    pub last_attempt_ms: u64,
    /// Why the last rotation failed, if it did (never carries a password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rotation_error: Option<String>,
}

impl std::fmt::Debug for StaticRoleRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticRoleRecord")
            .field("db_name", &self.db_name)
            .field("username", &self.username)
            .field("rotation_period_ms", &self.rotation_period_ms)
            .field("last_vault_rotation_ms", &self.last_vault_rotation_ms)
            .field("failures", &self.failures)
            .field("pending", &self.pending_password.is_some())
            .finish_non_exhaustive()
    }
}

/// The storage key of static role `name`.
pub(super) fn key(name: &str) -> String {
    format!("{STATIC_ROLE_PREFIX}{name}")
}

/// Static role `name`, if stored.
pub(super) async fn load(
    view: &View<'_>,
    name: &str,
) -> Result<Option<StaticRoleRecord>, EngineError> {
    load_json(view, &key(name), "database static role").await
}

/// The op that stores `record` as static role `name`.
pub(super) fn put(name: &str, record: &StaticRoleRecord) -> Result<BarrierOp, EngineError> {
    put_json(key(name), record)
}

/// The names of every static role of the mount.
pub(super) async fn names(view: &View<'_>) -> Result<Vec<String>, EngineError> {
    Ok(view.list(STATIC_ROLE_PREFIX).await?)
}

/// How long to wait after `failures` failed rotations in a row before the
/// next try: 5 s, doubling, at most 5 min.
pub(super) fn retry_delay_ms(failures: u32) -> u64 {
    let doublings = failures.saturating_sub(1).min(16);
    RETRY_FIRST_MS
        .saturating_mul(1u64 << doublings)
        .min(RETRY_MAX_MS)
}

impl StaticRoleRecord {
    /// The statements that set the password.
    pub(super) fn statements(&self) -> Vec<String> {
        if self.rotation_statements.is_empty() {
            vec![DEFAULT_ROTATION.to_owned()]
        } else {
            self.rotation_statements.clone()
        }
    }

    /// When the committed password is due to be replaced.
    pub(super) fn next_rotation_ms(&self) -> u64 {
        self.last_vault_rotation_ms
            .saturating_add(self.rotation_period_ms)
    }

    /// When the periodic work should next try a rotation: at once if no
    /// password was ever committed or a rotation was left pending, else at
    /// the end of the period; after failures, not before the retry delay.
    pub(super) fn due_at(&self) -> u64 {
        let scheduled = if self.password.is_none() || self.pending_password.is_some() {
            0
        } else {
            self.next_rotation_ms()
        };
        if self.failures == 0 {
            scheduled
        } else {
            scheduled.max(
                self.last_attempt_ms
                    .saturating_add(retry_delay_ms(self.failures)),
            )
        }
    }

    /// Whole seconds until the next scheduled rotation (0 when overdue).
    fn ttl_secs(&self, now: u64) -> u64 {
        self.next_rotation_ms().saturating_sub(now) / 1000
    }

    fn last_rotation_text(&self) -> Value {
        if self.last_vault_rotation_ms == 0 {
            Value::Null
        } else {
            json!(crate::clock::rfc3339(self.last_vault_rotation_ms / 1000))
        }
    }

    /// What a read of the role shows (Vault's shape, seconds), never a
    /// password.
    pub(super) fn to_data(&self, now: u64) -> Data {
        let mut data = object(json!({
            "db_name": self.db_name,
            "username": self.username,
            "rotation_period": self.rotation_period_ms / 1000,
            "rotation_statements": self.rotation_statements,
            "credential_type": "password",
            "credential_config": {},
            "ttl": self.ttl_secs(now),
        }));
        if self.last_vault_rotation_ms != 0 {
            data.insert("last_vault_rotation".into(), self.last_rotation_text());
        }
        self.add_error(&mut data);
        data
    }

    /// What `static-creds` shows: the committed `password`.
    pub(super) fn creds_data(&self, password: &StoredSecret, now: u64) -> Data {
        let mut data = object(json!({
            "username": self.username,
            "password": password.0.expose_secret(),
            "last_vault_rotation": self.last_rotation_text(),
            "rotation_period": self.rotation_period_ms / 1000,
            "ttl": self.ttl_secs(now),
        }));
        self.add_error(&mut data);
        data
    }

    fn add_error(&self, data: &mut Data) {
        if let Some(error) = &self.last_rotation_error {
            data.insert("last_rotation_error".into(), json!(error));
        }
    }
}

fn object(value: Value) -> Data {
    match value {
        Value::Object(map) => map,
        _ => Data::new(),
    }
}

const FIELDS: &[&str] = &[
    "db_name",
    "username",
    "rotation_period",
    "rotation_statements",
    "credential_type",
    "credential_config",
];

/// Vault fields a write may send only empty, false or zero (clients such as
/// Terraform send them all): anything else would be silently ignored.
const DEFAULT_ONLY: &[&str] = &[
    "rotation_schedule",
    "rotation_window",
    "skip_import_rotation",
    "self_managed_password",
];

/// The record a write of a static role makes, from the stored one (if any)
/// and the request body. Fields left out keep their stored value; `db_name`
/// and `username` are set when the role is created and never change (delete
/// and create it again), so the password the vault holds always belongs to
/// the user the role names.
pub(super) fn apply_write(
    existing: Option<StaticRoleRecord>,
    data: &Data,
) -> Result<StaticRoleRecord, EngineError> {
    reject_unknown(data)?;
    let field = |e: params::FieldError| EngineError::InvalidRequest(e.to_string());
    fields::check_credential(data)?;
    let db_name = params::string(data, "db_name").map_err(field)?;
    let username = params::string(data, "username").map_err(field)?;
    let period = params::duration_ms(data, "rotation_period").map_err(field)?;
    let mut record = match existing {
        Some(record) => {
            for (name, given, stored) in [
                ("db_name", &db_name, &record.db_name),
                ("username", &username, &record.username),
            ] {
                if given.as_ref().is_some_and(|g| g != stored) {
                    return Err(EngineError::InvalidRequest(format!(
                        "cannot change the {name} of a static role; delete it and create it again"
                    )));
                }
            }
            record
        }
        None => {
            let db_name =
                db_name.ok_or_else(|| EngineError::InvalidRequest("db_name is required".into()))?;
            fields::check_name("database config", &db_name)?;
            let username = username
                .ok_or_else(|| EngineError::InvalidRequest("username is required".into()))?;
            check_username(&username)?;
            StaticRoleRecord {
                db_name,
                username,
                rotation_period_ms: period.ok_or_else(|| {
                    EngineError::InvalidRequest("rotation_period is required".into())
                })?,
                rotation_statements: Vec::new(),
                password: None,
                pending_password: None,
                last_vault_rotation_ms: 0,
                failures: 0,
                last_attempt_ms: 0,
                last_rotation_error: None,
            }
        }
    };
    if let Some(period) = period {
        record.rotation_period_ms = period;
    }
    if record.rotation_period_ms < MIN_ROTATION_PERIOD_MS {
        return Err(EngineError::InvalidRequest(format!(
            "rotation_period must be {}s or more",
            MIN_ROTATION_PERIOD_MS / 1000
        )));
    }
    if let Some(statements) = fields::statement_list(data, "rotation_statements")? {
        record.rotation_statements = statements;
    }
    // Filled with the real username, so a rotation never fails on them later.
    let values = Values {
        name: &record.username,
        password: Some("A1a-sample"),
        expiration: None,
    };
    for statement in &record.rotation_statements {
        statements::fill(statement, &values)
            .map_err(|e| EngineError::InvalidRequest(format!("rotation_statements: {e}")))?;
    }
    Ok(record)
}

fn check_username(username: &str) -> Result<(), EngineError> {
    if username.is_empty() || username.len() > MAX_USERNAME_BYTES || username.contains('\0') {
        return Err(EngineError::InvalidRequest(format!(
            "invalid username {username:?}: a PostgreSQL role name of 1 to \
             {MAX_USERNAME_BYTES} bytes"
        )));
    }
    Ok(())
}

fn reject_unknown(data: &Data) -> Result<(), EngineError> {
    for (key, value) in data {
        if FIELDS.contains(&key.as_str()) {
            continue;
        }
        if !DEFAULT_ONLY.contains(&key.as_str()) {
            return Err(EngineError::InvalidRequest(format!(
                "unknown field {key:?} for a database static role"
            )));
        }
        let default = match value {
            Value::Null => true,
            Value::Bool(b) => !b,
            Value::Number(n) => n.as_f64() == Some(0.0),
            Value::String(s) => matches!(s.trim(), "" | "0" | "0s" | "false"),
            _ => false,
        };
        if !default {
            return Err(EngineError::InvalidRequest(format!(
                "{key} is not supported by this engine"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(value: Value) -> Data {
        object(value)
    }

    fn created() -> StaticRoleRecord {
        apply_write(
            None,
            &body(json!({"db_name": "pg", "username": "app", "rotation_period": "1h"})),
        )
        .unwrap()
    }

    #[test]
    fn a_static_role_needs_a_config_a_user_and_a_period() {
        for missing in ["db_name", "username", "rotation_period"] {
            let mut data =
                body(json!({"db_name": "pg", "username": "app", "rotation_period": "1h"}));
            data.remove(missing);
            let err = apply_write(None, &data).unwrap_err().to_string();
            assert!(err.contains(missing), "{err}");
        }
        let role = created();
        assert_eq!(role.rotation_period_ms, 3_600_000);
        assert_eq!(role.statements(), vec![DEFAULT_ROTATION]);
        let shown = role.to_data(0);
        assert_eq!(shown["rotation_period"], 3600);
        assert_eq!(shown["credential_type"], "password");
        assert!(!shown.contains_key("last_vault_rotation"));
        let updated = apply_write(
            Some(role),
            &body(json!({"rotation_period": 60, "username": "app"})),
        )
        .unwrap();
        assert_eq!(updated.rotation_period_ms, 60_000);
    }

    #[test]
    fn bad_static_roles_are_refused() {
        let base = json!({"db_name": "pg", "username": "app", "rotation_period": "1h"});
        for (field, value) in [
            ("rotation_period", json!("4s")),
            ("rotation_period", json!(0)),
            ("credential_type", json!("rsa_private_key")),
            ("credential_config", json!({"x": "y"})),
            (
                "rotation_statements",
                json!("ALTER ROLE x VALID UNTIL {{expiration}}"),
            ),
            (
                "rotation_statements",
                json!("ALTER ROLE U&\"{{name}}\" PASSWORD 'x'"),
            ),
            ("rotation_schedule", json!("0 * * * *")),
            ("skip_import_rotation", json!(true)),
            ("username", json!("")),
            ("username", json!("a".repeat(64))),
            ("db_name", json!("a/b")),
            ("creation_statements", json!("CREATE ROLE x")),
        ] {
            let mut data = body(base.clone());
            data.insert(field.into(), value.clone());
            assert!(
                apply_write(None, &data).is_err(),
                "{field}={value} accepted"
            );
        }
        let mut data = body(base);
        data.insert("skip_import_rotation".into(), json!(false));
        data.insert("rotation_window".into(), json!(0));
        data.insert("credential_type".into(), json!("password"));
        assert!(apply_write(None, &data).is_ok());
        for change in [json!({"username": "other"}), json!({"db_name": "pg2"})] {
            let err = apply_write(Some(created()), &body(change)).unwrap_err();
            assert!(err.to_string().contains("cannot change"), "{err}");
        }
    }

    #[test]
    fn rotations_fall_due_at_the_period_and_retries_back_off() {
        let mut role = created();
        assert_eq!(role.due_at(), 0, "never rotated: due at once");
        role.password = Some(StoredSecret::new("p".into()));
        role.last_vault_rotation_ms = 1_000_000;
        assert_eq!(role.due_at(), 1_000_000 + 3_600_000);
        assert_eq!(role.to_data(1_000_000)["ttl"], 3600);
        assert_eq!(role.to_data(9_000_000)["ttl"], 0);
        role.pending_password = Some(StoredSecret::new("q".into()));
        assert_eq!(
            role.due_at(),
            0,
            "a rotation left pending is retried at once"
        );
        role.failures = 1;
        role.last_attempt_ms = 2_000_000;
        assert_eq!(role.due_at(), 2_005_000);
        role.pending_password = None;
        assert_eq!(
            role.due_at(),
            4_600_000,
            "a failure does not advance the schedule"
        );
        assert_eq!(
            (1..=8).map(retry_delay_ms).collect::<Vec<_>>(),
            [
                5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000
            ]
        );
        assert_eq!(retry_delay_ms(u32::MAX), 300_000);
    }

    #[test]
    fn debug_and_reads_never_show_a_password() {
        let mut role = created();
        role.password = Some(StoredSecret::new("A1a-secret".into()));
        role.pending_password = Some(StoredSecret::new("A1a-pending".into()));
        let text = format!("{role:?} {:?}", role.to_data(0));
        assert!(!text.contains("A1a-"), "{text}");
    }
}
