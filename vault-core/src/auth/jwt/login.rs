//! `auth/<mount>/login` with `{role, jwt}`: the token is parsed (bounded),
//! its algorithm checked against the accepted list, its signature verified
//! with the mount's keys, its times checked with the role's leeways, and
//! its claims against the role; then it names the caller's entity alias,
//! groups and alias metadata. Refusals say which check failed, never the
//! token; a key source that cannot be reached is an upstream error, and no
//! token.

use crate::auth::records;
use crate::clock;
use crate::engines::{EngineError, View};
use crate::error::field;
use crate::params;
use crate::request::{AliasGrant, Data, Response};
use crate::secret::SecretString;

use super::JwtAuth;
use super::claims;
use super::config::JwtConfig;
use super::role::JwtRole;
use super::verify::{self, Algorithm};

fn refused(message: String) -> EngineError {
    EngineError::InvalidRequest(message)
}

impl JwtAuth {
    pub(super) async fn login(
        &self,
        view: &View<'_>,
        data: &Data,
    ) -> Result<Response, EngineError> {
        let config = records::config::<JwtConfig>(view)
            .await?
            .ok_or_else(|| refused("could not load configuration".into()))?;
        let role_name = field(params::string(data, "role"))?
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| config.default_role.clone());
        if role_name.is_empty() {
            return Err(refused("missing role".into()));
        }
        let role: JwtRole = records::role(view, &role_name)
            .await?
            .ok_or_else(|| refused(format!("role {role_name:?} could not be found")))?;
        let jwt = field(params::string(data, "jwt"))?
            .filter(|t| !t.is_empty())
            .map(SecretString::new)
            .ok_or_else(|| refused("missing token".into()))?;
        let unverified = verify::parse(jwt.expose_secret())
            .map_err(|e| refused(format!("error validating token: {e}")))?;
        if !config.jwt_supported_algs.is_empty()
            && !config
                .jwt_supported_algs
                .iter()
                .any(|a| Algorithm::from_name(a).ok() == Some(unverified.algorithm()))
        {
            return Err(refused(
                "error validating token: the token's algorithm is not in jwt_supported_algs".into(),
            ));
        }
        let set = self
            .keys
            .keys(&config, unverified.kid())
            .await
            .map_err(|e| {
                EngineError::Upstream(format!("cannot get the keys to verify the token with: {e}"))
            })?;
        let verified = unverified
            .verify(&set.keys)
            .map_err(|e| refused(format!("error validating token: {e}")))?;
        verified
            .check_times(clock::now_unix(), role.leeways())
            .map_err(|e| refused(format!("error validating token: {e}")))?;
        let issuer = if config.bound_issuer.is_empty() {
            set.issuer.as_deref().unwrap_or_default()
        } else {
            config.bound_issuer.as_str()
        };
        let caller = claims::check(&verified.0, &role, issuer)
            .map_err(|e| refused(format!("error validating claims: {e}")))?;
        let mut grant = role.token.grant();
        grant.display_name = caller.name.clone();
        // As Vault: the token's metadata is the role and the mapped claims.
        grant.metadata = caller.metadata.clone();
        grant.metadata.insert("role".into(), role_name);
        grant.alias = Some(AliasGrant {
            name: caller.name,
            metadata: caller.metadata,
            groups: caller.groups,
        });
        Ok(Response {
            login: Some(grant),
            ..Response::default()
        })
    }
}
