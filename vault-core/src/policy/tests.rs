//! Tests of the policy module: ACL decisions as tables of (policies, request,
//! expected outcome), then the parser, then policy names.

use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::request::Operation as Op;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Deny,
    /// Allowed, without sudo.
    Allow,
    /// Allowed, and the winning rule grants sudo.
    Sudo,
}
use Want::*;

/// One row: (case name, policy documents, operation, path, request data, outcome).
type Case = (
    &'static str,
    &'static [&'static str],
    Op,
    &'static str,
    Option<Value>,
    Want,
);

fn acl_of(texts: &[&str]) -> Acl {
    let policies: Vec<Arc<Policy>> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| Arc::new(parse(&format!("p{i}"), text).unwrap()))
        .collect();
    Acl::new(&policies)
}

fn outcome(d: AclDecision<'_>) -> Want {
    match (d.allowed, d.sudo) {
        (false, false) => Deny,
        (true, false) => Allow,
        (true, true) => Sudo,
        (false, true) => panic!("a denied decision reported sudo: {d:?}"),
    }
}

fn run(cases: &[Case]) {
    for (name, texts, op, path, params, want) in cases {
        let acl = acl_of(texts);
        let params = params.as_ref().map(|v| v.as_object().unwrap());
        let decision = acl.check(*op, path, params);
        assert_eq!(
            outcome(decision),
            *want,
            "case {name:?}: {op} {path} {params:?} -> {decision:?}"
        );
    }
}

const SECRET_READ: &str = r#"path "secret/*" { capabilities = ["read"] }"#;
const SECRET_LIST: &str = r#"path "secret/*" { capabilities = ["list"] }"#;
const SECRET_DENY: &str = r#"path "secret/*" { capabilities = ["deny"] }"#;

#[test]
fn globs_exact_paths_and_segments() {
    const FOO_GLOB: &str = r#"path "secret/foo*" { capabilities = ["read"] }"#;
    const EXACT_A: &str = r#"path "secret/a" { capabilities = ["read"] }"#;
    const EXACT_A_DENY: &str = r#"path "secret/a" { capabilities = ["deny"] }"#;
    const PLUS: &str = r#"path "secret/+/config" { capabilities = ["read"] }"#;
    const PLUS_STAR: &str = r#"path "secret/+/data/*" { capabilities = ["read"] }"#;
    const TWO_PLUS: &str = r#"path "a/+/b/+" { capabilities = ["read"] }"#;
    const ONLY_PLUS: &str = r#"path "+" { capabilities = ["read"] }"#;
    const LITERAL_PLUS: &str = r#"path "c++/*" { capabilities = ["read"] }"#;
    const APP_GLOB: &str = r#"path "secret/data/app*" { capabilities = ["read"] }"#;
    const APP2_DENY: &str = r#"path "secret/data/app2" { capabilities = ["deny"] }"#;
    #[rustfmt::skip]
    let cases: &[Case] = &[
        // A trailing * is a prefix match: deeper paths, inside a segment, itself.
        ("prefix glob, deeper path", &[SECRET_READ], Op::Read, "secret/a/b", None, Allow),
        ("prefix glob, inside a segment", &[FOO_GLOB], Op::Read, "secret/foobar", None, Allow),
        ("prefix glob, its own prefix", &[FOO_GLOB], Op::Read, "secret/foo", None, Allow),
        ("prefix glob, sibling name", &[SECRET_READ], Op::Read, "secrets/a", None, Deny),
        ("prefix glob needs its slash", &[SECRET_READ], Op::Read, "secret", None, Deny),
        // Exact patterns match only themselves, and beat globs.
        ("exact, itself", &[EXACT_A], Op::Read, "secret/a", None, Allow),
        ("exact, not deeper", &[EXACT_A], Op::Read, "secret/a/b", None, Deny),
        ("exact, not longer", &[EXACT_A], Op::Read, "secret/ab", None, Deny),
        ("exact deny beats glob allow", &[SECRET_READ, EXACT_A_DENY], Op::Read, "secret/a", None, Deny),
        ("glob beside an exact deny", &[SECRET_READ, EXACT_A_DENY], Op::Read, "secret/b", None, Allow),
        ("exact allow beats glob deny", &[SECRET_DENY, EXACT_A], Op::Read, "secret/a", None, Allow),
        ("a more specific deny beats a name glob", &[APP_GLOB, APP2_DENY], Op::Read, "secret/data/app2", None, Deny),
        ("the name glob beside it", &[APP_GLOB, APP2_DENY], Op::Read, "secret/data/app1", None, Allow),
        // + is one non-empty segment.
        ("+ one segment", &[PLUS], Op::Read, "secret/team/config", None, Allow),
        ("+ not two segments", &[PLUS], Op::Read, "secret/a/b/config", None, Deny),
        ("+ not an empty segment", &[PLUS], Op::Read, "secret//config", None, Deny),
        ("+ not a missing segment", &[PLUS], Op::Read, "secret/config", None, Deny),
        ("+ without * is not a prefix", &[PLUS], Op::Read, "secret/team/config/x", None, Deny),
        ("+ with trailing *", &[PLUS_STAR], Op::Read, "secret/t/data/x/y", None, Allow),
        ("+ with trailing *, literal checked", &[PLUS_STAR], Op::Read, "secret/t/other/x", None, Deny),
        ("two +", &[TWO_PLUS], Op::Read, "a/x/b/y", None, Allow),
        ("two +, too short", &[TWO_PLUS], Op::Read, "a/x/b", None, Deny),
        ("two +, too long", &[TWO_PLUS], Op::Read, "a/x/b/y/z", None, Deny),
        ("two +, empty last segment", &[TWO_PLUS], Op::Read, "a/x/b/", None, Deny),
        ("+ alone, one segment", &[ONLY_PLUS], Op::Read, "anything", None, Allow),
        ("+ alone, not two", &[ONLY_PLUS], Op::Read, "a/b", None, Deny),
        ("+ inside a segment is literal", &[LITERAL_PLUS], Op::Read, "c++/x", None, Allow),
        ("+ inside a segment is not a wildcard", &[LITERAL_PLUS], Op::Read, "cx+/x", None, Deny),
    ];
    run(cases);
}

#[test]
fn same_pattern_merges_and_specific_pattern_wins() {
    const SECRET_READ_LIST: &str = r#"path "secret/*" { capabilities = ["read", "list"] }"#;
    const SECRET_RU: &str = r#"path "secret/*" { capabilities = ["read", "update"] }"#;
    const TEAM_READ: &str = r#"path "secret/team/*" { capabilities = ["read"] }"#;
    const TEAM_DENY: &str = r#"path "secret/team/*" { capabilities = ["deny"] }"#;
    const TWICE: &str = r#"
        path "s/*" { capabilities = ["read"] }
        path "s/*" { capabilities = ["update"] }"#;
    const PFX_DENY: &str = r#"path "pfx*" { capabilities = ["deny"] }"#;
    const PFXLONG_READ: &str = r#"path "pfxlong*" { capabilities = ["read"] }"#;
    const PLUS_X_DENY: &str = r#"path "secret/+/x" { capabilities = ["deny"] }"#;
    const A_STAR_READ: &str = r#"path "secret/a/*" { capabilities = ["read"] }"#;
    const PLUS_STAR_READ: &str = r#"path "secret/+*" { capabilities = ["read"] }"#;
    const TWO_PLUS_READ: &str = r#"path "a/+/+" { capabilities = ["read"] }"#;
    const ONE_PLUS_DENY: &str = r#"path "a/+/b" { capabilities = ["deny"] }"#;
    const SHORT_READ: &str = r#"path "a/+/*" { capabilities = ["read"] }"#;
    const LONG_DENY: &str = r#"path "a/+/b/*" { capabilities = ["deny"] }"#;
    const LEX_LARGER_READ: &str = r#"path "a/+/x/+" { capabilities = ["read"] }"#;
    const LEX_SMALLER_DENY: &str = r#"path "a/+/+/y" { capabilities = ["deny"] }"#;
    #[rustfmt::skip]
    let cases: &[Case] = &[
        // Identical patterns merge: deny wins, otherwise the union.
        ("deny in one policy, allow in another", &[SECRET_READ, SECRET_DENY], Op::Read, "secret/a", None, Deny),
        ("deny wins whatever the order", &[SECRET_DENY, SECRET_READ_LIST], Op::List, "secret/", None, Deny),
        ("union: read from the first", &[SECRET_READ, SECRET_LIST], Op::Read, "secret/a", None, Allow),
        ("union: list from the second", &[SECRET_READ, SECRET_LIST], Op::List, "secret/", None, Allow),
        ("same pattern twice in one policy", &[TWICE], Op::Update, "s/x", None, Allow),
        // Different patterns: only the most specific counts, both ways.
        ("specific allow beats general deny", &[SECRET_DENY, TEAM_READ], Op::Read, "secret/team/x", None, Allow),
        ("general deny outside the specific one", &[SECRET_DENY, TEAM_READ], Op::Read, "secret/other", None, Deny),
        ("specific deny beats general allow", &[SECRET_READ, TEAM_DENY], Op::Read, "secret/team/x", None, Deny),
        ("general allow outside the specific deny", &[SECRET_READ, TEAM_DENY], Op::Read, "secret/x", None, Allow),
        ("specific rule hides the general one's extra capability", &[SECRET_RU, TEAM_READ], Op::Update, "secret/team/x", None, Deny),
        // Vault's priority order, one rule at a time.
        ("1: later first wildcard wins (pfxlong* over pfx*)", &[PFX_DENY, PFXLONG_READ], Op::Read, "pfxlongest", None, Allow),
        ("1: later * beats earlier +", &[PLUS_X_DENY, A_STAR_READ], Op::Read, "secret/a/x", None, Allow),
        ("2: not ending in * wins", &[PLUS_STAR_READ, PLUS_X_DENY], Op::Read, "secret/a/x", None, Deny),
        ("2: the * pattern covers the rest", &[PLUS_STAR_READ, PLUS_X_DENY], Op::Read, "secret/a/y", None, Allow),
        ("3: fewer + wins", &[TWO_PLUS_READ, ONE_PLUS_DENY], Op::Read, "a/x/b", None, Deny),
        ("3: the two-+ pattern covers the rest", &[TWO_PLUS_READ, ONE_PLUS_DENY], Op::Read, "a/x/c", None, Allow),
        ("4: longer wins", &[SHORT_READ, LONG_DENY], Op::Read, "a/x/b/c", None, Deny),
        ("4: the shorter covers the rest", &[SHORT_READ, LONG_DENY], Op::Read, "a/x/c/d", None, Allow),
        ("5: lexicographically larger wins", &[LEX_SMALLER_DENY, LEX_LARGER_READ], Op::Read, "a/1/x/y", None, Allow),
    ];
    run(cases);
}

/// The precedence rules written out plainly, for [`the_winner_is_the_most_specific_match`].
mod oracle {
    /// Whether `pattern` matches `path`, straight from the module docs.
    pub fn matches(pattern: &str, path: &str) -> bool {
        let (body, prefix) = match pattern.strip_suffix('*') {
            Some(body) => (body, true),
            None => (pattern, false),
        };
        let pat: Vec<&str> = body.split('/').collect();
        let parts: Vec<&str> = path.split('/').collect();
        if parts.len() < pat.len() || (!prefix && parts.len() != pat.len()) {
            return false;
        }
        pat.iter().zip(&parts).enumerate().all(|(i, (p, s))| {
            if *p == "+" {
                !s.is_empty()
            } else if prefix && i == pat.len() - 1 {
                s.starts_with(p)
            } else {
                p == s
            }
        })
    }

    /// Larger is more specific.
    pub fn priority(pattern: &str) -> (bool, usize, bool, std::cmp::Reverse<usize>, usize, &str) {
        let segments: Vec<&str> = pattern.trim_end_matches('*').split('/').collect();
        let pluses = segments.iter().filter(|s| **s == "+").count();
        let star = pattern.ends_with('*');
        let mut first = if star { pattern.len() - 1 } else { usize::MAX };
        let mut offset = 0;
        for s in &segments {
            if *s == "+" {
                first = first.min(offset);
                break;
            }
            offset += s.len() + 1;
        }
        let exact = !star && pluses == 0;
        (
            exact,
            first,
            !star,
            std::cmp::Reverse(pluses),
            pattern.len(),
            pattern,
        )
    }
}

#[test]
fn the_winner_is_the_most_specific_match() {
    // Random patterns and paths over a tiny alphabet so that they overlap a lot;
    // the ACL's winner must be the oracle's.
    let segments = ["a", "b", "ab", "+", ""];
    let path_segments = ["a", "b", "ab", "ba", ""];
    let mut state: u64 = 42;
    let mut next = |n: usize| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize % n
    };
    for _ in 0..200 {
        let mut patterns = Vec::new();
        for _ in 0..12 {
            let len = 1 + next(4);
            let mut p: Vec<&str> = (0..len).map(|_| segments[next(segments.len())]).collect();
            if p[0].is_empty() {
                p[0] = "a";
            }
            let mut p = p.join("/");
            if next(2) == 0 {
                p.push('*');
            }
            patterns.push(p);
        }
        let texts: Vec<String> = patterns
            .iter()
            .map(|p| format!("path {p:?} {{ capabilities = [\"read\"] }}"))
            .collect();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let acl = acl_of(&texts);
        for _ in 0..50 {
            let len = 1 + next(5);
            let path: Vec<&str> = (0..len)
                .map(|_| path_segments[next(path_segments.len())])
                .collect();
            let path = path.join("/");
            let want = patterns
                .iter()
                .filter(|p| oracle::matches(p, &path))
                .max_by_key(|p| oracle::priority(p))
                .map(String::as_str);
            let got = acl.check(Op::Read, &path, None).pattern;
            assert_eq!(got, want, "path {path:?} patterns {patterns:?}");
        }
    }
}

#[test]
fn operations_need_their_own_capability_and_sudo_is_reported() {
    const EXACT_LIST: &str = r#"path "secret/metadata/a" { capabilities = ["list"] }"#;
    const EXACT_READ: &str = r#"path "secret/metadata/a" { capabilities = ["read"] }"#;
    const UPDATE: &str = r#"path "secret/*" { capabilities = ["update"] }"#;
    const CREATE: &str = r#"path "secret/*" { capabilities = ["create"] }"#;
    const DELETE: &str = r#"path "secret/*" { capabilities = ["delete"] }"#;
    const OTHER: &str = r#"path "other/*" { capabilities = ["read"] }"#;
    const SYS_SUDO: &str = r#"path "sys/*" { capabilities = ["read", "sudo"] }"#;
    const SYS_READ: &str = r#"path "sys/*" { capabilities = ["read"] }"#;
    const SYS_ONLY_SUDO: &str = r#"path "sys/*" { capabilities = ["sudo"] }"#;
    const SYS_RAW_READ: &str = r#"path "sys/raw/*" { capabilities = ["read"] }"#;
    #[rustfmt::skip]
    let cases: &[Case] = &[
        ("read does not allow list", &[SECRET_READ], Op::List, "secret/", None, Deny),
        ("list does not allow read", &[SECRET_LIST], Op::Read, "secret/a", None, Deny),
        ("update does not allow create", &[UPDATE], Op::Create, "secret/a", None, Deny),
        ("create does not allow update", &[CREATE], Op::Update, "secret/a", None, Deny),
        ("update does not allow patch", &[UPDATE], Op::Patch, "secret/a", None, Deny),
        ("delete", &[DELETE], Op::Delete, "secret/a", None, Allow),
        ("list on an exact pattern takes the trailing slash", &[EXACT_LIST], Op::List, "secret/metadata/a/", None, Allow),
        ("the trailing slash is only for list", &[EXACT_READ], Op::Read, "secret/metadata/a/", None, Deny),
        ("no policy at all", &[], Op::Read, "secret/a", None, Deny),
        ("no matching pattern", &[OTHER], Op::Read, "secret/a", None, Deny),
        ("sudo reported when granted", &[SYS_SUDO], Op::Read, "sys/raw/x", None, Sudo),
        ("sudo not reported without it", &[SYS_READ], Op::Read, "sys/raw/x", None, Allow),
        ("sudo alone grants no operation", &[SYS_ONLY_SUDO], Op::Read, "sys/raw/x", None, Deny),
        ("sudo of a less specific pattern does not leak", &[SYS_SUDO, SYS_RAW_READ], Op::Read, "sys/raw/x", None, Allow),
        ("sudo from the same pattern in another policy", &[SYS_READ, SYS_ONLY_SUDO], Op::Read, "sys/raw/x", None, Sudo),
    ];
    run(cases);
}

#[test]
fn parameter_constraints() {
    const REQUIRED: &str = r#"path "p" {
        capabilities = ["read", "update"]
        required_parameters = ["a"]
    }"#;
    const REQUIRED_B: &str =
        r#"path "p" { capabilities = ["update"] required_parameters = ["b"] }"#;
    const ALLOWED: &str = r#"path "p" {
        capabilities = ["create", "update", "patch"]
        allowed_parameters = { "b" = [], "c" = ["x", "y"] }
    }"#;
    const ALLOWED_STAR: &str = r#"path "p" {
        capabilities = ["update"]
        allowed_parameters = { "*" = [], "c" = ["x"] }
    }"#;
    const ALLOWED_TYPED: &str = r#"path "p" {
        capabilities = ["update"]
        allowed_parameters = { "env" = ["prod-*"], "n" = [3], "flag" = [true] }
    }"#;
    const DENIED: &str = r#"path "p" {
        capabilities = ["update"]
        denied_parameters = { "d" = [], "e" = ["bad", 7, true], "f" = ["tmp-*"] }
    }"#;
    const DENIED_ALL: &str =
        r#"path "p" { capabilities = ["update"] denied_parameters = { "*" = [] } }"#;
    const BOTH: &str = r#"path "p" {
        capabilities = ["update"]
        allowed_parameters = { "a" = [] }
        denied_parameters = { "a" = [] }
    }"#;
    const ALLOWED_CX: &str =
        r#"path "p" { capabilities = ["update"] allowed_parameters = { "c" = ["x"] } }"#;
    const ALLOWED_CY: &str =
        r#"path "p" { capabilities = ["update"] allowed_parameters = { "c" = ["y"] } }"#;
    const ALLOWED_C_ANY: &str =
        r#"path "p" { capabilities = ["update"] allowed_parameters = { "c" = [] } }"#;
    const DENIED_CX: &str =
        r#"path "p" { capabilities = ["update"] denied_parameters = { "c" = ["x"] } }"#;
    const DENIED_CY: &str =
        r#"path "p" { capabilities = ["update"] denied_parameters = { "c" = ["y"] } }"#;
    #[rustfmt::skip]
    let cases: &[Case] = &[
        // required_parameters
        ("required present", &[REQUIRED], Op::Update, "p", Some(json!({"a": 1})), Allow),
        ("required absent", &[REQUIRED], Op::Update, "p", Some(json!({"b": 1})), Deny),
        ("required absent, no data", &[REQUIRED], Op::Update, "p", None, Deny),
        ("required key is case-insensitive", &[REQUIRED], Op::Update, "p", Some(json!({"A": 1})), Allow),
        ("required not checked on read", &[REQUIRED], Op::Read, "p", None, Allow),
        ("required merged across policies", &[REQUIRED, REQUIRED_B], Op::Update, "p", Some(json!({"a": 1})), Deny),
        ("required merged, both given", &[REQUIRED, REQUIRED_B], Op::Update, "p", Some(json!({"a": 1, "b": 2})), Allow),
        // allowed_parameters
        ("allowed key, any value", &[ALLOWED], Op::Update, "p", Some(json!({"b": "whatever"})), Allow),
        ("allowed key, listed value", &[ALLOWED], Op::Update, "p", Some(json!({"c": "y"})), Allow),
        ("allowed key, unlisted value", &[ALLOWED], Op::Update, "p", Some(json!({"c": "z"})), Deny),
        ("key outside allowed", &[ALLOWED], Op::Update, "p", Some(json!({"b": 1, "d": 1})), Deny),
        ("no data passes allowed", &[ALLOWED], Op::Update, "p", None, Allow),
        ("allowed checked on create", &[ALLOWED], Op::Create, "p", Some(json!({"d": 1})), Deny),
        ("allowed checked on patch", &[ALLOWED], Op::Patch, "p", Some(json!({"c": "z"})), Deny),
        ("allowed *: other keys pass", &[ALLOWED_STAR], Op::Update, "p", Some(json!({"other": 1})), Allow),
        ("allowed *: a listed key keeps its values", &[ALLOWED_STAR], Op::Update, "p", Some(json!({"c": "z"})), Deny),
        ("allowed *: listed value and other key", &[ALLOWED_STAR], Op::Update, "p", Some(json!({"c": "x", "d": true})), Allow),
        ("allowed value glob, prefix", &[ALLOWED_TYPED], Op::Update, "p", Some(json!({"env": "prod-eu"})), Allow),
        ("allowed value glob, other", &[ALLOWED_TYPED], Op::Update, "p", Some(json!({"env": "dev-eu"})), Deny),
        ("allowed number", &[ALLOWED_TYPED], Op::Update, "p", Some(json!({"n": 3})), Allow),
        ("allowed number, other", &[ALLOWED_TYPED], Op::Update, "p", Some(json!({"n": 4})), Deny),
        ("allowed number, its string form is the same number", &[ALLOWED_TYPED], Op::Update, "p", Some(json!({"n": "3"})), Allow),
        ("allowed bool, other", &[ALLOWED_TYPED], Op::Update, "p", Some(json!({"flag": false})), Deny),
        ("allowed lists merge", &[ALLOWED_CX, ALLOWED_CY], Op::Update, "p", Some(json!({"c": "y"})), Allow),
        ("allowed lists merge, other value", &[ALLOWED_CX, ALLOWED_CY], Op::Update, "p", Some(json!({"c": "z"})), Deny),
        ("allowed [] absorbs a list on merge", &[ALLOWED_CX, ALLOWED_C_ANY], Op::Update, "p", Some(json!({"c": "z"})), Allow),
        // denied_parameters
        ("denied key, any value", &[DENIED], Op::Update, "p", Some(json!({"d": "x"})), Deny),
        ("denied key is case-insensitive", &[DENIED], Op::Update, "p", Some(json!({"D": "x"})), Deny),
        ("denied value", &[DENIED], Op::Update, "p", Some(json!({"e": "bad"})), Deny),
        ("denied key, other value", &[DENIED], Op::Update, "p", Some(json!({"e": "good"})), Allow),
        ("denied number", &[DENIED], Op::Update, "p", Some(json!({"e": 7})), Deny),
        ("denied number as float", &[DENIED], Op::Update, "p", Some(json!({"e": 7.0})), Deny),
        ("denied number as string", &[DENIED], Op::Update, "p", Some(json!({"e": "7"})), Deny),
        ("denied bool as string", &[DENIED], Op::Update, "p", Some(json!({"e": "true"})), Deny),
        ("denied value inside a list", &[DENIED], Op::Update, "p", Some(json!({"e": ["ok", "bad"]})), Deny),
        ("denied value glob", &[DENIED], Op::Update, "p", Some(json!({"f": "tmp-1"})), Deny),
        ("denied value glob, other", &[DENIED], Op::Update, "p", Some(json!({"f": "prod"})), Allow),
        ("key not denied", &[DENIED], Op::Update, "p", Some(json!({"g": 1})), Allow),
        ("denied * refuses every key", &[DENIED_ALL], Op::Update, "p", Some(json!({"a": 1})), Deny),
        ("denied * with no data", &[DENIED_ALL], Op::Update, "p", None, Allow),
        ("denied beats allowed", &[BOTH], Op::Update, "p", Some(json!({"a": 1})), Deny),
        ("denied lists merge (first)", &[DENIED_CX, DENIED_CY], Op::Update, "p", Some(json!({"c": "x"})), Deny),
        ("denied lists merge (second)", &[DENIED_CX, DENIED_CY], Op::Update, "p", Some(json!({"c": "y"})), Deny),
        ("denied lists merge, other value", &[DENIED_CX, DENIED_CY], Op::Update, "p", Some(json!({"c": "z"})), Allow),
    ];
    run(cases);
}

/// Engines read request values through `crate::params`: a comma-separated
/// string is a list, `"no"` and `0` are `false`, `"1h"` is 3600 seconds. The ACL
/// must judge the values the engine will act on, not their spelling.
#[test]
fn parameter_values_are_judged_as_the_engines_read_them() {
    const DENIED: &str = r#"path "p" {
        capabilities = ["update"]
        denied_parameters = {
            "token_policies" = ["admin"], "bind_secret_id" = [false],
            "num_uses" = [0], "ttl" = [3600], "mode" = ["true"]
        }
    }"#;
    const ALLOWED: &str = r#"path "p" {
        capabilities = ["update"]
        allowed_parameters = {
            "token_policies" = ["web", "dev", "prod-*"], "flag" = [true],
            "n" = [3], "ttl" = [60], "s" = ["3"]
        }
    }"#;
    #[rustfmt::skip]
    let cases: &[Case] = &[
        // denied: a comma list is refused if any of its items is denied
        ("denied item in a comma list", &[DENIED], Op::Update, "p", Some(json!({"token_policies": "web,admin"})), Deny),
        ("denied item in a spaced comma list", &[DENIED], Op::Update, "p", Some(json!({"token_policies": "web, admin"})), Deny),
        ("denied item with surrounding spaces", &[DENIED], Op::Update, "p", Some(json!({"token_policies": " admin "})), Deny),
        ("denied item in an array", &[DENIED], Op::Update, "p", Some(json!({"token_policies": ["web", "admin"]})), Deny),
        ("denied item in a nested array", &[DENIED], Op::Update, "p", Some(json!({"token_policies": [["web"], ["admin"]]})), Deny),
        ("denied item in a comma string inside an array", &[DENIED], Op::Update, "p", Some(json!({"token_policies": ["web,admin"]})), Deny),
        ("comma list without a denied item", &[DENIED], Op::Update, "p", Some(json!({"token_policies": "web,dev"})), Allow),
        // denied: booleans in every spelling params::boolean reads
        ("denied false as \"f\"", &[DENIED], Op::Update, "p", Some(json!({"bind_secret_id": "f"})), Deny),
        ("denied false as \"no\"", &[DENIED], Op::Update, "p", Some(json!({"bind_secret_id": "no"})), Deny),
        ("denied false as \"FALSE\"", &[DENIED], Op::Update, "p", Some(json!({"bind_secret_id": "FALSE"})), Deny),
        ("denied false as 0", &[DENIED], Op::Update, "p", Some(json!({"bind_secret_id": 0})), Deny),
        ("denied false as \"0\"", &[DENIED], Op::Update, "p", Some(json!({"bind_secret_id": "0"})), Deny),
        ("denied false, true as \"yes\" passes", &[DENIED], Op::Update, "p", Some(json!({"bind_secret_id": "yes"})), Allow),
        ("denied false, true as 1 passes", &[DENIED], Op::Update, "p", Some(json!({"bind_secret_id": 1})), Allow),
        ("denied \"true\" as a boolean word", &[DENIED], Op::Update, "p", Some(json!({"mode": "yes"})), Deny),
        ("denied \"true\" as a boolean", &[DENIED], Op::Update, "p", Some(json!({"mode": true})), Deny),
        // denied: numbers as numeric strings and durations
        ("denied 0 as \" 0 \"", &[DENIED], Op::Update, "p", Some(json!({"num_uses": " 0 "})), Deny),
        ("denied 3600 as \"1h\"", &[DENIED], Op::Update, "p", Some(json!({"ttl": "1h"})), Deny),
        ("denied 3600 as \"60m\"", &[DENIED], Op::Update, "p", Some(json!({"ttl": "60m"})), Deny),
        ("denied 3600 as \"3600s\"", &[DENIED], Op::Update, "p", Some(json!({"ttl": "3600s"})), Deny),
        ("denied 3600, other duration passes", &[DENIED], Op::Update, "p", Some(json!({"ttl": "2h"})), Allow),
        // allowed: every item of a list must be allowed
        ("allowed comma list", &[ALLOWED], Op::Update, "p", Some(json!({"token_policies": "web,dev"})), Allow),
        ("allowed array", &[ALLOWED], Op::Update, "p", Some(json!({"token_policies": ["web", "dev"]})), Allow),
        ("allowed item with spaces", &[ALLOWED], Op::Update, "p", Some(json!({"token_policies": " web "})), Allow),
        ("comma list with an item not allowed", &[ALLOWED], Op::Update, "p", Some(json!({"token_policies": "web,admin"})), Deny),
        ("comma list matching a glob as a whole", &[ALLOWED], Op::Update, "p", Some(json!({"token_policies": "prod-a,admin"})), Deny),
        ("array with an item not allowed", &[ALLOWED], Op::Update, "p", Some(json!({"token_policies": ["web", "admin"]})), Deny),
        ("nested array with an item not allowed", &[ALLOWED], Op::Update, "p", Some(json!({"token_policies": [["web", "admin"]]})), Deny),
        ("empty array is not an allowed value", &[ALLOWED], Op::Update, "p", Some(json!({"token_policies": []})), Deny),
        ("empty string is not an allowed value", &[ALLOWED], Op::Update, "p", Some(json!({"token_policies": ""})), Deny),
        // allowed: booleans and numbers in the spellings the engines read
        ("allowed true as \"yes\"", &[ALLOWED], Op::Update, "p", Some(json!({"flag": "yes"})), Allow),
        ("allowed true as 1", &[ALLOWED], Op::Update, "p", Some(json!({"flag": 1})), Allow),
        ("allowed true as \"t\"", &[ALLOWED], Op::Update, "p", Some(json!({"flag": "t"})), Allow),
        ("allowed true, false as \"no\"", &[ALLOWED], Op::Update, "p", Some(json!({"flag": "no"})), Deny),
        ("allowed true, false as 0", &[ALLOWED], Op::Update, "p", Some(json!({"flag": 0})), Deny),
        ("allowed 3 as \" 3\"", &[ALLOWED], Op::Update, "p", Some(json!({"n": " 3"})), Allow),
        ("allowed 3, \"4\"", &[ALLOWED], Op::Update, "p", Some(json!({"n": "4"})), Deny),
        ("allowed 60 as \"1m\"", &[ALLOWED], Op::Update, "p", Some(json!({"ttl": "1m"})), Allow),
        ("allowed 60 as \"60s\"", &[ALLOWED], Op::Update, "p", Some(json!({"ttl": "60s"})), Allow),
        ("allowed 60, \"61\"", &[ALLOWED], Op::Update, "p", Some(json!({"ttl": "61"})), Deny),
        ("allowed \"3\" as the number 3", &[ALLOWED], Op::Update, "p", Some(json!({"s": 3})), Allow),
    ];
    run(cases);
}

#[test]
fn capabilities_of_a_path() {
    let acl = acl_of(&[
        r#"path "secret/*" { capabilities = ["read", "list"] }"#,
        r#"path "secret/*" { capabilities = ["update"] }"#,
        r#"path "secret/team/*" { capabilities = ["deny", "read"] }"#,
    ]);
    let rows: &[(&str, &[Capability])] = &[
        // Union of the same pattern in two policies.
        (
            "secret/a",
            &[Capability::Read, Capability::Update, Capability::List],
        ),
        // A denied pattern reports deny alone.
        ("secret/team/x", &[Capability::Deny]),
        // Nothing matches.
        ("other", &[]),
    ];
    for (path, want) in rows {
        let want: Capabilities = want.iter().copied().collect();
        assert_eq!(acl.capabilities(path), want, "{path}");
    }
    assert!(!acl.is_root());
}

#[test]
fn root_allows_everything_with_sudo() {
    let acl = Acl::new(&[Arc::new(default_policy()), root_policy()]);
    assert!(acl.is_root());
    for op in [
        Op::Read,
        Op::Create,
        Op::Update,
        Op::Patch,
        Op::Delete,
        Op::List,
    ] {
        let d = acl.check(op, "sys/raw/anything", Some(&serde_json::Map::new()));
        assert!(d.allowed && d.sudo, "{op}");
        assert_eq!(d.reason, DecisionReason::Root);
        assert_eq!(d.policies, ["root"]);
    }
    assert_eq!(acl.capabilities("x"), Capabilities::ROOT);
    assert!(!Capabilities::ROOT.contains(Capability::Deny));
    assert!(Capabilities::ROOT.contains(Capability::Sudo));
    assert_eq!(root_policy().name(), ROOT);
}

#[test]
fn default_policy_lets_a_token_manage_itself() {
    let acl = Acl::new(&[Arc::new(default_policy())]);
    let rows = [
        (Op::Read, "auth/token/lookup-self", true),
        (Op::Update, "auth/token/renew-self", true),
        (Op::Update, "auth/token/revoke-self", true),
        (Op::Update, "sys/capabilities-self", true),
        (Op::Update, "sys/leases/lookup", true),
        (Op::Update, "sys/leases/renew", true),
        (Op::Update, "sys/renew", true),
        (Op::Update, "auth/token/lookup-self", false),
        (Op::Read, "secret/data/x", false),
        (Op::Update, "sys/leases/revoke", false),
    ];
    for (op, path, allowed) in rows {
        assert_eq!(acl.check(op, path, None).allowed, allowed, "{op} {path}");
    }
    assert_eq!(default_policy().name(), DEFAULT);
}

#[test]
fn decisions_name_the_pattern_policies_and_reason() {
    let policies = [
        Arc::new(parse("team", r#"path "secret/*" { capabilities = ["read"] }"#).unwrap()),
        Arc::new(parse("ops", r#"path "secret/*" { capabilities = ["list"] }"#).unwrap()),
    ];
    let acl = Acl::new(&policies);
    let d = acl.check(Op::Read, "secret/a", None);
    assert_eq!(d.reason, DecisionReason::Granted);
    assert_eq!(d.pattern, Some("secret/*"));
    assert_eq!(d.policies, ["team", "ops"]);
    let d = acl.check(Op::Delete, "secret/a", None);
    assert_eq!(d.reason, DecisionReason::MissingCapability);
    let d = acl.check(Op::Read, "nope", None);
    assert_eq!(
        (d.reason, d.pattern),
        (DecisionReason::NoMatchingRule, None)
    );
}

#[test]
fn capability_sets() {
    for (op, name) in [
        (Op::Read, "read"),
        (Op::Create, "create"),
        (Op::Update, "update"),
        (Op::Patch, "patch"),
        (Op::Delete, "delete"),
        (Op::List, "list"),
    ] {
        assert_eq!(Capabilities::from_operation(op).names(), [name]);
    }
    let set = Capabilities::from(Capability::List) | Capability::Read.into();
    assert!(set.contains(Capability::Read) && !set.contains(Capability::Sudo));
    assert!(set.contains(Capabilities::from_operation(Op::List)));
    assert_eq!(set.to_string(), "read, list");
    assert_eq!(format!("{set:?}"), "{Read, List}");
    assert!(Capabilities::NONE.is_empty());
    for cap in Capability::ALL {
        assert_eq!(Capability::from_name(cap.as_str()), Some(cap));
    }
    assert_eq!(Capability::from_name("READ"), None);
}

// --- the parser ---

const FULL_HCL: &str = r#"
# A team's policy.
// Both comment styles work,
/* and block comments
   over several lines. */
path "secret/data/*" {
  capabilities = ["read", "list"]   # trailing comment
  required_parameters = ["a"]
  allowed_parameters = { "b" = [], "c" = ["x", "y", 3, true], "*" = [] }
  denied_parameters = { "d" = [] }
}

path "/sys/+/config" {
  capabilities = ["update", "sudo"],
}
"#;

const FULL_JSON: &str = r#"{
  "path": {
    "secret/data/*": {
      "capabilities": ["read", "list"],
      "required_parameters": ["a"],
      "allowed_parameters": {"b": [], "c": ["x", "y", 3, true], "*": []},
      "denied_parameters": {"d": []}
    },
    "/sys/+/config": {"capabilities": ["update", "sudo"]}
  }
}"#;

#[test]
fn parses_vault_hcl() {
    let policy = parse("Team ", FULL_HCL).unwrap();
    assert_eq!(policy.name(), "team");
    assert!(!policy.is_root());
    let rules = policy.rules();
    assert_eq!(rules.len(), 2);
    let r = &rules[0];
    assert_eq!(r.pattern, "secret/data/*");
    assert_eq!(r.capabilities.names(), ["read", "list"]);
    assert_eq!(r.required_parameters, ["a"]);
    assert_eq!(r.allowed_parameters["b"], Vec::<Value>::new());
    assert_eq!(
        r.allowed_parameters["c"],
        [json!("x"), json!("y"), json!(3), json!(true)]
    );
    assert!(r.allowed_parameters.contains_key("*"));
    assert_eq!(r.denied_parameters.keys().collect::<Vec<_>>(), ["d"]);
    // The leading slash is dropped, as Vault does.
    assert_eq!(rules[1].pattern, "sys/+/config");
    assert_eq!(rules[1].capabilities.names(), ["update", "sudo"]);
}

#[test]
fn json_form_is_equivalent() {
    let hcl = parse("p", FULL_HCL).unwrap();
    let js = parse("p", FULL_JSON).unwrap();
    assert_eq!(hcl, js);
    let (a, b) = (Acl::new(&[Arc::new(hcl)]), Acl::new(&[Arc::new(js)]));
    let requests = [
        (Op::Read, "secret/data/x", None),
        (Op::List, "secret/data/", None),
        (Op::Update, "secret/data/x", Some(json!({"a": 1}))),
        (Op::Update, "sys/mounts/config", Some(json!({"z": 1}))),
        (Op::Read, "sys/mounts/config", None),
        (Op::Read, "elsewhere", None),
    ];
    for (op, path, params) in &requests {
        let params = params.as_ref().map(|v| v.as_object().unwrap());
        assert_eq!(
            a.check(*op, path, params),
            b.check(*op, path, params),
            "{op} {path}"
        );
    }
}

#[test]
fn hcl_variants_vault_accepts() {
    // Commas between attributes, block syntax for a map, bare keys in a map,
    // `=` before a block, several blocks on one line, an empty policy.
    let texts = [
        r#"path "a" { capabilities = ["read"], allowed_parameters { b = [] } }"#,
        r#"path "a" = { capabilities = ["read",] allowed_parameters = { "b" = [] } }"#,
        r#"path "a" { capabilities = ["read"] allowed_parameters = { b = [], } } path "c" {}"#,
    ];
    for text in texts {
        let p = parse("p", text).unwrap();
        assert_eq!(p.rules()[0].capabilities.names(), ["read"], "{text}");
        assert!(p.rules()[0].allowed_parameters.contains_key("b"), "{text}");
    }
    assert!(parse("p", "# nothing yet\n").unwrap().rules().is_empty());
    assert!(parse("p", "{}").unwrap().rules().is_empty());
    let p = parse("p", "\u{FEFF}path \"a\" { capabilities = [\"read\"] }").unwrap();
    assert_eq!(p.rules().len(), 1);
    let p = parse("p", r#"path "caf\u00e9/\ud83d\ude00" {}"#).unwrap();
    assert_eq!(p.rules()[0].pattern, "café/😀");
}

#[test]
fn errors_say_line_and_column() {
    // (case, document, line, column, part of the message)
    #[rustfmt::skip]
    let cases: &[(&str, &str, usize, usize, &str)] = &[
        (
            "bad capability",
            "path \"a\" {\n  capabilities = [\"read\", \"reed\"]\n}",
            2,
            27,
            "unknown capability \"reed\"",
        ),
        (
            "bad capability (JSON)",
            "{\"path\": {\"a\": {\"capabilities\": [\"sudo\", \"rot\"]}}}",
            1,
            42,
            "unknown capability \"rot\"",
        ),
        ("unterminated string", "path \"secret/*\n{}", 1, 6, "unterminated string"),
        ("string ends at the input", "path \"a\" { capabilities = [\"re", 1, 28, "unterminated string"),
        ("* in the middle", "\n\npath \"secret/*/x\" {}", 3, 6, "'*' is allowed only as the last"),
        ("empty pattern", "path \"\" {}", 1, 6, "empty path pattern"),
        ("only a slash", "path \"/\" {}", 1, 6, "empty path pattern"),
        ("unknown template", "path \"s/{{identity.entity.uid}}/*\" {}", 1, 6, "bad policy template"),
        ("unclosed template", "path \"s/{{identity.entity.id/*\" {}", 1, 6, "bad policy template"),
        ("unknown key in a block", "path \"a\" {\n  control_group = \"1h\"\n}", 2, 3, "unknown or unsupported key \"control_group\""),
        ("duplicate key", "path \"a\" {\n capabilities = []\n capabilities = [\"read\"]\n}", 3, 2, "duplicate key \"capabilities\""),
        ("duplicate parameter", "path \"a\" { allowed_parameters = { \"x\" = [], \"X\" = [] } }", 1, 45, "duplicate parameter \"x\""),
        ("unknown top-level key", "name = \"x\"", 1, 1, "unknown key \"name\""),
        ("path without a block", "path = \"a\"", 1, 8, "expected a path pattern"),
        ("unclosed block", "path \"a\" {\n capabilities = []\n", 3, 1, "expected '}' to close the '{' at line 1, column 10"),
        ("unterminated comment", "path \"a\" {} /* oops", 1, 13, "unterminated /* comment"),
        ("bare word value", "path \"a\" { capabilities = [read] }", 1, 28, "strings must be quoted"),
        ("nested parameter value", "path \"a\" { allowed_parameters = { \"x\" = [[1]] } }", 1, 42, "strings, numbers or booleans"),
        ("capabilities not a list", "path \"a\" { capabilities = \"read\" }", 1, 27, "expected a list"),
        ("stray character", "path \"a\" { capabilities = [\"read\"] ; }", 1, 36, "unexpected character ';'"),
        ("bad escape", "path \"a\\q\" {}", 1, 8, "invalid escape \\q"),
        ("JSON trailing comma", "{\"path\": {\"a\": {\"capabilities\": [\"read\",]}}}", 1, 41, "expected a value"),
        ("JSON null", "{\"path\": {\"a\": {\"capabilities\": null}}}", 1, 33, "null is not allowed"),
        ("JSON text after the document", "{} {}", 1, 4, "expected the end of the JSON document"),
        ("JSON missing colon", "{\"path\" {}}", 1, 9, "expected ':'"),
    ];
    for (case, text, line, column, message) in cases {
        match parse("p", text) {
            Err(PolicyError::Parse {
                line: l,
                column: c,
                message: m,
                ..
            }) => {
                assert!(m.contains(message), "case {case:?}: message {m:?}");
                assert_eq!((l, c), (*line, *column), "case {case:?}: {m}");
            }
            other => panic!("case {case:?}: expected a parse error, got {other:?}"),
        }
    }
    let e = parse("Team", "path \"a\" { capabilities = [\"reed\"] }").unwrap_err();
    assert_eq!(
        e.to_string(),
        "policy \"team\": line 1, column 28: unknown capability \"reed\"; \
         expected one of create, read, update, patch, delete, list, sudo, deny"
    );
}

#[test]
fn the_parser_never_panics() {
    let mut inputs: Vec<String> = Vec::new();
    for text in [
        FULL_HCL,
        FULL_JSON,
        "path \"caf\\u00e9\" { capabilities = [\"read\"] }",
    ] {
        for (i, _) in text.char_indices() {
            inputs.push(text[..i].to_owned());
        }
    }
    // Deep nesting must be refused, not overflow the stack.
    for open in [
        "[",
        "{",
        "path \"a\" { allowed_parameters = { x = ",
        "{\"a\": ",
    ] {
        inputs.push(open.repeat(100_000));
    }
    // Garbage: bytes from a fixed linear congruential generator, as (lossy)
    // UTF-8, biased towards the characters the grammar cares about.
    let alphabet = b"{}[]=:,\"\\/*#+-.0123456789eEpathru \n\t\x00\xff\xc3\xa9";
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..2_000 {
        let mut bytes = Vec::new();
        for _ in 0..(state % 64) {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let pick = (state >> 33) as usize;
            bytes.push(if pick.is_multiple_of(4) {
                (pick >> 8) as u8
            } else {
                alphabet[pick % alphabet.len()]
            });
        }
        inputs.push(String::from_utf8_lossy(&bytes).into_owned());
    }
    for input in &inputs {
        // Ok or Err are both fine; the point is returning.
        let _ = parse("p", input);
    }
    assert!(parse("p", &"[".repeat(100_000)).is_err());
}

// --- names ---

#[test]
fn canonical_names() {
    let ok = [
        ("Root ", "root"),
        (" root", "root"),
        ("ROOT", "root"),
        ("\u{a0}root\t", "root"),
        ("team-a_b.c", "team-a_b.c"),
    ];
    for (raw, want) in ok {
        assert_eq!(canonical_name(raw).unwrap(), want, "{raw:?}");
    }
    let refused = [
        "",
        "   ",
        "root\u{200b}",
        "ro\u{200c}ot",
        "ro\u{200d}ot",
        "\u{2060}root",
        "\u{feff}root",
        "ro\u{ad}ot",
        "\u{202e}toor",
        "\u{2066}root\u{2069}",
        "ro\nt",
        "ro\u{0}ot",
        "r\u{43e}\u{43e}t", // Cyrillic о
        "\u{ff52}oot",      // fullwidth r
        "roo\u{742}t",      // combining mark
        "\u{212a}ey",       // Kelvin sign, lower-cases to ASCII k
        "a b",
        "a:b",
        "/root",
        "root/",
        "a//b",
        "a/../root",
        "team/dev",
        ".",
        "..",
    ];
    for raw in refused {
        assert!(
            matches!(canonical_name(raw), Err(PolicyError::InvalidName { .. })),
            "{raw:?} was accepted"
        );
    }
}

#[test]
fn no_other_spelling_of_root_names_a_distinct_policy() {
    let invisible = [
        '\u{00AD}', '\u{200B}', '\u{200C}', '\u{200D}', '\u{200E}', '\u{2060}', '\u{FEFF}',
        '\u{202A}', '\u{202E}', '\u{2066}', '\u{2069}', '\u{034F}', '\u{0000}', '\u{007F}',
    ];
    let homoglyphs = [
        '\u{043E}', '\u{03BF}', '\u{0455}', '\u{FF4F}', '\u{0280}', '\u{1D26}',
    ];
    let mut spellings = Vec::new();
    for mask in 0..16u32 {
        let cased: String = "root"
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if mask & (1 << i) != 0 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect();
        for pad in ["", " ", "\t", "\u{a0}", "\u{3000}"] {
            spellings.push(format!("{pad}{cased}{pad}"));
        }
        for at in 0..=4 {
            for c in invisible.iter().chain(&homoglyphs) {
                let mut s = cased.clone();
                s.insert(at.min(s.len()), *c);
                spellings.push(s);
            }
        }
        for (i, _) in cased.char_indices() {
            for c in homoglyphs {
                let mut s: Vec<char> = cased.chars().collect();
                s[i] = c;
                spellings.push(s.into_iter().collect());
            }
        }
    }
    for raw in &spellings {
        match canonical_name(raw) {
            Ok(name) => assert_eq!(name, ROOT, "{raw:?}"),
            Err(PolicyError::InvalidName { .. }) => {}
            Err(e) => panic!("{raw:?}: {e}"),
        }
        // And none of them can be written as a policy.
        assert!(parse(raw, "").is_err(), "{raw:?}");
    }
    assert_eq!(
        parse("ROOT", ""),
        Err(PolicyError::Reserved("root".to_owned()))
    );
    assert_eq!(parse(" Default", "").unwrap().name(), DEFAULT);
}

#[test]
fn a_mount_is_reached_by_any_rule_that_grants_something_under_it() {
    let cases: &[(&str, &str, bool)] = &[
        (
            r#"path "secret/data/app" { capabilities = ["read"] }"#,
            "secret/",
            true,
        ),
        (SECRET_READ, "secret/", true),
        (
            r#"path "+/data/*" { capabilities = ["read"] }"#,
            "secret/",
            true,
        ),
        (
            r#"path "sec*" { capabilities = ["read"] }"#,
            "secret/",
            true,
        ),
        (
            r#"path "secret/+/app" { capabilities = ["list"] }"#,
            "secret/",
            true,
        ),
        (SECRET_DENY, "secret/", false),
        (SECRET_READ, "database/", false),
        (
            r#"path "secretive/*" { capabilities = ["read"] }"#,
            "secret/",
            false,
        ),
        (
            r#"path "other/+/x" { capabilities = ["read"] }"#,
            "secret/",
            false,
        ),
        (r#"path "secret/*" { capabilities = [] }"#, "secret/", false),
    ];
    for (text, mount, want) in cases {
        assert_eq!(
            acl_of(&[text]).reaches_under(mount),
            *want,
            "{text} on {mount}"
        );
    }
    assert!(Acl::new(&[crate::policy::root_policy()]).reaches_under("anything/"));
}

#[test]
fn a_templated_deny_that_cannot_be_filled_denies_more_not_less() {
    let text = r#"
        path "secret/*" { capabilities = ["read"] }
        path "secret/{{identity.entity.metadata.team}}/*" { capabilities = ["deny"] }
        path "kv/{{identity.entity.name}}/*" { capabilities = ["read"] }
    "#;
    let policy = parse("p", text).unwrap();
    let acl_for = |identity: Option<&template::IdentityContext>| {
        Acl::new(&[std::sync::Arc::new(policy.for_identity(identity))])
    };
    let filled = template::IdentityContext {
        entity_name: "alice".into(),
        metadata: [("team".to_owned(), "red".to_owned())].into(),
        ..template::IdentityContext::default()
    };
    let acl = acl_for(Some(&filled));
    assert!(!acl.check(Operation::Read, "secret/red/x", None).allowed);
    assert!(acl.check(Operation::Read, "secret/blue/x", None).allowed);
    assert!(acl.check(Operation::Read, "kv/alice/x", None).allowed);
    // No team: the deny cannot say which team's space it guards, so it
    // guards all of secret/ that the template could have named; the allow
    // that cannot be filled grants nothing.
    let unfilled = template::IdentityContext {
        entity_name: "alice".into(),
        ..template::IdentityContext::default()
    };
    for identity in [Some(&unfilled), None] {
        let acl = acl_for(identity);
        assert!(!acl.check(Operation::Read, "secret/red/x", None).allowed);
        assert!(!acl.check(Operation::Read, "secret/blue/x", None).allowed);
        if identity.is_none() {
            assert!(!acl.check(Operation::Read, "kv/alice/x", None).allowed);
        }
    }
}

#[test]
fn wrapping_bounds_are_read_merged_and_judged() {
    let strict = r#"path "secret/*" { capabilities = ["read"] min_wrapping_ttl = "30s" max_wrapping_ttl = 120 }"#;
    let acl = acl_of(&[strict]);
    let bounds = acl.check(Op::Read, "secret/x", None).wrapping;
    assert_eq!(
        bounds,
        WrapBounds {
            min: 30_000,
            max: 120_000
        }
    );
    assert!(
        bounds
            .refusal(None)
            .unwrap()
            .contains("requires the response to be wrapped")
    );
    assert!(
        bounds
            .refusal(Some(10_000))
            .unwrap()
            .contains("below the minimum")
    );
    assert!(
        bounds
            .refusal(Some(300_000))
            .unwrap()
            .contains("above the maximum")
    );
    assert_eq!(bounds.refusal(Some(60_000)), None);
    // Merged to the most permissive: the lowest minimum, the highest maximum.
    let loose = r#"path "secret/*" { capabilities = ["list"] min_wrapping_ttl = "10s" max_wrapping_ttl = "10m" }"#;
    let merged = acl_of(&[strict, loose])
        .check(Op::Read, "secret/x", None)
        .wrapping;
    assert_eq!(
        merged,
        WrapBounds {
            min: 10_000,
            max: 600_000
        }
    );
    // No bound: nothing is asked of the request; root has none.
    let plain = acl_of(&[r#"path "secret/*" { capabilities = ["read"] }"#]);
    assert_eq!(
        plain
            .check(Op::Read, "secret/x", None)
            .wrapping
            .refusal(None),
        None
    );
    // A minimum above the maximum is refused, naming both.
    let e = parse(
        "p",
        r#"path "a" { min_wrapping_ttl = "5m" max_wrapping_ttl = "1m" }"#,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("min_wrapping_ttl is above max_wrapping_ttl"),
        "{e}"
    );
    let e = parse("p", r#"path "a" { min_wrapping_ttl = "soon" }"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("soon"), "{e}");
    // The wrapping tokens' policy is built in: no stored policy takes its name.
    assert!(matches!(
        parse(RESPONSE_WRAPPING, "path \"a\" {}"),
        Err(PolicyError::Reserved(_))
    ));
}
