//! Nothing a caller without a token sends costs more than a small, fixed
//! amount of memory or audit space, and bodies are parsed within Vault's JSON
//! limits: large and slow unauthenticated bodies are refused before they are
//! buffered, while a client with a token is served throughout; the audit log
//! does not grow with what is refused; each JSON limit is named when passed
//! and can be raised. A TLS certificate renewed on disk is served after a
//! SIGHUP, without a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vault_proto::v1::LogicalRequest;
use vault_tests::{Daemon, init, logical, unseal, with_token, write_config};

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn host(daemon: &Daemon) -> String {
    daemon.addr.trim_start_matches("http://").to_owned()
}

/// An HTTP/1.1 request with `body` (with `Content-Length`, or chunked): the
/// status of the answer, or 0 if the connection was closed without one.
fn http_status(
    daemon: &Daemon,
    path: &str,
    token: Option<&str>,
    body: &[u8],
    chunked: bool,
) -> u16 {
    let mut stream = TcpStream::connect(host(daemon)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let token = token
        .map(|t| format!("X-Vault-Token: {t}\r\n"))
        .unwrap_or_default();
    let framing = if chunked {
        "Transfer-Encoding: chunked\r\n".to_owned()
    } else {
        format!("Content-Length: {}\r\n", body.len())
    };
    let head =
        format!("PUT /v1/{path} HTTP/1.1\r\nHost: x\r\n{token}{framing}Connection: close\r\n\r\n");
    let _ = stream.write_all(head.as_bytes());
    for part in body.chunks(64 << 10) {
        let sent = if chunked {
            stream
                .write_all(format!("{:x}\r\n", part.len()).as_bytes())
                .and_then(|()| stream.write_all(part))
                .and_then(|()| stream.write_all(b"\r\n"))
        } else {
            stream.write_all(part)
        };
        if sent.is_err() {
            break;
        }
    }
    if chunked {
        let _ = stream.write_all(b"0\r\n\r\n");
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer)
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// A JSON body of `n` bytes or so: an object holding an array of numbers.
fn numbers(n: usize) -> Vec<u8> {
    let mut body = b"{\"role_id\":\"r\",\"a\":[".to_vec();
    while body.len() < n {
        body.extend_from_slice(b"1234567,");
    }
    body.extend_from_slice(b"1]}");
    body
}

fn audit_config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let audit = dir.join("audit.log");
    write_config(
        dir,
        &format!(
            "[[audit]]\nname = \"file\"\ntype = \"file\"\noptions = {{ file_path = \"{}\" }}\n{extra}",
            audit.display()
        ),
    )
}

/// Writes and reads a KV secret with the root token over gRPC until `stop`,
/// at least once; every answer must be a success.
async fn good_client(daemon: &Daemon, token: String, stop: Instant) -> usize {
    let mut client = logical(daemon).await;
    let mut done = 0;
    while done == 0 || (Instant::now() < stop && done < 10_000) {
        let path = format!("secret/data/good{}", done % 10);
        let write = client
            .write(with_token(
                &token,
                LogicalRequest {
                    path: path.clone(),
                    data_json: json!({"data": {"n": done}}).to_string(),
                    ..Default::default()
                },
            ))
            .await;
        assert!(write.is_ok(), "a good client's write failed: {write:?}");
        let read = client
            .read(with_token(
                &token,
                LogicalRequest {
                    path,
                    data_json: String::new(),
                    ..Default::default()
                },
            ))
            .await;
        assert!(read.is_ok(), "a good client's read failed: {read:?}");
        done += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_and_slow_bodies_without_a_token_cost_little_and_the_good_client_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let config = audit_config(dir.path(), "");
    let daemon = Daemon::start_with(&config, dir.path());
    let keys = init(&daemon, 1, 1);
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    let token = keys.root_token.clone();
    for args in [
        &["secrets", "enable", "--path", "secret", "kv-v2"][..],
        &["auth", "enable", "approle"][..],
    ] {
        daemon.cli(Some(&token), args).expect_code(0);
    }
    let audit = dir.path().join("audit.log");
    let audit_before = std::fs::metadata(&audit).unwrap().len();
    let rss_before = rss_bytes(daemon.pid());

    // 50 connections, each sending a 30 MB body slowly (256 KiB per 100 ms),
    // without a token: half declare the length, half are chunked. Meanwhile
    // 8 MB bodies of numbers to a secret's path and to a login path.
    let stop = Instant::now() + Duration::from_secs(8);
    let addr = host(&daemon);
    let mut attackers = Vec::new();
    for i in 0..50 {
        let addr = addr.clone();
        attackers.push(std::thread::spawn(move || {
            let Ok(mut stream) = TcpStream::connect(&addr) else {
                return;
            };
            let framing = if i % 2 == 0 {
                "Content-Length: 30000000\r\n"
            } else {
                "Transfer-Encoding: chunked\r\n"
            };
            let head = format!("PUT /v1/secret/data/slow{i} HTTP/1.1\r\nHost: x\r\n{framing}\r\n");
            if stream.write_all(head.as_bytes()).is_err() {
                return;
            }
            let part = vec![b'7'; 256 << 10];
            let mut sent = 0;
            while sent < 30_000_000 && Instant::now() < stop {
                let ok = if i % 2 == 0 {
                    stream.write_all(&part)
                } else {
                    stream
                        .write_all(format!("{:x}\r\n", part.len()).as_bytes())
                        .and_then(|()| stream.write_all(&part))
                        .and_then(|()| stream.write_all(b"\r\n"))
                };
                if ok.is_err() {
                    return;
                }
                sent += part.len();
                std::thread::sleep(Duration::from_millis(100));
            }
        }));
    }
    let big = numbers(8 << 20);
    let mut refused = Vec::new();
    for path in ["secret/data/x", "auth/approle/login"] {
        for chunked in [false, true] {
            refused.push((
                path,
                chunked,
                http_status(&daemon, path, None, &big, chunked),
            ));
        }
    }
    // Bodies just under the budget, to a path that takes them without a
    // token: audited, but in bounded space.
    let under = numbers(60 << 10);
    for _ in 0..20 {
        let status = http_status(&daemon, "auth/approle/login", None, &under, false);
        assert!((400..500).contains(&status), "{status}");
    }

    let mut peak = 0;
    let sampler = {
        let pid = daemon.pid();
        std::thread::spawn(move || {
            let mut peak = 0;
            while Instant::now() < stop {
                peak = peak.max(rss_bytes(pid));
                std::thread::sleep(Duration::from_millis(50));
            }
            peak
        })
    };
    let served = good_client(&daemon, token.clone(), stop).await;
    for a in attackers {
        a.join().unwrap();
    }
    peak = peak.max(sampler.join().unwrap());

    for (path, chunked, status) in &refused {
        assert!(
            *status == 413 || *status == 0,
            "an 8 MB body without a token to {path} (chunked: {chunked}) must be refused: {status}"
        );
    }
    assert!(served > 0);
    let grown = peak.saturating_sub(rss_before);
    assert!(
        peak < 128 << 20 && grown < 64 << 20,
        "RSS went from {} MiB to a peak of {} MiB",
        rss_before >> 20,
        peak >> 20
    );
    // What the callers without a token cost the audit log; the good client's
    // own entries (about 3.5 KB per write and read) grow with its speed.
    let written = std::fs::read(&audit).unwrap();
    let audit_grown: usize = String::from_utf8_lossy(&written[audit_before as usize..])
        .lines()
        .filter(|l| {
            serde_json::from_str::<Value>(l).map_or(true, |e| {
                !e["request"]["path"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("secret/data/good"))
            })
        })
        .map(str::len)
        .sum();
    assert!(
        audit_grown < 256 << 10,
        "the audit log grew by {audit_grown} bytes for the callers without a token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_limits_are_named_when_passed_and_can_be_raised() {
    let big_object = {
        let entries: Vec<String> = (0..100_000).map(|i| format!("\"k{i}\":1")).collect();
        format!("{{\"data\":{{{}}}}}", entries.join(","))
    };
    let long_string = json!({"data": {"v": "x".repeat(2 << 20)}}).to_string();
    let deep = format!(
        "{{\"data\":{{\"v\":{}1{}}}}}",
        "[".repeat(200),
        "]".repeat(200)
    );
    let cases = [
        (&big_object, "listener.max_json_object_entry_count"),
        (&long_string, "listener.max_json_string_value_length"),
        (&deep, "listener.max_json_depth"),
    ];
    for raise in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), "");
        if raise {
            let text = std::fs::read_to_string(&config).unwrap().replace(
                "tls_disable = true\n",
                "tls_disable = true\nmax_json_object_entry_count = 200000\n\
                 max_json_string_value_length = 4194304\nmax_json_depth = 300\n",
            );
            std::fs::write(&config, text).unwrap();
        }
        let daemon = Daemon::start_with(&config, dir.path());
        let keys = init(&daemon, 1, 1);
        unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
        let token = keys.root_token.clone();
        daemon
            .cli(
                Some(&token),
                &["secrets", "enable", "--path", "secret", "kv-v2"],
            )
            .expect_code(0);
        let mut client = logical(&daemon).await;
        for (body, setting) in cases {
            // Over HTTP...
            let status = http_status(
                &daemon,
                "secret/data/limits",
                Some(&token),
                body.as_bytes(),
                false,
            );
            // ...and over gRPC.
            let grpc = client
                .write(with_token(
                    &token,
                    LogicalRequest {
                        path: "secret/data/limits".into(),
                        data_json: body.clone(),
                        ..Default::default()
                    },
                ))
                .await;
            if raise {
                assert!(
                    (200..300).contains(&status),
                    "{setting} raised: HTTP {status}"
                );
                assert!(grpc.is_ok(), "{setting} raised: {grpc:?}");
                // What was let in reads back.
                let read = client
                    .read(with_token(
                        &token,
                        LogicalRequest {
                            path: "secret/data/limits".into(),
                            data_json: String::new(),
                            ..Default::default()
                        },
                    ))
                    .await;
                assert!(read.is_ok(), "{setting} raised, read back: {read:?}");
            } else {
                assert_eq!(status, 400, "{setting}");
                let e = grpc.unwrap_err();
                assert_eq!(e.code(), tonic::Code::InvalidArgument);
                assert!(e.message().contains(setting), "{setting}: {}", e.message());
            }
        }
        if !raise {
            // The HTTP answer names the setting too.
            let mut stream = TcpStream::connect(host(&daemon)).unwrap();
            let head = format!(
                "PUT /v1/secret/data/limits HTTP/1.1\r\nHost: x\r\nX-Vault-Token: {token}\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                deep.len()
            );
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(deep.as_bytes()).unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).unwrap();
            let body: Value =
                serde_json::from_str(answer.split_once("\r\n\r\n").unwrap().1).unwrap();
            assert!(
                body["errors"][0]
                    .as_str()
                    .unwrap()
                    .contains("listener.max_json_depth"),
                "{body}"
            );
        }
    }
}

#[test]
fn a_renewed_certificate_is_served_after_sighup_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let make = || {
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap()
    };
    let (first, second) = (make(), make());
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert, first.cert.pem()).unwrap();
    std::fs::write(&key, first.signing_key.serialize_pem()).unwrap();
    let (first_ca, second_ca) = (dir.path().join("first.pem"), dir.path().join("second.pem"));
    std::fs::write(&first_ca, first.cert.pem()).unwrap();
    std::fs::write(&second_ca, second.cert.pem()).unwrap();
    let config = dir.path().join("tls.toml");
    std::fs::write(
        &config,
        format!(
            "[listener]\naddress = \"127.0.0.1:0\"\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n\
             [storage]\nkind = \"sqlite\"\npath = \"{}\"\n",
            cert.display(),
            key.display(),
            dir.path().join("vault.db").display()
        ),
    )
    .unwrap();
    let daemon = Daemon::start_with(&config, dir.path());
    let status_trusting = |ca: &Path| {
        vault_tests::cli_with_env(
            &daemon.addr,
            None,
            &["status", "--format", "json"],
            None,
            &[("VAULT_CACERT", ca.to_str().unwrap())],
        )
        .code
    };
    assert_eq!(
        status_trusting(&first_ca),
        2,
        "served with the first certificate"
    );
    assert_eq!(status_trusting(&second_ca), 1);

    // A renewal replaces the files; SIGHUP makes the daemon read them again.
    std::fs::write(&cert, second.cert.pem()).unwrap();
    std::fs::write(&key, second.signing_key.serialize_pem()).unwrap();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &daemon.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while status_trusting(&second_ca) != 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        status_trusting(&second_ca),
        2,
        "the renewed certificate is served"
    );
    assert_eq!(status_trusting(&first_ca), 1, "the old one is not");

    // A broken renewal (a key that does not match) keeps the one in use.
    std::fs::write(&key, first.signing_key.serialize_pem()).unwrap();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &daemon.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        status_trusting(&second_ca),
        2,
        "still served after a bad reload"
    );
    assert!(
        daemon
            .log_text()
            .contains("reloading the TLS certificate failed"),
        "{}",
        daemon.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limit_wait_until_one_closes() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "tls_disable = true\n",
        "tls_disable = true\nmax_connections = 3\n",
    );
    std::fs::write(&config, text).unwrap();
    let daemon = Daemon::start_with(&config, dir.path());
    let health = |d: &Daemon| {
        let mut stream = TcpStream::connect(host(d)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        stream
            .write_all(b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        !answer.is_empty()
    };
    assert!(health(&daemon), "served while under the limit");
    // Three idle connections take every place...
    let held: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(host(&daemon)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // ...so a fourth waits in the backlog, unanswered.
    assert!(!health(&daemon), "a fourth connection must wait");
    // One closes: the next is served.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut served = false;
    while !served && Instant::now() < deadline {
        served = health(&daemon);
    }
    assert!(served, "served once a place was free");
}
