//! Per-address rate limits on the real daemon: a flood of bad logins, or of
//! unseal calls, from one address is refused with the limit named, while a
//! caller at another loopback address (127.0.0.2) is served as usual.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use std::time::Instant;

use serde_json::json;
use tonic::Code;
use vault_proto::v1::UnsealRequest;
use vault_proto::v1::logical_client::LogicalClient;
use vault_proto::v1::sys_client::SysClient;
use vault_tests::{Daemon, init, logical_request, unseal, write_config};

fn login(user: &str, password: &str) -> tonic::Request<vault_proto::v1::LogicalRequest> {
    logical_request(
        "",
        &format!("auth/userpass/login/{user}"),
        json!({ "password": password }),
    )
}

/// An AppRole login with a role_id nobody has: refused, and cheap to refuse
/// (a userpass guess costs an argon2 hash, slow in a debug build).
fn guess(i: u32) -> tonic::Request<vault_proto::v1::LogicalRequest> {
    logical_request(
        "",
        "auth/approle/login",
        json!({ "role_id": format!("guess-{i}"), "secret_id": "wrong" }),
    )
}

#[tokio::test]
async fn a_thousand_bad_logins_from_one_address_do_not_slow_another() {
    let dir = tempfile::tempdir().unwrap();
    // The default burst (64); a refill slow enough that the test's own pace
    // cannot earn the guesser another attempt.
    let config = write_config(dir.path(), "[rate_limit.login_failures]\nper_second = 0.01");
    let daemon = Daemon::start_with(&config, dir.path());
    let keys = init(&daemon, 1, 1);
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    let root = &keys.root_token;
    let mut admin = LogicalClient::new(vault_tests::channel_from(&daemon, "127.0.0.1").await);
    for method in ["userpass", "approle"] {
        admin
            .write(logical_request(
                root,
                &format!("sys/auth/{method}"),
                json!({ "type": method }),
            ))
            .await
            .unwrap();
    }
    admin
        .write(logical_request(
            root,
            "auth/userpass/users/alice",
            json!({"password": "correct horse", "token_policies": "default"}),
        ))
        .await
        .unwrap();

    // 1,000 guesses from 127.0.0.1, 50 in flight at a time on one connection.
    let guesser = LogicalClient::new(vault_tests::channel_from(&daemon, "127.0.0.1").await);
    let started = Instant::now();
    let (mut checked, mut refused) = (0u32, 0u32);
    for round in 0..20 {
        let batch: Vec<_> = (0..50)
            .map(|i| {
                let mut client = guesser.clone();
                tokio::spawn(async move { client.write(guess(round * 50 + i)).await })
            })
            .collect();
        for task in batch {
            let status = task.await.unwrap().unwrap_err();
            match status.code() {
                Code::PermissionDenied => checked += 1,
                Code::ResourceExhausted => {
                    assert!(
                        status.message().contains("rate_limit.login_failures"),
                        "the refusal names the limit: {}",
                        status.message()
                    );
                    refused += 1;
                }
                other => panic!("unexpected {other:?}: {}", status.message()),
            }
        }
    }
    // The default burst of 64, and what 0.01 a second adds while it runs.
    let allowed = 64 + (started.elapsed().as_secs() / 100) as u32;
    assert!(
        checked <= allowed,
        "{checked} guesses were checked in {:?}; at most {allowed} may be",
        started.elapsed()
    );
    assert_eq!(checked + refused, 1000);
    assert!(checked >= 64, "the burst is allowed: {checked}");

    // Meanwhile 127.0.0.2 logs in at once, and 127.0.0.1 is refused, with
    // any method, even with the right password, until its bucket refills.
    let mut other = LogicalClient::new(vault_tests::channel_from(&daemon, "127.0.0.2").await);
    let ok = other
        .write(login("alice", "correct horse"))
        .await
        .expect("another address logs in");
    assert!(ok.into_inner().auth.is_some());
    let mut same = guesser.clone();
    let status = same
        .write(login("alice", "correct horse"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");

    // The refusals are audited like any refused request, and the daemon
    // still serves the guessing address's other requests.
    admin
        .read(logical_request(root, "sys/mounts", json!({})))
        .await
        .expect("still serving");
}

#[tokio::test]
async fn unseal_calls_are_limited_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[rate_limit.unseal]\nburst = 5\nper_second = 0.01",
    );
    let daemon = Daemon::start_with(&config, dir.path());
    let keys = init(&daemon, 3, 2);

    let mut flood = SysClient::new(vault_tests::channel_from(&daemon, "127.0.0.1").await);
    let share = |key: &str| UnsealRequest {
        key: key.into(),
        ..UnsealRequest::default()
    };
    // Five calls pass (malformed shares are refused on their merits)...
    for _ in 0..5 {
        let status = flood.unseal(share("not-a-share")).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    }
    // ...the sixth is refused before the share is looked at, a good one too.
    for key in ["not-a-share", keys.keys_hex[0].as_str()] {
        let status = flood.unseal(share(key)).await.unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        assert!(status.message().contains("rate_limit.unseal"), "{status:?}");
    }
    // The resets a stranger could use to disrupt the ceremony count too.
    let reset = UnsealRequest {
        reset: true,
        ..UnsealRequest::default()
    };
    let status = flood.unseal(reset).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");

    // The operators at another address unseal as usual.
    let mut operator = SysClient::new(vault_tests::channel_from(&daemon, "127.0.0.2").await);
    for key in &keys.keys_hex[..2] {
        operator
            .unseal(share(key))
            .await
            .expect("unseal from 127.0.0.2");
    }
    let status = vault_tests::status(&daemon);
    assert_eq!(status.1["sealed"], false, "{status:?}");
}

/// A refill rate too slow to wait for (1e-20 a second) was accepted, and the
/// first login refused by it panicked in the limiter: HTTP 500, gRPC
/// Unknown. The daemon must refuse such a config at start, naming the field.
#[test]
fn a_rate_too_slow_to_wait_for_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[rate_limit.login_failures]\nburst = 1\nper_second = 1e-20",
    );
    let stderr_path = dir.path().join("stderr");
    let mut child = std::process::Command::new(vault_tests::bin("vaultd"))
        .arg("--config")
        .arg(&config)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let exited = vault_tests::wait_with_timeout(&mut child);
    if exited.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert_eq!(
        exited.and_then(|s| s.code()),
        Some(2),
        "vaultd started with the config: {stderr}"
    );
    assert!(
        stderr.contains("rate_limit.login_failures: per_second"),
        "{stderr}"
    );
}
