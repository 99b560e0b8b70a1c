//! A standby forwards a request on its client's behalf, and the active node
//! judges the client's address, not the standby's: a token bound to
//! 127.0.0.1/32 (the address the standby connects from) used through a
//! standby by a client on 127.0.0.2 is refused, the audit log records the
//! client's address, and a client that sends the forwarding field itself
//! gains nothing. Needs the test PostgreSQL (three nodes share one database).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::{Value, json};
use tonic::transport::Channel;
use vault_proto::v1::logical_client::LogicalClient;
use vault_tests::ha_cluster::Cluster;
use vault_tests::{Daemon, logical_request, secret_scan};

async fn client_from(daemon: &Daemon, from: &str) -> LogicalClient<Channel> {
    LogicalClient::new(vault_tests::channel_from(daemon, from).await)
}

/// `lookup-self` as `token` through `daemon` from `from`, with extra
/// metadata: the refusal's code, or `None` when it worked.
async fn lookup_self(
    daemon: &Daemon,
    from: &str,
    token: &str,
    extra: &[(&'static str, &str)],
) -> Option<tonic::Code> {
    let mut request = logical_request(token, "auth/token/lookup-self", json!({}));
    for (key, value) in extra {
        request.metadata_mut().insert(*key, value.parse().unwrap());
    }
    client_from(daemon, from)
        .await
        .read(request)
        .await
        .err()
        .map(|s| s.code())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_active_node_judges_the_clients_address_not_the_standbys() {
    let audit_dir = tempfile::tempdir().unwrap();
    let audit = audit_dir.path().join("audit.log");
    // Each node's config gets a file device (only the active node writes).
    let extra = format!(
        "\n[[audit]]\nname = \"file\"\ntype = \"file\"\noptions = {{ file_path = \"{}\" }}\n",
        audit.display()
    );
    let cluster = Cluster::start("vault_ha_fwd", 3, &extra).await;
    let (active, _) = cluster
        .wait_active(Duration::from_secs(30))
        .await
        .expect("an active node");
    let standby = cluster.standby_other_than(active);

    let bound = client_from(cluster.node(active), "127.0.0.1")
        .await
        .write(logical_request(
            cluster.root(),
            "auth/token/create",
            json!({"policies": ["default"], "bound_cidrs": ["127.0.0.1/32"]}),
        ))
        .await
        .unwrap()
        .into_inner()
        .auth
        .unwrap()
        .client_token;
    secret_scan::note(&bound);

    // Through the standby: allowed from the bound address, refused from
    // another one, although the standby connects from 127.0.0.1 either way.
    assert_eq!(
        lookup_self(cluster.node(standby), "127.0.0.1", &bound, &[]).await,
        None,
        "from the bound address, through the standby"
    );
    assert_eq!(
        lookup_self(cluster.node(standby), "127.0.0.2", &bound, &[]).await,
        Some(tonic::Code::PermissionDenied),
        "from 127.0.0.2, through the standby"
    );
    // A client that claims to be forwarded for the bound address gains
    // nothing, on the active node or through the standby.
    let forged = [(
        vault_proto::FORWARDED_FOR_METADATA_KEY,
        "127.0.0.1;0;hmac-sha256:00",
    )];
    for node in [active, standby] {
        assert_eq!(
            lookup_self(cluster.node(node), "127.0.0.2", &bound, &forged).await,
            Some(tonic::Code::PermissionDenied),
            "a forged forwarding field, sent to node {node}"
        );
    }

    // A body past the budget for callers without a token goes through a
    // standby with a live token (the standby judges the token too), and is
    // refused there without one.
    let big = json!({"data": {"v": "x".repeat(100 << 10)}});
    let mut through_standby = client_from(cluster.node(standby), "127.0.0.1").await;
    through_standby
        .write(logical_request(cluster.root(), "kv/data/big", big.clone()))
        .await
        .expect("a 100 KiB write with a live token through the standby");
    let refused = through_standby
        .write(logical_request("", "kv/data/big", big))
        .await
        .unwrap_err();
    assert!(
        refused
            .message()
            .contains("listener.max_unauthenticated_request_size"),
        "{refused:?}"
    );

    // A wrapped answer through the standby: the wrap TTL (the field, or the
    // metadata) travels with the request, and wrap_info comes back.
    let mut asked = logical_request(cluster.root(), "kv/data/big", json!({}));
    asked.get_mut().wrap_ttl = "2m".into();
    let mut by_metadata = logical_request(cluster.root(), "kv/data/big", json!({}));
    by_metadata
        .metadata_mut()
        .insert(vault_proto::WRAP_TTL_METADATA_KEY, "3m".parse().unwrap());
    for (request, ttl) in [(asked, 120), (by_metadata, 180)] {
        let answer = through_standby.read(request).await.unwrap().into_inner();
        assert!(answer.data_json.is_empty(), "the secret itself came back");
        let info = answer.wrap_info.expect("wrap_info through the standby");
        secret_scan::note(&info.token);
        assert_eq!(
            (info.ttl, info.creation_path.as_str()),
            (ttl, "kv/data/big")
        );
    }

    // The active node's audit log names the client's address.
    let entries: Vec<Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let addresses: Vec<&str> = entries
        .iter()
        // A refusal is recorded as a response entry.
        .filter(|e| e["request"]["path"] == "auth/token/lookup-self")
        .filter_map(|e| e["request"]["remote_address"].as_str())
        .collect();
    assert!(
        addresses.contains(&"127.0.0.2"),
        "the audit log records the client behind the standby: {addresses:?}"
    );
}
