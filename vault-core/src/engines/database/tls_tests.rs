//! TLS sessions to a fake PostgreSQL server, through the engine's pool: each
//! `sslmode` encrypts and checks as libpq's does.

use std::io::Write as _;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use std::sync::Arc;

use super::connection::{ConnectSpec, Pool};
use super::target::UrlTemplate;
use crate::secret::SecretString;

/// A server that speaks just enough of PostgreSQL's protocol to prove a
/// TLS session: it accepts SSLRequest, does the handshake with `cert`,
/// reads the startup message and answers with an error we recognise.
async fn fake_server(cert: &rcgen::CertifiedKey<rcgen::KeyPair>) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 8];
                socket.read_exact(&mut request).await?;
                socket.write_all(b"S").await?;
                let mut tls = acceptor.accept(socket).await?;
                let mut len = [0u8; 4];
                tls.read_exact(&mut len).await?;
                let mut rest = vec![0u8; (u32::from_be_bytes(len) as usize).saturating_sub(4)];
                tls.read_exact(&mut rest).await?;
                let fields = b"SFATAL\0VFATAL\0C28000\0Mhello over tls\0\0";
                let mut message = vec![b'E'];
                message.extend_from_slice(&(fields.len() as u32 + 4).to_be_bytes());
                message.extend_from_slice(fields);
                tls.write_all(&message).await?;
                tls.shutdown().await
            });
        }
    });
    port
}

async fn try_connect(host: &str, port: u16, query: &str) -> String {
    let url = format!("postgres://u:{{{{password}}}}@{host}:{port}/db?{query}");
    let spec = ConnectSpec {
        name: "tls".into(),
        url: UrlTemplate::parse(&url).unwrap(),
        username: "u".into(),
        password: SecretString::from("pw"),
        pending: None,
        connect_timeout: Duration::from_secs(5),
        operation_timeout: Duration::from_secs(5),
        max_open: 1,
    };
    let pool = Arc::new(Pool::new(spec, "r".into()).unwrap());
    match pool.checkout().await {
        Ok(_) => "connected".into(),
        Err(e) => e.message,
    }
}

#[tokio::test]
async fn sessions_are_encrypted_and_checked_as_the_mode_says() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let port = fake_server(&cert).await;
    let mut ca = tempfile::NamedTempFile::new().unwrap();
    ca.write_all(cert.cert.pem().as_bytes()).unwrap();
    let ca = ca.path().to_str().unwrap().to_owned();
    let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let mut wrong = tempfile::NamedTempFile::new().unwrap();
    wrong.write_all(other.cert.pem().as_bytes()).unwrap();
    let wrong = wrong.path().to_str().unwrap().to_owned();

    let reached = "hello over tls";
    for (host, query) in [
        ("localhost", format!("sslmode=verify-full&sslrootcert={ca}")),
        ("127.0.0.1", format!("sslmode=verify-ca&sslrootcert={ca}")),
        ("127.0.0.1", "sslmode=require".to_owned()),
        ("127.0.0.1", "sslmode=prefer".to_owned()),
    ] {
        let outcome = try_connect(host, port, &query).await;
        assert!(outcome.contains(reached), "{host} {query}: {outcome}");
    }
    for (host, query) in [
        ("127.0.0.1", format!("sslmode=verify-full&sslrootcert={ca}")),
        (
            "localhost",
            format!("sslmode=verify-full&sslrootcert={wrong}"),
        ),
        ("localhost", format!("sslmode=require&sslrootcert={wrong}")),
    ] {
        let outcome = try_connect(host, port, &query).await;
        assert!(
            outcome.contains("TLS handshake") && !outcome.contains(reached),
            "{host} {query}: {outcome}"
        );
    }
}
