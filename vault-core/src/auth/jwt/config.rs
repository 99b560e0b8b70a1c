//! `auth/<mount>/config`: where the method gets the keys that sign the
//! tokens it accepts (exactly one of `jwt_validation_pubkeys`, `jwks_url`,
//! `oidc_discovery_url`), the issuer it insists on, and the role used when a
//! login names none. Field names and answers are Vault's; the browser OIDC
//! flow's fields (`oidc_client_id`, `oidc_client_secret`) are refused, since
//! that flow is not served.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::engines::EngineError;
use crate::error::field;
use crate::params;
use crate::request::Data;

/// The longest URL or PEM text a config field takes.
const MAX_FIELD: usize = 64 * 1024;

/// The method's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct JwtConfig {
    /// PEM public keys that verify tokens locally.
    #[serde(default)]
    pub jwt_validation_pubkeys: Vec<String>,
    /// Where the signing keys are published (a JWKS).
    #[serde(default)]
    pub jwks_url: String,
    /// The CA that signs the JWKS server's certificate (PEM).
    #[serde(default)]
    pub jwks_ca_pem: String,
    /// An OIDC issuer: its `/.well-known/openid-configuration` names the
    /// JWKS, and its `issuer` must be this URL.
    #[serde(default)]
    pub oidc_discovery_url: String,
    /// The CA that signs the discovery server's certificate (PEM).
    #[serde(default)]
    pub oidc_discovery_ca_pem: String,
    /// The `iss` every token must carry (empty: not checked, except against
    /// discovery's issuer).
    #[serde(default)]
    pub bound_issuer: String,
    /// The role a login without `role` uses.
    #[serde(default)]
    pub default_role: String,
    /// Algorithms accepted (empty: every supported one).
    #[serde(default)]
    pub jwt_supported_algs: Vec<String>,
}

impl JwtConfig {
    /// A configuration from a write (a write replaces the whole config, as
    /// in Vault), checked: one key source, parseable keys, known algorithms.
    pub(super) fn from_request(data: &Data) -> Result<JwtConfig, EngineError> {
        for refused in ["oidc_client_id", "oidc_client_secret"] {
            if field(params::string(data, refused))?.is_some_and(|v| !v.is_empty()) {
                return Err(EngineError::InvalidRequest(format!(
                    "{refused}: the browser OIDC login flow is not served by this vault; \
                     configure jwks_url, oidc_discovery_url or jwt_validation_pubkeys and \
                     log in with a JWT (role_type \"jwt\")"
                )));
            }
        }
        let text = |name: &str| -> Result<String, EngineError> {
            let value = field(params::string(data, name))?.unwrap_or_default();
            if value.len() > MAX_FIELD {
                return Err(EngineError::InvalidRequest(format!(
                    "{name} is longer than {MAX_FIELD} bytes"
                )));
            }
            Ok(value.trim().to_owned())
        };
        let config = JwtConfig {
            jwt_validation_pubkeys: field(params::string_list(data, "jwt_validation_pubkeys"))?
                .unwrap_or_default()
                .into_iter()
                .filter(|k| !k.trim().is_empty())
                .collect(),
            jwks_url: text("jwks_url")?,
            jwks_ca_pem: text("jwks_ca_pem")?,
            oidc_discovery_url: text("oidc_discovery_url")?,
            oidc_discovery_ca_pem: text("oidc_discovery_ca_pem")?,
            bound_issuer: text("bound_issuer")?,
            default_role: text("default_role")?,
            jwt_supported_algs: field(params::string_list(data, "jwt_supported_algs"))?
                .unwrap_or_default(),
        };
        let sources = [
            !config.jwt_validation_pubkeys.is_empty(),
            !config.jwks_url.is_empty(),
            !config.oidc_discovery_url.is_empty(),
        ]
        .iter()
        .filter(|s| **s)
        .count();
        if sources != 1 {
            return Err(EngineError::InvalidRequest(
                "exactly one of 'jwt_validation_pubkeys', 'jwks_url' or 'oidc_discovery_url' \
                 must be set"
                    .into(),
            ));
        }
        let total: usize = config.jwt_validation_pubkeys.iter().map(String::len).sum();
        if total > MAX_FIELD {
            return Err(EngineError::InvalidRequest(format!(
                "jwt_validation_pubkeys are longer than {MAX_FIELD} bytes"
            )));
        }
        for (i, pem) in config.jwt_validation_pubkeys.iter().enumerate() {
            super::pem::keys(pem).map_err(|e| {
                EngineError::InvalidRequest(format!("jwt_validation_pubkeys[{i}]: {e}"))
            })?;
        }
        for alg in &config.jwt_supported_algs {
            super::verify::Algorithm::from_name(alg)
                .map_err(|e| EngineError::InvalidRequest(format!("jwt_supported_algs: {e}")))?;
        }
        for (name, url) in [
            ("jwks_url", &config.jwks_url),
            ("oidc_discovery_url", &config.oidc_discovery_url),
        ] {
            if !url.is_empty() && !url.starts_with("https://") {
                return Err(EngineError::InvalidRequest(format!(
                    "{name} must be an https:// URL"
                )));
            }
        }
        Ok(config)
    }
}

impl crate::auth::records::Shown for JwtConfig {
    /// Vault's fields.
    fn to_json(&self) -> Value {
        json!({
            "jwt_validation_pubkeys": self.jwt_validation_pubkeys,
            "jwks_url": self.jwks_url,
            "jwks_ca_pem": self.jwks_ca_pem,
            "oidc_discovery_url": self.oidc_discovery_url,
            "oidc_discovery_ca_pem": self.oidc_discovery_ca_pem,
            "oidc_client_id": "",
            "bound_issuer": self.bound_issuer,
            "default_role": self.default_role,
            "jwt_supported_algs": self.jwt_supported_algs,
            "oidc_response_mode": "",
            "oidc_response_types": [],
            "provider_config": {},
            "namespace_in_state": true,
        })
    }
}
