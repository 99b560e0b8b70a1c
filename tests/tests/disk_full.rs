//! Nothing acknowledged is lost when the disk fills: the SQLite storage sits on a
//! small tmpfs, parallel large KV writes fill it (some are answered with an
//! error, as they must be), and after a restart and unseal every write that
//! was answered with success reads back with its value.
//!
//! Needs root (it mounts a tmpfs), as the test command runs in CI.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use vault_proto::v1::LogicalRequest;
use vault_tests::{Daemon, init, logical, unseal, with_token};

/// A tmpfs mounted for the test's lifetime, unmounted on drop.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test mounts a tmpfs and needs root (CAP_SYS_ADMIN): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs {
            dir: dir.to_path_buf(),
        }
    }

    fn free_bytes(&self) -> u64 {
        let out = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&self.dir)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .unwrap()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

fn config(dir: &Path, db: &Path) -> PathBuf {
    let config = dir.join("vaultd.toml");
    std::fs::write(
        &config,
        format!(
            "log_level = \"info\"\n[listener]\naddress = \"127.0.0.1:0\"\ntls_disable = true\n\
             [storage]\nkind = \"sqlite\"\npath = \"{}\"\n",
            db.display()
        ),
    )
    .unwrap();
    config
}

/// The value write `i` stores: 1 MB, distinct per write.
fn value(i: usize) -> String {
    let head = format!("write {i:03} ");
    let mut v = head.repeat(1_000_000 / head.len() + 1);
    v.truncate(1_000_000);
    v
}

fn request(token: &str, path: &str, body: serde_json::Value) -> tonic::Request<LogicalRequest> {
    // Built by hand: the harness would note a 1 MB value as a secret to
    // search the logs for, which is slow and says nothing here.
    with_token(
        token,
        LogicalRequest {
            path: path.into(),
            data_json: body.to_string(),
            ..Default::default()
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_a_full_disk_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Tmpfs::mount(&dir.path().join("disk"), "64m");
    let db = disk.dir.join("vault.db");
    let config = config(dir.path(), &db);
    let daemon = Daemon::start_with(&config, dir.path());
    let keys = init(&daemon, 1, 1);
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    daemon
        .cli(
            Some(&keys.root_token),
            &["secrets", "enable", "--path", "secret", "kv-v2"],
        )
        .expect_code(0);

    // Leave about 14 MB: room for a dozen of the 60 writes below.
    let free = disk.free_bytes();
    let filler = disk.dir.join("filler");
    std::fs::write(&filler, vec![0u8; (free - 14_000_000) as usize]).unwrap();

    let client = logical(&daemon).await;
    let mut tasks = Vec::new();
    for i in 0..60 {
        let mut client = client.clone();
        let token = keys.root_token.clone();
        tasks.push(tokio::spawn(async move {
            let answer = client
                .write(request(
                    &token,
                    &format!("secret/data/big/{i:03}"),
                    json!({"data": {"v": value(i)}}),
                ))
                .await;
            (i, answer.map(|_| ()))
        }));
    }
    let mut acknowledged = Vec::new();
    let mut refused = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (i, Ok(())) => acknowledged.push(i),
            (i, Err(status)) => refused.push((i, status.code(), status.message().to_owned())),
        }
    }
    assert!(
        !refused.is_empty(),
        "the disk never filled: every one of the 60 writes was acknowledged"
    );
    assert!(
        !acknowledged.is_empty(),
        "no write fitted: {:?}",
        refused.first()
    );
    // The daemon keeps serving on a full disk, and says why a write failed.
    assert!(refused.iter().all(|(_, _, m)| !m.is_empty()), "{refused:?}");

    // The operator frees the disk: writes succeed again, no restart needed.
    std::fs::remove_file(&filler).unwrap();
    let mut client = client.clone();
    client
        .write(request(
            &keys.root_token,
            "secret/data/big/060",
            json!({"data": {"v": value(60)}}),
        ))
        .await
        .expect("a write once the disk has room again");
    acknowledged.push(60);

    // Restart, unseal: every acknowledged write reads back.
    daemon.stop();
    let daemon = Daemon::start_with(&config, dir.path());
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    let mut client = logical(&daemon).await;
    let mut lost = Vec::new();
    for &i in &acknowledged {
        let read = client
            .read(request(
                &keys.root_token,
                &format!("secret/data/big/{i:03}"),
                json!({}),
            ))
            .await;
        let intact = read.ok().is_some_and(|r| {
            let data: serde_json::Value =
                serde_json::from_str(&r.into_inner().data_json).unwrap_or_default();
            data["data"]["v"].as_str() == Some(value(i).as_str())
        });
        if !intact {
            lost.push(i);
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes are lost or wrong after the restart: {lost:?} \
         ({} refused)",
        lost.len(),
        acknowledged.len(),
        refused.len()
    );
}
