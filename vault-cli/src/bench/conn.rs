//! The bench's connections. Each simulated client gets one [`Conn`], that is one
//! channel and so one HTTP/2 connection of its own. Built as
//! [`crate::client::Client::connect`] builds its channel (same TLS handling),
//! but with the timeout the caller chooses: a revoke-prefix of a long run's
//! leases can take minutes, more than the CLI's 60 s. Calls hand back the gRPC
//! status as it is, with no allocation beyond the request, so the client side
//! costs little next to what is measured.

use std::time::Duration;

use serde_json::{Map, Value};
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::transport::Channel;
use vault_proto::v1::logical_client::LogicalClient;
use vault_proto::v1::{LogicalRequest, LogicalResponse};

use crate::client::{Target, failed};
use crate::logical::Op;

/// One connection, and the token its requests carry.
#[derive(Clone)]
pub struct Conn {
    logical: LogicalClient<Channel>,
    token: Option<AsciiMetadataValue>,
    no_forward: bool,
}

// By hand, so the token never reaches a Debug print.
impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl Conn {
    /// A new connection to `target` whose calls give up after `timeout`,
    /// carrying `token` (none: unauthenticated, as a login is).
    pub async fn connect(
        target: &Target,
        token: Option<&str>,
        timeout: Duration,
    ) -> anyhow::Result<Conn> {
        let channel = crate::client::channel(target, timeout).await?;
        let conn = Conn {
            logical: LogicalClient::new(channel),
            token: None,
            no_forward: target.no_forward,
        };
        conn.with_token(token)
    }

    /// The same connection carrying another token.
    pub fn with_token(&self, token: Option<&str>) -> anyhow::Result<Conn> {
        let token = token
            .map(|t| {
                MetadataValue::try_from(t).map_err(|_| {
                    anyhow::anyhow!("the token contains characters a token cannot have")
                })
            })
            .transpose()?;
        Ok(Conn {
            token,
            ..self.clone()
        })
    }

    /// One Logical call; `body` is the JSON object as text ("" for none).
    pub async fn call(
        &mut self,
        op: Op,
        path: &str,
        body: &str,
    ) -> Result<LogicalResponse, tonic::Status> {
        self.call_within(op, path, body, None).await
    }

    /// [`Self::call`] giving up after `timeout` when it is shorter than the
    /// connection's.
    pub async fn call_within(
        &mut self,
        op: Op,
        path: &str,
        body: &str,
        timeout: Option<Duration>,
    ) -> Result<LogicalResponse, tonic::Status> {
        let mut request = tonic::Request::new(LogicalRequest {
            path: path.to_owned(),
            data_json: body.to_owned(),
            ..Default::default()
        });
        if let Some(timeout) = timeout {
            request.set_timeout(timeout);
        }
        if self.no_forward {
            request.metadata_mut().insert(
                vault_proto::NO_FORWARD_METADATA_KEY,
                MetadataValue::from_static("1"),
            );
        }
        if let Some(token) = &self.token {
            request
                .metadata_mut()
                .insert(vault_proto::TOKEN_METADATA_KEY, token.clone());
        }
        op.send(&mut self.logical, request)
            .await
            .map(tonic::Response::into_inner)
    }

    /// A setup call: errors read "Error <doing> <path>: <message>", as the
    /// CLI's other commands say them.
    pub async fn admin(
        &mut self,
        op: Op,
        path: &str,
        body: Map<String, Value>,
    ) -> anyhow::Result<LogicalResponse> {
        let text = if body.is_empty() {
            String::new()
        } else {
            Value::Object(body).to_string()
        };
        self.call_within(op, path, &text, Some(ADMIN_TIMEOUT))
            .await
            .map_err(|status| {
                let doing = match op {
                    Op::Read => "reading",
                    Op::Write => "writing",
                    Op::Patch => "patching",
                    Op::Delete => "deleting",
                    Op::List => "listing",
                };
                failed(format!("Error {doing} {path}"), status)
            })
    }
}

/// How long one setup call may take, as the CLI's other commands allow.
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(60);
