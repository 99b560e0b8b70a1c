//! High availability, black box: three vaultd processes on loopback sharing one
//! database on the test PostgreSQL. Writes through any node land; a SIGKILL of
//! the active node hands over within seconds and loses no acknowledged write;
//! a node that lost its lock (deleted, stolen, or paused past its TTL) commits
//! nothing more; a restarted node does not wait for its own dead lock; leases
//! and keyring rotations survive a failover.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Mutex;
use vault_proto::v1::LogicalRequest;
use vault_proto::v1::logical_client::LogicalClient;
use vault_tests::ha_cluster::{Cluster, unique_name};
use vault_tests::{cli_with_env, contains, eventually, logical_request, pg_connect};

/// The Done-when bound on a failover after SIGKILL.
const FAILOVER_LIMIT: Duration = Duration::from_secs(3);

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success(), "kill {sig} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_through_any_node_land_and_read_back_from_every_node() {
    let cluster = Cluster::start("vault_ha_rw", 3, "").await;
    let active = cluster.actives().await;
    assert_eq!(active.len(), 1, "exactly one active node: {active:?}");
    let active = active[0];
    let active_addr = cluster.node(active).addr.clone();

    // Status: every node knows HA is on, who it is, and who leads.
    for i in 0..3 {
        let s = cluster.status(i).await.unwrap();
        assert!(s.ha_enabled);
        assert_eq!(s.node_id, format!("n{}", i + 1));
        assert_eq!(s.is_self, i == active, "node {i}");
        assert_eq!(s.leader_address, active_addr, "node {i}");
        assert_eq!(s.active_time.is_empty(), i != active, "node {i}");
    }

    // A secret written through each node is read back through each node.
    let mut secrets = Vec::new();
    for i in 0..3 {
        let value = unique_name("secret-value");
        cluster.put(i, &format!("via{i}"), &value).await.unwrap();
        secrets.push((format!("via{i}"), value));
    }
    for i in 0..3 {
        for (key, value) in &secrets {
            assert_eq!(
                cluster.get(i, key).await.unwrap().as_deref(),
                Some(&value[..])
            );
        }
    }

    // Members: all three, one active.
    let out = cluster.node(0).cli(
        Some(cluster.root()),
        &["operator", "members", "--format", "json"],
    );
    out.expect_code(0);
    let members = out.json();
    let members = members.as_array().unwrap();
    assert_eq!(members.len(), 3, "{members:?}");
    let actives: Vec<_> = members.iter().filter(|m| m["active"] == true).collect();
    assert_eq!(actives.len(), 1);
    assert_eq!(actives[0]["node_id"], format!("n{}", active + 1));
    assert_eq!(actives[0]["api_address"], active_addr.as_str());

    // Health: SERVING only on the active node; standby-ok on every node.
    for i in 0..3 {
        let channel = tonic::transport::Endpoint::from_shared(cluster.node(i).addr.clone())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
        let check = |service: &str| tonic_health::pb::HealthCheckRequest {
            service: service.into(),
        };
        let main = health.check(check("")).await.unwrap().into_inner().status;
        let standby_ok = health
            .check(check("vault.standbyok"))
            .await
            .unwrap()
            .into_inner()
            .status;
        let serving = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
        assert_eq!(main == serving, i == active, "node {i}");
        assert_eq!(standby_ok, serving, "node {i}");
    }

    // A standby asked not to forward names the active node...
    let standby = cluster.standby_other_than(active);
    let mut client = cluster.logical(standby).await;
    let mut request = logical_request(cluster.root(), "kv/data/via0", json!({}));
    request
        .metadata_mut()
        .insert(vault_proto::NO_FORWARD_METADATA_KEY, "1".parse().unwrap());
    let refused = client.read(request).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable);
    assert_eq!(
        refused
            .metadata()
            .get(vault_proto::LEADER_METADATA_KEY)
            .unwrap()
            .to_str()
            .unwrap(),
        active_addr
    );
    // ...and the CLI follows it there.
    let out = cli_with_env(
        &cluster.node(standby).addr,
        Some(cluster.root()),
        &["kv", "get", "--format", "json", "kv/via1"],
        None,
        &[("VAULT_NO_REQUEST_FORWARDING", "1")],
    );
    out.expect_code(0);
    assert!(out.stdout.contains(&secrets[1].1), "{}", out.stdout);
    assert!(out.stderr.contains("standby"), "{}", out.stderr);

    // Vault's HTTP API on a standby: forwarded, or a 307 to the active node.
    let url = format!("{}/v1/kv/data/via0", cluster.node(standby).addr);
    let token = format!("X-Vault-Token: {}", cluster.root());
    let out = std::process::Command::new("curl")
        .args(["-sS", "-H", &token, &url])
        .output()
        .unwrap();
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(body.contains(&secrets[0].1), "{body}");
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
        ])
        .args([
            "-H",
            &token,
            "-H",
            "X-Vault-No-Request-Forwarding: true",
            &url,
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("307 {active_addr}/v1/kv/data/via0")
    );

    // Nothing in any of the tables is in the clear.
    let pg = pg_connect(&cluster.url).await;
    let tables = pg
        .query(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
            &[],
        )
        .await
        .unwrap();
    assert!(tables.len() >= 3, "the kv, lock and members tables");
    for table in tables {
        let name: String = table.get(0);
        let rows = pg
            .query(&format!("SELECT t::text FROM {name} t"), &[])
            .await
            .unwrap();
        let kv = pg
            .query(&format!("SELECT t.* FROM {name} t"), &[])
            .await
            .unwrap();
        assert!(!rows.is_empty() && !kv.is_empty(), "{name} is empty");
        for row in rows {
            let text: String = row.get(0);
            for needle in secrets
                .iter()
                .map(|(_, v)| v.as_str())
                .chain([cluster.root()])
            {
                assert!(!text.contains(needle), "{name} holds a secret in the clear");
            }
        }
    }
    // The values themselves, as bytes (the text form above is hex).
    let values = pg.query("SELECT value FROM vault_kv", &[]).await.unwrap();
    for row in values {
        let value: Vec<u8> = row.get(0);
        for (_, secret) in &secrets {
            assert!(!contains(&value, secret.as_bytes()));
        }
        assert!(!contains(&value, cluster.root().as_bytes()));
    }
}

/// Four clients writing through every node, counting what was acknowledged.
struct Writers {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<(String, String)>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Writers {
    fn start(addrs: Vec<String>, root: &str, round: usize) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for w in 0..4 {
            let (stop, acked, root) = (stop.clone(), acked.clone(), root.to_owned());
            let addr = addrs[w % addrs.len()].clone();
            tasks.push(tokio::spawn(async move {
                let mut client: Option<LogicalClient<tonic::transport::Channel>> = None;
                // Bounded: stopped by the test, and never more than this many.
                for n in 0..5_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if client.is_none() {
                        client = LogicalClient::connect(addr.clone()).await.ok();
                    }
                    let Some(c) = client.as_mut() else {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    };
                    let key = format!("r{round}-w{w}-{n}");
                    let value = format!("v-{round}-{w}-{n}");
                    let mut request = logical_request(
                        &root,
                        &format!("kv/data/{key}"),
                        json!({ "data": { "v": value } }),
                    );
                    request.set_timeout(Duration::from_secs(10));
                    match c.write(request).await {
                        Ok(_) => acked.lock().await.push((key, value)),
                        Err(e) => {
                            if n < 3 {
                                eprintln!("writer {w}: {e:?}");
                            }
                            client = None;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
            }));
        }
        Writers { stop, acked, tasks }
    }

    async fn finish(self) -> Vec<(String, String)> {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.unwrap();
        }
        std::mem::take(&mut *self.acked.lock().await)
    }
}

/// Reads `kv/<key>` through `client`.
async fn read_value(
    client: &mut LogicalClient<tonic::transport::Channel>,
    root: &str,
    key: &str,
) -> Option<String> {
    let response = client
        .read(vault_tests::with_token(
            root,
            LogicalRequest {
                path: format!("kv/data/{key}"),
                data_json: String::new(),
                ..Default::default()
            },
        ))
        .await
        .ok()?;
    let data: serde_json::Value = serde_json::from_str(&response.into_inner().data_json).ok()?;
    data["data"]["v"].as_str().map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_the_active_node_hands_over_within_three_seconds_and_loses_no_acknowledged_write()
 {
    let rounds: usize = std::env::var("VAULT_HA_FAILOVER_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10);
    let mut cluster = Cluster::start("vault_ha_kill", 3, "").await;
    let mut times = Vec::new();
    for round in 0..rounds {
        let (active, _) = cluster
            .wait_active(Duration::from_secs(10))
            .await
            .expect("an active node");
        let addrs: Vec<String> = (0..3).map(|i| cluster.node(i).addr.clone()).collect();
        let writers = Writers::start(addrs, cluster.root(), round);
        tokio::time::sleep(Duration::from_millis(300)).await;

        let killed = Instant::now();
        cluster.kill(active);
        let mut taken_over = None;
        // Bounded: 20 s at most, polled every 20 ms.
        while killed.elapsed() < Duration::from_secs(20) {
            if let Some(&i) = cluster.actives().await.first() {
                taken_over = Some((i, killed.elapsed()));
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (new_active, took) = taken_over.expect("no standby took over");
        assert_ne!(new_active, active);
        times.push(took);
        // Writes go on through the new active node for a moment.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let acked = writers.finish().await;
        assert!(
            !acked.is_empty(),
            "round {round}: no write was acknowledged"
        );

        // The old active node comes back as a standby of the new one.
        cluster.restart(active);
        let back = eventually(Duration::from_secs(10), || async {
            cluster
                .status(active)
                .await
                .is_some_and(|s| !s.is_self && s.leader_address == cluster.node(new_active).addr)
        })
        .await;
        assert!(
            back.is_some(),
            "round {round}: the restarted node is not a standby"
        );

        // Every acknowledged write reads back through every node.
        for i in 0..3 {
            let mut client = cluster.logical(i).await;
            for (key, value) in &acked {
                assert_eq!(
                    read_value(&mut client, cluster.root(), key)
                        .await
                        .as_deref(),
                    Some(value.as_str()),
                    "round {round}: {key} acknowledged but not read back through node {i}"
                );
            }
        }
        eprintln!(
            "round {round}: n{} killed, n{} active after {took:?}; {} writes acknowledged",
            active + 1,
            new_active + 1,
            acked.len()
        );
    }
    times.sort();
    let ms: Vec<u128> = times.iter().map(Duration::as_millis).collect();
    eprintln!(
        "failover after SIGKILL over {rounds} runs (ms): min {} median {} max {}; all {ms:?}",
        ms[0],
        ms[ms.len() / 2],
        ms[ms.len() - 1]
    );
    for t in &times {
        assert!(*t < FAILOVER_LIMIT, "a failover took {t:?}: {ms:?}");
    }
}

/// Waits until node `i`'s log contains `needle`.
async fn log_says(cluster: &Cluster, i: usize, needle: &str) -> bool {
    eventually(Duration::from_secs(10), || async {
        cluster.node(i).log_text().contains(needle)
    })
    .await
    .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_lock_row_is_deleted_or_stolen_stops_writing_and_steps_down() {
    let cluster = Cluster::start("vault_ha_steal", 3, "").await;
    let pg = pg_connect(&cluster.url).await;

    // Deleted behind its back: the next renewal finds nothing; it steps down.
    let (active, _) = cluster.wait_active(Duration::from_secs(10)).await.unwrap();
    pg.batch_execute("DELETE FROM vault_ha_lock").await.unwrap();
    assert!(
        log_says(
            &cluster,
            active,
            "the active lock was taken or removed; stepping down"
        )
        .await,
        "{}",
        cluster.node(active).log_text()
    );
    let (active, _) = cluster
        .wait_active(Duration::from_secs(10))
        .await
        .expect("a node becomes active again");
    cluster.put(active, "after-delete", "ok").await.unwrap();

    // Stolen: another holder, a later generation, a long TTL. The very next
    // write of the old holder is refused, and it stands down.
    pg.batch_execute(
        "UPDATE vault_ha_lock SET holder = 'intruder:1', generation = generation + 1, \
         advertise = 'http://127.0.0.1:9', expires_at = clock_timestamp() + interval '1 hour'",
    )
    .await
    .unwrap();
    let refused = cluster.put(active, "after-theft", "must-not-land").await;
    let refused = refused.expect_err("a write after the theft landed");
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    assert!(
        log_says(&cluster, active, "stepping down").await,
        "{}",
        cluster.node(active).log_text()
    );
    // No node is active while the intruder holds the lock.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(cluster.actives().await.is_empty());
    let standby = cluster.status(active).await.unwrap();
    assert!(!standby.is_self);
    assert_eq!(standby.leader_address, "http://127.0.0.1:9");

    // The intruder goes; a node takes over, and the refused write is not there.
    pg.batch_execute("DELETE FROM vault_ha_lock").await.unwrap();
    let (now_active, _) = cluster.wait_active(Duration::from_secs(10)).await.unwrap();
    assert_eq!(cluster.get(now_active, "after-theft").await.unwrap(), None);
    assert_eq!(
        cluster
            .get(now_active, "after-delete")
            .await
            .unwrap()
            .as_deref(),
        Some("ok")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_node_paused_past_its_ttl_commits_none_of_its_later_writes() {
    let cluster = Cluster::start("vault_ha_pause", 3, "").await;
    let (paused, _) = cluster.wait_active(Duration::from_secs(10)).await.unwrap();
    // Connected before the pause, so the requests reach its socket.
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(cluster.logical(paused).await);
    }
    cluster.put(paused, "before-pause", "ok").await.unwrap();

    signal(cluster.node(paused).pid(), "-STOP");
    let mut late = Vec::new();
    for (n, mut client) in clients.into_iter().enumerate() {
        let root = cluster.root().to_owned();
        late.push(tokio::spawn(async move {
            let mut request = logical_request(
                &root,
                &format!("kv/data/late-{n}"),
                json!({ "data": { "v": "from the paused node" } }),
            );
            request.set_timeout(Duration::from_secs(30));
            // Served by the paused node itself, never forwarded: once it
            // knows it lost the lock it would forward them to the new leader,
            // which may commit them; what is checked here is that the paused
            // node commits nothing.
            request.metadata_mut().insert(
                vault_proto::NO_FORWARD_METADATA_KEY,
                tonic::metadata::MetadataValue::from_static("1"),
            );
            client.write(request).await
        }));
    }
    // Another node takes over while it sleeps, and writes.
    let mut other = None;
    let start = Instant::now();
    while other.is_none() && start.elapsed() < Duration::from_secs(20) {
        other = cluster.actives().await.into_iter().find(|&i| i != paused);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let other = other.expect("no node took over from the paused one");
    cluster.put(other, "during-pause", "ok").await.unwrap();

    signal(cluster.node(paused).pid(), "-CONT");
    for (n, write) in late.into_iter().enumerate() {
        let outcome = write.await.unwrap();
        assert!(
            outcome.is_err(),
            "late write {n} through the paused node was acknowledged"
        );
    }
    let stood_down = eventually(Duration::from_secs(10), || async {
        cluster.status(paused).await.is_some_and(|s| !s.is_self)
    })
    .await;
    assert!(
        stood_down.is_some(),
        "the resumed node still says it is active"
    );
    // None of its later writes landed; everything else did.
    let pg = pg_connect(&cluster.url).await;
    let count: i64 = pg
        .query_one(
            "SELECT count(*) FROM vault_kv WHERE key LIKE '%late-%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 0, "a write of the paused node landed");
    for n in 0..4 {
        assert_eq!(
            cluster.get(other, &format!("late-{n}")).await.unwrap(),
            None
        );
    }
    for key in ["before-pause", "during-pause"] {
        assert_eq!(
            cluster.get(other, key).await.unwrap().as_deref(),
            Some("ok")
        );
    }
    assert_eq!(cluster.actives().await, vec![other]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restarted_after_sigkill_does_not_wait_for_its_own_dead_lock() {
    // A TTL far longer than the restart, so waiting for it would show.
    let mut cluster = Cluster::start("vault_ha_own", 1, "lock_ttl = \"60s\"").await;
    cluster.put(0, "before", "ok").await.unwrap();
    cluster.kill(0);
    let restarted = Instant::now();
    cluster.restart(0);
    let (_, _) = cluster
        .wait_active(Duration::from_secs(20))
        .await
        .expect("the restarted node never became active");
    let took = restarted.elapsed();
    assert!(
        took < Duration::from_secs(20),
        "active {took:?} after the restart"
    );
    assert!(
        cluster
            .node(0)
            .log_text()
            .contains("held by an earlier run of this node"),
        "{}",
        cluster.node(0).log_text()
    );
    assert_eq!(
        cluster.get(0, "before").await.unwrap().as_deref(),
        Some("ok")
    );
    cluster.put(0, "after", "ok").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyring_rotation_on_the_active_node_is_visible_after_failover() {
    let mut cluster = Cluster::start("vault_ha_rotate", 3, "").await;
    let (active, _) = cluster.wait_active(Duration::from_secs(10)).await.unwrap();
    let standby = cluster.standby_other_than(active);
    let root = cluster.root().to_owned();
    let key_term = |out: vault_tests::CliOutput| {
        out.expect_code(0);
        out.json()["term"].as_u64().unwrap()
    };
    // Through a standby: forwarded to the active node.
    let term = key_term(
        cluster
            .node(standby)
            .cli(Some(&root), &["operator", "rotate", "--format", "json"]),
    );
    assert_eq!(term, 2);
    cluster.put(standby, "under-term-2", "ok").await.unwrap();

    cluster.kill(active);
    let (new_active, _) = cluster
        .wait_active(Duration::from_secs(10))
        .await
        .expect("a standby took over");
    let term = key_term(
        cluster
            .node(new_active)
            .cli(Some(&root), &["operator", "key-status", "--format", "json"]),
    );
    assert_eq!(term, 2, "the new active node does not know the rotation");
    assert_eq!(
        cluster
            .get(new_active, "under-term-2")
            .await
            .unwrap()
            .as_deref(),
        Some("ok")
    );
    // Rotating again makes term 3: a node with the old keyring would have
    // made a second, different term 2 and lost what the first one wrote.
    let term = key_term(
        cluster
            .node(new_active)
            .cli(Some(&root), &["operator", "rotate", "--format", "json"]),
    );
    assert_eq!(term, 3);
    cluster.put(new_active, "under-term-3", "ok").await.unwrap();
    for key in ["under-term-2", "under-term-3"] {
        assert_eq!(
            cluster.get(new_active, key).await.unwrap().as_deref(),
            Some("ok")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_issued_through_the_old_active_node_are_revoked_on_time_by_the_new_one() {
    let mut cluster = Cluster::start("vault_ha_lease", 3, "").await;
    let (active, _) = cluster.wait_active(Duration::from_secs(10)).await.unwrap();
    let root = cluster.root().to_owned();
    let url = vault_tests::postgres_url();
    let (creds, server) = url
        .strip_prefix("postgres://")
        .unwrap()
        .split_once('@')
        .unwrap();
    let (user, password) = creds.split_once(':').unwrap();
    let host = server.split('/').next().unwrap();
    let node = cluster.node(active);
    node.cli(Some(&root), &["secrets", "enable", "database"])
        .expect_code(0);
    node.cli(
        Some(&root),
        &[
            "write",
            "database/config/pg",
            "plugin_name=postgresql-database-plugin",
            &format!("connection_url=postgres://{{{{username}}}}:{{{{password}}}}@{host}/postgres"),
            &format!("username={user}"),
            &format!("password={password}"),
            "allowed_roles=*",
        ],
    )
    .expect_code(0);
    let role = unique_name("haleasex").replace('_', "x");
    node.cli(
        Some(&root),
        &[
            "write",
            &format!("database/roles/{role}"),
            "db_name=pg",
            "creation_statements=CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
            "username_template=v-{{.RoleName}}-{{random 12}}",
            "default_ttl=5s",
            "max_ttl=1h",
        ],
    )
    .expect_code(0);
    let issued = Instant::now();
    let out = node.cli(
        Some(&root),
        &[
            "read",
            &format!("database/creds/{role}"),
            "--format",
            "json",
        ],
    );
    out.expect_code(0);
    let username = out.json()["data"]["username"].as_str().unwrap().to_owned();
    let admin = pg_connect(&url).await;
    let exists = |name: String| {
        let admin = &admin;
        async move {
            admin
                .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&name])
                .await
                .unwrap()
                .is_some()
        }
    };
    assert!(exists(username.clone()).await);

    cluster.kill(active);
    let (_, _) = cluster
        .wait_active(Duration::from_secs(10))
        .await
        .expect("a standby took over");
    let dropped = eventually(Duration::from_secs(30), || async {
        !exists(username.clone()).await
    })
    .await;
    assert!(
        dropped.is_some(),
        "the new active node never revoked the lease"
    );
    let after_issue = issued.elapsed();
    // Due 5 s after issue; the new active node's first pass meets it.
    assert!(
        after_issue >= Duration::from_secs(5) && after_issue < Duration::from_secs(9),
        "the role was dropped {after_issue:?} after issue"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_down_and_a_graceful_stop_hand_the_lock_over_without_waiting_for_its_ttl() {
    // A TTL far longer than the test waits: only a release hands over this fast.
    let mut cluster = Cluster::start("vault_ha_handover", 3, "lock_ttl = \"60s\"").await;
    let first = cluster.wait_settled(Duration::from_secs(10)).await.unwrap();
    let standby = cluster.standby_other_than(first);

    // Asked through a standby: forwarded to the active node, which lets go.
    cluster
        .node(standby)
        .cli(Some(cluster.root()), &["operator", "step-down"])
        .expect_code(0);
    let (second, took) = cluster
        .wait_active(Duration::from_secs(10))
        .await
        .expect("no node took over after the step-down");
    assert_ne!(
        second, first,
        "the node that stepped down took the lock again"
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(!cluster.status(first).await.unwrap().is_self);
    cluster.put(second, "after-step-down", "ok").await.unwrap();

    // SIGTERM: the lock is released on the way out.
    let stopped = Instant::now();
    let node = cluster.nodes[second].take().unwrap();
    assert!(node.stop().success());
    let (third, _) = cluster
        .wait_active(Duration::from_secs(10))
        .await
        .expect("no node took over after a graceful stop");
    assert_ne!(third, second);
    let took = stopped.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(
        cluster
            .get(third, "after-step-down")
            .await
            .unwrap()
            .as_deref(),
        Some("ok")
    );
}

/// `bao operator step-down` on the active node; the node it demoted serves
/// requests at once, forwarding them to the new leader, instead of refusing
/// them until it next looks at the lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_just_stepped_down_forwards_at_once() {
    let cluster = Cluster::start("vault_ha_demoted", 3, "lock_ttl = \"10s\"").await;
    let first = cluster.wait_settled(Duration::from_secs(10)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bao = vault_tests::bao::Bao::new(&cluster.node(first).addr, dir.path())
        .with_token(cluster.root());
    bao.ok(&["operator", "step-down"]);
    // At once, through the node that let go: every request is served.
    let mut refused = Vec::new();
    for n in 0..20 {
        if let Err(status) = cluster.put(first, &format!("demoted-{n}"), "ok").await {
            refused.push(format!("{}: {}", status.code(), status.message()));
        }
    }
    assert!(
        refused.is_empty(),
        "{} of 20 writes through the demoted node were refused: {:?}",
        refused.len(),
        refused.first()
    );
    let (second, _) = cluster.wait_active(Duration::from_secs(10)).await.unwrap();
    assert_ne!(
        second, first,
        "the node that stepped down took the lock again"
    );
    // With HA, the active node says so in its metrics.
    let (status, scrape) = vault_tests::http::curl(&[
        "-H",
        &format!("X-Vault-Token: {}", cluster.root()),
        &format!(
            "{}/v1/sys/metrics?format=prometheus",
            cluster.node(second).addr
        ),
    ]);
    assert_eq!(status, 200, "{scrape}");
    assert!(
        scrape.lines().any(|l| l == "vault_ha_active 1"),
        "the active node's scrape: {scrape}"
    );
}
