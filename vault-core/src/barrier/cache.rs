//! A bounded cache of decrypted values, so a hot entry (a token, a secret read
//! by a fleet) is not read from storage and decrypted on every request.
//!
//! Only values the barrier has just read and authenticated are cached, and
//! only when no write went through the barrier while they were being read: a
//! global write generation is taken before the storage read and checked
//! under the cache lock before inserting, and every write bumps it and drops
//! its paths after it reached storage. So the cache never serves a value
//! older than the last completed write of its path. It is emptied when the
//! keys go (seal) and when the keyring is read again (another node may have
//! written meanwhile: HA promotion). Values are `SecretBytes`, wiped when
//! evicted. Bounded in entries and bytes.
//!
//! An entry may also carry the value decoded by a reader (a token entry), so
//! later reads share it instead of parsing the bytes again. It is attached
//! under the same write generation rule and goes with its bytes.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::secret::SecretBytes;

/// Entries kept at most.
const MAX_ENTRIES: usize = 4096;
/// Plaintext bytes kept at most.
const MAX_BYTES: usize = 8 << 20;
/// Larger values are not cached.
const MAX_VALUE: usize = 64 << 10;

/// A decoded value, shared by the readers of its entry.
pub(super) type Decoded = Arc<dyn Any + Send + Sync>;

struct Cached {
    value: SecretBytes,
    decoded: Option<Decoded>,
    // Its position in `Inner::order`, to tell its current one from stale ones.
    seq: u64,
}

impl Cached {
    /// What the entry counts against `MAX_BYTES`: a decoded value is taken to
    /// be about the size of its bytes.
    fn charge(&self) -> usize {
        match self.decoded {
            Some(_) => 2 * self.value.len(),
            None => self.value.len(),
        }
    }
}

#[derive(Default)]
struct Inner {
    values: HashMap<String, Cached>,
    // Insertion order, for eviction. A path may appear more than once: only
    // the position whose number its entry holds counts, older ones are
    // skipped in O(1). (A scan for later positions was paid on every miss,
    // under the lock: in a vault of a million secrets, every read.)
    order: VecDeque<(u64, String)>,
    next_seq: u64,
    bytes: usize,
    generation: u64,
}

/// The cache; see the module docs.
#[derive(Default)]
pub(super) struct ReadCache {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for ReadCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let entries = self.inner.lock().map(|i| i.values.len()).unwrap_or(0);
        f.debug_struct("ReadCache")
            .field("entries", &entries)
            .finish_non_exhaustive()
    }
}

impl ReadCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned cache is still a valid map; nothing in it can be torn.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the cached value at `path`.
    pub(super) fn get(&self, path: &str) -> Option<SecretBytes> {
        self.lock()
            .values
            .get(path)
            .map(|v| SecretBytes::new(v.value.expose_secret().to_vec()))
    }

    /// The decoded value attached to `path`, if it is a `T`.
    pub(super) fn get_decoded<T: Any + Send + Sync>(&self, path: &str) -> Option<Arc<T>> {
        let decoded = self.lock().values.get(path)?.decoded.clone()?;
        decoded.downcast::<T>().ok()
    }

    /// Attaches `decoded` to the bytes cached at `path`, unless a write went
    /// through since `generation` was taken (they may not be its bytes).
    pub(super) fn attach(&self, generation: u64, path: &str, decoded: Decoded) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        let Inner { values, bytes, .. } = &mut *inner;
        if let Some(entry) = values.get_mut(path) {
            *bytes -= entry.charge();
            entry.decoded = Some(decoded);
            *bytes += entry.charge();
        }
    }

    /// The write generation, taken before a storage read.
    pub(super) fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Caches `value` read at `path`, unless a write went through since
    /// `generation` was taken.
    pub(super) fn insert(&self, generation: u64, path: &str, value: &SecretBytes) {
        if value.len() > MAX_VALUE {
            return;
        }
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let copy = Cached {
            value: SecretBytes::new(value.expose_secret().to_vec()),
            decoded: None,
            seq,
        };
        inner.bytes += copy.charge();
        if let Some(old) = inner.values.insert(path.to_owned(), copy) {
            inner.bytes -= old.charge();
        }
        inner.order.push_back((seq, path.to_owned()));
        while inner.values.len() > MAX_ENTRIES || inner.bytes > MAX_BYTES {
            let Some((seq, oldest)) = inner.order.pop_front() else {
                break;
            };
            if inner.values.get(&oldest).is_some_and(|c| c.seq == seq)
                && let Some(gone) = inner.values.remove(&oldest)
            {
                inner.bytes -= gone.charge();
            }
        }
        // Stale positions (of paths inserted again, or invalidated) are
        // dropped as they reach the front; this bounds them meanwhile.
        if inner.order.len() > 4 * MAX_ENTRIES {
            let values = &inner.values;
            let kept: VecDeque<(u64, String)> = inner
                .order
                .iter()
                .filter(|(seq, p)| values.get(p).is_some_and(|c| c.seq == *seq))
                .cloned()
                .collect();
            inner.order = kept;
        }
    }

    /// After a write to `paths` reached storage (or failed: its outcome is
    /// unknown): drops them, and stops reads in flight from caching.
    pub(super) fn invalidate<'a>(&self, paths: impl IntoIterator<Item = &'a str>) {
        let mut inner = self.lock();
        inner.generation += 1;
        for path in paths {
            if let Some(gone) = inner.values.remove(path) {
                inner.bytes -= gone.charge();
            }
        }
    }

    /// Drops everything (seal, keyring reloaded).
    pub(super) fn clear(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.values.clear();
        inner.order.clear();
        inner.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(s: &str) -> SecretBytes {
        SecretBytes::new(s.as_bytes().to_vec())
    }

    #[test]
    fn a_decoding_that_raced_a_write_is_not_attached() {
        let cache = ReadCache::default();
        let read_at = cache.generation();
        cache.insert(read_at, "a", &value("old"));
        // A write lands, and a newer read caches the new bytes...
        cache.invalidate(["a"]);
        let now = cache.generation();
        cache.insert(now, "a", &value("new"));
        // ...so what was decoded from the old bytes must not join them.
        cache.attach(read_at, "a", Arc::new("old".to_owned()));
        assert!(cache.get_decoded::<String>("a").is_none());
        cache.attach(now, "a", Arc::new("new".to_owned()));
        assert_eq!(*cache.get_decoded::<String>("a").unwrap(), "new");
        assert!(cache.get_decoded::<u32>("a").is_none(), "another type");
        cache.invalidate(["a"]);
        assert!(cache.get_decoded::<String>("a").is_none());
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_cached() {
        let cache = ReadCache::default();
        let before = cache.generation();
        cache.invalidate(["a"]);
        cache.insert(before, "a", &value("old"));
        assert!(cache.get("a").is_none());
        let now = cache.generation();
        cache.insert(now, "a", &value("new"));
        assert_eq!(cache.get("a").unwrap().expose_secret(), b"new");
        cache.invalidate(["a"]);
        assert!(cache.get("a").is_none());
    }

    #[test]
    fn a_path_cached_again_is_evicted_by_its_newest_position_only() {
        let cache = ReadCache::default();
        let insert = |path: &str| cache.insert(cache.generation(), path, &value("v"));
        insert("again");
        for i in 0..MAX_ENTRIES / 2 {
            insert(&format!("k{i}"));
        }
        insert("again");
        // Its first position reaches the front and goes: the entry stays.
        for i in MAX_ENTRIES / 2..MAX_ENTRIES + 10 {
            insert(&format!("k{i}"));
        }
        assert!(cache.get("again").is_some());
        assert!(cache.get("k0").is_none());
        // Its newest position reaches the front: now it goes.
        for i in MAX_ENTRIES + 10..2 * MAX_ENTRIES {
            insert(&format!("k{i}"));
        }
        assert!(cache.get("again").is_none());
        let inner = cache.lock();
        assert_eq!(inner.values.len(), MAX_ENTRIES);
        assert!(inner.order.len() <= 4 * MAX_ENTRIES + 1);
    }

    #[test]
    fn it_stays_within_its_bounds() {
        let cache = ReadCache::default();
        for i in 0..(MAX_ENTRIES + 100) {
            let g = cache.generation();
            cache.insert(g, &format!("k{i}"), &value("v"));
        }
        let inner = cache.lock();
        assert_eq!(inner.values.len(), MAX_ENTRIES);
        assert!(inner.values.contains_key(&format!("k{}", MAX_ENTRIES + 99)));
        assert!(!inner.values.contains_key("k0"));
        drop(inner);
        let big = SecretBytes::new(vec![0; MAX_VALUE + 1]);
        let g = cache.generation();
        cache.insert(g, "big", &big);
        assert!(cache.get("big").is_none());
        cache.clear();
        assert!(cache.get(&format!("k{}", MAX_ENTRIES + 99)).is_none());
    }
}
