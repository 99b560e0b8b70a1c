//! `sys/leases/`: lookup, renew, revoke, revoke-prefix, revoke-force, list,
//! count and the failing list. Paths and field names are Vault's, plus `count`
//! by state and `failing` (leases whose revocation is being retried).
//!
//! Who may act on a lease: the ACL decides the path, and then a caller without
//! `sudo` on it may only look up, renew or revoke the leases its own token made
//! (Vault lets anyone holding a lease id act on it; an id seen in a log is not
//! enough here).

use serde_json::{Value, json};

use crate::barrier::Barrier;
use crate::clock;
use crate::engines::EngineRequest;
use crate::error::{VaultError, field, object};
use crate::expiration::{ExpirationManager, Lease, LeaseState, Revoker};
use crate::params;
use crate::request::{Caller, LeaseInfo, Operation, Response};
use crate::token::TokenStore;

/// The lease endpoints, over the lease store and (for the owner's time
/// left) the token store.
pub(super) struct Leases<'a> {
    pub barrier: &'a Barrier,
    pub tokens: &'a TokenStore,
    pub expiration: &'a ExpirationManager,
    pub revoker: &'a dyn Revoker,
}

/// Most failing leases one `failing` read returns.
const FAILING_PAGE_MAX: usize = 1000;

fn seconds_rfc3339(ms: u64) -> String {
    clock::rfc3339(ms / 1000)
}

/// A lease as `lookup` shows it (Vault's fields, plus the revocation state).
fn lease_json(lease: &Lease, now: u64) -> Value {
    let mut out = json!({
        "id": lease.id,
        "issue_time": seconds_rfc3339(lease.issue_time),
        "expire_time": seconds_rfc3339(lease.expire_time),
        "last_renewal": seconds_rfc3339(lease.last_renewal),
        "max_expire_time": seconds_rfc3339(lease.max_expire_time),
        "ttl": lease.expire_time.saturating_sub(now) / 1000,
        "renewable": lease.renewable,
        "state": lease.state.name(),
    });
    match &lease.state {
        LeaseState::Active => {}
        LeaseState::Revoking {
            attempts,
            last_error,
            next_attempt,
        } => {
            out["attempts"] = json!(attempts);
            out["last_error"] = json!(last_error);
            out["next_attempt"] = json!(seconds_rfc3339(*next_attempt));
        }
        LeaseState::Irrevocable { error } => {
            out["last_error"] = json!(error);
        }
    }
    out
}

/// A lease that is not there (or not the caller's) in Vault's words for the
/// endpoint; any other failure as it is.
fn unknown_as(e: VaultError, words: &'static str) -> VaultError {
    match e {
        VaultError::NotFound(_) => VaultError::UnknownLease(words),
        other => other,
    }
}

impl Leases<'_> {
    /// `sys/leases/<path>`.
    pub async fn serve(
        &self,
        request: &EngineRequest<'_>,
        path: &str,
    ) -> Result<Response, VaultError> {
        let op = request.operation;
        let caller = request.caller;
        let write = matches!(op, Operation::Create | Operation::Update);
        let data = request.data;
        // The id comes from the body or, Vault-style, from the path.
        let lease_id = |rest: &str| -> Result<String, VaultError> {
            let from_body = field(params::string(data, "lease_id"))?;
            match (from_body, rest.trim_matches('/')) {
                (Some(id), _) if !id.is_empty() => Ok(id),
                (_, id) if !id.is_empty() => Ok(id.to_owned()),
                _ => Err(VaultError::InvalidRequest("missing lease_id".into())),
            }
        };
        let revoker = self.revoker;
        let now = clock::now_unix_millis();
        let (verb, rest) = path.split_once('/').unwrap_or((path, ""));
        match (verb, op) {
            // Every tenant's lease ids: sudo, whatever the path's spelling
            // (SUDO_PATHS matches `lookup/` and `failing`).
            ("lookup", Operation::List) | ("failing", _) if !caller.sudo => Err(
                VaultError::PermissionDenied("permission denied: this path needs sudo"),
            ),
            ("lookup", Operation::List) => {
                let keys = self.expiration.list(self.barrier, rest).await?;
                Ok(Response::with_data(object(json!({ "keys": keys }))))
            }
            ("lookup", _) if write => {
                let lease = self
                    .owned_lease(&lease_id(rest)?, caller)
                    .await
                    .map_err(|e| unknown_as(e, "invalid lease"))?;
                Ok(Response::with_data(object(lease_json(&lease, now))))
            }
            ("renew", _) if write => {
                let id = lease_id(rest)?;
                let lease = self
                    .owned_lease(&id, caller)
                    .await
                    .map_err(|e| unknown_as(e, "lease not found"))?;
                let asked = field(params::duration_ms(data, "increment"))?
                    .filter(|i| *i > 0)
                    .unwrap_or(lease.ttl);
                let (increment, token_warning) = self.token_capped(&lease, asked, now).await?;
                let (renewed, warning) = self
                    .expiration
                    .renew(self.barrier, revoker, &id, increment, now)
                    .await?;
                let mut response = Response {
                    lease: Some(LeaseInfo {
                        lease_id: renewed.id.clone(),
                        lease_duration: renewed.ttl.div_ceil(1000),
                        renewable: renewed.renewable,
                    }),
                    ..Response::default()
                };
                response.warnings.extend(token_warning);
                response.warnings.extend(warning);
                Ok(response)
            }
            ("revoke", _) if write => {
                let id = lease_id(rest)?;
                match self.owned_lease(&id, caller).await {
                    // An id already gone is revoked (and one not the caller's
                    // looks the same).
                    Err(VaultError::NotFound(_)) => return Ok(Response::default()),
                    Err(e) => return Err(e),
                    Ok(_) => {}
                }
                self.expiration.revoke(self.barrier, revoker, &id).await?;
                Ok(Response::default())
            }
            ("revoke-prefix", _) if write => {
                let report = self
                    .expiration
                    .revoke_prefix(self.barrier, revoker, rest)
                    .await?;
                let mut response = Response::with_data(object(json!({
                    "considered": report.considered,
                    "revoked": report.revoked + report.gone,
                    "retrying": report.retrying,
                    "irrevocable": report.irrevocable,
                    "busy": report.skipped,
                    "errors": report.errors,
                })));
                let failed = report.retrying + report.irrevocable + report.errors;
                if failed > 0 {
                    response.warnings.push(format!(
                        "{failed} leases could not be revoked now; they stay listed as failing \
                         and revocation is retried"
                    ));
                }
                Ok(response)
            }
            ("revoke-force", _) if write => {
                let deleted = self.expiration.revoke_force(self.barrier, rest).await?;
                tracing::warn!(
                    prefix = rest,
                    deleted,
                    "leases force-revoked: the secrets behind them may still exist"
                );
                let mut response = Response::with_data(object(json!({ "deleted": deleted })));
                response.warnings.push(format!(
                    "{deleted} leases were deleted WITHOUT revoking their secrets: the credentials \
                     behind them may still be valid. Check the external system, or run the \
                     engine's reconcile endpoint (e.g. database/reconcile/<name>)"
                ));
                Ok(response)
            }
            ("count", Operation::Read) => {
                // `failing_only` skips the scan of every live lease: what
                // `status` asks for.
                if field(params::boolean(data, "failing_only"))?.unwrap_or(false) {
                    let c = self.expiration.count_failing(self.barrier).await?;
                    return Ok(Response::with_data(object(json!({
                        "revoking": c.revoking,
                        "irrevocable": c.irrevocable,
                    }))));
                }
                let c = self.expiration.count(self.barrier).await?;
                Ok(Response::with_data(object(json!({
                    "active": c.active,
                    "revoking": c.revoking,
                    "irrevocable": c.irrevocable,
                    "total": c.active + c.revoking + c.irrevocable,
                }))))
            }
            ("failing", Operation::Read) => {
                let after = field(params::string(data, "after"))?;
                let limit = field(params::unsigned(data, "limit"))?
                    .map_or(FAILING_PAGE_MAX, |l| {
                        usize::try_from(l).unwrap_or(FAILING_PAGE_MAX)
                    })
                    .clamp(1, FAILING_PAGE_MAX);
                let leases = self
                    .expiration
                    .list_failing(self.barrier, after.as_deref(), limit)
                    .await?;
                let listed: Vec<Value> = leases.iter().map(|l| lease_json(l, now)).collect();
                Ok(Response::with_data(object(json!({ "leases": listed }))))
            }
            _ => Err(VaultError::Unsupported(format!(
                "{op} is not supported on sys/leases/{path}"
            ))),
        }
    }

    /// The lease `id`, if the caller may act on it: its own token made it, or
    /// the caller has `sudo` on the path.
    async fn owned_lease(&self, id: &str, caller: &Caller) -> Result<Lease, VaultError> {
        let lease = self.expiration.lookup(self.barrier, id).await?;
        let mine = caller
            .token
            .as_ref()
            .is_some_and(|t| !lease.token_hash.is_empty() && t.id_hash == lease.token_hash);
        if caller.sudo || mine {
            Ok(lease)
        } else {
            // The same answer as for a lease that does not exist.
            Err(VaultError::NotFound(format!("lease not found: {id}")))
        }
    }

    /// Caps a renewal at what the owning token has left, so that a lease never
    /// outlives the token that made it.
    async fn token_capped(
        &self,
        lease: &Lease,
        asked: u64,
        now: u64,
    ) -> Result<(u64, Option<String>), VaultError> {
        if lease.token_hash.is_empty() {
            return Ok((asked, None));
        }
        let Some((expire, _)) = self
            .tokens
            .tree_deadlines(self.barrier, &lease.token_hash, now)
            .await?
        else {
            return Err(VaultError::InvalidRequest(
                "the token that made this lease is gone; the lease cannot be renewed and ends at its expiry".into(),
            ));
        };
        let left = match expire {
            0 => return Ok((asked, None)),
            e => e.saturating_sub(now),
        };
        if asked <= left {
            return Ok((asked, None));
        }
        Ok((
            left,
            Some(format!(
                "the renewal was capped at the {}s the token that made the lease has left",
                left / 1000
            )),
        ))
    }
}
