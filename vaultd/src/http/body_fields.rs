//! The fields of a `sys/` call's JSON body, read as Vault reads them: a
//! number may come as text, and a field is "given" only when it holds
//! something (the official CLI sends empty PGP fields).

use serde_json::Value;
use vault_core::request::Data;

/// A whole-number field of the body (Vault accepts numbers and numeric
/// text); the error names the field.
pub(super) fn number(body: &Data, field: &str) -> Result<Option<u32>, String> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| format!("{field} must be a whole number")),
    }
}

/// A field that says something: not null, `""`, `[]`, `0` or `false`.
pub(super) fn is_given(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::Object(o) => !o.is_empty(),
        Value::Bool(true) => true,
    }
}
