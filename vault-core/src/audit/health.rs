//! How a device is doing, as its callers and `sys/audit` see it: written by its
//! writer thread, its sync thread and the callers that time out waiting on it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A device's health, shared by everything that can see it fail.
#[derive(Debug)]
pub(crate) struct Health {
    name: String,
    healthy: AtomicBool,
    // Failed writes and syncs.
    failures: AtomicU64,
    // Waits that timed out.
    timeouts: AtomicU64,
    // What went wrong last, kept after the device recovers.
    last_error: Mutex<Option<String>>,
}

impl Health {
    /// A healthy device called `name`.
    pub fn new(name: &str) -> Health {
        Health {
            name: name.to_owned(),
            healthy: AtomicBool::new(true),
            failures: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }

    /// True unless the device recently failed or timed out.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    /// A write went through: the device is healthy again.
    pub fn recovered(&self) {
        self.healthy.store(true, Ordering::Release);
    }

    /// A write or sync failed: marks the device unhealthy, logs `message` and
    /// returns it (what the waiting callers are told).
    pub fn fail(&self, message: &str) -> String {
        self.healthy.store(false, Ordering::Release);
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.remember(message);
        tracing::error!(device = %self.name, error = %message, "audit device failed");
        message.to_owned()
    }

    /// A caller gave up waiting: marks the device unhealthy, so it is not
    /// waited on first next time.
    pub fn timed_out(&self, message: &str) {
        self.healthy.store(false, Ordering::Release);
        self.timeouts.fetch_add(1, Ordering::Relaxed);
        self.remember(message);
    }

    fn remember(&self, message: &str) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(message.to_owned());
        }
    }

    /// Failures and timeouts since the device started.
    pub fn totals(&self) -> (u64, u64) {
        (
            self.failures.load(Ordering::Relaxed),
            self.timeouts.load(Ordering::Relaxed),
        )
    }

    /// What went wrong last, if anything has since the device started.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|last| last.clone())
    }
}
