//! `Vault::handle`: the one path every request takes (DESIGN.md, "The way of a
//! request"): sealed check, path normalisation, routing, token, ACL, audit hook,
//! the mount's handler, then the response's token (for logins) or lease.
//!
//! # Without a token
//!
//! As in Vault, these requests need no token; this is the whole list.
//! Through this pipeline, audited like any request: logins (each auth method
//! names its login paths, [`LogicalBackend::is_login_path`]) and a share
//! holder's rekey steps (`sys/rekey/update`, `sys/rekey/verify`: a share and
//! the attempt's nonce authorise them). Before it, because they must answer
//! while the vault is sealed and there is nothing to audit with yet (the
//! audit devices' keys are behind the barrier): `sys/init`, `sys/unseal`,
//! `sys/seal-status` (with `sys/health` and `sys/leader`, which are its
//! views), served by [`Vault::init`], [`Vault::unseal_from`] and
//! [`Vault::status`]; and `sys/metrics` when the server's config lets
//! scrapers in without one (vaultd's `telemetry.unauthenticated_metrics_access`).

use std::sync::Arc;

use tracing::Instrument as _;

use crate::clock;
use crate::engines::{EngineRequest, LogicalBackend, View};
use crate::identity::access::access_of;
use crate::path;
use crate::policy::Acl;
use crate::request::{Operation, Request, Response};
use crate::router::{
    CUBBYHOLE_KIND, IDENTITY_KIND, MountEntry, SYSTEM_KIND, TOKEN_KIND, is_builtin_kind,
};
use crate::token::TokenEntry;

use super::leases::{EngineRevoker, StoredLeases};
use crate::audit::request_entries::Record;
use crate::request::Caller;

use super::{Vault, VaultError};

/// A refused request, with the caller as far as the pipeline knew it (a
/// live token and its entity, for a refusal by the ACL): what its audit
/// entry names.
struct Refusal {
    error: VaultError,
    caller: Option<Caller>,
}

/// Paths only a token with `sudo` on them (or root) may use, as in Vault.
const SUDO_PATHS: &[&str] = &[
    "auth/token/create-orphan",
    "auth/token/revoke-orphan",
    "auth/token/accessors/",
    "sys/auth/",
    "sys/raw",
    "sys/rotate",
    "sys/seal",
    "sys/step-down",
    "sys/rekey/",
    "sys/ha/members",
    "sys/audit",
    "sys/leases/revoke-prefix/",
    "sys/leases/revoke-force/",
    // Every tenant's lease ids (and failing ones' errors).
    "sys/leases/lookup/",
    "sys/leases/failing",
];

/// Paths whose handler judges access itself, as in Vault: a token sees the
/// mounts it can use anything under (`sys/internal/ui/mounts`, which clients
/// read to learn a KV mount's version), whatever its policies say of the
/// path itself.
fn judged_by_handler(path: &str, op: Operation) -> bool {
    op == Operation::Read
        && (path == "sys/internal/ui/mounts" || path.starts_with("sys/internal/ui/mounts/"))
}

fn needs_sudo(path: &str, op: Operation) -> bool {
    // Reading the auth table is not privileged; changing it is.
    if path.starts_with("sys/auth/") && matches!(op, Operation::Read | Operation::List) {
        return false;
    }
    SUDO_PATHS.iter().any(|p| path.starts_with(p))
}

impl Vault {
    /// Handles one request from any front end.
    ///
    /// Run it to completion: a future dropped halfway (a timeout around it, a
    /// cancelled task) can leave an external secret made by an engine (a
    /// database role) without its lease, for `database/reconcile` to find.
    /// To stop waiting without cancelling, spawn it on a task of its own and
    /// time out the task's handle, as vaultd does for every request.
    pub async fn handle(&self, request: Request) -> Result<Response, VaultError> {
        let started = std::time::Instant::now();
        let operation = request.operation;
        let mut mount_type = "none";
        let mut seals = false;
        let result = {
            let _in_flight = self.in_flight.read().await;
            // Boxed: see `pipeline_tests::the_request_future_is_small`.
            Box::pin(self.handle_routed(request, &mut mount_type, &mut seals)).await
        };
        if seals {
            // Answered and recorded; the keys go once the other requests in
            // flight are done too.
            self.seal_now().await;
        }
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.kind(),
        };
        if let Err(e @ VaultError::Storage(_)) = &result {
            self.note_storage_error(&e.to_string());
        }
        self.metrics
            .observe_request(operation.as_str(), mount_type, outcome, started.elapsed());
        result
    }

    /// [`Self::handle`] without the counting; says which kind of mount the
    /// request reached, and whether it was a seal to carry out.
    async fn handle_routed(
        &self,
        mut request: Request,
        mount_type: &mut &'static str,
        seals: &mut bool,
    ) -> Result<Response, VaultError> {
        self.check_serving()?;
        request.path = path::normalize(&request.path, request.operation == Operation::List)?;
        let mounts = self.mount_table();
        let Some((mount, relative)) = mounts.route(&request.path) else {
            // Say "no such path" only to a caller with a valid token, so strangers
            // cannot map the mounts. Recorded either way, as any refusal.
            let refused = match self.authenticate(&request).await {
                Ok(_) => Err(VaultError::NoRoute(request.path.clone())),
                Err(e) => Err(e),
            };
            let _ = self
                .audit_log(&Record::response(&request, None, None, &refused))
                .await;
            return refused;
        };
        let mount = mount.clone();
        *mount_type = super::mounts::kind_label(&mount.kind);
        let relative = relative.to_owned();
        if self.is_disabling(&mount.uuid) {
            return Err(VaultError::Upstream(format!(
                "{} is being disabled",
                mount.path
            )));
        }
        let engine = self.engine_for(&mount)?;
        let wrap = match crate::wrapping::requested_ttl(request.wrap_ttl.as_deref()) {
            Ok(wrap) => wrap,
            Err(error) => {
                let refused = Err(error);
                let _ = self
                    .audit_log(&Record::response(&request, None, Some(&mount), &refused))
                    .await;
                return refused;
            }
        };
        let wrapping_endpoint = mount.kind == SYSTEM_KIND && relative.starts_with("wrapping/");

        let login = engine.as_ref().is_some_and(|e| e.is_login_path(&relative))
            || (mount.kind == SYSTEM_KIND && relative == super::mfa_login::VALIDATE_PATH);
        let mut caller = if login {
            if let Err(throttled) = self.login_attempts.acquire(request.remote_addr) {
                let refused = Err(VaultError::RateLimited(format!(
                    "too many failed logins from this address: retry in {}s (the limit is \
                     rate_limit.login_failures in the server's config)",
                    throttled.retry_after.as_secs().max(1)
                )));
                let _ = self
                    .audit_log(&Record::response(&request, None, Some(&mount), &refused))
                    .await;
                return refused;
            }
            Caller::ANONYMOUS
        } else if mount.kind == SYSTEM_KIND
            && (crate::sys::share_held(&relative, request.operation)
                || crate::wrapping::needs_no_caller(&relative, &request.data))
        {
            // A share, or a wrapping token, is what these name.
            Caller::ANONYMOUS
        } else {
            match self
                .admit(&mut request, engine.as_deref(), &mount, &relative, wrap)
                .await
            {
                Ok(caller) => caller,
                Err(Refusal { error, caller }) => {
                    // A refusal is recorded too, best effort, naming the
                    // caller as far as it is known: the caller gets the
                    // refusal either way.
                    let refused = Err(error);
                    let _ = self
                        .audit_log(&Record::response(
                            &request,
                            caller.as_ref(),
                            Some(&mount),
                            &refused,
                        ))
                        .await;
                    return refused;
                }
            }
        };

        if wrapping_endpoint {
            caller.wrapping_accessor = self.wrapping_accessor(&request).await;
        }
        // Fail closed: nothing is done unless a device wrote the request.
        let recorded = self
            .audit_request(&Record::request(&request, Some(&caller), Some(&mount)))
            .instrument(tracing::debug_span!("audit", entry = "request"))
            .await;
        if let Err(e) = recorded {
            if login {
                self.login_attempts.refund(request.remote_addr);
            }
            return Err(e);
        }
        let result = self
            .dispatch(&request, &relative, &caller, &mount, engine, wrap)
            .instrument(tracing::debug_span!("handler", mount = %mount.path, kind = %mount.kind))
            .await;
        // Step 7: wrapping asked for (and something to wrap): the caller
        // gets the wrapping token instead.
        let result = match (result, wrap) {
            (Ok(response), Some(ttl))
                if response.wrap_info.is_none() && crate::wrapping::wrappable(&response) =>
            {
                let wrapped = self.wrap(&request.path, &response, ttl).await;
                if wrapped.is_err()
                    && let Some(lease) = &response.lease
                {
                    self.revoke_unanswered(&lease.lease_id).await;
                }
                wrapped
            }
            (result, _) => result,
        };
        // Only a refused login keeps the attempt it took (a wrong MFA code
        // is refused as permission denied).
        if login
            && !matches!(
                result,
                Err(VaultError::LoginRefused(_)
                    | VaultError::InvalidRequest(_)
                    | VaultError::PermissionDenied(_))
            )
        {
            self.login_attempts.refund(request.remote_addr);
        }
        // And nothing is answered unless a device recorded the response.
        let recorded = self
            .audit_log(&Record::response(
                &request,
                Some(&caller),
                Some(&mount),
                &result,
            ))
            .instrument(tracing::debug_span!("audit", entry = "response"))
            .await;
        if let Err(e) = recorded {
            // The caller never sees the secret, so its lease goes now.
            match &result {
                Ok(Response {
                    lease: Some(lease), ..
                }) => self.revoke_unanswered(&lease.lease_id).await,
                Ok(Response {
                    wrap_info: Some(wrap),
                    ..
                }) => self.unwrap_unanswered(wrap).await,
                _ => {}
            }
            return Err(e);
        }
        *seals =
            result.is_ok() && mount.kind == SYSTEM_KIND && crate::sys::seals(&request, &relative);
        result
    }

    /// Token, create-or-update, ACL and sudo: who is calling and may they.
    async fn admit(
        &self,
        request: &mut Request,
        engine: Option<&dyn LogicalBackend>,
        mount: &MountEntry,
        relative: &str,
        wrap: Option<u64>,
    ) -> Result<Caller, Refusal> {
        let token = self
            .authenticate(request)
            .instrument(tracing::debug_span!("token"))
            .await
            .map_err(|error| Refusal {
                error,
                caller: None,
            })?;
        let mut caller = Caller {
            token: Some(token),
            ..Caller::default()
        };
        match self
            .judge(request, engine, mount, relative, &mut caller, wrap)
            .await
        {
            Ok(()) => Ok(caller),
            Err(error) => Err(Refusal {
                error,
                caller: Some(caller),
            }),
        }
    }

    /// What a caller with a live token may do here: its entity, the
    /// ACL's verdict and `sudo`, filled into `caller`.
    async fn judge(
        &self,
        request: &mut Request,
        engine: Option<&dyn LogicalBackend>,
        mount: &MountEntry,
        relative: &str,
        caller: &mut Caller,
        wrap: Option<u64>,
    ) -> Result<(), VaultError> {
        if caller.token.as_ref().is_some_and(|t| t.wrapping) {
            // A wrapping token holds no policy but this: it may unwrap,
            // look up or rewrap its response, and nothing else.
            return match mount.kind == SYSTEM_KIND && crate::wrapping::wrapping_token_may(relative)
            {
                true => Ok(()),
                false => Err(VaultError::PermissionDenied("permission denied")),
            };
        }
        if request.operation == Operation::Create || request.operation == Operation::Update {
            request.operation = self.write_operation(engine, mount, relative).await?;
        }
        let Some(token) = caller.token.as_ref() else {
            return Err(VaultError::PermissionDenied("permission denied"));
        };
        let acl_span = tracing::debug_span!("acl");
        let access = access_of(&self.barrier, &self.policies, &self.identity, token)
            .instrument(acl_span.clone())
            .await?;
        caller.identity = access.identity.clone();
        if access.disabled() {
            // Vault's answer: the token stays, and works again once the
            // entity is enabled.
            return Err(VaultError::PermissionDenied("permission denied"));
        }
        caller.sudo = if judged_by_handler(&request.path, request.operation) {
            false
        } else {
            acl_span.in_scope(|| self.authorize(&access.acl, request, wrap))?
        };
        Ok(())
    }

    async fn dispatch(
        &self,
        request: &Request,
        relative: &str,
        caller: &Caller,
        mount: &MountEntry,
        engine: Option<Arc<dyn LogicalBackend>>,
        wrap: Option<u64>,
    ) -> Result<Response, VaultError> {
        // The rarer, larger steps (MFA, wrapping, a lease, a login) are
        // boxed, so that they do not make every request's future larger (see
        // `pipeline_tests::the_request_future_is_small`).
        //
        // Completing a login waiting for its second factor: the pipeline's
        // own step, as the token a login makes is.
        if mount.kind == SYSTEM_KIND && relative == super::mfa_login::VALIDATE_PATH {
            return Box::pin(self.validate_mfa(request)).await;
        }
        // Wrapping tokens are the pipeline's, as every token is.
        if mount.kind == SYSTEM_KIND && relative.starts_with("wrapping/") {
            return Box::pin(self.wrapping_call(request, relative, wrap)).await;
        }
        // The system backends are built for this request from the parts they
        // act on; every other mount has its engine.
        let revoker = EngineRevoker { vault: self };
        let (system, token, identity, mounts);
        let handler: &dyn LogicalBackend = match mount.kind.as_str() {
            SYSTEM_KIND => {
                system = self.sys_backend(&revoker);
                &system
            }
            IDENTITY_KIND => {
                mounts = self.mount_table();
                identity = self.identity_backend(&mounts);
                &identity
            }
            TOKEN_KIND => {
                token = self.token_backend(mount);
                &token
            }
            // KV version 1, in a view that holds only the caller's token's
            // cubbyhole (below).
            CUBBYHOLE_KIND => &crate::engines::kv::KvV1,
            _ => engine.as_deref().ok_or_else(|| {
                VaultError::Internal(format!("mount {} has no handler", mount.path))
            })?,
        };
        // Held until the lease is stored (the end of this function).
        let (quota, bounds) = if handler.may_issue_lease(relative, request.operation) {
            (
                Some(
                    self.quotas
                        .reserve(&self.barrier, &self.expiration, &request.path)
                        .await?,
                ),
                Some(self.lease_bounds(caller, mount).await?),
            )
        } else {
            (None, None)
        };
        let view = if mount.kind == CUBBYHOLE_KIND {
            // No other token's cubbyhole, root's included, is in this view.
            let token = caller
                .token
                .as_ref()
                .ok_or(VaultError::PermissionDenied("permission denied"))?;
            View::new(
                &self.barrier,
                crate::token::cubbyhole_prefix(&token.id_hash),
            )
        } else {
            View::new(&self.barrier, mount.storage_prefix())
        };
        let engine_request = EngineRequest {
            operation: request.operation,
            path: relative,
            data: &request.data,
            remote_addr: request.remote_addr,
            mount_path: &mount.path,
            caller,
            client_token: request.token.as_ref(),
            leases: &StoredLeases { vault: self },
            lease_bounds: bounds.unwrap_or(crate::engines::LeaseBounds::SYSTEM),
        };
        let mut response = handler.handle(&view, engine_request).await?;
        if !is_builtin_kind(&mount.kind) {
            // No engine answers with a lease of its own making (sys/ answers
            // a renewal with the lease it renewed).
            response.lease = None;
        }
        let mut response = match response.secret.take() {
            Some(grant) => {
                if let Some(quota) = &quota {
                    quota.note_lease(&grant.lease_id);
                }
                let bounds = match bounds {
                    Some(b) => b,
                    None => self.lease_bounds(caller, mount).await?,
                };
                Box::pin(self.register_lease(request, caller, mount, bounds, grant, response))
                    .await?
            }
            None => response,
        };
        match response.login.take() {
            Some(grant) => Box::pin(self.finish_login(request, response, grant, mount)).await,
            None => Ok(response),
        }
    }

    /// The caller's live token, with one use spent. Missing, unknown, expired and
    /// used-up tokens all get the same answer.
    async fn authenticate(&self, request: &Request) -> Result<TokenEntry, VaultError> {
        let token = request
            .token
            .as_ref()
            .map(|t| t.expose_secret())
            .filter(|t| !t.is_empty())
            .ok_or(VaultError::PermissionDenied("permission denied"))?;
        let entry = self
            .tokens
            .use_token(&self.barrier, token, clock::now_unix_millis())
            .await?;
        if !entry.bound_cidrs.is_empty() {
            let allowed = request
                .remote_addr
                .is_some_and(|ip| crate::net::any_contains(&entry.bound_cidrs, ip));
            if !allowed {
                return Err(VaultError::PermissionDenied("permission denied"));
            }
        }
        Ok(entry)
    }

    /// A write is `create` where nothing exists yet and `update` where something
    /// does, for the engines that can tell; everything else is an update.
    async fn write_operation(
        &self,
        engine: Option<&dyn LogicalBackend>,
        mount: &MountEntry,
        relative: &str,
    ) -> Result<Operation, VaultError> {
        let Some(engine) = engine else {
            return Ok(Operation::Update);
        };
        let view = View::new(&self.barrier, mount.storage_prefix());
        Ok(match engine.exists(&view, relative).await? {
            true => Operation::Update,
            false => Operation::Create,
        })
    }

    /// Decides the request by the ACL; returns whether the caller has `sudo`.
    fn authorize(
        &self,
        acl: &Acl,
        request: &Request,
        wrap: Option<u64>,
    ) -> Result<bool, VaultError> {
        let decision = acl.check(request.operation, &request.path, Some(&request.data));
        if !decision.allowed {
            tracing::debug!(path = %request.path, reason = %decision.reason, "request denied");
            return Err(VaultError::PermissionDenied("permission denied"));
        }
        if needs_sudo(&request.path, request.operation) && !decision.sudo {
            return Err(VaultError::PermissionDenied(
                "permission denied: this path needs sudo",
            ));
        }
        if let Some(reason) = decision.wrapping.refusal(wrap) {
            return Err(VaultError::PermissionDenied(reason));
        }
        Ok(decision.sudo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sudo_paths() {
        assert!(needs_sudo("sys/auth/approle", Operation::Update));
        assert!(!needs_sudo("sys/auth/approle", Operation::Read));
        assert!(needs_sudo("auth/token/create-orphan", Operation::Update));
        assert!(!needs_sudo("auth/token/create", Operation::Update));
        assert!(!needs_sudo("sys/mounts/secret", Operation::Update));
        assert!(needs_sudo(
            "sys/leases/revoke-prefix/database",
            Operation::Update
        ));
        assert!(needs_sudo(
            "sys/leases/revoke-force/database",
            Operation::Update
        ));
        assert!(needs_sudo("sys/leases/lookup/database/", Operation::List));
        assert!(needs_sudo("sys/leases/failing", Operation::Read));
        assert!(!needs_sudo("sys/leases/lookup", Operation::Update));
        assert!(!needs_sudo("sys/leases/renew", Operation::Update));
        assert!(!needs_sudo("sys/leases/revoke", Operation::Update));
        // The operator endpoints, as in Vault; key-status is a plain read.
        for path in ["sys/seal", "sys/rotate", "sys/raw/app/x", "sys/step-down"] {
            assert!(needs_sudo(path, Operation::Update), "{path}");
        }
        assert!(needs_sudo("sys/rekey/init", Operation::Read));
        assert!(needs_sudo("sys/ha/members", Operation::Read));
        assert!(!needs_sudo("sys/key-status", Operation::Read));
    }
}
