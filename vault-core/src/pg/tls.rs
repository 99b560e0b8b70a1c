//! TLS to PostgreSQL, as the `sslmode` and `sslrootcert` of a connection URL
//! ask, with rustls over ring. Shared by the database secrets engine and the
//! PostgreSQL storage backend.
//!
//! A small tokio-postgres connector of our own rather than the
//! `tokio-postgres-rustls` crate: that crate would bring in `x509-cert`, `der`,
//! `spki` and `sha2` for SCRAM channel binding, while rustls, tokio-rustls and
//! the OS root store are already in the tree (through tonic). Without channel
//! binding the server is authenticated by its certificate (in the `verify-*`
//! modes) and SCRAM runs without `-PLUS`, as libpq does with
//! `channel_binding=prefer` against a server that offers none.
//!
//! Modes follow libpq: `disable` (the default here), `prefer` and `require`
//! encrypt without checking the certificate unless `sslrootcert` is given (then
//! `require` checks the chain, like libpq with a root file); `verify-ca` checks
//! the chain, `verify-full` the chain and the host name. `sslrootcert` is a PEM
//! file on the vault's host, or `system` for the operating system's roots.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

/// How much TLS a connection asks for (libpq's `sslmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS if the server offers it, unchecked.
    Prefer,
    /// TLS, unchecked unless a root certificate is given.
    Require,
    /// TLS with a certificate chain to a trusted root.
    VerifyCa,
    /// TLS with a trusted chain naming the host.
    VerifyFull,
}

impl SslMode {
    /// Parses libpq's names; `allow` is refused (it would accept a downgrade).
    pub(crate) fn parse(text: &str) -> Result<SslMode, String> {
        Ok(match text {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                    "unsupported sslmode {other:?} (use disable, prefer, require, verify-ca or verify-full)"
                ));
            }
        })
    }

    /// What tokio-postgres negotiates for this mode.
    pub(crate) fn negotiation(self) -> tokio_postgres::config::SslMode {
        match self {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        }
    }
}

/// The TLS part of a connection URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsSettings {
    /// `sslmode`.
    pub mode: SslMode,
    /// `sslrootcert`: a PEM file path, or `system`.
    pub root_cert: Option<String>,
}

impl TlsSettings {
    /// Refuses settings that cannot work (a `verify-*` mode without roots).
    pub(crate) fn check(&self) -> Result<(), String> {
        if matches!(self.mode, SslMode::VerifyCa | SslMode::VerifyFull) && self.root_cert.is_none()
        {
            return Err(
                "sslmode verify-ca and verify-full need sslrootcert (a PEM file on the vault's host, or \"system\")"
                    .into(),
            );
        }
        Ok(())
    }

    /// The connector for these settings; reads the root certificates now.
    pub(crate) fn connector(&self) -> Result<MakeRustls, String> {
        if self.mode == SslMode::Disable {
            return Ok(MakeRustls(None));
        }
        self.check()?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed: {e}"))?;
        let verifier: Arc<dyn ServerCertVerifier> = match &self.root_cert {
            None => Arc::new(AcceptAnyCertificate(Arc::clone(&provider))),
            Some(source) => {
                let roots = Arc::new(load_roots(source)?);
                let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(|e| format!("TLS setup failed: {e}"))?;
                if self.mode == SslMode::VerifyFull {
                    webpki
                } else {
                    Arc::new(ChainOnly(webpki))
                }
            }
        };
        let config = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustls(Some(Arc::new(config))))
    }
}

fn load_roots(source: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    if source == "system" {
        let found = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(found.certs);
    } else {
        // A small file read once per pool: blocking here is brief.
        let certs = CertificateDer::pem_file_iter(source)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("cannot read sslrootcert {source:?}: {e}"))?;
        roots.add_parsable_certificates(certs);
    }
    if roots.is_empty() {
        return Err(format!(
            "sslrootcert {source:?} holds no usable certificate"
        ));
    }
    Ok(roots)
}

/// `require`/`prefer` without roots: encrypted, the server's key proven, its
/// identity not checked (libpq does the same).
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root; the name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Makes TLS sessions for tokio-postgres; `None` when TLS is disabled (then
/// tokio-postgres never asks for one).
#[derive(Clone)]
pub(crate) struct MakeRustls(Option<Arc<ClientConfig>>);

impl std::fmt::Debug for MakeRustls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "MakeRustls(enabled)"
        } else {
            "MakeRustls(disabled)"
        })
    }
}

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<RustlsConnect> {
        // tokio-postgres asks for a connector even when TLS is disabled (and
        // then never uses it): only a connector that will be used needs a name.
        let Some(config) = self.0.clone() else {
            return Ok(RustlsConnect(None));
        };
        let name = ServerName::try_from(domain.to_owned())
            .map_err(|_| io::Error::other(format!("{domain:?} is not a valid TLS server name")))?;
        Ok(RustlsConnect(Some((config, name))))
    }
}

/// One TLS handshake to come (`None`: TLS is disabled).
pub(crate) struct RustlsConnect(Option<(Arc<ClientConfig>, ServerName<'static>)>);

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let (config, name) = self
                .0
                .ok_or_else(|| io::Error::other("TLS is disabled for this connection"))?;
            let stream = tokio_rustls::TlsConnector::from(config)
                .connect(name, stream)
                .await?;
            Ok(RustlsStream(stream))
        })
    }
}

/// A TLS session to the server.
pub(crate) struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

/// The schemes of a PostgreSQL connection URL.
const SCHEMES: [&str; 2] = ["postgres://", "postgresql://"];

/// Checks that `url` is a `postgres://` URL and takes `sslmode` and
/// `sslrootcert` out of its query (tokio-postgres knows neither `verify-*`
/// mode nor root files: they are ours to apply). Returns the URL without them
/// and the TLS settings; errors never repeat the URL. The one reader of a
/// connection URL, for the storage backend and the database engine alike.
pub(crate) fn split_tls_params(url: &str) -> Result<(String, TlsSettings), String> {
    let url = url.trim();
    if !SCHEMES.iter().any(|s| url.starts_with(s)) {
        return Err("connection_url must be a postgres:// or postgresql:// URL".into());
    }
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut tls = TlsSettings {
        mode: SslMode::Disable,
        root_cert: None,
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => tls.mode = SslMode::parse(&percent_decode(value)?)?,
            "sslrootcert" => tls.root_cert = Some(percent_decode(value)?),
            _ => kept.push(pair),
        }
    }
    tls.check()?;
    let mut rest = base.to_owned();
    if !kept.is_empty() {
        rest.push('?');
        rest.push_str(&kept.join("&"));
    }
    Ok((rest, tls))
}

/// Decodes `%XX` escapes (a URL query value).
pub(crate) fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| "connection_url has a malformed %-escape".to_owned())?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "connection_url has a %-escape that is not UTF-8".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_like_libpq() {
        assert_eq!(SslMode::parse("verify-full"), Ok(SslMode::VerifyFull));
        assert!(SslMode::parse("allow").is_err());
        assert!(SslMode::parse("REQUIRE").is_err());
    }

    #[test]
    fn verify_modes_need_roots() {
        let settings = TlsSettings {
            mode: SslMode::VerifyFull,
            root_cert: None,
        };
        assert!(settings.check().is_err());
        let require = TlsSettings {
            mode: SslMode::Require,
            root_cert: None,
        };
        assert!(require.connector().is_ok());
        let missing = TlsSettings {
            mode: SslMode::VerifyCa,
            root_cert: Some("/nonexistent/root.pem".into()),
        };
        let err = missing.connector().unwrap_err();
        assert!(err.contains("cannot read sslrootcert"), "{err}");
    }
}
