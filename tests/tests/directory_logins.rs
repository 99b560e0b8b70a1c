//! People log in with their directory account, through the real daemon and
//! a real slapd (`vault_tests::ldap`): by uid and by UPN, with the
//! directory's groups (nested too) deciding policies at each login; every
//! refusal alike; injection attempts refused; failover past a server that is
//! down and one that never answers; TLS checked.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vault_tests::http::{http, ok};
use vault_tests::ldap::{Directory, PASSWORD, SEARCH_DN, SEARCH_PASSWORD, SUFFIX};
use vault_tests::{Daemon, Init, unsealed_with_kv};

/// A login: (status, answer).
fn login(daemon: &Daemon, mount: &str, user: &str, password: &str) -> (u16, Value) {
    vault_tests::secret_scan::note(password);
    let (code, answer) = http(
        daemon,
        "",
        "POST",
        &format!("auth/{mount}/login/{user}"),
        Some(json!({ "password": password })),
    );
    vault_tests::secret_scan::note_in(&answer["auth"]);
    (code, answer)
}

/// The config of a mount that searches with the search bind over
/// StartTLS.
fn search_config(url: &str, directory: &Directory) -> Value {
    json!({
        "url": url, "starttls": true, "certificate": directory.ca_pem,
        "binddn": SEARCH_DN, "bindpass": SEARCH_PASSWORD,
        "userdn": format!("ou=people,{SUFFIX}"), "userattr": "uid",
        "groupdn": format!("ou=groups,{SUFFIX}"), "groupattr": "cn",
        "request_timeout": "3s", "connection_timeout": "3s",
    })
}

fn daemon_with_ldap(dir: &std::path::Path, mount: &str, config: Value) -> (Daemon, Init) {
    let (daemon, init) = unsealed_with_kv(dir);
    let root = &init.root_token;
    ok(
        &daemon,
        root,
        "POST",
        &format!("sys/auth/{mount}"),
        json!({"type": "ldap"}),
    );
    ok(
        &daemon,
        root,
        "POST",
        &format!("auth/{mount}/config"),
        config,
    );
    (daemon, init)
}

fn policies(answer: &Value) -> Vec<String> {
    answer["auth"]["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_by_uid_and_by_upn_with_the_directorys_groups_at_each_login() {
    let ldap = Directory::shared();
    let dir = tempfile::tempdir().unwrap();
    let (daemon, init) = daemon_with_ldap(dir.path(), "ldap", search_config(&ldap.url, &ldap));
    let root = &init.root_token;
    for (group, policy) in [("devs", "dev"), ("engineering", "eng"), ("ops", "ops")] {
        ok(
            &daemon,
            root,
            "POST",
            &format!("auth/ldap/groups/{group}"),
            json!({"policies": policy}),
        );
    }
    ok(
        &daemon,
        root,
        "POST",
        "auth/ldap/users/alice",
        json!({"policies": "alice-own"}),
    );

    let (code, alice) = login(&daemon, "ldap", "alice", PASSWORD);
    assert_eq!(code, 200, "{alice}");
    // devs directly, engineering through devs, and her own.
    assert_eq!(policies(&alice), ["alice-own", "default", "dev", "eng"]);
    assert_eq!(alice["auth"]["metadata"]["username"], "alice");

    // The DN-special user logs in (the DN comes from the search).
    let (code, kim) = login(&daemon, "ldap", "kim,lee", PASSWORD);
    assert_eq!(code, 200, "{kim}");
    assert_eq!(policies(&kim), ["default", "dev", "eng"]);

    // By UPN, as Active Directory users do.
    let mut upn = search_config(&ldap.url, &ldap);
    upn["upndomain"] = json!("example.test");
    ok(
        &daemon,
        root,
        "POST",
        "sys/auth/ad",
        json!({"type": "ldap"}),
    );
    ok(&daemon, root, "POST", "auth/ad/config", upn);
    ok(
        &daemon,
        root,
        "POST",
        "auth/ad/groups/ops",
        json!({"policies": "ops"}),
    );
    let (code, bob) = login(&daemon, "ad", "bob", PASSWORD);
    assert_eq!(code, 200, "{bob}");
    assert_eq!(policies(&bob), ["default", "ops"]);

    // A change of membership in the directory applies at the next login.
    let devs = format!("cn=devs,ou=groups,{SUFFIX}");
    let bob_dn = format!("uid=bob,ou=people,{SUFFIX}");
    ldap.modify(&format!(
        "dn: {devs}\nchangetype: modify\nadd: member\nmember: {bob_dn}\n"
    ));
    let (_, bob) = login(&daemon, "ldap", "bob", PASSWORD);
    ldap.modify(&format!(
        "dn: {devs}\nchangetype: modify\ndelete: member\nmember: {bob_dn}\n"
    ));
    assert_eq!(policies(&bob), ["default", "dev", "eng", "ops"]);
    let (_, bob) = login(&daemon, "ldap", "bob", PASSWORD);
    assert_eq!(policies(&bob), ["default", "ops"]);

    // The directory's groups are external identity groups' aliases.
    let (_, auth) = http(&daemon, root, "GET", "sys/auth", None);
    let accessor = auth["data"]["ldap/"]["accessor"]
        .as_str()
        .unwrap()
        .to_owned();
    let group = ok(
        &daemon,
        root,
        "POST",
        "identity/group",
        json!({"name": "directory-engineering", "type": "external", "policies": ["eng-identity"]}),
    );
    ok(
        &daemon,
        root,
        "POST",
        "identity/group-alias",
        json!({"name": "engineering", "mount_accessor": accessor, "canonical_id": group["data"]["id"]}),
    );
    let (_, alice) = login(&daemon, "ldap", "alice", PASSWORD);
    assert_eq!(alice["auth"]["identity_policies"], json!(["eng-identity"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_is_alike_and_injection_finds_nobody() {
    let ldap = Directory::shared();
    let dir = tempfile::tempdir().unwrap();
    let (daemon, init) = daemon_with_ldap(dir.path(), "ldap", search_config(&ldap.url, &ldap));
    // A second mount that builds the DN from the username (no search).
    ok(
        &daemon,
        &init.root_token,
        "POST",
        "sys/auth/built",
        json!({"type": "ldap"}),
    );
    ok(
        &daemon,
        &init.root_token,
        "POST",
        "auth/built/config",
        json!({"url": ldap.url, "userdn": format!("ou=people,{SUFFIX}"), "userattr": "uid"}),
    );
    let refused = [
        ("alice", "wrong password"),
        ("alice", ""),
        ("nobody", PASSWORD),
        ("mallory", PASSWORD),
        // Filter injection: a wildcard, a closed-and-reopened filter.
        ("*", PASSWORD),
        ("al*", PASSWORD),
        ("alice)(uid=*", PASSWORD),
        ("alice)(|(uid=*", PASSWORD),
        ("%5C2a", PASSWORD),
        // DN injection: another RDN, another entry.
        ("alice,ou=people", PASSWORD),
        ("x,cn=vault-search,dc=example,dc=test", PASSWORD),
        ("alice+cn=x", PASSWORD),
    ];
    for mount in ["ldap", "built"] {
        for (user, password) in refused {
            let (code, answer) = login(&daemon, mount, user, password);
            assert_eq!(code, 400, "{mount} {user:?}/{password:?}: {answer}");
            assert_eq!(
                answer["errors"],
                json!(["invalid username or password"]),
                "{mount} {user:?}"
            );
        }
        let (code, answer) = login(&daemon, mount, "alice", PASSWORD);
        assert_eq!(code, 200, "{mount}: {answer}");
    }
    // The DN-special user through a built DN: escaped, it is their DN.
    let (code, answer) = login(&daemon, "built", "kim,lee", PASSWORD);
    assert_eq!(code, 200, "{answer}");
}

/// A server that accepts connections and never answers.
fn silent_server() -> (String, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ldap://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut held = Vec::new();
        listener.set_nonblocking(true).unwrap();
        let until = Instant::now() + Duration::from_secs(60);
        while Instant::now() < until {
            match listener.accept() {
                Ok((stream, _)) => held.push(stream),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    (url, handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_down_or_silent_is_passed_over_within_the_timeouts() {
    let shared = Directory::shared();
    let mut own = Directory::start_own();
    let (silent, _silent) = silent_server();
    let dir = tempfile::tempdir().unwrap();
    // Order: a slapd that will be stopped, a server that never answers,
    // then the suite's slapd.
    let urls = format!("{},{silent},{}", own.url, shared.url);
    let mut config = search_config(&urls, &shared);
    config["starttls"] = json!(false);
    config["certificate"] = json!("");
    config["request_timeout"] = json!("2s");
    config["connection_timeout"] = json!("2s");
    let (daemon, init) = daemon_with_ldap(dir.path(), "ldap", config);

    let (code, answer) = login(&daemon, "ldap", "alice", PASSWORD);
    assert_eq!(code, 200, "the first server answers: {answer}");
    own.stop();
    let started = Instant::now();
    let (code, answer) = login(&daemon, "ldap", "alice", PASSWORD);
    assert_eq!(code, 200, "{answer}");
    let first = started.elapsed();
    assert!(first < Duration::from_secs(10), "passed over in {first:?}");
    // The servers that failed are now tried last: no wait at all.
    let started = Instant::now();
    let (code, _) = login(&daemon, "ldap", "alice", PASSWORD);
    assert_eq!(code, 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // Only the silent server: a clear error within the timeouts, no token.
    let mut config = search_config(&silent, &shared);
    config["starttls"] = json!(false);
    config["certificate"] = json!("");
    config["request_timeout"] = json!("2s");
    config["connection_timeout"] = json!("2s");
    ok(
        &daemon,
        &init.root_token,
        "POST",
        "auth/ldap/config",
        config,
    );
    let started = Instant::now();
    let (code, answer) = login(&daemon, "ldap", "alice", PASSWORD);
    assert!(code >= 500, "{code} {answer}");
    assert!(answer["errors"].to_string().contains("LDAP"), "{answer}");
    assert!(answer["auth"].is_null());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_checked_against_the_configured_ca() {
    let ldap = Directory::shared();
    let dir = tempfile::tempdir().unwrap();
    let (daemon, init) = daemon_with_ldap(dir.path(), "ldap", search_config(&ldap.url, &ldap));
    // LDAPS with the right CA.
    let mut ldaps = search_config(&ldap.ldaps_url, &ldap);
    ldaps["starttls"] = json!(false);
    ok(
        &daemon,
        &init.root_token,
        "POST",
        "sys/auth/ldaps",
        json!({"type": "ldap"}),
    );
    ok(
        &daemon,
        &init.root_token,
        "POST",
        "auth/ldaps/config",
        ldaps,
    );
    let (code, answer) = login(&daemon, "ldaps", "alice", PASSWORD);
    assert_eq!(code, 200, "{answer}");
    // StartTLS with another CA: refused, and it says why.
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let mut wrong = search_config(&ldap.url, &ldap);
    wrong["certificate"] = json!(other.cert.pem());
    ok(&daemon, &init.root_token, "POST", "auth/ldap/config", wrong);
    let (code, answer) = login(&daemon, "ldap", "alice", PASSWORD);
    assert!(code >= 500, "{code} {answer}");
    assert!(answer["auth"].is_null());
    let text = answer["errors"].to_string().to_lowercase();
    assert!(
        text.contains("certificate") || text.contains("tls"),
        "{answer}"
    );
}
