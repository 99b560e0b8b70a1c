//! The canonical form an entry's hash is computed over: JSON with every object's
//! keys sorted by their bytes, no whitespace. Written out by hand rather than
//! relying on how a map type happens to order its keys.
//!
//! A device writes each entry as its canonical form with `hash` in its sorted
//! place, so the text is made once per entry: serialised without `hash`,
//! hashed, and the `hash` member spliced in (see [`entry_line`]).

use ring::digest;
use serde_json::{Map, Value};

/// The member an entry's hash is kept in, left out of what it covers.
const HASH_KEY: &str = "hash";

/// `value` in canonical JSON.
pub fn canonical_json(value: &Value) -> String {
    let mut out = Vec::new();
    write(value, &mut out);
    // Only JSON text was written: always UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

fn write(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            write_members(map, None, out);
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

/// A string, number, bool or null as serde_json writes it (its escaping is
/// the canonical one). Writing into a `Vec` cannot fail.
fn write_scalar<T: serde::Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    let _ = serde_json::to_writer(&mut *out, value);
}

/// `{...}` of `map` with its keys in byte order, leaving out `skip`; returns
/// the offset in `out` where a member named `skip` would go (right after the
/// member before it, or right after `{` when none is), for [`entry_line`].
fn write_members(map: &Map<String, Value>, skip: Option<&str>, out: &mut Vec<u8>) -> usize {
    let mut keys: Vec<&String> = map.keys().filter(|k| Some(k.as_str()) != skip).collect();
    keys.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    out.push(b'{');
    let mut slot = None;
    for (i, key) in keys.into_iter().enumerate() {
        if slot.is_none() && skip.is_some_and(|s| key.as_bytes() > s.as_bytes()) {
            slot = Some(out.len());
        }
        if i > 0 {
            out.push(b',');
        }
        write_scalar(key.as_str(), out);
        out.push(b':');
        if let Some(v) = map.get(key) {
            write(v, out);
        }
    }
    let end = slot.unwrap_or(out.len());
    out.push(b'}');
    end
}

/// The hash of an entry: hex SHA-256 of its canonical form without `hash`.
pub fn entry_hash(entry: &Value) -> String {
    let mut text = Vec::new();
    match entry {
        Value::Object(map) => {
            write_members(map, Some(HASH_KEY), &mut text);
        }
        other => write(other, &mut text),
    }
    hex::encode(digest::digest(&digest::SHA256, &text))
}

/// The entry `body` (without `hash`) as a device writes it: its hash, and
/// its canonical text with `"hash":"<hex>"` in its sorted place, appended to
/// `out`. Equal to writing `canonical_json` of the body with the hash added,
/// in one serialisation instead of two.
pub(crate) fn entry_line(body: &Map<String, Value>, out: &mut Vec<u8>) -> String {
    let start = out.len();
    let slot = write_members(body, Some(HASH_KEY), out);
    let hash = hex::encode(digest::digest(&digest::SHA256, &out[start..]));
    // After a member: `,"hash":".."`. First: `"hash":".."`, and a comma when
    // a member follows.
    let first = slot == start + 1;
    let followed = out.get(slot) != Some(&b'}');
    let mut member = Vec::with_capacity(HASH_KEY.len() + hash.len() + 8);
    if !first {
        member.push(b',');
    }
    write_scalar(HASH_KEY, &mut member);
    member.push(b':');
    write_scalar(hash.as_str(), &mut member);
    if first && followed {
        member.push(b',');
    }
    out.splice(slot..slot, member);
    hash
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
    fn a_line_is_the_canonical_entry_with_its_hash_wherever_it_sorts() {
        let bodies = [
            json!({"auth": {"x": 1}, "type": "request", "seq": 3, "prev_hash": "p"}),
            json!({"a": 1}),
            json!({"z": "\"quoted\"\n"}),
            json!({}),
            json!({"checkpoint": {"reason": "open"}, "hashes": 2, "has": 1}),
        ];
        for body in bodies {
            let Value::Object(map) = body.clone() else {
                unreachable!()
            };
            let mut out = b"previous line\n".to_vec();
            let hash = entry_line(&map, &mut out);
            let line = std::str::from_utf8(&out[14..]).unwrap();
            let mut expected = body.clone();
            expected["hash"] = json!(hash);
            assert_eq!(line, canonical_json(&expected), "{body}");
            let parsed: Value = serde_json::from_str(line).unwrap();
            assert_eq!(entry_hash(&parsed), hash);
        }
    }
}
