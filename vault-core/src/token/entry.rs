//! What is stored for a token, and the TTL arithmetic of creating and renewing
//! one. Times are Unix milliseconds, so a deadline is never rounded up.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A token as stored (under a keyed hash of the token; the token itself is never
/// stored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenEntry {
    /// The token's id, its storage name: its time prefix (none for a token
    /// from before them), then its keyed hash.
    pub id_hash: String,
    /// The accessor: a handle to look up or revoke the token without holding it.
    pub accessor: String,
    /// The parent's `id_hash`; empty for an orphan.
    pub parent: String,
    /// Canonical policy names.
    pub policies: Vec<String>,
    /// The path that created it (`auth/token/create`, `auth/approle/login`).
    pub path: String,
    /// A human name (`token`, `approle`, `userpass-alice`).
    pub display_name: String,
    /// Free-form metadata.
    pub meta: BTreeMap<String, String>,
    /// Uses left; 0 is unlimited.
    pub num_uses: u64,
    /// When it was made (ms).
    pub creation_time: u64,
    /// The TTL it was made with (ms; 0 for none).
    pub creation_ttl: u64,
    /// When it dies (ms; 0 never).
    pub expire_time: u64,
    /// The hard limit set at creation (ms; 0 for none).
    pub explicit_max_ttl: u64,
    /// Renewals set the TTL to this (ms; 0 for a non-periodic token).
    pub period: u64,
    /// No renewal may move `expire_time` past this (ms; 0 for none).
    pub max_expire_time: u64,
    /// Whether renew is allowed.
    pub renewable: bool,
    /// Networks the token may be used from (empty: anywhere).
    #[serde(default)]
    pub bound_cidrs: Vec<String>,
    /// Ancestors above it (0 for an orphan); bounded so that the walk up the
    /// tree on every lookup is bounded too.
    #[serde(default)]
    pub depth: u32,
    /// The identity entity it acts for (empty: none); a child inherits its
    /// parent's.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub entity_id: String,
    /// A response-wrapping token: it may only unwrap, look up or rewrap
    /// the response in its cubbyhole, and its one use is spent by taking
    /// that response ([`super::TokenStore::take_wrapped`]), nowhere else.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wrapping: bool,
}

/// What a caller asked for when creating a token (TTLs in ms).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenParams {
    /// Policies; already canonical.
    pub policies: Vec<String>,
    /// TTL asked for (0: the default).
    pub ttl: u64,
    /// Hard limit (0: none).
    pub explicit_max_ttl: u64,
    /// Periodic renewal TTL (0: not periodic).
    pub period: u64,
    /// Uses (0: unlimited).
    pub num_uses: u64,
    /// Human name.
    pub display_name: String,
    /// Metadata.
    pub meta: BTreeMap<String, String>,
    /// Renewable (Vault's default: true).
    pub renewable: bool,
    /// The creating path.
    pub path: String,
    /// Networks it may be used from.
    pub bound_cidrs: Vec<String>,
    /// The identity entity it acts for (empty: none).
    pub entity_id: String,
}

/// The TTL limits that apply where a token is made (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtlLimits {
    /// Used when no TTL is asked for.
    pub default_ttl: u64,
    /// No non-root token lives longer without renewal past it.
    pub max_ttl: u64,
}

impl TokenEntry {
    /// The deadlines of a new token made at `now`, from `params` and `limits`.
    /// A token with the root policy and no TTL asked for never expires; every
    /// other token does.
    pub fn deadlines(
        params: &TokenParams,
        limits: TtlLimits,
        root: bool,
        now: u64,
    ) -> (u64, u64, u64) {
        let mut ttl = if params.period > 0 {
            params.period
        } else if params.ttl > 0 {
            params.ttl.min(limits.max_ttl)
        } else if root {
            0
        } else {
            limits.default_ttl
        };
        // The hard end: the explicit max if any, and for a token that expires and
        // is not periodic never past the mount's max (as in Vault).
        let cap = if params.period > 0 || ttl == 0 {
            params.explicit_max_ttl
        } else if params.explicit_max_ttl > 0 {
            params.explicit_max_ttl.min(limits.max_ttl)
        } else {
            limits.max_ttl
        };
        if cap > 0 && (ttl == 0 || ttl > cap) {
            ttl = cap;
        }
        let max_expire = if cap > 0 { now.saturating_add(cap) } else { 0 };
        let expire = if ttl == 0 { 0 } else { now.saturating_add(ttl) };
        (ttl, expire, max_expire)
    }

    /// True if the token is past its deadline at `now`.
    pub fn is_expired(&self, now: u64) -> bool {
        self.expire_time != 0 && now >= self.expire_time
    }

    /// Milliseconds left at `now` (0 for a token that never expires).
    pub fn ttl_left(&self, now: u64) -> u64 {
        if self.expire_time == 0 {
            0
        } else {
            self.expire_time.saturating_sub(now)
        }
    }

    /// Renews at `now` by `increment` (ms; 0: the creation TTL). Returns a warning
    /// when the result was capped. The new deadline never passes
    /// `max_expire_time`, however close to it the renewal comes (CVE-2021-32923).
    pub fn renew(&mut self, increment: u64, now: u64) -> Option<String> {
        if self.expire_time == 0 {
            return None;
        }
        let asked = if self.period > 0 {
            self.period
        } else if increment > 0 {
            increment
        } else {
            self.creation_ttl
        };
        let mut expire = now.saturating_add(asked);
        let mut warning = None;
        if self.max_expire_time != 0 && expire > self.max_expire_time {
            expire = self.max_expire_time;
            warning = Some(format!(
                "TTL of {}s exceeded the effective max_ttl of {}s; TTL value is capped accordingly",
                asked / 1000,
                self.max_expire_time.saturating_sub(now) / 1000
            ));
        }
        self.expire_time = expire;
        warning
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3_600_000;
    const LIMITS: TtlLimits = TtlLimits {
        default_ttl: 768 * H,
        max_ttl: 768 * H,
    };

    fn entry(params: &TokenParams, now: u64) -> TokenEntry {
        let (ttl, expire, max) = TokenEntry::deadlines(params, LIMITS, false, now);
        TokenEntry {
            id_hash: String::new(),
            accessor: String::new(),
            parent: String::new(),
            policies: vec![],
            path: String::new(),
            display_name: String::new(),
            meta: BTreeMap::new(),
            num_uses: 0,
            creation_time: now,
            creation_ttl: ttl,
            expire_time: expire,
            explicit_max_ttl: params.explicit_max_ttl,
            period: params.period,
            max_expire_time: max,
            renewable: true,
            bound_cidrs: vec![],
            depth: 0,
            entity_id: String::new(),
            wrapping: false,
        }
    }

    #[test]
    fn renewal_near_the_explicit_max_cannot_extend_past_it() {
        let params = TokenParams {
            ttl: 5_000,
            explicit_max_ttl: 8_000,
            ..TokenParams::default()
        };
        let mut e = entry(&params, 0);
        assert_eq!(e.expire_time, 5_000);
        let warning = e.renew(5_000, 7_900);
        assert!(warning.unwrap().contains("capped"));
        assert_eq!(e.expire_time, 8_000);
        assert_eq!(e.ttl_left(7_900), 100);
        assert!(e.is_expired(8_000));
        // Renewing again at or past the end changes nothing.
        e.renew(60_000, 8_000);
        assert!(e.is_expired(8_000));
    }

    #[test]
    fn explicit_max_never_exceeds_the_mount_max() {
        let params = TokenParams {
            explicit_max_ttl: 2_000 * H,
            ..TokenParams::default()
        };
        let (ttl, _, max) = TokenEntry::deadlines(&params, LIMITS, false, 0);
        assert_eq!((ttl, max), (768 * H, 768 * H));
    }

    #[test]
    fn defaults_and_caps() {
        let (ttl, expire, max) = TokenEntry::deadlines(&TokenParams::default(), LIMITS, false, 10);
        assert_eq!((ttl, expire, max), (768 * H, 10 + 768 * H, 10 + 768 * H));
        let (ttl, expire, max) = TokenEntry::deadlines(&TokenParams::default(), LIMITS, true, 10);
        assert_eq!(
            (ttl, expire, max),
            (0, 0, 0),
            "root with no TTL never expires"
        );
        let long = TokenParams {
            ttl: 9_999 * H,
            ..TokenParams::default()
        };
        assert_eq!(TokenEntry::deadlines(&long, LIMITS, false, 0).0, 768 * H);
        let periodic = TokenParams {
            period: H,
            ..TokenParams::default()
        };
        let mut e = entry(&periodic, 0);
        e.renew(10 * H, 5 * H);
        assert_eq!(
            e.expire_time,
            6 * H,
            "a periodic token renews to its period"
        );
    }
}
