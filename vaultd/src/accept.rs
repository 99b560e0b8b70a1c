//! The accept loop of one listener address, plaintext or TLS: at most
//! `listener.max_connections` connections open at once (more wait in the
//! kernel's backlog until one closes) and at most `listener.max_tls_handshakes`
//! TLS handshakes under way, each bounded in time. Each connection carries its
//! place, given back when it closes. The TLS certificate is read through
//! [`crate::tls::Certificate`], so a reload (SIGHUP) applies to the next
//! handshake.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

use crate::config::Limits;
use crate::tls::Certificate;

/// How long a client may take over its TLS handshake before it is dropped:
/// a client that connects and says nothing must not hold a place for ever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a connection may be silent before the kernel asks the peer
/// whether it is still there: a peer that vanished without closing (a
/// half-open connection) must not hold a place for ever.
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);

/// Connections accepted but not yet picked up by the server.
const READY_QUEUE: usize = 64;

/// One accepted connection and its place among the open ones.
pub struct Connection {
    io: Io,
    _place: OwnedSemaphorePermit,
}

enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// Accepts connections on `listener` (through TLS when `tls` is set) within
/// `limits`, until the returned stream is dropped.
pub fn incoming(
    listener: TcpListener,
    tls: Option<Arc<Certificate>>,
    limits: &Limits,
) -> ReceiverStream<io::Result<Connection>> {
    let (ready, stream) = tokio::sync::mpsc::channel(READY_QUEUE);
    let places = Arc::new(Semaphore::new(limits.max_connections));
    let handshakes = Arc::new(Semaphore::new(limits.max_tls_handshakes));
    tokio::spawn(async move {
        loop {
            let place = tokio::select! {
                () = ready.closed() => return,
                place = Arc::clone(&places).acquire_owned() => match place {
                    Ok(place) => place,
                    Err(_) => return,
                },
            };
            let accepted = tokio::select! {
                () = ready.closed() => return,
                accepted = listener.accept() => accepted,
            };
            let (tcp, peer) = match accepted {
                Ok(connection) => connection,
                Err(e) => {
                    // Out of descriptors, most likely: wait rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            // Small answers must not wait for the peer's delayed ACK (Nagle):
            // without this every request/response pair costs ~40 ms.
            let _ = tcp.set_nodelay(true);
            keep_alive(&tcp);
            let Some(tls) = &tls else {
                let connection = Connection {
                    io: Io::Plain(tcp),
                    _place: place,
                };
                if ready.send(Ok(connection)).await.is_err() {
                    return;
                }
                continue;
            };
            let handshake = tokio::select! {
                () = ready.closed() => return,
                permit = Arc::clone(&handshakes).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => return,
                },
            };
            let (acceptor, ready) = (tls.acceptor(), ready.clone());
            tokio::spawn(async move {
                let done = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await;
                drop(handshake);
                match done {
                    Ok(Ok(stream)) => {
                        let connection = Connection {
                            io: Io::Tls(Box::new(stream)),
                            _place: place,
                        };
                        let _ = ready.send(Ok(connection)).await;
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                }
            });
        }
    });
    ReceiverStream::new(stream)
}

/// Turns on TCP keepalive, probing after [`TCP_KEEPALIVE`] of silence. A
/// failure only loses the probe, so it is logged and the connection served.
fn keep_alive(tcp: &TcpStream) {
    use rustix::net::sockopt;
    if let Err(e) = sockopt::set_socket_keepalive(tcp, true)
        .and_then(|()| sockopt::set_tcp_keepidle(tcp, TCP_KEEPALIVE))
    {
        tracing::debug!(error = %e, "TCP keepalive could not be set");
    }
}

impl Connected for Connection {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        match &self.io {
            Io::Plain(tcp) => tcp.connect_info(),
            Io::Tls(tls) => tls.get_ref().0.connect_info(),
        }
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
