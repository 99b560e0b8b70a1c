//! Reading the KV v2 request bodies: numbers and booleans that clients send as
//! JSON or as strings (query parameters arrive as strings), version lists, custom
//! metadata, and the JSON merge patch (RFC 7386) that `patch` applies.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::engines::EngineError;
use crate::request::Data;

/// Vault's limits on custom metadata, kept so a client that works against Vault
/// is refused here for the same inputs and no other.
const MAX_CUSTOM_KEYS: usize = 64;
const MAX_CUSTOM_KEY_LEN: usize = 128;
const MAX_CUSTOM_VALUE_LEN: usize = 512;

fn invalid(message: String) -> EngineError {
    EngineError::InvalidRequest(message)
}

/// A non-negative integer: a JSON number (integral; some clients send 3.0) or
/// a numeric string, read by [`crate::params::unsigned_of`] as every engine and
/// the ACL read it.
pub(super) fn as_u64(field: &str, value: &Value) -> Result<u64, EngineError> {
    crate::params::unsigned_of(value)
        .ok_or_else(|| invalid(format!("{field} must be a non-negative integer")))
}

/// `field` as a non-negative integer, if present and not null.
pub(super) fn opt_u64(data: &Data, field: &str) -> Result<Option<u64>, EngineError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => as_u64(field, value).map(Some),
    }
}

/// `field` as a boolean, if present and not null, read by
/// [`crate::params::bool_of`] (`true`, `"false"`, `"no"`, `0`, ...) as every
/// engine and the ACL read it.
pub(super) fn opt_bool(data: &Data, field: &str) -> Result<Option<bool>, EngineError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => crate::params::bool_of(value)
            .map(Some)
            .ok_or_else(|| invalid(format!("{field} must be a boolean"))),
    }
}

/// Refuses a non-zero `delete_version_after`: versions here never expire by
/// themselves, and accepting the setting silently would promise that they do.
pub(super) fn refuse_delete_version_after(data: &Data) -> Result<(), EngineError> {
    let zero = match data.get("delete_version_after") {
        None | Some(Value::Null) => true,
        Some(Value::Number(n)) => n.as_u64() == Some(0),
        Some(Value::String(s)) => matches!(s.trim(), "" | "0" | "0s"),
        Some(_) => false,
    };
    if zero {
        Ok(())
    } else {
        Err(invalid(
            "delete_version_after is not supported; only \"0s\" (never) is accepted".into(),
        ))
    }
}

/// The `options.cas` of a data write, if given.
pub(super) fn cas(data: &Data) -> Result<Option<u64>, EngineError> {
    match data.get("options") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(options)) => match options.get("cas") {
            None | Some(Value::Null) => Ok(None),
            Some(value) => as_u64("options.cas", value).map(Some),
        },
        Some(_) => Err(invalid("options must be an object".into())),
    }
}

/// The `data` object of a data write or patch.
pub(super) fn secret_data(data: &Data) -> Result<&Data, EngineError> {
    match data.get("data") {
        Some(Value::Object(secret)) => Ok(secret),
        None | Some(Value::Null) => Err(invalid("no data provided: data must be an object".into())),
        Some(_) => Err(invalid("data must be an object".into())),
    }
}

/// The `versions` of a delete, undelete or destroy: a list of numbers (or
/// numeric strings), one number, or a comma-separated string, as Vault accepts.
pub(super) fn versions(data: &Data) -> Result<Vec<u64>, EngineError> {
    let mut out = Vec::new();
    match data.get("versions") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                out.push(as_u64("versions", item)?);
            }
        }
        Some(Value::String(s)) => {
            for part in crate::params::comma_items(s) {
                out.push(
                    part.parse::<u64>()
                        .map_err(|_| invalid("versions must be a list of integers".into()))?,
                );
            }
        }
        Some(value @ Value::Number(_)) => out.push(as_u64("versions", value)?),
        Some(_) => return Err(invalid("versions must be a list of integers".into())),
    }
    if out.is_empty() {
        return Err(invalid("no version number provided in versions".into()));
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Checks one custom-metadata entry against Vault's limits.
fn check_custom_entry(key: &str, value: &str) -> Result<(), EngineError> {
    if key.is_empty() {
        return Err(invalid("custom_metadata keys must not be empty".into()));
    }
    if key.len() > MAX_CUSTOM_KEY_LEN {
        return Err(invalid(format!(
            "custom_metadata keys must be at most {MAX_CUSTOM_KEY_LEN} bytes"
        )));
    }
    if value.len() > MAX_CUSTOM_VALUE_LEN {
        return Err(invalid(format!(
            "custom_metadata values must be at most {MAX_CUSTOM_VALUE_LEN} bytes"
        )));
    }
    Ok(())
}

fn check_custom_count(map: &BTreeMap<String, String>) -> Result<(), EngineError> {
    if map.len() > MAX_CUSTOM_KEYS {
        return Err(invalid(format!(
            "custom_metadata may hold at most {MAX_CUSTOM_KEYS} keys"
        )));
    }
    Ok(())
}

/// `custom_metadata` to replace the stored one with, if given: an object of
/// string to string.
pub(super) fn custom_metadata(
    data: &Data,
) -> Result<Option<BTreeMap<String, String>>, EngineError> {
    let object = match data.get("custom_metadata") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(object)) => object,
        Some(_) => return Err(invalid("custom_metadata must be an object".into())),
    };
    let mut out = BTreeMap::new();
    for (key, value) in object {
        let Value::String(value) = value else {
            return Err(invalid(format!(
                "custom_metadata value for {key:?} must be a string"
            )));
        };
        check_custom_entry(key, value)?;
        out.insert(key.clone(), value.clone());
    }
    check_custom_count(&out)?;
    Ok(Some(out))
}

/// Merges `custom_metadata` from a metadata patch into `current`: a null value
/// removes its key, a string sets it. Returns whether the field was given.
pub(super) fn patch_custom_metadata(
    data: &Data,
    current: &mut BTreeMap<String, String>,
) -> Result<bool, EngineError> {
    let object = match data.get("custom_metadata") {
        None => return Ok(false),
        // A null for the whole field is a merge patch removing it.
        Some(Value::Null) => {
            current.clear();
            return Ok(true);
        }
        Some(Value::Object(object)) => object,
        Some(_) => return Err(invalid("custom_metadata must be an object".into())),
    };
    for (key, value) in object {
        match value {
            Value::Null => {
                current.remove(key);
            }
            Value::String(value) => {
                check_custom_entry(key, value)?;
                current.insert(key.clone(), value.clone());
            }
            _ => {
                return Err(invalid(format!(
                    "custom_metadata value for {key:?} must be a string or null"
                )));
            }
        }
    }
    check_custom_count(current)?;
    Ok(true)
}

/// Applies `patch` to `target` as RFC 7386 says: objects merge key by key, a null
/// removes its key, anything else replaces.
pub(super) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Data::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(value: Value) -> Data {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn numbers_come_as_json_or_text() {
        assert_eq!(as_u64("n", &json!(3)).unwrap(), 3);
        assert_eq!(as_u64("n", &json!("3")).unwrap(), 3);
        assert_eq!(as_u64("n", &json!(3.0)).unwrap(), 3);
        assert!(as_u64("n", &json!(-1)).is_err());
        assert!(as_u64("n", &json!(1.5)).is_err());
        assert!(as_u64("n", &json!("x")).is_err());
    }

    #[test]
    fn versions_accept_vaults_shapes() {
        assert_eq!(
            versions(&data(json!({"versions": [2, "1", 2]}))).unwrap(),
            [1, 2]
        );
        assert_eq!(
            versions(&data(json!({"versions": "3, 1"}))).unwrap(),
            [1, 3]
        );
        assert_eq!(versions(&data(json!({"versions": 4}))).unwrap(), [4]);
        assert!(versions(&data(json!({}))).is_err());
        assert!(versions(&data(json!({"versions": []}))).is_err());
        assert!(versions(&data(json!({"versions": [true]}))).is_err());
    }

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut target = json!({"a": "b", "c": {"d": "e", "f": "g"}, "k": [1]});
        merge_patch(
            &mut target,
            &json!({"a": "z", "c": {"f": null, "h": 1}, "k": {"x": 1}, "n": null}),
        );
        assert_eq!(
            target,
            json!({"a": "z", "c": {"d": "e", "h": 1}, "k": {"x": 1}})
        );
    }

    #[test]
    fn custom_metadata_is_strings_only() {
        let got = custom_metadata(&data(json!({"custom_metadata": {"a": "1"}}))).unwrap();
        assert_eq!(got.unwrap().get("a").map(String::as_str), Some("1"));
        assert!(custom_metadata(&data(json!({"custom_metadata": {"a": 1}}))).is_err());
        assert!(custom_metadata(&data(json!({"custom_metadata": "x"}))).is_err());
        let mut current = BTreeMap::from([("a".to_owned(), "1".to_owned())]);
        patch_custom_metadata(
            &data(json!({"custom_metadata": {"a": null, "b": "2"}})),
            &mut current,
        )
        .unwrap();
        assert_eq!(current, BTreeMap::from([("b".to_owned(), "2".to_owned())]));
    }
}
