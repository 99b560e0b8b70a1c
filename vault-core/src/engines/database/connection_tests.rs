//! Sessions against a real PostgreSQL: the pool's bound, and the timeouts that
//! keep a hung or silent server (or a slow privilege change) from blocking the
//! engine.

use std::time::{Duration, Instant};

use serde_json::json;

use super::config;
use super::issued;
use super::tests::{CREATE, Fixture, lease_of};
use crate::engines::LogicalBackend;
use crate::expiration::{Lease, LeaseParams, RevokeError};
use crate::request::Operation;

#[tokio::test]
async fn sessions_are_bounded_by_max_open_connections() {
    let f = Fixture::new().await;
    f.configure().await;
    f.ok(
        Operation::Update,
        "config/pg",
        json!({"max_open_connections": 2}),
    )
    .await;
    f.role(
        "ro",
        json!({"creation_statements": [CREATE, "SELECT pg_sleep(0.2);"]}),
    )
    .await;
    let calls = (0..6).map(|_| f.call(Operation::Read, "creds/ro", json!({})));
    let results = futures_join_all(calls).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let open: i64 = f
        .admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = $1 AND application_name = 'vault-database-engine'",
            &[&f.dbname],
        )
        .await
        .unwrap()
        .get(0);
    assert!((1..=2).contains(&open), "{open} sessions open");
}

/// Runs futures concurrently on the current task and collects their results.
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for future in futures {
        set.push(Box::pin(future));
    }
    let mut outputs: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in set.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

#[tokio::test]
async fn a_hung_statement_times_out_and_leaves_nothing_behind() {
    let f = Fixture::new().await;
    f.configure().await;
    f.ok(
        Operation::Update,
        "config/pg",
        json!({"operation_timeout": "1s"}),
    )
    .await;
    f.role(
        "slow",
        json!({"creation_statements": [CREATE, "SELECT pg_sleep(30);"]}),
    )
    .await;
    let started = std::time::Instant::now();
    let err = f
        .call(Operation::Read, "creds/slow", json!({}))
        .await
        .unwrap_err()
        .to_string();
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(err.contains("timed out"), "{err}");
    assert!(issued::list(&f.view()).await.unwrap().is_empty());
    let made: i64 = f
        .admin
        .query_one(
            "SELECT count(*) FROM pg_roles WHERE rolname LIKE $1",
            &[&format!("{}%", f.prefix())],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(made, 0, "the transaction never committed");
    // The engine still works afterwards.
    f.role("ro", json!({})).await;
    f.creds("ro").await;
}

#[tokio::test]
async fn a_server_that_never_answers_fails_within_the_connect_timeout() {
    let f = Fixture::new().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let started = std::time::Instant::now();
    let err = f
        .call(
            Operation::Create,
            "config/silent",
            json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": format!("postgres://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{port}/db"),
                "username": "u", "password": "p-secret", "connect_timeout": "1s",
            }),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(err.contains("\"silent\"") && err.contains("1s"), "{err}");
    assert!(!err.contains("p-secret"), "{err}");
    silent.abort();
}

/// Concurrent GRANTs and REVOKEs on one table make PostgreSQL fail some of
/// them ("tuple concurrently updated"): the engine retries them whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_grants_and_revokes_on_one_table_all_succeed() {
    let f = Fixture::new().await;
    f.admin
        .batch_execute("CREATE TABLE t (v int);")
        .await
        .unwrap();
    f.configure().await;
    f.role(
        "ro",
        json!({"creation_statements": [CREATE, "GRANT SELECT ON t TO \"{{name}}\";"]}),
    )
    .await;
    let made =
        futures_join_all((0..40).map(|_| f.call(Operation::Read, "creds/ro", json!({})))).await;
    let leases: Vec<_> = made
        .into_iter()
        .map(|r| lease_of(r.unwrap_or_else(|e| panic!("{e}"))).2)
        .collect();
    let view = f.view();
    let revoked = futures_join_all(leases.iter().map(|l| f.db.revoke(&view, l))).await;
    let failures: Vec<_> = revoked.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(failures.is_empty(), "{failures:?}");
    let left: i64 = f
        .admin
        .query_one(
            "SELECT count(*) FROM pg_roles WHERE rolname LIKE $1",
            &[&format!("{}%", f.prefix())],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}

#[tokio::test]
async fn waiting_for_other_privilege_changes_ends_at_the_operation_timeout() {
    let f = Fixture::new().await;
    f.configure().await;
    f.ok(
        Operation::Update,
        "config/pg",
        json!({"operation_timeout": "1s"}),
    )
    .await;
    f.role(
        "ro",
        json!({"creation_statements": [CREATE, "GRANT pg_read_all_stats TO \"{{name}}\";"]}),
    )
    .await;
    f.role(
        "plain",
        json!({"revocation_statements": ["DROP ROLE IF EXISTS \"{{name}}\";"]}),
    )
    .await;
    let (username, _, lease) = f.creds("ro").await;
    let record = config::load(&f.view(), "pg").await.unwrap().unwrap();
    // Another change that takes its time.
    let held = f.db.privilege_writer("pg", &record).await.unwrap();

    // Statements that change no privileges do not wait for it.
    let (plain_user, _, plain_lease) =
        tokio::time::timeout(Duration::from_secs(10), f.creds("plain"))
            .await
            .expect("plain creds waited for the privilege lock");
    assert!(f.role_exists(&plain_user).await);
    tokio::time::timeout(
        Duration::from_secs(10),
        f.db.revoke(&f.view(), &plain_lease),
    )
    .await
    .expect("a plain revocation waited for the privilege lock")
    .unwrap();
    assert!(!f.role_exists(&plain_user).await);

    let started = Instant::now();
    let err = tokio::time::timeout(
        Duration::from_secs(10),
        f.call(Operation::Read, "creds/ro", json!({})),
    )
    .await
    .expect("creds waited for ever")
    .unwrap_err()
    .to_string();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        err.contains("database \"pg\": timed out waiting for other privilege changes"),
        "{err}"
    );
    assert_eq!(
        issued::list(&f.view()).await.unwrap().len(),
        1,
        "the failed creation left its record"
    );
    let err = tokio::time::timeout(Duration::from_secs(10), f.db.revoke(&f.view(), &lease))
        .await
        .expect("the revocation waited for ever")
        .unwrap_err();
    assert!(
        matches!(&err, RevokeError::Retryable(m)
            if m.contains("timed out waiting for other privilege changes")),
        "{err:?}"
    );
    assert!(f.role_exists(&username).await);
    drop(held);
    f.db.revoke(&f.view(), &lease).await.unwrap();
    assert!(!f.role_exists(&username).await);
}

/// With a server that never answers, every change takes the whole connect
/// timeout; connecting happens before waiting for the privilege lock, so the
/// changes fail side by side instead of one after another.
#[tokio::test]
async fn a_silent_server_does_not_queue_privilege_changes_behind_each_other() {
    let f = Fixture::new().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    f.ok(
        Operation::Create,
        "config/silent",
        json!({
            "plugin_name": "postgresql-database-plugin",
            "connection_url": format!("postgres://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{port}/db"),
            "username": "u", "password": "p", "verify_connection": false,
            "connect_timeout": "1s", "max_open_connections": 4,
        }),
    )
    .await;
    let leases: Vec<Lease> = (0..4)
        .map(|i| {
            Lease::new(
                LeaseParams {
                    mount_path: "database/".into(),
                    path: "database/creds/ro".into(),
                    ttl: 3_600_000,
                    max_ttl: 3_600_000,
                    renewable: true,
                    token_hash: String::new(),
                    internal: json!({
                        "username": format!("{}{i}", f.prefix()),
                        "role": "ro",
                        "db_name": "silent",
                    }),
                },
                crate::clock::now_unix_millis(),
            )
            .unwrap()
        })
        .collect();
    let view = f.view();
    let started = Instant::now();
    let revoked = futures_join_all(leases.iter().map(|l| f.db.revoke(&view, l))).await;
    let elapsed = started.elapsed();
    for outcome in &revoked {
        assert!(
            matches!(outcome, Err(RevokeError::Retryable(m)) if m.contains("could not connect within 1s")),
            "{outcome:?}"
        );
    }
    // One after another would take 4s.
    assert!(elapsed < Duration::from_millis(2_500), "{elapsed:?}");
    silent.abort();
}
