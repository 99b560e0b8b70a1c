//! The KV v2 API's mount-relative paths (`config`, `data/<key>`, ...), and the
//! rules a secret's key must follow before it becomes part of a storage path.

use crate::engines::EngineError;

/// Where a request is aimed, once its mount-relative path is taken apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route<'a> {
    /// `config`: the mount's settings.
    Config,
    /// `data/<key>`: a secret's versions.
    Data(&'a str),
    /// `metadata/<key>`, or a prefix to list (may be empty or end in `/`).
    Metadata(&'a str),
    /// `delete/<key>`: soft-delete chosen versions.
    Delete(&'a str),
    /// `undelete/<key>`: restore soft-deleted versions.
    Undelete(&'a str),
    /// `destroy/<key>`: remove chosen versions for good.
    Destroy(&'a str),
}

impl<'a> Route<'a> {
    /// The route of `path`, or `None` for a path the engine does not serve.
    pub(super) fn parse(path: &'a str) -> Option<Self> {
        match path {
            "config" => return Some(Route::Config),
            // `metadata` alone lists the whole mount, as `metadata/` does.
            "metadata" => return Some(Route::Metadata("")),
            _ => {}
        }
        let (head, rest) = path.split_once('/')?;
        Some(match head {
            "data" => Route::Data(rest),
            "metadata" => Route::Metadata(rest),
            "delete" => Route::Delete(rest),
            "undelete" => Route::Undelete(rest),
            "destroy" => Route::Destroy(rest),
            _ => return None,
        })
    }
}

/// Refuses a key that cannot name a secret: empty, with an empty segment (which
/// also rules out a trailing `/`, so a key never looks like a listing folder), or
/// with a `.`/`..` segment, which the view would refuse anyway.
pub(super) fn check_key(key: &str) -> Result<(), EngineError> {
    if key.is_empty() {
        return Err(EngineError::InvalidRequest(
            "missing secret key in the path".into(),
        ));
    }
    if key
        .split('/')
        .any(|segment| segment.is_empty() || segment == "." || segment == "..")
    {
        return Err(EngineError::InvalidRequest(format!(
            "invalid secret key {key:?}: empty, \".\" and \"..\" segments are not allowed"
        )));
    }
    Ok(())
}

/// Turns what follows `metadata/` in a list request into a folder: `""` for the
/// whole mount, otherwise the prefix with exactly one trailing `/`.
pub(super) fn list_folder(prefix: &str) -> Result<String, EngineError> {
    let trimmed = prefix.strip_suffix('/').unwrap_or(prefix);
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    check_key(trimmed)?;
    Ok(format!("{trimmed}/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_split_on_the_first_segment() {
        assert_eq!(Route::parse("config"), Some(Route::Config));
        assert_eq!(Route::parse("data/a/b"), Some(Route::Data("a/b")));
        assert_eq!(Route::parse("metadata"), Some(Route::Metadata("")));
        assert_eq!(Route::parse("metadata/"), Some(Route::Metadata("")));
        assert_eq!(Route::parse("destroy/x"), Some(Route::Destroy("x")));
        assert_eq!(Route::parse("config/x"), None);
        assert_eq!(Route::parse("secret/x"), None);
        assert_eq!(Route::parse(""), None);
    }

    #[test]
    fn keys_must_be_plain_segments() {
        assert!(check_key("a/b-c.d").is_ok());
        for bad in ["", "a/", "/a", "a//b", "a/../b", "."] {
            assert!(check_key(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn list_prefixes_become_folders() {
        assert_eq!(list_folder("").unwrap(), "");
        assert_eq!(list_folder("/").unwrap(), "");
        assert_eq!(list_folder("a").unwrap(), "a/");
        assert_eq!(list_folder("a/b/").unwrap(), "a/b/");
        assert!(list_folder("a//").is_err());
    }
}
