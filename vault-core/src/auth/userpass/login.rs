//! `login/<username>`: the password, then the TOTP code if the user enrolled one,
//! under the lockout rules. Every refusal is the same `PermissionDenied`, and the
//! refusals that have no hash to check still spend an argon2 verification, so
//! neither the answer nor its timing says which usernames exist.

use std::collections::BTreeMap;

use zeroize::Zeroizing;

use super::record::{self, UserEntry};
use super::{Userpass, paths, totp};
use crate::auth::lockout;
use crate::barrier::BarrierOp;
use crate::engines::{EngineError, View};
use crate::params;
use crate::request::{AliasGrant, Data, LoginGrant, LoginLockout, Response};

/// Every refusal, whatever its reason, in Vault's words: a caller learns
/// nothing about which part was wrong.
const REFUSED: EngineError = EngineError::LoginRefused("invalid username or password");

/// How the credentials fared.
enum Checked {
    /// Refused: a failed attempt.
    Refused,
    /// Accepted; `spend_code` marks the TOTP code used, if one was.
    Accepted { spend_code: Option<BarrierOp> },
}

/// What the caller presented. Held in zeroizing buffers for as long as we do.
struct Credentials {
    password: Zeroizing<String>,
    totp: Option<Zeroizing<String>>,
}

impl Credentials {
    /// Reads `password` and `totp`; a field of the wrong type counts as absent
    /// (and so fails the login) rather than being echoed in an error.
    fn read(data: &Data) -> Self {
        let text = |field| {
            params::string(data, field)
                .ok()
                .flatten()
                .map(Zeroizing::new)
        };
        Credentials {
            password: text("password").unwrap_or_default(),
            totp: text("totp"),
        }
    }
}

impl Userpass {
    /// Logs `raw_name` in with the credentials in `data`.
    pub(super) async fn login(
        &self,
        view: &View<'_>,
        raw_name: &str,
        data: &Data,
        remote_addr: Option<std::net::IpAddr>,
    ) -> Result<Response, EngineError> {
        let credentials = Credentials::read(data);
        let Ok(name) = paths::username(raw_name) else {
            // No such user can exist; answer as for any other unknown one.
            self.passwords
                .spend_verification_time(credentials.password)
                .await;
            return Err(REFUSED);
        };
        // Held across the check and the failure count's update, so concurrent
        // guesses are counted one by one: a burst cannot all pass the lockout
        // check before the first failure is written. One user's logins wait for
        // each other; other users' only when they share a stripe.
        let _guard = self.lock(view, &name).await;
        let now = self.now_ms();
        let config = record::load_config(view).await?;
        let Some(user) = record::load_user(view, &name).await? else {
            self.passwords
                .spend_verification_time(credentials.password)
                .await;
            return Err(REFUSED);
        };
        let address = lockout::address_key(remote_addr);
        let _record_lock = lockout::lock(view, &name).await;
        let mut failures = lockout::load(view, &name).await?;
        let forgotten = failures.expire(now, &config);
        if failures.is_locked(&address, now) {
            // Not counted: a lockout is not extended by the guesses it stops.
            self.passwords
                .spend_verification_time(credentials.password)
                .await;
            return Err(REFUSED);
        }
        match self.check(view, &name, &user, credentials, now).await? {
            Checked::Accepted { spend_code } => {
                let mut ops: Vec<BarrierOp> = spend_code.into_iter().collect();
                // This address's failures are forgiven by the pipeline, once
                // the whole login (login MFA included) passed.
                if forgotten {
                    ops.push(failures.op(&name)?);
                }
                if !ops.is_empty() {
                    view.batch(ops).await?;
                }
                Ok(grant(&name, &user, config))
            }
            Checked::Refused => {
                if failures.record_failure(&address, now, &config) {
                    tracing::warn!(
                        user = %name,
                        address = %address,
                        "userpass: user locked out from one address after repeated failed logins"
                    );
                }
                view.batch(vec![failures.op(&name)?]).await?;
                Err(REFUSED)
            }
        }
    }

    /// Checks the password, then the second factor if enrolled.
    async fn check(
        &self,
        view: &View<'_>,
        name: &str,
        user: &UserEntry,
        credentials: Credentials,
        now_ms: u64,
    ) -> Result<Checked, EngineError> {
        let password_ok = self
            .passwords
            .verify(credentials.password, user.password_hash.clone())
            .await;
        if !password_ok {
            return Ok(Checked::Refused);
        }
        let Some(mut enrolled) = record::load_totp(view, name).await? else {
            return Ok(Checked::Accepted { spend_code: None });
        };
        let Some(code) = credentials.totp else {
            return Ok(Checked::Refused);
        };
        let mut last_step = enrolled.last_step;
        match totp::spend(&enrolled.secret, &mut last_step, &code, now_ms / 1000) {
            Ok(true) => {}
            Ok(false) => return Ok(Checked::Refused),
            Err(_) => {
                // Our own record; a secret we cannot read lets nobody in.
                tracing::error!(user = %name, "userpass: stored TOTP secret does not decode");
                return Ok(Checked::Refused);
            }
        }
        enrolled.last_step = last_step;
        Ok(Checked::Accepted {
            spend_code: Some(record::put(record::totp_path(name), &enrolled)?),
        })
    }
}

/// The token a successful login asks the pipeline for.
fn grant(name: &str, user: &UserEntry, rules: lockout::Rules) -> Response {
    Response {
        login: Some(LoginGrant {
            // Written users never hold `root`; this keeps it so even if a
            // record somehow did.
            policies: user
                .token_policies
                .iter()
                .filter(|p| p.as_str() != "root")
                .cloned()
                .collect(),
            ttl: user.token_ttl,
            explicit_max_ttl: user.token_max_ttl,
            display_name: name.to_owned(),
            metadata: BTreeMap::from([("username".to_owned(), name.to_owned())]),
            alias: Some(AliasGrant {
                name: name.to_owned(),
                ..AliasGrant::default()
            }),
            lockout: Some(LoginLockout {
                name: name.to_owned(),
                rules,
            }),
            ..LoginGrant::default()
        }),
        ..Response::default()
    }
}
