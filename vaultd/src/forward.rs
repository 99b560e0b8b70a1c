//! Where a request goes on an HA node: served here (no HA, active, or sealed:
//! the core says so), forwarded to the active node over gRPC, or refused with
//! UNAVAILABLE naming the active node (`x-vault-leader`) when forwarding is
//! off or the client asked for no forwarding. A forwarded request carries
//! `x-vault-forwarded-by` and is never forwarded again, so two nodes that
//! disagree about who is active cannot bounce a request between them, and
//! `x-vault-forwarded-for`: the client's address, signed, which the active
//! node's admission (admission.rs) takes as the request's address.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Request, Response, Status};
use vault_core::ha::{HaNode, Leader, Role};
use vault_proto::{FORWARDED_METADATA_KEY, LEADER_METADATA_KEY, NO_FORWARD_METADATA_KEY};

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
    /// without forwarding, or no active node known).
    pub async fn route<T>(&self, request: &Request<T>) -> Result<Option<Target>, Status> {
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
        let metadata = request.metadata();
        let forwarded = metadata.contains_key(FORWARDED_METADATA_KEY);
        let declined = metadata
            .get(NO_FORWARD_METADATA_KEY)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| matches!(v, "1" | "true"));
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

    /// Sends `request` to `target` with `call`, carrying the caller's token
    /// and marked as forwarded.
    pub async fn call<C, M, R, Fut>(
        &self,
        target: Target,
        request: Request<M>,
        client: impl FnOnce(Channel) -> C,
        call: impl FnOnce(C, Request<M>) -> Fut,
    ) -> Result<Response<R>, Status>
    where
        Fut: Future<Output = Result<Response<R>, Status>>,
    {
        let node = self.ha.as_ref().map(|h| h.node_id().to_owned());
        let caller_addr = request.remote_addr().map(|a| a.ip());
        let (metadata, _, message) = request.into_parts();
        let mut out = Request::new(message);
        copy(
            &metadata,
            out.metadata_mut(),
            vault_proto::TOKEN_METADATA_KEY,
        );
        // The client's address, signed, for the active node to judge
        // (vault-core's forwarded.rs); the client's own field, if it sent
        // one, is never passed on.
        let token = metadata
            .get(vault_proto::TOKEN_METADATA_KEY)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if let (Some(ha), Some(addr)) = (&self.ha, caller_addr)
            && let Some(signed) = ha.vault().sign_forwarded_for(addr, token).await
            && let Ok(value) = MetadataValue::try_from(signed.as_str())
        {
            out.metadata_mut()
                .insert(vault_proto::FORWARDED_FOR_METADATA_KEY, value);
        }
        if let Some(value) = node.and_then(|n| MetadataValue::try_from(n.as_str()).ok()) {
            out.metadata_mut().insert(FORWARDED_METADATA_KEY, value);
        }
        out.set_timeout(FORWARD_TIMEOUT);
        let address = target.address.clone();
        call(client(target.channel), out).await.map_err(|status| {
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

fn copy(from: &MetadataMap, to: &mut MetadataMap, key: &'static str) {
    if let Some(value) = from.get(key) {
        to.insert(key, value.clone());
    }
}
