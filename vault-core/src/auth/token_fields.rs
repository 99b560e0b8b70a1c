//! The `token_*` fields every role of a login method carries (Vault's
//! "tokenutil" fields): what a token issued by a login under the role holds
//! and how long it lives. Read from a request, shown on a role read, and
//! turned into the [`LoginGrant`] a login answers with.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::engines::EngineError;
use crate::error::field;
use crate::params;
use crate::request::{Data, LoginGrant};

/// A role's token settings. Durations in milliseconds; 0 is "the mount's"
/// for `ttl` and `max_ttl`, "none" for the others.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenFields {
    /// Canonical policy names; never `root`.
    pub policies: Vec<String>,
    /// Leave `default` out.
    pub no_default_policy: bool,
    /// TTL of issued tokens.
    pub ttl: u64,
    /// Longest life of a non-periodic issued token.
    pub max_ttl: u64,
    /// Hard limit, periodic or not.
    pub explicit_max_ttl: u64,
    /// Periodic with this period.
    pub period: u64,
    /// Uses (0: unlimited).
    pub num_uses: u64,
    /// Networks issued tokens may be used from.
    pub bound_cidrs: Vec<String>,
}

impl TokenFields {
    /// Applies the fields given in `data` (`token_policies` or the older
    /// `policies`, `token_ttl`, ...); fields left out keep their value.
    pub fn apply(&mut self, data: &Data) -> Result<(), EngineError> {
        let given = match field(params::string_list(data, "token_policies"))? {
            Some(list) => Some(list),
            None => field(params::string_list(data, "policies"))?,
        };
        if let Some(given) = given {
            let mut names = Vec::with_capacity(given.len());
            for raw in given.iter().filter(|p| !p.trim().is_empty()) {
                let name = crate::policy::canonical_name(raw)
                    .map_err(|e| EngineError::InvalidRequest(e.to_string()))?;
                if name == crate::policy::ROOT {
                    return Err(EngineError::InvalidRequest(
                        "a role cannot grant the root policy: auth methods cannot create \
                         root tokens"
                            .into(),
                    ));
                }
                names.push(name);
            }
            names.sort();
            names.dedup();
            self.policies = names;
        }
        let duration = |name: &str| field(params::duration_ms(data, name));
        if let Some(v) = field(params::boolean(data, "token_no_default_policy"))? {
            self.no_default_policy = v;
        }
        if let Some(v) = duration("token_ttl")? {
            self.ttl = v;
        }
        if let Some(v) = duration("token_max_ttl")? {
            self.max_ttl = v;
        }
        if let Some(v) = duration("token_explicit_max_ttl")? {
            self.explicit_max_ttl = v;
        }
        if let Some(v) = duration("token_period")? {
            self.period = v;
        }
        if let Some(v) = field(params::unsigned(data, "token_num_uses"))? {
            self.num_uses = v;
        }
        if let Some(list) = field(params::string_list(data, "token_bound_cidrs"))? {
            for block in &list {
                crate::net::Cidr::parse(block).map_err(|reason| {
                    EngineError::InvalidRequest(format!(
                        "invalid value for \"token_bound_cidrs\": {reason}"
                    ))
                })?;
            }
            self.bound_cidrs = list;
        }
        if let Some(kind) = field(params::string(data, "token_type"))?
            && !matches!(kind.as_str(), "" | "default" | "service")
        {
            return Err(EngineError::InvalidRequest(format!(
                "token_type {kind:?} is not supported; only service tokens are issued"
            )));
        }
        if self.max_ttl != 0 && self.ttl > self.max_ttl {
            return Err(EngineError::InvalidRequest(
                "token_ttl cannot be greater than token_max_ttl".into(),
            ));
        }
        Ok(())
    }

    /// The fields as a role read shows them (durations in seconds).
    pub fn to_json(&self) -> serde_json::Map<String, Value> {
        let secs = |ms: u64| ms / 1000;
        crate::error::object(json!({
            "token_policies": self.policies,
            "policies": self.policies,
            "token_no_default_policy": self.no_default_policy,
            "token_ttl": secs(self.ttl),
            "token_max_ttl": secs(self.max_ttl),
            "token_explicit_max_ttl": secs(self.explicit_max_ttl),
            "token_period": secs(self.period),
            "token_num_uses": self.num_uses,
            "token_bound_cidrs": self.bound_cidrs,
            "token_type": "default",
        }))
    }

    /// The grant of a login under these settings (the method fills in the
    /// names and the alias).
    pub fn grant(&self) -> LoginGrant {
        // Periodic tokens are limited only by the explicit max, as in Vault.
        let max = if self.period == 0 { self.max_ttl } else { 0 };
        let explicit_max_ttl = match (max, self.explicit_max_ttl) {
            (0, x) | (x, 0) => x,
            (a, b) => a.min(b),
        };
        LoginGrant {
            policies: self.policies.clone(),
            no_default_policy: self.no_default_policy,
            ttl: self.ttl,
            explicit_max_ttl,
            period: self.period,
            num_uses: self.num_uses,
            bound_cidrs: self.bound_cidrs.clone(),
            ..LoginGrant::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_apply_check_and_grant() {
        let mut fields = TokenFields::default();
        let data = crate::error::object(json!({
            "token_policies": "Dev, ops,dev",
            "token_ttl": "1h",
            "token_max_ttl": "2h",
            "token_bound_cidrs": ["10.0.0.0/8"],
        }));
        fields.apply(&data).unwrap();
        assert_eq!(fields.policies, ["dev", "ops"]);
        let grant = fields.grant();
        assert_eq!(grant.ttl, 3_600_000);
        assert_eq!(grant.explicit_max_ttl, 7_200_000);
        assert_eq!(fields.to_json()["token_ttl"], 3600);
        for bad in [
            json!({"token_policies": ["root"]}),
            json!({"token_ttl": "3h"}),
            json!({"token_bound_cidrs": ["nope"]}),
            json!({"token_type": "batch"}),
        ] {
            let mut copy = fields.clone();
            assert!(
                copy.apply(&crate::error::object(bad.clone())).is_err(),
                "{bad}"
            );
        }
    }
}
