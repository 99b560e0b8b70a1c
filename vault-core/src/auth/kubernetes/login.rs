//! `auth/<mount>/login` with `{role, jwt}`: a service account token, checked
//! by the Kubernetes API's TokenReview (or, with `pem_keys`, verified here:
//! its signature, its times, its audience), then its account's name and
//! namespace against the role's bounds. The entity alias is the account's
//! uid (or `namespace/name`), with the account's names as metadata.
//! Refusals are Vault's words; an API server that cannot be reached is an
//! upstream error, and no token.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::auth::records;
use crate::clock;
use crate::engines::{EngineError, View};
use crate::error::field;
use crate::params;
use crate::request::{AliasGrant, Data, Response};
use crate::secret::SecretString;

use super::config::K8sConfig;
use super::review::{self, ReviewError};
use super::role::{AliasSource, K8sRole};
use crate::auth::jwt::verify::{self, Leeways};

/// The account a token names, from its claims (legacy secret tokens and
/// projected tokens name it differently).
struct Account {
    namespace: String,
    name: String,
    uid: String,
}

fn account_in(claims: &Map<String, Value>) -> Option<Account> {
    let s = |v: &Value| v.as_str().map(str::to_owned);
    if let Some(k8s) = claims.get("kubernetes.io") {
        return Some(Account {
            namespace: s(&k8s["namespace"])?,
            name: s(&k8s["serviceaccount"]["name"])?,
            uid: s(&k8s["serviceaccount"]["uid"]).unwrap_or_default(),
        });
    }
    Some(Account {
        namespace: s(claims.get("kubernetes.io/serviceaccount/namespace")?)?,
        name: s(claims.get("kubernetes.io/serviceaccount/service-account.name")?)?,
        uid: claims
            .get("kubernetes.io/serviceaccount/service-account.uid")
            .and_then(s)
            .unwrap_or_default(),
    })
}

fn audiences(claims: &Map<String, Value>) -> Vec<String> {
    match claims.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// Logs in under the mount's config and roles.
pub(super) async fn login(view: &View<'_>, data: &Data) -> Result<Response, EngineError> {
    let config: K8sConfig = records::config(view).await?.ok_or_else(|| {
        EngineError::InvalidRequest("could not load backend configuration".into())
    })?;
    let role_name = field(params::string(data, "role"))?
        .filter(|r| !r.is_empty())
        .ok_or_else(|| EngineError::InvalidRequest("missing role".into()))?;
    let role: K8sRole = records::role(view, &role_name)
        .await?
        .ok_or_else(|| EngineError::InvalidRequest(format!("invalid role name {role_name:?}")))?;
    let jwt = field(params::string(data, "jwt"))?
        .filter(|t| !t.is_empty())
        .map(SecretString::new)
        .ok_or_else(|| EngineError::InvalidRequest("missing jwt".into()))?;
    let unverified = verify::parse(jwt.expose_secret())
        .map_err(|e| EngineError::InvalidRequest(format!("error validating token: {e}")))?;
    let claimed = account_in(unverified.unverified_claims()).ok_or(EngineError::LoginRefused(
        "the token does not name a service account",
    ))?;
    // The bounds first, as Vault does: a token for another namespace costs
    // no call to the API server.
    if !role.admits_namespace(&claimed.namespace) {
        return Err(EngineError::LoginRefused("namespace not authorized"));
    }
    if !role.admits_name(&claimed.name) {
        return Err(EngineError::LoginRefused(
            "service account name not authorized",
        ));
    }
    let account = if config.pem_keys.is_empty() {
        let reviewed = review::review(
            &config.kubernetes_host,
            &config.kubernetes_ca_cert,
            config.reviewer().as_ref(),
            &jwt,
            &role.audience,
        )
        .await
        .map_err(|e| match e {
            ReviewError::Unreachable(_) | ReviewError::Forbidden(_) => {
                EngineError::Upstream(e.to_string())
            }
            ReviewError::Unauthenticated => EngineError::LoginRefused(
                "lookup failed: service account unauthorized; this could mean it has been \
                 deleted or recreated with a new token",
            ),
            ReviewError::NotServiceAccount => {
                EngineError::LoginRefused("the token does not belong to a service account")
            }
        })?;
        if reviewed.namespace != claimed.namespace || reviewed.name != claimed.name {
            return Err(EngineError::LoginRefused(
                "JWT names did not match TokenReview",
            ));
        }
        if !role.audience.is_empty() && !reviewed.audiences.contains(&role.audience) {
            return Err(EngineError::LoginRefused(
                "invalid audience (aud) claim: audience claim does not match any expected audience",
            ));
        }
        Account {
            uid: reviewed.uid,
            ..claimed
        }
    } else {
        let mut keys = Vec::new();
        for pem in &config.pem_keys {
            keys.extend(
                crate::auth::jwt::pem::keys(pem)
                    .map_err(|e| EngineError::InvalidRequest(format!("pem_keys: {e}")))?,
            );
        }
        let claims = unverified
            .verify(&keys)
            .map_err(|e| EngineError::InvalidRequest(format!("error validating token: {e}")))?;
        claims
            .check_times(
                clock::now_unix(),
                Leeways {
                    clock_skew: 60,
                    ..Leeways::default()
                },
            )
            .map_err(|e| EngineError::InvalidRequest(format!("error validating token: {e}")))?;
        if !role.audience.is_empty() && !audiences(&claims.0).contains(&role.audience) {
            return Err(EngineError::LoginRefused(
                "invalid audience (aud) claim: audience claim does not match any expected audience",
            ));
        }
        claimed
    };
    let alias_name = match role.alias_name_source {
        AliasSource::ServiceaccountUid if !account.uid.is_empty() => account.uid.clone(),
        AliasSource::ServiceaccountUid => {
            return Err(EngineError::LoginRefused(
                "the service account has no uid to name its alias by",
            ));
        }
        AliasSource::ServiceaccountName => format!("{}/{}", account.namespace, account.name),
    };
    let metadata = BTreeMap::from([
        (
            "service_account_namespace".to_owned(),
            account.namespace.clone(),
        ),
        ("service_account_name".to_owned(), account.name.clone()),
        ("service_account_uid".to_owned(), account.uid.clone()),
    ]);
    let mut grant = role.token.grant();
    grant.display_name = format!("{}-{}", account.namespace, account.name);
    grant.metadata = metadata.clone();
    grant.metadata.insert("role".into(), role_name);
    grant.alias = Some(AliasGrant {
        name: alias_name,
        metadata,
        groups: None,
    });
    Ok(Response {
        login: Some(grant),
        ..Response::default()
    })
}
