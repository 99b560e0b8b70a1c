//! Vault's globs for bound values (a JWT role's `bound_claims` with
//! `bound_claims_type = "glob"`, a Kubernetes role's bound service account
//! names and namespaces): `*` anywhere matches any run of characters;
//! nothing else is special.

/// Whether `value` matches `pattern`. Linear in practice, never worse than
/// the product of the two lengths (both bounded by the callers).
pub(crate) fn glob(pattern: &str, value: &str) -> bool {
    let (p, v): (Vec<char>, Vec<char>) = (pattern.chars().collect(), value.chars().collect());
    let (mut pi, mut vi) = (0, 0);
    // The last `*` seen and where in `value` it began to match.
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, vi));
            pi += 1;
        } else if pi < p.len() && p[pi] == v[vi] {
            pi += 1;
            vi += 1;
        } else if let Some((sp, sv)) = star {
            pi = sp + 1;
            vi = sv + 1;
            star = Some((sp, sv + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs_match_anywhere_and_only_where_they_are() {
        assert!(glob(
            "repo:acme/*:ref:refs/heads/main",
            "repo:acme/api:ref:refs/heads/main"
        ));
        assert!(!glob(
            "repo:acme/*:ref:refs/heads/main",
            "repo:acme/api:ref:refs/heads/dev"
        ));
        assert!(glob("*", ""));
        assert!(glob("team-*", "team-a"));
        assert!(!glob("team-*", "ops"));
        assert!(glob("a*b*c", "aXbYc"));
        assert!(!glob("a*b*c", "aXbY"));
        assert!(!glob("abc", "abcd"));
        assert!(glob("", ""));
        assert!(!glob("", "a"));
    }
}
