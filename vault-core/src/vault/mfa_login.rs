//! The end of every login: the entity behind the alias, login MFA when an
//! enforcement covers the login, then the token. A covered login without
//! codes answers `auth.mfa_requirement` and waits (in memory) for
//! `sys/mfa/validate`; one with `X-Vault-MFA` codes is checked at once.
//! A wrong code counts towards the mount's lockout for the user from the
//! caller's address, as a wrong password does; a user locked out there
//! gets the same refusal as a wrong code.

use std::sync::Arc;
use std::time::Instant;

use crate::auth::lockout;
use crate::clock;
use crate::engines::View;
use crate::identity::Resolved;
use crate::identity::login::LoginIdentity;
use crate::identity::mfa::check::{self, Passcodes};
use crate::identity::mfa::pending::PendingLogin;
use crate::params;
use crate::request::{Auth, LoginGrant, LoginLockout, MfaRequirement, Request, Response};
use crate::router::MountEntry;

use super::{Vault, VaultError};

/// `sys/` path that completes a login waiting for its second factor.
pub(super) const VALIDATE_PATH: &str = "mfa/validate";

/// Every failed second factor's answer: which part failed (a wrong code,
/// a replayed one, a lockout) is not said.
const MFA_FAILED: VaultError = VaultError::PermissionDenied("MFA validation failed");

/// Vault's warning on an answer that carries a requirement.
const MFA_WARNING: &str = "A login request was issued that is subject to MFA validation. \
                           Please make sure to validate the login by sending another request \
                           to mfa/validate endpoint.";

impl Vault {
    /// Makes the orphan token a login granted, under the auth mount's TTL
    /// limits, once its entity is found and any second factor passed.
    pub(super) async fn finish_login(
        &self,
        request: &Request,
        response: Response,
        grant: LoginGrant,
        mount: &MountEntry,
    ) -> Result<Response, VaultError> {
        // The entity behind the alias the method named, found or made.
        let entity_id = match grant.alias.as_ref().filter(|a| !a.name.is_empty()) {
            Some(alias) => {
                let login = LoginIdentity {
                    mount,
                    name: &alias.name,
                    metadata: &alias.metadata,
                    groups: alias.groups.as_deref(),
                };
                self.identity
                    .entity_for_login(&self.barrier, login, clock::now_unix())
                    .await?
            }
            None => String::new(),
        };
        let identity = match entity_id.as_str() {
            "" => None,
            id => self.identity.resolve(&self.barrier, id).await?,
        };
        if identity.as_ref().is_some_and(|i| i.disabled) {
            return Err(VaultError::PermissionDenied("permission denied"));
        }
        let config = self.mfa.store.config(&self.barrier).await?;
        let Some(requirement) = check::requirement(&config, mount, identity.as_deref()) else {
            if let Some(lockout) = &grant.lockout {
                self.forgive(mount, lockout, request).await?;
            }
            return self
                .mint_login_token(response, grant, mount, entity_id, identity)
                .await;
        };
        if entity_id.is_empty() {
            // Secrets are per entity: a login without one cannot pass.
            return Err(VaultError::PermissionDenied(
                "MFA is enforced on this login, but the auth method names no entity",
            ));
        }
        let lockout = grant.lockout.clone().unwrap_or_else(|| LoginLockout {
            name: grant
                .alias
                .as_ref()
                .map(|a| a.name.clone())
                .unwrap_or_default(),
            rules: lockout::Rules::default(),
        });
        let pending = PendingLogin {
            mount_uuid: mount.uuid.clone(),
            grant,
            response,
            entity_id,
            requirement,
            lockout,
            created: Instant::now(),
        };
        if !request.mfa.is_empty() {
            // Single step: the codes came with the login.
            let codes = Passcodes::from_headers(&request.mfa, &config)?;
            self.check_codes(&pending, &codes, mount, request).await?;
            return self
                .mint_login_token(
                    pending.response,
                    pending.grant,
                    mount,
                    pending.entity_id,
                    identity,
                )
                .await;
        }
        let constraints = pending.requirement.constraints_json();
        let mut answer = Response {
            warnings: vec![MFA_WARNING.to_owned()],
            ..Response::default()
        };
        let mfa_request_id = self.mfa.pending.insert(pending)?;
        answer.auth = Some(Auth {
            mfa_requirement: Some(MfaRequirement {
                mfa_request_id,
                mfa_constraints: constraints,
            }),
            ..Auth::default()
        });
        Ok(answer)
    }

    /// `sys/mfa/validate`: `{mfa_request_id, mfa_payload: {method_id:
    /// [passcode]}}` completes a pending login. A wrong code leaves it
    /// pending (and counts towards the lockout); a right one spends it.
    pub(super) async fn validate_mfa(&self, request: &Request) -> Result<Response, VaultError> {
        let id = crate::error::field(params::string(&request.data, "mfa_request_id"))?
            .ok_or_else(|| VaultError::InvalidRequest("missing mfa_request_id".into()))?;
        let payload = request
            .data
            .get("mfa_payload")
            .ok_or_else(|| VaultError::InvalidRequest("missing mfa_payload".into()))?;
        let codes = Passcodes::from_payload(payload)?;
        let pending = self
            .mfa
            .pending
            .take(&id)
            .ok_or_else(|| VaultError::InvalidRequest("invalid request ID".into()))?;
        let mounts = self.mount_table();
        let Some(mount) = mounts
            .entries
            .iter()
            .find(|m| m.uuid == pending.mount_uuid)
            .cloned()
        else {
            return Err(VaultError::InvalidRequest(
                "the auth mount of this login is gone".into(),
            ));
        };
        if let Err(e) = self.check_codes(&pending, &codes, &mount, request).await {
            if matches!(e, VaultError::PermissionDenied(_)) {
                self.mfa.pending.put_back(id, pending);
            }
            return Err(e);
        }
        // The entity may have been disabled while the login waited.
        let identity = self
            .identity
            .resolve(&self.barrier, &pending.entity_id)
            .await?;
        if identity.as_ref().is_none_or(|i| i.disabled) {
            return Err(VaultError::PermissionDenied("permission denied"));
        }
        self.mint_login_token(
            pending.response,
            pending.grant,
            &mount,
            pending.entity_id,
            identity,
        )
        .await
    }

    /// Forgets the failures of a user who logged in, from the caller's
    /// address only (a success here says nothing of guesses elsewhere).
    /// Here rather than in the methods: a right password is no success
    /// while a second factor is still to pass.
    async fn forgive(
        &self,
        mount: &MountEntry,
        lockout: &LoginLockout,
        request: &Request,
    ) -> Result<(), VaultError> {
        let view = View::new(&self.barrier, mount.storage_prefix());
        let address = lockout::address_key(request.remote_addr);
        // Most logins have nothing to forgive: one read, no lock.
        if !lockout::load(&view, &lockout.name)
            .await?
            .by_address
            .contains_key(&address)
        {
            return Ok(());
        }
        let _record = lockout::lock(&view, &lockout.name).await;
        let mut failures = lockout::load(&view, &lockout.name).await?;
        if failures.clear(&address) {
            view.batch(vec![failures.op(&lockout.name)?]).await?;
        }
        Ok(())
    }

    /// Checks `codes` for `pending`'s login under the lockout of its user
    /// from the caller's address: refused while locked out, and a failure
    /// counted.
    async fn check_codes(
        &self,
        pending: &PendingLogin,
        codes: &Passcodes,
        mount: &MountEntry,
        request: &Request,
    ) -> Result<(), VaultError> {
        let view = View::new(&self.barrier, mount.storage_prefix());
        let name = &pending.lockout.name;
        let rules = &pending.lockout.rules;
        let address = lockout::address_key(request.remote_addr);
        let now = clock::now_unix_millis();
        let _record = lockout::lock(&view, name).await;
        let mut failures = lockout::load(&view, name).await?;
        let forgotten = failures.expire(now, rules);
        if failures.is_locked(&address, now) {
            return Err(MFA_FAILED);
        }
        let passed = !codes.is_empty()
            && check::satisfy(
                &self.barrier,
                &self.mfa.store,
                &pending.requirement,
                &pending.entity_id,
                codes,
                now / 1000,
            )
            .await?;
        let changed = if passed {
            failures.clear(&address)
        } else {
            if failures.record_failure(&address, now, rules) {
                tracing::warn!(
                    user = %name,
                    address = %address,
                    mount = %mount.path,
                    "login MFA: user locked out from one address after repeated failures"
                );
            }
            true
        };
        if changed || forgotten {
            view.batch(vec![failures.op(name)?]).await?;
        }
        if passed { Ok(()) } else { Err(MFA_FAILED) }
    }

    /// The token for `grant`, once everything about the login passed.
    async fn mint_login_token(
        &self,
        mut response: Response,
        grant: LoginGrant,
        mount: &MountEntry,
        entity_id: String,
        identity: Option<Arc<Resolved>>,
    ) -> Result<Response, VaultError> {
        // No auth method may mint a root token, whatever its configuration says.
        let mut policies: Vec<String> =
            grant.policies.into_iter().filter(|p| p != "root").collect();
        if !grant.no_default_policy && !policies.iter().any(|p| p == "default") {
            policies.push("default".into());
        }
        policies.sort();
        policies.dedup();
        let display_name = if grant.display_name.is_empty() {
            mount.kind.clone()
        } else {
            format!("{}-{}", mount.kind, grant.display_name)
        };
        let params = crate::token::TokenParams {
            policies,
            ttl: grant.ttl,
            explicit_max_ttl: grant.explicit_max_ttl,
            period: grant.period,
            num_uses: grant.num_uses,
            display_name,
            meta: grant.metadata,
            renewable: true,
            path: format!("{}login", mount.path),
            bound_cidrs: grant.bound_cidrs,
            entity_id,
        };
        let limits = crate::token::TtlLimits {
            default_ttl: mount.config.effective_default_ttl().saturating_mul(1000),
            max_ttl: mount.config.effective_max_ttl().saturating_mul(1000),
        };
        let now = clock::now_unix_millis();
        let (token, entry) = self
            .tokens
            .create(&self.barrier, &params, None, limits, now)
            .await?;
        response.login = None;
        response.auth = Some(crate::sys::auth_of(
            &entry,
            token.expose_secret().to_owned(),
            now,
            identity.as_deref(),
        ));
        Ok(response)
    }
}
