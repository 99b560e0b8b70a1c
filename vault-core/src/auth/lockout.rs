//! Failed logins counted per user *and* client address, and the lockout
//! they lead to: what userpass and LDAP passwords and login MFA codes all
//! count towards.
//!
//! Per address, so that a stranger guessing from elsewhere locks out only
//! themselves: the user logging in from their own address is not refused
//! because someone else guessed (a per-user lockout is a denial of service
//! anyone who knows a username can mount). IPv6 addresses count by their
//! /64, which one host usually holds whole, so that a host cannot start
//! afresh by changing the low bits.
//!
//! Stored in the login mount's view at `lockout/<name>`, one record per
//! user holding a bounded table of addresses, so that a lockout survives a
//! restart. Records are written only for users the method knows exist (a
//! userpass user, a DN the directory found, a login whose password was
//! right and whose code was not), so strangers cannot make records for
//! names of their choosing. Every read-modify-write of a record runs
//! under [`lock`], whoever counts.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::barrier::BarrierOp;
use crate::engines::shared::Stripes;
use crate::engines::{EngineError, View};

/// Failed logins in a row that lock a user out from one address, unless the
/// mount says otherwise.
pub const DEFAULT_THRESHOLD: u64 = 5;

/// How long a lockout lasts, in milliseconds, unless the mount says otherwise.
pub const DEFAULT_DURATION_MS: u64 = 15 * 60 * 1000;

/// Addresses one user's record tracks at most: past it, the one whose last
/// failure is oldest is forgotten (a lockout still in force last).
const MAX_ADDRESSES: usize = 32;

/// How many locks the records are spread over.
const STRIPES: usize = 64;

/// A mount's lockout settings (userpass keeps them in its `config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Rules {
    /// Failed logins in a row that lock (at least 1).
    pub lockout_threshold: u64,
    /// How long a lockout lasts, in milliseconds (more than 0). Also how long
    /// an unlocked address's failure count is remembered (Vault's
    /// `lockout_counter_reset`, which defaults to the same 15 minutes).
    pub lockout_duration_ms: u64,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            lockout_threshold: DEFAULT_THRESHOLD,
            lockout_duration_ms: DEFAULT_DURATION_MS,
        }
    }
}

/// One address's failed logins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counter {
    /// Failed logins since the last success or the lockout's end.
    pub failures: u64,
    /// When the last one happened, ms since the epoch.
    pub last_failure_ms: u64,
    /// While `now` is before this (ms since the epoch), every login from the
    /// address fails.
    pub locked_until_ms: u64,
}

impl Counter {
    /// True if nothing at `now` is left to remember.
    fn expired(&self, now: u64, rules: &Rules) -> bool {
        if self.locked_until_ms != 0 {
            return now >= self.locked_until_ms;
        }
        now.saturating_sub(self.last_failure_ms) >= rules.lockout_duration_ms
    }
}

/// One user's failed logins, by address (`lockout/<name>`); absent when
/// there are none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Record {
    /// By [`address_key`].
    pub by_address: BTreeMap<String, Counter>,
}

/// The key an address counts under: an IPv4 address whole (an IPv4-mapped
/// IPv6 address as IPv4), an IPv6 address by its /64, `local` for a caller
/// with no address (an embedding application).
pub fn address_key(addr: Option<IpAddr>) -> String {
    match addr.map(|a| a.to_canonical()) {
        None => "local".to_owned(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// The storage key of `name`'s record in the mount's view.
pub fn path(name: &str) -> String {
    format!("lockout/{name}")
}

static LOCKS: std::sync::LazyLock<Stripes> = std::sync::LazyLock::new(|| Stripes::new(STRIPES));

/// Waits for the lock that serialises changes to `name`'s record in
/// `view`'s mount. Hold it from [`load`] to the write of the change.
pub async fn lock(view: &View<'_>, name: &str) -> tokio::sync::MutexGuard<'static, ()> {
    LOCKS.lock(view, name).await
}

/// `name`'s record (none stored: empty).
pub async fn load(view: &View<'_>, name: &str) -> Result<Record, EngineError> {
    Ok(crate::engines::shared::load_json(
        view,
        &path(name),
        "the stored lockout record is malformed",
    )
    .await?
    .unwrap_or_default())
}

impl Record {
    /// Forgets what no longer counts at `now`: ended lockouts, and failures
    /// older than the lockout duration. Returns whether anything was
    /// forgotten.
    pub fn expire(&mut self, now: u64, rules: &Rules) -> bool {
        let before = self.by_address.len();
        self.by_address.retain(|_, c| !c.expired(now, rules));
        self.by_address.len() != before
    }

    /// True while `addr` is locked out at `now`.
    pub fn is_locked(&self, addr: &str, now: u64) -> bool {
        self.by_address
            .get(addr)
            .is_some_and(|c| now < c.locked_until_ms)
    }

    /// Counts one failure from `addr` at `now`; returns true if it starts a
    /// lockout.
    pub fn record_failure(&mut self, addr: &str, now: u64, rules: &Rules) -> bool {
        if !self.by_address.contains_key(addr) && self.by_address.len() >= MAX_ADDRESSES {
            self.forget_one();
        }
        let counter = self.by_address.entry(addr.to_owned()).or_default();
        counter.failures = counter.failures.saturating_add(1);
        counter.last_failure_ms = now;
        if counter.failures >= rules.lockout_threshold {
            counter.locked_until_ms = now.saturating_add(rules.lockout_duration_ms);
            return true;
        }
        false
    }

    /// Forgets `addr`'s failures after it logged in; returns whether there
    /// were any.
    pub fn clear(&mut self, addr: &str) -> bool {
        self.by_address.remove(addr).is_some()
    }

    /// The write that stores this record as `name`'s (a delete when empty).
    pub fn op(&self, name: &str) -> Result<BarrierOp, EngineError> {
        if self.by_address.is_empty() {
            return Ok(BarrierOp::Delete { path: path(name) });
        }
        crate::engines::shared::put_json(path(name), self)
    }

    /// Makes room for one more address: the one not locked out whose last
    /// failure is oldest goes, else the oldest of all.
    fn forget_one(&mut self) {
        let oldest = |locked: bool| {
            self.by_address
                .iter()
                .filter(|(_, c)| locked || c.locked_until_ms == 0)
                .min_by_key(|(_, c)| c.last_failure_ms)
                .map(|(k, _)| k.clone())
        };
        if let Some(key) = oldest(false).or_else(|| oldest(true)) {
            self.by_address.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "192.0.2.1";
    const B: &str = "192.0.2.2";

    #[test]
    fn a_lockout_locks_one_address_and_ends_after_the_duration() {
        let rules = Rules::default();
        let mut record = Record::default();
        for _ in 0..4 {
            assert!(!record.record_failure(A, 1_000, &rules));
        }
        assert!(record.record_failure(A, 1_000, &rules));
        assert!(record.is_locked(A, 1_000));
        assert!(!record.is_locked(B, 1_000), "another address is not locked");
        assert!(!record.expire(1_000 + DEFAULT_DURATION_MS - 1, &rules));
        assert!(record.is_locked(A, 1_000 + DEFAULT_DURATION_MS - 1));
        assert!(record.expire(1_000 + DEFAULT_DURATION_MS, &rules));
        assert_eq!(record, Record::default());
    }

    #[test]
    fn old_failures_are_forgotten() {
        let rules = Rules::default();
        let mut record = Record::default();
        record.record_failure(A, 0, &rules);
        assert!(!record.expire(DEFAULT_DURATION_MS - 1, &rules));
        assert_eq!(record.by_address[A].failures, 1);
        assert!(record.expire(DEFAULT_DURATION_MS, &rules));
        assert!(record.by_address.is_empty());
    }

    #[test]
    fn the_table_is_bounded_and_keeps_lockouts_longest() {
        let rules = Rules {
            lockout_threshold: 1,
            ..Rules::default()
        };
        let mut record = Record::default();
        record.record_failure(A, 0, &rules);
        let counting = Rules {
            lockout_threshold: 100,
            ..Rules::default()
        };
        for i in 0..(MAX_ADDRESSES as u64 * 2) {
            record.record_failure(&format!("10.0.{}.{}", i / 256, i % 256), 1 + i, &counting);
        }
        assert_eq!(record.by_address.len(), MAX_ADDRESSES);
        assert!(record.is_locked(A, 100), "the lockout outlived the churn");
    }

    #[test]
    fn addresses_count_by_host_or_ipv6_prefix() {
        let key = |s: &str| address_key(Some(s.parse().unwrap()));
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(key("2001:db8:1:2:3:4:5:6"), key("2001:db8:1:2:ffff::1"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(address_key(None), "local");
    }
}
