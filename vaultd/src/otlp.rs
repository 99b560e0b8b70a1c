//! Export of request spans over OTLP/HTTP with JSON encoding (`POST
//! <endpoint>/v1/traces`), to a collector: `[telemetry] otlp_endpoint =
//! "http://127.0.0.1:4318"`. Spans are queued (bounded: when the collector is
//! slow, spans are dropped and counted, requests never wait) and sent in
//! batches by one task, at most a second after they end.
//!
//! Plain HTTP only, written by hand (one POST per batch, `Connection: close`)
//! to keep the dependency tree as it is: the collector is expected on the
//! same host or network segment (an agent or sidecar), as is usual.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::mpsc;

/// Spans waiting to be sent at most; beyond it they are dropped.
const QUEUE: usize = 4096;
/// Spans per POST at most.
const BATCH: usize = 512;
/// How long a span waits for its batch to fill.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// One POST, connect to answer.
const POST_TIMEOUT: Duration = Duration::from_secs(5);

/// Where spans go: host:port and path, from an `http://host:port` endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    authority: String,
    path: String,
}

impl Endpoint {
    /// Parses `http://host:port[/base]`; the traces path is appended.
    pub fn parse(text: &str) -> Result<Endpoint, String> {
        // Credentials in the address would be logged with every export
        // failure and sent in the clear: refused, and not echoed.
        if text.contains('@') {
            return Err(
                "must not carry credentials (user:password@): this exporter sends \
                        none, over plain HTTP"
                    .to_owned(),
            );
        }
        let rest = text
            .strip_prefix("http://")
            .ok_or_else(|| format!("{text:?} must start with http:// (OTLP/HTTP, plain)"))?;
        let (authority, base) = match rest.split_once('/') {
            Some((a, b)) => (a, b.trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() || !authority.contains(':') {
            return Err(format!("{text:?} must name a host and port"));
        }
        let path = if base.is_empty() {
            "/v1/traces".to_owned()
        } else {
            format!("/{base}/v1/traces")
        };
        Ok(Endpoint {
            authority: authority.to_owned(),
            path,
        })
    }
}

/// The sending side: cheap to clone, never blocks a request.
#[derive(Debug, Clone)]
pub struct Exporter {
    queue: mpsc::Sender<Value>,
    dropped: Arc<AtomicU64>,
}

impl Exporter {
    /// Starts the sending task.
    pub fn start(endpoint: Endpoint) -> Exporter {
        let (queue, spans) = mpsc::channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        tokio::spawn(send_loop(endpoint, spans, Arc::clone(&dropped)));
        Exporter { queue, dropped }
    }

    /// Queues one span (an OTLP JSON span object).
    pub fn export(&self, span: Value) {
        if self.queue.try_send(span).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn send_loop(endpoint: Endpoint, mut spans: mpsc::Receiver<Value>, dropped: Arc<AtomicU64>) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let Some(first) = spans.recv().await else {
            return;
        };
        batch.push(first);
        let deadline = tokio::time::Instant::now() + FLUSH_EVERY;
        while batch.len() < BATCH {
            match tokio::time::timeout_at(deadline, spans.recv()).await {
                Ok(Some(span)) => batch.push(span),
                Ok(None) | Err(_) => break,
            }
        }
        let body = request_body(std::mem::take(&mut batch));
        if let Err(e) = post(&endpoint, &body).await {
            let lost = dropped.load(Ordering::Relaxed);
            tracing::warn!(endpoint = %endpoint.authority, error = %e, dropped_before = lost,
                "could not export spans over OTLP; this batch is dropped");
        }
    }
}

/// The OTLP/JSON `ExportTraceServiceRequest` for `spans`.
fn request_body(spans: Vec<Value>) -> Vec<u8> {
    json!({
        "resourceSpans": [{
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": "vaultd"}},
                {"key": "service.version", "value": {"stringValue": env!("CARGO_PKG_VERSION")}},
            ]},
            "scopeSpans": [{"scope": {"name": "vaultd"}, "spans": spans}],
        }]
    })
    .to_string()
    .into_bytes()
}

async fn post(endpoint: &Endpoint, body: &[u8]) -> Result<(), String> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(&endpoint.authority)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            endpoint.path,
            endpoint.authority,
            body.len()
        );
        stream
            .write_all(head.as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        stream
            .write_all(body)
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut answer = Vec::new();
        // The status line is all we need; the collector closes after it.
        stream
            .take(64 * 1024)
            .read_to_end(&mut answer)
            .await
            .map_err(|e| format!("read: {e}"))?;
        let status = String::from_utf8_lossy(&answer);
        let code = status.split_whitespace().nth(1).unwrap_or("none");
        if code.starts_with('2') {
            Ok(())
        } else {
            Err(format!("the collector answered {code}"))
        }
    };
    tokio::time::timeout(POST_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no answer within {POST_TIMEOUT:?}"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_plain_http_with_a_port() {
        let e = Endpoint::parse("http://127.0.0.1:4318").unwrap();
        assert_eq!(
            (e.authority.as_str(), e.path.as_str()),
            ("127.0.0.1:4318", "/v1/traces")
        );
        let e = Endpoint::parse("http://collector:4318/otlp/").unwrap();
        assert_eq!(e.path, "/otlp/v1/traces");
        assert!(Endpoint::parse("https://c:4318").is_err());
        assert!(Endpoint::parse("http://collector").is_err());
        let refused = Endpoint::parse("http://user:hunter22@collector:4318").unwrap_err();
        assert!(!refused.contains("hunter22"), "{refused}");
    }
}
