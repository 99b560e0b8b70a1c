//! The `stdout` and `socket` devices' sinks.

use std::io::Write;
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::device::Sink;

/// Writes entries to the daemon's standard output.
#[derive(Debug, Default)]
pub struct StdoutSink;

impl Sink for StdoutSink {
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(bytes)?;
        out.flush()
    }
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// Sends entries over TCP or a unix socket, connecting (again) as needed. Every
/// write has a timeout, so a peer that stops reading fails the write instead of
/// blocking the device for ever.
pub struct SocketSink {
    address: String,
    unix: bool,
    timeout: Duration,
    stream: Option<Stream>,
}

impl std::fmt::Debug for SocketSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketSink")
            .field("address", &self.address)
            .field("unix", &self.unix)
            .finish_non_exhaustive()
    }
}

impl SocketSink {
    /// A sink for `address` (`host:port`, or a path when `unix`).
    pub fn new(address: String, unix: bool, timeout: Duration) -> SocketSink {
        SocketSink {
            address,
            unix,
            timeout,
            stream: None,
        }
    }

    fn connect(&self) -> std::io::Result<Stream> {
        if self.unix {
            let s = UnixStream::connect(&self.address)?;
            s.set_write_timeout(Some(self.timeout))?;
            Ok(Stream::Unix(s))
        } else {
            let addr = self.address.parse().map_err(|_| {
                std::io::Error::other(format!("{:?} is not host:port", self.address))
            })?;
            let s = TcpStream::connect_timeout(&addr, self.timeout)?;
            s.set_write_timeout(Some(self.timeout))?;
            Ok(Stream::Tcp(s))
        }
    }
}

impl Sink for SocketSink {
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.stream.is_none() {
            self.stream = Some(self.connect()?);
        }
        let result = match self.stream.as_mut() {
            Some(Stream::Tcp(s)) => s.write_all(bytes).and_then(|()| s.flush()),
            Some(Stream::Unix(s)) => s.write_all(bytes).and_then(|()| s.flush()),
            None => Ok(()),
        };
        if result.is_err() {
            // Half a line may have gone out: start on a fresh connection.
            self.stream = None;
        }
        result
    }
}
