//! What is stored for a lease, and the storage keys that index it.
//!
//! A lease record lives at `sys/expire/id/<lease id>`; three indexes point at it
//! with empty values, so that each question is answered by a key scan alone:
//! - `sys/expire/due/<due ms, 16 digits>/<lease id>`: the schedule, in due order;
//! - `sys/expire/token/<token hash>/<lease id>`: the leases a token owns;
//! - `sys/expire/failing/<lease id>`: leases whose revocation has failed.
//!
//! The keys of a record are a pure function of the record ([`index_keys`]), so
//! every change rewrites exactly the old record's keys into the new one's, in one
//! atomic batch.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::random::RandomError;
use crate::time_id;

/// Where lease records are stored.
pub(crate) const ID_PREFIX: &str = "sys/expire/id/";
/// The schedule: due keys sort by due time.
pub(crate) const DUE_PREFIX: &str = "sys/expire/due/";
/// The owner index.
pub(crate) const TOKEN_PREFIX: &str = "sys/expire/token/";
/// Leases in `Revoking` or `Irrevocable` state. Not in the original design: it
/// lets `status` and `lease list --failing` find them without reading every
/// record (an outage can leave many; a healthy vault has none).
pub(crate) const FAILING_PREFIX: &str = "sys/expire/failing/";

/// Random characters at the end of a lease id (95 bits).
const ID_RANDOM_LEN: usize = 16;

/// Where a lease stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LeaseState {
    /// Live; it is revoked at `expire_time`.
    Active,
    /// Revocation failed with a retryable error; the next try is at `next_attempt`.
    Revoking {
        /// Failed attempts so far.
        attempts: u32,
        /// The last revoker error (free of secrets: the revoker's duty).
        last_error: String,
        /// When the next attempt is due (Unix ms).
        next_attempt: u64,
    },
    /// Revocation failed with an error that can never succeed (the mount is
    /// gone). Not retried by itself: an operator revokes it again or force-revokes
    /// it (and then checks the external system by hand).
    Irrevocable {
        /// The revoker's error.
        error: String,
    },
}

impl LeaseState {
    /// The name operators see: `active`, `revoking` or `irrevocable`.
    pub fn name(&self) -> &'static str {
        match self {
            LeaseState::Active => "active",
            LeaseState::Revoking { .. } => "revoking",
            LeaseState::Irrevocable { .. } => "irrevocable",
        }
    }
}

/// A lease on a secret, as stored behind the barrier. Times are Unix ms.
///
/// `internal` is what the engine needs to revoke the secret and may hold one (a
/// database password): `Debug` redacts it, and nothing here logs it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// `<path>/<24 random alphanumerics>`, e.g. `database/creds/ro/AbC...`.
    pub id: String,
    /// The mount that issued it, e.g. `database/`.
    pub mount_path: String,
    /// The request path that issued it, e.g. `database/creds/ro`.
    pub path: String,
    /// When it was issued.
    pub issue_time: u64,
    /// When it expires.
    pub expire_time: u64,
    /// When it was last renewed (its issue time if never).
    pub last_renewal: u64,
    /// The TTL last granted (ms).
    pub ttl: u64,
    /// No renewal moves `expire_time` past this.
    pub max_expire_time: u64,
    /// Whether it may be renewed.
    pub renewable: bool,
    /// The owning token's store hash; empty if no token owns it.
    pub token_hash: String,
    /// What the engine needs to revoke it. May hold secrets.
    pub internal: serde_json::Value,
    /// Where it stands.
    pub state: LeaseState,
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("id", &self.id)
            .field("mount_path", &self.mount_path)
            .field("path", &self.path)
            .field("issue_time", &self.issue_time)
            .field("expire_time", &self.expire_time)
            .field("last_renewal", &self.last_renewal)
            .field("ttl", &self.ttl)
            .field("max_expire_time", &self.max_expire_time)
            .field("renewable", &self.renewable)
            .field("token_hash", &self.token_hash)
            .field("internal", &"<redacted>")
            .field("state", &self.state)
            .finish()
    }
}

/// What an engine asks for when it issues a leased secret (TTLs in ms).
#[derive(Clone)]
pub struct LeaseParams {
    /// The mount that issues it, e.g. `database/`.
    pub mount_path: String,
    /// The request path, e.g. `database/creds/ro`; the lease id starts with it.
    pub path: String,
    /// The TTL granted now.
    pub ttl: u64,
    /// The most the lease may live from now, renewals included. `ttl` is capped
    /// at it.
    pub max_ttl: u64,
    /// Whether it may be renewed.
    pub renewable: bool,
    /// The owning token's store hash, or empty.
    pub token_hash: String,
    /// What the engine needs to revoke it.
    pub internal: serde_json::Value,
}

impl fmt::Debug for LeaseParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeaseParams")
            .field("mount_path", &self.mount_path)
            .field("path", &self.path)
            .field("ttl", &self.ttl)
            .field("max_ttl", &self.max_ttl)
            .field("renewable", &self.renewable)
            .field("token_hash", &self.token_hash)
            .field("internal", &"<redacted>")
            .finish()
    }
}

impl Lease {
    /// A new active lease issued at `now`, with a fresh random id.
    pub fn new(params: LeaseParams, now: u64) -> Result<Lease, RandomError> {
        let path = params.path.trim_end_matches('/');
        let id = new_lease_id(path)?;
        let max_expire_time = now.saturating_add(params.max_ttl);
        let expire_time = now.saturating_add(params.ttl).min(max_expire_time);
        Ok(Lease {
            id,
            mount_path: params.mount_path,
            path: path.to_owned(),
            issue_time: now,
            expire_time,
            last_renewal: now,
            ttl: expire_time - now,
            max_expire_time,
            renewable: params.renewable,
            token_hash: params.token_hash,
            internal: params.internal,
            state: LeaseState::Active,
        })
    }

    /// When the schedule next looks at it: its expiry while active, its next
    /// attempt while revoking, never once irrevocable.
    pub fn due(&self) -> Option<u64> {
        match &self.state {
            LeaseState::Active => Some(self.expire_time),
            LeaseState::Revoking { next_attempt, .. } => Some(*next_attempt),
            LeaseState::Irrevocable { .. } => None,
        }
    }

    /// True if revocation has failed at least once.
    pub fn is_failing(&self) -> bool {
        !matches!(self.state, LeaseState::Active)
    }
}

/// A fresh lease id for a secret issued at `path` (the full request path,
/// e.g. `database/creds/ro`): `<path>/<24 alphanumerics>`, the first 8 the
/// issue time in milliseconds (base 62, so byte order is time order), the
/// other 16 random (95 bits). Its records and index entries are keyed by it:
/// with random ids every new lease landed on a different storage page, so
/// each commit wrote a page per lease; in time order they fill the last ones.
pub fn new_lease_id(path: &str) -> Result<String, RandomError> {
    let path = path.trim_end_matches('/');
    Ok(format!("{path}/{}", time_id::new_id(ID_RANDOM_LEN)?))
}

/// The storage key of a lease record.
pub(crate) fn record_key(id: &str) -> String {
    format!("{ID_PREFIX}{id}")
}

/// The schedule key for a lease due at `due`. Zero-padded to 16 digits so byte
/// order is time order (16 digits of ms last until the year 318857).
pub(crate) fn due_key(due: u64, id: &str) -> String {
    format!("{DUE_PREFIX}{due:016}/{id}")
}

/// Splits a schedule key into its due time and lease id.
pub(crate) fn parse_due_key(key: &str) -> Option<(u64, &str)> {
    let rest = key.strip_prefix(DUE_PREFIX)?;
    let (due, id) = rest.split_once('/')?;
    if due.len() != 16 || id.is_empty() {
        return None;
    }
    Some((due.parse().ok()?, id))
}

/// The owner-index prefix of a token.
pub(crate) fn token_prefix(token_hash: &str) -> String {
    format!("{TOKEN_PREFIX}{token_hash}/")
}

/// Every index key that must exist while `lease` is stored as it is.
pub(crate) fn index_keys(lease: &Lease) -> Vec<String> {
    let mut keys = Vec::with_capacity(3);
    if let Some(due) = lease.due() {
        keys.push(due_key(due, &lease.id));
    }
    if !lease.token_hash.is_empty() {
        keys.push(format!("{}{}", token_prefix(&lease.token_hash), lease.id));
    }
    if lease.is_failing() {
        keys.push(format!("{FAILING_PREFIX}{}", lease.id));
    }
    keys
}

/// True for an id (or id prefix) that maps onto storage keys one to one: no
/// empty, `.` or `..` segments, no control characters. Stops a crafted id from
/// naming another lease's key or an index.
pub(crate) fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 1024
        && !id.chars().any(char::is_control)
        && id
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
}

/// True for a token hash usable as one key segment.
pub(crate) fn valid_token_hash(hash: &str) -> bool {
    !hash.is_empty() && hash.len() <= 256 && hash.chars().all(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_ids_sort_in_issue_order_and_end_in_16_random_characters() {
        let id = new_lease_id("database/creds/ro/").unwrap();
        let suffix = id.strip_prefix("database/creds/ro/").unwrap();
        assert_eq!(suffix.len(), time_id::TIME_LEN + ID_RANDOM_LEN);
        assert!(suffix.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(valid_id(&id));
        let other = new_lease_id("database/creds/ro").unwrap();
        assert_ne!(id, other);
        assert_ne!(
            id[18 + time_id::TIME_LEN..],
            other[18 + time_id::TIME_LEN..]
        );
    }

    fn params() -> LeaseParams {
        LeaseParams {
            mount_path: "database/".into(),
            path: "database/creds/ro".into(),
            ttl: 10_000,
            max_ttl: 5_000,
            renewable: true,
            token_hash: String::new(),
            internal: serde_json::json!({"password": "hunter2"}),
        }
    }

    #[test]
    fn new_lease_caps_ttl_and_has_a_path_like_id() {
        let lease = Lease::new(params(), 1_000).unwrap();
        assert!(lease.id.starts_with("database/creds/ro/"));
        assert_eq!(lease.id.len(), "database/creds/ro/".len() + 24);
        assert_eq!(lease.expire_time, 6_000);
        assert_eq!(lease.ttl, 5_000);
        assert_eq!(lease.due(), Some(6_000));
        assert!(valid_id(&lease.id));
    }

    #[test]
    fn debug_never_shows_internal() {
        let lease = Lease::new(params(), 0).unwrap();
        assert!(!format!("{lease:?}").contains("hunter2"));
        assert!(!format!("{:?}", params()).contains("hunter2"));
    }

    #[test]
    fn due_keys_sort_by_time_and_parse_back() {
        let a = due_key(999, "x/1");
        let b = due_key(1_000, "a/2");
        assert!(a < b);
        assert_eq!(parse_due_key(&b), Some((1_000, "a/2")));
        assert_eq!(parse_due_key("sys/expire/due/12/x"), None);
    }

    #[test]
    fn crafted_ids_are_refused() {
        for bad in ["", "a//b", "a/../b", "a/./b", "/a", "a/", "a\nb"] {
            assert!(!valid_id(bad), "{bad:?}");
        }
        assert!(!valid_token_hash("a/b"));
    }
}
