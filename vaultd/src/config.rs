//! The daemon's TOML configuration, and the checks made before anything starts.
//!
//! ```toml
//! log_level = "info"              # error | warn | info | debug | trace
//! log_format = "text"             # or "json": one object per line, request ids in it
//! raw_storage_endpoint = false    # Vault's sys/raw: root-token access to any barrier path
//! unsafe_allow_api_audit_creation = false   # OpenBao's key: sys/audit/<name> may enable devices
//! allowed_audit_file_dir = "/var/log/vault/api"   # ...file ones only as new files directly in it
//! ui = true                       # the operator UI at /ui/ (false: not served)
//!
//! [listener]
//! address = "127.0.0.1:8200"
//! tls_cert_file = "/etc/vault/tls.crt"   # required, both, unless tls_disable
//! tls_key_file = "/etc/vault/tls.key"
//! # tls_disable = true                   # plaintext, on loopback only...
//! # allow_plaintext_non_loopback = true  # ...unless this is set too
//! max_request_size = 33554432            # bytes (32 MiB)
//! max_request_duration = "90s"           # then DEADLINE_EXCEEDED
//! max_concurrent_requests = 1024         # over all connections; more are refused
//! max_concurrent_streams = 256           # per HTTP/2 connection
//! max_unauthenticated_request_size = 65536   # bytes, for a caller without a live token
//! max_request_bytes_in_flight = 268435456    # bytes of all bodies being read at once
//! max_connections = 1024                 # open at once, per address
//! max_tls_handshakes = 64                # under way at once, per address
//! max_json_depth = 128                   # Vault's JSON limits for request bodies
//! max_json_string_value_length = 1048576
//! max_json_object_entry_count = 10000
//! max_json_array_element_count = 10000
//! http_address = "127.0.0.1:8210"        # optional second address, same APIs
//!
//! [storage]
//! kind = "sqlite"
//! path = "/var/lib/vault/vault.db"
//! # or one table in PostgreSQL (the URL may instead come from VAULT_PG_CONNECTION_URL):
//! # kind = "postgres"
//! # connection_url = "postgres://vault:PASSWORD@db.internal:5432/vault?sslmode=verify-full&sslrootcert=system"
//! # table = "vault_kv"             # default
//! # max_connections = 8            # default
//! # skip_create_table = false      # true: the table must exist already
//!
//! [ha]                             # several nodes, one PostgreSQL: see ha_config.rs
//! enabled = true
//! node_id = "vault-1"
//!
//! [rate_limit.login_failures]      # per client address: see rate_limit_config.rs
//! burst = 64
//! per_second = 1.0
//!
//! [telemetry]
//! unauthenticated_metrics_access = false   # sys/metrics without a token
//! span_export = "stdout"           # each request's span as a JSON line on stdout
//! otlp_endpoint = "http://127.0.0.1:4318"   # and/or to an OTLP/HTTP collector
//!
//! [[audit]]                        # enabled at unseal, as declared here; repeatable
//! name = "file"
//! type = "file"                    # file | stdout | socket
//! options = { file_path = "/var/log/vault/audit.log" }
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use crate::config_error::ConfigError;

/// What requests may take, one and all.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest HTTP body, or decoded gRPC message, in bytes.
    pub max_request_size: usize,
    /// Logical requests being handled at once, over all connections; more
    /// are refused (RESOURCE_EXHAUSTED), not queued.
    pub max_concurrent_requests: usize,
    /// Requests at once on one HTTP/2 connection (its SETTINGS: the client
    /// waits for a free stream).
    pub max_concurrent_streams: u32,
    /// How long a logical request is waited for (DEADLINE_EXCEEDED after),
    /// and an HTTP body for.
    pub max_request_duration: Duration,
    /// The largest body from a caller without a live token.
    pub max_unauthenticated_request_size: usize,
    /// The bytes of all request bodies being read at once.
    pub max_request_bytes_in_flight: usize,
    /// Connections open at once, per listener address; more wait in the
    /// kernel's backlog.
    pub max_connections: usize,
    /// TLS handshakes under way at once, per listener address.
    pub max_tls_handshakes: usize,
    /// Vault's JSON limits for request bodies.
    pub json: vault_core::json_limits::JsonLimits,
}

/// What the daemon tells about itself.
#[derive(Debug, Clone, Default)]
pub struct Telemetry {
    /// Where finished request spans go.
    pub span_export: crate::trace::SpanExport,
    /// `sys/metrics` without a token.
    pub unauthenticated_metrics: bool,
}

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
    /// `"text"` (default) or `"json"`: one JSON object per log line, with the
    /// request's span (request id, trace id) in it.
    pub log_format: Option<String>,
    /// Serve the raw barrier methods (root token only).
    #[serde(default)]
    pub raw_storage_endpoint: bool,
    /// Audit devices declared here are enabled at unseal.
    #[serde(default)]
    pub audit: Vec<vault_core::audit::DeviceConfig>,
    /// Let `sys/audit/<name>` enable audit devices (OpenBao's key; off by
    /// default): otherwise a caller with `sudo` there chooses a file for the
    /// daemon to write (HashiCorp's HCSEC-2024-16).
    #[serde(default)]
    pub unsafe_allow_api_audit_creation: bool,
    /// The directory `file` devices enabled through the API are created in:
    /// directly, as new files (0600), never through a link. Without it they
    /// are refused.
    pub allowed_audit_file_dir: Option<PathBuf>,
    /// Lease revocation tuning.
    #[serde(default)]
    pub expiration: ExpirationConfig,
    /// High availability (PostgreSQL storage only).
    #[serde(default)]
    pub ha: crate::ha_config::HaConfig,
    /// Do not lock memory (Vault's key): keys may then reach swap.
    #[serde(default)]
    pub disable_mlock: bool,
    /// Failed logins and unseal calls per client address.
    #[serde(default)]
    pub rate_limit: crate::rate_limit_config::RateLimitConfig,
    /// Metrics and traces.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// Serve the operator UI at `/ui/` (Vault's key; on unless `false`,
    /// where Vault's is off unless `true`).
    #[serde(default = "serve_the_ui")]
    pub ui: bool,
}

fn serve_the_ui() -> bool {
    true
}

/// `[telemetry]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Serve `sys/metrics` without a token (Vault's key; off by default).
    #[serde(default)]
    pub unauthenticated_metrics_access: bool,
    /// `"stdout"`: write each request's span as a JSON line on stdout.
    pub span_export: Option<String>,
    /// `http://host:port`: send each request's span to this OTLP/HTTP
    /// collector (JSON encoding, `/v1/traces`).
    pub otlp_endpoint: Option<String>,
}

impl TelemetryConfig {
    /// Checked.
    pub fn telemetry(&self) -> Result<Telemetry, ConfigError> {
        let stdout = match self.span_export.as_deref() {
            None | Some("none") => false,
            Some("stdout") => true,
            Some(other) => {
                return Err(ConfigError(format!(
                    "telemetry.span_export {other:?} must be \"stdout\" or \"none\""
                )));
            }
        };
        let otlp = self
            .otlp_endpoint
            .as_deref()
            .map(crate::otlp::Endpoint::parse)
            .transpose()
            .map_err(|e| ConfigError(format!("telemetry.otlp_endpoint {e}")))?;
        Ok(Telemetry {
            span_export: crate::trace::SpanExport { stdout, otlp },
            unauthenticated_metrics: self.unauthenticated_metrics_access,
        })
    }
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
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// `ip:port`; port 0 picks a free port (printed at start).
    pub address: String,
    /// A second `ip:port` serving the same APIs (gRPC and Vault's HTTP API),
    /// e.g. Vault's usual 8200 for HTTP clients next to a gRPC port.
    pub http_address: Option<String>,
    /// PEM certificate chain.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key.
    pub tls_key_file: Option<PathBuf>,
    /// Listen without TLS (Vault's key). Without it, a certificate is
    /// required; with it, the address must be loopback unless
    /// `allow_plaintext_non_loopback` is set too.
    #[serde(default)]
    pub tls_disable: bool,
    /// Listen without TLS on a non-loopback address. Off by default.
    #[serde(default)]
    pub allow_plaintext_non_loopback: bool,
    /// The largest request accepted, in bytes (Vault's key; default 32 MiB):
    /// an HTTP body, or a gRPC message once decoded.
    pub max_request_size: Option<u64>,
    /// How long a request is waited for (Vault's key; default 90s).
    pub max_request_duration: Option<String>,
    /// Logical requests handled at once, over all connections (default
    /// 1024); more are refused.
    pub max_concurrent_requests: Option<usize>,
    /// Requests at once on one HTTP/2 connection (default 256).
    pub max_concurrent_streams: Option<u32>,
    /// The largest body from a caller without a live token (default 64 KiB).
    pub max_unauthenticated_request_size: Option<u64>,
    /// The bytes of all request bodies being read at once (default 256 MiB,
    /// at least max_request_size).
    pub max_request_bytes_in_flight: Option<u64>,
    /// Connections open at once per address (default 1024).
    pub max_connections: Option<usize>,
    /// TLS handshakes under way at once per address (default 64).
    pub max_tls_handshakes: Option<usize>,
    /// Vault's JSON limits (defaults 128, 1 MiB, 10000, 10000).
    pub max_json_depth: Option<usize>,
    pub max_json_string_value_length: Option<usize>,
    pub max_json_object_entry_count: Option<usize>,
    pub max_json_array_element_count: Option<usize>,
}

/// `listener.max_request_size` when not set (Vault's default).
pub const DEFAULT_MAX_REQUEST_SIZE: usize = 32 << 20;
/// `listener.max_request_duration` when not set (Vault's default).
const DEFAULT_MAX_REQUEST_DURATION: std::time::Duration = std::time::Duration::from_secs(90);
/// `listener.max_concurrent_requests` when not set.
const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 1024;
/// `listener.max_concurrent_streams` when not set.
const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 256;
/// `listener.max_unauthenticated_request_size` when not set.
const DEFAULT_MAX_UNAUTHENTICATED_REQUEST_SIZE: u64 = 64 << 10;
/// `listener.max_request_bytes_in_flight` when not set (or
/// `max_request_size`, if larger).
const DEFAULT_MAX_REQUEST_BYTES_IN_FLIGHT: u64 = 256 << 20;
/// `listener.max_connections` when not set: within the usual 1024 open
/// files a process may have, with room for storage and audit files.
const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// `listener.max_tls_handshakes` when not set.
const DEFAULT_MAX_TLS_HANDSHAKES: usize = 64;

/// `value` (or `default`) if it lies in `min..=max`, else an error naming
/// the setting and its bounds.
fn within(
    name: &str,
    value: Option<u64>,
    default: u64,
    min: u64,
    max: u64,
) -> Result<usize, ConfigError> {
    let v = value.unwrap_or(default);
    if !(min..=max).contains(&v) {
        return Err(ConfigError(format!(
            "{name} must be from {min} to {max}, not {v}"
        )));
    }
    usize::try_from(v).map_err(|_| ConfigError(format!("{name} is too large")))
}

/// The bounds a config may set it within.
const MAX_REQUEST_SIZE_RANGE: std::ops::RangeInclusive<u64> = 1024..=(1 << 30);

/// `[storage]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// `sqlite` or `postgres`.
    pub kind: String,
    /// sqlite: the database file.
    pub path: Option<PathBuf>,
    /// postgres: `postgres://...`; when absent, `VAULT_PG_CONNECTION_URL`.
    pub connection_url: Option<RedactedString>,
    /// postgres: the table (default `vault_kv`).
    pub table: Option<String>,
    /// postgres: the most sessions open at once (default 8).
    pub max_connections: Option<usize>,
    /// postgres: the table must exist; do not create it.
    pub skip_create_table: Option<bool>,
}

/// The environment variable read for the PostgreSQL URL when the config has none.
pub const PG_URL_ENV: &str = "VAULT_PG_CONNECTION_URL";

/// The storage kinds this build opens.
const STORAGE_KINDS: &str = "\"sqlite\" or \"postgres\"";

/// A config string that holds a secret (a URL with a password): `Debug` hides it.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct RedactedString(String);

impl std::fmt::Debug for RedactedString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Which store to open, with its settings.
#[derive(Debug)]
pub enum StorageChoice {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL table.
    Postgres(vault_core::storage::PostgresOptions),
}

impl StorageConfig {
    /// A SQLite store at `path`.
    pub fn sqlite(path: PathBuf) -> StorageConfig {
        StorageConfig {
            kind: "sqlite".into(),
            path: Some(path),
            connection_url: None,
            table: None,
            max_connections: None,
            skip_create_table: None,
        }
    }

    /// Refuses a kind this build does not know, and fields of another kind.
    fn check(&self) -> Result<(), ConfigError> {
        let postgres_fields = self.connection_url.is_some()
            || self.table.is_some()
            || self.max_connections.is_some()
            || self.skip_create_table.is_some();
        match self.kind.as_str() {
            "sqlite" => {
                if self.path.is_none() {
                    return Err(ConfigError(
                        "storage.path is required for kind \"sqlite\"".into(),
                    ));
                }
                if postgres_fields {
                    return Err(ConfigError(
                        "storage: connection_url, table, max_connections and skip_create_table \
                         are for kind \"postgres\""
                            .into(),
                    ));
                }
            }
            "postgres" => {
                if self.path.is_some() {
                    return Err(ConfigError(
                        "storage.path is for kind \"sqlite\"; kind \"postgres\" takes connection_url".into(),
                    ));
                }
                if let Some(table) = &self.table {
                    vault_core::storage::postgres::check_table_name(table)
                        .map_err(|e| ConfigError(format!("storage.table: {e}")))?;
                }
                if self.max_connections == Some(0) {
                    return Err(ConfigError(
                        "storage.max_connections must be at least 1".into(),
                    ));
                }
            }
            other => {
                return Err(ConfigError(format!(
                    "storage.kind {other:?} is not supported; use {STORAGE_KINDS}"
                )));
            }
        }
        Ok(())
    }

    /// What to open. `env_url` is `VAULT_PG_CONNECTION_URL`, used when the
    /// file has no connection_url.
    pub fn choice(&self, env_url: Option<String>) -> Result<StorageChoice, ConfigError> {
        self.check()?;
        if self.kind == "sqlite" {
            let path = self.path.clone().ok_or_else(|| {
                ConfigError("storage.path is required for kind \"sqlite\"".into())
            })?;
            return Ok(StorageChoice::Sqlite(path));
        }
        let url = match (&self.connection_url, env_url) {
            (Some(url), _) => url.0.clone(),
            (None, Some(url)) if !url.trim().is_empty() => url,
            _ => {
                return Err(ConfigError(format!(
                    "storage kind \"postgres\" needs connection_url, or the {PG_URL_ENV} environment variable"
                )));
            }
        };
        let mut options =
            vault_core::storage::PostgresOptions::new(vault_core::secret::SecretString::new(url));
        if let Some(table) = &self.table {
            options.table = table.clone();
        }
        if let Some(n) = self.max_connections {
            options.max_connections = n;
        }
        options.skip_create_table = self.skip_create_table.unwrap_or(false);
        Ok(StorageChoice::Postgres(options))
    }
}

fn default_log_level() -> String {
    "info".into()
}

/// Where the listener's TLS certificate chain and key are (read at start and
/// again on SIGHUP).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
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

    /// What `sys/audit/<name>` may enable. The directory must exist; it is
    /// resolved once, here, so that the file's parent is opened without
    /// following a link and a caller's path is compared with the real one.
    pub fn api_audit_policy(&self) -> Result<vault_core::audit::ApiAuditPolicy, ConfigError> {
        let file_dir = match &self.allowed_audit_file_dir {
            None => None,
            Some(dir) => {
                let bad = |why: String| {
                    ConfigError(format!("allowed_audit_file_dir {}: {why}", dir.display()))
                };
                if !dir.is_absolute() {
                    return Err(bad("must be an absolute path".into()));
                }
                let real = std::fs::canonicalize(dir).map_err(|e| bad(e.to_string()))?;
                if !real.is_dir() {
                    return Err(bad("is not a directory".into()));
                }
                Some(real)
            }
        };
        Ok(vault_core::audit::ApiAuditPolicy {
            allow_creation: self.unsafe_allow_api_audit_creation,
            file_dir,
        })
    }

    /// Whether `log_format` asks for JSON lines.
    pub fn json_logs(&self) -> Result<bool, ConfigError> {
        match self.log_format.as_deref() {
            None | Some("text") => Ok(false),
            Some("json") => Ok(true),
            Some(other) => Err(ConfigError(format!(
                "log_format {other:?} must be \"text\" or \"json\""
            ))),
        }
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

    /// The second listen address, parsed, if configured.
    pub fn http_address(&self) -> Result<Option<SocketAddr>, ConfigError> {
        let Some(text) = &self.listener.http_address else {
            return Ok(None);
        };
        text.parse().map(Some).map_err(|_| {
            ConfigError(format!(
                "listener.http_address {text:?} is not an ip:port address"
            ))
        })
    }

    /// Refuses what must not start: unknown storage, half a TLS pair, plaintext off
    /// loopback without the explicit opt-in.
    pub fn check(&self) -> Result<(), ConfigError> {
        self.expiration.options()?;
        self.rate_limit.limits()?;
        self.telemetry.telemetry()?;
        self.json_logs()?;
        self.limits()?;
        self.storage.check()?;
        self.api_audit_policy()?;
        self.ha.check(&self.storage.kind)?;
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
        match (tls, self.listener.tls_disable) {
            (true, true) => {
                return Err(ConfigError(
                    "listener: tls_disable = true and a certificate: choose one".into(),
                ));
            }
            (false, false) => {
                return Err(ConfigError(
                    "listener: TLS is required: set tls_cert_file and tls_key_file, or \
                     tls_disable = true to serve plaintext on a loopback address"
                        .into(),
                ));
            }
            _ => {}
        }
        for address in std::iter::once(address).chain(self.http_address()?) {
            if !tls && !address.ip().is_loopback() && !self.listener.allow_plaintext_non_loopback {
                return Err(ConfigError(format!(
                    "refusing to listen on {address} without TLS: set listener.tls_cert_file and \
                     listener.tls_key_file, or allow_plaintext_non_loopback = true"
                )));
            }
        }
        Ok(())
    }

    /// The `listener.max_*` limits, checked, defaults filled in.
    pub fn limits(&self) -> Result<Limits, ConfigError> {
        let l = &self.listener;
        let max_request_duration = match &l.max_request_duration {
            None => DEFAULT_MAX_REQUEST_DURATION,
            Some(text) => vault_core::params::parse_duration_ms(text)
                .ok()
                .filter(|ms| (1_000..=86_400_000).contains(ms))
                .map(std::time::Duration::from_millis)
                .ok_or_else(|| {
                    ConfigError(format!(
                        "listener.max_request_duration {text:?} must be a duration from 1s to 24h"
                    ))
                })?,
        };
        let max_concurrent_requests = l
            .max_concurrent_requests
            .unwrap_or(DEFAULT_MAX_CONCURRENT_REQUESTS);
        if !(1..=1_000_000).contains(&max_concurrent_requests) {
            return Err(ConfigError(
                "listener.max_concurrent_requests must be from 1 to 1000000".into(),
            ));
        }
        let max_concurrent_streams = l
            .max_concurrent_streams
            .unwrap_or(DEFAULT_MAX_CONCURRENT_STREAMS);
        if !(1..=65_536).contains(&max_concurrent_streams) {
            return Err(ConfigError(
                "listener.max_concurrent_streams must be from 1 to 65536".into(),
            ));
        }
        let max_request_size = self.max_request_size()?;
        let max_unauthenticated_request_size = within(
            "listener.max_unauthenticated_request_size",
            l.max_unauthenticated_request_size,
            DEFAULT_MAX_UNAUTHENTICATED_REQUEST_SIZE,
            1024,
            max_request_size as u64,
        )?;
        let max_request_bytes_in_flight = within(
            "listener.max_request_bytes_in_flight",
            l.max_request_bytes_in_flight,
            DEFAULT_MAX_REQUEST_BYTES_IN_FLIGHT.max(max_request_size as u64),
            max_request_size as u64,
            1 << 40,
        )?;
        let count = |name: &str, value: Option<usize>, default: usize, max: usize| {
            within(name, value.map(|v| v as u64), default as u64, 1, max as u64)
        };
        let defaults = vault_core::json_limits::JsonLimits::default();
        let json = vault_core::json_limits::JsonLimits {
            max_depth: count(
                "listener.max_json_depth",
                l.max_json_depth,
                defaults.max_depth,
                vault_core::json_limits::MAX_DEPTH_LIMIT,
            )?,
            max_string_length: count(
                "listener.max_json_string_value_length",
                l.max_json_string_value_length,
                defaults.max_string_length,
                max_request_size,
            )?,
            max_object_entries: count(
                "listener.max_json_object_entry_count",
                l.max_json_object_entry_count,
                defaults.max_object_entries,
                max_request_size,
            )?,
            max_array_elements: count(
                "listener.max_json_array_element_count",
                l.max_json_array_element_count,
                defaults.max_array_elements,
                max_request_size,
            )?,
        };
        Ok(Limits {
            max_request_size,
            max_concurrent_requests,
            max_concurrent_streams,
            max_request_duration,
            max_unauthenticated_request_size,
            max_request_bytes_in_flight,
            max_connections: count(
                "listener.max_connections",
                l.max_connections,
                DEFAULT_MAX_CONNECTIONS,
                1_000_000,
            )?,
            max_tls_handshakes: count(
                "listener.max_tls_handshakes",
                l.max_tls_handshakes,
                DEFAULT_MAX_TLS_HANDSHAKES,
                100_000,
            )?,
            json,
        })
    }

    /// `listener.max_request_size`, checked.
    fn max_request_size(&self) -> Result<usize, ConfigError> {
        match self.listener.max_request_size {
            None => Ok(DEFAULT_MAX_REQUEST_SIZE),
            Some(n) if MAX_REQUEST_SIZE_RANGE.contains(&n) => usize::try_from(n)
                .map_err(|_| ConfigError("listener.max_request_size is too large".into())),
            Some(n) => Err(ConfigError(format!(
                "listener.max_request_size must be between {} and {} bytes, not {n}",
                MAX_REQUEST_SIZE_RANGE.start(),
                MAX_REQUEST_SIZE_RANGE.end()
            ))),
        }
    }

    /// The TLS files, if configured.
    pub fn tls_files(&self) -> Option<TlsFiles> {
        let (Some(cert), Some(key)) = (&self.listener.tls_cert_file, &self.listener.tls_key_file)
        else {
            return None;
        };
        Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        })
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
    fn plaintext_must_be_asked_for_and_stays_on_loopback() {
        let base = "[storage]\nkind = \"sqlite\"\npath = \"/tmp/x.db\"\n[listener]\n";
        // Plaintext must be asked for, even on loopback.
        let err = parse(&format!("{base}address = \"127.0.0.1:8200\"")).unwrap_err();
        assert!(err.0.contains("TLS is required"), "{err}");
        let plain = "tls_disable = true\n";
        assert!(parse(&format!("{base}{plain}address = \"127.0.0.1:8200\"")).is_ok());
        let err = parse(&format!("{base}{plain}address = \"0.0.0.0:8200\"")).unwrap_err();
        assert!(err.0.contains("without TLS"), "{err}");
        assert!(
            parse(&format!(
                "{base}{plain}address = \"0.0.0.0:8200\"\nallow_plaintext_non_loopback = true"
            ))
            .is_ok()
        );
        let err = parse(&format!(
            "{base}{plain}address = \"127.0.0.1:1\"\ntls_cert_file = \"/c\"\ntls_key_file = \"/k\""
        ))
        .unwrap_err();
        assert!(err.0.contains("choose one"), "{err}");
        let err = parse(&format!(
            "{base}address = \"127.0.0.1:1\"\ntls_cert_file = \"/c\""
        ))
        .unwrap_err();
        assert!(err.0.contains("both"), "{err}");
    }

    #[test]
    fn listener_limits_have_defaults_and_bounds() {
        let base = "[storage]\nkind = \"sqlite\"\npath = \"/tmp/x.db\"\n[listener]\n\
                    address = \"127.0.0.1:1\"\ntls_disable = true\n";
        let limits = parse(base).unwrap().limits().unwrap();
        assert_eq!(
            limits.max_request_duration,
            std::time::Duration::from_secs(90)
        );
        assert_eq!(limits.max_concurrent_requests, 1024);
        let set = parse(&format!(
            "{base}max_request_duration = \"2m\"\nmax_concurrent_requests = 7"
        ))
        .unwrap()
        .limits()
        .unwrap();
        assert_eq!(
            set.max_request_duration,
            std::time::Duration::from_secs(120)
        );
        assert_eq!(set.max_concurrent_requests, 7);
        for (bad, key) in [
            ("max_request_duration = \"0s\"", "max_request_duration"),
            ("max_request_duration = \"soon\"", "max_request_duration"),
            ("max_concurrent_requests = 0", "max_concurrent_requests"),
            ("max_concurrent_streams = 0", "max_concurrent_streams"),
        ] {
            let err = parse(&format!("{base}{bad}")).unwrap_err();
            assert!(err.0.contains(key), "{bad}: {err}");
        }
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

    const LISTENER: &str = "[listener]\naddress = \"127.0.0.1:1\"\ntls_disable = true\n";

    fn storage(section: &str) -> Result<Config, ConfigError> {
        parse(&format!("{LISTENER}[storage]\n{section}"))
    }

    #[test]
    fn postgres_storage_reads_its_fields() {
        let c = storage(
            "kind = \"postgres\"\nconnection_url = \"postgres://u:pw@h/db\"\n\
             table = \"kv2\"\nmax_connections = 3\nskip_create_table = true",
        )
        .unwrap();
        assert!(
            !format!("{c:?}").contains("pw@"),
            "the URL's password is shown"
        );
        let StorageChoice::Postgres(o) = c.storage.choice(None).unwrap() else {
            panic!("not postgres");
        };
        assert_eq!(o.connection_url.expose_secret(), "postgres://u:pw@h/db");
        assert_eq!((o.table.as_str(), o.max_connections), ("kv2", 3));
        assert!(o.skip_create_table);

        // Defaults, and the URL from the environment when the file has none.
        let c = storage("kind = \"postgres\"").unwrap();
        let err = c.storage.choice(None).unwrap_err();
        assert!(err.0.contains(PG_URL_ENV), "{err}");
        let StorageChoice::Postgres(o) = c
            .storage
            .choice(Some("postgres://u:pw@envhost/db".into()))
            .unwrap()
        else {
            panic!("not postgres");
        };
        assert_eq!(
            o.connection_url.expose_secret(),
            "postgres://u:pw@envhost/db"
        );
        assert_eq!((o.table.as_str(), o.max_connections), ("vault_kv", 8));
        assert!(!o.skip_create_table);
        // The file's URL wins over the environment's.
        let c = storage("kind = \"postgres\"\nconnection_url = \"postgres://file/db\"").unwrap();
        let StorageChoice::Postgres(o) =
            c.storage.choice(Some("postgres://env/db".into())).unwrap()
        else {
            panic!("not postgres");
        };
        assert_eq!(o.connection_url.expose_secret(), "postgres://file/db");
    }

    #[test]
    fn storage_fields_belong_to_their_kind() {
        let c = storage("kind = \"sqlite\"\npath = \"/tmp/x.db\"").unwrap();
        assert!(matches!(
            c.storage.choice(Some("postgres://ignored".into())).unwrap(),
            StorageChoice::Sqlite(p) if p == Path::new("/tmp/x.db")
        ));
        let err = storage("kind = \"sqlite\"").unwrap_err();
        assert!(err.0.contains("path"), "{err}");
        let err = storage("kind = \"sqlite\"\npath = \"x\"\ntable = \"t\"").unwrap_err();
        assert!(err.0.contains("postgres"), "{err}");
        let err = storage("kind = \"postgres\"\npath = \"x\"").unwrap_err();
        assert!(err.0.contains("sqlite"), "{err}");
        let err = storage("kind = \"postgres\"\ntable = \"Bad;Name\"").unwrap_err();
        assert!(err.0.contains("storage.table"), "{err}");
        let err = storage("kind = \"postgres\"\nmax_connections = 0").unwrap_err();
        assert!(err.0.contains("max_connections"), "{err}");
        let err = storage("kind = \"raft\"").unwrap_err();
        assert!(
            err.0.contains("sqlite") && err.0.contains("postgres"),
            "{err}"
        );
    }
}
