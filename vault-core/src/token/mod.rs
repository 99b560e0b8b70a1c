//! The token store: tokens are made, looked up, renewed and revoked here.
//!
//! A token is `s.`, 8 characters of its issue time and 36 random alphanumerics
//! (over 210 bits); its accessor is 8 characters of time and 24 random. Only
//! a keyed hash of either is stored (HMAC-SHA256 under a per-vault key kept in
//! the barrier), so the database and its backups hold nothing a caller could
//! present. The stored keys begin with the time (the token's *id*: time, then
//! hash), so that a login's records are appended at the end of their key
//! ranges, not written to a random page each ([`crate::time_id`]). Tokens and
//! accessors issued before that (`s.` and 36, or 24 characters) have ids and
//! keys without the time and are still found.
//! Tokens form a tree: revoking one revokes its children with it, and a child is
//! refused once any ancestor has expired.
//!
//! Storage (behind the barrier):
//! - `sys/token/id/<id>`: the [`TokenEntry`], JSON;
//! - `sys/token/accessor/<time><hash of accessor>`: the token's id;
//! - `sys/token/parent/<parent id>/<child id>`: the tree, for revocation;
//! - `sys/token/expiry/<expire ms, 16 digits>/<id>`: tokens by expiry, so
//!   that expired ones are removed on schedule ([`TokenStore::expired`]),
//!   written and moved in the same batch as the entry;
//! - `sys/token/cubbyhole/<id>/<key>`: the token's cubbyhole (KV version 1
//!   data only this token reaches), removed with the token in one batch.

mod entry;
mod wrapping;

use std::sync::{Arc, RwLock};

use ring::hmac;

use crate::barrier::{Barrier, BarrierError, BarrierOp};
use crate::random::RandomError;
use crate::secret::{Key256, SecretBytes, SecretString};
use crate::time_id;

pub use entry::{TokenEntry, TokenParams, TtlLimits};

/// Where the token-hash key is stored.
pub const TOKEN_KEY_PATH: &str = "core/token-hmac-key";
pub(crate) const ID_PREFIX: &str = "sys/token/id/";
const ACCESSOR_PREFIX: &str = "sys/token/accessor/";
const PARENT_PREFIX: &str = "sys/token/parent/";
const CUBBYHOLE_PREFIX: &str = "sys/token/cubbyhole/";
const EXPIRY_PREFIX: &str = "sys/token/expiry/";

/// The index key of a token with hash `hash` expiring at `expire_ms` (none
/// for a token that never expires). Zero-padded so keys sort by time.
fn expiry_key(expire_ms: u64, hash: &str) -> Option<String> {
    (expire_ms > 0).then(|| format!("{EXPIRY_PREFIX}{expire_ms:016}/{hash}"))
}
/// A token found due in the expiry index.
#[derive(Debug)]
pub(crate) struct ExpiredToken {
    key: String,
    hash: String,
}

/// Keys one cubbyhole may hold that its token's revocation removes in one
/// batch; past it, the rest go in later batches.
const CUBBYHOLE_BATCH: usize = 10_000;

/// The storage prefix of the cubbyhole of the token with store hash `hash`:
/// the only view of storage `cubbyhole/` requests by that token get.
pub(crate) fn cubbyhole_prefix(hash: &str) -> String {
    format!("{CUBBYHOLE_PREFIX}{hash}/")
}
/// Bounds a token's ancestry, and so the walk up it on every lookup.
const MAX_DEPTH: u32 = 64;
/// The path of the root token made at init, and of no other token: the seal
/// configuration keeps a verifier of that token, which its revocation retires
/// (`Vault::retire_root_token_verifier`).
pub(crate) const INITIAL_ROOT_PATH: &str = "auth/token/root";

/// Why a token operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// No such token, or it expired or was used up (one answer for all).
    #[error("permission denied")]
    Invalid,
    /// The token cannot be renewed.
    #[error("token is not renewable")]
    NotRenewable,
    /// The barrier failed.
    #[error(transparent)]
    Barrier(#[from] BarrierError),
    /// A stored entry does not decode.
    #[error("stored token entry is malformed: {0}")]
    Malformed(String),
    /// No randomness.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// The parent is already as deep in the tree as a token may be.
    #[error("token tree is too deep: create an orphan token instead")]
    TooDeep,
}

/// The token store. Holds only the hash key (loaded at unseal, wiped at seal);
/// everything else is in the barrier.
#[derive(Debug, Default)]
pub struct TokenStore {
    // std RwLock: held only to copy the key out, never across an await.
    key: RwLock<Option<Key256>>,
    // Serialises every change to stored entries (use counts, renewals,
    // revocations, children): each re-reads the entry under it and writes only if
    // it still exists, so a revoked token can never be written back, and a token
    // with N uses works N times even when used concurrently. A tokio Mutex: held
    // across the storage writes.
    writes: tokio::sync::Mutex<()>,
}

/// Random characters of a token (214 bits).
const TOKEN_RANDOM_LEN: usize = 36;
/// Random characters of an accessor (142 bits).
const ACCESSOR_RANDOM_LEN: usize = 24;

/// A new token: `s.`, 8 characters of the time and 36 random alphanumerics.
pub fn generate_token() -> Result<SecretString, RandomError> {
    Ok(SecretString::new(format!(
        "s.{}",
        time_id::new_id(TOKEN_RANDOM_LEN)?
    )))
}

/// A new accessor: 8 characters of the time and 24 random alphanumerics.
fn generate_accessor() -> Result<String, RandomError> {
    time_id::new_id(ACCESSOR_RANDOM_LEN)
}

/// The HMAC key for hash key `key`.
fn mac_of(key: &Key256) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, key.expose_secret())
}

/// The id of `token` under hash key `mac`: its time prefix (none for a token
/// from before them), then its keyed hash, hex.
fn token_id_with(mac: &hmac::Key, token: &str) -> String {
    let time = token
        .strip_prefix("s.")
        .and_then(|rest| time_id::prefix_of(rest, TOKEN_RANDOM_LEN))
        .unwrap_or_default();
    format!("{time}{}", hex::encode(hmac::sign(mac, token.as_bytes())))
}

/// The storage key of `accessor`'s index entry under hash key `mac`.
fn accessor_key_with(mac: &hmac::Key, accessor: &str) -> String {
    let time = time_id::prefix_of(accessor, ACCESSOR_RANDOM_LEN).unwrap_or_default();
    format!(
        "{ACCESSOR_PREFIX}{time}{}",
        hex::encode(hmac::sign(mac, accessor.as_bytes()))
    )
}

impl TokenStore {
    /// An empty (sealed) store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads the hash key at unseal.
    pub(crate) async fn load(&self, barrier: &Barrier) -> Result<(), TokenError> {
        let stored = barrier.get_internal(TOKEN_KEY_PATH).await?;
        let key = stored
            .and_then(|k| Key256::from_slice(k.expose_secret()))
            .ok_or_else(|| TokenError::Malformed("the token hash key is missing".into()))?;
        *self.key.write().unwrap_or_else(|p| p.into_inner()) = Some(key);
        Ok(())
    }

    /// Wipes the hash key at seal.
    pub(crate) fn unload(&self) {
        *self.key.write().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The loaded hash key.
    fn mac(&self) -> Result<hmac::Key, TokenError> {
        let guard = self.key.read().map_err(|_| TokenError::Invalid)?;
        let key = guard
            .as_ref()
            .ok_or(TokenError::Barrier(BarrierError::Sealed))?;
        Ok(mac_of(key))
    }

    /// The id of a token, under which its entry is stored: its time prefix,
    /// then its keyed hash.
    pub fn token_id(&self, token: &str) -> Result<String, TokenError> {
        Ok(token_id_with(&self.mac()?, token))
    }

    /// The storage key of an accessor's index entry.
    fn accessor_key(&self, accessor: &str) -> Result<String, TokenError> {
        Ok(accessor_key_with(&self.mac()?, accessor))
    }

    /// The id of `token`, on a node that has not loaded the hash key (an HA
    /// standby): the key read from the barrier for this once.
    pub(crate) async fn token_id_from(
        &self,
        barrier: &Barrier,
        token: &str,
    ) -> Result<String, TokenError> {
        if let Ok(id) = self.token_id(token) {
            return Ok(id);
        }
        let key = barrier
            .get_internal(TOKEN_KEY_PATH)
            .await?
            .and_then(|k| Key256::from_slice(k.expose_secret()))
            .ok_or_else(|| TokenError::Malformed("the token hash key is missing".into()))?;
        Ok(token_id_with(&mac_of(&key), token))
    }

    /// The storage records of the first (root) token, for init: the hash key, the
    /// entry and its accessor index, with `key` as the hash key.
    pub(crate) fn initial_records(
        key: &Key256,
        token: &str,
        now: u64,
    ) -> Result<Vec<(String, SecretBytes)>, TokenError> {
        let mac = mac_of(key);
        let accessor = generate_accessor()?;
        let entry = TokenEntry {
            id_hash: token_id_with(&mac, token),
            accessor: accessor.clone(),
            parent: String::new(),
            policies: vec!["root".into()],
            path: INITIAL_ROOT_PATH.into(),
            display_name: "root".into(),
            meta: Default::default(),
            num_uses: 0,
            creation_time: now,
            creation_ttl: 0,
            expire_time: 0,
            explicit_max_ttl: 0,
            period: 0,
            max_expire_time: 0,
            renewable: false,
            bound_cidrs: vec![],
            depth: 0,
            entity_id: String::new(),
            wrapping: false,
        };
        Ok(vec![
            (
                TOKEN_KEY_PATH.into(),
                SecretBytes::new(key.expose_secret().to_vec()),
            ),
            (format!("{ID_PREFIX}{}", entry.id_hash), encode(&entry)?),
            (
                accessor_key_with(&mac, &accessor),
                SecretBytes::new(entry.id_hash.clone().into_bytes()),
            ),
        ])
    }

    /// Stores a new token made from `params` under `parent` (an orphan when
    /// `None`). Returns the token, which is never stored, and its entry.
    pub async fn create(
        &self,
        barrier: &Barrier,
        params: &TokenParams,
        parent: Option<&TokenEntry>,
        limits: TtlLimits,
        now: u64,
    ) -> Result<(SecretString, TokenEntry), TokenError> {
        // The parent must still exist now, under the lock: a child made while its
        // parent is being revoked would otherwise escape the revocation. An
        // orphan has no tree to race with and is nobody else's to write, so it
        // is stored without the lock: logins (orphans all) share the storage's
        // group commit instead of queueing for one fsync each.
        let _serial = match parent {
            Some(_) => Some(self.writes.lock().await),
            None => None,
        };
        let parent = match parent {
            Some(p) => Some(
                self.read(barrier, &p.id_hash)
                    .await?
                    .ok_or(TokenError::Invalid)?,
            ),
            None => None,
        };
        let depth = parent.as_ref().map_or(0, |p| p.depth + 1);
        if depth > MAX_DEPTH {
            return Err(TokenError::TooDeep);
        }
        let token = generate_token()?;
        let accessor = generate_accessor()?;
        let root = params.policies.iter().any(|p| p == "root");
        let (mut ttl, mut expire, mut max_expire) =
            TokenEntry::deadlines(params, limits, root, now);
        // A child lives no longer than its parent: its revocation would end
        // the child anyway, and the child's lookup must say when it ends.
        if let Some(p) = &parent {
            if p.max_expire_time > 0 && (max_expire == 0 || max_expire > p.max_expire_time) {
                max_expire = p.max_expire_time;
            }
            if p.expire_time > 0 && (expire == 0 || expire > p.expire_time) {
                expire = p.expire_time;
            }
            if max_expire > 0 && expire > max_expire {
                expire = max_expire;
            }
            if expire > 0 {
                ttl = expire.saturating_sub(now);
            }
        }
        let entry = TokenEntry {
            id_hash: self.token_id(token.expose_secret())?,
            accessor: accessor.clone(),
            parent: parent
                .as_ref()
                .map(|p| p.id_hash.clone())
                .unwrap_or_default(),
            policies: params.policies.clone(),
            path: params.path.clone(),
            display_name: params.display_name.clone(),
            meta: params.meta.clone(),
            num_uses: params.num_uses,
            creation_time: now,
            creation_ttl: ttl,
            expire_time: expire,
            explicit_max_ttl: params.explicit_max_ttl,
            period: params.period,
            max_expire_time: max_expire,
            renewable: params.renewable && expire != 0,
            bound_cidrs: params.bound_cidrs.clone(),
            depth,
            entity_id: params.entity_id.clone(),
            wrapping: false,
        };
        barrier.batch(self.entry_ops(&entry)?).await?;
        Ok((token, entry))
    }

    /// The writes that store a new `entry`: the entry, its accessor's index,
    /// its place under its parent and in the expiry index.
    fn entry_ops(&self, entry: &TokenEntry) -> Result<Vec<BarrierOp>, TokenError> {
        let mut ops = vec![
            BarrierOp::Put {
                path: format!("{ID_PREFIX}{}", entry.id_hash),
                value: encode(entry)?,
            },
            BarrierOp::Put {
                path: self.accessor_key(&entry.accessor)?,
                value: SecretBytes::new(entry.id_hash.clone().into_bytes()),
            },
        ];
        if !entry.parent.is_empty() {
            ops.push(BarrierOp::Put {
                path: format!("{PARENT_PREFIX}{}/{}", entry.parent, entry.id_hash),
                value: SecretBytes::default(),
            });
        }
        if let Some(path) = expiry_key(entry.expire_time, &entry.id_hash) {
            ops.push(BarrierOp::Put {
                path,
                value: SecretBytes::default(),
            });
        }
        Ok(ops)
    }

    /// The live entry of `token`, or `None`. An expired token, or one whose
    /// ancestor has expired or gone, is revoked on the spot and is `None`.
    pub async fn lookup(
        &self,
        barrier: &Barrier,
        token: &str,
        now: u64,
    ) -> Result<Option<TokenEntry>, TokenError> {
        let id = self.token_id(token)?;
        self.lookup_hash(barrier, &id, now).await
    }

    /// The live entry behind an accessor, or `None`.
    pub async fn lookup_accessor(
        &self,
        barrier: &Barrier,
        accessor: &str,
        now: u64,
    ) -> Result<Option<TokenEntry>, TokenError> {
        let index = self.accessor_key(accessor)?;
        let Some(hash) = barrier.get(&index).await? else {
            return Ok(None);
        };
        let hash = String::from_utf8_lossy(hash.expose_secret()).into_owned();
        self.lookup_hash(barrier, &hash, now).await
    }

    pub(crate) async fn lookup_hash(
        &self,
        barrier: &Barrier,
        hash: &str,
        now: u64,
    ) -> Result<Option<TokenEntry>, TokenError> {
        Ok(self
            .live_tree(barrier, hash, now)
            .await?
            .map(|(entry, _)| entry))
    }

    /// The earliest `(expire_time, max_expire_time)` of the token with `hash`
    /// and its ancestors (0: none), so that what the token makes (a lease) can
    /// be capped at the moment its tree dies. `None` if the token is not live.
    pub(crate) async fn tree_deadlines(
        &self,
        barrier: &Barrier,
        hash: &str,
        now: u64,
    ) -> Result<Option<(u64, u64)>, TokenError> {
        Ok(self
            .live_tree(barrier, hash, now)
            .await?
            .map(|(_, deadlines)| deadlines))
    }

    /// The live entry with `hash` and the earliest deadlines of its tree, in
    /// one walk up its ancestors. An expired token, or one whose ancestor has
    /// expired or gone, is revoked on the spot and is `None`.
    async fn live_tree(
        &self,
        barrier: &Barrier,
        hash: &str,
        now: u64,
    ) -> Result<Option<(TokenEntry, (u64, u64))>, TokenError> {
        let Some(entry) = self.read_shared(barrier, hash).await? else {
            return Ok(None);
        };
        if entry.is_expired(now) {
            self.revoke_tree(barrier, &entry.id_hash).await?;
            return Ok(None);
        }
        let earliest = |a: u64, b: u64| match (a, b) {
            (0, x) | (x, 0) => x,
            (x, y) => x.min(y),
        };
        let (mut expire, mut max) = (entry.expire_time, entry.max_expire_time);
        // Every ancestor must still be alive; the first dead one takes its whole
        // subtree (this token included) with it.
        let mut parent = entry.parent.clone();
        for _ in 0..=MAX_DEPTH {
            if parent.is_empty() {
                return Ok(Some((TokenEntry::clone(&entry), (expire, max))));
            }
            match self.read_shared(barrier, &parent).await? {
                Some(p) if !p.is_expired(now) => {
                    expire = earliest(expire, p.expire_time);
                    max = earliest(max, p.max_expire_time);
                    parent = p.parent.clone();
                }
                Some(p) => {
                    self.revoke_tree(barrier, &p.id_hash).await?;
                    return Ok(None);
                }
                None => {
                    self.revoke_tree(barrier, &entry.id_hash).await?;
                    return Ok(None);
                }
            }
        }
        // Deeper than any token can be made: refuse rather than trust it.
        Ok(None)
    }

    /// Looks `token` up and spends one use of it. The use that brings a limited
    /// token to zero is allowed, and the token is revoked after it.
    pub async fn use_token(
        &self,
        barrier: &Barrier,
        token: &str,
        now: u64,
    ) -> Result<TokenEntry, TokenError> {
        let entry = self
            .lookup(barrier, token, now)
            .await?
            .ok_or(TokenError::Invalid)?;
        // A wrapping token's one use is taking its response.
        if entry.num_uses == 0 || entry.wrapping {
            return Ok(entry);
        }
        let _serial = self.writes.lock().await;
        // Read again under the lock: another request may have spent a use.
        let mut entry = self
            .read(barrier, &entry.id_hash)
            .await?
            .ok_or(TokenError::Invalid)?;
        if entry.num_uses == 1 {
            // The last use is allowed; the token is gone after it, and anything
            // that tries to change it later (a renewal) finds nothing to change.
            // Its leases live on to their own expiry (capped at the token's
            // when issued): using up a token is not revoking it.
            let mut removed = Vec::new();
            self.revoke_tree_locked(barrier, &entry.id_hash, &mut removed)
                .await?;
            return Ok(entry);
        }
        entry.num_uses -= 1;
        self.write(barrier, &entry).await?;
        Ok(entry)
    }

    /// Renews `entry` at `now` by `increment` ms (0: its creation TTL); returns the
    /// renewed entry and a warning when the TTL was capped.
    pub async fn renew(
        &self,
        barrier: &Barrier,
        entry: TokenEntry,
        increment: u64,
        now: u64,
    ) -> Result<(TokenEntry, Option<String>), TokenError> {
        let _serial = self.writes.lock().await;
        let mut entry = self
            .read(barrier, &entry.id_hash)
            .await?
            .filter(|e| !e.is_expired(now))
            .ok_or(TokenError::Invalid)?;
        if !entry.renewable {
            return Err(TokenError::NotRenewable);
        }
        let was = expiry_key(entry.expire_time, &entry.id_hash);
        let warning = entry.renew(increment, now);
        let mut ops = vec![BarrierOp::Put {
            path: format!("{ID_PREFIX}{}", entry.id_hash),
            value: encode(&entry)?,
        }];
        let now_key = expiry_key(entry.expire_time, &entry.id_hash);
        if was != now_key {
            ops.extend(was.map(|path| BarrierOp::Delete { path }));
            ops.extend(now_key.map(|path| BarrierOp::Put {
                path,
                value: SecretBytes::default(),
            }));
        }
        barrier.batch(ops).await?;
        Ok((entry, warning))
    }

    /// Revokes the token with this hash and every descendant. Returns the hashes
    /// of the tokens removed, so their leases can be revoked too.
    pub async fn revoke_tree(
        &self,
        barrier: &Barrier,
        hash: &str,
    ) -> Result<Vec<String>, TokenError> {
        let _serial = self.writes.lock().await;
        let mut removed = Vec::new();
        self.revoke_tree_locked(barrier, hash, &mut removed).await?;
        Ok(removed)
    }

    async fn revoke_tree_locked(
        &self,
        barrier: &Barrier,
        hash: &str,
        removed: &mut Vec<String>,
    ) -> Result<(), TokenError> {
        // Depth-first, children before parents, so a crash midway leaves no child
        // whose parent is gone without the lookup noticing.
        let mut stack = vec![(hash.to_owned(), false)];
        let mut steps = 0usize;
        while let Some((current, expanded)) = stack.pop() {
            steps += 1;
            if steps > 10_000_000 {
                return Err(TokenError::Malformed(
                    "token tree too large to revoke in one call".into(),
                ));
            }
            if !expanded {
                stack.push((current.clone(), true));
                for child in barrier.list(&format!("{PARENT_PREFIX}{current}/")).await? {
                    stack.push((child.trim_end_matches('/').to_owned(), false));
                }
                continue;
            }
            if self.remove(barrier, &current).await? {
                removed.push(current);
            }
        }
        Ok(())
    }

    /// Revokes every token made through `prefix` (an auth mount's path) and their
    /// children: disabling an auth method logs out everyone it logged in.
    /// Returns the hashes of every token removed (children included).
    pub async fn revoke_by_path_prefix(
        &self,
        barrier: &Barrier,
        prefix: &str,
    ) -> Result<Vec<String>, TokenError> {
        let _serial = self.writes.lock().await;
        let mut removed = Vec::new();
        for hash in barrier.list(ID_PREFIX).await? {
            if let Some(entry) = self.read(barrier, &hash).await?
                && entry.path.starts_with(prefix)
            {
                self.revoke_tree_locked(barrier, &entry.id_hash, &mut removed)
                    .await?;
            }
        }
        Ok(removed)
    }

    /// Revokes only this token; its children become orphans. Returns whether
    /// it was there to remove.
    pub async fn revoke_orphan(&self, barrier: &Barrier, hash: &str) -> Result<bool, TokenError> {
        let _serial = self.writes.lock().await;
        for child in barrier.list(&format!("{PARENT_PREFIX}{hash}/")).await? {
            let child = child.trim_end_matches('/');
            if let Some(mut entry) = self.read(barrier, child).await? {
                entry.parent.clear();
                entry.depth = 0;
                self.write(barrier, &entry).await?;
            }
            barrier
                .delete(&format!("{PARENT_PREFIX}{hash}/{child}"))
                .await?;
        }
        self.remove(barrier, hash).await
    }

    /// Up to `limit` entries of the expiry index due at or before `now`,
    /// earliest first; only the due keys are read, however many tokens
    /// there are.
    pub(crate) async fn expired(
        &self,
        barrier: &Barrier,
        now: u64,
        limit: usize,
    ) -> Result<Vec<ExpiredToken>, TokenError> {
        let keys = barrier
            .backend()
            .scan(EXPIRY_PREFIX, None, limit)
            .await
            .map_err(BarrierError::from)?;
        let mut due = Vec::new();
        for key in keys {
            let Some((at, hash)) = key
                .strip_prefix(EXPIRY_PREFIX)
                .and_then(|rest| rest.split_once('/'))
            else {
                continue;
            };
            match at.parse::<u64>() {
                Ok(at) if at <= now => {
                    let hash = hash.to_owned();
                    due.push(ExpiredToken { key, hash });
                }
                Ok(_) => break,
                Err(_) => continue,
            }
        }
        Ok(due)
    }

    /// Revokes the expired token and its descendants, if it is still there
    /// and still expired at `now` (a renewal may have come between the scan
    /// and now; its key then moved). Returns the hashes removed.
    pub(crate) async fn remove_expired(
        &self,
        barrier: &Barrier,
        expired: &ExpiredToken,
        now: u64,
    ) -> Result<Vec<String>, TokenError> {
        let _serial = self.writes.lock().await;
        let mut removed = Vec::new();
        match self.read(barrier, &expired.hash).await? {
            Some(entry) if entry.is_expired(now) => {
                self.revoke_tree_locked(barrier, &expired.hash, &mut removed)
                    .await?;
            }
            Some(_) => {}
            // The token went without its key (a parent's revocation reads
            // each entry; a key can only be left if that batch failed
            // halfway on a backend without batches): drop the key alone.
            None => barrier.delete(&expired.key).await?,
        }
        Ok(removed)
    }

    /// Removes one token; false if it was already gone.
    async fn remove(&self, barrier: &Barrier, hash: &str) -> Result<bool, TokenError> {
        let Some(entry) = self.read(barrier, hash).await? else {
            return Ok(false);
        };
        let mut ops = vec![
            BarrierOp::Delete {
                path: format!("{ID_PREFIX}{hash}"),
            },
            BarrierOp::Delete {
                path: self.accessor_key(&entry.accessor)?,
            },
        ];
        if !entry.parent.is_empty() {
            ops.push(BarrierOp::Delete {
                path: format!("{PARENT_PREFIX}{}/{hash}", entry.parent),
            });
        }
        if let Some(path) = expiry_key(entry.expire_time, hash) {
            ops.push(BarrierOp::Delete { path });
        }
        let mut cubbyhole = cubbyhole_keys(barrier, hash).await?;
        // The token and (most often all of) its cubbyhole go together; a
        // very large cubbyhole's rest goes first, so that nothing is left
        // behind a token that is gone.
        while cubbyhole.len() > CUBBYHOLE_BATCH {
            let rest = cubbyhole.split_off(CUBBYHOLE_BATCH);
            barrier
                .batch(
                    rest.into_iter()
                        .map(|path| BarrierOp::Delete { path })
                        .collect(),
                )
                .await?;
        }
        ops.extend(cubbyhole.into_iter().map(|path| BarrierOp::Delete { path }));
        barrier.batch(ops).await?;
        Ok(true)
    }

    async fn read(&self, barrier: &Barrier, hash: &str) -> Result<Option<TokenEntry>, TokenError> {
        let Some(raw) = barrier.get(&format!("{ID_PREFIX}{hash}")).await? else {
            return Ok(None);
        };
        serde_json::from_slice(raw.expose_secret())
            .map(Some)
            .map_err(|e| TokenError::Malformed(e.to_string()))
    }

    /// The entry with `hash` as the barrier's cache shares it: parsed once per
    /// write, not per request. It holds the token's hash, never the token.
    pub(crate) async fn read_shared(
        &self,
        barrier: &Barrier,
        hash: &str,
    ) -> Result<Option<Arc<TokenEntry>>, TokenError> {
        barrier
            .get_decoded(&format!("{ID_PREFIX}{hash}"), |raw| {
                serde_json::from_slice(raw).map_err(|e| TokenError::Malformed(e.to_string()))
            })
            .await
    }

    async fn write(&self, barrier: &Barrier, entry: &TokenEntry) -> Result<(), TokenError> {
        let value = encode(entry)?;
        barrier
            .put(
                &format!("{ID_PREFIX}{}", entry.id_hash),
                value.expose_secret(),
            )
            .await?;
        Ok(())
    }
}

fn encode(entry: &TokenEntry) -> Result<SecretBytes, TokenError> {
    serde_json::to_vec(entry)
        .map(SecretBytes::new)
        .map_err(|e| TokenError::Malformed(e.to_string()))
}

/// Every key in the cubbyhole of the token with hash `hash`, folders walked.
async fn cubbyhole_keys(barrier: &Barrier, hash: &str) -> Result<Vec<String>, TokenError> {
    let mut keys = Vec::new();
    let mut folders = vec![cubbyhole_prefix(hash)];
    while let Some(folder) = folders.pop() {
        for child in barrier.list(&folder).await? {
            let path = format!("{folder}{child}");
            if child.ends_with('/') {
                folders.push(path);
            } else {
                keys.push(path);
            }
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::barrier::BarrierOptions;

    /// An unsealed barrier over memory and a store with its hash key loaded.
    async fn store() -> (TokenStore, Barrier, Key256) {
        let (barrier, _) = crate::barrier::unsealed(BarrierOptions::default()).await;
        let key = Key256::generate().unwrap();
        barrier
            .put_internal(TOKEN_KEY_PATH, key.expose_secret())
            .await
            .unwrap();
        let store = TokenStore::new();
        store.load(&barrier).await.unwrap();
        (store, barrier, key)
    }

    const LIMITS: TtlLimits = TtlLimits {
        default_ttl: 3_600_000,
        max_ttl: 3_600_000,
    };

    #[tokio::test]
    async fn a_token_and_its_accessor_are_stored_under_their_issue_time() {
        let (store, barrier, _) = store().await;
        let params = TokenParams {
            policies: vec!["default".into()],
            path: "auth/approle/login".into(),
            ..TokenParams::default()
        };
        let now = crate::clock::now_unix_millis();
        let (first, entry) = store
            .create(&barrier, &params, None, LIMITS, now)
            .await
            .unwrap();
        let token = first.expose_secret();
        assert_eq!(token.len(), 2 + time_id::TIME_LEN + TOKEN_RANDOM_LEN);
        let time = &token[2..2 + time_id::TIME_LEN];
        assert!(entry.id_hash.starts_with(time), "{}", entry.id_hash);
        assert!(entry.accessor.starts_with(time), "{}", entry.accessor);
        let ids = barrier.list(ID_PREFIX).await.unwrap();
        assert!(ids.len() == 1 && ids[0] == entry.id_hash, "{ids:?}");
        let accessors = barrier.list(ACCESSOR_PREFIX).await.unwrap();
        assert!(accessors.len() == 1 && accessors[0].starts_with(time));
        // Made later, stored later in key order.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        let (_, later) = store
            .create(&barrier, &params, None, LIMITS, now)
            .await
            .unwrap();
        assert!(later.id_hash[..8] > entry.id_hash[..8]);
        let found = store.lookup(&barrier, token, now).await.unwrap();
        assert_eq!(found.as_ref(), Some(&entry));
        let by_accessor = store.lookup_accessor(&barrier, &entry.accessor, now).await;
        assert_eq!(by_accessor.unwrap().as_ref(), Some(&entry));
    }

    #[tokio::test]
    async fn a_token_stored_before_time_prefixes_is_found_and_revoked() {
        let (store, barrier, key) = store().await;
        // Stored as the store did before: keyed by the bare keyed hashes of a
        // token of 36 and an accessor of 24 random characters.
        let token = format!("s.{}", crate::random::alphanumeric(36).unwrap());
        let accessor = crate::random::alphanumeric(24).unwrap();
        let mac = mac_of(&key);
        let hash = |v: &str| hex::encode(hmac::sign(&mac, v.as_bytes()));
        let now = crate::clock::now_unix_millis();
        let entry = TokenEntry {
            id_hash: hash(&token),
            accessor: accessor.clone(),
            policies: vec!["default".into()],
            path: "auth/token/create".into(),
            creation_time: now,
            expire_time: now + 3_600_000,
            ..TokenEntry::default()
        };
        barrier
            .batch(vec![
                BarrierOp::Put {
                    path: format!("{ID_PREFIX}{}", hash(&token)),
                    value: encode(&entry).unwrap(),
                },
                BarrierOp::Put {
                    path: format!("{ACCESSOR_PREFIX}{}", hash(&accessor)),
                    value: SecretBytes::new(hash(&token).into_bytes()),
                },
            ])
            .await
            .unwrap();
        let found = store.lookup(&barrier, &token, now).await.unwrap();
        assert_eq!(found.as_ref(), Some(&entry));
        let by_accessor = store.lookup_accessor(&barrier, &accessor, now).await;
        assert_eq!(by_accessor.unwrap().as_ref(), Some(&entry));
        let removed = store.revoke_tree(&barrier, &entry.id_hash).await.unwrap();
        assert_eq!(removed, [entry.id_hash]);
        assert!(barrier.list(ID_PREFIX).await.unwrap().is_empty());
        assert!(barrier.list(ACCESSOR_PREFIX).await.unwrap().is_empty());
    }
}
