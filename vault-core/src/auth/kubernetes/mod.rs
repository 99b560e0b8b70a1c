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

use crate::auth::records::{self, Route};
use crate::engines::{EngineError, EngineRequest, LogicalBackend, View};
use crate::request::{Operation, Response};

use config::K8sConfig;
use role::K8sRole;

/// One mounted Kubernetes auth method. Holds nothing: every login asks the
/// API server anew (a revoked account is refused at once).
#[derive(Debug, Default)]
pub struct KubernetesAuth;

#[async_trait]
impl LogicalBackend for KubernetesAuth {
    async fn exists(&self, view: &View<'_>, path: &str) -> Result<bool, EngineError> {
        records::exists::<K8sConfig, K8sRole>(view, path).await
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
            (Route::Login, Operation::Create | Operation::Update) => login::login(view, data).await,
            (Route::Config, Operation::Create | Operation::Update) => {
                let mut config: K8sConfig = records::config(view).await?.unwrap_or_default();
                config.apply(data)?;
                records::put_config(view, &config).await?;
                Ok(Response::default())
            }
            _ => records::serve::<K8sConfig, K8sRole>(view, &route, request.operation, data)
                .await
                .unwrap_or_else(|| Err(request.unsupported())),
        }
    }
}

#[cfg(test)]
mod tests;
