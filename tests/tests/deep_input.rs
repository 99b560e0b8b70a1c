//! Deeply nested input to every parser a caller can reach, on the real daemon:
//! a username template and a policy nested 200,000 levels deep are refused
//! with 400 (HTTP) or InvalidArgument (gRPC), and the daemon keeps serving,
//! unsealed. A parser that recursed once per level overflowed its thread's
//! stack, which aborts the whole process; it came back sealed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use std::process::Command;

use serde_json::{Value, json};
use vault_tests::{Daemon, logical, logical_request, status, unsealed_with_kv};

/// Levels of nesting in each hostile input: far past any bound, and enough
/// to overflow a 2 MiB thread stack by recursion.
const DEPTH: usize = 200_000;

/// `method` `/v1/<path>` with `body` from a file (the body is large for a
/// command line); returns (HTTP status, body).
fn curl(daemon: &Daemon, token: &str, method: &str, path: &str, body: &Value) -> (u16, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body.json");
    std::fs::write(&file, body.to_string()).unwrap();
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "60",
            "-w",
            "\n%{http_code}",
            "-X",
            method,
        ])
        .args(["-H", &format!("X-Vault-Token: {token}")])
        .args(["--data-binary", &format!("@{}", file.display())])
        .arg(format!("{}/v1/{path}", daemon.addr))
        .output()
        .expect("curl must be installed (./scripts/test installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// The daemon still answers and is still unsealed.
async fn still_serving(daemon: &Daemon, root: &str) {
    let (code, out) = status(daemon);
    assert_eq!(code, 0, "status after the hostile input: {out}");
    assert_eq!(out["sealed"], json!(false), "{out}");
    let mut client = logical(daemon).await;
    client
        .write(logical_request(
            root,
            "secret/data/after",
            json!({"data": {"k": "v"}}),
        ))
        .await
        .expect("a write after the hostile input");
}

#[tokio::test]
async fn a_deeply_nested_username_template_is_refused_and_the_daemon_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, keys) = unsealed_with_kv(dir.path());
    let root = keys.root_token.clone();
    daemon
        .cli(Some(&root), &["secrets", "enable", "database"])
        .expect_code(0);
    let role = |template: String| {
        json!({
            "db_name": "pg",
            "creation_statements": ["CREATE ROLE {{name}}"],
            "username_template": template,
        })
    };
    let balanced = format!(
        "{{{{ {}.RoleName{} }}}}",
        "(".repeat(DEPTH),
        ")".repeat(DEPTH)
    );
    let unclosed = format!("{{{{ {} }}}}", "(".repeat(DEPTH));

    let mut client = logical(&daemon).await;
    for template in [&balanced, &unclosed] {
        let status = client
            .write(logical_request(
                &root,
                "database/roles/deep",
                role(template.clone()),
            ))
            .await
            .expect_err("a 200,000-deep template must be refused");
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains("nested"), "{status:?}");
    }
    let (code, body) = curl(
        &daemon,
        &root,
        "PUT",
        "database/roles/deep",
        &role(balanced),
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("nested"), "{body}");

    still_serving(&daemon, &root).await;
    // An ordinary template still works, and nothing of the refused ones was kept.
    let mut client = logical(&daemon).await;
    client
        .write(logical_request(
            &root,
            "database/roles/plain",
            role("{{ .RoleName | uppercase }}".into()),
        ))
        .await
        .expect("an ordinary role");
    let missing = client
        .read(logical_request(&root, "database/roles/deep", json!({})))
        .await;
    assert_eq!(
        missing.map_err(|s| s.code()).err(),
        Some(tonic::Code::NotFound)
    );
}

#[tokio::test]
async fn a_deeply_nested_policy_is_refused_and_the_daemon_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, keys) = unsealed_with_kv(dir.path());
    let root = keys.root_token.clone();
    let hcl = format!(
        "path \"secret/*\" {{ capabilities = {}\"read\"{} }}",
        "[".repeat(DEPTH),
        "]".repeat(DEPTH)
    );
    let blocks = format!("path \"secret/*\" {}", "{ x = ".repeat(DEPTH));
    for policy in [hcl, blocks] {
        let mut client = logical(&daemon).await;
        let status = client
            .write(logical_request(
                &root,
                "sys/policies/acl/deep",
                json!({ "policy": policy }),
            ))
            .await
            .expect_err("a 200,000-deep policy must be refused");
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        let (code, body) = curl(
            &daemon,
            &root,
            "PUT",
            "sys/policies/acl/deep",
            &json!({ "policy": policy }),
        );
        assert_eq!(code, 400, "{body}");
    }
    still_serving(&daemon, &root).await;
}
