//! Reading typed fields out of a request body the way Vault does: numbers may
//! come as strings, lists as comma-separated strings, durations as `90`, `"90"`,
//! `"1h30m"` or `"2d"`. Every error names the field.

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

/// A string field (numbers and booleans are accepted as their text).
pub fn string(data: &Data, field: &str) -> Result<Option<String>, FieldError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err(bad(field, "expected a string")),
    }
}

/// A boolean field (`true`, `"true"`, `1`, ...).
pub fn boolean(data: &Data, field: &str) -> Result<Option<bool>, FieldError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "t" | "yes" => Ok(Some(true)),
            "false" | "0" | "f" | "no" | "" => Ok(Some(false)),
            _ => Err(bad(field, "expected a boolean")),
        },
        Some(Value::Number(n)) => Ok(Some(n.as_u64() != Some(0))),
        Some(_) => Err(bad(field, "expected a boolean")),
    }
}

/// A non-negative integer field.
pub fn unsigned(data: &Data, field: &str) -> Result<Option<u64>, FieldError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| bad(field, "expected a non-negative integer")),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| bad(field, "expected a non-negative integer")),
        Some(_) => Err(bad(field, "expected a non-negative integer")),
    }
}

/// A list of strings: a JSON array, or one comma-separated string.
pub fn string_list(data: &Data, field: &str) -> Result<Option<Vec<String>>, FieldError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        )),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.trim().to_owned()),
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
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|s| s.checked_mul(1000))
            .map(Some)
            .ok_or_else(|| bad(field, "expected a non-negative duration")),
        Some(Value::String(s)) => parse_duration_ms(s).map(Some).map_err(|r| bad(field, r)),
        Some(_) => Err(bad(field, "expected a duration")),
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
