//! Vault's HTTP API driven with `curl`, as operators and the README do.

use std::process::Command;

use serde_json::Value;

use crate::Daemon;

/// Runs curl with `args`; returns (HTTP status, body).
pub fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "30", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl must be installed (./scripts/test installs it)");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap(), body.to_owned())
}

/// An HTTP call with the token: (status, JSON body or Null).
pub fn http(
    daemon: &Daemon,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let url = format!("{}/v1/{path}", daemon.addr);
    let header = format!("X-Vault-Token: {token}");
    let mut args = vec!["-X", method, "-H", &header];
    let text;
    if let Some(b) = &body {
        text = b.to_string();
        args.extend(["-d", &text]);
    }
    args.push(&url);
    let (code, body) = curl(&args);
    let json = if body.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
    };
    (code, json)
}

/// An HTTP call with the token that must succeed (200 or 204): its answer.
pub fn ok(daemon: &Daemon, token: &str, method: &str, path: &str, body: Value) -> Value {
    let (code, answer) = http(daemon, token, method, path, Some(body));
    assert!(
        code == 200 || code == 204,
        "{method} {path}: {code} {answer}"
    );
    answer
}

/// The children of `folder` in the vault's storage, listed through the raw
/// endpoint with `root` (empty when there are none).
pub fn raw_children(daemon: &Daemon, root: &str, folder: &str) -> Vec<Value> {
    let (code, listed) = http(daemon, root, "LIST", &format!("sys/raw/{folder}"), None);
    match code {
        200 => listed["data"]["keys"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
        404 => Vec::new(),
        _ => panic!("raw list of {folder}: {code} {listed}"),
    }
}
