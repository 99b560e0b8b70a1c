//! Degraded health on the real daemon: while an audit device is failing,
//! `status` (gRPC, HTTP and the CLI) says so with the reason and the health
//! service's `vault.not_degraded` is NOT_SERVING; once the device works
//! again, both recover by themselves.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use std::time::Duration;

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use vault_tests::{Daemon, eventually, file_device, init, unseal, write_config};

async fn not_degraded(daemon: &Daemon) -> ServingStatus {
    let channel = tonic::transport::Endpoint::from_shared(daemon.addr.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: "vault.not_degraded".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status()
}

fn degraded(daemon: &Daemon) -> Vec<String> {
    let out = daemon.cli(None, &["status", "--format", "json"]);
    out.expect_code(0);
    serde_json::from_value(out.json()["degraded"].clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_audit_device_degrades_health_until_it_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let config = write_config(
        dir.path(),
        &format!("{}{}", file_device("a", &a), file_device("b", &b)),
    );
    let daemon = Daemon::start_with(&config, dir.path());
    let keys = init(&daemon, 1, 1);
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    let root = Some(keys.root_token.as_str());
    let limit = Duration::from_secs(15);

    assert!(degraded(&daemon).is_empty());
    let serving = eventually(limit, || async {
        not_degraded(&daemon).await == ServingStatus::Serving
    })
    .await;
    assert!(serving.is_some(), "healthy at the start");

    // Device a's disk is "full": requests are still recorded by b.
    std::fs::remove_file(&a).unwrap();
    std::os::unix::fs::symlink("/dev/full", &a).unwrap();
    daemon.cli(root, &["token", "lookup"]).expect_code(0);
    // status may reuse an answer for half a second.
    let shown = eventually(limit, || async { !degraded(&daemon).is_empty() }).await;
    assert!(shown.is_some(), "status never showed the failing device");
    let reasons = degraded(&daemon);
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(
        reasons[0].contains("audit device \"a\" is failing"),
        "{reasons:?}"
    );
    let table = daemon.cli(None, &["status"]);
    assert!(
        table.stdout.contains("Degraded") && table.stdout.contains("audit device \"a\""),
        "{}",
        table.stdout
    );
    let flagged = eventually(limit, || async {
        not_degraded(&daemon).await == ServingStatus::NotServing
    })
    .await;
    assert!(flagged.is_some(), "health never showed the failing device");

    // The disk has room again: the next write succeeds, and all clears by
    // itself (no operator action).
    std::fs::remove_file(&a).unwrap();
    let recovered = eventually(limit, || async {
        daemon.cli(root, &["token", "lookup"]).expect_code(0);
        degraded(&daemon).is_empty() && not_degraded(&daemon).await == ServingStatus::Serving
    })
    .await;
    assert!(
        recovered.is_some(),
        "still degraded: {:?}",
        degraded(&daemon)
    );
}
