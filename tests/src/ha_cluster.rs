//! A high-availability cluster for black-box tests: vaultd processes on
//! loopback, each with `[ha]` on, sharing one fresh database on the test
//! PostgreSQL; initialised through the first node and unsealed on all.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tonic::transport::Channel;
use vault_proto::v1::logical_client::LogicalClient;
use vault_proto::v1::sys_client::SysClient;
use vault_proto::v1::{LogicalRequest, SealStatusRequest, SealStatusResponse};

use crate::{Daemon, Init, init, logical_request, pg_create_database, postgres_url, unseal};

/// A cluster of HA nodes; a killed node's slot is `None` until restarted.
#[derive(Debug)]
pub struct Cluster {
    /// The database they share.
    pub url: String,
    /// One config per node.
    pub configs: Vec<PathBuf>,
    /// The running nodes.
    pub nodes: Vec<Option<Daemon>>,
    /// The init output (one share).
    pub init: Init,
    dir: tempfile::TempDir,
}

/// A database name no other test uses.
pub fn unique_name(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{tag}_{}_{nanos}", std::process::id())
}

impl Cluster {
    /// `n` nodes `n1..`, with `ha_extra` added to each `[ha]` section (e.g.
    /// `lock_ttl = "30s"`), all unsealed, with a kv mount at `kv/`; returns
    /// once one node is active.
    pub async fn start(tag: &str, n: usize, ha_extra: &str) -> Cluster {
        let url = pg_create_database(&postgres_url(), &unique_name(tag)).await;
        let dir = tempfile::tempdir().unwrap();
        let mut configs = Vec::new();
        for i in 1..=n {
            let node_dir = dir.path().join(format!("n{i}"));
            std::fs::create_dir_all(&node_dir).unwrap();
            let config = node_dir.join("vaultd.toml");
            let text = format!(
                "raw_storage_endpoint = true\nlog_level = \"info,vault_core::ha=debug\"\n\
                 [listener]\naddress = \"127.0.0.1:0\"\ntls_disable = true\n\
                 [storage]\nkind = \"postgres\"\nconnection_url = \"{url}\"\n\
                 [ha]\nenabled = true\nnode_id = \"n{i}\"\n{ha_extra}\n"
            );
            std::fs::write(&config, text).unwrap();
            configs.push(config);
        }
        let mut nodes: Vec<Option<Daemon>> = Vec::new();
        for (i, config) in configs.iter().enumerate() {
            nodes.push(Some(Daemon::start_with(
                config,
                &dir.path().join(format!("n{}", i + 1)),
            )));
        }
        let first = nodes[0].as_ref().unwrap();
        let keys = init(first, 1, 1);
        let cluster = Cluster {
            url,
            configs,
            nodes,
            init: keys,
            dir,
        };
        for i in 0..n {
            cluster.unseal(i);
        }
        cluster
            .wait_settled(Duration::from_secs(30))
            .await
            .expect("the nodes did not settle on an active node after unseal");
        let root = cluster.init.root_token.clone();
        cluster
            .node(0)
            .cli(Some(&root), &["secrets", "enable", "--path", "kv", "kv-v2"])
            .expect_code(0);
        cluster
    }

    /// The running node `i`.
    pub fn node(&self, i: usize) -> &Daemon {
        self.nodes[i].as_ref().expect("node is not running")
    }

    /// The root token.
    pub fn root(&self) -> &str {
        &self.init.root_token
    }

    /// Unseals node `i`.
    pub fn unseal(&self, i: usize) {
        unseal(self.node(i), &self.init.keys_hex[0]).expect_code(0);
    }

    /// SIGKILL of node `i`.
    pub fn kill(&mut self, i: usize) {
        // Daemon's drop kills with SIGKILL and reaps it.
        self.nodes[i] = None;
    }

    /// Starts node `i` again (a new port) and unseals it.
    pub fn restart(&mut self, i: usize) {
        let node_dir = self.dir.path().join(format!("n{}", i + 1));
        self.nodes[i] = Some(Daemon::start_with(&self.configs[i], &node_dir));
        self.unseal(i);
    }

    /// Node `i`'s status over gRPC, if it answers.
    pub async fn status(&self, i: usize) -> Option<SealStatusResponse> {
        let node = self.nodes[i].as_ref()?;
        let mut sys = SysClient::connect(node.addr.clone()).await.ok()?;
        let mut request = tonic::Request::new(SealStatusRequest {});
        request.set_timeout(Duration::from_secs(2));
        sys.seal_status(request).await.ok().map(|r| r.into_inner())
    }

    /// The running nodes that say they are active.
    pub async fn actives(&self) -> Vec<usize> {
        let mut out = Vec::new();
        for i in 0..self.nodes.len() {
            if self.status(i).await.is_some_and(|s| s.is_self) {
                out.push(i);
            }
        }
        out
    }

    /// Polls every 20 ms until a node says it is active; returns which, and
    /// how long it took.
    pub async fn wait_active(&self, limit: Duration) -> Option<(usize, Duration)> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(&i) = self.actives().await.first() {
                return Some((i, start.elapsed()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// Polls until exactly one node is active and every running node names
    /// it as the leader; returns it.
    pub async fn wait_settled(&self, limit: Duration) -> Option<usize> {
        let start = Instant::now();
        while start.elapsed() < limit {
            let mut statuses = Vec::new();
            for i in 0..self.nodes.len() {
                if self.nodes[i].is_some() {
                    statuses.push((i, self.status(i).await));
                }
            }
            let actives: Vec<usize> = statuses
                .iter()
                .filter(|(_, s)| s.as_ref().is_some_and(|s| s.is_self))
                .map(|(i, _)| *i)
                .collect();
            if let [active] = actives[..] {
                let leader = &self.node(active).addr;
                if statuses
                    .iter()
                    .all(|(_, s)| s.as_ref().is_some_and(|s| &s.leader_address == leader))
                {
                    return Some(active);
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// A standby (not `active`) that is running.
    pub fn standby_other_than(&self, active: usize) -> usize {
        (0..self.nodes.len())
            .find(|&i| i != active && self.nodes[i].is_some())
            .expect("a running standby")
    }

    /// A Logical client to node `i`.
    pub async fn logical(&self, i: usize) -> LogicalClient<Channel> {
        LogicalClient::connect(self.node(i).addr.clone())
            .await
            .expect("connect")
    }

    /// Writes `kv/<key>` = {"v": value} (KV version 2) through node `i`.
    pub async fn put(&self, i: usize, key: &str, value: &str) -> Result<(), tonic::Status> {
        let mut client = self.logical(i).await;
        client
            .write(logical_request(
                self.root(),
                &format!("kv/data/{key}"),
                json!({ "data": { "v": value } }),
            ))
            .await
            .map(|_| ())
    }

    /// Reads `kv/<key>`'s latest value through node `i` (`None`: not found).
    pub async fn get(&self, i: usize, key: &str) -> Result<Option<String>, tonic::Status> {
        let mut client = self.logical(i).await;
        match client
            .read(crate::with_token(
                self.root(),
                LogicalRequest {
                    path: format!("kv/data/{key}"),
                    data_json: String::new(),
                    ..Default::default()
                },
            ))
            .await
        {
            Ok(r) => {
                let data: Value = serde_json::from_str(&r.into_inner().data_json).unwrap();
                Ok(data["data"]["v"].as_str().map(str::to_owned))
            }
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(s),
        }
    }
}
