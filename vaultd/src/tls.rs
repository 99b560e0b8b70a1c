//! TLS on the listener, with rustls: ALPN offers both `h2` (gRPC, HTTP/2
//! clients) and `http/1.1` (most Vault HTTP clients), so both APIs share one
//! port over TLS too. tonic's own TLS offers only `h2`, which makes an
//! HTTP/1.1 client that announces its protocol fail the handshake. The accept
//! loop, with its limits, is `accept.rs`.

use std::sync::{Arc, RwLock};

use anyhow::Context;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsFiles;

/// The listener's certificate: read from its files at start, and again on
/// SIGHUP, so a renewed certificate is served without a restart (which would
/// seal the vault). A reload that fails (a file missing, a key that does not
/// match) keeps the certificate in use and says why.
pub struct Certificate {
    files: TlsFiles,
    // std RwLock: held only to clone or replace the acceptor, never across
    // an await.
    current: RwLock<TlsAcceptor>,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl Certificate {
    /// Reads the files, or says which one is wrong.
    pub fn load(files: &TlsFiles) -> anyhow::Result<Certificate> {
        Ok(Certificate {
            current: RwLock::new(acceptor(files)?),
            files: files.clone(),
        })
    }

    /// The acceptor for the next handshake.
    pub fn acceptor(&self) -> TlsAcceptor {
        match self.current.read() {
            Ok(a) => a.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reads the files again; the new certificate serves the next handshake.
    pub fn reload(&self) -> anyhow::Result<()> {
        let fresh = acceptor(&self.files)?;
        match self.current.write() {
            Ok(mut a) => *a = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
        Ok(())
    }
}

/// An acceptor for the certificate chain and key in `files`.
fn acceptor(files: &TlsFiles) -> anyhow::Result<TlsAcceptor> {
    let read = |p: &std::path::Path| {
        std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))
    };
    let (cert, key) = (read(&files.cert)?, read(&files.key)?);
    let certs = CertificateDer::pem_slice_iter(&cert)
        .collect::<Result<Vec<_>, _>>()
        .context("reading the TLS certificate chain")?;
    anyhow::ensure!(
        !certs.is_empty(),
        "the TLS certificate file holds no certificate"
    );
    let key = PrivateKeyDer::from_pem_slice(&key).context("reading the TLS private key")?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("choosing TLS versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the TLS certificate and key do not match or are not supported")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
