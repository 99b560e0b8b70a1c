//! The daemon's own metrics next to the library's: its resident memory and
//! open files (from /proc), and its HA role. Registered once into the
//! vault's registry and brought up to date before each scrape.

use std::sync::Arc;

use prometheus_client::metrics::gauge::Gauge;
use vault_core::Vault;
use vault_core::ha::{HaNode, Role};

/// The gauges, and what they are read from.
#[derive(Debug)]
pub struct ProcessMetrics {
    vault: Arc<Vault>,
    ha: Option<Arc<HaNode>>,
    resident: Gauge,
    open_files: Gauge,
    active: Gauge,
    unauthenticated: bool,
}

impl ProcessMetrics {
    /// Registers the gauges with `vault`'s metrics.
    pub fn new(vault: Arc<Vault>, ha: Option<Arc<HaNode>>, unauthenticated: bool) -> Self {
        let m = ProcessMetrics {
            vault,
            ha,
            resident: Gauge::default(),
            open_files: Gauge::default(),
            active: Gauge::default(),
            unauthenticated,
        };
        let registry = m.vault.metrics();
        registry.register(
            "vault_process_resident_memory_bytes",
            "Resident memory of the daemon (VmRSS).",
            m.resident.clone(),
        );
        registry.register(
            "vault_process_open_fds",
            "File descriptors the daemon has open.",
            m.open_files.clone(),
        );
        // Only where there is HA: without it the series could only say what
        // vault_sealed already does, and read as "an active HA node".
        if m.ha.is_some() {
            registry.register(
                "vault_ha_active",
                "1 on the HA node that holds the active lock (and is unsealed).",
                m.active.clone(),
            );
        }
        m
    }

    /// Whether a scrape needs no token (`telemetry.unauthenticated_metrics_access`).
    pub fn unauthenticated(&self) -> bool {
        self.unauthenticated
    }

    /// Reads the process's state into the gauges.
    pub fn refresh(&self) {
        if let Some(kib) = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| vm_rss_kib(&s))
        {
            self.resident.set(kib.saturating_mul(1024));
        }
        if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
            self.open_files.set(entries.count() as i64);
        }
        if let Some(ha) = &self.ha {
            let unsealed = !self.vault.barrier().is_sealed();
            let active = unsealed && matches!(ha.role(), Role::Active { .. });
            self.active.set(i64::from(active));
        }
    }

    /// Renders every metric without asking for a token.
    pub async fn render(&self) -> Result<String, vault_core::VaultError> {
        self.refresh();
        self.vault.render_metrics().await
    }
}

fn vm_rss_kib(status: &str) -> Option<i64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn resident_memory_is_read_from_proc_status() {
        let status = "Name:\tvaultd\nVmRSS:\t   12040 kB\nThreads:\t4\n";
        assert_eq!(super::vm_rss_kib(status), Some(12040));
        assert_eq!(super::vm_rss_kib("Name: x\n"), None);
    }
}
