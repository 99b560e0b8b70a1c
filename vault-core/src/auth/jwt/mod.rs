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

use crate::auth::records::{self, Route};
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

#[async_trait]
impl LogicalBackend for JwtAuth {
    async fn exists(&self, view: &View<'_>, path: &str) -> Result<bool, EngineError> {
        records::exists::<JwtConfig, JwtRole>(view, path).await
    }

    fn is_login_path(&self, path: &str) -> bool {
        path == "login"
    }

    async fn handle(
        &self,
        view: &View<'_>,
        request: EngineRequest<'_>,
    ) -> Result<Response, EngineError> {
        let data = request.data;
        let route = request.route(records::route)?;
        match (&route, request.operation) {
            (Route::Login, Operation::Create | Operation::Update) => self.login(view, data).await,
            (Route::Config, Operation::Create | Operation::Update) => {
                let config = JwtConfig::from_request(data)?;
                // A remote source is tried now, so a wrong URL or CA is
                // an error here rather than at every login.
                self.keys.keys(&config, None).await.map_err(|e| {
                    EngineError::InvalidRequest(format!("error checking the key source: {e}"))
                })?;
                records::put_config(view, &config).await?;
                Ok(Response::default())
            }
            _ => records::serve::<JwtConfig, JwtRole>(view, &route, request.operation, data)
                .await
                .unwrap_or_else(|| Err(request.unsupported())),
        }
    }
}

#[cfg(test)]
mod tests;
