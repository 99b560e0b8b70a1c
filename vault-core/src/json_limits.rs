//! Request bodies are JSON from anyone who can reach the listener: before a body
//! is parsed, one pass over its bytes checks Vault's listener limits (nesting
//! depth, string length, entries in an object, elements in an array), so that
//! no body can make the parser recurse without bound or build a structure far
//! larger than its text. The pass keeps one small record per open container,
//! at most `max_depth` of them, and never recurses.

use serde_json::Value;

use crate::request::Data;

/// Vault's `[listener]` JSON limits (`max_json_depth`,
/// `max_json_string_value_length`, `max_json_object_entry_count`,
/// `max_json_array_element_count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonLimits {
    /// Containers open at once, the outermost counted.
    pub max_depth: usize,
    /// Bytes in one string (key or value), as written, escapes included.
    pub max_string_length: usize,
    /// Entries in one object.
    pub max_object_entries: usize,
    /// Elements in one array.
    pub max_array_elements: usize,
}

impl Default for JsonLimits {
    /// Vault's defaults: depth 300 there; 128 here, serde_json's own bound.
    fn default() -> Self {
        JsonLimits {
            max_depth: 128,
            max_string_length: 1 << 20,
            max_object_entries: 10_000,
            max_array_elements: 10_000,
        }
    }
}

/// The deepest nesting a config may allow: the parser that follows the check
/// recurses once per level, on a task's stack.
pub const MAX_DEPTH_LIMIT: usize = 512;

/// Why a body was refused. Each names the setting that would let it through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonLimitError {
    /// Nested deeper than `max_depth`.
    #[error("the JSON body nests deeper than {0} levels (listener.max_json_depth)")]
    Depth(usize),
    /// A string longer than `max_string_length`.
    #[error(
        "a JSON string in the body is longer than {0} bytes (listener.max_json_string_value_length)"
    )]
    String(usize),
    /// An object with more than `max_object_entries` entries.
    #[error(
        "a JSON object in the body has more than {0} entries (listener.max_json_object_entry_count)"
    )]
    Entries(usize),
    /// An array with more than `max_array_elements` elements.
    #[error(
        "a JSON array in the body has more than {0} elements (listener.max_json_array_element_count)"
    )]
    Elements(usize),
    /// Not JSON at all.
    #[error("failed to parse JSON input: {0}")]
    Syntax(String),
    /// JSON, but not an object.
    #[error("the request body must be a JSON object")]
    NotAnObject,
}

/// One open container during the check.
struct Open {
    object: bool,
    /// Entries (objects) or elements (arrays) begun so far.
    count: usize,
    /// Nothing but whitespace since it opened.
    empty: bool,
}

/// Checks `body` against `limits` without parsing it. Syntax errors are left
/// to the parser; only the limits are judged here.
pub fn check(body: &[u8], limits: &JsonLimits) -> Result<(), JsonLimitError> {
    let mut open: Vec<Open> = Vec::new();
    let mut bytes = body.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'"' => {
                let mut length = 0usize;
                let mut escaped = false;
                for &c in bytes.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == b'\\' {
                        escaped = true;
                    } else if c == b'"' {
                        break;
                    }
                    length += 1;
                    if length > limits.max_string_length {
                        return Err(JsonLimitError::String(limits.max_string_length));
                    }
                }
                begin_value(&mut open, limits)?;
            }
            b'{' | b'[' => {
                begin_value(&mut open, limits)?;
                if open.len() >= limits.max_depth {
                    return Err(JsonLimitError::Depth(limits.max_depth));
                }
                open.push(Open {
                    object: b == b'{',
                    count: 0,
                    empty: true,
                });
            }
            b'}' | b']' => {
                open.pop();
            }
            b',' => {
                if let Some(top) = open.last_mut() {
                    top.empty = true;
                }
            }
            b':' => {}
            b' ' | b'\t' | b'\n' | b'\r' => {}
            _ => begin_value(&mut open, limits)?,
        }
    }
    Ok(())
}

/// A token starts in the innermost container: the first one after its
/// opening or a comma begins an entry or element. In an object that is the
/// key; the value after the colon begins nothing new.
fn begin_value(open: &mut [Open], limits: &JsonLimits) -> Result<(), JsonLimitError> {
    let Some(top) = open.last_mut() else {
        return Ok(());
    };
    if !top.empty {
        return Ok(());
    }
    top.empty = false;
    top.count += 1;
    if top.object && top.count > limits.max_object_entries {
        return Err(JsonLimitError::Entries(limits.max_object_entries));
    }
    if !top.object && top.count > limits.max_array_elements {
        return Err(JsonLimitError::Elements(limits.max_array_elements));
    }
    Ok(())
}

/// A request body as a JSON object (empty or whitespace: `{}`), checked
/// against `limits` first.
pub fn parse_object(body: &[u8], limits: &JsonLimits) -> Result<Data, JsonLimitError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Data::new());
    }
    check(body, limits)?;
    let mut parser = serde_json::Deserializer::from_slice(body);
    // The check above bounded the depth (at most MAX_DEPTH_LIMIT), so the
    // parser's recursion is bounded; its own stop (127 levels) would
    // otherwise overrule the configured limit.
    parser.disable_recursion_limit();
    let value: Value = serde::Deserialize::deserialize(&mut parser)
        .and_then(|v| parser.end().map(|()| v))
        .map_err(|e| JsonLimitError::Syntax(e.to_string()))?;
    match value {
        Value::Object(map) => Ok(map),
        // What Vault's CLI sends for a write without data (`write -f`).
        Value::Null => Ok(Data::new()),
        _ => Err(JsonLimitError::NotAnObject),
    }
}

/// Decodes a record this vault stored, as serde_json does; past serde_json's
/// own stop at 127 levels only for a record within [`MAX_DEPTH_LIMIT`] (a
/// body the listener let in with `max_json_depth` raised), checked first so
/// the parser's recursion stays bounded. Shallow records (all but those)
/// pay nothing extra.
pub fn from_stored<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> serde_json::Result<T> {
    match serde_json::from_slice(bytes) {
        Err(e) if e.to_string().starts_with("recursion limit exceeded") => {
            let deepest = JsonLimits {
                max_depth: MAX_DEPTH_LIMIT,
                max_string_length: usize::MAX,
                max_object_entries: usize::MAX,
                max_array_elements: usize::MAX,
            };
            if check(bytes, &deepest).is_err() {
                return Err(e);
            }
            let mut parser = serde_json::Deserializer::from_slice(bytes);
            parser.disable_recursion_limit();
            let value = T::deserialize(&mut parser)?;
            parser.end()?;
            Ok(value)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        format!(
            "{{\"a\":{}1{}}}",
            "[".repeat(depth - 1),
            "]".repeat(depth - 1)
        )
    }

    #[test]
    fn each_limit_is_named_when_passed_and_holds_at_its_edge() {
        let limits = JsonLimits::default();
        assert!(parse_object(nested(128).as_bytes(), &limits).is_ok());
        assert_eq!(
            parse_object(nested(129).as_bytes(), &limits),
            Err(JsonLimitError::Depth(128))
        );
        let long = |n: usize| format!("{{\"a\":\"{}\"}}", "x".repeat(n));
        assert!(parse_object(long(1 << 20).as_bytes(), &limits).is_ok());
        assert_eq!(
            parse_object(long((1 << 20) + 1).as_bytes(), &limits),
            Err(JsonLimitError::String(1 << 20))
        );
        let object = |n: usize| {
            let entries: Vec<String> = (0..n)
                .map(|i| format!("\"k{i}\": {{\"x\": [1, 2]}}"))
                .collect();
            format!("{{{}}}", entries.join(","))
        };
        assert!(parse_object(object(10_000).as_bytes(), &limits).is_ok());
        assert_eq!(
            parse_object(object(10_001).as_bytes(), &limits),
            Err(JsonLimitError::Entries(10_000))
        );
        let array = |n: usize| format!("{{\"a\": [{}]}}", vec!["\"v,:\""; n].join(", "));
        assert!(parse_object(array(10_000).as_bytes(), &limits).is_ok());
        assert_eq!(
            parse_object(array(10_001).as_bytes(), &limits),
            Err(JsonLimitError::Elements(10_000))
        );
    }

    #[test]
    fn raising_the_depth_past_serde_json_s_own_bound_lets_it_through() {
        let limits = JsonLimits {
            max_depth: 300,
            ..JsonLimits::default()
        };
        let data = parse_object(nested(250).as_bytes(), &limits).unwrap();
        assert!(data.contains_key("a"));
    }

    #[test]
    fn escapes_and_brackets_inside_strings_do_not_count() {
        let limits = JsonLimits {
            max_depth: 2,
            ..JsonLimits::default()
        };
        let body = br#"{"a": "[[[{{{\"}}}", "b": [1]}"#;
        assert!(parse_object(body, &limits).is_ok());
    }

    #[test]
    fn a_deep_body_is_refused_without_recursion() {
        let body = "[".repeat(10_000_000);
        assert_eq!(
            check(body.as_bytes(), &JsonLimits::default()),
            Err(JsonLimitError::Depth(128))
        );
    }

    #[test]
    fn stored_records_deeper_than_serde_json_s_stop_decode_up_to_the_limit() {
        let body = nested(300);
        let value: Value = from_stored(body.as_bytes()).unwrap();
        assert!(value.get("a").is_some());
        assert!(from_stored::<Value>(nested(MAX_DEPTH_LIMIT + 1).as_bytes()).is_err());
    }

    #[test]
    fn bad_input_says_so() {
        let limits = JsonLimits::default();
        assert!(matches!(
            parse_object(b"{\"a\":", &limits),
            Err(JsonLimitError::Syntax(_))
        ));
        assert_eq!(
            parse_object(b"[1]", &limits),
            Err(JsonLimitError::NotAnObject)
        );
        assert_eq!(parse_object(b"  ", &limits), Ok(Data::new()));
        // Vault's CLI sends null for a write without data.
        assert_eq!(parse_object(b"null", &limits), Ok(Data::new()));
        assert_eq!(
            parse_object(b"\"x\"", &limits),
            Err(JsonLimitError::NotAnObject)
        );
    }
}
