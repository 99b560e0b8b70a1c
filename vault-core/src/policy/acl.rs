//! The compiled ACL: a token's policies merged and ordered once, so that deciding
//! a request is one hash lookup for exact patterns and, failing that, a walk down
//! a tree of wildcard patterns that looks only at patterns sharing the path's
//! leading segments and stops at the first match, with no allocation.
//!
//! The precedence and parameter rules are described in the module docs of
//! [`crate::policy`].

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::{Capabilities, Capability, PathRule, Policy, ROOT, WrapBounds, values};
use crate::request::Operation;

/// The merged rules of a set of policies, ready to decide requests.
#[derive(Debug)]
pub struct Acl {
    root: bool,
    /// The names reported for a root decision (`["root"]`), empty otherwise.
    root_names: Vec<String>,
    exact: HashMap<Box<str>, Rule>,
    wildcards: WildcardTree,
}

/// What [`Acl::check`] decided. `#[must_use]`: a decision means nothing until
/// `allowed` is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a decision does nothing until `allowed` is checked"]
pub struct AclDecision<'a> {
    /// Whether the request may go ahead.
    pub allowed: bool,
    /// Whether the winning rule grants `sudo` (always for root). Callers refuse
    /// root-protected paths without it. False when the request is denied.
    pub sudo: bool,
    /// Why: the grant, or the first rule the request broke. Safe to log; like
    /// Vault's bare 403 it names no parameter or value.
    pub reason: DecisionReason,
    /// The winning pattern, if one matched.
    pub pattern: Option<&'a str>,
    /// The policies that hold the winning pattern (`["root"]` for root), for the
    /// audit log's granting policies.
    pub policies: &'a [String],
    /// The winning rule's wrapping bounds (none for root), which the
    /// pipeline holds the request's wrapping TTL to.
    pub wrapping: WrapBounds,
}

/// Why an [`AclDecision`] went the way it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecisionReason {
    /// The token has the root policy.
    Root,
    /// The winning rule grants the operation and its parameters pass.
    Granted,
    /// No pattern of any policy matches the path.
    NoMatchingRule,
    /// The winning pattern carries `deny`.
    ExplicitDeny,
    /// The winning rule lacks the operation's capability.
    MissingCapability,
    /// A `required_parameters` key is absent.
    MissingRequiredParameter,
    /// A key or value is in `denied_parameters`.
    DeniedParameter,
    /// A key or value is outside a non-empty `allowed_parameters`.
    ParameterNotAllowed,
}

impl fmt::Display for DecisionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecisionReason::Root => "granted by the root policy",
            DecisionReason::Granted => "granted",
            DecisionReason::NoMatchingRule => "no policy grants access to the path",
            DecisionReason::ExplicitDeny => "denied by policy",
            DecisionReason::MissingCapability => "the policy lacks the capability",
            DecisionReason::MissingRequiredParameter => "a required parameter is missing",
            DecisionReason::DeniedParameter => "a parameter is denied",
            DecisionReason::ParameterNotAllowed => "a parameter is not allowed",
        })
    }
}

impl Acl {
    /// Compiles `policies`: merges rules with identical patterns and orders the
    /// wildcard patterns by precedence. A set holding the root policy is root.
    pub fn new(policies: &[Arc<Policy>]) -> Acl {
        let root = policies.iter().any(|p| p.is_root());
        let mut merged: BTreeMap<&str, Rule> = BTreeMap::new();
        for policy in policies {
            for rule in policy.rules() {
                merged
                    .entry(rule.pattern.as_str())
                    .or_insert_with(|| Rule::new(&rule.pattern))
                    .merge(policy.name(), rule);
            }
        }
        let mut exact = HashMap::new();
        let mut wildcards = WildcardTree::default();
        for (text, mut rule) in merged {
            rule.finish();
            match Pattern::compile(text) {
                None => {
                    exact.insert(Box::from(text), rule);
                }
                Some(pattern) => wildcards.insert(Wildcard { pattern, rule }),
            }
        }
        wildcards.sort();
        Acl {
            root,
            root_names: if root {
                vec![ROOT.to_owned()]
            } else {
                Vec::new()
            },
            exact,
            wildcards,
        }
    }

    /// Whether the set holds the root policy.
    pub fn is_root(&self) -> bool {
        self.root
    }

    /// What the token may do on `path`, as `token capabilities` shows it: every
    /// capability but `deny` for root, only `deny` for a denied pattern, nothing
    /// when no pattern matches.
    pub fn capabilities(&self, path: &str) -> Capabilities {
        if self.root {
            return Capabilities::ROOT;
        }
        self.winner(path, false)
            .map_or(Capabilities::NONE, |r| r.capabilities)
    }

    /// Decides whether `op` on `path` with the request data `params` is allowed.
    /// `None` data counts as empty: it does not satisfy `required_parameters`.
    pub fn check(
        &self,
        op: Operation,
        path: &str,
        params: Option<&Map<String, Value>>,
    ) -> AclDecision<'_> {
        if self.root {
            return AclDecision {
                allowed: true,
                sudo: true,
                reason: DecisionReason::Root,
                pattern: None,
                policies: &self.root_names,
                wrapping: WrapBounds::default(),
            };
        }
        let Some(rule) = self.winner(path, op == Operation::List) else {
            return AclDecision {
                allowed: false,
                sudo: false,
                reason: DecisionReason::NoMatchingRule,
                pattern: None,
                policies: &[],
                wrapping: WrapBounds::default(),
            };
        };
        let verdict = if rule.capabilities.contains(Capability::Deny) {
            Err(DecisionReason::ExplicitDeny)
        } else if !rule.capabilities.contains(Capabilities::from_operation(op)) {
            Err(DecisionReason::MissingCapability)
        } else if matches!(op, Operation::Create | Operation::Update | Operation::Patch) {
            rule.check_parameters(params)
        } else {
            Ok(())
        };
        let allowed = verdict.is_ok();
        AclDecision {
            allowed,
            sudo: allowed && rule.capabilities.contains(Capability::Sudo),
            reason: verdict.err().unwrap_or(DecisionReason::Granted),
            pattern: Some(&rule.pattern),
            policies: &rule.policies,
            wrapping: rule.wrapping,
        }
    }

    /// Whether any rule grants something (other than `deny`) on `mount` or
    /// below it: Vault's test for showing a token a mount it may use
    /// (`sys/internal/ui/mounts`). A rule counts when its pattern lies under
    /// the mount, or could match a path under it (`secret/*`, `+/data/*`).
    /// Like Vault's, it is a visibility test, not a decision: a deny on a more
    /// specific path does not hide the mount.
    pub fn reaches_under(&self, mount: &str) -> bool {
        if self.root {
            return true;
        }
        let grants = |rule: &Rule| {
            !rule.capabilities.is_empty() && !rule.capabilities.contains(Capability::Deny)
        };
        let exact = self
            .exact
            .iter()
            .any(|(pattern, rule)| pattern.starts_with(mount) && grants(rule));
        exact
            || self.wildcards.any(&mut |w| {
                let literal = &*w.pattern.literal;
                let overlaps = literal.starts_with(mount)
                    || (mount.starts_with(literal)
                        && (w.pattern.prefix || !w.pattern.segments.is_empty()));
                overlaps && grants(&w.rule)
            })
    }

    /// The rule of the most specific pattern matching `path`.
    fn winner(&self, path: &str, list: bool) -> Option<&Rule> {
        if let Some(rule) = self.exact.get(path) {
            return Some(rule);
        }
        if list && let Some(rule) = path.strip_suffix('/').and_then(|p| self.exact.get(p)) {
            return Some(rule);
        }
        self.wildcards.winner(path, path).map(|w| &w.rule)
    }
}

/// All the rules of one pattern, merged across policies.
#[derive(Debug)]
struct Rule {
    pattern: Box<str>,
    capabilities: Capabilities,
    required: Vec<String>,
    allowed: BTreeMap<String, Vec<Value>>,
    denied: BTreeMap<String, Vec<Value>>,
    policies: Vec<String>,
    wrapping: WrapBounds,
}

impl Rule {
    fn new(pattern: &str) -> Rule {
        Rule {
            pattern: Box::from(pattern),
            capabilities: Capabilities::NONE,
            required: Vec::new(),
            allowed: BTreeMap::new(),
            denied: BTreeMap::new(),
            policies: Vec::new(),
            wrapping: WrapBounds::default(),
        }
    }

    fn merge(&mut self, policy: &str, rule: &PathRule) {
        self.capabilities |= rule.capabilities;
        self.required
            .extend(rule.required_parameters.iter().cloned());
        merge_values(&mut self.allowed, &rule.allowed_parameters);
        merge_values(&mut self.denied, &rule.denied_parameters);
        self.wrapping = self.wrapping.merge(rule.wrapping);
        if !self.policies.iter().any(|p| p == policy) {
            self.policies.push(policy.to_owned());
        }
    }

    fn finish(&mut self) {
        if self.capabilities.contains(Capability::Deny) {
            self.capabilities = Capabilities::DENY;
        }
        self.required.sort();
        self.required.dedup();
    }

    fn check_parameters(&self, params: Option<&Map<String, Value>>) -> Result<(), DecisionReason> {
        for name in &self.required {
            if !params.is_some_and(|p| p.keys().any(|k| same_key(k, name))) {
                return Err(DecisionReason::MissingRequiredParameter);
            }
        }
        let Some(params) = params.filter(|p| !p.is_empty()) else {
            return Ok(());
        };
        if !self.denied.is_empty() {
            if self.denied.contains_key("*") {
                return Err(DecisionReason::DeniedParameter);
            }
            for (key, value) in params {
                if let Some(denied) = lookup(&self.denied, key)
                    && (denied.is_empty() || values::denied(denied, value))
                {
                    return Err(DecisionReason::DeniedParameter);
                }
            }
        }
        if self.allowed.is_empty() {
            return Ok(());
        }
        let others = self.allowed.get("*");
        for (key, value) in params {
            let Some(allowed) = lookup(&self.allowed, key).or(others) else {
                return Err(DecisionReason::ParameterNotAllowed);
            };
            if !allowed.is_empty() && !values::allowed(allowed, value) {
                return Err(DecisionReason::ParameterNotAllowed);
            }
        }
        Ok(())
    }
}

/// Merges per-key value lists, where an empty list means "every value" and so
/// absorbs any other list.
fn merge_values(into: &mut BTreeMap<String, Vec<Value>>, from: &BTreeMap<String, Vec<Value>>) {
    for (key, values) in from {
        match into.get_mut(key) {
            None => {
                into.insert(key.clone(), values.clone());
            }
            Some(existing) if existing.is_empty() => {}
            Some(existing) if values.is_empty() => existing.clear(),
            Some(existing) => {
                for v in values {
                    if !existing.contains(v) {
                        existing.push(v.clone());
                    }
                }
            }
        }
    }
}

/// Whether the request key `key` is the (lower-case) policy key `name`.
fn same_key(key: &str, name: &str) -> bool {
    key == name || key.chars().flat_map(char::to_lowercase).eq(name.chars())
}

/// The list for a request key in a map of lower-case keys, without allocating.
fn lookup<'m>(map: &'m BTreeMap<String, Vec<Value>>, key: &str) -> Option<&'m Vec<Value>> {
    if key.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        return map.get(key);
    }
    map.iter().find(|(k, _)| same_key(key, k)).map(|(_, v)| v)
}

/// Wildcard patterns filed by the complete segments of their literal part (the
/// text before the first wildcard): `secret/data/+/x` under `secret` -> `data`,
/// `secret/foo*` under `secret`, `pfx*` and `+/x` at the top.
///
/// Why the deepest match wins: a pattern filed at depth `d` on a path's way has a
/// literal covering the path's first `d` segments and their `/`s. A pattern filed
/// higher that matches the same path has a literal that is a prefix of the path
/// ending before the `d`-th `/`. So the deeper one's first wildcard comes later,
/// which is the first rule of precedence. Within one node, the list is in
/// precedence order.
#[derive(Debug, Default)]
struct WildcardTree {
    children: HashMap<Box<str>, WildcardTree>,
    /// Most specific first.
    here: Vec<Wildcard>,
}

impl WildcardTree {
    fn insert(&mut self, wildcard: Wildcard) {
        let mut node = self;
        let mut rest = &*wildcard.pattern.literal;
        while let Some((segment, tail)) = rest.split_once('/') {
            node = node.children.entry(Box::from(segment)).or_default();
            rest = tail;
        }
        node.here.push(wildcard);
    }

    fn sort(&mut self) {
        self.here.sort_by(|a, b| b.specificity(a));
        for child in self.children.values_mut() {
            child.sort();
        }
    }

    /// Whether `f` holds for any pattern of the tree.
    fn any(&self, f: &mut impl FnMut(&Wildcard) -> bool) -> bool {
        self.here.iter().any(&mut *f) || self.children.values().any(|c| c.any(f))
    }

    /// The most specific pattern matching `path`, `rest` being what is left of
    /// it below this node. Recursion is bounded by the depth of the tree, which
    /// the policies' patterns set, not by the path.
    fn winner(&self, path: &str, rest: &str) -> Option<&Wildcard> {
        if let Some((segment, tail)) = rest.split_once('/')
            && let Some(child) = self.children.get(segment)
            && let Some(found) = child.winner(path, tail)
        {
            return Some(found);
        }
        self.here.iter().find(|w| w.pattern.matches(path))
    }
}

#[derive(Debug)]
struct Wildcard {
    pattern: Pattern,
    rule: Rule,
}

impl Wildcard {
    /// `Greater` when `self` is more specific than `other` (see the precedence
    /// in the module docs of [`crate::policy`]).
    fn specificity(&self, other: &Wildcard) -> Ordering {
        let (a, b) = (&self.pattern, &other.pattern);
        a.first_wildcard
            .cmp(&b.first_wildcard)
            .then(b.prefix.cmp(&a.prefix))
            .then(b.plus_segments.cmp(&a.plus_segments))
            .then(self.rule.pattern.len().cmp(&other.rule.pattern.len()))
            .then(self.rule.pattern.cmp(&other.rule.pattern))
    }
}

/// A pattern with a wildcard, taken apart for matching.
#[derive(Debug)]
struct Pattern {
    /// The text before the first wildcard: every match starts with it, so most
    /// patterns are ruled out by one comparison.
    literal: Box<str>,
    /// The segments from the first `+` to a trailing `*`; empty when there is
    /// no `+`, because then `literal` alone decides.
    segments: Vec<Segment>,
    /// Ends in `*`.
    prefix: bool,
    /// Byte offset of the first `+` segment or of the trailing `*`.
    first_wildcard: usize,
    plus_segments: usize,
}

#[derive(Debug)]
enum Segment {
    /// `+`: one non-empty segment.
    Any,
    Literal(Box<str>),
}

impl Pattern {
    /// `None` for a pattern without wildcards, which is matched exactly.
    fn compile(text: &str) -> Option<Pattern> {
        let (body, prefix) = match text.strip_suffix('*') {
            Some(body) => (body, true),
            None => (text, false),
        };
        let mut first_plus = None;
        let mut plus_segments = 0;
        let mut offset = 0;
        for part in body.split('/') {
            if part == "+" {
                first_plus.get_or_insert(offset);
                plus_segments += 1;
            }
            offset += part.len() + 1;
        }
        if !prefix && plus_segments == 0 {
            return None;
        }
        let first_wildcard = first_plus.unwrap_or(body.len());
        // A `+` segment starts after a `/` or at 0, so these are char
        // boundaries; `get` keeps them panic-free regardless.
        let literal = body.get(..first_wildcard).unwrap_or("");
        let segments = match first_plus.and_then(|at| body.get(at..)) {
            None => Vec::new(),
            Some(rest) => rest
                .split('/')
                .map(|part| match part {
                    "+" => Segment::Any,
                    _ => Segment::Literal(Box::from(part)),
                })
                .collect(),
        };
        Some(Pattern {
            literal: Box::from(literal),
            segments,
            prefix,
            first_wildcard,
            plus_segments,
        })
    }

    fn matches(&self, path: &str) -> bool {
        if !path.starts_with(&*self.literal) {
            return false;
        }
        if self.segments.is_empty() {
            // A plain prefix pattern: the literal is everything before the `*`.
            return true;
        }
        // The literal ends at a segment boundary (just before the first `+`),
        // so the segments are matched against the rest of the path.
        let Some(rest) = path.get(self.literal.len()..) else {
            return false;
        };
        let mut parts = rest.split('/');
        let last = self.segments.len() - 1;
        for (i, segment) in self.segments.iter().enumerate() {
            let Some(part) = parts.next() else {
                return false;
            };
            let ok = match segment {
                Segment::Any => !part.is_empty(),
                Segment::Literal(lit) if i == last && self.prefix => part.starts_with(&**lit),
                Segment::Literal(lit) => part == &**lit,
            };
            if !ok {
                return false;
            }
        }
        self.prefix || parts.next().is_none()
    }
}
