//! The canonical form an entry's hash is computed over: JSON with every object's
//! keys sorted by their bytes, no whitespace. Written out by hand rather than
//! relying on how a map type happens to order its keys.

use ring::digest;
use serde_json::Value;

/// `value` in canonical JSON.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(key) {
                    write(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The hash of an entry: hex SHA-256 of its canonical form without `hash`.
pub fn entry_hash(entry: &Value) -> String {
    let mut without = entry.clone();
    if let Value::Object(map) = &mut without {
        map.remove("hash");
    }
    hex::encode(digest::digest(
        &digest::SHA256,
        canonical_json(&without).as_bytes(),
    ))
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
}
