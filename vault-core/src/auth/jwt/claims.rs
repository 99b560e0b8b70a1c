//! A verified token's claims against a role: the audience, subject and
//! bound claims it must carry (exact or glob), and what it says of the
//! caller: the alias name (`user_claim`), the groups (`groups_claim`) and
//! the alias metadata (`claim_mappings`). A claim is named by its key, or
//! by a JSON pointer (`/realm/roles`). Errors name the claim, never its
//! value.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::role::JwtRole;
use crate::auth::glob::glob;

/// The most groups one login may bring.
const MAX_GROUPS: usize = 1024;
/// The longest alias name or metadata value taken from a claim.
const MAX_VALUE: usize = 1024;

/// Why a token's claims do not fit the role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// A claim the role needs is not there.
    #[error("claim {0:?} not found in token")]
    Missing(String),
    /// A claim is not of a usable type (or too long).
    #[error("claim {0:?} could not be converted to a string or list of strings")]
    Type(String),
    /// `aud` names none of the role's audiences, or the role binds none
    /// and the token has one.
    #[error("{0}")]
    Audience(&'static str),
    /// `sub` is not the bound subject.
    #[error("sub claim does not match bound subject")]
    Subject,
    /// A bound claim has none of the allowed values.
    #[error("claim {0:?} does not match any associated bound claim values")]
    Bound(String),
    /// `iss` is not the configured issuer.
    #[error("iss claim does not match the bound issuer")]
    Issuer,
}

/// The claim `name`: a top-level key, or a JSON pointer starting with `/`.
fn claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if name.starts_with('/') {
        let mut value: Option<&Value> = None;
        for (i, part) in name.split('/').skip(1).enumerate() {
            let part = part.replace("~1", "/").replace("~0", "~");
            value = match (i, value) {
                (0, _) => claims.get(&part),
                (_, Some(Value::Object(m))) => m.get(&part),
                (_, Some(Value::Array(a))) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
                _ => None,
            };
            value?;
        }
        value
    } else {
        claims.get(name)
    }
}

/// A scalar claim as text.
fn text(value: &Value) -> Option<String> {
    let s = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    (s.len() <= MAX_VALUE).then_some(s)
}

/// A claim as a list of texts (a scalar is a list of one).
fn texts(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::Array(items) => items.iter().map(text).collect(),
        other => text(other).map(|t| vec![t]),
    }
}

/// What a token that fits the role says of the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Caller {
    /// The alias name.
    pub name: String,
    /// Alias metadata from `claim_mappings`.
    pub metadata: BTreeMap<String, String>,
    /// Group names from `groups_claim` (`None`: the role names no claim).
    pub groups: Option<Vec<String>>,
}

/// Checks `claims` against the role and the configured issuer; what they
/// say of the caller.
pub(super) fn check(
    claims: &Map<String, Value>,
    role: &JwtRole,
    bound_issuer: &str,
) -> Result<Caller, ClaimError> {
    if !bound_issuer.is_empty() && claims.get("iss").and_then(Value::as_str) != Some(bound_issuer) {
        return Err(ClaimError::Issuer);
    }
    let audiences = claims.get("aud").and_then(texts).unwrap_or_default();
    if role.bound_audiences.is_empty() {
        if !audiences.is_empty() {
            return Err(ClaimError::Audience(
                "audience claim found in JWT but no audiences bound to the role",
            ));
        }
    } else if !audiences.iter().any(|a| role.bound_audiences.contains(a)) {
        return Err(ClaimError::Audience(
            "aud claim does not match any bound audience",
        ));
    }
    if !role.bound_subject.is_empty()
        && claims.get("sub").and_then(Value::as_str) != Some(role.bound_subject.as_str())
    {
        return Err(ClaimError::Subject);
    }
    let as_glob = role.bound_claims_type == "glob";
    for (name, allowed) in &role.bound_claims {
        let found = claim(claims, name).ok_or_else(|| ClaimError::Missing(name.clone()))?;
        let values = texts(found).ok_or_else(|| ClaimError::Type(name.clone()))?;
        let fits = values.iter().any(|v| {
            allowed
                .iter()
                .any(|a| if as_glob { glob(a, v) } else { a == v })
        });
        if !fits {
            return Err(ClaimError::Bound(name.clone()));
        }
    }
    let name_claim = if role.user_claim_json_pointer || role.user_claim.starts_with('/') {
        claim(claims, &role.user_claim)
    } else {
        claims.get(&role.user_claim)
    };
    let name = name_claim
        .ok_or_else(|| ClaimError::Missing(role.user_claim.clone()))
        .and_then(|v| text(v).ok_or_else(|| ClaimError::Type(role.user_claim.clone())))?;
    if name.is_empty() {
        return Err(ClaimError::Missing(role.user_claim.clone()));
    }
    let mut metadata = BTreeMap::new();
    for (from, to) in &role.claim_mappings {
        if let Some(value) = claim(claims, from) {
            let value = text(value).ok_or_else(|| ClaimError::Type(from.clone()))?;
            metadata.insert(to.clone(), value);
        }
    }
    let groups = if role.groups_claim.is_empty() {
        None
    } else {
        let found = claim(claims, &role.groups_claim)
            .ok_or_else(|| ClaimError::Missing(role.groups_claim.clone()))?;
        let list = texts(found).ok_or_else(|| ClaimError::Type(role.groups_claim.clone()))?;
        if list.len() > MAX_GROUPS {
            return Err(ClaimError::Type(role.groups_claim.clone()));
        }
        Some(list)
    };
    Ok(Caller {
        name,
        metadata,
        groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::records::Role as _;
    use serde_json::json;

    fn role(value: Value) -> JwtRole {
        let mut role = JwtRole::default();
        role.apply(&crate::error::object(value)).unwrap();
        role
    }

    fn claims(value: Value) -> Map<String, Value> {
        crate::error::object(value)
    }

    #[test]
    fn a_fitting_token_names_its_caller_and_groups() {
        let r = role(json!({
            "user_claim": "sub", "bound_audiences": ["vault"], "groups_claim": "/realm/groups",
            "claim_mappings": {"email": "email", "/realm/team": "team"},
            "bound_claims": {"env": ["prod", "staging"]},
        }));
        let c = claims(json!({
            "sub": "alice", "aud": ["other", "vault"], "env": "prod", "email": "a@x",
            "realm": {"groups": ["devs", "ops"], "team": "pay"},
        }));
        let caller = check(&c, &r, "").unwrap();
        assert_eq!(caller.name, "alice");
        assert_eq!(caller.groups, Some(vec!["devs".into(), "ops".into()]));
        assert_eq!(caller.metadata["team"], "pay");
        assert_eq!(caller.metadata["email"], "a@x");
    }

    #[test]
    fn each_binding_refuses_what_does_not_fit() {
        let r = role(json!({
            "user_claim": "sub", "bound_audiences": "vault", "bound_subject": "alice",
            "bound_claims": {"ns": "team-*"}, "bound_claims_type": "glob",
        }));
        let good = json!({"sub": "alice", "aud": "vault", "ns": "team-a", "iss": "https://i"});
        assert!(check(&claims(good.clone()), &r, "https://i").is_ok());
        let with = |key: &str, value: Value| {
            let mut c = claims(good.clone());
            c.insert(key.into(), value);
            check(&c, &r, "https://i")
        };
        assert!(matches!(
            with("aud", json!("other")),
            Err(ClaimError::Audience(_))
        ));
        assert_eq!(with("sub", json!("bob")), Err(ClaimError::Subject));
        assert_eq!(
            with("ns", json!("ops")),
            Err(ClaimError::Bound("ns".into()))
        );
        assert_eq!(with("iss", json!("https://evil")), Err(ClaimError::Issuer));
        let mut no_ns = claims(good.clone());
        no_ns.remove("ns");
        assert_eq!(check(&no_ns, &r, ""), Err(ClaimError::Missing("ns".into())));
        // A token with an audience and a role binding none is refused.
        let unbound = role(json!({"user_claim": "sub", "bound_subject": "alice"}));
        assert!(matches!(
            check(&claims(good), &unbound, ""),
            Err(ClaimError::Audience(_))
        ));
    }
}
