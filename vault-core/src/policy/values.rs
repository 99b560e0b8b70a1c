//! How a request value is compared with the values a policy lists under
//! `allowed_parameters` and `denied_parameters`: by what an engine will read it
//! as, through the readers of [`crate::params`], never by its spelling.
//!
//! The ACL does not know which type an endpoint gives a field, so it reads each
//! value in every way the engines can:
//!
//! - a string is also the list [`params::string_list`] makes of it (`"web,
//!   admin"` is `web` and `admin`), and an array is its items, nested arrays
//!   flattened;
//! - an item is also the boolean [`params::bool_of`] reads (`"no"`, `"f"`, `0`
//!   are `false`), the number [`params::unsigned_of`] reads (`" 3"`), the
//!   duration [`params::duration_ms_of`] reads (`"1h"` is 3600 seconds), and the
//!   text [`params::text_of`] reads (`3` is `"3"`).
//!
//! A denied value is refused if any reading of any item hits a denied entry:
//! refusing too much is the safe side. An allowed value passes only if every
//! item it holds as a list matches an allowed entry, compared as the entry's
//! type says: a boolean entry by the item's boolean reading, a number by its
//! number or duration reading, a string by its text (with the trailing `*`
//! glob). So `"prod-a,admin"` does not pass `["prod-*"]`, even though the
//! string as a whole starts with `prod-`.

use std::borrow::Cow;

use serde_json::{Number, Value};

use crate::params;

/// Whether a request value may be sent where a policy allows only `entries`
/// (not empty: an empty list allows any value and is decided by the caller).
pub(super) fn allowed(entries: &[Value], value: &Value) -> bool {
    let items = list_items(value);
    if items.is_empty() {
        // An empty list (`[]`, `""`, `" , "`) is a value too: it clears what
        // it is written to (a role's bound CIDRs, say). It passes only where
        // the policy allows the empty string.
        let empty = Value::String(String::new());
        return entries.iter().any(|e| matches(e, &empty));
    }
    items
        .iter()
        .all(|item| entries.iter().any(|e| matches(e, item)))
}

/// Whether a request value hits one of the denied `entries` (not empty: an
/// empty list denies any value and is decided by the caller).
pub(super) fn denied(entries: &[Value], value: &Value) -> bool {
    every_reading(value)
        .iter()
        .any(|item| entries.iter().any(|e| matches(e, item) || loosely(e, item)))
}

/// The items of `value` read as a list, the way [`params::string_list`] reads
/// one: a string's comma-separated items, an array's elements (strings
/// trimmed, nested arrays flattened, other values as they are), or the value
/// itself.
fn list_items(value: &Value) -> Vec<Cow<'_, Value>> {
    let mut out = Vec::new();
    match value {
        Value::String(s) => out.extend(params::comma_items(s).map(text)),
        Value::Array(_) => {
            // An explicit stack: request bodies may nest deeply.
            let mut stack = vec![value];
            while let Some(current) = stack.pop() {
                match current {
                    Value::Array(elements) => stack.extend(elements.iter().rev()),
                    Value::String(s) => out.push(text(params::list_item(s))),
                    other => out.push(Cow::Borrowed(other)),
                }
            }
        }
        other => out.push(Cow::Borrowed(other)),
    }
    out
}

/// Everything a denied entry is held against: the value itself, and each item
/// of it read as a list, where a string inside an array is split at commas
/// too (no engine reads it so today, but refusing more is the safe side).
fn every_reading(value: &Value) -> Vec<Cow<'_, Value>> {
    let mut out = Vec::new();
    let mut stack = vec![value];
    while let Some(current) = stack.pop() {
        match current {
            Value::Array(elements) => stack.extend(elements.iter().rev()),
            Value::String(s) => {
                out.push(Cow::Borrowed(current));
                out.extend(params::comma_items(s).map(text));
            }
            other => out.push(Cow::Borrowed(other)),
        }
    }
    out
}

/// One item of a list, as a value the readers of [`params`] take.
fn text(item: &str) -> Cow<'_, Value> {
    Cow::Owned(Value::String(item.to_owned()))
}

/// Whether `item` is the value `entry` names, compared as the entry's type
/// says.
fn matches(entry: &Value, item: &Value) -> bool {
    match entry {
        Value::Bool(b) => params::bool_of(item) == Some(*b),
        Value::Number(n) => number_matches(n, item),
        Value::String(pattern) => params::text_of(item).is_some_and(|text| glob(pattern, &text)),
        // The parser admits only scalars into a policy's value lists.
        _ => false,
    }
}

/// A string entry that spells a boolean or a number (`"true"`, `"0"`, `"1h"`)
/// denies the item that reads as the same boolean or number. Only for denied
/// entries: an allowed string entry is a string.
fn loosely(entry: &Value, item: &Value) -> bool {
    let Value::String(text) = entry else {
        return false;
    };
    if text.trim().is_empty() || text.ends_with('*') {
        return false;
    }
    if let Some(b) = params::bool_of(entry)
        && params::bool_of(item) == Some(b)
    {
        return true;
    }
    match params::duration_ms_of(entry) {
        Ok(ms) => params::duration_ms_of(item) == Ok(ms),
        Err(_) => false,
    }
}

/// Whether `item` reads as the number `entry`: a JSON number equal to it, or a
/// string read as an integer or as a duration of that many seconds.
fn number_matches(entry: &Number, item: &Value) -> bool {
    match item {
        Value::Number(n) => numbers_equal(entry, n),
        Value::String(s) => {
            if let (Some(a), Some(b)) = (entry.as_u64(), params::unsigned_of(item))
                && a == b
            {
                return true;
            }
            if let Ok(ms) = params::duration_ms_of(item) {
                let seconds_match = match entry.as_u64() {
                    Some(secs) => u128::from(secs) * 1000 == u128::from(ms),
                    None => entry.as_f64().is_some_and(|f| f * 1000.0 == ms as f64),
                };
                if seconds_match {
                    return true;
                }
            }
            // A number no engine reads from text ("7.0", "1e1") is compared
            // as written, as the policy's own number was.
            s.trim().parse::<f64>().ok() == entry.as_f64() && entry.as_f64().is_some()
        }
        _ => false,
    }
}

fn numbers_equal(a: &Number, b: &Number) -> bool {
    match (a.as_i64(), b.as_i64()) {
        (Some(a), Some(b)) => a == b,
        _ => match (a.as_u64(), b.as_u64()) {
            (Some(a), Some(b)) => a == b,
            _ => a.as_f64() == b.as_f64(),
        },
    }
}

/// A policy string: equal, or for one ending in `*`, a prefix.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => text.starts_with(prefix),
        None => pattern == text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn list_items_are_the_engines_list() {
        let items =
            |v: Value| -> Vec<Value> { list_items(&v).into_iter().map(Cow::into_owned).collect() };
        assert_eq!(items(json!("a, b,,")), [json!("a"), json!("b")]);
        assert_eq!(
            items(json!([" a ", ["b,c", 3]])),
            [json!("a"), json!("b,c"), json!(3)]
        );
        assert!(list_items(&json!([])).is_empty());
        assert!(list_items(&json!(" , ")).is_empty());
    }

    #[test]
    fn every_reading_splits_strings_wherever_they_are() {
        let value = json!(["x,y"]);
        let all: Vec<Value> = every_reading(&value)
            .into_iter()
            .map(Cow::into_owned)
            .collect();
        assert!(all.contains(&json!("x")) && all.contains(&json!("y")));
        assert!(all.contains(&json!("x,y")));
    }

    #[test]
    fn deep_arrays_do_not_recurse() {
        let mut deep = json!("admin");
        for _ in 0..5_000 {
            deep = Value::Array(vec![deep]);
        }
        assert!(denied(&[json!("admin")], &deep));
        assert!(!allowed(&[json!("web")], &deep));
        // Dropping a deep value recurses in serde_json; unwrap it level by level.
        while let Value::Array(mut inner) = deep {
            deep = inner.pop().unwrap_or(Value::Null);
        }
    }
}
