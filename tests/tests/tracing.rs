//! Request tracing on the real daemon: a caller's W3C `traceparent` is
//! joined (the vault's span has the caller's trace id and the caller's span as
//! parent), the trace and request ids are in the daemon's JSON log line for
//! the request, in the exported span and in the response, and the request id
//! is in the audit entries.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use serde_json::{Value, json};
use vault_tests::{Daemon, Init, eventually, init, logical, logical_request, unseal, write_config};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// Inits and unseals `daemon`, then reads `sys/mounts` as part of the
/// caller's trace (`TRACE_ID`, parent span `CALLER_SPAN`).
async fn read_in_callers_trace(
    daemon: &Daemon,
) -> (Init, tonic::Response<vault_proto::v1::LogicalResponse>) {
    let keys = init(daemon, 1, 1);
    unseal(daemon, &keys.keys_hex[0]).expect_code(0);
    let mut request = logical_request(&keys.root_token, "sys/mounts", json!({}));
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{TRACE_ID}-{CALLER_SPAN}-01").parse().unwrap(),
    );
    let response = logical(daemon).await.read(request).await.unwrap();
    (keys, response)
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[tokio::test]
async fn a_callers_trace_is_joined_and_its_ids_are_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.log");
    let config = write_config(
        dir.path(),
        &format!(
            "log_format = \"json\"\n[telemetry]\nspan_export = \"stdout\"\n\
             [[audit]]\nname = \"file\"\ntype = \"file\"\noptions = {{ file_path = \"{}\" }}\n",
            audit.display()
        ),
    );
    // Request completions are logged at debug.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("log_level = \"info\"", "log_level = \"info,vaultd=debug\"");
    std::fs::write(&config, text).unwrap();
    let daemon = Daemon::start_with(&config, dir.path());
    let (keys, response) = read_in_callers_trace(&daemon).await;
    let returned = response
        .metadata()
        .get("traceparent")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let request_id = response.get_ref().request_id.clone();
    assert_eq!(
        response.metadata().get("x-vault-request-id").unwrap(),
        request_id.as_str()
    );
    // 00-<the caller's trace>-<the vault's own span>-01
    let parts: Vec<&str> = returned.split('-').collect();
    assert_eq!(parts[1], TRACE_ID, "{returned}");
    assert_ne!(parts[2], CALLER_SPAN);
    let span_id = parts[2].to_owned();

    // The exported span: the caller's trace, its span as parent.
    let exported = eventually(std::time::Duration::from_secs(10), || async {
        json_lines(&std::fs::read_to_string(&daemon.stdout).unwrap_or_default())
            .into_iter()
            .any(|l| l["type"] == "span" && l["span_id"] == span_id.as_str())
    })
    .await;
    assert!(exported.is_some(), "no span exported");
    let spans = json_lines(&std::fs::read_to_string(&daemon.stdout).unwrap());
    let span = spans
        .iter()
        .find(|l| l["span_id"] == span_id.as_str())
        .unwrap();
    assert_eq!(span["trace_id"], TRACE_ID);
    assert_eq!(span["parent_span_id"], CALLER_SPAN);
    assert_eq!(span["attributes"]["vault.request_id"], request_id.as_str());
    assert_eq!(span["attributes"]["vault.outcome"], "ok");

    // The daemon's JSON log line for the request carries both ids.
    let logs = json_lines(&daemon.log_text());
    let line = logs
        .iter()
        .find(|l| l["span"]["trace_id"] == TRACE_ID)
        .unwrap_or_else(|| panic!("no log line with the trace id: {}", daemon.log_text()));
    assert_eq!(line["span"]["request_id"], request_id.as_str());
    assert_eq!(line["fields"]["message"], "request finished");

    // And the audit entries name the request.
    let audited = std::fs::read_to_string(&audit).unwrap();
    let ids: Vec<Value> = json_lines(&audited)
        .into_iter()
        .filter(|e| e["request"]["id"] == request_id.as_str())
        .map(|e| e["type"].clone())
        .collect();
    assert_eq!(ids, vec![json!("request"), json!("response")]);

    // A request without a traceparent starts a trace of its own.
    let response = logical(&daemon)
        .await
        .read(logical_request(&keys.root_token, "sys/mounts", json!({})))
        .await
        .unwrap();
    let own = response
        .metadata()
        .get("traceparent")
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(own.len(), 55, "{own}");
    assert!(!own.contains(TRACE_ID));
}

/// A minimal OTLP/HTTP collector on loopback: answers 200 to each POST and
/// hands its JSON body to the test.
async fn otlp_receiver() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<(String, Value)>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (bodies, received) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        for _ in 0..100 {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let mut data = Vec::new();
            let mut buf = [0u8; 8192];
            // Headers, then as many bytes as Content-Length says.
            let (head, body) = loop {
                let n = stream.read(&mut buf).await.unwrap();
                assert!(n > 0, "the exporter hung up mid-request");
                data.extend_from_slice(&buf[..n]);
                if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&data[..end]).into_owned();
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap();
                    while data.len() < end + 4 + length {
                        let n = stream.read(&mut buf).await.unwrap();
                        data.extend_from_slice(&buf[..n]);
                    }
                    break (head, data[end + 4..end + 4 + length].to_vec());
                }
            };
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
                .await
                .unwrap();
            let request_line = head.lines().next().unwrap_or_default().to_owned();
            let _ = bodies.send((request_line, serde_json::from_slice(&body).unwrap()));
        }
    });
    (address, received)
}

#[tokio::test]
async fn spans_reach_an_otlp_collector() {
    let (collector, mut received) = otlp_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!("[telemetry]\notlp_endpoint = \"http://{collector}\""),
    );
    let daemon = Daemon::start_with(&config, dir.path());
    let (keys, response) = read_in_callers_trace(&daemon).await;
    let request_id = response.get_ref().request_id.clone();

    // Batches go at most a second after a span ends.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let span = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let (request_line, body) = tokio::time::timeout(left, received.recv())
            .await
            .expect("no span reached the collector")
            .unwrap();
        assert_eq!(request_line, "POST /v1/traces HTTP/1.1");
        let resource = &body["resourceSpans"][0];
        assert_eq!(
            resource["resource"]["attributes"][0]["value"]["stringValue"],
            "vaultd"
        );
        let spans = resource["scopeSpans"][0]["spans"]
            .as_array()
            .unwrap()
            .clone();
        if let Some(span) = spans.into_iter().find(|s| s["traceId"] == TRACE_ID) {
            break span;
        }
    };
    assert_eq!(span["parentSpanId"], CALLER_SPAN);
    assert_eq!(span["kind"], 2);
    assert_eq!(span["status"]["code"], 1);
    let attributes = span["attributes"].as_array().unwrap();
    assert!(
        attributes
            .contains(&json!({"key": "vault.request_id", "value": {"stringValue": request_id}}))
    );
    // Never a value or token: the attributes are the request id, path and outcome.
    assert!(!span.to_string().contains(&keys.root_token));
}
