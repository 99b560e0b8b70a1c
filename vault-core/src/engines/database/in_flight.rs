//! The usernames this instance created whose lease it has not seen stored
//! yet ("in flight"): `reconcile` leaves their roles alone. An entry lasts
//! until its credential is revoked or a time limit passes, so at a high
//! issue rate the set is large; adding to it must not walk it. Entries are
//! also kept in the order they were added, and the expired ones are
//! dropped from the front.

use std::collections::{HashMap, VecDeque};

/// The set, with the time each name was added (Unix ms).
#[derive(Debug, Default)]
pub(super) struct InFlight {
    since: HashMap<String, u64>,
    /// Names in the order they were added, with the time; a name removed or
    /// added again since leaves its old place here, skipped when it
    /// expires.
    order: VecDeque<(u64, String)>,
}

impl InFlight {
    /// Adds `name` at `now`, first dropping what is older than `limit_ms`.
    pub(super) fn add(&mut self, name: &str, now: u64, limit_ms: u64) {
        while let Some((at, _)) = self.order.front() {
            if now.saturating_sub(*at) < limit_ms {
                break;
            }
            if let Some((at, old)) = self.order.pop_front()
                && self.since.get(&old) == Some(&at)
            {
                self.since.remove(&old);
            }
        }
        self.since.insert(name.to_owned(), now);
        self.order.push_back((now, name.to_owned()));
    }

    pub(super) fn remove(&mut self, name: &str) {
        self.since.remove(name);
    }

    /// When `name` was added, if it still is in flight.
    pub(super) fn since(&self, name: &str) -> Option<u64> {
        self.since.get(name).copied()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.since.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_names_go_on_the_next_add_and_a_name_added_again_keeps_its_new_time() {
        let mut set = InFlight::default();
        set.add("a", 1_000, 500);
        set.add("b", 1_200, 500);
        set.add("a", 1_300, 500); // again, later
        set.remove("b");
        assert_eq!((set.since("a"), set.since("b")), (Some(1_300), None));
        // At 1,600 the first "a" (1,000) and "b" (1,200) are past the limit;
        // the second "a" (1,300) is not, and stays.
        set.add("c", 1_600, 500);
        assert_eq!(set.since("a"), Some(1_300));
        assert_eq!(set.len(), 2);
        set.add("d", 1_900, 500);
        assert_eq!((set.since("a"), set.since("c")), (None, Some(1_600)));
        assert_eq!(set.order.len(), 2);
    }
}
