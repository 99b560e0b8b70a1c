//! Vault's HTTP API on vaultd's listener, black box with `curl`: the README's
//! examples run as written, and the same operations through HTTP and gRPC
//! give the same answers.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use std::process::Command;

use serde_json::{Value, json};
use vault_proto::v1::sys_client::SysClient;
use vault_proto::v1::{KeyStatusRequest, LogicalRequest, SealStatusRequest};
use vault_tests::http::{curl, http};
use vault_tests::{Daemon, logical, unsealed_with_kv, with_token, workspace_root};

/// A vault on SQLite, unsealed, with KV version 2 at `secret/`.
fn vault(dir: &std::path::Path) -> (Daemon, String) {
    let (daemon, keys) = unsealed_with_kv(dir);
    (daemon, keys.root_token)
}

#[test]
fn the_readme_curl_examples_work_as_written() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let (_, after) = readme
        .split_once("<!-- curl-examples")
        .expect("the README marks its curl examples");
    let block = after
        .split_once("```shell\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .map(|(block, _)| block)
        .expect("a shell block follows the marker");
    let dir = tempfile::tempdir().unwrap();
    let (daemon, root) = vault(dir.path());
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", block])
        .env("VAULT_ADDR", &daemon.addr)
        .env("VAULT_TOKEN", &root)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(!stdout.contains("\"errors\""), "{stdout}");
    for expected in [
        "\"initialized\":true",
        "\"password\":\"s3cr3t\"",
        "\"keys\":[\"app\"]",
        "\"client_token\"",
        "\"policies\":[\"app\",\"default\"]",
        "\"display_name\":\"root\"",
    ] {
        assert!(stdout.contains(expected), "no {expected} in {stdout}");
    }
}

/// The data of a gRPC Logical answer, or its code.
async fn grpc(
    daemon: &Daemon,
    token: &str,
    op: &str,
    path: &str,
    body: Value,
) -> Result<Value, tonic::Code> {
    let mut client = logical(daemon).await;
    let request = with_token(
        token,
        LogicalRequest {
            path: path.into(),
            data_json: body.to_string(),
            ..Default::default()
        },
    );
    let out = match op {
        "read" => client.read(request).await,
        "list" => client.list(request).await,
        "write" => client.write(request).await,
        "delete" => client.delete(request).await,
        _ => unreachable!(),
    };
    match out {
        Ok(r) => {
            let r = r.into_inner();
            Ok(if r.data_json.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&r.data_json).unwrap()
            })
        }
        Err(s) => Err(s.code()),
    }
}

/// The HTTP status Vault gives a failure with this gRPC code.
fn expected_status(code: tonic::Code) -> u16 {
    match code {
        tonic::Code::NotFound => 404,
        tonic::Code::PermissionDenied => 403,
        tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition => 400,
        tonic::Code::Unimplemented => 405,
        tonic::Code::Unavailable => 503,
        other => panic!("unexpected code {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_and_grpc_give_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, root) = vault(dir.path());
    grpc(
        &daemon,
        &root,
        "write",
        "secret/data/same",
        json!({"data": {"a": 1, "b": "two"}}),
    )
    .await
    .unwrap();
    let (code, _) = http(
        &daemon,
        &root,
        "PUT",
        "sys/policies/acl/reader",
        Some(json!({"policy": "path \"secret/data/same\" { capabilities = [\"read\"] }"})),
    );
    assert_eq!(code, 204);
    let reader = grpc(
        &daemon,
        &root,
        "write",
        "auth/token/create",
        json!({"policies": ["reader"]}),
    )
    .await;
    // The token itself is in `auth`, not `data`; make one over HTTP instead.
    assert!(reader.is_ok());
    let (_, created) = http(
        &daemon,
        &root,
        "POST",
        "auth/token/create",
        Some(json!({"policies": ["reader"], "ttl": "1h"})),
    );
    let reader = created["auth"]["client_token"].as_str().unwrap().to_owned();

    // (token, gRPC op, HTTP method, path) — the same operation both ways.
    let cases: Vec<(&str, &str, &str, &str)> = vec![
        (&root, "read", "GET", "secret/data/same"),
        (&root, "read", "GET", "secret/metadata/same"),
        (&root, "list", "LIST", "secret/metadata/"),
        (&root, "read", "GET", "sys/mounts"),
        (&root, "read", "GET", "sys/policies/acl/reader"),
        (&root, "list", "LIST", "sys/policies/acl"),
        (&reader, "read", "GET", "secret/data/same"),
        // Failures: missing, denied, unsupported, no such mount.
        (&root, "read", "GET", "secret/data/missing"),
        (&reader, "read", "GET", "sys/mounts"),
        (&reader, "write", "PUT", "secret/data/same"),
        ("not-a-token", "read", "GET", "secret/data/same"),
        (&root, "delete", "DELETE", "sys/policies/acl/root"),
        (&root, "read", "GET", "nowhere/x"),
    ];
    for (token, op, method, path) in cases {
        let body = if op == "write" {
            json!({"data": {"x": 1}})
        } else {
            json!({})
        };
        let via_grpc = grpc(&daemon, token, op, path, body.clone()).await;
        let (status, via_http) = http(
            &daemon,
            token,
            method,
            path,
            (op == "write").then_some(body),
        );
        match via_grpc {
            Ok(data) => {
                assert_eq!(status, 200, "{method} {path}: {via_http}");
                assert_eq!(via_http["data"], data, "{method} {path}");
            }
            Err(code) => {
                assert_eq!(
                    status,
                    expected_status(code),
                    "{method} {path}: {code:?} {via_http}"
                );
                assert!(via_http["errors"].is_array(), "{method} {path}: {via_http}");
            }
        }
    }

    // The lifecycle calls: seal status and key status.
    let mut sys = SysClient::connect(daemon.addr.clone()).await.unwrap();
    let status = sys
        .seal_status(SealStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    let (code, via_http) = http(&daemon, &root, "GET", "sys/seal-status", None);
    assert_eq!(code, 200);
    assert_eq!(via_http["type"], status.r#type);
    assert_eq!(via_http["initialized"], status.initialized);
    assert_eq!(via_http["sealed"], status.sealed);
    assert_eq!(via_http["t"], status.t);
    assert_eq!(via_http["n"], status.n);
    assert_eq!(via_http["version"], status.version.as_str());
    assert_eq!(via_http["storage_type"], status.storage_type.as_str());
    let keys = sys
        .key_status(with_token(&root, KeyStatusRequest {}))
        .await
        .unwrap()
        .into_inner();
    let (code, via_http) = http(&daemon, &root, "GET", "sys/key-status", None);
    assert_eq!(code, 200);
    assert_eq!(via_http["term"], keys.term);
    assert_eq!(via_http["install_time"], keys.install_time.as_str());

    // HTTP-only conventions: Bearer tokens, ?list=true, bad JSON, 204.
    let url = format!("{}/v1/secret/metadata?list=true", daemon.addr);
    let bearer = format!("Authorization: Bearer {root}");
    let (code, body) = curl(&["-H", &bearer, &url]);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"same\""), "{body}");
    let url = format!("{}/v1/secret/data/x", daemon.addr);
    let header = format!("X-Vault-Token: {root}");
    let (code, body) = curl(&["-X", "POST", "-H", &header, "-d", "{not json", &url]);
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("errors"), "{body}");
    let (code, body) = curl(&["-X", "OPTIONS", "-H", &header, &url]);
    assert_eq!(code, 405, "{body}");
    // Asked for a wrapped answer: wrap_info, never the secret itself; where
    // nothing can be wrapped (served beside the pipeline), refused.
    let url = format!("{}/v1/secret/data/same", daemon.addr);
    let (code, body) = curl(&["-H", &header, "-H", "X-Vault-Wrap-TTL: 60s", &url]);
    assert_eq!(code, 200, "{body}");
    assert!(
        !body.contains("two") && body.contains("wrap_info"),
        "{body}"
    );
    for path in ["sys/key-status", "sys/rekey/init", "sys/rotate/root/init"] {
        let url = format!("{}/v1/{path}", daemon.addr);
        let (code, body) = curl(&["-H", &header, "-H", "X-Vault-Wrap-TTL: 60s", &url]);
        assert_eq!(code, 400, "{path}: {body}");
        assert!(body.contains(&format!("not available on {path}")), "{body}");
    }
    // Sealed: 503 everywhere but the lifecycle endpoints.
    let (code, _) = http(&daemon, &root, "PUT", "sys/seal", None);
    assert_eq!(code, 204);
    let (code, body) = http(&daemon, &root, "GET", "secret/data/same", None);
    assert_eq!(code, 503, "{body}");
    let (code, body) = http(&daemon, &root, "GET", "sys/health", None);
    assert_eq!(code, 503);
    assert_eq!(body["sealed"], true);
    let (code, _) = curl(&[&format!("{}/v1/sys/health?sealedcode=200", daemon.addr)]);
    assert_eq!(code, 200);
}

#[test]
fn a_second_listen_address_serves_the_same_apis() {
    let dir = tempfile::tempdir().unwrap();
    let config = vault_tests::write_config(dir.path(), "");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "[listener]\n",
        "[listener]\nhttp_address = \"127.0.0.1:0\"\n",
    );
    std::fs::write(&config, text).unwrap();
    let daemon = Daemon::start_with(&config, dir.path());
    let mut second = None;
    for _ in 0..100 {
        let printed = std::fs::read_to_string(&daemon.stdout).unwrap_or_default();
        if let Some(line) = printed
            .lines()
            .find_map(|l| l.strip_prefix("vaultd: also listening on "))
        {
            second = Some(line.trim().to_owned());
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let second = second.expect("the second address is printed");
    assert_ne!(second, daemon.addr);
    // Vault's HTTP API and the gRPC API on both.
    for addr in [&daemon.addr, &second] {
        let (code, body) = curl(&[&format!("{addr}/v1/sys/health")]);
        assert_eq!(code, 501, "{addr}: {body}");
        let out = vault_tests::cli(addr, None, &["status", "--format", "json"], None);
        out.expect_code(2);
        assert_eq!(out.json()["initialized"], false);
    }
    assert!(daemon.stop().success());
}

#[test]
fn dot_segments_never_reach_another_mount() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, root) = vault(dir.path());
    let header = format!("X-Vault-Token: {root}");
    // --path-as-is: curl would otherwise resolve the dots itself.
    for path in [
        "secret/../sys/policies/acl/default",
        "secret/data/../../sys/mounts",
        "secret/%2e%2e/sys/mounts",
    ] {
        let url = format!("{}/v1/{path}", daemon.addr);
        let (code, body) = curl(&["--path-as-is", "-H", &header, &url]);
        assert_eq!(code, 400, "{path}: {body}");
        assert!(body.contains("segments are not allowed"), "{path}: {body}");
    }
    // Encoded characters are the characters, as in Vault.
    let (code, _) = http(
        &daemon,
        &root,
        "POST",
        "secret/data/my%20key",
        Some(json!({"data": {"v": "1"}})),
    );
    assert_eq!(code, 200);
    let (code, body) = http(&daemon, &root, "GET", "secret/metadata/?list=true", None);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["data"]["keys"], json!(["my key"]));
}

/// `GET` (or `HEAD`) `target` over a raw connection: the status code, the
/// headers (names lowercased) and the body bytes, exactly as sent.
fn raw_get(daemon: &Daemon, method: &str, target: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    use std::io::{Read, Write};
    let addr = daemon.addr.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    // Read until the server closes: a 101 keeps the connection open for the
    // protocol it switched to, so a timeout ends that read instead.
    let mut raw = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
        }
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers: {}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, raw[split + 4..].to_vec())
}

/// Vault's `?activecode=` and friends let a caller choose the status code;
/// only codes a proxy frames like any other answer may be chosen. A 101 told
/// the client the connection now speaks another protocol; a 204 or 304 sent
/// a Content-Length that a proxy would not read a body for; 1xx, 3xx and
/// codes outside 100-599 are not health answers.
#[test]
fn health_codes_a_proxy_cannot_frame_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, _root) = vault(dir.path());
    for query in [
        "activecode=101",
        "activecode=100",
        "activecode=204",
        "activecode=304",
        "activecode=302",
        "activecode=600",
        "activecode=99",
        "activecode=1000",
        "activecode=abc",
        "activecode=",
        // Checked whichever one answers, as Vault does.
        "sealedcode=101",
        "uninitcode=304",
        "standbycode=204",
    ] {
        let (code, headers, body) = raw_get(&daemon, "GET", &format!("/v1/sys/health?{query}"));
        let body = String::from_utf8_lossy(&body);
        assert_eq!(code, 400, "{query}: {headers:?} {body}");
        let name = query.split('=').next().unwrap();
        assert!(body.contains(name), "{query}: {body}");
    }
    for (query, expected) in [
        ("", 200),
        ("activecode=200", 200),
        ("activecode=299", 299),
        ("activecode=429", 429),
        ("activecode=503", 503),
        ("activecode=599", 599),
        ("sealedcode=200&standbycode=200", 200),
    ] {
        for method in ["GET", "HEAD"] {
            let (code, headers, body) =
                raw_get(&daemon, method, &format!("/v1/sys/health?{query}"));
            assert_eq!(code, expected, "{method} {query}");
            let length = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .map(|(_, v)| v.parse::<usize>().unwrap());
            if method == "GET" {
                assert_eq!(length, Some(body.len()), "{query}: {headers:?}");
                let json: Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(json["sealed"], false, "{query}");
            } else {
                assert!(body.is_empty(), "HEAD {query}");
            }
        }
    }
}

#[test]
fn init_takes_the_empty_pgp_fields_the_official_cli_sends() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    // What `bao operator init -key-shares=1 -key-threshold=1` sends.
    let (code, body) = http(
        &daemon,
        "",
        "PUT",
        "sys/init",
        Some(json!({
            "secret_shares": 1, "secret_threshold": 1, "stored_shares": 0,
            "pgp_keys": null, "recovery_shares": 0, "recovery_threshold": 0,
            "recovery_pgp_keys": null, "root_token_pgp_key": ""
        })),
    );
    assert_eq!(code, 200, "{body}");
    vault_tests::secret_scan::note_in(&body);
    assert_eq!(body["keys"].as_array().map(Vec::len), Some(1), "{body}");
    // A real PGP key is refused, saying so.
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    let (code, body) = http(
        &daemon,
        "",
        "PUT",
        "sys/init",
        Some(json!({"secret_shares": 1, "secret_threshold": 1, "root_token_pgp_key": "mQENBF..."})),
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.to_string().contains("PGP"), "{body}");
}
