//! Request size limits on the real daemon: an oversized request is refused
//! with the limit named, over gRPC and HTTP, while a normal request made at
//! the same time is served; requests under the limit (above the libraries'
//! own defaults) go through.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use std::process::Command;

use serde_json::json;
use vault_tests::{Daemon, init, logical, logical_request, unseal, write_config};

const MIB: usize = 1 << 20;

/// A daemon with the default limit (32 MiB), unsealed, KV v2 at `secret/`.
fn vault(dir: &std::path::Path, extra: &str) -> (Daemon, String) {
    let config = write_config(dir, extra);
    let daemon = Daemon::start_with(&config, dir);
    let keys = init(&daemon, 1, 1);
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    daemon
        .cli(
            Some(&keys.root_token),
            &[
                "secrets",
                "enable",
                "--path",
                "secret",
                "--version",
                "2",
                "kv",
            ],
        )
        .expect_code(0);
    (daemon, keys.root_token)
}

/// A KV write whose value is `size` bytes long.
/// About `size` bytes of data, in strings under the 1 MiB a JSON string may
/// hold (listener.max_json_string_value_length).
fn big_body(size: usize) -> serde_json::Value {
    let part = 512 * 1024;
    let blobs: serde_json::Map<String, serde_json::Value> = (0..size.div_ceil(part))
        .map(|i| (format!("blob{i}"), json!("x".repeat(part))))
        .collect();
    json!({ "data": blobs })
}

/// POSTs `body` from a file with curl; returns (status, response body).
fn curl_post(daemon: &Daemon, token: &str, path: &str, body: &[u8]) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body.json");
    std::fs::write(&file, body).unwrap();
    let out = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "60",
            "-w",
            "\n%{http_code}",
            "-X",
            "POST",
        ])
        .args(["-H", &format!("X-Vault-Token: {token}")])
        .args(["--data-binary", &format!("@{}", file.display())])
        .arg(format!("{}/v1/{path}", daemon.addr))
        .output()
        .expect("curl must be installed (./scripts/test installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (response, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().to_owned(), response.to_owned())
}

#[tokio::test]
async fn an_oversized_grpc_request_is_refused_while_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, root) = vault(dir.path(), "");
    let mut client = logical(&daemon).await.max_decoding_message_size(64 * MIB);
    client
        .write(logical_request(
            &root,
            "secret/data/small",
            json!({"data": {"v": "1"}}),
        ))
        .await
        .unwrap();

    let mut big_client = logical(&daemon).await;
    let big = big_client.write(logical_request(
        &root,
        "secret/data/huge",
        big_body(64 * MIB),
    ));
    let normal = client.read(logical_request(&root, "secret/data/small", json!({})));
    let (big, normal) = tokio::join!(big, normal);
    let refused = big.unwrap_err();
    assert!(
        matches!(
            refused.code(),
            tonic::Code::OutOfRange | tonic::Code::ResourceExhausted
        ),
        "{refused:?}"
    );
    assert!(
        refused.message().contains("33554432"),
        "{}",
        refused.message()
    );
    assert!(
        normal
            .unwrap()
            .into_inner()
            .data_json
            .contains("\"v\":\"1\"")
    );

    // Above tonic's own 4 MiB default, under the configured limit: served.
    client
        .write(logical_request(&root, "secret/data/six", big_body(6 * MIB)))
        .await
        .unwrap();
    let read = client
        .read(logical_request(&root, "secret/data/six", json!({})))
        .await
        .unwrap()
        .into_inner();
    assert!(read.data_json.len() > 6 * MIB);
    // Nothing of the refused write was stored.
    let missing = client
        .read(logical_request(&root, "secret/data/huge", json!({})))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn an_oversized_http_body_is_refused_with_the_limit_named() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, root) = vault(dir.path(), "");
    let huge = big_body(64 * MIB).to_string();
    let (code, body) = curl_post(&daemon, &root, "secret/data/huge", huge.as_bytes());
    assert_eq!(code, "413", "{body}");
    assert!(body.contains("listener.max_request_size"), "{body}");
    // Above axum's own 2 MB default, under the limit: served.
    let six = big_body(6 * MIB).to_string();
    let (code, body) = curl_post(&daemon, &root, "secret/data/six", six.as_bytes());
    assert_eq!(code, "200", "{body}");
    // And the daemon still serves.
    let mut client = logical(&daemon).await.max_decoding_message_size(64 * MIB);
    assert!(
        client
            .read(logical_request(&root, "secret/data/six", json!({})))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn the_limit_is_configurable_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("[listener]\n", "[listener]\nmax_request_size = 1048576\n");
    std::fs::write(&config, text).unwrap();
    let daemon = Daemon::start_with(&config, dir.path());
    let keys = init(&daemon, 1, 1);
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    let mut client = logical(&daemon).await;
    let refused = client
        .write(logical_request(
            &keys.root_token,
            "sys/policies/acl/p",
            big_body(2 * MIB),
        ))
        .await
        .unwrap_err();
    assert!(
        refused.message().contains("1048576"),
        "{}",
        refused.message()
    );

    let bad = write_config(dir.path(), "");
    let text = std::fs::read_to_string(&bad)
        .unwrap()
        .replace("[listener]\n", "[listener]\nmax_request_size = 10\n");
    std::fs::write(&bad, text).unwrap();
    let out = Command::new(vault_tests::bin("vaultd"))
        .arg("--config")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("listener.max_request_size"), "{stderr}");
}

/// A config with `lines` added to its `[listener]` table.
fn listener_config(dir: &std::path::Path, lines: &str) -> std::path::PathBuf {
    let config = write_config(dir, "");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("[listener]\n", &format!("[listener]\n{lines}\n"));
    std::fs::write(&config, text).unwrap();
    config
}

#[tokio::test]
async fn requests_beyond_the_concurrency_limit_are_refused_not_queued() {
    let dir = tempfile::tempdir().unwrap();
    let config = listener_config(dir.path(), "max_concurrent_requests = 2");
    let daemon = Daemon::start_with(&config, dir.path());
    let keys = init(&daemon, 1, 1);
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    let root = keys.root_token.clone();
    let mut client = logical(&daemon).await;
    for (path, body) in [
        ("sys/auth/userpass", json!({"type": "userpass"})),
        ("auth/userpass/users/app", json!({"password": "pw"})),
    ] {
        client
            .write(logical_request(&root, path, body))
            .await
            .unwrap();
    }
    // 40 logins at once (each an argon2 hash, so they overlap).
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let mut client = client.clone();
            tokio::spawn(async move {
                client
                    .write(logical_request(
                        "",
                        "auth/userpass/login/app",
                        json!({"password": "pw"}),
                    ))
                    .await
            })
        })
        .collect();
    let (mut served, mut refused) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => served += 1,
            Err(s) => {
                assert_eq!(s.code(), tonic::Code::ResourceExhausted, "{s:?}");
                assert!(
                    s.message().contains("listener.max_concurrent_requests"),
                    "{s:?}"
                );
                refused += 1;
            }
        }
    }
    assert!(
        served >= 2 && refused >= 1,
        "{served} served, {refused} refused"
    );
    // Once they are done, requests are served again.
    client
        .read(logical_request(&root, "sys/mounts", json!({})))
        .await
        .expect("served after the burst");
}

#[tokio::test]
async fn a_request_past_its_deadline_is_answered_and_others_are_served() {
    // A "database" that accepts connections and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let config = listener_config(dir.path(), "max_request_duration = \"1s\"");
    let daemon = Daemon::start_with(&config, dir.path());
    let keys = init(&daemon, 1, 1);
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    let root = keys.root_token.clone();
    let mut client = logical(&daemon).await;
    client
        .write(logical_request(
            &root,
            "sys/mounts/database",
            json!({"type": "database"}),
        ))
        .await
        .unwrap();

    let started = std::time::Instant::now();
    let mut slow_client = client.clone();
    let slow = slow_client.write(logical_request(
        &root,
        "database/config/silent",
        json!({
            "plugin_name": "postgresql-database-plugin",
            "connection_url": format!("postgres://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{port}/db"),
            "username": "u",
            "password": "p",
            "connect_timeout": "60s",
        }),
    ));
    let other = async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        client
            .clone()
            .read(logical_request(&root, "sys/mounts", json!({})))
            .await
    };
    let (slow, other) = tokio::join!(slow, other);
    let status = slow.unwrap_err();
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
    assert!(
        status.message().contains("listener.max_request_duration"),
        "{status:?}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "answered after {:?}",
        started.elapsed()
    );
    other.expect("another request is served meanwhile");
    drop(silent);
}

/// Sends `head` on a raw connection and returns what the server answers
/// before closing it (within `limit`).
async fn raw_exchange(daemon: &Daemon, head: &str, limit: std::time::Duration) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = daemon.addr.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(limit, stream.read_to_end(&mut answer))
        .await
        .ok()
        .map(|_| String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test]
async fn slow_and_silent_clients_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let config = listener_config(dir.path(), "max_request_duration = \"1s\"");
    let daemon = Daemon::start_with(&config, dir.path());
    let keys = init(&daemon, 1, 1);
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    let limit = std::time::Duration::from_secs(60);

    // A body promised and never finished: answered 408 after the duration.
    let body_head = format!(
        "POST /v1/sys/policies/acl/p HTTP/1.1\r\nHost: x\r\nX-Vault-Token: {}\r\n\
         Content-Length: 100\r\n\r\n{{\"policy\":",
        keys.root_token
    );
    // Headers begun and never finished: hyper drops the connection (30 s).
    let header_head = "GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nX-Half: ";
    let (body, header) = tokio::join!(
        raw_exchange(&daemon, &body_head, limit),
        raw_exchange(&daemon, header_head, limit),
    );
    let body = body.expect("the slow body's connection is answered and closed");
    assert!(body.starts_with("HTTP/1.1 408"), "{body}");
    assert!(body.contains("listener.max_request_duration"), "{body}");
    header.expect("the unfinished headers' connection is closed");
    // The daemon serves as before.
    let mut client = logical(&daemon).await;
    client
        .read(logical_request(&keys.root_token, "sys/mounts", json!({})))
        .await
        .expect("still serving");
}

#[tokio::test]
async fn overlong_paths_and_deeply_nested_data_are_refused_with_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, root) = vault(dir.path(), "");
    let mut client = logical(&daemon).await;
    let long = format!("secret/data/{}", "a".repeat(5000));
    let status = client
        .read(logical_request(&root, &long, json!({})))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("the limit is 4096"), "{status:?}");
    assert!(status.message().len() < 200, "the path is not echoed back");

    let nested = format!(
        "{{\"data\":{{\"v\":{}1{}}}}}",
        "[".repeat(200),
        "]".repeat(200)
    );
    let request = tonic::Request::new(vault_proto::v1::LogicalRequest {
        path: "secret/data/deep".into(),
        data_json: nested,
        ..Default::default()
    });
    let mut request = request;
    request
        .metadata_mut()
        .insert(vault_proto::TOKEN_METADATA_KEY, root.parse().unwrap());
    let status = client.write(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("listener.max_json_depth"),
        "{status:?}"
    );
    // Nesting within the limit is stored.
    client
        .write(logical_request(
            &root,
            "secret/data/deep",
            json!({"data": {"v": [[[[["fine"]]]]]}}),
        ))
        .await
        .unwrap();
}
