//! `cubbyhole/` through the real daemon: each token's private storage,
//! which no other token reaches (root included), which cannot be disabled
//! or moved, and which is gone from storage (read through `sys/raw`) once
//! its token is revoked.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use serde_json::{Value, json};
use vault_tests::http::{http, ok, raw_children};
use vault_tests::unsealed_with_kv;

/// A token made by root with only the default policy.
fn token(daemon: &vault_tests::Daemon, root: &str) -> String {
    let made = ok(daemon, root, "POST", "auth/token/create", json!({}));
    let token = made["auth"]["client_token"].as_str().unwrap().to_owned();
    vault_tests::secret_scan::note(&token);
    token
}

/// The token folders stored under the cubbyhole prefix, read raw.
fn stored_cubbyholes(daemon: &vault_tests::Daemon, root: &str) -> Vec<Value> {
    raw_children(daemon, root, "sys/token/cubbyhole/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_token_sees_only_its_own_cubbyhole_and_takes_it_when_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, init) = unsealed_with_kv(dir.path());
    let root = &init.root_token;
    let alice = token(&daemon, root);
    let bob = token(&daemon, root);

    ok(
        &daemon,
        &alice,
        "POST",
        "cubbyhole/notes/first",
        json!({"note": "alice-only"}),
    );
    let read = ok(&daemon, &alice, "GET", "cubbyhole/notes/first", json!({}));
    assert_eq!(read["data"], json!({"note": "alice-only"}));
    let listed = ok(&daemon, &alice, "LIST", "cubbyhole/notes/", json!({}));
    assert_eq!(listed["data"]["keys"], json!(["first"]));

    // Nobody else reaches it, root included: the same path is empty for them.
    for other in [bob.as_str(), root.as_str()] {
        let (code, answer) = http(&daemon, other, "GET", "cubbyhole/notes/first", None);
        assert_eq!(code, 404, "{answer}");
    }
    ok(
        &daemon,
        &bob,
        "POST",
        "cubbyhole/notes/first",
        json!({"note": "bob's own"}),
    );
    let read = ok(&daemon, &alice, "GET", "cubbyhole/notes/first", json!({}));
    assert_eq!(read["data"], json!({"note": "alice-only"}));
    // A child token has a cubbyhole of its own too.
    let child = token(&daemon, &alice);
    let (code, _) = http(&daemon, &child, "GET", "cubbyhole/notes/first", None);
    assert_eq!(code, 404);

    // Stored apart per token; revoking alice's takes hers (and, with her
    // child, nothing of bob's).
    assert_eq!(stored_cubbyholes(&daemon, root).len(), 2);
    ok(
        &daemon,
        root,
        "POST",
        "auth/token/revoke",
        json!({ "token": alice }),
    );
    assert_eq!(stored_cubbyholes(&daemon, root).len(), 1);
    let read = ok(&daemon, &bob, "GET", "cubbyhole/notes/first", json!({}));
    assert_eq!(read["data"], json!({"note": "bob's own"}));
    ok(
        &daemon,
        root,
        "POST",
        "auth/token/revoke",
        json!({ "token": bob }),
    );
    assert!(stored_cubbyholes(&daemon, root).is_empty());

    // Built in: listed, and neither disabled nor mounted over.
    let mounts = ok(&daemon, root, "GET", "sys/mounts", json!({}));
    assert_eq!(
        mounts["data"]["cubbyhole/"]["type"], "cubbyhole",
        "{mounts}"
    );
    let (code, refused) = http(&daemon, root, "DELETE", "sys/mounts/cubbyhole", None);
    assert!(code >= 400, "{refused}");
    let (code, refused) = http(
        &daemon,
        root,
        "POST",
        "sys/mounts/cubbyhole",
        Some(json!({"type": "kv"})),
    );
    assert_eq!(code, 400, "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_and_its_cubbyhole_are_removed_without_being_presented() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, init) = unsealed_with_kv(dir.path());
    let root = &init.root_token;
    let made = ok(
        &daemon,
        root,
        "POST",
        "auth/token/create",
        json!({"ttl": "2s"}),
    );
    let short = made["auth"]["client_token"].as_str().unwrap().to_owned();
    let accessor = made["auth"]["accessor"].as_str().unwrap().to_owned();
    vault_tests::secret_scan::note(&short);
    ok(&daemon, &short, "POST", "cubbyhole/left", json!({"k": "v"}));
    assert_eq!(stored_cubbyholes(&daemon, root).len(), 1);

    // Never presented again: the expiration manager's sweep (every 5 s)
    // removes the entry and the cubbyhole. Only storage is looked at, by
    // raw list and by accessor (which does not touch the token itself).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !stored_cubbyholes(&daemon, root).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the expired token's cubbyhole is still stored after 30 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let (code, answer) = http(
        &daemon,
        root,
        "POST",
        "auth/token/lookup-accessor",
        Some(json!({ "accessor": accessor })),
    );
    assert_eq!(code, 400, "{answer}");
    let index = raw_children(&daemon, root, "sys/token/expiry/");
    assert!(index.is_empty(), "the expiry index still holds {index:?}");
}
