//! Login MFA through the real daemon, for directory users on a real slapd
//! (`vault_tests::ldap`): a TOTP method and a login enforcement on the LDAP
//! mount; a login without a code gets `mfa_requirement` and no token,
//! `sys/mfa/validate` with the code gives the token, `X-Vault-MFA` does it
//! in one step; a code is good once, also after vaultd restarts; wrong
//! codes and wrong passwords count towards one lockout per user and client
//! address, so a stranger elsewhere cannot lock the user out.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use serde_json::{Value, json};
use vault_core::identity::mfa::totp;
use vault_tests::http::{curl, http, ok};
use vault_tests::ldap::{Directory, PASSWORD, SEARCH_DN, SEARCH_PASSWORD, SUFFIX};
use vault_tests::{Daemon, unseal, unsealed_with_kv};

/// Another client on this machine (the daemon listens on 127.0.0.1).
const STRANGER: &str = "127.0.0.2";
const HOME: &str = "127.0.0.1";

/// A call from the local address `from`, with extra headers: (status, body).
fn call_from(
    daemon: &Daemon,
    from: &str,
    path: &str,
    headers: &[String],
    body: &Value,
) -> (u16, Value) {
    let url = format!("{}/v1/{path}", daemon.addr);
    let text = body.to_string();
    let mut args = vec!["--interface", from, "-X", "POST", "-d", &text];
    for h in headers {
        args.extend(["-H", h.as_str()]);
    }
    args.push(&url);
    let (code, body) = curl(&args);
    let json = if body.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).unwrap()
    };
    vault_tests::secret_scan::note_in(&json["auth"]);
    (code, json)
}

/// An LDAP login from `from`, with `mfa` as `X-Vault-MFA` if given.
fn login(
    daemon: &Daemon,
    from: &str,
    user: &str,
    password: &str,
    mfa: Option<String>,
) -> (u16, Value) {
    let headers: Vec<String> = mfa
        .map(|m| format!("X-Vault-MFA: {m}"))
        .into_iter()
        .collect();
    call_from(
        daemon,
        from,
        &format!("auth/ldap/login/{user}"),
        &headers,
        &json!({ "password": password }),
    )
}

fn validate(
    daemon: &Daemon,
    from: &str,
    request_id: &str,
    method: &str,
    code: &str,
) -> (u16, Value) {
    call_from(
        daemon,
        from,
        "sys/mfa/validate",
        &[],
        &json!({"mfa_request_id": request_id, "mfa_payload": {method: [code]}}),
    )
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The code of the step `offset` steps from now's (the server accepts
/// now's and one either side).
fn code_at(key: &[u8], offset: i64) -> String {
    let at = now().saturating_add_signed(offset * totp::STEP_SECS as i64);
    totp::code(key, at)
}

/// An LDAP mount on the shared slapd, one TOTP method enforced on it, and
/// `users` logged in once each (so their entities exist) with a secret
/// generated: the method id and each user's key.
fn setup(daemon: &Daemon, root: &str, users: &[&str]) -> (String, Vec<Vec<u8>>) {
    let ldap = Directory::shared();
    ok(
        daemon,
        root,
        "POST",
        "sys/auth/ldap",
        json!({"type": "ldap"}),
    );
    ok(
        daemon,
        root,
        "POST",
        "auth/ldap/config",
        json!({
            "url": ldap.url, "starttls": true, "certificate": ldap.ca_pem,
            "binddn": SEARCH_DN, "bindpass": SEARCH_PASSWORD,
            "userdn": format!("ou=people,{SUFFIX}"), "userattr": "uid",
            "request_timeout": "3s", "connection_timeout": "3s",
        }),
    );
    let accessor = ok(daemon, root, "GET", "sys/auth", json!({}))["data"]["ldap/"]["accessor"]
        .as_str()
        .unwrap()
        .to_owned();
    // Entities come from a first login, before MFA is enforced.
    let mut entities = Vec::new();
    for user in users {
        let (code, answer) = login(daemon, HOME, user, PASSWORD, None);
        assert_eq!(code, 200, "{answer}");
        entities.push(answer["auth"]["entity_id"].as_str().unwrap().to_owned());
    }
    let method = ok(
        daemon,
        root,
        "POST",
        "identity/mfa/method/totp",
        json!({"issuer": "vault"}),
    )["data"]["method_id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(
        daemon,
        root,
        "POST",
        "identity/mfa/login-enforcement/people",
        json!({"mfa_method_ids": [method], "auth_method_accessors": [accessor]}),
    );
    let keys = entities
        .iter()
        .map(|entity| {
            let answer = ok(
                daemon,
                root,
                "POST",
                "identity/mfa/method/totp/admin-generate",
                json!({"method_id": method, "entity_id": entity}),
            );
            vault_tests::otp::key_of(answer["data"]["url"].as_str().unwrap())
        })
        .collect();
    (method, keys)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_login_needs_its_code_once_also_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, init) = unsealed_with_kv(dir.path());
    let root = &init.root_token;
    let (method, keys) = setup(&daemon, root, &["alice"]);
    let key = &keys[0];

    // Without a code: the requirement, and no token.
    let (code, pending) = login(&daemon, HOME, "alice", PASSWORD, None);
    assert_eq!(code, 200, "{pending}");
    assert_eq!(pending["auth"]["client_token"], "");
    let requirement = &pending["auth"]["mfa_requirement"];
    assert_eq!(
        requirement["mfa_constraints"]["people"]["any"][0],
        json!({"type": "totp", "id": method, "uses_passcode": true})
    );
    let request_id = requirement["mfa_request_id"].as_str().unwrap().to_owned();
    // A wrong password gets no requirement at all.
    let (code, _) = login(&daemon, HOME, "alice", "wrong password", None);
    assert_eq!(code, 400);

    // A wrong code: refused, and the login still waits.
    let (code, refused) = validate(&daemon, HOME, &request_id, &method, "000000");
    assert_eq!(code, 403, "{refused}");
    assert!(refused["auth"].is_null());
    let current = code_at(key, 0);
    let (code, done) = validate(&daemon, HOME, &request_id, &method, &current);
    assert_eq!(code, 200, "{done}");
    let token = done["auth"]["client_token"].as_str().unwrap().to_owned();
    assert!(!token.is_empty());
    let (code, me) = http(&daemon, &token, "GET", "auth/token/lookup-self", None);
    assert_eq!(code, 200, "{me}");
    assert_eq!(me["data"]["display_name"], "ldap-alice");
    // The request id is spent.
    let (code, gone) = validate(&daemon, HOME, &request_id, &method, &code_at(key, 1));
    assert_eq!(code, 400, "{gone}");

    // Single step: the same code again is a replay; an unused one passes.
    let header = |code: &str| Some(format!("{method}:{code}"));
    let (code, replayed) = login(&daemon, HOME, "alice", PASSWORD, header(&current));
    assert_eq!(code, 403, "{replayed}");
    assert!(replayed["auth"].is_null());

    // A restart forgets nothing: the used code is still refused.
    let _ = daemon.stop();
    let daemon = Daemon::start(dir.path());
    unseal(&daemon, &init.keys_hex[0]).expect_code(0);
    let (code, replayed) = login(&daemon, HOME, "alice", PASSWORD, header(&current));
    assert_eq!(code, 403, "replayed after a restart: {replayed}");
    let (code, fresh) = login(&daemon, HOME, "alice", PASSWORD, header(&code_at(key, 1)));
    assert_eq!(code, 200, "{fresh}");
    assert!(!fresh["auth"]["client_token"].as_str().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_codes_and_passwords_lock_out_one_address_not_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, init) = unsealed_with_kv(dir.path());
    let root = &init.root_token;
    let (method, keys) = setup(&daemon, root, &["bob"]);
    let key = &keys[0];
    let header = |code: &str| Some(format!("{method}:{code}"));

    // From the stranger's address: three wrong passwords and two wrong
    // codes (with the right password) make the default threshold of five.
    for _ in 0..3 {
        let (code, _) = login(&daemon, STRANGER, "bob", "guess", None);
        assert_eq!(code, 400);
    }
    for wrong in ["000000", "999999"] {
        let (code, refused) = login(&daemon, STRANGER, "bob", PASSWORD, header(wrong));
        assert_eq!(code, 403, "{refused}");
    }
    // Locked out there: the right password and a right code are refused
    // as a wrong password is (the lockout is not told), before the
    // directory is asked and without spending the code.
    let right = code_at(key, 0);
    let (code, refused) = login(&daemon, STRANGER, "bob", PASSWORD, header(&right));
    assert_eq!(code, 400, "{refused}");
    assert_eq!(refused["errors"][0], "invalid username or password");
    let (code, refused) = login(&daemon, STRANGER, "bob", PASSWORD, None);
    assert_eq!(code, 400, "no requirement either: {refused}");

    // Bob, at home, is not: the same code gives him his token.
    let (code, answer) = login(&daemon, HOME, "bob", PASSWORD, header(&right));
    assert_eq!(code, 200, "{answer}");
    assert!(!answer["auth"]["client_token"].as_str().unwrap().is_empty());

    // The two-step flow counts the same way: five wrong codes through
    // sys/mfa/validate from one address lock that address.
    let (code, pending) = login(&daemon, HOME, "bob", PASSWORD, None);
    assert_eq!(code, 200, "{pending}");
    let request_id = pending["auth"]["mfa_requirement"]["mfa_request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..5 {
        let (code, _) = validate(&daemon, HOME, &request_id, &method, "123123");
        assert_eq!(code, 403);
    }
    let (code, refused) = validate(&daemon, HOME, &request_id, &method, &code_at(key, 1));
    assert_eq!(code, 403, "locked out: {refused}");
    // An operator's unlock is not needed elsewhere: the stranger's address
    // is locked too, but a third address is not.
    let (code, answer) = login(
        &daemon,
        "127.0.0.3",
        "bob",
        PASSWORD,
        header(&code_at(key, 1)),
    );
    assert_eq!(code, 200, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_cannot_lock_a_userpass_user_out_from_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, init) = unsealed_with_kv(dir.path());
    let root = &init.root_token;
    ok(
        &daemon,
        root,
        "POST",
        "sys/auth/userpass",
        json!({"type": "userpass"}),
    );
    ok(
        &daemon,
        root,
        "POST",
        "auth/userpass/users/carol",
        json!({"password": PASSWORD}),
    );
    let login = |from: &str, password: &str| {
        call_from(
            &daemon,
            from,
            "auth/userpass/login/carol",
            &[],
            &json!({ "password": password }),
        )
        .0
    };
    for _ in 0..5 {
        assert_eq!(login(STRANGER, "guess"), 400);
    }
    // The stranger's address is locked: even the right password fails there.
    assert_eq!(login(STRANGER, PASSWORD), 400);
    // Carol's own is not.
    assert_eq!(login(HOME, PASSWORD), 200);
    // An operator's unlock lifts every address's lockout.
    ok(
        &daemon,
        root,
        "POST",
        "auth/userpass/users/carol/unlock",
        json!({}),
    );
    assert_eq!(login(STRANGER, PASSWORD), 200);
}
