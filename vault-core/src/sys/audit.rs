//! `sys/audit` (list), `sys/audit/<name>` (read, enable, disable),
//! `sys/audit/<name>/verify-checkpoint` and `sys/audit-hash/<name>`, over the
//! running devices ([`AuditBroker`]) and the device table ([`DeviceTable`]).

use serde_json::{Value, json};

use crate::audit::table::DeviceTable;
use crate::audit::{AuditBroker, DeviceConfig, DeviceStatus};
use crate::barrier::Barrier;
use crate::error::{VaultError, field, object};
use crate::params;
use crate::request::{Data, Operation, Response};

/// The audit device endpoints.
pub(super) struct Devices<'a> {
    pub barrier: &'a Barrier,
    pub broker: &'a AuditBroker,
    pub table: &'a DeviceTable,
}

fn status_json(s: &DeviceStatus) -> Value {
    json!({
        "type": s.config.kind,
        "options": s.config.options,
        "healthy": s.healthy,
        "failures": s.failures,
        "timeouts": s.timeouts,
        "last_error": s.last_error,
        "seq": s.seq,
        "last_hash": s.last_hash,
    })
}

impl Devices<'_> {
    /// `sys/audit`, `sys/audit/<name>`, `sys/audit/<name>/verify-checkpoint`.
    pub async fn serve(
        &self,
        path: &str,
        op: Operation,
        data: &Data,
    ) -> Result<Response, VaultError> {
        if path == "audit" && op == Operation::Read {
            let mut out = Data::new();
            for s in self.broker.all_status() {
                out.insert(format!("{}/", s.config.name), status_json(&s));
            }
            return Ok(Response::with_data(out));
        }
        let Some(rest) = path.strip_prefix("audit/") else {
            return Err(VaultError::Unsupported(format!(
                "{op} is not supported on sys/{path}"
            )));
        };
        if let Some(name) = rest.strip_suffix("/verify-checkpoint") {
            let seq = field(params::unsigned(data, "seq"))?.unwrap_or(0);
            let prev = field(params::string(data, "prev_hash"))?.unwrap_or_default();
            let signature = field(params::string(data, "signature"))?.unwrap_or_default();
            let valid = self
                .broker
                .verify_checkpoint(name, seq, &prev, &signature)
                .ok_or_else(|| VaultError::NotFound(format!("no audit device {name:?}")))?;
            return Ok(Response::with_data(object(json!({ "valid": valid }))));
        }
        let name = rest;
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(VaultError::InvalidRequest(format!(
                "invalid audit device name {name:?}: use letters, digits, '-' and '_'"
            )));
        }
        match op {
            Operation::Read => {
                let s = self
                    .broker
                    .status(name)
                    .ok_or_else(|| VaultError::NotFound(format!("no audit device {name:?}")))?;
                Ok(Response::with_data(object(status_json(&s))))
            }
            Operation::Create | Operation::Update => {
                if !self.broker.api_policy().allow_creation {
                    return Err(VaultError::InvalidRequest(
                        "audit devices cannot be enabled through the API: the server's config \
                         does not set unsafe_allow_api_audit_creation = true; declare the device \
                         in the config instead ([[audit]] in vaultd.toml)"
                            .into(),
                    ));
                }
                let kind = field(params::string(data, "type"))?
                    .ok_or_else(|| VaultError::InvalidRequest("missing \"type\"".into()))?;
                let options = field(params::string_map(data, "options"))?.unwrap_or_default();
                let config = DeviceConfig {
                    name: name.to_owned(),
                    kind,
                    options,
                };
                self.table.enable(self.barrier, self.broker, config).await?;
                Ok(Response::default())
            }
            Operation::Delete => {
                self.table.disable(self.barrier, self.broker, name).await?;
                Ok(Response::default())
            }
            _ => Err(VaultError::Unsupported(format!(
                "{op} is not supported on sys/{path}"
            ))),
        }
    }
}

/// `sys/audit-hash/<name>`: the HMAC of `input` as device `name` writes it.
pub(super) fn hash(broker: &AuditBroker, name: &str, data: &Data) -> Result<Response, VaultError> {
    let input = field(params::string(data, "input"))?
        .ok_or_else(|| VaultError::InvalidRequest("missing \"input\"".into()))?;
    let hash = broker
        .hash(name, &input)
        .ok_or_else(|| VaultError::NotFound(format!("no audit device {name:?}")))?;
    Ok(Response::with_data(object(json!({ "hash": hash }))))
}
