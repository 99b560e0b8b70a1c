//! The operator UI at `/ui/`, driven in a real browser (headless Chromium
//! through chromedriver, tests/src/webdriver.rs) against a real vaultd: the
//! headers, unsealing with three shares, a userpass login with its TOTP code,
//! reading and writing a KV secret whose value holds a `<script>`, and a
//! limited token's 403 from the server, audited. After each step the page
//! must keep nothing outside its memory (no cookie, storage or more than a
//! page name in the address), and the share or token least of all. A lease whose revocation fails (its PostgreSQL stopped) is shown
//! with its error, and a prefix is revoked through the page. Screenshots of
//! the pages go to `target/ui-screenshots/`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use std::path::PathBuf;

use serde_json::json;
use vault_core::identity::mfa::totp;
use vault_tests::http::{curl, http, ok};
use vault_tests::webdriver::Browser;
use vault_tests::{
    Daemon, PgCluster, file_device, init, pg_database_config, unseal, workspace_root, write_config,
};

const PASSWORD: &str = "ui-login-password-7Qz";
const SECRET_VALUE: &str = "ui-secret-value-Vw3";
/// Rendered as HTML, this would run and set `window.__injected`.
const INJECTED: &str = "<script>window.__injected = 1</script><img src=x id=injected-img>";
const POLICY: &str = r#"path "secret/data/app" { capabilities = ["read", "create", "update"] }
path "secret/metadata/app" { capabilities = ["read", "list"] }
path "sys/internal/ui/mounts" { capabilities = ["read"] }"#;

fn screenshots() -> PathBuf {
    let dir = workspace_root().join("target/ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Fails unless the page keeps nothing outside its memory: no cookie, no
/// local or session storage, no IndexedDB, and an address that names only
/// the page; and, to be sure, none of `secrets` anywhere in all that.
fn assert_kept_only_in_memory(browser: &Browser, step: &str, secrets: &[&str]) {
    let kept = browser.kept_outside_memory();
    for store in ["cookies", "local_storage", "session_storage", "indexed_db"] {
        assert_eq!(
            kept[store],
            json!([]),
            "after {step}, {store} holds something: {kept}"
        );
    }
    assert_eq!(kept["document_cookie"], "", "after {step}: {kept}");
    let url = kept["url"].as_str().unwrap_or_default();
    let page = url.split_once("/ui/").map(|(_, page)| page).unwrap_or(url);
    assert!(
        page.is_empty()
            || (page.starts_with("#/") && page[2..].chars().all(|c| c.is_ascii_lowercase())),
        "after {step}, the address holds more than a page's name: {url}"
    );
    let text = kept.to_string();
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "after {step}, a secret is kept outside the page's memory: {kept}"
        );
    }
}

/// The screen reader basics on the page shown: every field has a label,
/// and there is one heading of the first rank, which has the focus when
/// the page was `just_opened` (so a keyboard or screen reader user starts
/// at the page's title).
fn assert_accessible(browser: &Browser, page: &str, just_opened: bool) {
    let found = browser.script(
        "const unlabelled = [...document.querySelectorAll('input, select, textarea')]
             .filter(e => !e.closest('[hidden]') && e.labels.length === 0)
             .map(e => e.id || e.outerHTML);
         return {
             unlabelled,
             headings: document.querySelectorAll('h1').length,
             focused: document.activeElement && document.activeElement.id,
         };",
        json!([]),
    );
    assert_eq!(
        found["unlabelled"],
        json!([]),
        "{page}: fields without a label"
    );
    assert_eq!(found["headings"], 1, "{page}: one h1");
    if just_opened {
        assert_eq!(
            found["focused"], "page-title",
            "{page}: the title has the focus"
        );
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn the_ui_sends_strict_headers_and_no_store_on_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    let (code, headers) = curl(&[
        "-D",
        "-",
        "-o",
        "/dev/null",
        &format!("{}/ui/", daemon.addr),
    ]);
    assert_eq!(code, 200, "{headers}");
    let headers = headers.to_ascii_lowercase();
    let csp = headers
        .lines()
        .find_map(|l| l.strip_prefix("content-security-policy: "))
        .expect("a Content-Security-Policy header");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    for header in [
        "x-content-type-options: nosniff",
        "referrer-policy: no-referrer",
    ] {
        assert!(headers.contains(header), "{header} missing: {headers}");
    }
    let (code, headers) = curl(&[
        "-D",
        "-",
        "-o",
        "/dev/null",
        &format!("{}/v1/sys/seal-status", daemon.addr),
    ]);
    assert_eq!(code, 200);
    assert!(
        headers
            .to_ascii_lowercase()
            .contains("cache-control: no-store"),
        "{headers}"
    );
    // Off with `ui = false`: nothing under /ui/.
    drop(daemon);
    let off = tempfile::tempdir().unwrap();
    let daemon = Daemon::start_with(&write_config(off.path(), "ui = false"), off.path());
    let (code, body) = curl(&[&format!("{}/ui/", daemon.addr)]);
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("ui = false"), "{body}");
}

#[test]
fn an_operator_unseals_logs_in_with_totp_and_reads_and_writes_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    // A second device, made to fail at the end: the Audit page shows it.
    let spare = dir.path().join("spare.log");
    let devices = format!(
        "{}{}",
        file_device("file", &log),
        file_device("spare", &spare)
    );
    let config = write_config(dir.path(), &devices);
    let daemon = Daemon::start_with(&config, dir.path());
    let keys = init(&daemon, 3, 3);
    let shots = screenshots();
    let browser = Browser::start();
    browser.goto(&format!("{}/ui/", daemon.addr));
    browser.wait_text("#status-sealed", "sealed", |t| t == "sealed");
    browser.screenshot(&shots.join("status-sealed.png"));
    assert_accessible(&browser, "status", true);

    // Unseal: three shares through the page.
    browser.click("nav a[href='#/unseal']");
    browser.wait_text("#unseal-progress", "0 of 3", |t| t == "0 of 3");
    // The attempt's nonce, as the unseal answers give it to share holders.
    let mut nonces = Vec::new();
    for (i, share) in keys.keys_hex.iter().enumerate() {
        browser.type_into("#unseal-key", share);
        browser.click("#unseal-submit");
        if i < 2 {
            let progress = format!("{} of 3", i + 1);
            browser.wait_text("#unseal-progress", &progress, |t| t == progress);
            nonces.push(browser.text("#unseal-nonce"));
        }
        assert_eq!(
            browser.property("#unseal-key", "value"),
            json!(""),
            "the share field is cleared"
        );
        assert_kept_only_in_memory(&browser, "a share", &[share]);
    }
    assert!(
        nonces[0].len() >= 16 && nonces[0] == nonces[1],
        "one attempt, one nonce: {nonces:?}"
    );
    browser.wait_text("#unseal-state", "unsealed", |t| t == "unsealed");
    browser.screenshot(&shots.join("unseal.png"));
    assert_accessible(&browser, "unseal", false);
    browser.click("nav a[href='#/status']");
    browser.wait_text("#status-sealed", "unsealed", |t| t == "unsealed");
    browser.screenshot(&shots.join("status.png"));

    // A user with a TOTP method enforced on her userpass logins.
    let root = &keys.root_token;
    ok(
        &daemon,
        root,
        "POST",
        "sys/mounts/secret",
        json!({"type": "kv-v2"}),
    );
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
        "PUT",
        "sys/policies/acl/app",
        json!({"policy": POLICY}),
    );
    ok(
        &daemon,
        root,
        "POST",
        "auth/userpass/users/alice",
        json!({"password": PASSWORD, "token_policies": "app"}),
    );
    let first = ok(
        &daemon,
        "",
        "POST",
        "auth/userpass/login/alice",
        json!({"password": PASSWORD}),
    );
    let entity = first["auth"]["entity_id"].as_str().unwrap().to_owned();
    ok(
        &daemon,
        root,
        "POST",
        "auth/token/revoke",
        json!({"token": first["auth"]["client_token"]}),
    );
    let accessor = ok(&daemon, root, "GET", "sys/auth", json!({}))["data"]["userpass/"]["accessor"]
        .as_str()
        .unwrap()
        .to_owned();
    let method = ok(
        &daemon,
        root,
        "POST",
        "identity/mfa/method/totp",
        json!({"issuer": "vault"}),
    )["data"]["method_id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(
        &daemon,
        root,
        "POST",
        "identity/mfa/login-enforcement/people",
        json!({"mfa_method_ids": [method], "auth_method_accessors": [accessor]}),
    );
    let generated = ok(
        &daemon,
        root,
        "POST",
        "identity/mfa/method/totp/admin-generate",
        json!({"method_id": method, "entity_id": entity}),
    );
    let key = vault_tests::otp::key_of(generated["data"]["url"].as_str().unwrap());
    ok(
        &daemon,
        root,
        "POST",
        "secret/data/app",
        json!({"data": {"password": SECRET_VALUE, "note": INJECTED}}),
    );
    let tokens_before = tokens_stored(&daemon, root);

    // Log in: userpass, then the code.
    browser.click("nav a[href='#/login']");
    browser.find("#login-method");
    assert_accessible(&browser, "login", true);
    browser.click("#login-method option[value='userpass']");
    browser.type_into("#login-username", "alice");
    browser.type_into("#login-password", PASSWORD);
    browser.click("#login-submit");
    browser.wait_visible("#login-totp");
    assert_eq!(
        browser.property("#login-password", "value"),
        json!(""),
        "the password is cleared"
    );
    browser.screenshot(&shots.join("login-totp.png"));
    browser.type_into("#login-totp", &totp::code(&key, now()));
    browser.click("#login-totp-submit");
    browser.wait_text("#session", "alice", |t| t.contains("alice"));
    assert_eq!(
        tokens_stored(&daemon, root),
        tokens_before + 1,
        "the login made a token"
    );
    assert_kept_only_in_memory(&browser, "the login", &[PASSWORD]);

    // Secrets: values hidden until revealed, and rendered as text.
    browser.click("nav a[href='#/secrets']");
    browser.find("#kv-mount option[value='secret']");
    // (Already shown by the login; the click left the focus on the link.)
    assert_accessible(&browser, "secrets", false);
    browser.click("#kv-mount option[value='secret']");
    browser.type_into("#kv-path", "app");
    browser.click("#kv-open");
    browser.wait_text("#kv-secret", "the field names", |t| {
        t.contains("password") && t.contains("note")
    });
    let shown = browser.text("main");
    assert!(
        !shown.contains(SECRET_VALUE),
        "a value is shown before it is revealed: {shown}"
    );
    for reveal in browser.find_all(".kv-reveal") {
        browser.click_element(&reveal);
    }
    browser.wait_text("#kv-secret", "the values", |t| t.contains(SECRET_VALUE));
    browser.wait_text("#kv-secret", "the script as text", |t| t.contains(INJECTED));
    assert_eq!(
        browser.script("return [window.__injected === undefined, document.getElementById('injected-img') === null];", json!([])),
        json!([true, true]),
        "the value was rendered as HTML"
    );
    browser.screenshot(&shots.join("secrets.png"));
    browser.type_into("#kv-write-data", r#"{"password": "second-version-value"}"#);
    browser.click("#kv-write-submit");
    browser.wait_text("#kv-message", "version 2 written", |t| t.contains('2'));
    let read = ok(&daemon, root, "GET", "secret/data/app", json!({}));
    assert_eq!(read["data"]["data"]["password"], "second-version-value");
    assert_eq!(read["data"]["metadata"]["version"], 2);
    assert_kept_only_in_memory(
        &browser,
        "reading and writing a secret",
        &[SECRET_VALUE, "second-version-value"],
    );

    // A page the policy does not allow: the server's own 403, audited.
    browser.click("nav a[href='#/access']");
    browser.wait_text("#error", "the server's 403", |t| {
        t.contains("403") && t.contains("permission denied")
    });
    browser.screenshot(&shots.join("access-denied.png"));
    assert_accessible(&browser, "access", true);
    let audit = std::fs::read_to_string(&log).unwrap();
    assert!(
        audit.lines().any(|l| l.contains("\"type\":\"response\"")
            && l.contains("sys/policies/acl")
            && l.contains("permission denied")),
        "the refusal is in the audit log"
    );

    // Keyboard only: Tab reaches the navigation's links.
    browser.click("nav a[href='#/status']");
    browser.find("#status-sealed");
    let mut reached = Vec::new();
    for _ in 0..12 {
        browser.press("\u{E004}");
        let id = browser.active_element();
        reached.push(browser.script(
            "return arguments[0].getAttribute('href');",
            json!([{ vault_tests::webdriver::ELEMENT: id }]),
        ));
    }
    assert!(
        reached.contains(&json!("#/secrets")),
        "Tab never reached the Secrets link: {reached:?}"
    );

    // Log out: the token is revoked.
    browser.click("#logout");
    browser.wait_text("#session", "logged out", |t| !t.contains("alice"));
    assert_eq!(
        tokens_stored(&daemon, root),
        tokens_before,
        "logout revoked the token"
    );

    // Userpass's own TOTP: the code goes with the password.
    ok(
        &daemon,
        root,
        "POST",
        "sys/auth/people",
        json!({"type": "userpass"}),
    );
    ok(
        &daemon,
        root,
        "POST",
        "auth/people/users/bob",
        json!({"password": PASSWORD, "token_policies": "default"}),
    );
    let enrolled = ok(
        &daemon,
        root,
        "POST",
        "auth/people/users/bob/totp",
        json!({}),
    );
    let bob_key = vault_tests::otp::key_of(enrolled["data"]["url"].as_str().unwrap());
    browser.click("nav a[href='#/login']");
    browser.click("#login-method option[value='userpass']");
    browser.type_into("#login-mount", "people");
    browser.type_into("#login-username", "bob");
    browser.type_into("#login-password", PASSWORD);
    browser.type_into("#login-userpass-totp", &totp::code(&bob_key, now()));
    browser.click("#login-submit");
    browser.wait_text("#session", "bob", |t| t.contains("bob"));
    assert_kept_only_in_memory(&browser, "a userpass login with its code", &[PASSWORD]);
    browser.click("#logout");
    browser.wait_text("#session", "logged out", |t| !t.contains("bob"));

    // A machine's method too: AppRole, with the secret id typed in.
    ok(
        &daemon,
        root,
        "POST",
        "sys/auth/approle",
        json!({"type": "approle"}),
    );
    ok(
        &daemon,
        root,
        "POST",
        "auth/approle/role/ui",
        json!({"token_policies": "default"}),
    );
    let role_id = ok(
        &daemon,
        root,
        "GET",
        "auth/approle/role/ui/role-id",
        json!({}),
    )["data"]["role_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret_id = ok(
        &daemon,
        root,
        "POST",
        "auth/approle/role/ui/secret-id",
        json!({}),
    )["data"]["secret_id"]
        .as_str()
        .unwrap()
        .to_owned();
    browser.click("nav a[href='#/login']");
    browser.click("#login-method option[value='approle']");
    assert_eq!(browser.property("#login-mount", "value"), json!("approle"));
    browser.type_into("#login-role-id", &role_id);
    browser.type_into("#login-secret-id", &secret_id);
    browser.click("#login-submit");
    browser.wait_text("#session", "an AppRole login", |t| {
        t.starts_with("logged in")
    });
    assert_kept_only_in_memory(&browser, "an AppRole login", &[&secret_id]);
    browser.click("#logout");
    browser.wait_text("#session", "logged out", |t| t == "not logged in");

    // The spare device's disk is full: it fails, the other records, and
    // the Audit page shows which device failed and why.
    std::fs::remove_file(&spare).unwrap();
    std::os::unix::fs::symlink("/dev/full", &spare).unwrap();
    browser.click("nav a[href='#/login']");
    browser.click("#login-method option[value='token']");
    browser.type_into("#login-token", root);
    browser.click("#login-submit");
    browser.wait_text("#session", "logged in", |t| t.starts_with("logged in"));
    browser.click("nav a[href='#/audit']");
    let devices = browser.wait_text("#audit-devices", "the failing device", |t| {
        t.contains("No space left on device")
    });
    let spare_row = devices
        .lines()
        .find(|l| l.starts_with("spare/"))
        .unwrap_or_default();
    assert!(
        spare_row.contains(" no "),
        "the spare device shows unhealthy: {devices}"
    );
    browser.screenshot(&shots.join("audit.png"));
    assert_accessible(&browser, "audit", true);
    assert_kept_only_in_memory(&browser, "a token login", &[root]);
}

#[test]
fn a_lease_failing_revocation_shows_its_error_and_a_prefix_is_revoked() {
    let cluster = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    // The failed revocation is not retried within the test.
    let config = write_config(
        dir.path(),
        "[expiration]\nrevoke_backoff_base = \"1h\"\nrevoke_backoff_cap = \"1h\"\n",
    );
    let daemon = Daemon::start_with(&config, dir.path());
    let keys = init(&daemon, 1, 1);
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    let root = &keys.root_token;
    ok(
        &daemon,
        root,
        "POST",
        "sys/mounts/database",
        json!({"type": "database"}),
    );
    ok(
        &daemon,
        root,
        "POST",
        "database/config/pg",
        pg_database_config(&cluster.url),
    );
    ok(
        &daemon,
        root,
        "POST",
        "database/roles/app",
        json!({
            "db_name": "pg",
            "creation_statements": "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
            "default_ttl": "1h",
        }),
    );
    let leases: Vec<String> = (0..2)
        .map(|_| {
            let (code, creds) = http(&daemon, root, "GET", "database/creds/app", None);
            assert_eq!(code, 200, "{creds}");
            creds["lease_id"].as_str().unwrap().to_owned()
        })
        .collect();
    cluster.stop_server();
    let revoke = daemon.cli(Some(root), &["lease", "revoke", &leases[0]]);
    assert_ne!(revoke.code, 0, "PostgreSQL is stopped: {}", revoke.stdout);

    let browser = Browser::start();
    browser.goto(&format!("{}/ui/#/login", daemon.addr));
    browser.type_into("#login-token", root);
    browser.click("#login-submit");
    browser.wait_text("#session", "logged in", |t| t.starts_with("logged in"));
    browser.click("nav a[href='#/leases']");
    let failing = browser.wait_text("#lease-failing-table", "the failing lease", |t| {
        t.contains(&leases[0])
    });
    assert!(failing.contains("revoking"), "{failing}");
    let (_, lookup) = http(
        &daemon,
        root,
        "PUT",
        "sys/leases/lookup",
        Some(json!({"lease_id": leases[0]})),
    );
    let error = lookup["data"]["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!error.is_empty(), "{lookup}");
    assert!(
        failing.contains(&error),
        "the page shows the lease's error {error:?}: {failing}"
    );
    let by_mount = browser.text("#lease-by-mount");
    assert!(
        by_mount.contains("database/") && by_mount.contains('2'),
        "{by_mount}"
    );
    browser.screenshot(&screenshots().join("leases.png"));
    assert_accessible(&browser, "leases", true);
    assert_kept_only_in_memory(&browser, "a token login", &[root]);
    // The root token sees the policies where the limited one got a 403.
    browser.click("nav a[href='#/access']");
    browser.wait_text("#policy-list", "the policies", |t| t.contains("default"));
    // A policy is checked before it is saved; the server's parse decides.
    browser.type_into("#policy-new-name", "from-the-ui");
    browser.click("#policy-new");
    browser.type_into(
        "#policy-text",
        r#"path "secret/*" { capabilities = ["read"]"#,
    );
    browser.click("#policy-save");
    browser.wait_text("#error", "the syntax check", |t| t.contains("never closed"));
    let (code, _) = http(&daemon, root, "GET", "sys/policies/acl/from-the-ui", None);
    assert_eq!(code, 404, "a policy that failed the check was saved");
    browser.type_into(
        "#policy-text",
        r#"path "secret/*" { capabilities = ["read"] }"#,
    );
    browser.click("#policy-save");
    browser.wait_text("#policy-message", "saved", |t| t.contains("saved"));
    let saved = ok(
        &daemon,
        root,
        "GET",
        "sys/policies/acl/from-the-ui",
        json!({}),
    );
    assert!(
        saved["data"]["policy"]
            .as_str()
            .unwrap()
            .contains("secret/*"),
        "{saved}"
    );
    // What the logged-in token may do on a path.
    browser.type_into("#cap-path", "sys/leases/lookup");
    browser.click("#cap-check");
    browser.wait_text("#cap-result", "root's capabilities", |t| t.contains("root"));
    browser.screenshot(&screenshots().join("access.png"));
    assert_accessible(&browser, "access", false);
    browser.click("nav a[href='#/leases']");
    browser.find("#lease-prefix");

    // PostgreSQL back: revoke every lease under the role's prefix.
    cluster.start_server();
    browser.type_into("#lease-prefix", "database/creds/app");
    browser.click("#lease-revoke-prefix");
    browser.accept_dialog();
    browser.wait_text("#lease-message", "the prefix revoked", |t| {
        t.contains("revoked")
    });
    for lease in &leases {
        let (code, answer) = http(
            &daemon,
            root,
            "PUT",
            "sys/leases/lookup",
            Some(json!({"lease_id": lease})),
        );
        assert!(
            code == 400 || code == 404,
            "{lease} is still there: {code} {answer}"
        );
    }
}

/// How many tokens the vault stores, from its metrics.
fn tokens_stored(daemon: &Daemon, root: &str) -> u64 {
    let url = format!("{}/v1/sys/metrics?format=prometheus", daemon.addr);
    let (code, text) = curl(&["-H", &format!("X-Vault-Token: {root}"), &url]);
    assert_eq!(code, 200, "{text}");
    text.lines()
        .find_map(|l| l.strip_prefix("vault_tokens "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no vault_tokens in the metrics: {text}"))
}
