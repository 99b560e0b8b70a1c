//! What a token passes on to the tokens it creates, through the real daemon: a
//! use-limited token creates none (its uses would be escaped), and a child of a
//! token bound to some networks is bound to them too, or to narrower ones.
//! The daemon listens on 127.0.0.1; the tests also connect from 127.0.0.2 by
//! binding the local address.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use serde_json::{Value, json};
use tonic::Code;
use tonic::transport::Channel;
use vault_proto::v1::logical_client::LogicalClient;
use vault_tests::{Daemon, logical_request, unsealed_with_kv};

async fn client_from(daemon: &Daemon, from: &str) -> LogicalClient<Channel> {
    LogicalClient::new(vault_tests::channel_from(daemon, from).await)
}

/// `auth/token/create` (or `create-orphan`) as `token` from `from`: the new
/// token, or the refusal.
async fn create(
    daemon: &Daemon,
    from: &str,
    token: &str,
    path: &str,
    body: Value,
) -> Result<String, tonic::Status> {
    let response = client_from(daemon, from)
        .await
        .write(logical_request(token, path, body))
        .await?
        .into_inner();
    Ok(response.auth.unwrap().client_token)
}

/// `lookup-self` as `token` from `from`: `None` if it worked, else the
/// refusal's code (never the answer, which holds the token).
async fn lookup_self(daemon: &Daemon, from: &str, token: &str) -> Option<Code> {
    client_from(daemon, from)
        .await
        .read(logical_request(token, "auth/token/lookup-self", json!({})))
        .await
        .err()
        .map(|status| status.code())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_use_limited_token_cannot_create_child_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, keys) = unsealed_with_kv(dir.path());
    let root = keys.root_token.as_str();
    // A child of root, so it may create anything root may, but only 4 times.
    let limited = create(
        &daemon,
        "127.0.0.1",
        root,
        "auth/token/create",
        json!({"num_uses": 4}),
    )
    .await
    .unwrap();
    for (path, body) in [
        ("auth/token/create", json!({})),
        ("auth/token/create", json!({"num_uses": 1})),
        ("auth/token/create-orphan", json!({})),
    ] {
        let refused = create(&daemon, "127.0.0.1", &limited, path, body.clone())
            .await
            .map(|child| format!("a child was made: {}", child.len()))
            .unwrap_err();
        assert_eq!(
            refused.code(),
            Code::InvalidArgument,
            "{path} {body}: {refused:?}"
        );
        assert!(
            refused
                .message()
                .contains("restricted use token cannot generate child tokens"),
            "{path} {body}: {refused:?}"
        );
    }
    // An unlimited token still creates children.
    create(&daemon, "127.0.0.1", root, "auth/token/create", json!({}))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_inherits_its_parents_bound_cidrs() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, keys) = unsealed_with_kv(dir.path());
    let root = keys.root_token.as_str();
    // Not root: a root token's binding might one day be waived, as Vault
    // waives it for root tokens that never expire.
    client_from(&daemon, "127.0.0.1")
        .await
        .write(logical_request(
            root,
            "sys/policy/maker",
            json!({"policy": r#"path "auth/token/create" { capabilities = ["update"] }"#}),
        ))
        .await
        .unwrap();
    // The parent may only be used from 127.0.0.1/32 (the whole of 127/8 is
    // loopback, so 127.0.0.2 is another client on this machine).
    let parent = create(
        &daemon,
        "127.0.0.1",
        root,
        "auth/token/create",
        json!({"policies": ["maker"], "bound_cidrs": ["127.0.0.1/32"]}),
    )
    .await
    .unwrap();
    assert_eq!(
        lookup_self(&daemon, "127.0.0.2", &parent).await,
        Some(Code::PermissionDenied)
    );

    // A child made without asking for CIDRs has the parent's: it works from
    // 127.0.0.1 only, and so does its own child.
    let child = create(
        &daemon,
        "127.0.0.1",
        &parent,
        "auth/token/create",
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(lookup_self(&daemon, "127.0.0.1", &child).await, None);
    assert_eq!(
        lookup_self(&daemon, "127.0.0.2", &child).await,
        Some(Code::PermissionDenied),
        "a child of a bound token works from an address its parent may not use"
    );
    let grandchild = create(&daemon, "127.0.0.1", &child, "auth/token/create", json!({}))
        .await
        .unwrap();
    assert_eq!(
        lookup_self(&daemon, "127.0.0.2", &grandchild).await,
        Some(Code::PermissionDenied)
    );

    // Asking for CIDRs: each block must lie inside one of the parent's.
    let same = create(
        &daemon,
        "127.0.0.1",
        &parent,
        "auth/token/create",
        json!({"bound_cidrs": "127.0.0.1"}),
    )
    .await
    .unwrap();
    assert_eq!(lookup_self(&daemon, "127.0.0.1", &same).await, None);
    for wider in [
        json!({"bound_cidrs": ["127.0.0.0/8"]}),
        json!({"bound_cidrs": ["10.0.0.0/8"]}),
        json!({"bound_cidrs": "127.0.0.1/32,127.0.0.2/32"}),
        json!({"bound_cidrs": ["0.0.0.0/0"]}),
    ] {
        let refused = create(
            &daemon,
            "127.0.0.1",
            &parent,
            "auth/token/create",
            wider.clone(),
        )
        .await
        .map(|child| format!("a child was made: {}", child.len()))
        .unwrap_err();
        assert_eq!(
            refused.code(),
            Code::InvalidArgument,
            "{wider}: {refused:?}"
        );
        assert!(
            refused.message().contains("bound_cidrs"),
            "the refusal names the field: {refused:?}"
        );
    }

    // An unbound parent's children are bound only as asked.
    let free = create(
        &daemon,
        "127.0.0.1",
        root,
        "auth/token/create",
        json!({"bound_cidrs": ["127.0.0.0/8"]}),
    )
    .await
    .unwrap();
    assert_eq!(lookup_self(&daemon, "127.0.0.2", &free).await, None);
}

/// A child token asked to outlive its parent is capped to what the parent
/// has left, with a warning, so that its lookup tells the truth (the tree
/// revocation would kill it with its parent anyway).
#[test]
fn a_child_token_lives_no_longer_than_its_parent_and_lookup_says_so() {
    use vault_tests::http::http;
    let dir = tempfile::tempdir().unwrap();
    let (daemon, keys) = unsealed_with_kv(dir.path());
    let root = keys.root_token.as_str();
    let (_, parent) = http(
        &daemon,
        root,
        "POST",
        "auth/token/create",
        Some(json!({"ttl": "1h", "explicit_max_ttl": "2h"})),
    );
    let parent_token = parent["auth"]["client_token"].as_str().unwrap().to_owned();
    vault_tests::secret_scan::note(&parent_token);
    let (status, child) = http(
        &daemon,
        &parent_token,
        "POST",
        "auth/token/create",
        Some(json!({"ttl": "5h"})),
    );
    assert_eq!(status, 200, "{child}");
    let child_token = child["auth"]["client_token"].as_str().unwrap().to_owned();
    vault_tests::secret_scan::note(&child_token);
    assert!(
        child["auth"]["lease_duration"].as_u64().unwrap() <= 3600,
        "a 5h child of a 1h parent lives {}s",
        child["auth"]["lease_duration"]
    );
    assert!(
        child["warnings"].to_string().contains("capped"),
        "no warning: {child}"
    );
    let lookup = |token: &str| http(&daemon, token, "GET", "auth/token/lookup-self", None).1;
    let (parent_seen, child_seen) = (lookup(&parent_token), lookup(&child_token));
    assert!(
        child_seen["data"]["ttl"].as_u64().unwrap() <= 3600,
        "{child_seen}"
    );
    assert!(
        child_seen["data"]["expire_time"].as_str().unwrap()
            <= parent_seen["data"]["expire_time"].as_str().unwrap(),
        "child {child_seen} outlives parent {parent_seen}"
    );
    // Renewed, it still cannot pass its parent's hard end (2h).
    let (_, renewed) = http(
        &daemon,
        &child_token,
        "POST",
        "auth/token/renew-self",
        Some(json!({"increment": "5h"})),
    );
    assert!(
        renewed["auth"]["lease_duration"].as_u64().unwrap() <= 7200,
        "renewed for {}s",
        renewed["auth"]["lease_duration"]
    );
}
