//! What every front end turns a call into, and what comes back: [`Request`],
//! [`Response`], [`Operation`]; and the [`Caller`] the pipeline admitted.

use std::fmt;

/// What a request does to its path. Vault's operations: a write is `Create` when
/// nothing exists at the path yet and `Update` when something does, so that a
/// policy can allow one without the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    /// Read a value.
    Read,
    /// Write where nothing exists yet.
    Create,
    /// Write over what exists.
    Update,
    /// Merge into what exists.
    Patch,
    /// Remove.
    Delete,
    /// List the children of a path.
    List,
}

impl Operation {
    /// The name used in audit entries and errors (`read`, `create`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Read => "read",
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Patch => "patch",
            Operation::Delete => "delete",
            Operation::List => "list",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The data of a request or response: a JSON object.
pub type Data = serde_json::Map<String, serde_json::Value>;

/// One call into the vault, whatever front end it came through. Its `Debug`
/// shows the data's keys, never their values (passwords, secret_ids, tokens).
#[derive(Clone)]
pub struct Request {
    /// Unique per request; shared by its audit entries.
    pub id: String,
    /// What to do.
    pub operation: Operation,
    /// Where, as the caller wrote it (normalised once by the pipeline).
    pub path: String,
    /// The request body.
    pub data: Data,
    /// The caller's token, if any.
    pub token: Option<crate::secret::SecretString>,
    /// The caller's address, for CIDR-bound roles and tokens and the audit log.
    pub remote_addr: Option<std::net::IpAddr>,
    /// Login MFA passcodes sent with a login (`X-Vault-MFA: method:passcode`,
    /// one per header), so that a login covered by MFA completes at once.
    pub mfa: Vec<crate::secret::SecretString>,
    /// The wrapping TTL asked for, as the caller wrote it (`X-Vault-Wrap-TTL`:
    /// `30s`, `5m`, a number of seconds; `None` or `0`: no wrapping). The
    /// pipeline reads it once and refuses text that is not a duration.
    pub wrap_ttl: Option<String>,
}

impl Request {
    /// A request with a fresh id and no token, body or address.
    pub fn new(operation: Operation, path: impl Into<String>) -> Self {
        Request {
            id: crate::random::request_id(),
            operation,
            path: path.into(),
            data: Data::new(),
            token: None,
            remote_addr: None,
            mfa: Vec::new(),
            wrap_ttl: None,
        }
    }

    /// The same request with `token`.
    pub fn with_token(mut self, token: &str) -> Self {
        self.token = Some(crate::secret::SecretString::from(token));
        self
    }

    /// The same request with `data`.
    pub fn with_data(mut self, data: Data) -> Self {
        self.data = data;
        self
    }
}

/// Who is calling, once the pipeline has checked the token and the ACL:
/// what every handler behind `Vault::handle` is told of the caller.
#[derive(Debug, Default)]
pub struct Caller {
    /// The caller's token entry (`None` on a path that takes no token: a
    /// login, a share holder's rekey step).
    pub token: Option<crate::token::TokenEntry>,
    /// The ACL's `sudo` for the path.
    pub sudo: bool,
    /// The token's entity as of this request (`None`: the token has none,
    /// or it no longer exists).
    pub identity: Option<std::sync::Arc<crate::identity::Resolved>>,
    /// On `sys/wrapping/{unwrap,lookup,rewrap}`: the accessor of the live
    /// wrapping token the request names, for the audit log (a second
    /// party's attempt shows under the same accessor).
    pub wrapping_accessor: Option<String>,
}

impl Caller {
    /// A caller without a token.
    pub const ANONYMOUS: Caller = Caller {
        token: None,
        sudo: false,
        identity: None,
        wrapping_accessor: None,
    };

    /// The token's display name (`approle`, `userpass-alice`); empty
    /// without a token.
    pub fn display_name(&self) -> &str {
        self.token.as_ref().map_or("", |t| t.display_name.as_str())
    }
}

/// What a request produced. Its `Debug` shows the data's keys, never values.
#[derive(Clone, Default, PartialEq)]
pub struct Response {
    /// The response body.
    pub data: Option<Data>,
    /// Things the caller should know (a TTL was capped, ...).
    pub warnings: Vec<String>,
    /// Set by logins and token creation: the token made.
    pub auth: Option<Auth>,
    /// Set by an auth method's login handler: the token to make. The pipeline
    /// turns it into an orphan token (under the auth mount's TTL limits) and
    /// answers with [`Response::auth`]; it never reaches the caller as is.
    pub login: Option<LoginGrant>,
    /// Set by an engine that issued a secret with a lease (a database
    /// credential). The pipeline stores the lease and answers with
    /// [`Response::lease`]; it never reaches the caller as is.
    pub secret: Option<SecretGrant>,
    /// The lease on the secret in `data`, as returned to the caller.
    pub lease: Option<LeaseInfo>,
    /// Set instead of everything else when the response was wrapped: the
    /// single-use token that unwraps it (see [`crate::wrapping`]).
    pub wrap_info: Option<WrapInfo>,
}

/// What a wrapped response is answered with (Vault's `wrap_info`). Its
/// `Debug` never shows the token.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct WrapInfo {
    /// The wrapping token: one unwrap, then gone.
    pub token: String,
    /// Its accessor.
    pub accessor: String,
    /// Seconds it lives.
    pub ttl: u64,
    /// When it was made, RFC 3339.
    pub creation_time: String,
    /// The path whose response it wraps.
    pub creation_path: String,
    /// The accessor of what it wraps (a token's, a secret ID's); empty if none.
    pub wrapped_accessor: String,
}

impl fmt::Debug for WrapInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrapInfo")
            .field("token", &"<redacted>")
            .field("accessor", &self.accessor)
            .field("ttl", &self.ttl)
            .field("creation_path", &self.creation_path)
            .finish_non_exhaustive()
    }
}

/// What an engine asks for when it issues a leased secret (TTLs in ms; 0 means
/// the mount's default TTL and max TTL).
#[derive(Clone, PartialEq)]
pub struct SecretGrant {
    /// The lease's id, made with [`crate::expiration::new_lease_id`] from the
    /// full request path, so the engine can record it before the secret exists.
    pub lease_id: String,
    /// The TTL granted now.
    pub ttl: u64,
    /// The most the lease may live, renewals included.
    pub max_ttl: u64,
    /// Whether it may be renewed.
    pub renewable: bool,
    /// What the engine needs to renew and revoke it (never shown to callers;
    /// stored behind the barrier).
    pub internal: serde_json::Value,
}

impl fmt::Debug for SecretGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretGrant")
            .field("lease_id", &self.lease_id)
            .field("ttl", &self.ttl)
            .field("max_ttl", &self.max_ttl)
            .field("renewable", &self.renewable)
            .field("internal", &"<redacted>")
            .finish()
    }
}

/// A lease as the caller sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LeaseInfo {
    /// The id to renew or revoke it by.
    pub lease_id: String,
    /// Seconds until it expires.
    pub lease_duration: u64,
    /// Whether it may be renewed.
    pub renewable: bool,
}

/// What an auth method grants on a successful login (TTLs in milliseconds; 0
/// means "the mount's default" for `ttl` and "none" for the others).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginGrant {
    /// Policies (canonical names; `default` is added unless `no_default_policy`).
    pub policies: Vec<String>,
    /// Leave out the `default` policy.
    pub no_default_policy: bool,
    /// TTL.
    pub ttl: u64,
    /// Hard limit.
    pub explicit_max_ttl: u64,
    /// Periodic TTL.
    pub period: u64,
    /// Uses (0: unlimited).
    pub num_uses: u64,
    /// Human name (the pipeline prefixes the mount type: `approle`, `userpass-alice`).
    pub display_name: String,
    /// Metadata shown on lookup (`role_name`, `username`).
    pub metadata: std::collections::BTreeMap<String, String>,
    /// Networks the token may be used from.
    pub bound_cidrs: Vec<String>,
    /// Who the caller is to this mount, for the identity store: the
    /// pipeline finds or makes the entity holding this alias and the token
    /// carries its id. `None` makes a token without an entity.
    pub alias: Option<AliasGrant>,
    /// Where this user's failed logins count on this mount, so that failed
    /// second factors (login MFA) count there too; `None`: under the alias
    /// name, by the default rules.
    pub lockout: Option<LoginLockout>,
}

/// The name a method counts a user's failed logins under, and the mount's
/// rules (see [`crate::auth::lockout`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginLockout {
    /// The record's name (`lockout/<name>` in the mount's view).
    pub name: String,
    /// The mount's threshold and duration.
    pub rules: crate::auth::lockout::Rules,
}

/// The entity alias a login names (see [`LoginGrant::alias`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AliasGrant {
    /// The name the method knows the caller by (a username, a JWT's `sub`).
    pub name: String,
    /// Shown on the alias (claims mapped by a JWT role, a service
    /// account's namespace); replaced at each login.
    pub metadata: std::collections::BTreeMap<String, String>,
    /// The caller's groups by their names on this mount, when the method
    /// knows them: the entity is made a member of the external groups whose
    /// aliases these are, and leaves the mount's others. `None` leaves
    /// membership as it is.
    pub groups: Option<Vec<String>>,
}

impl Response {
    /// A response carrying `data`.
    pub fn with_data(data: Data) -> Self {
        Response {
            data: Some(data),
            ..Response::default()
        }
    }
}

/// The token a login or token creation made, as returned to the caller. Its
/// `Debug` never shows the token. Serialised only into a wrapping token's
/// cubbyhole, behind the barrier.
#[derive(Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Auth {
    /// The token itself (returned once; stored only as a keyed hash).
    pub client_token: String,
    /// Its accessor.
    pub accessor: String,
    /// Every policy it holds now: its own and its entity's.
    pub policies: Vec<String>,
    /// The token's own policies.
    pub token_policies: Vec<String>,
    /// Its entity's and the entity's groups' policies, as of now.
    pub identity_policies: Vec<String>,
    /// Its entity (empty: none).
    pub entity_id: String,
    /// Seconds to live (0: no expiry).
    pub lease_duration: u64,
    /// Can it be renewed.
    pub renewable: bool,
    /// Free-form metadata.
    pub metadata: std::collections::BTreeMap<String, String>,
    /// Uses left (0: unlimited).
    pub num_uses: u64,
    /// Has no parent.
    pub orphan: bool,
    /// Set instead of a token when the login needs a second factor: what
    /// `sys/mfa/validate` completes it with.
    pub mfa_requirement: Option<MfaRequirement>,
}

/// A login waiting for its second factor (Vault's `auth.mfa_requirement`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MfaRequirement {
    /// What `sys/mfa/validate` names the login by.
    pub mfa_request_id: String,
    /// Per enforcement, the methods any one of which satisfies it:
    /// `{"<name>": {"any": [{"type": "totp", "id": ..., "uses_passcode": true}]}}`.
    pub mfa_constraints: serde_json::Value,
}

fn data_keys(data: &Data) -> Vec<&str> {
    data.keys().map(String::as_str).collect()
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("id", &self.id)
            .field("operation", &self.operation)
            .field("path", &self.path)
            .field("data_keys", &data_keys(&self.data))
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("remote_addr", &self.remote_addr)
            .field("mfa", &self.mfa.len())
            .field("wrap_ttl", &self.wrap_ttl)
            .finish()
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("data_keys", &self.data.as_ref().map(data_keys))
            .field("warnings", &self.warnings)
            .field("auth", &self.auth)
            .field("login", &self.login)
            .field("secret", &self.secret)
            .field("lease", &self.lease)
            .field("wrap_info", &self.wrap_info)
            .finish()
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("client_token", &"<redacted>")
            .field("accessor", &self.accessor)
            .field("policies", &self.policies)
            .field("entity_id", &self.entity_id)
            .field("lease_duration", &self.lease_duration)
            .field("renewable", &self.renewable)
            .field("num_uses", &self.num_uses)
            .field("orphan", &self.orphan)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_values_or_tokens() {
        let mut data = Data::new();
        data.insert("password".into(), "hunter2".into());
        let request = Request::new(Operation::Update, "auth/userpass/login/alice")
            .with_token("s.secret-token")
            .with_data(data.clone());
        let response = Response {
            data: Some(data),
            auth: Some(Auth {
                client_token: "s.minted-token".into(),
                ..Auth::default()
            }),
            ..Response::default()
        };
        let printed = format!("{request:?} {response:?}");
        assert!(printed.contains("password"));
        for secret in ["hunter2", "s.secret-token", "s.minted-token"] {
            assert!(!printed.contains(secret), "{printed}");
        }
    }
}
