//! `auth/<mount>/role/<name>`: what a token must say to log in under a role
//! (`bound_audiences`, `bound_subject`, `bound_claims`), which claims name
//! the caller (`user_claim`, `groups_claim`, `claim_mappings`), the time
//! leeways, and the `token_*` settings of what it gets. Field names,
//! defaults and answers are Vault's. Only `role_type = "jwt"` is served:
//! the browser OIDC flow is not.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::token_fields::TokenFields;
use crate::engines::EngineError;
use crate::error::field;
use crate::params;
use crate::request::Data;

use super::verify::Leeways;

/// Bounds on what one role holds: it is matched at every login.
const MAX_LIST: usize = 256;
const MAX_CLAIM_NAME: usize = 256;

/// One role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct JwtRole {
    /// One of these must be in the token's `aud` (empty: `aud` not checked).
    pub bound_audiences: Vec<String>,
    /// The token's `sub` must be this (empty: not checked).
    pub bound_subject: String,
    /// Claim (or JSON pointer) -> the values it may have; every claim listed
    /// must match one.
    pub bound_claims: BTreeMap<String, Vec<String>>,
    /// `string` (exact) or `glob` (`*` anywhere) for `bound_claims`.
    pub bound_claims_type: String,
    /// Claim (or JSON pointer) -> alias metadata key.
    pub claim_mappings: BTreeMap<String, String>,
    /// The claim naming the caller: the entity alias's name.
    pub user_claim: String,
    /// `user_claim` is a JSON pointer (`/a/b`).
    pub user_claim_json_pointer: bool,
    /// The claim listing the caller's groups (empty: none).
    pub groups_claim: String,
    /// Seconds.
    pub clock_skew_leeway: u64,
    /// Seconds.
    pub expiration_leeway: u64,
    /// Seconds.
    pub not_before_leeway: u64,
    /// The issued tokens.
    pub token: TokenFields,
}

impl Default for JwtRole {
    fn default() -> Self {
        JwtRole {
            bound_audiences: Vec::new(),
            bound_subject: String::new(),
            bound_claims: BTreeMap::new(),
            bound_claims_type: "string".into(),
            claim_mappings: BTreeMap::new(),
            user_claim: String::new(),
            user_claim_json_pointer: false,
            groups_claim: String::new(),
            // Vault's defaults.
            clock_skew_leeway: 60,
            expiration_leeway: 150,
            not_before_leeway: 150,
            token: TokenFields::default(),
        }
    }
}

impl JwtRole {
    /// The leeways for the time claims.
    pub(super) fn leeways(&self) -> Leeways {
        Leeways {
            clock_skew: self.clock_skew_leeway,
            expiration: self.expiration_leeway,
            not_before: self.not_before_leeway,
        }
    }
}

impl crate::auth::records::Role for JwtRole {
    fn apply(&mut self, data: &Data) -> Result<(), EngineError> {
        let invalid = |m: String| EngineError::InvalidRequest(m);
        if let Some(kind) = field(params::string(data, "role_type"))?
            && !matches!(kind.as_str(), "" | "jwt")
        {
            return Err(invalid(format!(
                "role_type {kind:?} is not supported: the browser OIDC flow is not served by \
                 this vault; use role_type \"jwt\""
            )));
        }
        let list = |name: &str| -> Result<Option<Vec<String>>, EngineError> {
            let items = field(params::string_list(data, name))?;
            if items.as_ref().is_some_and(|l| l.len() > MAX_LIST) {
                return Err(invalid(format!("{name} holds more than {MAX_LIST} items")));
            }
            Ok(items)
        };
        if let Some(v) = list("bound_audiences")? {
            self.bound_audiences = v;
        }
        if let Some(v) = field(params::string(data, "bound_subject"))? {
            self.bound_subject = v;
        }
        if let Some(v) = field(params::string(data, "bound_claims_type"))? {
            if !matches!(v.as_str(), "string" | "glob") {
                return Err(invalid(format!(
                    "bound_claims_type {v:?} is not valid; expected string or glob"
                )));
            }
            self.bound_claims_type = v;
        }
        if let Some(v) = object_field(data, "bound_claims")? {
            self.bound_claims = bound_claims(&v)?;
        }
        if let Some(v) = object_field(data, "claim_mappings")? {
            let v = field(params::string_map(
                &crate::error::object(json!({"claim_mappings": v})),
                "claim_mappings",
            ))?
            .unwrap_or_default();
            if v.len() > MAX_LIST {
                return Err(invalid(format!(
                    "claim_mappings holds more than {MAX_LIST} items"
                )));
            }
            let mut targets = std::collections::BTreeSet::new();
            for target in v.values() {
                if !targets.insert(target) {
                    return Err(invalid(format!(
                        "claim_mappings maps two claims to the metadata key {target:?}"
                    )));
                }
            }
            self.claim_mappings = v;
        }
        if let Some(v) = field(params::string(data, "user_claim"))? {
            self.user_claim = v;
        }
        if let Some(v) = field(params::boolean(data, "user_claim_json_pointer"))? {
            self.user_claim_json_pointer = v;
        }
        if let Some(v) = field(params::string(data, "groups_claim"))? {
            self.groups_claim = v;
        }
        let seconds = |name: &str| -> Result<Option<u64>, EngineError> {
            Ok(field(params::duration_ms(data, name))?.map(|ms| ms / 1000))
        };
        if let Some(v) = seconds("clock_skew_leeway")? {
            self.clock_skew_leeway = v;
        }
        if let Some(v) = seconds("expiration_leeway")? {
            self.expiration_leeway = v;
        }
        if let Some(v) = seconds("not_before_leeway")? {
            self.not_before_leeway = v;
        }
        self.token.apply(data)?;
        if self.user_claim.is_empty() {
            return Err(invalid(
                "a user claim must be defined on the role (user_claim)".into(),
            ));
        }
        for name in [&self.user_claim, &self.groups_claim]
            .into_iter()
            .chain(self.bound_claims.keys())
            .chain(self.claim_mappings.keys())
        {
            if name.len() > MAX_CLAIM_NAME {
                return Err(invalid(format!(
                    "claim names are at most {MAX_CLAIM_NAME} bytes"
                )));
            }
        }
        if self.bound_audiences.is_empty()
            && self.bound_subject.is_empty()
            && self.bound_claims.is_empty()
        {
            // Vault's rule for JWT roles: a role must bind something, or any
            // token the keys verify would log in.
            return Err(invalid(
                "must have at least one bound constraint when creating/updating a role: \
                 bound_audiences, bound_subject or bound_claims"
                    .into(),
            ));
        }
        Ok(())
    }
}

impl crate::auth::records::Shown for JwtRole {
    fn to_json(&self) -> Value {
        let mut out = self.token.to_json();
        let own = json!({
            "role_type": "jwt",
            "bound_audiences": self.bound_audiences,
            "bound_subject": self.bound_subject,
            "bound_claims": if self.bound_claims.is_empty() { Value::Null } else { json!(self.bound_claims) },
            "bound_claims_type": self.bound_claims_type,
            "claim_mappings": if self.claim_mappings.is_empty() { Value::Null } else { json!(self.claim_mappings) },
            "user_claim": self.user_claim,
            "user_claim_json_pointer": self.user_claim_json_pointer,
            "groups_claim": self.groups_claim,
            "clock_skew_leeway": self.clock_skew_leeway,
            "expiration_leeway": self.expiration_leeway,
            "not_before_leeway": self.not_before_leeway,
        });
        if let Value::Object(own) = own {
            out.extend(own);
        }
        Value::Object(out)
    }
}

/// An object field, given as an object or as its JSON text (what the CLI
/// sends for `bound_claims='{"a":"b"}'`).
fn object_field(data: &Data, name: &str) -> Result<Option<Value>, EngineError> {
    match data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => {
            let limits = crate::json_limits::JsonLimits {
                max_depth: 4,
                ..crate::json_limits::JsonLimits::default()
            };
            crate::json_limits::parse_object(s.as_bytes(), &limits)
                .map(|m| Some(Value::Object(m)))
                .map_err(|e| EngineError::InvalidRequest(format!("{name}: {e}")))
        }
        Some(v) => Ok(Some(v.clone())),
    }
}

/// `bound_claims`: an object of claim -> a string or a list of strings
/// (`"a,b"` is one value, as in Vault).
fn bound_claims(value: &Value) -> Result<BTreeMap<String, Vec<String>>, EngineError> {
    let invalid = |m: &str| EngineError::InvalidRequest(format!("bound_claims: {m}"));
    let Value::Object(map) = value else {
        return Err(invalid("expected an object of claim names to values"));
    };
    if map.len() > MAX_LIST {
        return Err(invalid("too many claims"));
    }
    let mut out = BTreeMap::new();
    for (claim, values) in map {
        let list = match values {
            Value::String(s) => vec![s.clone()],
            Value::Array(items) if items.len() <= MAX_LIST => items
                .iter()
                .map(|i| match i {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    Value::Bool(b) => Ok(b.to_string()),
                    _ => Err(invalid("values must be strings")),
                })
                .collect::<Result<_, _>>()?,
            Value::Number(n) => vec![n.to_string()],
            Value::Bool(b) => vec![b.to_string()],
            _ => return Err(invalid("values must be strings or lists of strings")),
        };
        out.insert(claim.clone(), list);
    }
    Ok(out)
}
