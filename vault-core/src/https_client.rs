//! HTTPS requests out of the vault, to the services auth methods check
//! callers with: a JWKS or an OIDC discovery document (`auth/jwt`),
//! Kubernetes' TokenReview (`auth/kubernetes`). One request per connection,
//! HTTP/1.1 over rustls, the server checked against the CA the operator
//! configured (or the system's roots); the whole exchange under one
//! deadline and the answer's body bounded, so a server that stalls or
//! floods costs a login a bounded wait and a bounded buffer. Redirects are
//! not followed.

use std::io::Cursor;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

use crate::secret::SecretString;

/// Why a request failed. Messages name the server, never a credential.
#[derive(Debug, thiserror::Error)]
pub enum HttpsError {
    /// The URL is not an `https://` URL with a host.
    #[error("{0}")]
    BadUrl(String),
    /// The CA certificates given hold nothing usable.
    #[error("the CA certificate PEM holds no usable certificate")]
    BadCa,
    /// Connecting, the TLS handshake or the exchange failed.
    #[error("{host}: {reason}")]
    Failed {
        /// The server.
        host: String,
        /// What went wrong.
        reason: String,
    },
    /// No complete answer within the deadline.
    #[error("{0}: no answer within {1:?}")]
    Timeout(String, Duration),
    /// The answer's body is larger than allowed.
    #[error("{0}: the answer is larger than {1} bytes")]
    TooLarge(String, usize),
}

/// Bounds on one exchange.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// For everything: connecting, the handshake, sending, the answer.
    pub deadline: Duration,
    /// The most the answer's body may hold.
    pub max_body: usize,
}

/// An answer: its status and body.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body, at most [`Limits::max_body`] bytes.
    pub body: Vec<u8>,
}

/// A request to send.
#[derive(Debug)]
pub struct Outbound<'a> {
    /// `https://host[:port]/path[?query]`.
    pub url: &'a str,
    /// PEM CA certificates to check the server against (`None`: the
    /// system's roots).
    pub ca_pem: Option<&'a str>,
    /// A bearer token to send (Kubernetes' TokenReview).
    pub bearer: Option<&'a SecretString>,
    /// A JSON body to POST; `None` is a GET.
    pub json_body: Option<Vec<u8>>,
}

/// Sends `request` and reads the answer, within `limits`.
pub async fn send(request: Outbound<'_>, limits: Limits) -> Result<Answer, HttpsError> {
    let uri: http::Uri = request
        .url
        .parse()
        .map_err(|e| HttpsError::BadUrl(format!("{:?} is not a URL: {e}", request.url)))?;
    if uri.scheme_str() != Some("https") {
        return Err(HttpsError::BadUrl(format!(
            "{:?} is not an https:// URL",
            request.url
        )));
    }
    let host = uri
        .host()
        .ok_or_else(|| HttpsError::BadUrl(format!("{:?} has no host", request.url)))?
        .to_owned();
    let config = client_config(request.ca_pem)?;
    let host_label = host.clone();
    match tokio::time::timeout(
        limits.deadline,
        exchange(&uri, host, config, request, limits),
    )
    .await
    {
        Ok(answer) => answer,
        Err(_) => Err(HttpsError::Timeout(host_label, limits.deadline)),
    }
}

async fn exchange(
    uri: &http::Uri,
    host: String,
    config: Arc<ClientConfig>,
    request: Outbound<'_>,
    limits: Limits,
) -> Result<Answer, HttpsError> {
    let failed = |reason: String| HttpsError::Failed {
        host: host.clone(),
        reason,
    };
    // `[::1]` in a URL is `::1` to connect to and to name in TLS.
    let bare = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(443);
    let tcp = tokio::net::TcpStream::connect((bare.as_str(), port))
        .await
        .map_err(|e| failed(format!("cannot connect: {e}")))?;
    let name = ServerName::try_from(bare.clone())
        .map_err(|e| failed(format!("not a server name: {e}")))?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| failed(format!("TLS handshake failed: {e}")))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| failed(format!("HTTP handshake failed: {e}")))?;
    // Driven on its own task; aborted when this exchange ends, however.
    let driver = AbortOnDrop(tokio::spawn(connection));
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let authority = uri.authority().map_or(host.as_str(), |a| a.as_str());
    let mut builder = http::Request::builder()
        .uri(path)
        .header(http::header::HOST, authority)
        .header(http::header::ACCEPT, "application/json");
    if let Some(token) = request.bearer {
        let mut value =
            http::HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
                .map_err(|_| failed("the bearer token is not a valid header value".into()))?;
        // Never logged by hyper, never indexed by HPACK.
        value.set_sensitive(true);
        builder = builder.header(http::header::AUTHORIZATION, value);
    }
    let body = match request.json_body {
        Some(body) => {
            builder = builder
                .method(http::Method::POST)
                .header(http::header::CONTENT_TYPE, "application/json");
            body
        }
        None => {
            builder = builder.method(http::Method::GET);
            Vec::new()
        }
    };
    let outgoing = builder
        .body(Full::new(Cursor::new(body)))
        .map_err(|e| failed(format!("cannot build the request: {e}")))?;
    let response = sender
        .send_request(outgoing)
        .await
        .map_err(|e| failed(format!("request failed: {e}")))?;
    let status = response.status().as_u16();
    let body = Limited::new(response.into_body(), limits.max_body)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                HttpsError::TooLarge(host.clone(), limits.max_body)
            } else {
                failed(format!("reading the answer failed: {e}"))
            }
        })?
        .to_bytes()
        .to_vec();
    drop(driver);
    Ok(Answer { status, body })
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Whether `ca_pem` holds a usable CA certificate (for checking a config
/// when it is written).
pub fn check_ca(ca_pem: &str) -> Result<(), HttpsError> {
    client_config(Some(ca_pem)).map(|_| ())
}

/// The TLS settings for a server checked against `ca_pem`, or against the
/// system's roots (read once).
fn client_config(ca_pem: Option<&str>) -> Result<Arc<ClientConfig>, HttpsError> {
    static SYSTEM: OnceLock<Result<Arc<ClientConfig>, ()>> = OnceLock::new();
    match ca_pem.filter(|p| !p.trim().is_empty()) {
        Some(pem) => {
            let mut roots = RootCertStore::empty();
            let certs: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(pem.as_bytes())
                    .collect::<Result<_, _>>()
                    .map_err(|_| HttpsError::BadCa)?;
            roots.add_parsable_certificates(certs);
            if roots.is_empty() {
                return Err(HttpsError::BadCa);
            }
            build(roots)
        }
        None => SYSTEM
            .get_or_init(|| {
                let mut roots = RootCertStore::empty();
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
                build(roots).map_err(|_| ())
            })
            .clone()
            .map_err(|()| HttpsError::BadCa),
    }
}

fn build(roots: RootCertStore) -> Result<Arc<ClientConfig>, HttpsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| HttpsError::BadCa)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
