//! The canonical form an entry's hash is computed over: JSON with every object's
//! keys sorted by their bytes, no whitespace. Written out by hand rather than
//! relying on how a map type happens to order its keys.
//!
//! A device writes each entry as its canonical form with `hash` in its sorted
//! place, so the text is made once per entry. The caller's thread writes the
//! entry's own members (a [`Body`], which also marks where the chain's members
//! go); the device's writer thread, which alone knows `seq` and `prev_hash`,
//! only splices them in, hashes the text and splices `hash` in (see
//! [`Body::chained_line`]). The serialising is spread over the callers'
//! threads, and the entry's value tree is freed where it was made.

use ring::digest;
use serde_json::{Map, Value};

/// The member an entry's hash is kept in, left out of what it covers.
const HASH_KEY: &str = "hash";

/// `value` in canonical JSON.
pub fn canonical_json(value: &Value) -> String {
    let mut out = Vec::new();
    write_value(value, &mut out);
    // Only JSON text was written: always UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// `map` in canonical JSON.
pub(crate) fn canonical_object(map: &Map<String, Value>) -> String {
    let mut out = Vec::new();
    write_members(map, None, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// `value` in canonical form, appended to `out`.
pub(crate) fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => write_members(map, None, out),
        Value::Array(items) => write_array(items, out, write_value),
        scalar => write_scalar(scalar, out),
    }
}

/// `[...]` of `items`, each written by `item`.
fn write_array<T>(
    items: impl IntoIterator<Item = T>,
    out: &mut Vec<u8>,
    mut item: impl FnMut(T, &mut Vec<u8>),
) {
    out.push(b'[');
    for (i, value) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        item(value, out);
    }
    out.push(b']');
}

/// A string, number, bool or null as serde_json writes it (its escaping is
/// the canonical one). Writing into a `Vec` cannot fail.
pub(crate) fn write_scalar<T: serde::Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    let _ = serde_json::to_writer(&mut *out, value);
}

/// `{...}` of `map` with its keys in byte order, leaving out `skip`.
fn write_members(map: &Map<String, Value>, skip: Option<&str>, out: &mut Vec<u8>) {
    out.push(b'{');
    let mut first = true;
    for_each_member(map, |key, value| {
        if Some(key.as_str()) == skip {
            return;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        write_member(key, value, out);
    });
    out.push(b'}');
}

fn write_member(key: &str, value: &Value, out: &mut Vec<u8>) {
    write_scalar(key, out);
    out.push(b':');
    write_value(value, out);
}

/// Calls `f` on `map`'s members in the byte order of their keys.
fn for_each_member<'a>(map: &'a Map<String, Value>, mut f: impl FnMut(&'a String, &'a Value)) {
    // serde_json's map keeps its keys in byte order unless some crate in the
    // build turns on its `preserve_order`; checking is one comparison per key,
    // where sorting a list of them was much of the cost of writing an entry.
    let in_order = map
        .keys()
        .zip(map.keys().skip(1))
        .all(|(a, b)| a.as_bytes() < b.as_bytes());
    if in_order {
        map.iter().for_each(|(key, value)| f(key, value));
    } else {
        let mut members: Vec<(&String, &Value)> = map.iter().collect();
        members.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        members.into_iter().for_each(|(key, value)| f(key, value));
    }
}

/// The members the device adds to every entry, in byte order.
const CHAIN_KEYS: [&str; 3] = [HASH_KEY, "prev_hash", "seq"];

/// An entry's own members in canonical form, ready for a device to chain:
/// `"key":value` joined by commas, without braces and without the chain's
/// members, and for each of [`CHAIN_KEYS`] the offset where it sorts (at a
/// member boundary).
#[derive(Debug, Clone)]
pub(crate) struct Body {
    members: Vec<u8>,
    slots: [usize; 3],
}

impl Body {
    /// The body of `entry`; chain members already in it are left out.
    pub fn new(entry: &Map<String, Value>) -> Body {
        let mut body = BodyWriter::default();
        for_each_member(entry, |key, value| {
            if !CHAIN_KEYS.contains(&key.as_str()) {
                body.member(key, |out| write_value(value, out));
            }
        });
        body.finish()
    }

    /// The entry's line (no newline) with `seq` and `prev_hash`, and its
    /// `hash` over the canonical text without it, appended to `out`; returns
    /// the hash. Equal to writing `canonical_json` of the entry with the three
    /// added.
    pub fn chained_line(&self, seq: u64, prev_hash: &str, out: &mut Vec<u8>) -> String {
        let [hash_at, prev_at, seq_at] = self.slots;
        let mut prev_member = Vec::with_capacity(prev_hash.len() + 16);
        write_member("prev_hash", &Value::from(prev_hash), &mut prev_member);
        let mut seq_member = Vec::with_capacity(32);
        write_member("seq", &Value::from(seq), &mut seq_member);
        let mut unhashed = Vec::with_capacity(self.members.len() + 128);
        self.assemble(
            &[(prev_at, &prev_member), (seq_at, &seq_member)],
            &mut unhashed,
        );
        let hash = hex::encode(digest::digest(&digest::SHA256, &unhashed));
        let mut hash_member = Vec::with_capacity(80);
        write_member(HASH_KEY, &Value::from(hash.as_str()), &mut hash_member);
        self.assemble(
            &[
                (hash_at, &hash_member),
                (prev_at, &prev_member),
                (seq_at, &seq_member),
            ],
            out,
        );
        hash
    }

    /// `{...}` of the members with `inserts` (offsets in order, members) put
    /// in at their offsets, commas between every two.
    fn assemble(&self, inserts: &[(usize, &Vec<u8>)], out: &mut Vec<u8>) {
        out.push(b'{');
        let mut first = true;
        let mut piece = |bytes: &[u8], out: &mut Vec<u8>| {
            // A piece of the members starts with the comma before it, unless
            // it starts them.
            let bytes = bytes.strip_prefix(b",").unwrap_or(bytes);
            if bytes.is_empty() {
                return;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(bytes);
        };
        let mut from = 0;
        for (at, member) in inserts {
            piece(&self.members[from..*at], out);
            piece(member, out);
            from = *at;
        }
        piece(&self.members[from..], out);
        out.push(b'}');
    }
}

/// Writes a [`Body`] member by member, each key after the one before it in
/// byte order and none of them a chain member: the way an entry is written
/// straight from what it records, with no value tree in between.
#[derive(Debug)]
pub(crate) struct BodyWriter {
    members: Vec<u8>,
    slots: [Option<usize>; 3],
    order: KeyOrder,
}

impl Default for BodyWriter {
    fn default() -> Self {
        BodyWriter {
            members: Vec::with_capacity(1024),
            slots: [None; 3],
            order: KeyOrder::default(),
        }
    }
}

impl BodyWriter {
    /// Appends `"key":value`, the value written by `value`.
    pub fn member(&mut self, key: &str, value: impl FnOnce(&mut Vec<u8>)) {
        debug_assert!(!CHAIN_KEYS.contains(&key), "{key} is a chain member");
        self.order.next(key);
        for (slot, chain_key) in self.slots.iter_mut().zip(CHAIN_KEYS) {
            if slot.is_none() && chain_key.as_bytes() < key.as_bytes() {
                *slot = Some(self.members.len());
            }
        }
        if !self.members.is_empty() {
            self.members.push(b',');
        }
        write_scalar(key, &mut self.members);
        self.members.push(b':');
        value(&mut self.members);
    }

    /// The body written.
    pub fn finish(self) -> Body {
        let end = self.members.len();
        Body {
            slots: self.slots.map(|slot| slot.unwrap_or(end)),
            members: self.members,
        }
    }
}

/// An object written member by member, in canonical form: `{` now, `}` when
/// the closure given to [`object`] returns.
pub(crate) struct Members<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
    order: KeyOrder,
}

impl Members<'_> {
    /// Appends `"key":value`; `key` must sort after the member before it.
    pub fn member(&mut self, key: &str, value: impl FnOnce(&mut Vec<u8>)) {
        self.order.next(key);
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        write_scalar(key, self.out);
        self.out.push(b':');
        value(self.out);
    }
}

/// Writes an object whose members `members` appends, keys in byte order.
pub(crate) fn object(out: &mut Vec<u8>, members: impl FnOnce(&mut Members<'_>)) {
    out.push(b'{');
    let mut writer = Members {
        out,
        first: true,
        order: KeyOrder::default(),
    };
    members(&mut writer);
    writer.out.push(b'}');
}

/// In test builds, checks that hand-written members come in byte order of
/// their keys, as the canonical form needs; in release builds, nothing.
#[derive(Debug, Default)]
struct KeyOrder {
    #[cfg(debug_assertions)]
    last: Option<String>,
}

impl KeyOrder {
    #[cfg(debug_assertions)]
    fn next(&mut self, key: &str) {
        if let Some(last) = &self.last {
            assert!(
                last.as_bytes() < key.as_bytes(),
                "member {key:?} written after {last:?}"
            );
        }
        self.last = Some(key.to_owned());
    }

    #[cfg(not(debug_assertions))]
    fn next(&mut self, _key: &str) {}
}

/// An array of strings in canonical form.
pub(crate) fn write_strs<'a>(items: impl IntoIterator<Item = &'a str>, out: &mut Vec<u8>) {
    write_array(items, out, write_scalar);
}

/// `value` in canonical form with every string and number in it written by
/// `leaf` instead (keys stay): how a device writes the data it HMACs.
fn write_leaves(value: &Value, leaf: &impl Fn(&str, &mut Vec<u8>), out: &mut Vec<u8>) {
    match value {
        Value::String(s) => leaf(s, out),
        Value::Number(n) => leaf(&n.to_string(), out),
        Value::Array(items) => write_array(items, out, |item, out| write_leaves(item, leaf, out)),
        Value::Object(map) => write_leaves_of(map, leaf, out),
        Value::Bool(_) | Value::Null => write_scalar(value, out),
    }
}

/// [`write_leaves`] of an object: how a device writes the data it HMACs.
pub(crate) fn write_leaves_of(
    map: &Map<String, Value>,
    leaf: &impl Fn(&str, &mut Vec<u8>),
    out: &mut Vec<u8>,
) {
    object(out, |m| {
        for_each_member(map, |key, value| {
            m.member(key, |out| write_leaves(value, leaf, out));
        });
    });
}

/// The hash of an entry: hex SHA-256 of its canonical form without `hash`.
pub fn entry_hash(entry: &Value) -> String {
    let mut text = Vec::new();
    match entry {
        Value::Object(map) => write_members(map, Some(HASH_KEY), &mut text),
        other => write_value(other, &mut text),
    }
    hex::encode(digest::digest(&digest::SHA256, &text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_sorted_at_every_level_and_hash_ignores_itself() {
        let v = json!({"b": 1, "a": {"z": [true, null, "x"], "y": "é\n"}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"y":"é\n","z":[true,null,"x"]},"b":1}"#
        );
        let mut with = v.clone();
        with["hash"] = json!("whatever");
        assert_eq!(entry_hash(&v), entry_hash(&with));
        assert_eq!(entry_hash(&v).len(), 64);
    }

    #[test]
    fn a_line_is_the_canonical_entry_with_its_chain_members_wherever_they_sort() {
        let bodies = [
            json!({"auth": {"x": 1}, "type": "request", "seq": 3, "prev_hash": "p"}),
            json!({"a": 1}),
            json!({"z": "\"quoted\"\n"}),
            json!({}),
            json!({"checkpoint": {"reason": "open"}, "hashes": 2, "has": 1}),
            json!({"prev": 1, "prev_hashes": 2, "sep": 3, "sequel": [4], "r": {"b": 1, "a": 2}}),
        ];
        for body in bodies {
            let Value::Object(map) = body.clone() else {
                unreachable!()
            };
            let mut out = b"previous line\n".to_vec();
            let hash = Body::new(&map).chained_line(7, "abc", &mut out);
            let line = std::str::from_utf8(&out[14..]).unwrap();
            let mut expected = body.clone();
            expected["seq"] = json!(7);
            expected["prev_hash"] = json!("abc");
            expected["hash"] = json!(hash);
            assert_eq!(line, canonical_json(&expected), "{body}");
            let parsed: Value = serde_json::from_str(line).unwrap();
            assert_eq!(entry_hash(&parsed), hash);
        }
    }
}
