//! `sys/policy[/<name>]`, `sys/policies/acl[/<name>]` and the capability
//! queries (`sys/capabilities`, `-self`, `-accessor`), over the policy store
//! ([`PolicyStore`]) and, for another token's policies, the token store.

use serde_json::{Value, json};

use crate::barrier::Barrier;
use crate::clock;
use crate::engines::EngineRequest;
use crate::error::{VaultError, field, object};
use crate::identity::IdentityStore;
use crate::identity::access::access_of;
use crate::params;
use crate::policy::store::PolicyStore;
use crate::request::{Caller, Data, Operation, Response};
use crate::token::TokenStore;

/// The policy endpoints.
pub(super) struct Policies<'a> {
    pub barrier: &'a Barrier,
    pub tokens: &'a TokenStore,
    pub policies: &'a PolicyStore,
    pub identity: &'a IdentityStore,
}

impl Policies<'_> {
    /// The answer for `sys/<path>`, or `None` when it is not a policy path.
    pub async fn serve(
        &self,
        request: &EngineRequest<'_>,
        path: &str,
    ) -> Option<Result<Response, VaultError>> {
        let op = request.operation;
        let data = request.data;
        if matches!(path, "policy" | "policies/acl")
            && matches!(op, Operation::Read | Operation::List)
        {
            return Some(self.policies.names(self.barrier).await.map(|names| {
                Response::with_data(object(json!({ "keys": names, "policies": names })))
            }));
        }
        let named = path
            .strip_prefix("policy/")
            .map(|n| (n, "rules"))
            .or_else(|| path.strip_prefix("policies/acl/").map(|n| (n, "policy")));
        if let Some((name, text_field)) = named {
            return Some(self.policy(name, text_field, op, data).await);
        }
        if matches!(op, Operation::Create | Operation::Update)
            && matches!(
                path,
                "capabilities" | "capabilities-self" | "capabilities-accessor"
            )
        {
            return Some(self.capabilities(path, data, request.caller).await);
        }
        None
    }

    async fn policy(
        &self,
        name: &str,
        text_field: &str,
        op: Operation,
        data: &Data,
    ) -> Result<Response, VaultError> {
        match op {
            Operation::Read => {
                let text = self
                    .policies
                    .text(self.barrier, name)
                    .await?
                    .ok_or_else(|| VaultError::NotFound(format!("no policy named {name:?}")))?;
                Ok(Response::with_data(object(
                    json!({ "name": name, text_field: text }),
                )))
            }
            Operation::Create | Operation::Update => {
                let text = field(params::string(data, "policy"))?
                    .or(field(params::string(data, "rules"))?)
                    .ok_or_else(|| VaultError::InvalidRequest("missing \"policy\"".into()))?;
                self.policies.write(self.barrier, name, &text).await?;
                Ok(Response::default())
            }
            Operation::Delete => {
                self.policies.delete(self.barrier, name).await?;
                Ok(Response::default())
            }
            _ => Err(VaultError::Unsupported(format!(
                "{op} is not supported on a policy"
            ))),
        }
    }

    async fn capabilities(
        &self,
        path: &str,
        data: &Data,
        caller: &Caller,
    ) -> Result<Response, VaultError> {
        let now = clock::now_unix_millis();
        let token = match path {
            "capabilities-self" => caller.token.clone().unwrap_or_default(),
            "capabilities" => {
                let token = field(params::string(data, "token"))?
                    .ok_or_else(|| VaultError::InvalidRequest("missing \"token\"".into()))?;
                self.tokens
                    .lookup(self.barrier, &token, now)
                    .await?
                    .ok_or_else(|| VaultError::InvalidRequest("bad token".into()))?
            }
            _ => {
                let accessor = field(params::string(data, "accessor"))?
                    .ok_or_else(|| VaultError::InvalidRequest("missing \"accessor\"".into()))?;
                self.tokens
                    .lookup_accessor(self.barrier, &accessor, now)
                    .await?
                    .ok_or_else(|| VaultError::InvalidRequest("invalid accessor".into()))?
            }
        };
        let paths = match field(params::string_list(data, "paths"))? {
            Some(p) => p,
            None => field(params::string_list(data, "path"))?
                .ok_or_else(|| VaultError::InvalidRequest("missing \"paths\"".into()))?,
        };
        let acl = access_of(self.barrier, self.policies, self.identity, &token)
            .await?
            .acl;
        let mut out = Data::new();
        let mut first = Value::Null;
        for raw in &paths {
            let normal = crate::path::normalize(raw, false)?;
            let caps = acl.capabilities(&normal);
            // Vault names a root token's capabilities "root".
            let mut names: Vec<&str> = if acl.is_root() {
                vec![crate::policy::ROOT]
            } else {
                caps.names()
            };
            if names.is_empty() {
                names.push("deny");
            }
            if first.is_null() {
                first = json!(names);
            }
            out.insert(raw.clone(), json!(names));
        }
        out.insert("capabilities".into(), first);
        Ok(Response::with_data(out))
    }
}
