//! The JWT auth method (Vault's `jwt`, at `auth/<mount>/`): a workload logs
//! in with a token its platform signed (a CI job's OIDC token, a Kubernetes
//! service account token), `POST login {role, jwt}`. The mount's `config`
//! says where the signing keys come from ([`keys`]), each `role/<name>` what
//! a token must say ([`role`], [`claims`]); the login ([`login`]) verifies
//! the token ([`verify`]) and names the caller's entity alias and groups
//! for the identity store. The browser OIDC flow (`role_type = "oidc"`,
//! `oidc/auth_url`, `oidc/callback`) is not served.
//!
//! | Path | Operations |
//! |---|---|
//! | `config` | read, write |
//! | `role/` | list |
//! | `role/<name>` | read, write, delete |
//! | `login` | write (no token) |

mod claims;
mod config;
pub mod jwks;
mod keys;
mod login;
pub mod pem;
mod role;
pub mod verify;

use async_trait::async_trait;
use serde_json::json;

use crate::auth::records;
use crate::engines::{EngineError, EngineRequest, LogicalBackend, View};
use crate::request::{Operation, Response};

use config::JwtConfig;
use role::JwtRole;

/// One mounted JWT auth method: the keys it has fetched.
#[derive(Debug, Default)]
pub struct JwtAuth {
    keys: keys::KeyCache,
}

impl JwtAuth {
    /// A method with no keys fetched yet.
    pub fn new() -> JwtAuth {
        JwtAuth::default()
    }
}

enum Route<'a> {
    Config,
    Roles,
    Role(&'a str),
    Login,
}

fn route(path: &str) -> Option<Route<'_>> {
    match path {
        "config" => Some(Route::Config),
        "role" | "role/" => Some(Route::Roles),
        "login" => Some(Route::Login),
        _ => path
            .strip_prefix("role/")
            .filter(|n| !n.is_empty() && !n.contains('/'))
            .map(Route::Role),
    }
}

#[async_trait]
impl LogicalBackend for JwtAuth {
    async fn exists(&self, view: &View<'_>, path: &str) -> Result<bool, EngineError> {
        match route(path) {
            Some(Route::Role(name)) if records::check_role_name(name).is_ok() => {
                Ok(records::role::<JwtRole>(view, name).await?.is_some())
            }
            Some(Route::Config) => Ok(records::config::<JwtConfig>(view).await?.is_some()),
            _ => Ok(false),
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
        let data = request.data;
        match (request.route(route)?, request.operation) {
            (Route::Login, Create | Update) => self.login(view, data).await,
            (Route::Config, Read) => match records::config::<JwtConfig>(view).await? {
                Some(config) => Ok(Response::with_data(crate::error::object(config.to_json()))),
                None => Err(EngineError::NotFound("config".into())),
            },
            (Route::Config, Create | Update) => {
                let config = JwtConfig::from_request(data)?;
                // A remote source is tried now, so a wrong URL or CA is
                // an error here rather than at every login.
                self.keys.keys(&config, None).await.map_err(|e| {
                    EngineError::InvalidRequest(format!("error checking the key source: {e}"))
                })?;
                records::put_config(view, &config).await?;
                Ok(Response::default())
            }
            (Route::Roles, List) => Ok(Response::with_data(crate::error::object(
                json!({ "keys": records::role_names(view).await? }),
            ))),
            (Route::Role(name), Read) => match records::role::<JwtRole>(view, name).await? {
                Some(role) => Ok(Response::with_data(crate::error::object(role.to_json()))),
                None => Err(EngineError::NotFound(format!("role/{name}"))),
            },
            (Route::Role(name), Create | Update) => {
                let mut role: JwtRole = records::role(view, name).await?.unwrap_or_default();
                role.apply(data)?;
                records::put_role(view, name, &role).await?;
                Ok(Response::default())
            }
            (Route::Role(name), Delete) => {
                records::delete_role(view, name).await?;
                Ok(Response::default())
            }
            _ => Err(request.unsupported()),
        }
    }
}
#[cfg(test)]
mod tests;
