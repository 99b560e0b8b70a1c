//! Access through the real daemon and CLI: tokens, policies, KV v2, and the
//! token TTL boundary.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use std::time::{Duration, Instant};

use serde_json::json;
use vault_tests::{cli, logical, logical_request, unsealed_with_kv};

const READ_ONLY: &str = r#"path "secret/data/app" { capabilities = ["read"] }"#;

#[test]
fn a_read_only_token_reads_its_secret_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, keys) = unsealed_with_kv(dir.path());
    let root = Some(keys.root_token.as_str());
    daemon
        .cli(root, &["kv", "put", "secret/app", "password=hunter2"])
        .expect_code(0);
    daemon
        .cli(root, &["kv", "put", "secret/other", "password=swordfish"])
        .expect_code(0);
    cli(
        &daemon.addr,
        root,
        &["policy", "write", "app-ro", "-"],
        Some(READ_ONLY),
    )
    .expect_code(0);
    let token = daemon.cli(
        root,
        &["token", "create", "--policy", "app-ro", "--field", "token"],
    );
    token.expect_code(0);
    let token = token.stdout.trim().to_owned();
    assert!(token.starts_with("s.") && token.len() >= 38, "{token}");

    let read = daemon.cli(
        Some(&token),
        &["kv", "get", "--field", "password", "secret/app"],
    );
    read.expect_code(0);
    assert_eq!(read.stdout.trim(), "hunter2");
    for args in [
        &["kv", "put", "secret/app", "password=mine"][..],
        &["kv", "get", "secret/other"],
    ] {
        let out = daemon.cli(Some(&token), args);
        out.expect_code(1);
        assert!(
            out.stderr.contains("permission denied") && out.stderr.contains("PermissionDenied"),
            "{args:?}: {}",
            out.stderr
        );
    }
    // The data is unchanged, and the envelope is Vault's.
    let json = daemon
        .cli(root, &["read", "--format", "json", "secret/data/app"])
        .json();
    for field in [
        "request_id",
        "lease_id",
        "lease_duration",
        "renewable",
        "data",
        "warnings",
    ] {
        assert!(json.get(field).is_some(), "{field} missing from {json}");
    }
    assert_eq!(json["data"]["data"]["password"], "hunter2");
    let caps = daemon.cli(root, &["token", "capabilities", &token, "secret/data/app"]);
    assert_eq!(caps.stdout.trim(), "read");
}

#[test]
fn revoking_a_parent_revokes_its_children_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, keys) = unsealed_with_kv(dir.path());
    let root = Some(keys.root_token.as_str());
    let create = |parent: &str| {
        let out = daemon.cli(Some(parent), &["token", "create", "--field", "token"]);
        out.expect_code(0);
        out.stdout.trim().to_owned()
    };
    let parent = create(&keys.root_token);
    let child = create(&parent);
    let grandchild = create(&child);
    daemon
        .cli(Some(&grandchild), &["token", "lookup"])
        .expect_code(0);
    daemon
        .cli(root, &["token", "revoke", &parent])
        .expect_code(0);
    for t in [&parent, &child, &grandchild] {
        let out = daemon.cli(Some(t), &["token", "lookup"]);
        out.expect_code(1);
        assert!(out.stderr.contains("permission denied"), "{}", out.stderr);
    }
}

#[test]
fn renewal_is_capped_at_the_explicit_max_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, keys) = unsealed_with_kv(dir.path());
    let token = daemon.cli(
        Some(&keys.root_token),
        &[
            "token",
            "create",
            "--ttl",
            "1h",
            "--explicit-max-ttl",
            "90m",
            "--field",
            "token",
        ],
    );
    let token = token.stdout.trim().to_owned();
    let out = daemon.cli(
        Some(&token),
        &["token", "renew", "--increment", "3h", "--format", "json"],
    );
    out.expect_code(0);
    let ttl = out.json()["auth"]["lease_duration"].as_u64().unwrap();
    assert!(ttl <= 5400 && ttl > 5300, "{ttl}");
    assert!(out.stderr.contains("capped"), "{}", out.stderr);
    assert!(
        out.json()["warnings"][0]
            .as_str()
            .unwrap()
            .contains("max_ttl")
    );
}

#[test]
fn a_two_use_token_works_twice_then_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, keys) = unsealed_with_kv(dir.path());
    let token = daemon.cli(
        Some(&keys.root_token),
        &["token", "create", "--use-limit", "2", "--field", "token"],
    );
    let token = token.stdout.trim().to_owned();
    daemon
        .cli(Some(&token), &["token", "lookup"])
        .expect_code(0);
    daemon
        .cli(Some(&token), &["token", "lookup"])
        .expect_code(0);
    let third = daemon.cli(Some(&token), &["token", "lookup"]);
    third.expect_code(1);
    assert!(
        third.stderr.contains("permission denied"),
        "{}",
        third.stderr
    );
}

#[test]
fn kv_v2_cas_undelete_and_destroy() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, keys) = unsealed_with_kv(dir.path());
    let root = Some(keys.root_token.as_str());
    daemon
        .cli(root, &["kv", "put", "--cas", "0", "secret/db", "pw=one"])
        .expect_code(0);
    daemon
        .cli(root, &["kv", "put", "secret/db", "pw=two"])
        .expect_code(0);
    // A stale check-and-set is refused and changes nothing.
    let stale = daemon.cli(root, &["kv", "put", "--cas", "1", "secret/db", "pw=three"]);
    stale.expect_code(1);
    assert!(stale.stderr.contains("check-and-set"), "{}", stale.stderr);
    let get = |version: &str| {
        daemon.cli(
            root,
            &[
                "kv",
                "get",
                "--version",
                version,
                "--field",
                "pw",
                "secret/db",
            ],
        )
    };
    assert_eq!(
        daemon
            .cli(root, &["kv", "get", "--field", "pw", "secret/db"])
            .stdout
            .trim(),
        "two"
    );

    daemon
        .cli(root, &["kv", "delete", "--versions", "1", "secret/db"])
        .expect_code(0);
    // Deleted: nothing to read, Vault's exit code 2.
    get("1").expect_code(2);
    daemon
        .cli(root, &["kv", "undelete", "--versions", "1", "secret/db"])
        .expect_code(0);
    assert_eq!(get("1").stdout.trim(), "one");

    daemon
        .cli(root, &["kv", "destroy", "--versions", "2", "secret/db"])
        .expect_code(0);
    get("2").expect_code(2);
    daemon
        .cli(root, &["kv", "undelete", "--versions", "2", "secret/db"])
        .expect_code(0);
    get("2").expect_code(2);
    let meta = daemon
        .cli(
            root,
            &["kv", "metadata", "get", "--format", "json", "secret/db"],
        )
        .json();
    assert_eq!(meta["data"]["versions"]["2"]["destroyed"], true);
    assert_eq!(meta["data"]["current_version"], 2);
}

#[test]
fn dot_segments_are_refused_before_any_policy_is_consulted() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, keys) = unsealed_with_kv(dir.path());
    for token in [Some(keys.root_token.as_str()), None] {
        let out = daemon.cli(token, &["read", "secret/data/a/../b"]);
        out.expect_code(1);
        assert!(
            out.stderr.contains("'..' segments are not allowed"),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("InvalidArgument"), "{}", out.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_near_the_hard_limit_cannot_outlive_it() {
    // CVE-2021-32923: a token with ttl 5 s and max 8 s renewed at 7.9 s gets at most
    // 0.1 s, and is dead at 8 s.
    let dir = tempfile::tempdir().unwrap();
    let (daemon, keys) = unsealed_with_kv(dir.path());
    let mut client = logical(&daemon).await;
    let created = client
        .write(logical_request(
            &keys.root_token,
            "auth/token/create",
            json!({"ttl": "5s", "explicit_max_ttl": "8s"}),
        ))
        .await
        .unwrap()
        .into_inner();
    // The server made the token before this instant, so its deadlines are earlier.
    let made = Instant::now();
    let token = created.auth.unwrap().client_token;
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    let early = client
        .write(logical_request(
            &token,
            "auth/token/renew-self",
            json!({"increment": "5s"}),
        ))
        .await
        .unwrap()
        .into_inner();
    let ttl = early.auth.unwrap().lease_duration;
    assert!(ttl <= 5, "renewed at 3 s: {ttl}");

    tokio::time::sleep(
        (made + Duration::from_millis(7_900)).saturating_duration_since(Instant::now()),
    )
    .await;
    let late = client
        .write(logical_request(
            &token,
            "auth/token/renew-self",
            json!({"increment": "5s"}),
        ))
        .await;
    if let Ok(late) = late {
        let late = late.into_inner();
        assert_eq!(
            late.auth.unwrap().lease_duration,
            0,
            "at 7.9 s at most 0.1 s may be left"
        );
        assert!(
            late.warnings.iter().any(|w| w.contains("capped")),
            "{:?}",
            late.warnings
        );
    }
    tokio::time::sleep(
        (made + Duration::from_millis(8_050)).saturating_duration_since(Instant::now()),
    )
    .await;
    let dead = client
        .read(logical_request(&token, "auth/token/lookup-self", json!({})))
        .await
        .unwrap_err();
    assert_eq!(dead.code(), tonic::Code::PermissionDenied);
}
