//! A config's `connection_url`: a `postgres://` URL template whose
//! `{{username}}` and `{{password}}` are filled with the percent-encoded
//! credentials only when connecting, plus the TLS settings read out of it.
//!
//! The stored and shown URL never holds a password: a URL with a literal one
//! (in its user info or a `password=` parameter) is refused, so the password
//! lives only in the config's `password` field.

use std::str::FromStr;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::pg::tls::{TlsSettings, split_tls_params};

/// A parsed connection URL template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct UrlTemplate {
    /// The URL without `sslmode`/`sslrootcert` (tokio-postgres knows neither
    /// `verify-*` mode nor root files: they are ours to apply).
    template: String,
    /// What TLS the URL asks for.
    pub tls: TlsSettings,
}

impl UrlTemplate {
    /// Parses and checks `url`. The error never repeats the URL.
    pub(super) fn parse(url: &str) -> Result<UrlTemplate, String> {
        let (template, tls) = split_tls_params(url)?;
        // The password goes in its field, never in the URL: neither in the
        // user info nor as a query parameter.
        let (base, query) = template.split_once('?').unwrap_or((&template, ""));
        let rest = base.split_once("://").map_or(base, |(_, rest)| rest);
        let authority = rest.split('/').next().unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@')
            && let Some((_, password)) = userinfo.split_once(':')
            && password != "{{password}}"
        {
            return Err(literal_password());
        }
        if query
            .split('&')
            .filter_map(|pair| pair.strip_prefix("password="))
            .any(|value| value != "{{password}}")
            || query.split('&').any(|pair| pair == "password")
        {
            return Err(literal_password());
        }
        let parsed = UrlTemplate { template, tls };
        // Parse it once with stand-in credentials, so a bad URL fails when it
        // is written rather than at the first connection.
        parsed.pg_config("user", "password", Duration::from_secs(1))?;
        Ok(parsed)
    }

    /// True if the URL wants `{{username}}` filled in.
    pub(super) fn uses_username(&self) -> bool {
        self.template.contains("{{username}}")
    }

    /// The tokio-postgres settings for connecting as `username`/`password`:
    /// placeholders filled (percent-encoded), the credentials also set
    /// directly when the URL has no place for them.
    pub(super) fn pg_config(
        &self,
        username: &str,
        password: &str,
        connect_timeout: Duration,
    ) -> Result<tokio_postgres::Config, String> {
        let encoded = Zeroizing::new(percent_encode(password));
        let filled = Zeroizing::new(
            self.template
                .replace("{{username}}", &percent_encode(username))
                .replace("{{password}}", &encoded),
        );
        let mut config = tokio_postgres::Config::from_str(&filled).map_err(|e| {
            let mut message = format!("invalid connection_url: {e}");
            if let Some(cause) = std::error::Error::source(&e) {
                message.push_str(&format!(": {cause}"));
            }
            redact(&message, &[password])
        })?;
        if config.get_user().is_none() && !username.is_empty() {
            config.user(username);
        }
        if config.get_password().is_none() && !password.is_empty() {
            config.password(password);
        }
        if config.get_application_name().is_none() {
            config.application_name("vault-database-engine");
        }
        config.connect_timeout(connect_timeout);
        config.ssl_mode(self.tls.mode.negotiation());
        Ok(config)
    }
}

fn literal_password() -> String {
    "connection_url must not contain a password: put it in the password field and write \
     {{password}} in its place"
        .into()
}

/// `text` with every byte outside RFC 3986's unreserved set percent-encoded.
pub(super) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `text` with every non-empty `secret` in it replaced by `<redacted>`.
pub(super) fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(secret, "<redacted>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::tls::SslMode;

    const URL: &str = "postgres://{{username}}:{{password}}@127.0.0.1:5432/app";

    #[test]
    fn placeholders_are_filled_percent_encoded() {
        let url = UrlTemplate::parse(URL).unwrap();
        assert!(url.uses_username());
        let config = url
            .pg_config("v@dmin", "p:w/@?#%'\"", Duration::from_secs(2))
            .unwrap();
        assert_eq!(config.get_user(), Some("v@dmin"));
        assert_eq!(config.get_password(), Some(&b"p:w/@?#%'\""[..]));
        assert_eq!(config.get_dbname(), Some("app"));
        assert_eq!(config.get_connect_timeout(), Some(&Duration::from_secs(2)));
        assert_eq!(
            config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Disable
        );
    }

    #[test]
    fn credentials_are_set_when_the_url_has_no_place_for_them() {
        let url = UrlTemplate::parse("postgresql://127.0.0.1/app").unwrap();
        assert!(!url.uses_username());
        let config = url
            .pg_config("admin", "pw", Duration::from_secs(1))
            .unwrap();
        assert_eq!(config.get_user(), Some("admin"));
        assert_eq!(config.get_password(), Some(&b"pw"[..]));
    }

    #[test]
    fn literal_passwords_are_refused() {
        for url in [
            "postgres://admin:hunter2@127.0.0.1/app",
            "postgres://admin@127.0.0.1/app?password=hunter2",
        ] {
            let err = UrlTemplate::parse(url).unwrap_err();
            assert!(!err.contains("hunter2"), "{err}");
            assert!(err.contains("password field"), "{err}");
        }
        assert!(UrlTemplate::parse("mysql://x@h/db").is_err());
        assert!(UrlTemplate::parse("host=127.0.0.1 user=x").is_err());
    }

    #[test]
    fn tls_settings_come_out_of_the_query() {
        let url = UrlTemplate::parse(&format!(
            "{URL}?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&connect_timeout=3"
        ))
        .unwrap();
        assert_eq!(url.tls.mode, SslMode::VerifyFull);
        assert_eq!(url.tls.root_cert.as_deref(), Some("/etc/ca.pem"));
        let config = url.pg_config("u", "p", Duration::from_secs(1)).unwrap();
        assert_eq!(
            config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
        assert!(UrlTemplate::parse(&format!("{URL}?sslmode=verify-ca")).is_err());
        assert!(UrlTemplate::parse(&format!("{URL}?sslmode=allow")).is_err());
    }
}
