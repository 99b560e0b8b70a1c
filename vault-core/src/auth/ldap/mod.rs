//! The LDAP auth method (Vault's `ldap`, at `auth/<mount>/`): people log in
//! with their directory account (`login/<username>` with `password`); the
//! directory's groups decide their policies (`groups/<name>`), with
//! per-user additions (`users/<name>`), and become external identity
//! groups through group aliases. Filters and DNs are built injection-safe
//! ([`filter`]); servers are tried in order with bounded waits
//! ([`directory`]).
//!
//! | Path | Operations |
//! |---|---|
//! | `config` | read, write |
//! | `users/`, `groups/` | list |
//! | `users/<name>`, `groups/<name>` | read, write, delete |
//! | `login/<username>` | write (no token) |

mod config;
mod directory;
mod entries;
mod filter;
mod login;

use async_trait::async_trait;

use crate::auth::records::{self, Shown as _};
use crate::engines::{EngineError, EngineRequest, LogicalBackend, View};
use crate::request::{Operation, Response};

use config::LdapConfig;
use entries::Kind;

/// One mounted LDAP method: its servers' recent health and its bound on
/// directory sessions.
#[derive(Debug, Default)]
pub struct LdapAuth {
    directory: directory::Directory,
}

impl LdapAuth {
    /// A method with no sessions open.
    pub fn new() -> LdapAuth {
        LdapAuth::default()
    }
}

enum Route<'a> {
    Config,
    Entries(Kind, Option<&'a str>),
    Login(&'a str),
}

fn route(path: &str) -> Option<Route<'_>> {
    if path == "config" {
        return Some(Route::Config);
    }
    if let Some(user) = path.strip_prefix("login/") {
        return (!user.is_empty() && !user.contains('/')).then_some(Route::Login(user));
    }
    for (prefix, kind) in [("users", Kind::Users), ("groups", Kind::Groups)] {
        if let Some(rest) = path.strip_prefix(prefix) {
            let name = rest.trim_start_matches('/');
            if rest.is_empty() || rest == "/" {
                return Some(Route::Entries(kind, None));
            }
            if rest.starts_with('/') && !name.contains('/') {
                return Some(Route::Entries(kind, Some(name)));
            }
        }
    }
    None
}

#[async_trait]
impl LogicalBackend for LdapAuth {
    async fn exists(&self, view: &View<'_>, path: &str) -> Result<bool, EngineError> {
        match route(path) {
            Some(Route::Config) => Ok(records::config::<LdapConfig>(view).await?.is_some()),
            _ => Ok(false),
        }
    }

    fn is_login_path(&self, path: &str) -> bool {
        matches!(route(path), Some(Route::Login(_)))
    }

    async fn handle(
        &self,
        view: &View<'_>,
        request: EngineRequest<'_>,
    ) -> Result<Response, EngineError> {
        let data = request.data;
        let op = request.operation;
        match request.route(route)? {
            Route::Login(user) if matches!(op, Operation::Create | Operation::Update) => {
                self.login(view, user, data, request.remote_addr).await
            }
            Route::Config => match op {
                Operation::Read => match records::config::<LdapConfig>(view).await? {
                    Some(c) => Ok(Response::with_data(crate::error::object(c.to_json()))),
                    None => Err(EngineError::NotFound("config".into())),
                },
                Operation::Create | Operation::Update => {
                    let mut config: LdapConfig = records::config(view).await?.unwrap_or_default();
                    config.apply(data)?;
                    records::put_config(view, &config).await?;
                    Ok(Response::default())
                }
                _ => Err(request.unsupported()),
            },
            Route::Entries(kind, name) => {
                let case_sensitive = records::config::<LdapConfig>(view)
                    .await?
                    .is_some_and(|c| c.case_sensitive_names);
                entries::serve(view, kind, name, op, data, case_sensitive).await
            }
            Route::Login(_) => Err(request.unsupported()),
        }
    }
}
