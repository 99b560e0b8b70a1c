//! The two lease calls the watcher needs, as a trait so the watcher can be
//! driven by something other than a live vault, and [`GrpcLeases`], the
//! implementation over the vault's `Logical` service (`sys/leases/...`).

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use tonic::transport::Channel;
use vault_proto::v1::logical_client::LogicalClient;
use vault_proto::v1::{LogicalRequest, LogicalResponse};

use crate::watcher::WatchedLease;
use crate::{ClientError, Token};

/// Renewing and revoking one lease.
#[async_trait]
pub trait LeaseApi: Send + Sync + 'static {
    /// Asks for the lease to live `increment` from now. The vault may grant
    /// less (the lease's max TTL, or the TTL left on the token that made it).
    async fn renew(&self, lease_id: &str, increment: Duration) -> Result<Renewal, ClientError>;

    /// Revokes the lease now. Revoking a lease that is already gone succeeds.
    async fn revoke(&self, lease_id: &str) -> Result<(), ClientError>;
}

/// What a renewal granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renewal {
    /// The lease's TTL from the moment of the renewal.
    pub lease_duration: Duration,
    /// Whether the lease may be renewed again.
    pub renewable: bool,
    /// The vault's warnings, e.g. that the TTL was capped at the max TTL.
    pub warnings: Vec<String>,
}

/// [`LeaseApi`] over gRPC, with the token of whoever holds the lease (a caller
/// without `sudo` may only renew and revoke the leases its own token made).
#[derive(Debug, Clone)]
pub struct GrpcLeases {
    logical: LogicalClient<Channel>,
    token: Token,
}

impl GrpcLeases {
    /// Lease calls over `logical`, authenticated with `token`.
    pub fn new(logical: LogicalClient<Channel>, token: Token) -> GrpcLeases {
        GrpcLeases { logical, token }
    }

    /// Looks the lease up (`sys/leases/lookup`), in the shape the watcher
    /// starts from. `lease_duration` is the TTL the lease has left now.
    pub async fn lookup(&self, lease_id: &str) -> Result<WatchedLease, ClientError> {
        const DOING: &str = "looking up the lease";
        let response = self
            .write("sys/leases/lookup", json!({ "lease_id": lease_id }), DOING)
            .await?;
        let unexpected = |reason: &str| ClientError::UnexpectedResponse {
            doing: DOING,
            reason: reason.to_owned(),
        };
        let data: Value = serde_json::from_str(&response.data_json)
            .map_err(|e| unexpected(&format!("data is not JSON: {e}")))?;
        let ttl = data
            .get("ttl")
            .and_then(Value::as_u64)
            .ok_or_else(|| unexpected("no `ttl` in seconds"))?;
        let renewable = data
            .get("renewable")
            .and_then(Value::as_bool)
            .ok_or_else(|| unexpected("no `renewable`"))?;
        Ok(WatchedLease {
            lease_id: lease_id.to_owned(),
            lease_duration: Duration::from_secs(ttl),
            renewable,
        })
    }

    async fn write(
        &self,
        path: &str,
        data: Value,
        doing: &'static str,
    ) -> Result<LogicalResponse, ClientError> {
        let mut request = tonic::Request::new(LogicalRequest {
            path: path.to_owned(),
            data_json: data.to_string(),
            ..Default::default()
        });
        request.metadata_mut().insert(
            vault_proto::TOKEN_METADATA_KEY,
            self.token.expose_metadata(),
        );
        // The generated client's calls take `&mut self`; a clone shares the
        // channel, so watchers sharing one `GrpcLeases` do not queue behind
        // each other.
        self.logical
            .clone()
            .write(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| ClientError::Rpc { doing, status })
    }
}

#[async_trait]
impl LeaseApi for GrpcLeases {
    async fn renew(&self, lease_id: &str, increment: Duration) -> Result<Renewal, ClientError> {
        // The vault counts in whole seconds: round up, so that asking for
        // 1.5s is not granted 1s and then read as capped.
        let secs = increment
            .as_secs()
            .saturating_add(u64::from(increment.subsec_nanos() > 0))
            .max(1);
        let data = json!({ "lease_id": lease_id, "increment": format!("{secs}s") });
        let response = self
            .write("sys/leases/renew", data, "renewing the lease")
            .await?;
        Ok(Renewal {
            lease_duration: Duration::from_secs(response.lease_duration),
            renewable: response.renewable,
            warnings: response.warnings,
        })
    }

    async fn revoke(&self, lease_id: &str) -> Result<(), ClientError> {
        self.write(
            "sys/leases/revoke",
            json!({ "lease_id": lease_id }),
            "revoking the lease",
        )
        .await
        .map(drop)
    }
}
