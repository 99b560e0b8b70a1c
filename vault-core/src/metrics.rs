//! The vault's metrics, for Prometheus (OpenMetrics text, which Prometheus
//! reads): requests by operation, mount type and outcome with their latency,
//! the seal, leases by state and by mount, revocations, audit device
//! failures, tokens. Counters are kept as requests happen; the counts that
//! live in storage (leases, tokens) are read when the metrics are rendered,
//! so a scrape costs a key scan of the lease and token indexes (no values
//! are decrypted).
//!
//! Label values are mount types, operation names, outcome kinds, mount paths
//! and device names: never a request path, a token or a value.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry};

/// Label pairs, in order.
pub type Labels = Vec<(String, String)>;

/// `N` label pairs known at compile time.
type StaticLabels<const N: usize> = [(&'static str, &'static str); N];

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to about 8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// Latency histograms by `operation` (a static name: observing allocates
/// nothing).
pub(crate) type LatencyFamily = Family<StaticLabels<1>, Histogram, fn() -> Histogram>;

/// A fresh [`LatencyFamily`].
pub(crate) fn latency_family() -> LatencyFamily {
    Family::new_with_constructor(latency_histogram)
}

/// Records one `operation` that took `elapsed`.
pub(crate) fn observe_latency(family: &LatencyFamily, operation: &'static str, elapsed: Duration) {
    family
        .get_or_create(&[("operation", operation)])
        .observe(elapsed.as_secs_f64());
}

/// The registry and the metrics the library keeps.
#[derive(Debug)]
pub struct Metrics {
    // A std Mutex: held to register (at start) or to render, never across
    // an await.
    registry: Mutex<Registry>,
    // Fixed label sets of static strings: counting a request allocates
    // nothing.
    requests: Family<StaticLabels<3>, Counter>,
    request_seconds: Family<StaticLabels<2>, Histogram, fn() -> Histogram>,
    pub(crate) sealed: Gauge,
    pub(crate) leases: Family<Labels, Gauge>,
    pub(crate) leases_by_mount: Family<Labels, Gauge>,
    pub(crate) revocations: Family<Labels, Counter>,
    pub(crate) audit_failures: Family<Labels, Counter>,
    pub(crate) tokens: Gauge,
    pub(crate) commits: Counter,
    pub(crate) committed_writes: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let metrics = Metrics {
            registry: Mutex::new(Registry::default()),
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(latency_histogram),
            sealed: Gauge::default(),
            leases: Family::default(),
            leases_by_mount: Family::default(),
            revocations: Family::default(),
            audit_failures: Family::default(),
            tokens: Gauge::default(),
            commits: Counter::default(),
            committed_writes: Counter::default(),
        };
        metrics.register(
            "vault_requests",
            "Requests handled, by operation, mount type and outcome (ok or the error kind).",
            metrics.requests.clone(),
        );
        metrics.register(
            "vault_request_duration_seconds",
            "Time to handle a request, by operation and mount type.",
            metrics.request_seconds.clone(),
        );
        metrics.register(
            "vault_sealed",
            "1 while the vault is sealed.",
            metrics.sealed.clone(),
        );
        metrics.register(
            "vault_leases",
            "Leases by state: active, revoking (revocation failing, retried), irrevocable.",
            metrics.leases.clone(),
        );
        metrics.register(
            "vault_leases_by_mount",
            "Leases (any state) by the mount that issued them.",
            metrics.leases_by_mount.clone(),
        );
        metrics.register(
            "vault_lease_revocations",
            "Revocation attempts by outcome (revoked, failed) since start.",
            metrics.revocations.clone(),
        );
        metrics.register(
            "vault_audit_device_failures",
            "Audit writes that failed or timed out, by device and kind, since start.",
            metrics.audit_failures.clone(),
        );
        metrics.register(
            "vault_tokens",
            "Tokens stored (live or expired and not yet tidied).",
            metrics.tokens.clone(),
        );
        metrics.register(
            "vault_storage_commits",
            "Transactions the storage committed (SQLite group commit); writes per commit \
             is the group size.",
            metrics.commits.clone(),
        );
        metrics.register(
            "vault_storage_committed_writes",
            "Writes those transactions carried.",
            metrics.committed_writes.clone(),
        );
        metrics
    }
}

impl Metrics {
    /// Adds a metric of the embedding program's (a daemon's process
    /// metrics) to what [`crate::Vault::render_metrics`] renders.
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .register(name, help, metric);
    }

    /// Counts one request and its time.
    pub(crate) fn observe_request(
        &self,
        operation: &'static str,
        mount_type: &'static str,
        outcome: &'static str,
        elapsed: Duration,
    ) {
        self.requests
            .get_or_create(&[
                ("operation", operation),
                ("mount_type", mount_type),
                ("outcome", outcome),
            ])
            .inc();
        self.request_seconds
            .get_or_create(&[("operation", operation), ("mount_type", mount_type)])
            .observe(elapsed.as_secs_f64());
    }

    /// Sets a counter kept elsewhere (an atomic of the expiration manager or
    /// an audit device) to its current total.
    pub(crate) fn set_counter(
        family: &Family<Labels, Counter>,
        pairs: &[(&str, &str)],
        total: u64,
    ) {
        family
            .get_or_create(&labels(pairs))
            .inner()
            .store(total, std::sync::atomic::Ordering::Relaxed);
    }

    /// Sets a gauge in a family.
    pub(crate) fn set_gauge(family: &Family<Labels, Gauge>, pairs: &[(&str, &str)], value: u64) {
        family
            .get_or_create(&labels(pairs))
            .set(i64::try_from(value).unwrap_or(i64::MAX));
    }

    /// The text exposition of everything registered.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_their_labels() {
        let m = Metrics::default();
        m.observe_request("read", "kv", "ok", Duration::from_millis(2));
        m.observe_request("read", "kv", "ok", Duration::from_millis(3));
        m.observe_request(
            "update",
            "kv",
            "permission_denied",
            Duration::from_millis(1),
        );
        let text = m.encode();
        assert!(
            text.contains(
                "vault_requests_total{operation=\"read\",mount_type=\"kv\",outcome=\"ok\"} 2"
            ),
            "{text}"
        );
        assert!(text.contains("outcome=\"permission_denied\"} 1"), "{text}");
        assert!(
            text.contains(
                "vault_request_duration_seconds_count{operation=\"read\",mount_type=\"kv\"} 2"
            ),
            "{text}"
        );
        Metrics::set_counter(&m.revocations, &[("outcome", "failed")], 7);
        assert!(
            m.encode()
                .contains("vault_lease_revocations_total{outcome=\"failed\"} 7")
        );
    }
}
