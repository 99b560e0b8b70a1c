//! W3C trace context for each logical request: the caller's `traceparent`
//! (gRPC metadata or HTTP header) is honoured, so the vault's span joins the
//! caller's trace; without one, the request starts a trace of its own. The
//! request's span carries its request id and trace ids into every log line
//! written while it is handled, and its `traceparent` goes back in the
//! response metadata.
//!
//! When a request ends its span is exported where `[telemetry]` says: as one
//! JSON line on stdout (`span_export = "stdout"`, `"type":"span"`), and/or to
//! an OTLP/HTTP collector (`otlp_endpoint`, see `otlp.rs`).

use std::fmt::Write as _;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The metadata key (and HTTP header) of the W3C trace context.
pub const TRACEPARENT: &str = "traceparent";

/// One request's place in a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// 32 lower-case hex digits, never all zero.
    pub trace_id: String,
    /// This request's span: 16 lower-case hex digits.
    pub span_id: String,
    /// The caller's span, when it sent a `traceparent`.
    pub parent_span_id: Option<String>,
    /// The caller's flags (01: sampled), or 01 for a trace started here.
    pub flags: String,
}

impl TraceContext {
    /// The context for a request that came with `traceparent` (if any, and
    /// valid: a malformed one is ignored, as the W3C spec asks).
    pub fn for_request(traceparent: Option<&str>) -> TraceContext {
        let span_id = random_hex(8);
        match traceparent.and_then(parse) {
            Some((trace_id, parent, flags)) => TraceContext {
                trace_id,
                span_id,
                parent_span_id: Some(parent),
                flags,
            },
            None => TraceContext {
                trace_id: random_hex(16),
                span_id,
                parent_span_id: None,
                flags: "01".into(),
            },
        }
    }

    /// This span as a `traceparent` value, for the response.
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-{}", self.trace_id, self.span_id, self.flags)
    }
}

/// `00-<trace id>-<parent id>-<flags>`, all lower-case hex, ids not all zero.
/// A higher version is read the same way (its first four fields), as the
/// spec asks of a version-00 parser.
fn parse(text: &str) -> Option<(String, String, String)> {
    let mut parts = text.trim().split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let valid = hex(version, 2)
        && version != "ff"
        && (version != "00" || parts.next().is_none())
        && hex(trace, 32)
        && hex(parent, 16)
        && hex(flags, 2)
        && trace.bytes().any(|b| b != b'0')
        && parent.bytes().any(|b| b != b'0');
    valid.then(|| (trace.to_owned(), parent.to_owned(), flags.to_owned()))
}

/// `bytes` (8 or 16) of id as hex. Trace and span ids must be unique, not
/// secret: a counter mixed with a per-process random seed (splitmix64, a
/// bijection, so no two counters give the same id), which costs no system
/// call per request as the system RNG would.
fn random_hex(bytes: usize) -> String {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let seed = *SEED.get_or_init(|| {
        let mut buf = [0u8; 8];
        // Without the system RNG, the clock still tells processes apart.
        if vault_core::random::fill(&mut buf).is_err() {
            buf = (unix_nanos() as u64).to_le_bytes();
        }
        u64::from_le_bytes(buf)
    });
    let mut out = String::with_capacity(bytes * 2);
    for _ in 0..bytes.div_ceil(8) {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Never all zero: W3C ids must not be.
        let id = splitmix64(seed.wrapping_add(n)).max(1);
        let _ = write!(out, "{id:016x}");
    }
    out.truncate(bytes * 2);
    out
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Where finished spans go (from `[telemetry]`).
#[derive(Debug, Clone, Default)]
pub struct SpanExport {
    /// Write each request's span to stdout.
    pub stdout: bool,
    /// Send each request's span to this OTLP/HTTP collector.
    pub otlp: Option<crate::otlp::Endpoint>,
}

/// Writes finished spans where [`SpanExport`] says.
#[derive(Debug, Default)]
pub struct SpanSink {
    stdout: bool,
    otlp: Option<crate::otlp::Exporter>,
}

/// What is known of a request when its span ends.
#[derive(Debug)]
pub struct FinishedSpan<'a> {
    pub context: &'a TraceContext,
    pub request_id: &'a str,
    pub operation: &'a str,
    pub path: &'a str,
    pub started: Instant,
    pub started_unix_nanos: u128,
    /// `ok`, or the gRPC code's name.
    pub outcome: &'a str,
}

impl FinishedSpan<'_> {
    /// One request's span as an OTLP JSON span (ids hex, as OTLP/JSON has them).
    pub fn otlp_json(&self, end_unix_nanos: u128) -> serde_json::Value {
        let span = self;
        let attribute = |key: &str, value: &str| serde_json::json!({"key": key, "value": {"stringValue": value}});
        let mut out = serde_json::json!({
            "traceId": span.context.trace_id,
            "spanId": span.context.span_id,
            "name": format!("vault.{}", span.operation),
            "kind": 2,
            "startTimeUnixNano": span.started_unix_nanos.to_string(),
            "endTimeUnixNano": end_unix_nanos.to_string(),
            "attributes": [
                attribute("vault.request_id", span.request_id),
                attribute("vault.path", span.path),
                attribute("vault.outcome", span.outcome),
            ],
            "status": {"code": if span.outcome == "ok" { 1 } else { 2 }},
        });
        if let Some(parent) = &span.context.parent_span_id {
            out["parentSpanId"] = serde_json::json!(parent);
        }
        out
    }
}

impl SpanSink {
    /// Starts the OTLP sender, if configured (inside the runtime).
    pub fn start(export: &SpanExport) -> SpanSink {
        SpanSink {
            stdout: export.stdout,
            otlp: export.otlp.clone().map(crate::otlp::Exporter::start),
        }
    }

    /// Exports `span` (paths and ids only: never data).
    pub fn finish(&self, span: &FinishedSpan<'_>) {
        if !self.stdout && self.otlp.is_none() {
            return;
        }
        let duration = span.started.elapsed().as_nanos();
        if let Some(otlp) = &self.otlp {
            otlp.export(span.otlp_json(span.started_unix_nanos + duration));
        }
        if !self.stdout {
            return;
        }
        let line = serde_json::json!({
            "type": "span",
            "name": format!("vault.{}", span.operation),
            "trace_id": span.context.trace_id,
            "span_id": span.context.span_id,
            "parent_span_id": span.context.parent_span_id,
            "start_time_unix_nano": span.started_unix_nanos.to_string(),
            "end_time_unix_nano": (span.started_unix_nanos + duration).to_string(),
            "attributes": {
                "vault.request_id": span.request_id,
                "vault.path": span.path,
                "vault.outcome": span.outcome,
            },
        });
        println!("{line}");
    }
}

/// Now, in nanoseconds since the Unix epoch.
pub fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn ids_are_hex_of_the_right_length_and_distinct() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| random_hex(8)).collect();
        assert_eq!(ids.len(), 1000);
        assert!(
            ids.iter()
                .all(|i| i.len() == 16 && i.bytes().all(|b| b.is_ascii_hexdigit()))
        );
        assert_eq!(random_hex(16).len(), 32);
    }

    #[test]
    fn a_valid_traceparent_is_joined() {
        let c = TraceContext::for_request(Some(GOOD));
        assert_eq!(c.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(c.parent_span_id.as_deref(), Some("00f067aa0ba902b7"));
        assert_eq!(c.span_id.len(), 16);
        assert_ne!(c.span_id, "00f067aa0ba902b7");
        assert!(
            c.traceparent()
                .starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-")
        );
        assert!(c.traceparent().ends_with("-01"));
    }

    #[test]
    fn a_malformed_traceparent_starts_a_new_trace() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            let c = TraceContext::for_request(Some(bad));
            assert_eq!(c.parent_span_id, None, "{bad:?}");
            assert_eq!(c.trace_id.len(), 32);
            assert_ne!(c.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        }
        // A later version with more fields is read by its first four.
        let v1 = format!("01{}-more", &GOOD[2..]);
        assert!(
            TraceContext::for_request(Some(&v1))
                .parent_span_id
                .is_some()
        );
    }
}
