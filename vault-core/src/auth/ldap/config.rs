//! `auth/<mount>/config`: which directory servers to ask and how (`url`, a
//! comma-separated list tried in order; `starttls`; `certificate`;
//! `insecure_tls`, off by default; a client certificate), how to find a
//! user (`binddn`/`bindpass` for searching, `userdn`, `userattr`,
//! `userfilter`, `upndomain` for Active Directory, `discoverdn`) and their
//! groups (`groupdn`, `groupfilter`, `groupattr`), and the timeouts. Field
//! names and defaults are Vault's. `bindpass` and `client_tls_key` are
//! stored behind the barrier and never shown.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::records::Shown;
use crate::auth::token_fields::TokenFields;
use crate::engines::EngineError;
use crate::error::field;
use crate::params;
use crate::request::Data;

/// Vault's default user filter.
pub(super) const DEFAULT_USER_FILTER: &str = "({{.UserAttr}}={{.Username}})";
/// Vault's default group filter.
pub(super) const DEFAULT_GROUP_FILTER: &str =
    "(|(memberUid={{.Username}})(member={{.UserDN}})(uniqueMember={{.UserDN}}))";

const MAX_FIELD: usize = 64 * 1024;
const MAX_SERVERS: usize = 16;

/// The method's configuration.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct LdapConfig {
    pub url: String,
    pub starttls: bool,
    pub insecure_tls: bool,
    pub certificate: String,
    pub client_tls_cert: String,
    pub client_tls_key: String,
    pub binddn: String,
    pub bindpass: String,
    pub userdn: String,
    pub userattr: String,
    pub userfilter: String,
    pub upndomain: String,
    pub discoverdn: bool,
    pub deny_null_bind: bool,
    pub groupdn: String,
    pub groupfilter: String,
    pub groupattr: String,
    pub case_sensitive_names: bool,
    pub username_as_alias: bool,
    /// Seconds, for each directory operation.
    pub request_timeout: u64,
    /// Seconds, to connect to one server (TCP, TLS, StartTLS).
    pub connection_timeout: u64,
    /// The `token_*` fields of every login's token.
    pub token: TokenFields,
}

impl Default for LdapConfig {
    fn default() -> Self {
        LdapConfig {
            url: "ldap://127.0.0.1".into(),
            starttls: false,
            insecure_tls: false,
            certificate: String::new(),
            client_tls_cert: String::new(),
            client_tls_key: String::new(),
            binddn: String::new(),
            bindpass: String::new(),
            userdn: String::new(),
            userattr: "cn".into(),
            userfilter: DEFAULT_USER_FILTER.into(),
            upndomain: String::new(),
            discoverdn: false,
            deny_null_bind: true,
            groupdn: String::new(),
            groupfilter: DEFAULT_GROUP_FILTER.into(),
            groupattr: "cn".into(),
            case_sensitive_names: false,
            username_as_alias: false,
            request_timeout: 90,
            connection_timeout: 30,
            token: TokenFields::default(),
        }
    }
}

impl std::fmt::Debug for LdapConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapConfig")
            .field("url", &self.url)
            .field("binddn", &self.binddn)
            .field("bindpass", &"<redacted>")
            .field("client_tls_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl LdapConfig {
    /// The servers, in the order they are tried.
    pub(super) fn servers(&self) -> Vec<&str> {
        self.url
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .collect()
    }

    pub(super) fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout.max(1))
    }

    pub(super) fn connection_timeout(&self) -> Duration {
        Duration::from_secs(self.connection_timeout.max(1))
    }

    /// Applies a write over `self` (fields left out keep their value, as
    /// Vault does), then checks the result.
    pub(super) fn apply(&mut self, data: &Data) -> Result<(), EngineError> {
        let invalid = |m: String| EngineError::InvalidRequest(m);
        let text = |name: &str| -> Result<Option<String>, EngineError> {
            let value = field(params::string(data, name))?;
            if value.as_ref().is_some_and(|v| v.len() > MAX_FIELD) {
                return Err(invalid(format!("{name} is longer than {MAX_FIELD} bytes")));
            }
            Ok(value.map(|v| v.trim().to_owned()))
        };
        let flag = |name: &str| field(params::boolean(data, name));
        let seconds = |name: &str| -> Result<Option<u64>, EngineError> {
            Ok(field(params::duration_ms(data, name))?.map(|ms| ms / 1000))
        };
        macro_rules! set_text {
            ($($name:ident),*) => {$(
                if let Some(v) = text(stringify!($name))? { self.$name = v; }
            )*};
        }
        set_text!(
            url,
            certificate,
            client_tls_cert,
            client_tls_key,
            binddn,
            bindpass,
            userdn,
            userattr,
            userfilter,
            upndomain,
            groupdn,
            groupfilter,
            groupattr
        );
        macro_rules! set_flag {
            ($($name:ident),*) => {$(
                if let Some(v) = flag(stringify!($name))? { self.$name = v; }
            )*};
        }
        set_flag!(
            starttls,
            insecure_tls,
            discoverdn,
            deny_null_bind,
            case_sensitive_names,
            username_as_alias
        );
        if let Some(v) = seconds("request_timeout")? {
            self.request_timeout = v;
        }
        if let Some(v) = seconds("connection_timeout")? {
            self.connection_timeout = v;
        }
        self.token.apply(data)?;
        self.check()
    }

    fn check(&self) -> Result<(), EngineError> {
        let invalid = |m: String| EngineError::InvalidRequest(m);
        let servers = self.servers();
        if servers.is_empty() || servers.len() > MAX_SERVERS {
            return Err(invalid(format!("url must name 1 to {MAX_SERVERS} servers")));
        }
        for server in &servers {
            if !(server.starts_with("ldap://") || server.starts_with("ldaps://")) {
                return Err(invalid(format!(
                    "url {server:?} is not an ldap:// or ldaps:// URL"
                )));
            }
        }
        if !self.certificate.is_empty() {
            crate::https_client::check_ca(&self.certificate)
                .map_err(|e| invalid(format!("certificate: {e}")))?;
        }
        if self.client_tls_cert.is_empty() != self.client_tls_key.is_empty() {
            return Err(invalid(
                "client_tls_cert and client_tls_key go together".into(),
            ));
        }
        if self.userattr.is_empty() || self.groupattr.is_empty() {
            return Err(invalid("userattr and groupattr must not be empty".into()));
        }
        for (name, template) in [
            ("userfilter", &self.userfilter),
            ("groupfilter", &self.groupfilter),
        ] {
            super::filter::check(template).map_err(|e| invalid(format!("{name}: {e}")))?;
        }
        if self.request_timeout == 0 || self.connection_timeout == 0 {
            return Err(invalid(
                "request_timeout and connection_timeout must be at least 1s".into(),
            ));
        }
        Ok(())
    }
}

impl Shown for LdapConfig {
    fn to_json(&self) -> Value {
        let mut out = self.token.to_json();
        let own = json!({
            "url": self.url,
            "starttls": self.starttls,
            "insecure_tls": self.insecure_tls,
            "certificate": self.certificate,
            "client_tls_cert": self.client_tls_cert,
            "binddn": self.binddn,
            "userdn": self.userdn,
            "userattr": self.userattr,
            "userfilter": self.userfilter,
            "upndomain": self.upndomain,
            "discoverdn": self.discoverdn,
            "deny_null_bind": self.deny_null_bind,
            "groupdn": self.groupdn,
            "groupfilter": self.groupfilter,
            "groupattr": self.groupattr,
            "case_sensitive_names": self.case_sensitive_names,
            "username_as_alias": self.username_as_alias,
            "request_timeout": self.request_timeout,
            "connection_timeout": self.connection_timeout,
            "tls_min_version": "tls12",
        });
        if let Value::Object(own) = own {
            out.extend(own);
        }
        Value::Object(out)
    }
}
