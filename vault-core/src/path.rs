//! Request paths are normalised once, before the ACL and the router see them, so
//! that both judge the same string. Anything that could mean two things is
//! refused rather than guessed at: `.` and `..` segments, empty segments (`//`),
//! control characters.

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// A `.` or `..` segment.
    #[error("invalid path {0:?}: '.' and '..' segments are not allowed")]
    DotSegment(String),
    /// `//` somewhere inside.
    #[error("invalid path {0:?}: empty segments ('//') are not allowed")]
    EmptySegment(String),
    /// A control character (shown escaped).
    #[error("invalid path {0:?}: control characters are not allowed")]
    ControlCharacter(String),
    /// Longer than [`MAX_PATH_LEN`] bytes (the path itself is not echoed).
    #[error("the path is {0} bytes long; the limit is {MAX_PATH_LEN}")]
    TooLong(usize),
    /// Nothing left.
    #[error("the path is empty")]
    Empty,
    /// A trailing `/` on anything but a list: handlers would read the name
    /// without it, so the ACL and the handler could disagree on what was asked.
    #[error("invalid path {0:?}: a trailing '/' is only allowed when listing")]
    TrailingSlash(String),
}

/// The longest request path accepted, in bytes: far above any real one (a
/// lease id is a path plus 24 characters), low enough that a path never
/// costs more than a page of memory per index key made from it.
pub const MAX_PATH_LEN: usize = 4096;

/// The canonical form of `raw`: no leading `/`. A list always ends in `/`, so a
/// LIST of `p` and of `p/` is the same request; any other request may not.
pub fn normalize(raw: &str, list: bool) -> Result<String, PathError> {
    if raw.len() > MAX_PATH_LEN {
        return Err(PathError::TooLong(raw.len()));
    }
    if raw.chars().any(char::is_control) {
        return Err(PathError::ControlCharacter(
            raw.escape_default().to_string(),
        ));
    }
    let trimmed = raw.trim_start_matches('/');
    if trimmed.is_empty() {
        return Err(PathError::Empty);
    }
    let body = trimmed.strip_suffix('/').unwrap_or(trimmed);
    for segment in body.split('/') {
        match segment {
            "" => return Err(PathError::EmptySegment(raw.to_owned())),
            "." | ".." => return Err(PathError::DotSegment(raw.to_owned())),
            _ => {}
        }
    }
    if !list && trimmed.ends_with('/') {
        return Err(PathError::TrailingSlash(raw.to_owned()));
    }
    let mut out = body.to_owned();
    if list {
        out.push('/');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_over_the_limit_is_refused_without_being_echoed() {
        let long = format!("secret/data/{}", "a".repeat(MAX_PATH_LEN));
        let err = normalize(&long, false).unwrap_err();
        assert_eq!(err, PathError::TooLong(long.len()));
        assert!(err.to_string().len() < 100, "{err}");
        let fits = "a/".repeat(MAX_PATH_LEN / 2 - 1) + "a";
        assert!(normalize(&fits, false).is_ok());
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(
            normalize("/secret/data/app", false).unwrap(),
            "secret/data/app"
        );
        assert_eq!(
            normalize("secret/metadata", true).unwrap(),
            "secret/metadata/"
        );
        assert_eq!(
            normalize("secret/metadata/", true).unwrap(),
            "secret/metadata/"
        );
        assert_eq!(
            normalize("sys/mounts/", false),
            Err(PathError::TrailingSlash("sys/mounts/".into()))
        );
        assert_eq!(normalize("sys/policy/", true).unwrap(), "sys/policy/");
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        for bad in [
            "secret/data/a/../b",
            "secret/./x",
            "..",
            "a//b",
            "a/b//",
            "a\u{0}b",
            "a\nb",
            "/",
            "",
        ] {
            assert!(normalize(bad, false).is_err(), "{bad:?}");
        }
    }
}
