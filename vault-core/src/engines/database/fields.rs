//! What this engine reads from requests beyond `crate::params`: the names in
//! its paths (configs, roles), lists of SQL statements, and the credential
//! fields every kind of role checks alike.

use serde_json::Value;

use crate::engines::EngineError;
use crate::params;
use crate::request::Data;

/// Refuses what a role (dynamic or static) asks of its credential that is
/// not a password: Vault's `credential_type` other than `password`, and any
/// `credential_config`.
pub(super) fn check_credential(data: &Data) -> Result<(), EngineError> {
    if let Some(kind) = params::string(data, "credential_type")
        .map_err(|e| EngineError::InvalidRequest(e.to_string()))?
        && !kind.is_empty()
        && kind != "password"
    {
        return Err(EngineError::InvalidRequest(format!(
            "credential_type {kind:?} is not supported; only \"password\" is"
        )));
    }
    if matches!(data.get("credential_config"), Some(Value::Object(m)) if !m.is_empty()) {
        return Err(EngineError::InvalidRequest(
            "credential_config is not supported".into(),
        ));
    }
    Ok(())
}

/// The longest config or role name.
const MAX_NAME_LEN: usize = 128;

/// Refuses a config or role name (`what`) outside `[A-Za-z0-9_.-]`, empty,
/// too long, or `.`/`..`: names become storage keys and appear in lease ids.
pub(super) fn check_name(what: &str, name: &str) -> Result<(), EngineError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if valid {
        Ok(())
    } else {
        Err(EngineError::InvalidRequest(format!(
            "invalid {what} name {name:?}: use 1 to {MAX_NAME_LEN} of A-Z a-z 0-9 _ . -"
        )))
    }
}

/// A list of SQL statements: a JSON array of strings, or one string (kept
/// whole: SQL has commas, so it is never split). Blank entries are dropped.
pub(super) fn statement_list(data: &Data, field: &str) -> Result<Option<Vec<String>>, EngineError> {
    let bad =
        || EngineError::InvalidRequest(format!("{field} must be a string or a list of strings"));
    let items = match data.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(bad))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad()),
    };
    Ok(Some(
        items.into_iter().filter(|s| !s.trim().is_empty()).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names() {
        for good in ["ro", "my-role.v2_x", "A"] {
            assert!(check_name("role", good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "é", "x\"", &"a".repeat(129)] {
            assert!(check_name("role", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn statements_are_never_split_on_commas() {
        let data: Data = serde_json::from_value(json!({
            "one": "GRANT SELECT, INSERT ON t TO \"{{name}}\";",
            "many": ["A;", " ", "B"],
            "bad": [1],
        }))
        .unwrap();
        assert_eq!(statement_list(&data, "one").unwrap().unwrap().len(), 1);
        assert_eq!(
            statement_list(&data, "many").unwrap().unwrap(),
            vec!["A;", "B"]
        );
        assert!(statement_list(&data, "bad").is_err());
        assert_eq!(statement_list(&data, "none").unwrap(), None);
    }
}
