//! Response wrapping through the real daemon: a response asked for with
//! `X-Vault-Wrap-TTL` (or the gRPC field) comes back as `wrap_info` alone;
//! the wrapping token unwraps it once, can be looked up without being spent,
//! rewrapped (the old one dies) and does nothing else; it and its cubbyhole
//! leave storage when its TTL ends though nobody presents it; policies can
//! demand wrapping within bounds; and the audit log ties every attempt to
//! the wrapping token. (Database credentials: tests/database.rs; the `bao`
//! CLI and hvac: bao_cli.rs and the hvac suite.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vault_tests::http::{curl, http, ok, raw_children};
use vault_tests::{Daemon, Init, init, unseal, write_config};

/// The error an unknown, spent or expired wrapping token gets.
const NOT_VALID: &str = "wrapping token is not valid or does not exist";

/// A vault with KV v2 at `secret/` and a file audit device writing `log`.
fn start(dir: &Path, log: &Path) -> (Daemon, Init) {
    let device = format!(
        "[[audit]]\nname = \"file\"\ntype = \"file\"\noptions = {{ file_path = \"{}\" }}\n",
        log.display()
    );
    let config = write_config(dir, &device);
    let daemon = Daemon::start_with(&config, dir);
    let keys = init(&daemon, 1, 1);
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    daemon
        .cli(
            Some(&keys.root_token),
            &["secrets", "enable", "--path", "secret", "kv-v2"],
        )
        .expect_code(0);
    (daemon, keys)
}

/// An HTTP call asking for the answer wrapped for `ttl` (no token when
/// `token` is empty): (status, JSON body).
fn wrapped(
    daemon: &Daemon,
    token: &str,
    ttl: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let url = format!("{}/v1/{path}", daemon.addr);
    let token_header = format!("X-Vault-Token: {token}");
    let ttl_header = format!("X-Vault-Wrap-TTL: {ttl}");
    let mut args = vec!["-X", method, "-H", &ttl_header];
    if !token.is_empty() {
        args.extend(["-H", &token_header]);
    }
    let text;
    if let Some(b) = &body {
        text = b.to_string();
        args.extend(["-d", &text]);
    }
    args.push(&url);
    let (code, body) = curl(&args);
    let answer = serde_json::from_str(&body).unwrap_or(Value::Null);
    if let Some(token) = answer["wrap_info"]["token"].as_str() {
        vault_tests::secret_scan::note(token);
    }
    (code, answer)
}

/// The wrap_info of a call that must be wrapped.
fn wrap(daemon: &Daemon, token: &str, ttl: &str, method: &str, path: &str, body: Value) -> Value {
    let (code, answer) = wrapped(daemon, token, ttl, method, path, Some(body));
    assert_eq!(code, 200, "{method} {path} wrapped: {answer}");
    answer["wrap_info"].clone()
}

/// `sys/wrapping/<what>` called with the wrapping token as the caller's
/// token: (status, answer).
fn with_wrapping(daemon: &Daemon, wrapping: &str, what: &str) -> (u16, Value) {
    http(
        daemon,
        wrapping,
        "POST",
        &format!("sys/wrapping/{what}"),
        Some(json!({})),
    )
}

fn errors(answer: &Value) -> String {
    answer["errors"].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrapped_read_unwraps_once_and_the_audit_log_ties_every_attempt_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let (daemon, keys) = start(dir.path(), &log);
    let root = &keys.root_token;
    ok(
        &daemon,
        root,
        "POST",
        "secret/data/app",
        json!({"data": {"password": "wrapped-value-Hq3"}}),
    );

    let (code, answer) = wrapped(&daemon, root, "300", "GET", "secret/data/app", None);
    assert_eq!(code, 200, "{answer}");
    // wrap_info and nothing else.
    assert!(answer["data"].is_null(), "{answer}");
    assert!(answer["auth"].is_null(), "{answer}");
    assert_eq!(answer["lease_id"], "");
    let info = answer["wrap_info"].clone();
    assert_eq!(info["ttl"], 300);
    assert_eq!(info["creation_path"], "secret/data/app");
    assert!(info["creation_time"].as_str().unwrap().ends_with('Z'));
    let token = info["token"].as_str().unwrap().to_owned();
    let accessor = info["accessor"].as_str().unwrap().to_owned();
    assert!(!accessor.is_empty());

    // Lookup needs no token and does not spend it.
    for _ in 0..2 {
        let (code, looked) = http(
            &daemon,
            "",
            "POST",
            "sys/wrapping/lookup",
            Some(json!({ "token": token })),
        );
        assert_eq!(code, 200, "{looked}");
        assert_eq!(looked["data"]["creation_path"], "secret/data/app");
        assert_eq!(looked["data"]["creation_ttl"], 300);
    }

    // The wrapping token is good for nothing else, and trying does not
    // spend it.
    let (code, refused) = http(&daemon, &token, "GET", "secret/data/app", None);
    assert_eq!(code, 403, "{refused}");
    let (code, refused) = http(&daemon, &token, "GET", "auth/token/lookup-self", None);
    assert_eq!(code, 403, "{refused}");

    // Unwrapped once, by whoever holds it.
    let (code, inside) = with_wrapping(&daemon, &token, "unwrap");
    assert_eq!(code, 200, "{inside}");
    assert_eq!(inside["data"]["data"]["password"], "wrapped-value-Hq3");
    assert!(inside["wrap_info"].is_null());
    // A second party (here: the header, then the body) gets a clear error.
    let (code, again) = with_wrapping(&daemon, &token, "unwrap");
    assert_eq!(code, 400, "{again}");
    assert!(errors(&again).contains(NOT_VALID), "{again}");
    let (code, again) = http(
        &daemon,
        root,
        "POST",
        "sys/wrapping/unwrap",
        Some(json!({ "token": token })),
    );
    assert_eq!(code, 400, "{again}");
    assert!(errors(&again).contains(NOT_VALID), "{again}");
    let (code, looked) = http(
        &daemon,
        "",
        "POST",
        "sys/wrapping/lookup",
        Some(json!({ "token": token })),
    );
    assert_eq!(code, 400, "{looked}");

    // The audit log: the wrap's answer carries the token's and accessor's
    // HMACs; the unwrap that took it, the accessor's; each later attempt,
    // the token's HMAC (header or body) with its error. Nothing in the clear.
    let hash = |input: &str| {
        let out = daemon.cli(Some(root), &["audit", "hash", "file", input]);
        out.expect_code(0);
        out.stdout.trim().to_owned()
    };
    let (token_hash, accessor_hash) = (hash(&token), hash(&accessor));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(&token) && !text.contains(&accessor));
    assert!(!text.contains("wrapped-value-Hq3"));
    let entries: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let wrap_answer = entries
        .iter()
        .find(|e| {
            e["type"] == "response" && e["response"]["wrap_info"]["accessor"] == accessor_hash
        })
        .expect("the wrap's answer is audited with the wrapping accessor");
    assert_eq!(wrap_answer["response"]["wrap_info"]["token"], token_hash);
    assert_eq!(wrap_answer["request"]["wrap_ttl"], 300);
    let unwraps: Vec<&Value> = entries
        .iter()
        .filter(|e| e["type"] == "response" && e["request"]["path"] == "sys/wrapping/unwrap")
        .collect();
    assert_eq!(unwraps.len(), 3, "{unwraps:?}");
    assert_eq!(
        unwraps[0]["request"]["wrapping_token_accessor"],
        accessor_hash
    );
    assert_eq!(unwraps[0]["error"], "", "{}", unwraps[0]);
    assert_eq!(unwraps[1]["request"]["client_token"], token_hash);
    assert_eq!(unwraps[2]["request"]["data"]["token"], token_hash);
    for failed in &unwraps[1..] {
        assert!(
            failed["error"].as_str().unwrap().contains(NOT_VALID),
            "{failed}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrapping_token_past_its_ttl_is_gone_from_storage_with_its_cubbyhole() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let (daemon, keys) = start(dir.path(), &log);
    let root = &keys.root_token;
    let info = wrap(
        &daemon,
        root,
        "2s",
        "POST",
        "sys/wrapping/wrap",
        json!({"handed": "over"}),
    );
    let token = info["token"].as_str().unwrap().to_owned();
    assert_eq!(info["ttl"], 2);
    assert_eq!(info["creation_path"], "sys/wrapping/wrap");
    // The response is stored in the wrapping token's own cubbyhole.
    assert_eq!(raw_children(&daemon, root, "sys/token/cubbyhole/").len(), 1);

    // Nobody presents it: the expiration manager removes it and its
    // cubbyhole (looked at in storage only).
    let deadline = Instant::now() + Duration::from_secs(30);
    while !raw_children(&daemon, root, "sys/token/cubbyhole/").is_empty() {
        assert!(
            Instant::now() < deadline,
            "an expired wrapping token's cubbyhole is still stored after 30 s"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let index = raw_children(&daemon, root, "sys/token/expiry/");
    assert!(index.is_empty(), "the expiry index still holds {index:?}");
    let (code, late) = with_wrapping(&daemon, &token, "unwrap");
    assert_eq!(code, 400, "{late}");
    assert!(errors(&late).contains(NOT_VALID), "{late}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrap_kills_the_old_token_and_tokens_and_grpc_calls_wrap_too() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let (daemon, keys) = start(dir.path(), &log);
    let root = &keys.root_token;

    // A new token, wrapped: wrapped_accessor names it; unwrapping gives a
    // token that works.
    let info = wrap(
        &daemon,
        root,
        "5m",
        "POST",
        "auth/token/create",
        json!({"policies": ["default"]}),
    );
    let old = info["token"].as_str().unwrap().to_owned();
    let inner_accessor = info["wrapped_accessor"].as_str().unwrap().to_owned();
    assert!(!inner_accessor.is_empty(), "{info}");

    // Rewrap: a new wrapping token for the same response; the old is dead.
    let (code, rewrapped) = with_wrapping(&daemon, &old, "rewrap");
    assert_eq!(code, 200, "{rewrapped}");
    let new = rewrapped["wrap_info"]["token"].as_str().unwrap().to_owned();
    vault_tests::secret_scan::note(&new);
    assert_ne!(new, old);
    assert_eq!(rewrapped["wrap_info"]["creation_path"], "auth/token/create");
    let (code, dead) = with_wrapping(&daemon, &old, "unwrap");
    assert_eq!(code, 400, "{dead}");
    let (code, inside) = with_wrapping(&daemon, &new, "unwrap");
    assert_eq!(code, 200, "{inside}");
    assert_eq!(inside["auth"]["accessor"], inner_accessor.as_str());
    let made = inside["auth"]["client_token"].as_str().unwrap().to_owned();
    vault_tests::secret_scan::note(&made);
    let me = ok(&daemon, &made, "GET", "auth/token/lookup-self", json!({}));
    assert_eq!(me["data"]["accessor"], inner_accessor.as_str());

    // The gRPC field asks the same as the header.
    let mut logical = vault_tests::logical(&daemon).await;
    ok(
        &daemon,
        root,
        "POST",
        "secret/data/grpc",
        json!({"data": {"k": "v"}}),
    );
    let answer = logical
        .read(vault_tests::with_token(
            root,
            vault_proto::v1::LogicalRequest {
                path: "secret/data/grpc".into(),
                data_json: String::new(),
                wrap_ttl: "1m".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(answer.data_json.is_empty());
    let info = answer.wrap_info.expect("wrapped over gRPC");
    vault_tests::secret_scan::note(&info.token);
    assert_eq!(
        (info.ttl, info.creation_path.as_str()),
        (60, "secret/data/grpc")
    );

    // A wrap TTL that is not one, past the longest, or asked of an endpoint
    // that needs one and got none: clear errors.
    let (code, bad) = wrapped(&daemon, root, "soon", "GET", "secret/data/grpc", None);
    assert_eq!(code, 400, "{bad}");
    assert!(errors(&bad).contains("X-Vault-Wrap-TTL"), "{bad}");
    let (code, bad) = wrapped(&daemon, root, "800h", "GET", "secret/data/grpc", None);
    assert_eq!(code, 400, "{bad}");
    let (code, bad) = http(
        &daemon,
        root,
        "POST",
        "sys/wrapping/wrap",
        Some(json!({"a": "b"})),
    );
    assert_eq!(code, 400, "{bad}");
    assert!(errors(&bad).contains("requires response wrapping"), "{bad}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_that_demands_wrapping_refuses_unwrapped_and_out_of_bounds_requests() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let (daemon, keys) = start(dir.path(), &log);
    let root = &keys.root_token;
    ok(
        &daemon,
        root,
        "POST",
        "secret/data/zero",
        json!({"data": {"id": "first-secret"}}),
    );
    let policy = r#"path "secret/data/zero" {
  capabilities = ["read"]
  min_wrapping_ttl = "1m"
  max_wrapping_ttl = 600
}"#;
    ok(
        &daemon,
        root,
        "PUT",
        "sys/policies/acl/wrapped-only",
        json!({ "policy": policy }),
    );
    let made = ok(
        &daemon,
        root,
        "POST",
        "auth/token/create",
        json!({"policies": ["wrapped-only"]}),
    );
    let limited = made["auth"]["client_token"].as_str().unwrap().to_owned();
    vault_tests::secret_scan::note(&limited);

    let (code, refused) = http(&daemon, &limited, "GET", "secret/data/zero", None);
    assert_eq!(code, 403, "{refused}");
    for ttl in ["30s", "11m"] {
        let (code, refused) = wrapped(&daemon, &limited, ttl, "GET", "secret/data/zero", None);
        assert_eq!(code, 403, "wrap ttl {ttl}: {refused}");
    }
    let info = wrap(
        &daemon,
        &limited,
        "5m",
        "GET",
        "secret/data/zero",
        json!({}),
    );
    assert_eq!(info["creation_path"], "secret/data/zero");
    let (code, inside) = with_wrapping(&daemon, info["token"].as_str().unwrap(), "unwrap");
    assert_eq!(code, 200, "{inside}");
    assert_eq!(inside["data"]["data"]["id"], "first-secret");

    // Bounds that cannot hold together are refused when written.
    let (code, bad) = http(
        &daemon,
        root,
        "PUT",
        "sys/policies/acl/backwards",
        Some(
            json!({ "policy": "path \"a\" {\n capabilities = [\"read\"]\n min_wrapping_ttl = \"10m\"\n max_wrapping_ttl = \"1m\"\n}" }),
        ),
    );
    assert_eq!(code, 400, "{bad}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_cli_wraps_a_new_token_unwraps_it_and_logs_in_with_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let (daemon, keys) = start(dir.path(), &log);
    let root = &keys.root_token;
    let home = dir.path().join("app-home");
    std::fs::create_dir(&home).unwrap();
    let home = home.to_str().unwrap();
    let as_app = |args: &[&str], stdin: Option<&str>| {
        vault_tests::cli_with_env(&daemon.addr, None, args, stdin, &[("HOME", home)])
    };

    let out = daemon.cli(
        Some(root),
        &["--wrap-ttl", "90s", "token", "create", "--format", "json"],
    );
    out.expect_code(0);
    let wrapped = out.json();
    let info = &wrapped["wrap_info"];
    assert_eq!(info["ttl"], 90, "{wrapped}");
    assert_eq!(info["creation_path"], "auth/token/create");
    assert!(wrapped["auth"].is_null(), "{wrapped}");
    let token = info["token"].as_str().unwrap().to_owned();
    vault_tests::secret_scan::note(&token);
    // The table names its rows as Vault's CLI does, and --field takes them.
    let out = daemon.cli(
        Some(root),
        &["--wrap-ttl", "90s", "read", "auth/token/lookup-self"],
    );
    out.expect_code(0);
    for row in [
        "wrapping_token ",
        "wrapping_accessor ",
        "wrapping_token_ttl ",
        "wrapping_token_creation_path ",
    ] {
        assert!(out.stdout.contains(row), "{row}: {}", out.stdout);
    }

    // The application: no token of its own; unwrap's JSON is what it logs
    // in with.
    let unwrapped = as_app(&["unwrap", &token, "--format", "json"], None);
    unwrapped.expect_code(0);
    let made = unwrapped.json()["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    as_app(&["login", "-"], Some(&unwrapped.stdout)).expect_code(0);
    let stored = std::fs::read_to_string(Path::new(home).join(".vault-token")).unwrap();
    assert_eq!(stored.trim(), made);
    let me = as_app(
        &["read", "--field", "accessor", "auth/token/lookup-self"],
        None,
    );
    me.expect_code(0);
    assert_eq!(me.stdout.trim(), info["wrapped_accessor"].as_str().unwrap());
    // Operator commands answer over the Sys service, whose answers have no
    // wrap_info: asked to wrap, they refuse instead of answering in the clear.
    for args in [
        &["--wrap-ttl", "1m", "operator", "key-status"][..],
        &["--wrap-ttl", "1m", "status"][..],
    ] {
        let out = daemon.cli(Some(root), args);
        assert_eq!(out.code, 1, "{args:?}: {}", out.stdout);
        assert!(
            out.stderr.contains("not available on the Sys service"),
            "{}",
            out.stderr
        );
    }
    // Spent: a second unwrap (now with the stored token as the caller, the
    // wrapping token in the body) says so.
    let again = as_app(&["unwrap", &token], None);
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert!(again.stderr.contains(NOT_VALID), "{}", again.stderr);
}
