//! Policies: Vault-style documents that say which capabilities a token has on
//! which paths ([`parse`]), and the [`Acl`] that a token's policies compile into
//! to decide each request (step 3 of the request path in `DESIGN.md`).
//!
//! # Patterns
//!
//! A rule's pattern is matched against the request path (already normalised, no
//! leading `/`):
//!
//! - no wildcard: the path must equal the pattern;
//! - a trailing `*`: the path must start with what precedes the `*`
//!   (`secret/foo*` matches `secret/foo`, `secret/foobar` and `secret/foo/bar`);
//!   a `*` anywhere else is refused by the parser;
//! - a segment that is exactly `+` matches one non-empty segment (never a `/`);
//!   it may appear several times and combines with a trailing `*`
//!   (`secret/+/data/*`). A `+` inside a segment (`c++`) is a literal.
//!
//! # Precedence
//!
//! Every rule of every policy whose pattern matches counts, but only for the
//! single most specific pattern:
//!
//! 1. Rules with the identical pattern text, in one policy or several, merge:
//!    capabilities are united, and if the union holds `deny` it is `deny` alone
//!    (deny always wins within a pattern). Parameter constraints merge too (see
//!    below).
//! 2. An exact pattern (no wildcard) beats every wildcard pattern. For a `list`,
//!    an exact pattern equal to the path without its trailing `/` also counts, as
//!    in Vault (`vault list secret/metadata/a` sends `secret/metadata/a/`).
//! 3. Between two wildcard patterns the more specific is, in order, the one
//!    - whose first wildcard (`+` segment or trailing `*`) occurs later;
//!    - that does not end in `*`;
//!    - with fewer `+` segments;
//!    - that is longer;
//!    - that is lexicographically larger.
//!
//! Only the winner's capabilities count: a specific `deny` beats a general grant,
//! and a specific grant beats a general `deny`. No matching pattern means no
//! capability at all (deny by default).
//!
//! # Parameters
//!
//! For `create`, `update` and `patch` the winning rule also constrains the
//! request's data (keys compare case-insensitively, as in Vault):
//!
//! - `required_parameters`: each must be present;
//! - `denied_parameters`: a key with `[]` is refused whatever its value; with
//!   values, only those values. The key `*` refuses every key;
//! - `allowed_parameters`: when not empty, every key must be listed or `*` must
//!   be; a key's non-empty list restricts its value to those values. A key listed
//!   with values is restricted by them even when `*` is present (Vault's
//!   documented behaviour).
//!
//! A value is judged as the engines read it (`values`), through the same
//! readers of `crate::params` the engines use: `"web,admin"` is the list `web`,
//! `admin`, and is refused by a denied `admin` and by an allowed list without
//! `admin`; `"no"`, `"f"` and `0` are `false`; `"3"` is `3`; `"1h"` is `3600`.
//! A denied value is refused if any reading of any item hits (refusing too much
//! is the safe side); an allowed one passes only if every item it holds as a
//! list is allowed, compared as the allowed entry's type says. Vault compares
//! the raw value instead, so there a comma-separated string slips past a
//! denied list item.
//!
//! A string in a value list that ends in `*` matches by prefix (`"prod-*"`).
//! Merging the same pattern from several policies unites the required keys and,
//! per key, the value lists, where `[]` ("any value") absorbs any list. Note that
//! this unites maps as Vault does: a pattern with no `allowed_parameters` in one
//! policy and with some in another is restricted by them.
//!
//! # Names
//!
//! Policy names are canonical ([`canonical_name`]): trimmed, lower-case ASCII
//! letters, digits, `-`, `_`, `.` and `/`. Vault accepts more; we refuse the rest
//! so that no two names that look alike can name two policies (`root` spelled
//! with a zero-width space or a Cyrillic `о` is refused, `ROOT ` is `root`).
//!
//! # Not supported
//!
//! The legacy `policy = "read"` key, and Vault Enterprise's `control_group` /
//! `mfa_methods`: the parser refuses them rather than silently ignoring a
//! constraint an operator wrote.
//!
//! # Wrapping bounds
//!
//! `min_wrapping_ttl` and `max_wrapping_ttl` in a path block make the
//! response of a granted request wrapped (see [`crate::wrapping`]): with a
//! minimum, an unwrapped request is refused, and so is a wrapping TTL
//! outside the bounds. Merged across policies as the grants are, to the
//! most permissive: the lowest minimum and the highest maximum that any of
//! them sets.

mod acl;
mod parse;
pub(crate) mod store;
pub mod template;
#[cfg(test)]
mod tests;
mod values;

use std::collections::BTreeMap;
use std::fmt;
use std::ops::{BitOr, BitOrAssign};
use std::sync::{Arc, LazyLock};

use serde_json::Value;

use crate::request::Operation;

pub use acl::{Acl, AclDecision, DecisionReason};

/// The name of the built-in policy a wrapping token holds (Vault's); no
/// stored policy may take it. The pipeline judges wrapping tokens itself:
/// they may only unwrap, look up or rewrap what they wrap.
pub const RESPONSE_WRAPPING: &str = "response-wrapping";
pub use parse::parse;

/// The name of the built-in policy that grants everything. It is not made of
/// rules and cannot be written.
pub const ROOT: &str = "root";

/// The name of the built-in policy attached to every token unless asked
/// otherwise (see [`default_policy`]).
pub const DEFAULT: &str = "default";

/// Why a policy name or document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The name is empty, or holds a character a policy name may not have.
    #[error("invalid policy name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The name belongs to a built-in policy that cannot be written (`root`).
    #[error("policy name {0:?} is reserved for a built-in policy")]
    Reserved(String),
    /// The document is not a valid policy.
    #[error("policy {name:?}: line {line}, column {column}: {message}")]
    Parse {
        /// The policy's canonical name.
        name: String,
        /// 1-based line of the offending text.
        line: usize,
        /// 1-based column, in characters.
        column: usize,
        /// What is wrong.
        message: String,
    },
}

/// One thing a rule can allow on a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    /// Write where nothing exists yet.
    Create,
    /// Read.
    Read,
    /// Write over what exists.
    Update,
    /// Merge into what exists.
    Patch,
    /// Remove.
    Delete,
    /// List children.
    List,
    /// Use root-protected paths (together with the operation's own capability).
    Sudo,
    /// Nothing, whatever else the same pattern grants.
    Deny,
}

impl Capability {
    /// Every capability, in the order Vault lists them.
    pub const ALL: [Capability; 8] = [
        Capability::Create,
        Capability::Read,
        Capability::Update,
        Capability::Patch,
        Capability::Delete,
        Capability::List,
        Capability::Sudo,
        Capability::Deny,
    ];

    /// The name used in policies (`read`, `sudo`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Create => "create",
            Capability::Read => "read",
            Capability::Update => "update",
            Capability::Patch => "patch",
            Capability::Delete => "delete",
            Capability::List => "list",
            Capability::Sudo => "sudo",
            Capability::Deny => "deny",
        }
    }

    /// The capability named `name` exactly (names are lower case, as in Vault).
    pub fn from_name(name: &str) -> Option<Capability> {
        Capability::ALL.into_iter().find(|c| c.as_str() == name)
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of [`Capability`], one bit each.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Capabilities(u8);

impl Capabilities {
    /// No capability.
    pub const NONE: Capabilities = Capabilities(0);
    /// Only `deny`: what a denied pattern reports.
    pub const DENY: Capabilities = Capabilities(Capability::Deny.bit());
    /// What the root policy grants: every capability but `deny`.
    pub const ROOT: Capabilities = Capabilities(!Capability::Deny.bit());

    /// The capability an operation needs.
    pub fn from_operation(op: Operation) -> Capabilities {
        Capability::from(op).into()
    }

    /// Whether every capability of `other` is in this set.
    pub fn contains(self, other: impl Into<Capabilities>) -> bool {
        let other = other.into();
        self.0 & other.0 == other.0
    }

    /// Adds one capability.
    pub fn insert(&mut self, cap: Capability) {
        self.0 |= cap.bit();
    }

    /// The capabilities of both sets.
    pub fn union(self, other: Capabilities) -> Capabilities {
        Capabilities(self.0 | other.0)
    }

    /// Whether the set holds no capability.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The capabilities in the set, in [`Capability::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }

    /// The names of the capabilities in the set, as `token capabilities` shows them.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Capability::as_str).collect()
    }
}

impl From<Operation> for Capability {
    fn from(op: Operation) -> Capability {
        match op {
            Operation::Read => Capability::Read,
            Operation::Create => Capability::Create,
            Operation::Update => Capability::Update,
            Operation::Patch => Capability::Patch,
            Operation::Delete => Capability::Delete,
            Operation::List => Capability::List,
        }
    }
}

impl From<Capability> for Capabilities {
    fn from(cap: Capability) -> Capabilities {
        Capabilities(cap.bit())
    }
}

impl FromIterator<Capability> for Capabilities {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Capabilities {
        let mut set = Capabilities::NONE;
        for cap in iter {
            set.insert(cap);
        }
        set
    }
}

impl BitOr for Capabilities {
    type Output = Capabilities;
    fn bitor(self, rhs: Capabilities) -> Capabilities {
        self.union(rhs)
    }
}

impl BitOrAssign for Capabilities {
    fn bitor_assign(&mut self, rhs: Capabilities) {
        *self = self.union(rhs);
    }
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// Comma-separated names: `read, list`.
impl fmt::Display for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, cap) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(cap.as_str())?;
        }
        Ok(())
    }
}

/// One `path "<pattern>" { ... }` block. Only the parser and the built-ins make
/// them, so a rule's pattern has always been checked.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PathRule {
    /// The pattern, without a leading `/`.
    pub pattern: String,
    /// What the rule allows (`deny` included, if written).
    pub capabilities: Capabilities,
    /// Keys a write must carry (lower case).
    pub required_parameters: Vec<String>,
    /// Keys a write may carry, each with the values it may take (`[]`: any).
    /// Empty: no restriction.
    pub allowed_parameters: BTreeMap<String, Vec<Value>>,
    /// Keys a write may not carry, each with the values refused (`[]`: all).
    pub denied_parameters: BTreeMap<String, Vec<Value>>,
    /// The wrapping TTLs a granted request must ask for.
    pub wrapping: WrapBounds,
}

impl PathRule {
    fn new(pattern: String, capabilities: Capabilities) -> PathRule {
        PathRule {
            pattern,
            capabilities,
            required_parameters: Vec::new(),
            allowed_parameters: BTreeMap::new(),
            denied_parameters: BTreeMap::new(),
            wrapping: WrapBounds::default(),
        }
    }
}

/// A rule's `min_wrapping_ttl` and `max_wrapping_ttl`, in milliseconds (0:
/// not set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WrapBounds {
    /// Requests must be wrapped, for at least this long.
    pub min: u64,
    /// Wrapped requests may ask for at most this long.
    pub max: u64,
}

impl WrapBounds {
    /// Why a request asking for wrapping TTL `asked` (ms; `None`: not
    /// wrapped) breaks these bounds, if it does.
    pub fn refusal(self, asked: Option<u64>) -> Option<&'static str> {
        match asked {
            None if self.min > 0 => Some("this path's policy requires the response to be wrapped"),
            Some(ttl) if self.min > 0 && ttl < self.min => {
                Some("the wrapping TTL is below the minimum this path's policy sets")
            }
            Some(ttl) if self.max > 0 && ttl > self.max => {
                Some("the wrapping TTL is above the maximum this path's policy sets")
            }
            _ => None,
        }
    }

    /// Both bounds together, as the merge of two policies' grants: the
    /// lowest minimum and the highest maximum either sets.
    fn merge(self, other: WrapBounds) -> WrapBounds {
        let lowest = |a: u64, b: u64| match (a, b) {
            (0, x) | (x, 0) => x,
            (a, b) => a.min(b),
        };
        WrapBounds {
            min: lowest(self.min, other.min),
            max: self.max.max(other.max),
        }
    }
}

/// A named set of rules. Made by [`parse`], [`default_policy`] or
/// [`root_policy`].
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    name: String,
    rules: Vec<PathRule>,
    // Root is a flag, not rules: no rule set could express "every path,
    // including ones that do not exist yet, with sudo".
    root: bool,
    // Some rule's pattern holds a template: the policy is filled in per
    // request ([`Policy::for_identity`]) and its ACLs are not cached.
    templated: bool,
}

impl Policy {
    /// The canonical name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The rules, in document order (repeated patterns are merged by [`Acl`]).
    pub fn rules(&self) -> &[PathRule] {
        &self.rules
    }

    /// Whether this is the built-in root policy.
    pub fn is_root(&self) -> bool {
        self.root
    }

    /// Whether a rule's pattern holds a template
    /// (`{{identity.entity.name}}`).
    pub fn is_templated(&self) -> bool {
        self.templated
    }

    /// This policy with its templates filled from `identity`. A rule whose
    /// template cannot be filled (no identity, a missing value, a value
    /// holding a glob) grants nothing, and a `deny` rule then denies
    /// everything under the text before its template: a template never
    /// widens what a policy allows.
    pub fn for_identity(&self, identity: Option<&template::IdentityContext>) -> Policy {
        let rules = self
            .rules
            .iter()
            .filter_map(|rule| {
                if !template::is_templated(&rule.pattern) {
                    return Some(rule.clone());
                }
                let rendered = identity.and_then(|i| template::render(&rule.pattern, i).ok());
                let pattern = match rendered {
                    Some(pattern) => pattern,
                    // A deny that cannot say what it guards guards all the
                    // template could have named: everything under the text
                    // before the template.
                    None if rule.capabilities.contains(Capability::Deny) => {
                        let prefix = rule.pattern.split("{{").next().unwrap_or_default();
                        format!("{prefix}*")
                    }
                    // Anything else grants nothing.
                    None => return None,
                };
                Some(PathRule {
                    pattern,
                    ..rule.clone()
                })
            })
            .collect();
        Policy {
            name: self.name.clone(),
            rules,
            root: self.root,
            templated: false,
        }
    }
}

/// The built-in `root` policy: every capability, `sudo` included, on every path.
pub fn root_policy() -> Arc<Policy> {
    static ROOT_POLICY: LazyLock<Arc<Policy>> = LazyLock::new(|| {
        Arc::new(Policy {
            name: ROOT.to_owned(),
            rules: Vec::new(),
            root: true,
            templated: false,
        })
    });
    Arc::clone(&ROOT_POLICY)
}

/// The built-in `default` policy: what every token needs to manage itself.
///
/// A subset of Vault's: the token's own lookup, renew and revoke, its
/// capabilities, lease lookup and renewal, its cubbyhole, and response
/// wrapping (wrap, look up, unwrap). Vault's default policy also covers
/// `sys/tools/hash` and identity paths, which this vault does not serve
/// yet; they belong here when they exist.
pub fn default_policy() -> Policy {
    use Capability::{Create, Delete, List, Read, Update};
    const RULES: [(&str, Capability); 10] = [
        ("auth/token/lookup-self", Capability::Read),
        ("auth/token/renew-self", Capability::Update),
        ("auth/token/revoke-self", Capability::Update),
        ("sys/capabilities-self", Capability::Update),
        ("sys/leases/lookup", Capability::Update),
        ("sys/leases/renew", Capability::Update),
        ("sys/renew", Capability::Update),
        ("sys/wrapping/wrap", Capability::Update),
        ("sys/wrapping/lookup", Capability::Update),
        ("sys/wrapping/unwrap", Capability::Update),
    ];
    // The token's own cubbyhole: no other token reaches it whatever its
    // policies, so every token may use all of it.
    let cubbyhole = [Create, Read, Update, Delete, List]
        .into_iter()
        .fold(Capabilities::default(), |all, cap| all | cap.into());
    Policy {
        name: DEFAULT.to_owned(),
        rules: RULES
            .iter()
            .map(|&(pattern, cap)| PathRule::new(pattern.to_owned(), cap.into()))
            .chain([PathRule::new("cubbyhole/*".to_owned(), cubbyhole)])
            .collect(),
        root: false,
        templated: false,
    }
}

/// The canonical form of a policy name: surrounding whitespace trimmed, ASCII
/// lower-cased. Refused: an empty name, control characters, invisible or
/// formatting characters (zero-width spaces and joiners, BOM, soft hyphen, bidi
/// controls), anything but ASCII letters, digits, `-`, `_` and `.`, and the
/// names `.` and `..` (names become storage keys and URL path segments; a `/`
/// would make a policy that the policy list cannot show).
///
/// Non-ASCII is refused before lower-casing, so no character can lower-case into
/// a name it does not spell (the Kelvin sign `K` lower-cases to ASCII `k`).
pub fn canonical_name(raw: &str) -> Result<String, PolicyError> {
    let invalid = |reason| PolicyError::InvalidName {
        name: raw.to_owned(),
        reason,
    };
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(invalid("the name is empty"));
    }
    for c in trimmed.chars() {
        if c.is_control() {
            return Err(invalid("it contains a control character"));
        }
        if is_invisible(c) {
            return Err(invalid("it contains an invisible formatting character"));
        }
        if !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
            return Err(invalid(
                "only ASCII letters, digits, '-', '_' and '.' are allowed",
            ));
        }
    }
    let name = trimmed.to_ascii_lowercase();
    if name == "." || name == ".." {
        return Err(invalid("'.' and '..' are not names"));
    }
    Ok(name)
}

/// Characters that render as nothing, or reorder what is around them. All are
/// non-ASCII and refused anyway; naming them gives a clearer error.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{E0000}'..='\u{E007F}'
    )
}
