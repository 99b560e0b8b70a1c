//! `auth/<mount>/config`: the Kubernetes API that reviews service account
//! tokens (`kubernetes_host`, `kubernetes_ca_cert`, `token_reviewer_jwt`),
//! or the keys that verify them locally instead (`pem_keys`). Field names
//! are Vault's. The reviewer's token is stored behind the barrier and never
//! shown: a read says only whether it is set.
//!
//! This vault does not run as a pod, so it never reads a pod's local
//! service account files: `disable_local_ca_jwt` is accepted and kept, and
//! without `token_reviewer_jwt` each login's own token authorises its
//! review (as in Vault).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::engines::EngineError;
use crate::error::field;
use crate::params;
use crate::request::Data;
use crate::secret::SecretString;

const MAX_FIELD: usize = 64 * 1024;

/// The method's configuration.
#[derive(Clone, Default, Serialize, Deserialize)]
pub(super) struct K8sConfig {
    /// `https://host:port` of the Kubernetes API.
    pub kubernetes_host: String,
    /// PEM CA of the API server's certificate (empty: the system's roots).
    #[serde(default)]
    pub kubernetes_ca_cert: String,
    /// The token the vault reviews with (empty: the client's own).
    #[serde(default)]
    pub token_reviewer_jwt: String,
    /// PEM keys that verify service account tokens locally, instead of a
    /// TokenReview.
    #[serde(default)]
    pub pem_keys: Vec<String>,
    /// Kept as given (see the module's note).
    #[serde(default)]
    pub disable_local_ca_jwt: bool,
}

impl std::fmt::Debug for K8sConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("K8sConfig")
            .field("kubernetes_host", &self.kubernetes_host)
            .field("token_reviewer_jwt", &"<redacted>")
            .field("pem_keys", &self.pem_keys.len())
            .finish_non_exhaustive()
    }
}

impl K8sConfig {
    /// Applies a write over `self` (fields left out keep their value, as
    /// Vault does for `token_reviewer_jwt`), then checks the result.
    pub(super) fn apply(&mut self, data: &Data) -> Result<(), EngineError> {
        let invalid = |m: String| EngineError::InvalidRequest(m);
        let text = |name: &str| -> Result<Option<String>, EngineError> {
            let value = field(params::string(data, name))?;
            if value.as_ref().is_some_and(|v| v.len() > MAX_FIELD) {
                return Err(invalid(format!("{name} is longer than {MAX_FIELD} bytes")));
            }
            Ok(value.map(|v| v.trim().to_owned()))
        };
        if let Some(v) = text("kubernetes_host")? {
            self.kubernetes_host = v.trim_end_matches('/').to_owned();
        }
        if let Some(v) = text("kubernetes_ca_cert")? {
            self.kubernetes_ca_cert = v;
        }
        if let Some(v) = text("token_reviewer_jwt")? {
            self.token_reviewer_jwt = v;
        }
        if let Some(v) = field(params::string_list(data, "pem_keys"))? {
            self.pem_keys = v.into_iter().filter(|k| !k.trim().is_empty()).collect();
        }
        if let Some(v) = field(params::boolean(data, "disable_local_ca_jwt"))? {
            self.disable_local_ca_jwt = v;
        }
        if !self.kubernetes_host.starts_with("https://") {
            return Err(invalid(
                "kubernetes_host must be an https:// URL of the Kubernetes API".into(),
            ));
        }
        if !self.kubernetes_ca_cert.is_empty() {
            crate::https_client::check_ca(&self.kubernetes_ca_cert)
                .map_err(|e| invalid(format!("kubernetes_ca_cert: {e}")))?;
        }
        if self.pem_keys.iter().map(String::len).sum::<usize>() > MAX_FIELD {
            return Err(invalid(format!(
                "pem_keys are longer than {MAX_FIELD} bytes"
            )));
        }
        for (i, pem) in self.pem_keys.iter().enumerate() {
            crate::auth::jwt::pem::keys(pem).map_err(|e| invalid(format!("pem_keys[{i}]: {e}")))?;
        }
        Ok(())
    }

    /// The reviewer's token, if configured.
    pub(super) fn reviewer(&self) -> Option<SecretString> {
        (!self.token_reviewer_jwt.is_empty())
            .then(|| SecretString::new(self.token_reviewer_jwt.clone()))
    }
}

impl crate::auth::records::Shown for K8sConfig {
    fn to_json(&self) -> Value {
        json!({
            "kubernetes_host": self.kubernetes_host,
            "kubernetes_ca_cert": self.kubernetes_ca_cert,
            "pem_keys": self.pem_keys,
            "disable_local_ca_jwt": self.disable_local_ca_jwt,
            "token_reviewer_jwt_set": !self.token_reviewer_jwt.is_empty(),
            "disable_iss_validation": true,
            "issuer": "",
        })
    }
}
