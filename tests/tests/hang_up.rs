//! A client that hangs up cannot stop a state change halfway: the operation runs
//! to its end on the server and is audited either way.
//!
//! To hang up at a known point, the test holds SQLite's write lock on the
//! vault's file (a second connection in `BEGIN IMMEDIATE`), so the operation
//! waits in storage; the client's deadline cuts the call; then the lock is
//! let go. For the rekey, whose last share writes nothing until verified, the
//! whole request is written to the socket and the socket closed before any
//! answer is read.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use vault_proto::v1::{KeyStatusRequest, RotateRequest};
use vault_tests::{Daemon, eventually, init, unseal, with_token, write_config};

/// Holds the write lock of the SQLite file at `db` until dropped.
struct WriteLock(rusqlite::Connection);

impl WriteLock {
    fn take(db: &Path) -> WriteLock {
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        WriteLock(conn)
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        let _ = self.0.execute_batch("ROLLBACK");
    }
}

fn audit_entries(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotate_whose_caller_hangs_up_completes_and_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.log");
    let config = write_config(
        dir.path(),
        &format!(
            "[[audit]]\nname = \"file\"\ntype = \"file\"\noptions = {{ file_path = \"{}\" }}\n",
            audit.display()
        ),
    );
    let daemon = Daemon::start_with(&config, dir.path());
    let keys = init(&daemon, 1, 1);
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    let token = keys.root_token.clone();
    let mut sys = daemon.sys().await;
    let term = |status: vault_proto::v1::KeyStatusResponse| status.term;
    let before = term(
        sys.key_status(with_token(&token, KeyStatusRequest {}))
            .await
            .unwrap()
            .into_inner(),
    );

    let lock = WriteLock::take(&dir.path().join("vault.db"));
    let mut cut = with_token(&token, RotateRequest {});
    cut.set_timeout(Duration::from_millis(500));
    let answer = sys.rotate(cut).await;
    assert!(
        answer.is_err(),
        "the rotate must still be waiting on the held lock when the caller leaves"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(lock);

    // The rotate finishes on the server: the new term is in effect...
    let done = eventually(Duration::from_secs(20), || {
        let mut sys = sys.clone();
        let token = token.clone();
        async move {
            sys.key_status(with_token(&token, KeyStatusRequest {}))
                .await
                .is_ok_and(|s| s.into_inner().term == before + 1)
        }
    })
    .await;
    assert!(
        done.is_some(),
        "the rotate did not complete on the server after its caller hung up"
    );
    // ...and the audit log holds its response.
    let answered = eventually(Duration::from_secs(10), || {
        let audit = audit.clone();
        async move {
            audit_entries(&audit)
                .iter()
                .any(|e| e["type"] == "response" && e["request"]["path"] == "sys/rotate")
        }
    })
    .await;
    assert!(
        answered.is_some(),
        "no response entry for the rotate in the audit log"
    );
    // And after a restart the term is the same (the new keyring was stored).
    daemon.stop();
    let daemon = Daemon::start_with(&config, dir.path());
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    let after = daemon
        .sys()
        .await
        .key_status(with_token(&token, KeyStatusRequest {}))
        .await
        .unwrap()
        .into_inner()
        .term;
    assert_eq!(after, before + 1);
}

/// One HTTP/1.1 request on a fresh connection: the bytes to send.
fn http_request(
    daemon: &Daemon,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> (TcpStream, Vec<u8>) {
    let host = daemon.addr.trim_start_matches("http://");
    let stream = TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let body = body.to_string();
    let token = token
        .map(|t| format!("X-Vault-Token: {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} /v1/{path} HTTP/1.1\r\nHost: {host}\r\n{token}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    (stream, request.into_bytes())
}

/// An HTTP call: (status, JSON body or Null).
fn http(
    daemon: &Daemon,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let (mut stream, request) = http_request(daemon, method, path, token, &body);
    stream.write_all(&request).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {answer:?}"));
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// Sends the whole request, then closes the connection without reading a byte
/// of the answer.
fn http_and_hang_up(daemon: &Daemon, method: &str, path: &str, body: Value) {
    let (mut stream, request) = http_request(daemon, method, path, None, &body);
    stream.write_all(&request).unwrap();
    drop(stream);
}

fn keys_of(v: &Value) -> Vec<String> {
    v["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("no keys in {v}"))
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect()
}

/// Unseals over HTTP with `keys`: the final answer's `sealed`.
fn unseal_with(daemon: &Daemon, keys: &[String]) -> (u16, Value) {
    let mut last = (0, Value::Null);
    for key in keys {
        last = http(daemon, "PUT", "sys/unseal", None, json!({ "key": key }));
        if last.0 != 200 {
            break;
        }
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rekey_whose_last_answer_is_lost_leaves_the_old_shares_working() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.log");
    let config = write_config(
        dir.path(),
        &format!(
            "[[audit]]\nname = \"file\"\ntype = \"file\"\noptions = {{ file_path = \"{}\" }}\n",
            audit.display()
        ),
    );
    let daemon = Daemon::start_with(&config, dir.path());
    let old = init(&daemon, 3, 2);
    let token = old.root_token.as_str();
    assert_eq!(unseal_with(&daemon, &old.keys_hex[..2]).1["sealed"], false);

    // A rekey to 3 of 5; the share that completes it is sent and the
    // connection closed before the answer (the new shares) is read.
    let (code, started) = http(
        &daemon,
        "PUT",
        "sys/rekey/init",
        Some(token),
        json!({"secret_shares": 5, "secret_threshold": 3}),
    );
    assert_eq!(code, 200, "{started}");
    assert_eq!(
        started["verification_required"], true,
        "verification is on by default"
    );
    let nonce = started["nonce"].as_str().unwrap().to_owned();
    let (code, first) = http(
        &daemon,
        "PUT",
        "sys/rekey/update",
        None,
        json!({"nonce": nonce, "key": old.keys_hex[0]}),
    );
    assert_eq!(
        (code, first["progress"].as_u64()),
        (200, Some(1)),
        "{first}"
    );
    http_and_hang_up(
        &daemon,
        "PUT",
        "sys/rekey/update",
        json!({"nonce": nonce, "key": old.keys_hex[1]}),
    );

    // The server processed it: the new shares were made and await
    // verification, and the audit log has the update's answer.
    let pending = eventually(Duration::from_secs(20), || async {
        let (_, status) = http(&daemon, "GET", "sys/rekey/init", Some(token), Value::Null);
        status["verification_nonce"]
            .as_str()
            .is_some_and(|n| !n.is_empty())
    })
    .await;
    assert!(pending.is_some(), "the last share was not processed");
    let answered = audit_entries(&audit)
        .iter()
        .filter(|e| e["type"] == "response" && e["request"]["path"] == "sys/rekey/update")
        .count();
    assert_eq!(answered, 2, "both updates' answers are in the audit log");

    // Nobody holds the new shares. After a seal, the old ones still open it.
    let (code, _) = http(&daemon, "PUT", "sys/seal", Some(token), Value::Null);
    assert_eq!(code, 204);
    let (code, opened) = unseal_with(&daemon, &old.keys_hex[1..]);
    assert_eq!((code, &opened["sealed"]), (200, &json!(false)), "{opened}");

    // A rekey seen through: the new shares take effect only once a quorum of
    // them comes back with the verification nonce.
    let (_, started) = http(
        &daemon,
        "PUT",
        "sys/rekey/init",
        Some(token),
        json!({"secret_shares": 5, "secret_threshold": 3}),
    );
    let nonce = started["nonce"].as_str().unwrap().to_owned();
    let mut done = Value::Null;
    for key in &old.keys_hex[..2] {
        done = http(
            &daemon,
            "PUT",
            "sys/rekey/update",
            None,
            json!({"nonce": nonce, "key": key}),
        )
        .1;
    }
    assert_eq!(done["complete"], true, "{done}");
    let new = keys_of(&done);
    assert_eq!(new.len(), 5);
    let verification = done["verification_nonce"].as_str().unwrap().to_owned();
    assert!(!verification.is_empty());
    // Not in effect yet: the old shares still unseal.
    http(&daemon, "PUT", "sys/seal", Some(token), Value::Null);
    assert_eq!(unseal_with(&daemon, &old.keys_hex[..2]).1["sealed"], false);
    // The seal dropped the pending rekey; start over and verify this time.
    let (_, started) = http(
        &daemon,
        "PUT",
        "sys/rekey/init",
        Some(token),
        json!({"secret_shares": 5, "secret_threshold": 3}),
    );
    let nonce = started["nonce"].as_str().unwrap().to_owned();
    for key in &old.keys_hex[..2] {
        done = http(
            &daemon,
            "PUT",
            "sys/rekey/update",
            None,
            json!({"nonce": nonce, "key": key}),
        )
        .1;
    }
    let new = keys_of(&done);
    let verification = done["verification_nonce"].as_str().unwrap().to_owned();
    let (code, progress) = http(&daemon, "GET", "sys/rekey/verify", Some(token), Value::Null);
    assert_eq!(
        (code, progress["t"].as_u64(), progress["n"].as_u64()),
        (200, Some(3), Some(5)),
        "{progress}"
    );
    let mut verified = Value::Null;
    for key in &new[2..] {
        verified = http(
            &daemon,
            "PUT",
            "sys/rekey/verify",
            None,
            json!({"nonce": verification, "key": key}),
        )
        .1;
    }
    assert_eq!(verified["complete"], true, "{verified}");

    // Now the old shares are refused and the new ones open the vault.
    http(&daemon, "PUT", "sys/seal", Some(token), Value::Null);
    let (code, refused) = unseal_with(&daemon, &old.keys_hex);
    assert_eq!(
        code, 400,
        "the old shares must no longer open the vault: {refused}"
    );
    http(&daemon, "PUT", "sys/unseal", None, json!({"reset": true}));
    let (code, opened) = unseal_with(&daemon, &new[..3]);
    assert_eq!((code, &opened["sealed"]), (200, &json!(false)), "{opened}");
}

/// Callers that send a whole request and hang up at once, before the server
/// has read it: every one of those writes is carried out. (hyper, left to
/// itself, takes the end of the stream behind a whole request for a dropped
/// caller and drops the request unstarted: 127 of 200 such writes were lost.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_requests_from_callers_who_hang_up_at_once_are_all_carried_out() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    let keys = init(&daemon, 1, 1);
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    let token = keys.root_token.as_str();
    let (code, mounted) = http(
        &daemon,
        "POST",
        "sys/mounts/kv",
        Some(token),
        json!({"type": "kv", "options": {"version": "2"}}),
    );
    assert!((200..300).contains(&code), "{mounted}");

    const WRITES: usize = 100;
    for i in 0..WRITES {
        let (mut stream, request) = http_request(
            &daemon,
            "PUT",
            &format!("kv/data/k{i}"),
            Some(token),
            &json!({ "data": { "v": i } }),
        );
        stream.write_all(&request).unwrap();
        drop(stream);
    }

    let count = || {
        let (_, listed) = http(
            &daemon,
            "GET",
            "kv/metadata?list=true",
            Some(token),
            Value::Null,
        );
        listed["data"]["keys"].as_array().map_or(0, Vec::len)
    };
    let all = eventually(Duration::from_secs(20), || async { count() == WRITES }).await;
    assert!(
        all.is_some(),
        "of {WRITES} whole requests whose callers hung up, only {} were carried out",
        count()
    );
}
