//! `[ha]`: several vaultd nodes over one PostgreSQL storage, one active.
//!
//! ```toml
//! [ha]
//! enabled = true
//! node_id = "vault-1"                      # unique per node, stable across restarts
//! advertise_address = "https://10.0.0.1:8200"  # default: this listener's address
//! lock_ttl = "2s"                          # the lock lasts this long unrenewed
//! poll_interval = "250ms"                  # how often a standby tries the lock
//! step_down_wait = "5s"                    # after a step-down, before competing again
//! request_forwarding = true                # false: standbys answer UNAVAILABLE + leader
//! tls_ca_file = "/etc/vault/ca.pem"        # trust for forwarding to an https leader
//! lock_table = "vault_ha_lock"
//! members_table = "vault_ha_members"
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use vault_core::ha::HaOptions;

use crate::config_error::ConfigError;

/// The shortest lock TTL accepted: below it a renewal every quarter TTL
/// would race ordinary database latency.
const MIN_LOCK_TTL: Duration = Duration::from_millis(500);

/// `[ha]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaConfig {
    /// Take part in HA (needs PostgreSQL storage).
    #[serde(default)]
    pub enabled: bool,
    /// This node's id.
    pub node_id: Option<String>,
    /// Where other nodes and clients reach this node.
    pub advertise_address: Option<String>,
    /// Lock TTL (default 2s).
    pub lock_ttl: Option<String>,
    /// Standby poll interval (default 250ms).
    pub poll_interval: Option<String>,
    /// Wait after a step-down (default 5s).
    pub step_down_wait: Option<String>,
    /// Standbys forward requests to the active node (default true).
    pub request_forwarding: Option<bool>,
    /// CA bundle to trust when forwarding to an https active node.
    pub tls_ca_file: Option<PathBuf>,
    /// Lock table (default `vault_ha_lock`).
    pub lock_table: Option<String>,
    /// Members table (default `vault_ha_members`).
    pub members_table: Option<String>,
}

fn duration(name: &str, text: &Option<String>, default: Duration) -> Result<Duration, ConfigError> {
    match text {
        None => Ok(default),
        Some(t) => vault_core::params::parse_duration_ms(t)
            .map(Duration::from_millis)
            .map_err(|e| ConfigError(format!("ha.{name}: {e}"))),
    }
}

impl HaConfig {
    /// Checks the fields that do not depend on the bound address.
    pub fn check(&self, storage_kind: &str) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        if storage_kind != "postgres" {
            return Err(ConfigError(format!(
                "ha.enabled needs storage kind \"postgres\" (several nodes sharing one database); \
                 storage kind is {storage_kind:?}"
            )));
        }
        if self.node_id.as_deref().is_none_or(str::is_empty) {
            return Err(ConfigError(
                "ha.node_id is required with ha.enabled: a name unique to this node".into(),
            ));
        }
        self.options(
            "127.0.0.1:1"
                .parse()
                .map_err(|_| ConfigError("unreachable".into()))?,
            "http",
        )
        .map(|_| ())
    }

    /// The core's options for a node bound at `bound`, serving `scheme`.
    pub fn options(&self, bound: SocketAddr, scheme: &str) -> Result<HaOptions, ConfigError> {
        let node_id = self.node_id.clone().unwrap_or_default();
        let advertise = match &self.advertise_address {
            Some(a) => {
                if !(a.starts_with("http://") || a.starts_with("https://")) {
                    return Err(ConfigError(format!(
                        "ha.advertise_address {a:?} must start with http:// or https://"
                    )));
                }
                a.trim_end_matches('/').to_owned()
            }
            None if bound.ip().is_unspecified() => {
                return Err(ConfigError(format!(
                    "ha.advertise_address is required when the listener binds {bound}: other \
                     nodes need an address they can reach"
                )));
            }
            None => format!("{scheme}://{bound}"),
        };
        let mut options = HaOptions::new(node_id, advertise);
        options.lock_ttl = duration("lock_ttl", &self.lock_ttl, options.lock_ttl)?;
        if options.lock_ttl < MIN_LOCK_TTL {
            return Err(ConfigError(format!(
                "ha.lock_ttl must be at least {MIN_LOCK_TTL:?}"
            )));
        }
        options.poll = duration("poll_interval", &self.poll_interval, options.poll)?;
        if options.poll.is_zero() {
            return Err(ConfigError("ha.poll_interval must be above 0".into()));
        }
        options.step_down_wait = duration(
            "step_down_wait",
            &self.step_down_wait,
            options.step_down_wait,
        )?;
        if let Some(t) = &self.lock_table {
            options.lock.table = t.clone();
        }
        if let Some(t) = &self.members_table {
            options.members_table = t.clone();
        }
        Ok(options)
    }

    /// Whether standbys forward (default true).
    pub fn forwarding(&self) -> bool {
        self.request_forwarding.unwrap_or(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ha(text: &str) -> HaConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn ha_needs_postgres_and_a_node_id() {
        let on = ha("enabled = true\nnode_id = \"n1\"");
        assert!(on.check("postgres").is_ok());
        let e = on.check("sqlite").unwrap_err().to_string();
        assert!(e.contains("postgres"), "{e}");
        let e = ha("enabled = true")
            .check("postgres")
            .unwrap_err()
            .to_string();
        assert!(e.contains("ha.node_id"), "{e}");
        assert!(ha("enabled = false").check("sqlite").is_ok());
    }

    #[test]
    fn advertise_defaults_to_the_listener_and_ttl_is_bounded() {
        let on = ha("enabled = true\nnode_id = \"n1\"");
        let o = on
            .options("127.0.0.1:8201".parse().unwrap(), "http")
            .unwrap();
        assert_eq!(o.advertise, "http://127.0.0.1:8201");
        assert_eq!(o.lock_ttl, Duration::from_secs(2));
        let e = on
            .options("0.0.0.0:8201".parse().unwrap(), "https")
            .unwrap_err();
        assert!(e.to_string().contains("advertise_address"), "{e}");
        let short = ha("enabled = true\nnode_id = \"n1\"\nlock_ttl = \"100ms\"");
        let e = short.check("postgres").unwrap_err().to_string();
        assert!(e.contains("ha.lock_ttl"), "{e}");
        let bad = ha("enabled = true\nnode_id = \"n1\"\nadvertise_address = \"10.0.0.1:1\"");
        assert!(bad.check("postgres").is_err());
    }
}
