//! The daemon's TOML configuration, and the checks made before anything starts.
//!
//! ```toml
//! log_level = "info"              # error | warn | info | debug | trace
//! raw_storage_endpoint = false    # Vault's sys/raw: root-token access to any barrier path
//!
//! [listener]
//! address = "127.0.0.1:8200"
//! tls_cert_file = "/etc/vault/tls.crt"   # both or neither
//! tls_key_file = "/etc/vault/tls.key"
//! allow_plaintext_non_loopback = false   # plaintext off loopback must be asked for
//!
//! [storage]
//! kind = "sqlite"
//! path = "/var/lib/vault/vault.db"
//!
//! [[audit]]                        # enabled at unseal if not already; repeatable
//! name = "file"
//! type = "file"                    # file | stdout | socket
//! options = { file_path = "/var/log/vault/audit.log" }
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A configuration the daemon refuses to start with (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where to listen.
    pub listener: ListenerConfig,
    /// Where to store.
    pub storage: StorageConfig,
    /// Log filter (tracing's `EnvFilter` syntax); `RUST_LOG` overrides it.
    #[serde(default = "default_log_level")]
    pub log_level: String,
    /// Serve the raw barrier methods (root token only).
    #[serde(default)]
    pub raw_storage_endpoint: bool,
    /// Audit devices declared here are enabled at unseal.
    #[serde(default)]
    pub audit: Vec<vault_core::audit::DeviceConfig>,
    /// Lease revocation tuning.
    #[serde(default)]
    pub expiration: ExpirationConfig,
}

/// `[expiration]`: how failed revocations are retried. Durations in Vault's
/// syntax (`500ms`, `30s`, `5m`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpirationConfig {
    /// The first retry delay; each failure doubles it (default 1s).
    pub revoke_backoff_base: Option<String>,
    /// The longest delay between retries (default 3m).
    pub revoke_backoff_cap: Option<String>,
    /// Engine revocations in flight at once (default 8).
    pub max_concurrent_revocations: Option<usize>,
}

impl ExpirationConfig {
    /// The core's options, or an error naming the bad field.
    pub fn options(&self) -> Result<vault_core::expiration::ExpirationOptions, ConfigError> {
        let mut options = vault_core::expiration::ExpirationOptions::default();
        let duration = |name: &str, text: &Option<String>, default: std::time::Duration| match text
        {
            None => Ok(default),
            Some(t) => vault_core::params::parse_duration_ms(t)
                .map(std::time::Duration::from_millis)
                .map_err(|e| ConfigError(format!("expiration.{name}: {e}"))),
        };
        options.backoff.base = duration(
            "revoke_backoff_base",
            &self.revoke_backoff_base,
            options.backoff.base,
        )?;
        options.backoff.cap = duration(
            "revoke_backoff_cap",
            &self.revoke_backoff_cap,
            options.backoff.cap,
        )?;
        if options.backoff.base.is_zero() || options.backoff.cap < options.backoff.base {
            return Err(ConfigError(
                "expiration: revoke_backoff_base must be above 0 and at most revoke_backoff_cap"
                    .into(),
            ));
        }
        if let Some(n) = self.max_concurrent_revocations {
            if n == 0 {
                return Err(ConfigError(
                    "expiration.max_concurrent_revocations must be at least 1".into(),
                ));
            }
            options.max_concurrent_revocations = n;
        }
        Ok(options)
    }
}

/// `[listener]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// `ip:port`; port 0 picks a free port (printed at start).
    pub address: String,
    /// PEM certificate chain.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key.
    pub tls_key_file: Option<PathBuf>,
    /// Listen without TLS on a non-loopback address. Off by default.
    #[serde(default)]
    pub allow_plaintext_non_loopback: bool,
}

/// `[storage]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// `sqlite` (the only kind so far).
    pub kind: String,
    /// The database file.
    pub path: PathBuf,
}

fn default_log_level() -> String {
    "info".into()
}

/// TLS material read from the configured files.
#[derive(Debug)]
pub struct TlsFiles {
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
}

impl Config {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read config {}: {e}", path.display())))?;
        let config: Config = toml::from_str(&text)
            .map_err(|e| ConfigError(format!("invalid config {}: {e}", path.display())))?;
        config.check()?;
        Ok(config)
    }

    /// The listen address, parsed.
    pub fn address(&self) -> Result<SocketAddr, ConfigError> {
        self.listener.address.parse().map_err(|_| {
            ConfigError(format!(
                "listener.address {:?} is not an ip:port address",
                self.listener.address
            ))
        })
    }

    /// Refuses what must not start: unknown storage, half a TLS pair, plaintext off
    /// loopback without the explicit opt-in.
    pub fn check(&self) -> Result<(), ConfigError> {
        self.expiration.options()?;
        if self.storage.kind != "sqlite" {
            return Err(ConfigError(format!(
                "storage.kind {:?} is not supported; use \"sqlite\"",
                self.storage.kind
            )));
        }
        let address = self.address()?;
        let tls = match (&self.listener.tls_cert_file, &self.listener.tls_key_file) {
            (Some(_), Some(_)) => true,
            (None, None) => false,
            _ => {
                return Err(ConfigError(
                    "listener: set both tls_cert_file and tls_key_file, or neither".into(),
                ));
            }
        };
        if !tls && !address.ip().is_loopback() && !self.listener.allow_plaintext_non_loopback {
            return Err(ConfigError(format!(
                "refusing to listen on {address} without TLS: set listener.tls_cert_file and \
                 listener.tls_key_file, or allow_plaintext_non_loopback = true"
            )));
        }
        Ok(())
    }

    /// The TLS files, if configured.
    pub fn tls_files(&self) -> Result<Option<TlsFiles>, ConfigError> {
        let (Some(cert), Some(key)) = (&self.listener.tls_cert_file, &self.listener.tls_key_file)
        else {
            return Ok(None);
        };
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| ConfigError(format!("cannot read {}: {e}", p.display())))
        };
        Ok(Some(TlsFiles {
            cert: read(cert)?,
            key: read(key)?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        let c: Config = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        c.check()?;
        Ok(c)
    }

    #[test]
    fn plaintext_off_loopback_needs_the_opt_in() {
        let base = "[storage]\nkind = \"sqlite\"\npath = \"/tmp/x.db\"\n[listener]\n";
        assert!(parse(&format!("{base}address = \"127.0.0.1:8200\"")).is_ok());
        let err = parse(&format!("{base}address = \"0.0.0.0:8200\"")).unwrap_err();
        assert!(err.0.contains("without TLS"), "{err}");
        assert!(
            parse(&format!(
                "{base}address = \"0.0.0.0:8200\"\nallow_plaintext_non_loopback = true"
            ))
            .is_ok()
        );
        let err = parse(&format!(
            "{base}address = \"127.0.0.1:1\"\ntls_cert_file = \"/c\""
        ))
        .unwrap_err();
        assert!(err.0.contains("both"), "{err}");
    }

    #[test]
    fn unknown_fields_and_kinds_are_refused() {
        let err = parse(
            "[storage]\nkind = \"raft\"\npath = \"x\"\n[listener]\naddress = \"127.0.0.1:1\"",
        )
        .unwrap_err();
        assert!(err.0.contains("raft"));
        assert!(parse("bogus = 1\n[storage]\nkind = \"sqlite\"\npath = \"x\"\n[listener]\naddress = \"127.0.0.1:1\"").is_err());
    }
}
