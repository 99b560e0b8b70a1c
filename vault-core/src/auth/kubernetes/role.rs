//! `auth/<mount>/role/<name>`: the service accounts that may log in under
//! the role (names and namespaces, `*` globs allowed), the audience their
//! tokens must be for, what names the entity alias (`alias_name_source`),
//! and the `token_*` settings. Field names and defaults are Vault's.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::glob::glob;
use crate::auth::token_fields::TokenFields;
use crate::engines::EngineError;
use crate::error::field;
use crate::params;
use crate::request::Data;

const MAX_LIST: usize = 256;

/// What names the entity alias of a login.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum AliasSource {
    /// The service account's uid (Vault's default): a recreated account is
    /// a new entity.
    #[default]
    ServiceaccountUid,
    /// `<namespace>/<name>`.
    ServiceaccountName,
}

/// One role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct K8sRole {
    /// Service account names allowed (`*` globs).
    pub bound_service_account_names: Vec<String>,
    /// Namespaces allowed (`*` globs).
    pub bound_service_account_namespaces: Vec<String>,
    /// The audience the token must be for (empty: not checked).
    pub audience: String,
    /// What names the alias.
    pub alias_name_source: AliasSource,
    /// The issued tokens.
    pub token: TokenFields,
}

impl K8sRole {
    /// Whether an account in `namespace` may log in under the role.
    pub(super) fn admits_namespace(&self, namespace: &str) -> bool {
        self.bound_service_account_namespaces
            .iter()
            .any(|p| glob(p, namespace))
    }

    /// Whether the account name `name` may log in under the role.
    pub(super) fn admits_name(&self, name: &str) -> bool {
        self.bound_service_account_names
            .iter()
            .any(|p| glob(p, name))
    }
}

impl crate::auth::records::Role for K8sRole {
    fn apply(&mut self, data: &Data) -> Result<(), EngineError> {
        let invalid = |m: &str| EngineError::InvalidRequest(m.to_owned());
        let list = |name: &str| -> Result<Option<Vec<String>>, EngineError> {
            let items = field(params::string_list(data, name))?;
            if items.as_ref().is_some_and(|l| l.len() > MAX_LIST) {
                return Err(EngineError::InvalidRequest(format!(
                    "{name} holds more than {MAX_LIST} items"
                )));
            }
            Ok(items)
        };
        if let Some(v) = list("bound_service_account_names")? {
            self.bound_service_account_names = v;
        }
        if let Some(v) = list("bound_service_account_namespaces")? {
            self.bound_service_account_namespaces = v;
        }
        if let Some(v) = field(params::string(data, "audience"))? {
            self.audience = v;
        }
        if let Some(v) = field(params::string(data, "alias_name_source"))? {
            self.alias_name_source = match v.as_str() {
                "" | "serviceaccount_uid" => AliasSource::ServiceaccountUid,
                "serviceaccount_name" => AliasSource::ServiceaccountName,
                _ => {
                    return Err(invalid(
                        "alias_name_source must be serviceaccount_uid or serviceaccount_name",
                    ));
                }
            };
        }
        self.token.apply(data)?;
        if self.bound_service_account_names.is_empty() {
            return Err(invalid("\"bound_service_account_names\" can not be empty"));
        }
        if self.bound_service_account_namespaces.is_empty() {
            return Err(invalid(
                "\"bound_service_account_namespaces\" can not be empty",
            ));
        }
        // Vault's rule: a lone "*" for both would let every account of the
        // cluster in.
        if self.bound_service_account_names == ["*"]
            && self.bound_service_account_namespaces == ["*"]
        {
            return Err(invalid(
                "service account name and namespace can not both be \"*\"",
            ));
        }
        Ok(())
    }
}

impl crate::auth::records::Shown for K8sRole {
    fn to_json(&self) -> Value {
        let mut out = self.token.to_json();
        let own = json!({
            "bound_service_account_names": self.bound_service_account_names,
            "bound_service_account_namespaces": self.bound_service_account_namespaces,
            "audience": self.audience,
            "alias_name_source": match self.alias_name_source {
                AliasSource::ServiceaccountUid => "serviceaccount_uid",
                AliasSource::ServiceaccountName => "serviceaccount_name",
            },
        });
        if let Value::Object(own) = own {
            out.extend(own);
        }
        Value::Object(out)
    }
}
