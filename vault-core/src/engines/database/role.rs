//! Roles (`roles/<name>`): which config a role's credentials come from, the
//! SQL that creates, renews and revokes them, their TTLs and username
//! template. A write is checked by filling every statement with sample values,
//! so a statement the filler would refuse fails when written, not at `creds`.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::fields;
use super::statements::{self, Values};
use super::template::{TemplateInput, UsernameTemplate};
use crate::barrier::BarrierOp;
use crate::engines::shared::{load_json, put_json};
use crate::engines::{EngineError, View};
use crate::params;
use crate::request::Data;

/// Where roles are stored in the mount's view (Vault's own layout).
pub(super) const ROLE_PREFIX: &str = "role/";

/// A stored role. TTLs in ms; 0 means the mount's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct RoleRecord {
    pub db_name: String,
    pub creation_statements: Vec<String>,
    #[serde(default)]
    pub revocation_statements: Vec<String>,
    #[serde(default)]
    pub renew_statements: Vec<String>,
    /// Stored and shown for Vault compatibility, never run: creation is one
    /// transaction, so a failed one leaves nothing to roll back (Vault's
    /// PostgreSQL plugin ignores them too).
    #[serde(default)]
    pub rollback_statements: Vec<String>,
    pub default_ttl_ms: u64,
    pub max_ttl_ms: u64,
    /// Empty: the default template.
    #[serde(default)]
    pub username_template: String,
}

/// The storage key of role `name`.
pub(super) fn key(name: &str) -> String {
    format!("{ROLE_PREFIX}{name}")
}

/// Role `name`, if stored.
pub(super) async fn load(view: &View<'_>, name: &str) -> Result<Option<RoleRecord>, EngineError> {
    load_json(view, &key(name), "database role").await
}

/// The op that stores `record` as role `name`.
pub(super) fn put(name: &str, record: &RoleRecord) -> Result<BarrierOp, EngineError> {
    put_json(key(name), record)
}

impl RoleRecord {
    /// The parsed username template (the default when none is set).
    pub(super) fn template(&self) -> Result<UsernameTemplate, EngineError> {
        if self.username_template.is_empty() {
            UsernameTemplate::parse(super::template::DEFAULT_USERNAME_TEMPLATE)
        } else {
            UsernameTemplate::parse(&self.username_template)
        }
    }

    /// What a read shows (Vault's shape; TTLs in seconds).
    pub(super) fn to_data(&self) -> Data {
        let value = json!({
            "db_name": self.db_name,
            "creation_statements": self.creation_statements,
            "revocation_statements": self.revocation_statements,
            "renew_statements": self.renew_statements,
            "rollback_statements": self.rollback_statements,
            "default_ttl": self.default_ttl_ms / 1000,
            "max_ttl": self.max_ttl_ms / 1000,
            "username_template": self.username_template,
            "credential_type": "password",
            "credential_config": {},
        });
        match value {
            Value::Object(map) => map,
            _ => Data::new(),
        }
    }
}

const FIELDS: &[&str] = &[
    "db_name",
    "creation_statements",
    "revocation_statements",
    "renew_statements",
    "rollback_statements",
    "default_ttl",
    "max_ttl",
    "username_template",
    "credential_type",
    "credential_config",
];

/// The record a write makes from the stored one (if any) and the body.
/// Fields left out keep their stored value.
pub(super) fn apply_write(
    existing: Option<RoleRecord>,
    data: &Data,
) -> Result<RoleRecord, EngineError> {
    if let Some(unknown) = data.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(EngineError::InvalidRequest(format!(
            "unknown field {unknown:?} for a database role"
        )));
    }
    let field = |e: params::FieldError| EngineError::InvalidRequest(e.to_string());
    fields::check_credential(data)?;
    let db_name = params::string(data, "db_name").map_err(field)?;
    let creation = fields::statement_list(data, "creation_statements")?;
    let mut record = match existing {
        Some(record) => record,
        None => RoleRecord {
            db_name: db_name
                .clone()
                .ok_or_else(|| EngineError::InvalidRequest("db_name is required".into()))?,
            creation_statements: Vec::new(),
            revocation_statements: Vec::new(),
            renew_statements: Vec::new(),
            rollback_statements: Vec::new(),
            default_ttl_ms: 0,
            max_ttl_ms: 0,
            username_template: String::new(),
        },
    };
    if let Some(db_name) = db_name {
        fields::check_name("database config", &db_name)?;
        record.db_name = db_name;
    }
    if let Some(statements) = creation {
        record.creation_statements = statements;
    }
    if let Some(statements) = fields::statement_list(data, "revocation_statements")? {
        record.revocation_statements = statements;
    }
    if let Some(statements) = fields::statement_list(data, "renew_statements")? {
        record.renew_statements = statements;
    }
    if let Some(statements) = fields::statement_list(data, "rollback_statements")? {
        record.rollback_statements = statements;
    }
    if let Some(ttl) = params::duration_ms(data, "default_ttl").map_err(field)? {
        record.default_ttl_ms = ttl;
    }
    if let Some(ttl) = params::duration_ms(data, "max_ttl").map_err(field)? {
        record.max_ttl_ms = ttl;
    }
    if let Some(template) = params::string(data, "username_template").map_err(field)? {
        record.username_template = template;
    }
    check(&record)?;
    Ok(record)
}

/// Checks a role as a whole: statements present and fillable, TTLs ordered,
/// the template usable.
fn check(record: &RoleRecord) -> Result<(), EngineError> {
    if record.creation_statements.is_empty() {
        return Err(EngineError::InvalidRequest(
            "creation_statements is required".into(),
        ));
    }
    // A lease is counted in whole seconds (and so is VALID UNTIL): less than
    // one would be a credential that is dead, or rounded, on arrival.
    for (field, ttl) in [
        ("default_ttl", record.default_ttl_ms),
        ("max_ttl", record.max_ttl_ms),
    ] {
        if ttl > 0 && ttl < 1000 {
            return Err(EngineError::InvalidRequest(format!(
                "{field} must be 0 (the mount's) or at least 1s, not {ttl}ms"
            )));
        }
    }
    if record.max_ttl_ms != 0 && record.default_ttl_ms > record.max_ttl_ms {
        return Err(EngineError::InvalidRequest(
            "default_ttl cannot be greater than max_ttl".into(),
        ));
    }
    let sample = "v-sample";
    let expiration = "2000-01-01 00:00:00+00";
    let sets: [(&str, &[String], Values<'_>); 3] = [
        (
            "creation_statements",
            &record.creation_statements,
            Values {
                name: sample,
                password: Some("A1a-sample"),
                expiration: Some(expiration),
            },
        ),
        (
            "revocation_statements",
            &record.revocation_statements,
            Values {
                name: sample,
                password: None,
                expiration: None,
            },
        ),
        (
            "renew_statements",
            &record.renew_statements,
            Values {
                name: sample,
                password: None,
                expiration: Some(expiration),
            },
        ),
    ];
    for (what, list, values) in sets {
        for statement in list {
            statements::fill(statement, &values)
                .map_err(|e| EngineError::InvalidRequest(format!("{what}: {e}")))?;
        }
    }
    record.template()?.render(&TemplateInput {
        role_name: "role",
        display_name: "token",
        now_ms: 0,
    })?;
    Ok(())
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

    #[test]
    fn a_role_needs_a_config_and_creation_statements() {
        assert!(apply_write(None, &body(json!({"creation_statements": "x"}))).is_err());
        assert!(apply_write(None, &body(json!({"db_name": "pg"}))).is_err());
        let role = apply_write(
            None,
            &body(json!({
                "db_name": "pg",
                "creation_statements": "CREATE ROLE \"{{name}}\" LOGIN PASSWORD '{{password}}';",
                "default_ttl": "1h", "max_ttl": 86400
            })),
        )
        .unwrap();
        assert_eq!(role.default_ttl_ms, 3_600_000);
        let shown = role.to_data();
        assert_eq!(shown["default_ttl"], 3600);
        assert_eq!(shown["max_ttl"], 86400);
        assert_eq!(shown["credential_type"], "password");
        let updated = apply_write(Some(role), &body(json!({"default_ttl": 60}))).unwrap();
        assert_eq!(updated.creation_statements.len(), 1);
        assert_eq!(updated.default_ttl_ms, 60_000);
    }

    #[test]
    fn bad_roles_are_refused() {
        let base = json!({"db_name": "pg", "creation_statements": ["CREATE ROLE \"{{name}}\";"]});
        for (field, value) in [
            (
                "revocation_statements",
                json!("ALTER ROLE x PASSWORD '{{password}}'"),
            ),
            ("creation_statements", json!("SELECT U&'{{name}}'")),
            ("creation_statements", json!("CREATE ROLE U&\"{{name}}\";")),
            ("default_ttl", json!("500ms")),
            ("username_template", json!("{{ .Nope }}")),
            ("default_ttl", json!("2h")),
            ("credential_type", json!("rsa_private_key")),
            ("db_name", json!("a/b")),
            ("surprise", json!(true)),
        ] {
            let mut data = body(base.clone());
            data.insert(field.into(), value);
            data.insert("max_ttl".into(), json!("1h"));
            assert!(apply_write(None, &data).is_err(), "{field} accepted");
        }
        let sub_second = apply_write(
            None,
            &body(json!({
                "db_name": "pg", "creation_statements": ["CREATE ROLE \"{{name}}\";"],
                "max_ttl": "999ms",
            })),
        )
        .unwrap_err();
        assert!(
            sub_second.to_string().contains("max_ttl must be 0"),
            "{sub_second}"
        );
        let whole = apply_write(
            None,
            &body(json!({
                "db_name": "pg", "creation_statements": ["CREATE ROLE \"{{name}}\";"],
                "default_ttl": "1s", "max_ttl": "1500ms",
            })),
        );
        assert!(whole.is_ok(), "{whole:?}");
    }
}
