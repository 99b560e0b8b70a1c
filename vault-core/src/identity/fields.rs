//! The fields the identity endpoints take, read from a request and bounded:
//! names, metadata (an object, or Vault's CLI form `["key=value", ...]`),
//! policy names and member id lists.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{VaultError, field};
use crate::params;
use crate::policy;
use crate::request::Data;

/// Longest entity, alias or group name.
const MAX_NAME: usize = 512;
/// Metadata bounds, Vault's: 64 pairs, keys up to 128 bytes, values up to 512.
const MAX_METADATA: usize = 64;
const MAX_METADATA_KEY: usize = 128;
const MAX_METADATA_VALUE: usize = 512;
/// Policies one entity or group may hold.
const MAX_POLICIES: usize = 256;
/// Members one group may name directly.
pub(super) const MAX_MEMBERS: usize = 4096;

pub(crate) fn invalid(message: impl Into<String>) -> VaultError {
    VaultError::InvalidRequest(message.into())
}

/// A name field, if given: not empty, bounded, no control characters.
pub(crate) fn name(data: &Data, key: &str) -> Result<Option<String>, VaultError> {
    let Some(value) = field(params::string(data, key))? else {
        return Ok(None);
    };
    check_name(key, &value)?;
    Ok(Some(value))
}

/// Checks a name from a path or a body.
pub(crate) fn check_name(key: &str, value: &str) -> Result<(), VaultError> {
    if value.is_empty() {
        return Err(invalid(format!("{key} must not be empty")));
    }
    if value.len() > MAX_NAME {
        return Err(invalid(format!("{key} is longer than {MAX_NAME} bytes")));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(format!("{key} holds a control character")));
    }
    Ok(())
}

/// An id field, if given (ids are the store's UUIDs; bounded like names).
pub(crate) fn id(data: &Data, key: &str) -> Result<Option<String>, VaultError> {
    name(data, key)
}

/// A metadata field, if given: an object of strings, or a list of
/// `key=value` strings (what `bao write ... metadata=k=v` sends).
pub(super) fn metadata(
    data: &Data,
    key: &str,
) -> Result<Option<BTreeMap<String, String>>, VaultError> {
    let map = match data.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(_)) | Some(Value::String(_)) => {
            let items = field(params::string_list(data, key))?.unwrap_or_default();
            let mut map = BTreeMap::new();
            for item in items.iter().filter(|i| !i.is_empty()) {
                let (k, v) = item.split_once('=').ok_or_else(|| {
                    invalid(format!("{key}: {item:?} is not of the form key=value"))
                })?;
                map.insert(k.to_owned(), v.to_owned());
            }
            map
        }
        Some(_) => field(params::string_map(data, key))?.unwrap_or_default(),
    };
    if map.len() > MAX_METADATA {
        return Err(invalid(format!(
            "{key} holds more than {MAX_METADATA} pairs"
        )));
    }
    for (k, v) in &map {
        if k.is_empty() || k.len() > MAX_METADATA_KEY {
            return Err(invalid(format!(
                "{key}: keys must be 1 to {MAX_METADATA_KEY} bytes"
            )));
        }
        if v.len() > MAX_METADATA_VALUE {
            return Err(invalid(format!(
                "{key}: the value of {k:?} is longer than {MAX_METADATA_VALUE} bytes"
            )));
        }
        if k.chars().chain(v.chars()).any(char::is_control) {
            return Err(invalid(format!("{key}: {k:?} holds a control character")));
        }
    }
    Ok(Some(map))
}

/// A policies field, if given: canonical names, sorted, without repeats.
pub(super) fn policies(data: &Data, key: &str) -> Result<Option<Vec<String>>, VaultError> {
    let Some(items) = field(params::string_list(data, key))? else {
        return Ok(None);
    };
    if items.len() > MAX_POLICIES {
        return Err(invalid(format!(
            "{key} holds more than {MAX_POLICIES} names"
        )));
    }
    let mut names = items
        .iter()
        .filter(|p| !p.trim().is_empty())
        .map(|p| policy::canonical_name(p).map_err(|e| invalid(format!("{key}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    names.sort();
    names.dedup();
    Ok(Some(names))
}

/// A list of ids, if given; bounded by [`MAX_MEMBERS`], without repeats.
pub(crate) fn ids(data: &Data, key: &str) -> Result<Option<Vec<String>>, VaultError> {
    let Some(mut items) = field(params::string_list(data, key))? else {
        return Ok(None);
    };
    items.retain(|i| !i.is_empty());
    if items.len() > MAX_MEMBERS {
        return Err(invalid(format!("{key} holds more than {MAX_MEMBERS} ids")));
    }
    for item in &items {
        check_name(key, item)?;
    }
    let mut seen = std::collections::BTreeSet::new();
    items.retain(|i| seen.insert(i.clone()));
    Ok(Some(items))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(value: Value) -> Data {
        crate::error::object(value)
    }

    #[test]
    fn metadata_comes_as_an_object_or_as_key_value_strings() {
        let from_cli = data(json!({"metadata": ["team=a", "env=prod=1"]}));
        let map = metadata(&from_cli, "metadata").unwrap().unwrap();
        assert_eq!(map["team"], "a");
        assert_eq!(map["env"], "prod=1");
        let object = data(json!({"metadata": {"team": "a"}}));
        assert_eq!(metadata(&object, "metadata").unwrap().unwrap()["team"], "a");
        let bad = data(json!({"metadata": ["novalue"]}));
        assert!(
            metadata(&bad, "metadata")
                .unwrap_err()
                .to_string()
                .contains("key=value")
        );
        let many: BTreeMap<String, String> =
            (0..65).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        let too_many = data(json!({ "metadata": many }));
        assert!(metadata(&too_many, "metadata").is_err());
    }

    #[test]
    fn policies_are_canonical_and_names_are_bounded() {
        let d = data(json!({"policies": ["Dev", "dev", " ops "]}));
        assert_eq!(policies(&d, "policies").unwrap().unwrap(), ["dev", "ops"]);
        let long = data(json!({ "name": "x".repeat(MAX_NAME + 1) }));
        assert!(name(&long, "name").is_err());
        let control = data(json!({"name": "a\nb"}));
        assert!(name(&control, "name").is_err());
    }
}
