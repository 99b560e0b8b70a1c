//! The gRPC client the CLI is built on: connects to `VAULT_ADDR` (TLS when it is
//! https, trusting `VAULT_CACERT` or the system roots) and attaches `VAULT_TOKEN`.
//! Failed calls become [`CallError`]s, which keep the gRPC status for
//! [`crate::leader`] to read.

use std::time::Duration;

use anyhow::{Context, bail};
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use vault_proto::v1::logical_client::LogicalClient;
use vault_proto::v1::sys_client::SysClient;

/// Where and how to reach the vault.
#[derive(Clone)]
pub struct Target {
    pub address: String,
    pub ca_cert: Option<std::path::PathBuf>,
    pub token: Option<String>,
    /// Ask a standby to answer with the active node's address instead of
    /// forwarding (`VAULT_NO_REQUEST_FORWARDING`).
    pub no_forward: bool,
    /// Ask for every answer wrapped into a wrapping token with this TTL
    /// (`VAULT_WRAP_TTL`, Vault's `-wrap-ttl`).
    pub wrap_ttl: Option<String>,
}

/// A connected client.
#[derive(Clone)]
pub struct Client {
    pub sys: SysClient<Channel>,
    pub logical: LogicalClient<Channel>,
    token: Option<String>,
    no_forward: bool,
    /// Login MFA passcodes (`method_id:passcode`) sent as `x-vault-mfa`.
    mfa: Vec<String>,
    /// Sent as `x-vault-wrap-ttl` with every call when set.
    wrap_ttl: Option<String>,
}

/// A connection to `target` (TLS when it is https) whose calls may take up to
/// `timeout` each.
pub async fn channel(target: &Target, timeout: Duration) -> anyhow::Result<Channel> {
    let mut endpoint = Endpoint::from_shared(target.address.clone())
        .with_context(|| format!("VAULT_ADDR {:?} is not a URL", target.address))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(timeout)
        .tcp_nodelay(true);
    if target.address.starts_with("https://") {
        let mut tls = ClientTlsConfig::new();
        tls = match &target.ca_cert {
            Some(path) => {
                let pem = std::fs::read(path)
                    .with_context(|| format!("reading VAULT_CACERT {}", path.display()))?;
                tls.ca_certificate(Certificate::from_pem(pem))
            }
            None => tls.with_native_roots(),
        };
        endpoint = endpoint.tls_config(tls).context("configuring TLS")?;
    } else if !target.address.starts_with("http://") {
        bail!(
            "VAULT_ADDR must start with http:// or https://, got {:?}",
            target.address
        );
    }
    endpoint.connect().await.map_err(|e| {
        let e = anyhow::Error::from(e);
        // rustls read a plaintext answer as a TLS record of no known type.
        let plaintext = e
            .chain()
            .any(|cause| cause.to_string().contains("InvalidContentType"));
        match target.address.strip_prefix("https://") {
            Some(rest) if plaintext => anyhow::anyhow!(
                "the server at {} does not speak TLS: use http://{rest}",
                target.address
            ),
            _ => e.context(format!("cannot connect to the vault at {}", target.address)),
        }
    })
}

/// What to say when a plaintext (`http://`) call reached a TLS listener.
/// The client's side of the HTTP/2 handshake succeeds without an answer; the
/// server's TLS alert then reads as an HTTP/2 protocol error, or the closed
/// connection as a transport error, depending on which the client sees first.
pub fn tls_expected(address: &str, error: &anyhow::Error) -> Option<String> {
    let rest = address.strip_prefix("http://")?;
    let status = error
        .chain()
        .find_map(|cause| cause.downcast_ref::<CallError>())?
        .status();
    let cut_off = match status.code() {
        tonic::Code::Internal => status.message().starts_with("h2 protocol error"),
        tonic::Code::Unknown => status.message() == "transport error",
        _ => false,
    };
    cut_off.then(|| {
        format!(
            "the server at {address} closed the connection without answering in plain HTTP/2; \
             if it speaks TLS, use https://{rest}"
        )
    })
}

/// The largest answer the CLI decodes.
const MAX_ANSWER: usize = 64 << 20;

impl Client {
    pub async fn connect(target: &Target) -> anyhow::Result<Client> {
        let channel = channel(target, Duration::from_secs(60)).await?;
        let token = target
            .token
            .clone()
            .filter(|t| !t.is_empty())
            .or_else(crate::token_helper::read);
        Ok(Client {
            sys: SysClient::new(channel.clone()),
            // An answer may be as large as the largest request a vault takes
            // (32 MiB by default) and then some; tonic's own limit is 4 MiB.
            logical: LogicalClient::new(channel).max_decoding_message_size(MAX_ANSWER),
            token,
            no_forward: target.no_forward,
            mfa: Vec::new(),
            wrap_ttl: target.wrap_ttl.clone(),
        })
    }

    /// The same connection with another token.
    pub fn with_token(mut self, token: &str) -> Client {
        self.token = Some(token.to_owned());
        self
    }

    /// The token calls carry, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The same connection sending `codes` (`method_id:passcode` each) as
    /// login MFA passcodes with every call.
    pub fn with_mfa(mut self, codes: &[String]) -> Client {
        self.mfa = codes.to_vec();
        self
    }

    /// A request carrying the token, if there is one, the login MFA
    /// passcodes given, the wrap TTL and the no-forwarding flag when asked
    /// for.
    pub fn request<T>(&self, message: T) -> anyhow::Result<tonic::Request<T>> {
        let mut request = tonic::Request::new(message);
        if self.no_forward {
            request.metadata_mut().insert(
                vault_proto::NO_FORWARD_METADATA_KEY,
                MetadataValue::from_static("1"),
            );
        }
        if let Some(token) = &self.token {
            let value = MetadataValue::try_from(token.as_str()).map_err(|_| {
                anyhow::anyhow!("VAULT_TOKEN contains characters a token cannot have")
            })?;
            request
                .metadata_mut()
                .insert(vault_proto::TOKEN_METADATA_KEY, value);
        }
        if let Some(ttl) = &self.wrap_ttl {
            let value = MetadataValue::try_from(ttl.as_str())
                .map_err(|_| anyhow::anyhow!("--wrap-ttl holds characters a header cannot have"))?;
            request
                .metadata_mut()
                .insert(vault_proto::WRAP_TTL_METADATA_KEY, value);
        }
        for code in &self.mfa {
            let value = MetadataValue::try_from(code.as_str())
                .map_err(|_| anyhow::anyhow!("--mfa holds characters a header cannot have"))?;
            request
                .metadata_mut()
                .append(vault_proto::MFA_METADATA_KEY, value);
        }
        Ok(request)
    }
}

/// A gRPC error as the operator should read it: the server's message, and the code.
pub fn describe(status: &tonic::Status) -> String {
    format!("{} (code: {:?})", status.message(), status.code())
}

/// A call the vault refused. Displays as "<what>: <describe(status)>" and keeps
/// the status itself, whose metadata may name the active node.
///
/// The status is deliberately not the `source()`: `{:#}` prints every source,
/// and the message would then appear twice. Find it with [`CallError::status`]
/// after a downcast.
#[derive(Debug)]
pub struct CallError {
    what: String,
    status: tonic::Status,
}

impl CallError {
    pub fn status(&self) -> &tonic::Status {
        &self.status
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.what, describe(&self.status))
    }
}

impl std::error::Error for CallError {}

/// The error for a refused call: `what` says what was being done ("Error sealing").
pub fn failed(what: impl Into<String>, status: tonic::Status) -> anyhow::Error {
    anyhow::Error::new(CallError {
        what: what.into(),
        status,
    })
}

// By hand, so the token never reaches a Debug print.
impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("address", &self.address)
            .field("ca_cert", &self.ca_cert)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("no_forward", &self.no_forward)
            .field("wrap_ttl", &self.wrap_ttl)
            .finish()
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}
