//! Reading typed fields out of a request body the way Vault does: numbers may
//! come as strings, lists as comma-separated strings, durations as `90`, `"90"`,
//! `"1h30m"` or `"2d"`. Every error names the field.
//!
//! The `*_of` functions read one JSON value and are the only definition of each
//! reading: the field readers here and the engines' own (KV's) call them, and so
//! does the ACL when it compares a request value with the values a policy lists
//! (`crate::policy`). A policy therefore judges the value an engine will act on:
//! if they read differently, a value spelled `"web,admin"` or `"f"` would be
//! judged as one thing and acted on as another.

use std::borrow::Cow;

use serde_json::Value;

use crate::request::Data;

/// A field that is present but has the wrong type or form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value for {field:?}: {reason}")]
pub struct FieldError {
    /// The field.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

fn bad(field: &str, reason: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// The text of a value as [`string`] reads it: a string as it is, a number or a
/// boolean as its JSON text. `None` for anything else.
pub fn text_of(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

/// A boolean as [`boolean`] reads it: `true`; a string `true`, `1`, `t`, `yes`
/// or `false`, `0`, `f`, `no` and the empty string (any case, surrounding
/// spaces ignored); a number, `false` when zero.
pub fn bool_of(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "t" | "yes" => Some(true),
            "false" | "0" | "f" | "no" | "" => Some(false),
            _ => None,
        },
        Value::Number(n) => Some(n.as_f64().is_none_or(|f| f != 0.0)),
        _ => None,
    }
}

/// A non-negative integer as [`unsigned`] reads it: a JSON number that is a
/// whole number (`3` or `3.0`), or a string of digits (surrounding spaces
/// ignored).
pub fn unsigned_of(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A duration in milliseconds as [`duration_ms`] reads it: a number of seconds,
/// or text for [`parse_duration_ms`].
pub fn duration_ms_of(value: &Value) -> Result<u64, String> {
    match value {
        Value::Number(n) => n
            .as_u64()
            .and_then(|s| s.checked_mul(1000))
            .ok_or_else(|| "expected a non-negative duration".to_owned()),
        Value::String(s) => parse_duration_ms(s),
        _ => Err("expected a duration".to_owned()),
    }
}

/// The items of a comma-separated string as [`string_list`] reads them:
/// trimmed, empty ones dropped (`"a, b,"` is `a` and `b`).
pub fn comma_items(text: &str) -> impl Iterator<Item = &str> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// One string of a JSON array as [`string_list`] reads it: trimmed, and not
/// split at commas.
pub fn list_item(text: &str) -> &str {
    text.trim()
}

/// A string field (numbers and booleans are accepted as their text).
pub fn string(data: &Data, field: &str) -> Result<Option<String>, FieldError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => text_of(value)
            .map(|t| Some(t.into_owned()))
            .ok_or_else(|| bad(field, "expected a string")),
    }
}

/// A boolean field (`true`, `"true"`, `1`, ...; see [`bool_of`]).
pub fn boolean(data: &Data, field: &str) -> Result<Option<bool>, FieldError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => bool_of(value)
            .map(Some)
            .ok_or_else(|| bad(field, "expected a boolean")),
    }
}

/// A non-negative integer field (see [`unsigned_of`]); an empty string is
/// absent.
pub fn unsigned(data: &Data, field: &str) -> Result<Option<u64>, FieldError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(value) => unsigned_of(value)
            .map(Some)
            .ok_or_else(|| bad(field, "expected a non-negative integer")),
    }
}

/// A list of strings: a JSON array, or one comma-separated string.
pub fn string_list(data: &Data, field: &str) -> Result<Option<Vec<String>>, FieldError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(comma_items(s).map(str::to_owned).collect())),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(list_item(s).to_owned()),
                _ => Err(bad(field, "expected a list of strings")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(bad(field, "expected a list of strings")),
    }
}

/// A map of strings to strings (`meta`, `custom_metadata`).
pub fn string_map(
    data: &Data,
    field: &str,
) -> Result<Option<std::collections::BTreeMap<String, String>>, FieldError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(bad(field, "expected an object of strings")),
            })
            .collect::<Result<_, _>>()
            .map(Some),
        Some(_) => Err(bad(field, "expected an object of strings")),
    }
}

/// A duration field, in milliseconds: a number of seconds, or text such as
/// `"90"`, `"1h30m"`, `"2d"`, `"500ms"`.
pub fn duration_ms(data: &Data, field: &str) -> Result<Option<u64>, FieldError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => duration_ms_of(value).map(Some).map_err(|r| bad(field, r)),
    }
}

/// Parses `"90"` (seconds), `"1h30m"`, `"2d"`, `"500ms"` into milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(0);
    }
    if let Ok(secs) = text.parse::<u64>() {
        return secs
            .checked_mul(1000)
            .ok_or_else(|| "duration is too long".to_owned());
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "{text:?} is not a duration (use e.g. 90s, 15m, 1h30m, 2d)"
            ));
        }
        let value: u64 = rest[..digits]
            .parse()
            .map_err(|_| "duration is too long".to_owned())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let per_unit: u64 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            unit => return Err(format!("unknown duration unit {unit:?} in {text:?}")),
        };
        rest = &rest[unit_len..];
        total = value
            .checked_mul(per_unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| "duration is too long".to_owned())?;
    }
    Ok(total)
}

/// Formats milliseconds as Vault shows durations (`1h30m0s`, `768h0m0s`, `0s`).
pub fn format_duration_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("90").unwrap(), 90_000);
        assert_eq!(parse_duration_ms("1h30m").unwrap(), 5_400_000);
        assert_eq!(parse_duration_ms("2d").unwrap(), 172_800_000);
        assert_eq!(parse_duration_ms("500ms").unwrap(), 500);
        assert!(parse_duration_ms("1y").is_err());
        assert!(parse_duration_ms("h").is_err());
        assert_eq!(format_duration_ms(5_400_000), "1h30m0s");
        assert_eq!(format_duration_ms(0), "0s");
    }

    #[test]
    fn value_readings() {
        for (v, want) in [
            (json!("no"), Some(false)),
            (json!(" F "), Some(false)),
            (json!(""), Some(false)),
            (json!(0), Some(false)),
            (json!(0.0), Some(false)),
            (json!("yes"), Some(true)),
            (json!(2), Some(true)),
            (json!("maybe"), None),
            (json!([]), None),
        ] {
            assert_eq!(bool_of(&v), want, "{v}");
        }
        assert_eq!(unsigned_of(&json!(3.0)), Some(3));
        assert_eq!(unsigned_of(&json!(" 3 ")), Some(3));
        assert_eq!(unsigned_of(&json!(1.5)), None);
        assert_eq!(unsigned_of(&json!(-1)), None);
        assert_eq!(duration_ms_of(&json!("1h")), Ok(3_600_000));
        assert_eq!(duration_ms_of(&json!(60)), Ok(60_000));
        assert_eq!(text_of(&json!(7)).as_deref(), Some("7"));
        assert_eq!(text_of(&json!(false)).as_deref(), Some("false"));
        assert_eq!(text_of(&json!(null)), None);
        assert_eq!(comma_items(" a, ,b ,").collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn fields() {
        let data: Data = serde_json::from_value(json!({
            "a": "x, y", "b": ["p"], "n": "7", "t": "true", "d": 30, "bad": {}
        }))
        .unwrap();
        assert_eq!(string_list(&data, "a").unwrap().unwrap(), vec!["x", "y"]);
        assert_eq!(string_list(&data, "b").unwrap().unwrap(), vec!["p"]);
        assert_eq!(unsigned(&data, "n").unwrap(), Some(7));
        assert_eq!(boolean(&data, "t").unwrap(), Some(true));
        assert_eq!(duration_ms(&data, "d").unwrap(), Some(30_000));
        assert_eq!(unsigned(&data, "missing").unwrap(), None);
        let err = unsigned(&data, "bad").unwrap_err();
        assert!(err.to_string().contains("\"bad\""));
    }
}
