//! The Kubernetes auth method (Vault's `kubernetes`, at `auth/<mount>/`):
//! a pod logs in with its service account token, `POST login {role, jwt}`
//! (what External Secrets Operator, the CSI provider and the agent injector
//! send). The token is checked by the cluster's TokenReview API
//! ([`review`]) or, with `pem_keys`, verified here; the account must be one
//! the role binds ([`role`]); the login ([`login`]) names its entity alias.
//!
//! | Path | Operations |
//! |---|---|
//! | `config` | read, write |
//! | `role/` | list |
//! | `role/<name>` | read, write, delete |
//! | `login` | write (no token) |

mod config;
mod login;
mod review;
mod role;

use async_trait::async_trait;
use serde_json::json;

use crate::auth::records;
use crate::engines::{EngineError, EngineRequest, LogicalBackend, View};
use crate::request::{Operation, Response};

use config::K8sConfig;
use role::K8sRole;

/// One mounted Kubernetes auth method. Holds nothing: every login asks the
/// API server anew (a revoked account is refused at once).
#[derive(Debug, Default)]
pub struct KubernetesAuth;

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
impl LogicalBackend for KubernetesAuth {
    async fn exists(&self, view: &View<'_>, path: &str) -> Result<bool, EngineError> {
        match route(path) {
            Some(Route::Role(name)) if records::check_role_name(name).is_ok() => {
                Ok(records::role::<K8sRole>(view, name).await?.is_some())
            }
            Some(Route::Config) => Ok(records::config::<K8sConfig>(view).await?.is_some()),
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
            (Route::Login, Create | Update) => login::login(view, data).await,
            (Route::Config, Read) => match records::config::<K8sConfig>(view).await? {
                Some(config) => Ok(Response::with_data(crate::error::object(config.to_json()))),
                None => Err(EngineError::NotFound("config".into())),
            },
            (Route::Config, Create | Update) => {
                let mut config: K8sConfig = records::config(view).await?.unwrap_or_default();
                config.apply(data)?;
                records::put_config(view, &config).await?;
                Ok(Response::default())
            }
            (Route::Roles, List) => Ok(Response::with_data(crate::error::object(
                json!({ "keys": records::role_names(view).await? }),
            ))),
            (Route::Role(name), Read) => match records::role::<K8sRole>(view, name).await? {
                Some(role) => Ok(Response::with_data(crate::error::object(role.to_json()))),
                None => Err(EngineError::NotFound(format!("role/{name}"))),
            },
            (Route::Role(name), Create | Update) => {
                let mut role: K8sRole = records::role(view, name).await?.unwrap_or_default();
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
