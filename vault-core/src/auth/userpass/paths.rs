//! The userpass API's mount-relative paths (`users/<name>`, `login/<name>`, ...)
//! and the rules a username follows before it becomes part of a storage key.

use crate::engines::EngineError;

/// Longest username accepted. Vault sets none; ours become storage keys.
const MAX_USERNAME_LEN: usize = 256;

/// Where a request is aimed, once its mount-relative path is taken apart. The
/// usernames carried are as the caller wrote them; [`username`] makes them
/// canonical.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route<'a> {
    /// `config`: the mount's lockout settings.
    Config,
    /// `users` or `users/`: list the users.
    Users,
    /// `users/<name>`: a user's password and token settings.
    User(&'a str),
    /// `users/<name>/password`: reset the password.
    Password(&'a str),
    /// `users/<name>/totp`: enrol in, or drop, the second factor.
    Totp(&'a str),
    /// `users/<name>/unlock`: lift a lockout.
    Unlock(&'a str),
    /// `login/<name>`: log in (no token needed).
    Login(&'a str),
}

impl<'a> Route<'a> {
    /// The route of `path`, or `None` for a path the method does not serve.
    pub(super) fn parse(path: &'a str) -> Option<Self> {
        match path {
            "config" => return Some(Route::Config),
            "users" | "users/" => return Some(Route::Users),
            _ => {}
        }
        if let Some(name) = path.strip_prefix("login/") {
            return Some(Route::Login(name));
        }
        let rest = path.strip_prefix("users/")?;
        Some(match rest.split_once('/') {
            None => Route::User(rest),
            Some((name, "password")) => Route::Password(name),
            Some((name, "totp")) => Route::Totp(name),
            Some((name, "unlock")) => Route::Unlock(name),
            Some(_) => return None,
        })
    }
}

/// The canonical form of a username: trimmed, ASCII lower-cased, then only
/// `a-z`, `0-9`, `_`, `.`, `@` and `-`. Non-ASCII is refused rather than folded,
/// so no two spellings name one user.
/// A username given in an operator path (`users/<name>/...`) must already be
/// canonical: the ACL judged the path as written, so acting on a folded spelling
/// (`users/ADMIN/password` for `admin`) would slip past a rule about `admin`.
/// Logins, which the ACL does not judge, fold case as Vault does.
pub(super) fn exact_username(raw: &str) -> Result<String, EngineError> {
    let name = username(raw)?;
    if name != raw {
        return Err(EngineError::InvalidRequest(format!(
            "invalid username {raw:?}: use its canonical form {name:?}"
        )));
    }
    Ok(name)
}

pub(super) fn username(raw: &str) -> Result<String, EngineError> {
    let name = raw.trim().to_ascii_lowercase();
    let invalid = |reason: &str| EngineError::InvalidRequest(format!("invalid username: {reason}"));
    if name.is_empty() {
        return Err(invalid("it is empty"));
    }
    if name.len() > MAX_USERNAME_LEN {
        return Err(invalid("it is longer than 256 characters"));
    }
    if !name.bytes().all(|b| {
        b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'@' | b'-')
    }) {
        return Err(invalid("only a-z, 0-9, '_', '.', '@' and '-' are allowed"));
    }
    // They would be path segments the storage view refuses.
    if name == "." || name == ".." {
        return Err(invalid("\".\" and \"..\" are reserved"));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(Route::parse("config"), Some(Route::Config));
        assert_eq!(Route::parse("users"), Some(Route::Users));
        assert_eq!(Route::parse("users/"), Some(Route::Users));
        assert_eq!(Route::parse("users/bob"), Some(Route::User("bob")));
        assert_eq!(
            Route::parse("users/bob/password"),
            Some(Route::Password("bob"))
        );
        assert_eq!(Route::parse("users/bob/totp"), Some(Route::Totp("bob")));
        assert_eq!(Route::parse("users/bob/unlock"), Some(Route::Unlock("bob")));
        assert_eq!(Route::parse("login/bob"), Some(Route::Login("bob")));
        assert_eq!(Route::parse("login/a/b"), Some(Route::Login("a/b")));
        assert_eq!(Route::parse("users/bob/other"), None);
        assert_eq!(Route::parse("login"), None);
        assert_eq!(Route::parse(""), None);
    }

    #[test]
    fn usernames_are_canonical() {
        assert_eq!(
            username("  Alice@Example.com ").unwrap(),
            "alice@example.com"
        );
        assert_eq!(username("svc_ci-1.x").unwrap(), "svc_ci-1.x");
        for bad in [
            "",
            " ",
            "a/b",
            "a b",
            "é",
            "\u{212A}elvin",
            "..",
            ".",
            "a:b",
        ] {
            assert!(username(bad).is_err(), "{bad:?} accepted");
        }
        assert!(username(&"a".repeat(257)).is_err());
        assert!(username(&"a".repeat(256)).is_ok());
    }
}
