//! Where a request goes on an HA node: served here (no HA, active, or sealed:
//! the core says so), forwarded to the active node over gRPC, or refused with
//! UNAVAILABLE naming the active node (`x-vault-leader`) when forwarding is
//! off or the client asked for no forwarding. A forwarded request carries
//! `x-vault-forwarded-by` and is never forwarded again, so two nodes that
//! disagree about who is active cannot bounce a request between them, and
//! `x-vault-forwarded-for`: the client's address, signed, which the active
//! node's admission (admission.rs) takes as the request's address.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Request, Response, Status};
use vault_core::ha::{HaNode, Leader, Role};
use vault_core::request::Operation;
use vault_proto::v1::logical_client::LogicalClient;
use vault_proto::v1::{LogicalRequest, LogicalResponse};
use vault_proto::{FORWARDED_METADATA_KEY, LEADER_METADATA_KEY};

/// How long a forwarded call may take, end to end.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(60);

/// The active node to send a request to.
#[derive(Debug, Clone)]
pub struct Target {
    channel: Channel,
    address: String,
}

/// Decides, per request, whether it is served here or by the active node.
#[derive(Debug)]
pub struct Forwarder {
    ha: Option<Arc<HaNode>>,
    enabled: bool,
    ca: Option<Vec<u8>>,
    // One lazily connected channel per leader address. std Mutex: held only
    // to look up or insert.
    channels: Mutex<HashMap<String, Channel>>,
}

impl Forwarder {
    /// No HA: everything is served here.
    pub fn none() -> Forwarder {
        Forwarder {
            ha: None,
            enabled: false,
            ca: None,
            channels: Mutex::new(HashMap::new()),
        }
    }

    /// For an HA node; `ca` is trusted for https leaders.
    pub fn new(ha: Arc<HaNode>, enabled: bool, ca: Option<Vec<u8>>) -> Forwarder {
        Forwarder {
            ha: Some(ha),
            enabled,
            ca,
            channels: Mutex::new(HashMap::new()),
        }
    }

    /// The HA node, if any.
    pub fn ha(&self) -> Option<&Arc<HaNode>> {
        self.ha.as_ref()
    }

    /// `None`: serve here. `Some`: forward there. `Err`: refuse (standby
    /// without forwarding, or no active node known). `forwarded`: a standby
    /// sent the request here; `declined`: the client asked not to forward.
    pub async fn route(&self, forwarded: bool, declined: bool) -> Result<Option<Target>, Status> {
        let Some(ha) = &self.ha else {
            return Ok(None);
        };
        let leader = match known_leader(ha).await {
            Known::Here => return Ok(None),
            Known::Leader(leader) => leader,
            Known::Nobody => {
                return Err(Status::unavailable(format!(
                    "this node is a standby and no active node was known within {}s (the \
                     lock's TTL); retry shortly",
                    ha.lock_ttl().as_secs()
                )));
            }
        };
        if forwarded || declined || !self.enabled {
            let why = if forwarded {
                "a forwarded request reached a standby"
            } else {
                "this node is a standby"
            };
            return Err(leader_status(
                format!(
                    "{why}; the active node is {} at {}",
                    leader.node_id, leader.address
                ),
                &leader.address,
            ));
        }
        let channel = self.channel(&leader.address)?;
        Ok(Some(Target {
            channel,
            address: leader.address,
        }))
    }

    /// `request` on the active node `target`, as a `Logical` call (every
    /// operation that can be forwarded is a path: `sys/seal` too), carrying
    /// the caller's token, the client's address signed, this node's mark and
    /// `traceparent` (this node's span, the parent of the active node's).
    pub async fn logical(
        &self,
        target: Target,
        request: vault_core::request::Request,
        traceparent: &str,
    ) -> Result<LogicalResponse, Status> {
        let token = request.token.as_ref().map_or("", |t| t.expose_secret());
        let mut out = Request::new(LogicalRequest {
            path: request.path,
            data_json: serde_json::Value::Object(request.data).to_string(),
            wrap_ttl: request.wrap_ttl.unwrap_or_default(),
        });
        let metadata = out.metadata_mut();
        if let Ok(value) = MetadataValue::try_from(token)
            && !token.is_empty()
        {
            metadata.insert(vault_proto::TOKEN_METADATA_KEY, value);
        }
        for code in &request.mfa {
            if let Ok(value) = MetadataValue::try_from(code.expose_secret()) {
                metadata.append(vault_proto::MFA_METADATA_KEY, value);
            }
        }
        // The client's address, signed, for the active node to judge
        // (vault-core's forwarded.rs); the client's own field, if it sent
        // one, is never passed on.
        if let (Some(ha), Some(addr)) = (&self.ha, request.remote_addr)
            && let Some(signed) = ha.vault().sign_forwarded_for(addr, token).await
            && let Ok(value) = MetadataValue::try_from(signed.as_str())
        {
            metadata.insert(vault_proto::FORWARDED_FOR_METADATA_KEY, value);
        }
        if let Some(value) = self
            .ha
            .as_ref()
            .and_then(|h| MetadataValue::try_from(h.node_id()).ok())
        {
            metadata.insert(FORWARDED_METADATA_KEY, value);
        }
        if let Ok(value) = MetadataValue::try_from(traceparent) {
            metadata.insert(crate::trace::TRACEPARENT, value);
        }
        out.set_timeout(FORWARD_TIMEOUT);
        let mut client = LogicalClient::new(target.channel);
        let answered = match request.operation {
            Operation::Read => client.read(out).await,
            Operation::Patch => client.patch(out).await,
            Operation::Delete => client.delete(out).await,
            Operation::List => client.list(out).await,
            Operation::Create | Operation::Update => client.write(out).await,
        };
        let address = target.address;
        answered.map(Response::into_inner).map_err(|status| {
            if is_transport(&status) {
                leader_status(
                    format!(
                        "forwarding to the active node at {address} failed: {}",
                        status.message()
                    ),
                    &address,
                )
            } else {
                status
            }
        })
    }

    fn channel(&self, address: &str) -> Result<Channel, Status> {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(channel) = channels.get(address) {
            return Ok(channel.clone());
        }
        let bad = |e: String| {
            Status::unavailable(format!(
                "cannot forward to the active node at {address}: {e}"
            ))
        };
        let mut endpoint = Endpoint::from_shared(address.to_owned())
            .map_err(|e| bad(e.to_string()))?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true);
        if address.starts_with("https://") {
            let ca = self
                .ca
                .as_ref()
                .ok_or_else(|| bad("it serves https and ha.tls_ca_file is not set".into()))?;
            endpoint = endpoint
                .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)))
                .map_err(|e| bad(e.to_string()))?;
        }
        let channel = endpoint.connect_lazy();
        channels.insert(address.to_owned(), channel.clone());
        Ok(channel)
    }
}

/// Where a request is to be served, once this node knows.
enum Known {
    /// Here: this node is active, or sealed (the core answers that).
    Here,
    /// On this active node.
    Leader(Leader),
    /// No leader was named within the lock's TTL.
    Nobody,
}

/// The leader, waiting for one to be named (a standby just unsealed, or
/// just stepped down or lost the lock, learns it within a poll interval)
/// for at most the lock's TTL: by then a live leader has renewed the lock
/// where this node sees it, or another node has taken it.
async fn known_leader(ha: &HaNode) -> Known {
    let mut roles = ha.watch_role();
    let deadline = tokio::time::Instant::now() + ha.lock_ttl();
    loop {
        match ha.role() {
            Role::Standby {
                leader: Some(leader),
            } => return Known::Leader(leader),
            Role::Standby { leader: None } => {}
            Role::Active { .. } | Role::Sealed => return Known::Here,
        }
        match tokio::time::timeout_at(deadline, roles.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => return Known::Nobody,
        }
    }
}

/// UNAVAILABLE with the active node's address for the client to follow.
pub fn leader_status(message: String, leader: &str) -> Status {
    let mut status = Status::unavailable(message);
    if let Ok(value) = MetadataValue::try_from(leader) {
        status.metadata_mut().insert(LEADER_METADATA_KEY, value);
    }
    status
}

/// The call never reached the active node's service (it is down, or not
/// yet listening): tonic gives those statuses the transport error as source.
fn is_transport(status: &Status) -> bool {
    status.code() == tonic::Code::Unavailable && std::error::Error::source(status).is_some()
}
