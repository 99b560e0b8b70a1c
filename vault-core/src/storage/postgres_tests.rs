//! What only the PostgreSQL backend has: a failing transaction lands nothing, the
//! table is created or checked, errors keep the password out, connects are retried
//! for a bounded time, and a vault over it stores nothing in the clear. The
//! behaviour every backend shares is in `contract_tests.rs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;
use crate::request::{Data, Operation, Request};
use crate::storage::contract_tests::{pg_url, postgres, unique_table};
use tokio_postgres::Client;

async fn admin() -> Client {
    let (client, connection) = tokio_postgres::connect(&pg_url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

fn options(table: &str) -> PostgresOptions {
    let mut options = PostgresOptions::new(SecretString::from(pg_url().as_str()));
    options.table = table.to_owned();
    options
}

#[test]
fn upper_bounds_cover_exactly_the_prefix() {
    assert_eq!(prefix_upper_bound("a/").as_deref(), Some("a0"));
    assert_eq!(prefix_upper_bound("").as_deref(), None);
    assert_eq!(
        prefix_upper_bound("a\u{D7FF}").as_deref(),
        Some("a\u{E000}")
    );
    assert_eq!(prefix_upper_bound("a\u{10FFFF}").as_deref(), Some("b"));
    assert_eq!(prefix_upper_bound("\u{10FFFF}"), None);
}

#[test]
fn table_names_are_plain_identifiers() {
    for ok in ["vault_kv", "_t", "kv2"] {
        assert!(check_table_name(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "2kv",
        "Vault",
        "kv; DROP TABLE x",
        "a.b",
        "kv\"",
        &"k".repeat(64),
    ] {
        assert!(check_table_name(bad).is_err(), "{bad}");
    }
}

#[test]
fn the_password_is_found_in_the_url() {
    assert_eq!(raw_password("postgres://u:p%40ss@h:5/db"), Some("p%40ss"));
    assert_eq!(raw_password("postgres://u@h/db"), None);
    assert_eq!(raw_password("postgres://h/db?x=a@b"), None);
    let options = options("t");
    assert!(!format!("{options:?}").contains(&pg_url()));
}

#[tokio::test]
async fn a_failing_transaction_lands_nothing() {
    let db = postgres("failing").await;
    db.put("keep", b"old".to_vec()).await.unwrap();
    // PostgreSQL text cannot hold NUL: the second put fails on the server after
    // the first one ran, in the same transaction.
    let err = db
        .batch(vec![
            BatchOp::Put {
                key: "first".into(),
                value: b"1".to_vec(),
            },
            BatchOp::Delete { key: "keep".into() },
            BatchOp::Put {
                key: "bad\0key".into(),
                value: b"2".to_vec(),
            },
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Io(_)), "{err}");
    assert_eq!(db.get("first").await.unwrap(), None);
    assert_eq!(db.get("keep").await.unwrap(), Some(b"old".to_vec()));

    // The table gone under it: the batch fails whole, and works again once the
    // table is back (the failed session was not pooled in a bad state).
    let admin = admin().await;
    admin
        .batch_execute(&format!("ALTER TABLE {0} RENAME TO {0}_x", db.table()))
        .await
        .unwrap();
    assert!(db.put("while_gone", b"x".to_vec()).await.is_err());
    admin
        .batch_execute(&format!("ALTER TABLE {0}_x RENAME TO {0}", db.table()))
        .await
        .unwrap();
    db.put("after", b"y".to_vec()).await.unwrap();
    assert_eq!(db.get("while_gone").await.unwrap(), None);
    assert_eq!(db.get("keep").await.unwrap(), Some(b"old".to_vec()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_lost_during_commit_is_an_error_that_says_the_outcome_is_unknown() {
    let db = postgres("commit_lost").await;
    db.put("warm", b"0".to_vec()).await.unwrap();
    // A deferred constraint trigger runs at COMMIT: it makes the commit wait
    // long enough for the test to end the session serving it.
    let admin = admin().await;
    let table = db.table().to_owned();
    admin
        .batch_execute(&format!(
            "CREATE FUNCTION {table}_slow() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN PERFORM pg_sleep(3); RETURN NULL; END $$;
             CREATE CONSTRAINT TRIGGER {table}_slow AFTER INSERT ON {table}
               DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
               WHEN (NEW.key = 'slow') EXECUTE FUNCTION {table}_slow();"
        ))
        .await
        .unwrap();
    let db = Arc::new(db);
    let writing = {
        let db = Arc::clone(&db);
        tokio::spawn(async move { db.put("slow", b"1".to_vec()).await })
    };
    // Wait until the commit sleeps in the trigger, then end that session.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut ended = false;
    while !ended && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        ended = admin
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                 WHERE wait_event = 'PgSleep' AND query ILIKE 'COMMIT%'",
                &[],
            )
            .await
            .unwrap()
            .get::<_, i64>(0)
            > 0;
    }
    assert!(ended, "the commit never reached the trigger");
    let err = writing.await.unwrap().unwrap_err();
    assert!(
        err.to_string().contains("outcome of the commit is unknown"),
        "{err}"
    );
    // Here it did not land (the session ended before the commit record), and
    // the backend goes on with a fresh session.
    assert_eq!(db.get("slow").await.unwrap(), None);
    db.put("after", b"2".to_vec()).await.unwrap();
    assert_eq!(db.get("after").await.unwrap(), Some(b"2".to_vec()));
}

#[tokio::test]
async fn the_table_is_created_checked_or_refused() {
    // skip_create_table on a missing table: a clear error naming it.
    let table = unique_table("skip");
    let mut skip = options(&table);
    skip.skip_create_table = true;
    let err = PostgresBackend::connect(skip.clone()).await.unwrap_err();
    assert!(
        err.to_string().contains(&table) && err.to_string().contains("does not exist"),
        "{err}"
    );
    // Created by a normal connect, then accepted with skip_create_table.
    let db = PostgresBackend::connect(options(&table)).await.unwrap();
    db.put("k", b"v".to_vec()).await.unwrap();
    db.close().await.unwrap();
    let db = PostgresBackend::connect(skip).await.unwrap();
    assert_eq!(db.get("k").await.unwrap(), Some(b"v".to_vec()));

    // A table of the same name with another layout is not ours.
    let other = unique_table("other");
    admin()
        .await
        .batch_execute(&format!(
            "CREATE TABLE {other} (key TEXT PRIMARY KEY, value BYTEA NOT NULL)"
        ))
        .await
        .unwrap();
    let err = PostgresBackend::connect(options(&other)).await.unwrap_err();
    assert!(matches!(err, StorageError::NotOurs { .. }), "{err}");

    let err = PostgresBackend::connect(options("Bad-Name"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("plain identifier"), "{err}");
}

#[tokio::test]
async fn nodes_creating_the_table_at_once_all_start() {
    let table = unique_table("race");
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let options = options(&table);
        tasks.push(tokio::spawn(PostgresBackend::connect(options)));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn errors_never_show_the_password() {
    let url = pg_url();
    let (head, tail) = url.split_once('@').unwrap();
    let wrong_password = "Wr0ng-pa55word-zz";
    let user = head.rsplit_once(':').unwrap().0;
    let wrong = format!("{user}:{wrong_password}@{tail}");
    let mut opts = PostgresOptions::new(SecretString::from(wrong.as_str()));
    opts.table = unique_table("pw");
    let err = PostgresBackend::connect(opts)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("28P01") || err.contains("password"), "{err}");
    assert!(!err.contains(wrong_password), "{err}");
    let real_password = head.rsplit_once(':').unwrap().1;
    assert!(!err.contains(real_password), "{err}");

    // A malformed URL: the message names the problem, not the URL.
    let bad = format!("{user}:{wrong_password}@{tail}?port=notaport");
    let err = PostgresBackend::connect(PostgresOptions::new(SecretString::from(bad.as_str())))
        .await
        .unwrap_err()
        .to_string();
    assert!(!err.contains(wrong_password), "{err}");
    let err = PostgresBackend::connect(PostgresOptions::new(SecretString::from(
        "mysql://u:secret@h/db",
    )))
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("postgres://") && !err.contains("secret"),
        "{err}"
    );
}

#[tokio::test]
async fn a_refused_connect_is_retried_for_a_bounded_time() {
    // A port nobody listens on: refused at once, retried until the budget ends.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut opts = PostgresOptions::new(SecretString::from(
        format!("postgres://u:pw@127.0.0.1:{port}/db").as_str(),
    ));
    opts.connect_retry_for = Duration::from_millis(1_500);
    let start = Instant::now();
    let err = PostgresBackend::connect(opts).await.unwrap_err();
    let took = start.elapsed();
    assert!(matches!(err, StorageError::Io(_)), "{err}");
    assert!(took >= Duration::from_millis(700), "gave up after {took:?}");
    assert!(took < Duration::from_secs(5), "retried for {took:?}");
}

fn body(value: Value) -> Data {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vault_over_postgres_stores_only_ciphertext() {
    let table = unique_table("vault");
    let secret = format!("hunter2-{}", unique_table("s"));
    let backend = PostgresBackend::connect(options(&table)).await.unwrap();
    let vault = crate::Vault::new(Arc::new(backend));
    let init = vault.init(1, 1).await.unwrap();
    let share = init.shares[0].to_hex().expose_secret().to_owned();
    let root = init.root_token.expose_secret().to_owned();
    vault.unseal(&share).await.unwrap();
    vault
        .handle(
            Request::new(Operation::Update, "sys/mounts/secret")
                .with_token(&root)
                .with_data(body(json!({"type": "kv-v2"}))),
        )
        .await
        .unwrap();
    vault
        .handle(
            Request::new(Operation::Update, "secret/data/x")
                .with_token(&root)
                .with_data(body(json!({"data": {"password": secret}}))),
        )
        .await
        .unwrap();
    vault.close().await.unwrap();

    let rows = admin()
        .await
        .query(&format!("SELECT key, value FROM {table}"), &[])
        .await
        .unwrap();
    assert!(rows.len() > 5, "only {} rows", rows.len());
    let needles: [&[u8]; 3] = [secret.as_bytes(), b"hunter2", root.as_bytes()];
    for row in &rows {
        let key: String = row.get(0);
        let value: Vec<u8> = row.get(1);
        for needle in needles {
            assert!(!key.as_bytes().windows(needle.len()).any(|w| w == needle));
            assert!(
                !value.windows(needle.len()).any(|w| w == needle),
                "{key} holds a secret in the clear"
            );
        }
    }

    let backend = PostgresBackend::connect(options(&table)).await.unwrap();
    let vault = crate::Vault::new(Arc::new(backend));
    vault.unseal(&share).await.unwrap();
    let read = vault
        .handle(Request::new(Operation::Read, "secret/data/x").with_token(&root))
        .await
        .unwrap();
    let data = serde_json::to_value(&read.data).unwrap();
    assert_eq!(data["data"]["password"], json!(secret), "{data}");
    vault.close().await.unwrap();
}
