//! The AppRole auth method: machines log in with a RoleID and a SecretID and get
//! a token with their role's policies. HashiCorp Vault's API, paths relative to
//! the mount (e.g. `auth/approle/`).
//!
//! # Paths
//!
//! | path                                      | operations                                |
//! |-------------------------------------------|-------------------------------------------|
//! | `role/`                                   | list role names                           |
//! | `role/<name>`                             | read, create/update, delete               |
//! | `role/<name>/role-id`                     | read; update `{role_id}` (a custom one)   |
//! | `role/<name>/secret-id`                   | update: make one; list accessors          |
//! | `role/<name>/custom-secret-id`            | update `{secret_id}`: register one        |
//! | `role/<name>/secret-id/lookup`            | update `{secret_id}`                      |
//! | `role/<name>/secret-id/destroy`           | update/delete `{secret_id}`               |
//! | `role/<name>/secret-id-accessor/lookup`   | update `{secret_id_accessor}`             |
//! | `role/<name>/secret-id-accessor/destroy`  | update/delete `{secret_id_accessor}`      |
//! | `login`                                   | update `{role_id, secret_id}` (no token)  |
//!
//! Role names are case-sensitive (Vault lower-cases them) and made of
//! `[A-Za-z0-9_.-]`. A role's `token_max_ttl` becomes the issued token's
//! `explicit_max_ttl` (our tokens have no separate per-token max), except for
//! periodic tokens, which only `token_explicit_max_ttl` limits, as in Vault.
//!
//! # Storage layout (inside the mount's [`View`])
//!
//! Key names are stored in the clear, so no credential appears in one: role_ids,
//! secret_ids and accessors appear only as HMAC-SHA256 under the mount's own key,
//! with a domain tag per kind (`store::Salt`).
//!
//! - `salt`: the mount's 32-byte HMAC key, made on first use.
//! - `role/<name>`: the role as JSON, its role_id included.
//! - `role_id/<hmac(role_id)>`: the name of the role with that role_id, so a
//!   login finds its role.
//! - `secret_id/<name>/<hmac(secret_id)>`: a secret_id's record as JSON: its
//!   accessor, uses left, deadlines, metadata, CIDRs. The secret_id itself is
//!   never stored.
//! - `accessor/<name>/<hmac(accessor)>`: the hash naming the secret_id record.
//!   Scoped by role: an accessor used under another role's path finds nothing.
//!
//! The barrier encrypts every value.
//!
//! # Concurrency
//!
//! Two kinds of lock, taken in this order and per [`AppRole`] (one instance must
//! serve a given mount within a process, as for KV):
//!
//! - `roles`, a read-write lock: changing or deleting a role (and so the role_id
//!   index, which spans roles) takes it for writing; everything that touches
//!   secret_ids takes it for reading. So a role's deletion waits for logins in
//!   flight, and no secret_id can be made for, or outlive, a deleted role.
//! - 64 striped mutexes, picked by the secret_id record's key: every
//!   read-modify-write of one secret_id (a login's decrement, a destroy) runs
//!   under its stripe, and the write lands before the answer, so a secret_id
//!   with N uses allows exactly N logins however many race.

mod login;
#[cfg(test)]
mod login_tests;
mod role;
mod secret_id;
mod store;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::engines::{EngineError, EngineRequest, LogicalBackend, View};
use crate::params::FieldError;
use crate::request::{Operation, Response};

/// How many locks secret_id mutations are spread over.
const STRIPES: usize = 64;

pub use crate::clock::Clock;

/// The AppRole auth method. Holds no secrets: only its locks and its clock.
pub struct AppRole {
    // tokio RwLock: held across the storage reads and writes of a role change
    // (write) or of a secret_id operation (read). See the module docs.
    roles: tokio::sync::RwLock<()>,
    // tokio Mutexes: each is held across one secret_id's read-modify-write.
    stripes: crate::engines::shared::Stripes,
    // Serialises making the mount's HMAC key; held across its storage write.
    salt_init: tokio::sync::Mutex<()>,
    clock: Clock,
}

impl AppRole {
    /// A method ready to serve a mount, on the system clock.
    pub fn new() -> Self {
        AppRole::with_clock(Arc::new(crate::clock::now_unix_millis))
    }

    /// A method whose notion of now (Unix milliseconds) is `clock`: for tests
    /// of secret_id expiry.
    pub fn with_clock(clock: Clock) -> Self {
        AppRole {
            roles: tokio::sync::RwLock::new(()),
            stripes: crate::engines::shared::Stripes::new(STRIPES),
            salt_init: tokio::sync::Mutex::new(()),
            clock,
        }
    }

    /// Now, in Unix milliseconds.
    fn now(&self) -> u64 {
        (self.clock)()
    }

    /// Waits for the lock serialising changes to the secret_id record at `key`
    /// (a storage key, which holds only a hash) in `view`'s mount.
    async fn lock_secret_id(&self, view: &View<'_>, key: &str) -> tokio::sync::MutexGuard<'_, ()> {
        self.stripes.lock(view, key).await
    }
}

impl Default for AppRole {
    fn default() -> Self {
        AppRole::new()
    }
}

impl fmt::Debug for AppRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppRole")
            .field("stripes", &self.stripes.len())
            .finish_non_exhaustive()
    }
}

/// Where a request is aimed, once its mount-relative path is taken apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'a> {
    /// `role` or `role/`: the list of roles.
    Roles,
    /// `role/<name>`.
    Role(&'a str),
    /// `role/<name>/role-id`.
    RoleId(&'a str),
    /// `role/<name>/secret-id`: make one, or list accessors.
    SecretId(&'a str),
    /// `role/<name>/custom-secret-id`.
    CustomSecretId(&'a str),
    /// `role/<name>/secret-id/lookup`.
    SecretIdLookup(&'a str),
    /// `role/<name>/secret-id/destroy`.
    SecretIdDestroy(&'a str),
    /// `role/<name>/secret-id-accessor/lookup`.
    AccessorLookup(&'a str),
    /// `role/<name>/secret-id-accessor/destroy`.
    AccessorDestroy(&'a str),
    /// `login`.
    Login,
}

impl<'a> Route<'a> {
    /// The route of `path`, or `None` for a path the method does not serve. A
    /// trailing `/` (lists are normalised to one) is ignored.
    fn parse(path: &'a str) -> Option<Self> {
        let path = path.strip_suffix('/').unwrap_or(path);
        match path {
            "login" => return Some(Route::Login),
            "role" => return Some(Route::Roles),
            _ => {}
        }
        let rest = path.strip_prefix("role/")?;
        let (name, sub) = match rest.split_once('/') {
            Some((name, sub)) => (name, Some(sub)),
            None => (rest, None),
        };
        Some(match sub {
            None => Route::Role(name),
            Some("role-id") => Route::RoleId(name),
            Some("secret-id") => Route::SecretId(name),
            Some("custom-secret-id") => Route::CustomSecretId(name),
            Some("secret-id/lookup") => Route::SecretIdLookup(name),
            Some("secret-id/destroy") => Route::SecretIdDestroy(name),
            Some("secret-id-accessor/lookup") => Route::AccessorLookup(name),
            Some("secret-id-accessor/destroy") => Route::AccessorDestroy(name),
            Some(_) => return None,
        })
    }

    /// The role the path names, if any.
    fn role(self) -> Option<&'a str> {
        match self {
            Route::Roles | Route::Login => None,
            Route::Role(n)
            | Route::RoleId(n)
            | Route::SecretId(n)
            | Route::CustomSecretId(n)
            | Route::SecretIdLookup(n)
            | Route::SecretIdDestroy(n)
            | Route::AccessorLookup(n)
            | Route::AccessorDestroy(n) => Some(n),
        }
    }
}

/// Refuses a role name that is empty or has a character outside
/// `[A-Za-z0-9_.-]`, or that is `.` or `..` (names become storage key segments).
fn check_role_name(name: &str) -> Result<(), EngineError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if name.is_empty() || !name.chars().all(allowed) || name == "." || name == ".." {
        return Err(EngineError::InvalidRequest(format!(
            "invalid role name {name:?}: use letters, digits, '_', '.' and '-'"
        )));
    }
    Ok(())
}

/// A field error as the handler reports it.
fn field<T>(result: Result<T, FieldError>) -> Result<T, EngineError> {
    result.map_err(|e| EngineError::InvalidRequest(e.to_string()))
}

/// Refuses a list of CIDR blocks with one that does not parse; the error names
/// the field.
fn check_cidrs(field_name: &str, blocks: &[String]) -> Result<(), EngineError> {
    for block in blocks {
        crate::net::Cidr::parse(block).map_err(|reason| {
            EngineError::InvalidRequest(format!("invalid value for {field_name:?}: {reason}"))
        })?;
    }
    Ok(())
}

#[async_trait]
impl LogicalBackend for AppRole {
    async fn exists(&self, view: &View<'_>, path: &str) -> Result<bool, EngineError> {
        match Route::parse(path) {
            Some(Route::Role(name)) => {
                if check_role_name(name).is_err() {
                    // The handler refuses it; there is nothing to update.
                    return Ok(false);
                }
                Ok(view.get(&store::role_key(name)).await?.is_some())
            }
            // As in Vault, the other write paths act on something that must
            // already be there: a write to them is always an update, so one
            // `update` grant covers them.
            Some(_) => Ok(true),
            None => Ok(false),
        }
    }

    fn is_login_path(&self, path: &str) -> bool {
        path == "login"
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
            path,
            data,
            remote_addr,
            ..
        } = request;
        if let Some(name) = route.role() {
            check_role_name(name)?;
        }
        match (route, operation) {
            (Route::Login, Create | Update) => self.login(view, data, remote_addr).await,
            (Route::Roles, List) => role::list(view).await,
            (Route::Role(name), Read) => role::read(view, name).await,
            (Route::Role(name), Create | Update) => self.write_role(view, name, data).await,
            (Route::Role(name), Delete) => self.delete_role(view, name).await,
            (Route::RoleId(name), Read) => role::read_role_id(view, name).await,
            (Route::RoleId(name), Create | Update) => self.write_role_id(view, name, data).await,
            (Route::SecretId(name), Create | Update) => {
                self.make_secret_id(view, name, data, false).await
            }
            (Route::CustomSecretId(name), Create | Update) => {
                self.make_secret_id(view, name, data, true).await
            }
            (Route::SecretId(name), List) => self.list_secret_ids(view, name).await,
            (Route::SecretIdLookup(name), Create | Update) => {
                self.lookup_secret_id(view, name, path, data).await
            }
            (Route::SecretIdDestroy(name), Create | Update | Delete) => {
                self.destroy_secret_id(view, name, data).await
            }
            (Route::AccessorLookup(name), Create | Update) => {
                self.by_accessor(view, name, path, data, false).await
            }
            (Route::AccessorDestroy(name), Create | Update | Delete) => {
                self.by_accessor(view, name, path, data, true).await
            }
            _ => Err(unsupported()),
        }
    }
}

#[cfg(test)]
mod route_tests {
    use super::*;

    #[test]
    fn routes_split_role_and_sub_path() {
        assert_eq!(Route::parse("role/"), Some(Route::Roles));
        assert_eq!(Route::parse("role"), Some(Route::Roles));
        assert_eq!(Route::parse("role/a"), Some(Route::Role("a")));
        assert_eq!(
            Route::parse("role/a/secret-id/"),
            Some(Route::SecretId("a"))
        );
        assert_eq!(
            Route::parse("role/a/secret-id-accessor/destroy"),
            Some(Route::AccessorDestroy("a"))
        );
        assert_eq!(Route::parse("login"), Some(Route::Login));
        assert_eq!(Route::parse("role/a/other"), None);
        assert_eq!(Route::parse("nothing"), None);
    }

    #[test]
    fn role_names_are_plain() {
        assert!(check_role_name("web-1.prod_A").is_ok());
        for bad in ["", ".", "..", "a b", "a/b", "é"] {
            assert!(check_role_name(bad).is_err(), "{bad:?} accepted");
        }
    }
}
