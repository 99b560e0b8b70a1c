//! The userpass auth method: users log in with a username and password, and
//! optionally a TOTP code (RFC 6238), with HashiCorp Vault's API for the parts
//! Vault has. Repeated failures lock a user out for a while.
//!
//! # Paths (relative to the mount, e.g. `auth/userpass/`)
//!
//! | path                     | operations                                             |
//! |--------------------------|--------------------------------------------------------|
//! | `users/<name>`           | create/update (`password`, `token_policies` or `policies`, `token_ttl`, `token_max_ttl`), read, delete |
//! | `users/`                 | list                                                   |
//! | `users/<name>/password`  | update `{password}`: reset it                          |
//! | `users/<name>/totp`      | update: enrol, answers `{url, secret}` once; delete: drop the second factor |
//! | `users/<name>/unlock`    | update: lift a lockout                                 |
//! | `config`                 | read; create/update `lockout_threshold`, `lockout_duration` |
//! | `login/<name>`           | update `{password, totp?}`; takes no token              |
//!
//! Usernames are trimmed and lower-cased, then limited to `a-z0-9_.@-`.
//!
//! # Logins
//!
//! A login succeeds when the password matches the user's argon2id hash and, if
//! the user is enrolled in TOTP, `totp` is the code of the current 30-second step
//! or a neighbouring one, and of a step later than the last code accepted (so a
//! code is good once). The grant carries the user's policies and TTLs; the
//! pipeline adds `default` and makes the token.
//!
//! Every refusal (unknown user, wrong password, missing, wrong or replayed
//! code, locked out) is the same [`EngineError::LoginRefused`], and the
//! ones with no hash to check spend an argon2 verification anyway, so that
//! neither answers nor timing tell which usernames exist.
//!
//! `lockout_threshold` refusals in a row from one client address (default 5;
//! a bad code counts, and so does a bad login MFA code) lock the user out
//! from that address for `lockout_duration` (default 15 minutes): until then
//! even the right password is refused there, and the refusals are not
//! counted; the user can still log in from elsewhere, so a stranger cannot
//! lock them out (see [`crate::auth::lockout`]). A success clears that
//! address's count, an unlock every address's, and so does
//! `lockout_duration` without a failure.
//!
//! # Storage layout (inside the mount's [`View`])
//!
//! - `config`: the lockout settings, JSON.
//! - `user/<name>`: the user's PHC hash, policies and TTLs, JSON. A user exists
//!   exactly when this record does; listing lists `user/`.
//! - `totp/<name>`: the TOTP secret (base32) and the last step accepted.
//! - `lockout/<name>`: failed logins and lockouts, by client address.
//!
//! The barrier encrypts every value; paths (and so usernames) are not secret.
//! Passwords are never stored, in any form but the argon2id hash.
//!
//! # Concurrency
//!
//! All state lives in the view, so lockouts survive restarts and the method
//! holds only locks. Every change to one user, logins included, runs under one
//! of 64 locks picked by hashing the mount prefix and the username (as in
//! `engines/kv`), so concurrent guesses are counted one at a time. The locks are
//! per [`Userpass`]: one instance must serve a given mount within a process.

mod login;
mod password;
mod paths;
mod record;
#[cfg(test)]
mod tests;
mod users;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use self::password::Passwords;
use self::paths::Route;
use crate::engines::{EngineError, EngineRequest, LogicalBackend, View};
use crate::identity::mfa::totp;
use crate::request::{Operation, Response};

/// How many locks user changes are spread over.
const STRIPES: usize = 64;

pub use crate::clock::Clock;

/// The userpass auth method. Holds no secrets and no state but its locks.
pub struct Userpass {
    // tokio Mutexes: each is held across the storage reads, the password check
    // and the write of one user's change or login.
    stripes: crate::engines::shared::Stripes,
    clock: Clock,
    passwords: Passwords,
}

impl Userpass {
    /// A method ready to serve a mount, on the system clock.
    pub fn new() -> Self {
        Userpass::with_clock(Arc::new(crate::clock::now_unix_millis))
    }

    /// A method that reads the time from `clock` (milliseconds since the epoch)
    /// for TOTP steps and lockouts.
    pub fn with_clock(clock: Clock) -> Self {
        Userpass {
            stripes: crate::engines::shared::Stripes::new(STRIPES),
            clock,
            passwords: Passwords::new(argon2::Params::default()),
        }
    }

    /// The same method hashing with `params`: tests use argon2's minimum costs,
    /// which debug builds run in milliseconds rather than seconds.
    #[cfg(test)]
    fn with_argon2_params(mut self, params: argon2::Params) -> Self {
        self.passwords = Passwords::new(params);
        self
    }

    fn now_ms(&self) -> u64 {
        (self.clock)()
    }

    /// Waits for the lock that serialises changes to `name` in `view`'s mount.
    async fn lock(&self, view: &View<'_>, name: &str) -> tokio::sync::MutexGuard<'_, ()> {
        self.stripes.lock(view, name).await
    }
}

impl Default for Userpass {
    fn default() -> Self {
        Userpass::new()
    }
}

impl fmt::Debug for Userpass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Userpass")
            .field("stripes", &self.stripes.len())
            .field("passwords", &self.passwords)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl LogicalBackend for Userpass {
    async fn exists(&self, view: &View<'_>, path: &str) -> Result<bool, EngineError> {
        match Route::parse(path) {
            Some(Route::Config) => record::config_exists(view).await,
            Some(Route::User(raw)) => match paths::exact_username(raw) {
                Ok(name) => Ok(view.get(&record::user_path(&name)).await?.is_some()),
                // The handler refuses it; there is nothing to update.
                Err(_) => Ok(false),
            },
            // Actions on a user, as in Vault: a write is always an update, so
            // one `update` grant covers them.
            Some(Route::Password(_) | Route::Totp(_) | Route::Unlock(_) | Route::Login(_)) => {
                Ok(true)
            }
            Some(Route::Users) | None => Ok(false),
        }
    }

    fn is_login_path(&self, path: &str) -> bool {
        path.starts_with("login/")
    }

    async fn handle(
        &self,
        view: &View<'_>,
        request: EngineRequest<'_>,
    ) -> Result<Response, EngineError> {
        use Operation::{Create, Delete, List, Read, Update};
        let route = request.route(Route::parse)?;
        let unsupported = || request.unsupported();
        let EngineRequest {
            operation,
            data,
            remote_addr,
            ..
        } = request;
        match (route, operation) {
            // Login first: its username is checked without a distinct error.
            (Route::Login(raw), Create | Update) => self.login(view, raw, data, remote_addr).await,
            (Route::Login(_), _) => Err(unsupported()),
            (Route::Config, Read) => self.read_config(view).await,
            (Route::Config, Create | Update) => self.write_config(view, data).await,
            (Route::Users, List) => self.list_users(view).await,
            (Route::User(raw), Read) => self.read_user(view, &paths::exact_username(raw)?).await,
            (Route::User(raw), Create | Update) => {
                self.write_user(view, &paths::exact_username(raw)?, data)
                    .await
            }
            (Route::User(raw), Delete) => {
                self.delete_user(view, &paths::exact_username(raw)?).await
            }
            (Route::Password(raw), Create | Update) => {
                self.reset_password(view, &paths::exact_username(raw)?, data)
                    .await
            }
            (Route::Totp(raw), Create | Update) => {
                self.enrol_totp(view, &paths::exact_username(raw)?).await
            }
            (Route::Totp(raw), Delete) => {
                self.remove_totp(view, &paths::exact_username(raw)?).await
            }
            (Route::Unlock(raw), Create | Update) => {
                self.unlock(view, &paths::exact_username(raw)?).await
            }
            _ => Err(unsupported()),
        }
    }
}
