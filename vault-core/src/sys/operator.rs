//! The operator endpoints under `sys/`, served through the request pipeline
//! like any other path: the ACL decides, with `sudo` where Vault asks for it
//! (`sys/seal`, `sys/rotate`, `sys/raw`, `sys/step-down`, `sys/rekey/`,
//! `sys/ha/members`), and the pipeline audits every attempt. Here: seal,
//! rotate, key-status, raw storage, a rekey (start, status, cancel; the
//! verification's status and cancel, which need a token; and the share
//! holders' steps, which need a share and the attempt's nonce instead:
//! [`share_held`]), step-down and the HA members.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use std::sync::Arc;

use async_trait::async_trait;

use crate::barrier::{Barrier, KeyStatus};
use crate::clock;
use crate::error::{VaultError, field, object};
use crate::ha::HaNode;
use crate::params;
use crate::request::{Data, Operation, Request, Response};
use crate::seal::rekey::{RekeyOutcome, RekeyStatus, RekeyVerifyOutcome, RekeyVerifyStatus};

/// The seal's rekey: one attempt at a time, kept in memory under the
/// vault's lifecycle lock.
#[async_trait]
pub(crate) trait Rekeying: Send + Sync + std::fmt::Debug {
    /// Starts a rekey to `shares` shares with `threshold`.
    async fn start(
        &self,
        shares: u32,
        threshold: u32,
        require_verification: bool,
    ) -> Result<RekeyStatus, VaultError>;
    /// The rekey in progress, if any.
    async fn current(&self) -> Result<RekeyStatus, VaultError>;
    /// Drops the rekey in progress.
    async fn abandon(&self) -> Result<RekeyStatus, VaultError>;
    /// One current share towards the rekey with `nonce`.
    async fn update(&self, nonce: &str, key: &str) -> Result<RekeyOutcome, VaultError>;
    /// One new share towards the verification with `nonce`.
    async fn verify(&self, nonce: &str, key: &str) -> Result<RekeyVerifyOutcome, VaultError>;
    /// The verification in progress, if any.
    async fn verification(&self) -> RekeyVerifyStatus;
    /// Starts the verification again under a new nonce.
    async fn restart_verification(&self) -> Result<RekeyVerifyStatus, VaultError>;
}

/// The operator endpoints, over the barrier, the rekey and the HA node.
pub(super) struct Operator<'a> {
    pub barrier: &'a Barrier,
    pub rekey: &'a dyn Rekeying,
    pub ha: Option<Arc<HaNode>>,
    pub raw_storage: bool,
}

/// `sys/<path>` answered by [`Operator::serve`].
pub(crate) fn is_operator_path(path: &str) -> bool {
    matches!(
        path,
        "seal"
            | "rotate"
            | "key-status"
            | "rekey/init"
            | "rekey/update"
            | "rekey/verify"
            | "step-down"
    ) || path == "ha/members"
        || path == "raw"
        || path.starts_with("raw/")
}

/// A share holder's rekey step (`sys/<path>`): authorised by a current or
/// new share given with the attempt's nonce, so no token is asked for, as in
/// Vault. The pipeline audits it like any request, the share HMAC'd.
pub(crate) fn share_held(path: &str, op: Operation) -> bool {
    matches!(op, Operation::Create | Operation::Update)
        && matches!(path.trim_end_matches('/'), "rekey/update" | "rekey/verify")
}

/// Whether the request, once answered and recorded, seals the vault.
pub(crate) fn seals(request: &Request, relative: &str) -> bool {
    relative.trim_end_matches('/') == "seal"
        && matches!(request.operation, Operation::Create | Operation::Update)
}

impl Operator<'_> {
    /// Serves the operator endpoint `sys/<path>`.
    pub async fn serve(
        &self,
        op: Operation,
        path: &str,
        data: &Data,
    ) -> Result<Response, VaultError> {
        let write = matches!(op, Operation::Create | Operation::Update);
        let unsupported =
            || VaultError::Unsupported(format!("{op} is not supported on sys/{path}"));
        if path == "raw" || path.starts_with("raw/") {
            let target = path
                .strip_prefix("raw")
                .unwrap_or("")
                .trim_start_matches('/');
            return self.raw(op, target, data).await;
        }
        let answer = match (path, op) {
            // The pipeline seals once this answer is recorded: sealing first
            // would stop the audit devices before the answer is in them.
            ("seal", _) if write => Data::new(),
            ("rotate", _) if write => key_status_data(self.barrier.rotate().await?),
            ("key-status", Operation::Read) => key_status_data(self.barrier.key_status()?),
            ("rekey/init", _) if write => {
                let shares = share_count(data, "secret_shares")?;
                let threshold = share_count(data, "secret_threshold")?;
                let verify = field(params::boolean(data, "require_verification"))?.unwrap_or(true);
                self.rekey.start(shares, threshold, verify).await?.to_data()
            }
            ("rekey/init", Operation::Read) => self.rekey.current().await?.to_data(),
            ("rekey/init", Operation::Delete) => self.rekey.abandon().await?.to_data(),
            ("rekey/update", _) if write => {
                let (key, nonce) = share_and_nonce(data)?;
                let out = self.rekey.update(&nonce, &key).await?;
                let mut answer = out.status.to_data();
                answer.insert("complete".into(), json!(out.complete));
                answer.insert("duplicate".into(), json!(out.duplicate));
                if let Some(shares) = out.new_shares {
                    // Leave their types only here, on the way to the wire.
                    let hex: Vec<_> = shares.iter().map(|s| s.to_hex()).collect();
                    let b64: Vec<_> = shares.iter().map(|s| s.to_base64()).collect();
                    answer.insert("keys".into(), json!(exposed(&hex)));
                    answer.insert("keys_base64".into(), json!(exposed(&b64)));
                    answer.insert("new_threshold".into(), json!(out.new_threshold));
                }
                answer
            }
            ("rekey/verify", _) if write => {
                let (key, nonce) = share_and_nonce(data)?;
                let out = self.rekey.verify(&nonce, &key).await?;
                let mut answer = out.status.to_data();
                answer.insert("complete".into(), json!(out.complete));
                answer.insert("duplicate".into(), json!(out.duplicate));
                answer
            }
            ("rekey/verify", Operation::Read) => self.rekey.verification().await.to_data(),
            ("rekey/verify", Operation::Delete) => {
                self.rekey.restart_verification().await?.to_data()
            }
            ("step-down", _) if write => {
                self.ha_node()?
                    .step_down()
                    .await
                    .map_err(|e| VaultError::HaUnavailable(e.to_string()))?;
                Data::new()
            }
            ("ha/members", Operation::Read) => {
                let members = self
                    .ha_node()?
                    .members()
                    .await
                    .map_err(|e| VaultError::HaUnavailable(e.to_string()))?;
                let members: Vec<Value> = members
                    .into_iter()
                    .map(|m| {
                        json!({
                            "node_id": m.member.node_id,
                            "api_address": m.member.api_address,
                            "active_node": m.active,
                            "state": m.state(),
                            "last_echo": clock::rfc3339(m.member.last_seen),
                            "version": m.member.version,
                        })
                    })
                    .collect();
                object(json!({ "nodes": members }))
            }
            _ => return Err(unsupported()),
        };
        Ok(Response::with_data(answer))
    }

    /// The HA node this vault runs under, for step-down and members.
    fn ha_node(&self) -> Result<Arc<HaNode>, VaultError> {
        self.ha.clone().ok_or_else(|| {
            VaultError::HaUnavailable("high availability is not enabled on this node".into())
        })
    }

    /// Vault's `sys/raw/<path>`: the barrier's plaintext at `path` (paths
    /// under `core/` are the vault's own and refused). Values are text, or
    /// base64 with `encoding=base64` (the only way to carry arbitrary bytes).
    async fn raw(&self, op: Operation, path: &str, data: &Data) -> Result<Response, VaultError> {
        if !self.raw_storage {
            return Err(VaultError::RawDisabled);
        }
        let base64 = match field(params::string(data, "encoding"))?.as_deref() {
            None | Some("") => false,
            Some("base64") => true,
            Some(other) => {
                return Err(VaultError::InvalidRequest(format!(
                    "encoding {other:?} is not supported (only base64)"
                )));
            }
        };
        match op {
            Operation::Read => {
                let value = self
                    .barrier
                    .get(path)
                    .await?
                    .ok_or_else(|| VaultError::NotFound(format!("no value at {path:?}")))?;
                let text = if base64 {
                    STANDARD.encode(value.expose_secret())
                } else {
                    String::from_utf8(value.expose_secret().to_vec()).map_err(|_| {
                        VaultError::InvalidRequest(format!(
                            "the value at {path:?} is not text: read it with encoding=base64"
                        ))
                    })?
                };
                Ok(Response::with_data(object(json!({ "value": text }))))
            }
            Operation::List => {
                // The pipeline drops a list path's trailing slash; the
                // children of `a/b` are those of the folder `a/b/`, not the
                // one key `/` that everything under it shares.
                let folder = match path {
                    "" => String::new(),
                    p if p.ends_with('/') => p.to_owned(),
                    p => format!("{p}/"),
                };
                let keys = self.barrier.list(&folder).await?;
                Ok(Response::with_data(object(json!({ "keys": keys }))))
            }
            Operation::Create | Operation::Update => {
                let text = field(params::string(data, "value"))?.ok_or_else(|| {
                    VaultError::InvalidRequest("missing value: give the value to store".into())
                })?;
                let value = if base64 {
                    // Not the decoder's error: it quotes a byte of the value.
                    STANDARD
                        .decode(text.as_bytes())
                        .map_err(|_| VaultError::InvalidRequest("value is not base64".into()))?
                } else {
                    text.into_bytes()
                };
                self.barrier.put(path, &value).await?;
                Ok(Response::default())
            }
            Operation::Delete => {
                self.barrier.delete(path).await?;
                Ok(Response::default())
            }
            Operation::Patch => Err(VaultError::Unsupported(format!(
                "{op} is not supported on sys/raw/{path}"
            ))),
        }
    }
}

fn share_count(data: &Data, name: &str) -> Result<u32, VaultError> {
    let n = field(params::unsigned(data, name))?
        .ok_or_else(|| VaultError::InvalidRequest(format!("missing {name}")))?;
    u32::try_from(n).map_err(|_| VaultError::InvalidRequest(format!("{name} is too large")))
}

/// `key` (a share) and `nonce` of a share holder's step, or an error naming
/// the one missing.
fn share_and_nonce(data: &Data) -> Result<(String, String), VaultError> {
    let text = |name: &str| match field(params::string(data, name))? {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(VaultError::InvalidRequest(format!(
            "'{name}' must be specified in the request body as JSON text"
        ))),
    };
    Ok((text("key")?, text("nonce")?))
}

fn exposed(secrets: &[crate::secret::SecretString]) -> Vec<&str> {
    secrets.iter().map(|s| s.expose_secret()).collect()
}

fn key_status_data(s: KeyStatus) -> Data {
    object(json!({
        "term": s.term,
        "install_time": clock::rfc3339(s.install_time),
        "encryptions": s.encryptions,
    }))
}

impl RekeyStatus {
    /// As `sys/rekey/init` answers it (Vault's field names).
    pub fn to_data(&self) -> Data {
        let s = self;
        object(json!({
        "started": s.started,
        "nonce": s.nonce,
        "t": s.t,
        "n": s.n,
        "progress": s.progress,
        "required": s.t,
        "new_shares": s.new_shares,
        "new_threshold": s.new_threshold,
        "verification_required": s.verification_required,
        "verification_nonce": s.verification_nonce,
        }))
    }
}

impl RekeyVerifyStatus {
    /// As `sys/rekey/verify` answers it (Vault's field names).
    pub fn to_data(&self) -> Data {
        object(json!({
            "started": self.started,
            "nonce": self.nonce,
            "t": self.t,
            "n": self.n,
            "progress": self.progress,
        }))
    }
}
