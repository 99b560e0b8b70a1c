//! What a token passes on to the tokens it creates, through the real daemon: a
//! use-limited token creates none (its uses would be escaped), and a child of a
//! token bound to some networks is bound to them too, or to narrower ones.
//! The daemon listens on 127.0.0.1; the tests also connect from 127.0.0.2 by
//! binding the local address.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use std::net::IpAddr;

use serde_json::{Value, json};
use tonic::Code;
use tonic::transport::{Channel, Endpoint};
use vault_proto::v1::logical_client::LogicalClient;
use vault_tests::{Daemon, logical_request, unsealed_with_kv};

/// A connection to `daemon` from the local address `from`.
async fn client_from(daemon: &Daemon, from: &str) -> LogicalClient<Channel> {
    let from: IpAddr = from.parse().unwrap();
    let channel = Endpoint::from_shared(daemon.addr.clone())
        .unwrap()
        .local_address(Some(from))
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connecting from {from}: {e}"));
    LogicalClient::new(channel)
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
