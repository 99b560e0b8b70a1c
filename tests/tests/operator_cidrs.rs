//! A token's `bound_cidrs` holds on every operation, also the operator calls
//! outside the logical paths (rotate, key status, seal, rekey, raw storage):
//! a root-policy token bound to 127.0.0.1/32 does nothing from 127.0.0.2,
//! and works from 127.0.0.1. The daemon listens on 127.0.0.1; the test also
//! connects from 127.0.0.2 by binding the local address.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use tonic::transport::Channel;
use vault_proto::v1::sys_client::SysClient;
use vault_proto::v1::*;
use vault_tests::{Daemon, logical, logical_request, unsealed_with_kv, with_token};

async fn sys_from(daemon: &Daemon, from: &str) -> SysClient<Channel> {
    SysClient::new(vault_tests::channel_from(daemon, from).await)
}

/// Each operator call as `token` from `from`: the ones that were refused.
async fn refused(daemon: &Daemon, from: &str, token: &str) -> Vec<&'static str> {
    let mut sys = sys_from(daemon, from).await;
    let mut out = Vec::new();
    let denied = |r: Result<(), tonic::Status>| match r {
        Err(s) => s.code() == tonic::Code::PermissionDenied,
        Ok(()) => false,
    };
    if denied(
        sys.key_status(with_token(token, KeyStatusRequest {}))
            .await
            .map(drop),
    ) {
        out.push("key-status");
    }
    if denied(
        sys.rotate(with_token(token, RotateRequest {}))
            .await
            .map(drop),
    ) {
        out.push("rotate");
    }
    if denied(
        sys.rekey_status(with_token(token, RekeyStatusRequest {}))
            .await
            .map(drop),
    ) {
        out.push("rekey status");
    }
    let raw = RawPathRequest {
        path: "sys/whatever".into(),
    };
    match sys.raw_read(with_token(token, raw)).await {
        Err(s) if s.code() == tonic::Code::PermissionDenied => out.push("raw read"),
        _ => {}
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bound_root_token_does_nothing_from_another_address() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, keys) = unsealed_with_kv(dir.path());
    let bound = logical(&daemon)
        .await
        .write(logical_request(
            &keys.root_token,
            "auth/token/create",
            json!({"policies": ["root"], "bound_cidrs": ["127.0.0.1/32"]}),
        ))
        .await
        .unwrap()
        .into_inner()
        .auth
        .unwrap()
        .client_token;
    vault_tests::secret_scan::note(&bound);

    let from_elsewhere = refused(&daemon, "127.0.0.2", &bound).await;
    assert_eq!(
        from_elsewhere,
        vec!["key-status", "rotate", "rekey status", "raw read"],
        "every operator call from 127.0.0.2 must be refused"
    );
    let mut elsewhere = sys_from(&daemon, "127.0.0.2").await;
    let seal = elsewhere.seal(with_token(&bound, SealRequest {})).await;
    assert_eq!(
        seal.map(drop).unwrap_err().code(),
        tonic::Code::PermissionDenied,
        "seal from 127.0.0.2"
    );
    // From the bound address it is the root token it is.
    assert!(refused(&daemon, "127.0.0.1", &bound).await.is_empty());
    let mut here = sys_from(&daemon, "127.0.0.1").await;
    here.seal(with_token(&bound, SealRequest {})).await.unwrap();
}
