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
fn big_body(size: usize) -> serde_json::Value {
    json!({"data": {"blob": "x".repeat(size)}})
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
