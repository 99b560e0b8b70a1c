//! The operator's paths: users (`users/<name>`, its `password`, `totp` and
//! `unlock`) and the mount's lockout settings (`config`). The pipeline's ACL has
//! decided who may call them; nothing here answers a login.

use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::record::{self, TotpEntry, UserEntry};
use super::{Userpass, totp};
use crate::auth::lockout;
use crate::barrier::{BarrierError, BarrierOp};
use crate::engines::{EngineError, View};
use crate::params::{self, FieldError};
use crate::request::{Data, Response};

/// The issuer authenticator apps show next to the account.
const TOTP_ISSUER: &str = "vault";

/// Bytes of a TOTP secret: 160 bits, the HMAC-SHA1 output size RFC 4226 asks for.
const TOTP_SECRET_LEN: usize = 20;

fn field<T>(r: Result<T, FieldError>) -> Result<T, EngineError> {
    r.map_err(|e| EngineError::InvalidRequest(e.to_string()))
}

/// The object inside a `json!({...})` literal.
fn object(value: Value) -> Data {
    match value {
        Value::Object(map) => map,
        _ => Data::new(),
    }
}

/// A non-empty `password` from the body, if given. The error never echoes it.
fn password(data: &Data) -> Result<Option<Zeroizing<String>>, EngineError> {
    match data.get("password") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(Zeroizing::new(s.clone()))),
        Some(Value::String(_)) => Err(EngineError::InvalidRequest(
            "password must not be empty".into(),
        )),
        Some(_) => Err(EngineError::InvalidRequest(
            "password must be a string".into(),
        )),
    }
}

/// `token_policies` (or Vault's older `policies`), canonical, sorted, without
/// repeats, if given. `root` is refused: as in Vault, an auth method never mints
/// a root token.
fn policies(data: &Data) -> Result<Option<Vec<String>>, EngineError> {
    let raw = match field(params::string_list(data, "token_policies"))? {
        Some(list) => list,
        None => match field(params::string_list(data, "policies"))? {
            Some(list) => list,
            None => return Ok(None),
        },
    };
    let mut out = Vec::with_capacity(raw.len());
    for name in raw.iter().filter(|n| !n.trim().is_empty()) {
        let name = crate::policy::canonical_name(name)
            .map_err(|e| EngineError::InvalidRequest(e.to_string()))?;
        if name == "root" {
            return Err(EngineError::InvalidRequest(
                "auth methods cannot create root tokens: remove \"root\" from token_policies"
                    .into(),
            ));
        }
        out.push(name);
    }
    out.sort();
    out.dedup();
    Ok(Some(out))
}

fn not_found(path: String) -> EngineError {
    EngineError::NotFound(path)
}

impl Userpass {
    /// `users/<name>` create or update: fields left out keep their value; a new
    /// user needs a password.
    pub(super) async fn write_user(
        &self,
        view: &View<'_>,
        name: &str,
        data: &Data,
    ) -> Result<Response, EngineError> {
        let policies = policies(data)?;
        let ttl = field(params::duration_ms(data, "token_ttl"))?;
        let max_ttl = field(params::duration_ms(data, "token_max_ttl"))?;
        // Hashed before the lock is taken: it is the slow part, and needs no
        // stored state.
        let hash = match password(data)? {
            Some(password) => Some(self.passwords.hash(password).await?),
            None => None,
        };
        let _guard = self.lock(view, name).await;
        let mut user = match record::load_user(view, name).await? {
            Some(user) => user,
            None if hash.is_some() => UserEntry::default(),
            None => {
                return Err(EngineError::InvalidRequest(
                    "missing password: a new user needs one".into(),
                ));
            }
        };
        if let Some(hash) = hash {
            user.password_hash = hash;
        }
        if let Some(policies) = policies {
            user.token_policies = policies;
        }
        if let Some(ttl) = ttl {
            user.token_ttl = ttl;
        }
        if let Some(max_ttl) = max_ttl {
            user.token_max_ttl = max_ttl;
        }
        if user.token_max_ttl != 0 && user.token_ttl > user.token_max_ttl {
            return Err(EngineError::InvalidRequest(
                "token_ttl cannot be greater than token_max_ttl".into(),
            ));
        }
        view.batch(vec![record::put(record::user_path(name), &user)?])
            .await?;
        Ok(Response::default())
    }

    /// `users/<name>` read: the token settings and whether a second factor is
    /// enrolled; never the hash.
    pub(super) async fn read_user(
        &self,
        view: &View<'_>,
        name: &str,
    ) -> Result<Response, EngineError> {
        let user = record::load_user(view, name)
            .await?
            .ok_or_else(|| not_found(format!("users/{name}")))?;
        let totp_enabled = view.get(&record::totp_path(name)).await?.is_some();
        Ok(Response::with_data(object(json!({
            "token_policies": user.token_policies,
            "policies": user.token_policies,
            "token_ttl": user.token_ttl / 1000,
            "token_max_ttl": user.token_max_ttl / 1000,
            "totp_enabled": totp_enabled,
        }))))
    }

    /// `users/<name>` delete: the user, its second factor and its failures,
    /// together. Deleting a missing user succeeds, as in Vault.
    pub(super) async fn delete_user(
        &self,
        view: &View<'_>,
        name: &str,
    ) -> Result<Response, EngineError> {
        let _guard = self.lock(view, name).await;
        let _record = lockout::lock(view, name).await;
        view.batch(vec![
            BarrierOp::Delete {
                path: record::user_path(name),
            },
            BarrierOp::Delete {
                path: record::totp_path(name),
            },
            BarrierOp::Delete {
                path: lockout::path(name),
            },
        ])
        .await?;
        Ok(Response::default())
    }

    /// `users/` list: the usernames, sorted.
    pub(super) async fn list_users(&self, view: &View<'_>) -> Result<Response, EngineError> {
        let keys = view.list(record::USER_FOLDER).await?;
        Ok(Response::with_data(object(json!({ "keys": keys }))))
    }

    /// `users/<name>/password` update: a new password for an existing user.
    pub(super) async fn reset_password(
        &self,
        view: &View<'_>,
        name: &str,
        data: &Data,
    ) -> Result<Response, EngineError> {
        let password = password(data)?
            .ok_or_else(|| EngineError::InvalidRequest("missing password".into()))?;
        let hash = self.passwords.hash(password).await?;
        let _guard = self.lock(view, name).await;
        let mut user = record::load_user(view, name)
            .await?
            .ok_or_else(|| not_found(format!("users/{name}")))?;
        user.password_hash = hash;
        view.batch(vec![record::put(record::user_path(name), &user)?])
            .await?;
        Ok(Response::default())
    }

    /// `users/<name>/totp` update: enrols the user in TOTP with a fresh secret,
    /// replacing any earlier one, and returns it once, as base32 and as an
    /// `otpauth://` URL. From then on every login needs a code.
    pub(super) async fn enrol_totp(
        &self,
        view: &View<'_>,
        name: &str,
    ) -> Result<Response, EngineError> {
        let mut secret = Zeroizing::new([0u8; TOTP_SECRET_LEN]);
        crate::random::fill(secret.as_mut_slice())
            .map_err(|e| EngineError::Barrier(BarrierError::Random(e)))?;
        let entry = TotpEntry {
            secret: totp::base32_encode(secret.as_slice()),
            last_step: None,
        };
        let _guard = self.lock(view, name).await;
        if record::load_user(view, name).await?.is_none() {
            return Err(not_found(format!("users/{name}")));
        }
        view.batch(vec![record::put(record::totp_path(name), &entry)?])
            .await?;
        tracing::info!(user = %name, "userpass: TOTP enrolled");
        Ok(Response::with_data(object(json!({
            "url": totp::otpauth_url(TOTP_ISSUER, name, &entry.secret),
            "secret": entry.secret,
        }))))
    }

    /// `users/<name>/totp` delete: logins need only the password again.
    pub(super) async fn remove_totp(
        &self,
        view: &View<'_>,
        name: &str,
    ) -> Result<Response, EngineError> {
        let _guard = self.lock(view, name).await;
        view.delete(&record::totp_path(name)).await?;
        tracing::info!(user = %name, "userpass: TOTP removed");
        Ok(Response::default())
    }

    /// `users/<name>/unlock` update: lifts a lockout and forgets the failures.
    pub(super) async fn unlock(
        &self,
        view: &View<'_>,
        name: &str,
    ) -> Result<Response, EngineError> {
        let _guard = self.lock(view, name).await;
        if record::load_user(view, name).await?.is_none() {
            return Err(not_found(format!("users/{name}")));
        }
        // Every address's failures: the operator vouched for the user.
        let _record = lockout::lock(view, name).await;
        view.delete(&lockout::path(name)).await?;
        tracing::info!(user = %name, "userpass: user unlocked");
        Ok(Response::default())
    }

    /// `config` read: the lockout settings in force (durations in seconds).
    pub(super) async fn read_config(&self, view: &View<'_>) -> Result<Response, EngineError> {
        let config = record::load_config(view).await?;
        Ok(Response::with_data(object(json!({
            "lockout_threshold": config.lockout_threshold,
            "lockout_duration": config.lockout_duration_ms / 1000,
        }))))
    }

    /// `config` create or update: changes only the settings given.
    pub(super) async fn write_config(
        &self,
        view: &View<'_>,
        data: &Data,
    ) -> Result<Response, EngineError> {
        let threshold = field(params::unsigned(data, "lockout_threshold"))?;
        let duration = field(params::duration_ms(data, "lockout_duration"))?;
        if threshold == Some(0) {
            return Err(EngineError::InvalidRequest(
                "lockout_threshold must be at least 1".into(),
            ));
        }
        if duration == Some(0) {
            return Err(EngineError::InvalidRequest(
                "lockout_duration must be longer than 0s".into(),
            ));
        }
        // Any string that is no username: config writes share no lock with users.
        let _guard = self.lock(view, "/config").await;
        let mut config: lockout::Rules = record::load_config(view).await?;
        if let Some(threshold) = threshold {
            config.lockout_threshold = threshold;
        }
        if let Some(duration) = duration {
            config.lockout_duration_ms = duration;
        }
        view.batch(vec![record::put(record::CONFIG_PATH.to_owned(), &config)?])
            .await?;
        Ok(Response::default())
    }
}
