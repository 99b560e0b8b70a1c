//! The userpass method against a real unsealed vault: through `Vault::handle`
//! where the pipeline matters (tokens, policies, what is stored), and straight to
//! the engine over a view of the same barrier where a test needs to set the clock
//! or cheap argon2 costs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use super::{Userpass, totp};
use crate::engines::{EngineError, EngineRequest, LogicalBackend, View};
use crate::request::{Data, Operation, Request, Response};
use crate::storage::{Backend, MemoryBackend};
use crate::{Vault, VaultError};

const PASSWORD: &str = "correct horse battery staple";
const FIFTEEN_MINUTES_MS: u64 = 15 * 60 * 1000;

fn data(v: Value) -> Data {
    match v {
        Value::Object(m) => m,
        _ => Data::new(),
    }
}

async fn unsealed_vault(backend: Arc<MemoryBackend>) -> (Vault, String) {
    let vault = Vault::new(backend);
    let init = vault.init(1, 1).await.unwrap();
    vault
        .unseal(init.shares[0].to_hex().expose_secret())
        .await
        .unwrap();
    let root = init.root_token.expose_secret().to_owned();
    (vault, root)
}

/// A vault with userpass enabled at `auth/userpass/`, driven through the pipeline.
struct Fixture {
    vault: Vault,
    root: String,
    backend: Arc<MemoryBackend>,
}

impl Fixture {
    async fn new() -> Fixture {
        let backend = Arc::new(MemoryBackend::new());
        let (vault, root) = unsealed_vault(Arc::clone(&backend)).await;
        let f = Fixture {
            vault,
            root,
            backend,
        };
        f.call(
            Operation::Update,
            "sys/auth/userpass",
            json!({"type": "userpass"}),
        )
        .await
        .unwrap();
        f
    }

    /// A request with the root token.
    async fn call(&self, op: Operation, path: &str, body: Value) -> Result<Response, VaultError> {
        self.call_as(&self.root, op, path, body).await
    }

    async fn call_as(
        &self,
        token: &str,
        op: Operation,
        path: &str,
        body: Value,
    ) -> Result<Response, VaultError> {
        self.vault
            .handle(
                Request::new(op, path)
                    .with_token(token)
                    .with_data(data(body)),
            )
            .await
    }

    /// A login: no token.
    async fn login(&self, user: &str, body: Value) -> Result<Response, VaultError> {
        self.vault
            .handle(
                Request::new(Operation::Update, format!("auth/userpass/login/{user}"))
                    .with_data(data(body)),
            )
            .await
    }

    async fn add_user(&self, name: &str, body: Value) {
        self.call(
            Operation::Update,
            &format!("auth/userpass/users/{name}"),
            body,
        )
        .await
        .unwrap();
    }

    /// The userpass mount's storage prefix (`auth/<uuid>/`).
    async fn storage_prefix(&self) -> String {
        let auth = self
            .call(Operation::Read, "sys/auth", json!({}))
            .await
            .unwrap();
        let uuid = auth.data.unwrap()["userpass/"]["uuid"]
            .as_str()
            .unwrap()
            .to_owned();
        format!("auth/{uuid}/")
    }
}

fn denied(r: &Result<Response, VaultError>) -> bool {
    matches!(r, Err(VaultError::LoginRefused(_)))
}

/// The engine itself over a view of a real barrier, on a clock the test sets.
struct Direct {
    vault: Arc<Vault>,
    engine: Arc<Userpass>,
    now_ms: Arc<AtomicU64>,
}

const DIRECT_PREFIX: &str = "auth/direct-userpass/";

fn cheap_params() -> argon2::Params {
    argon2::Params::new(argon2::Params::MIN_M_COST, 1, 1, None).unwrap()
}

fn engine_on(now_ms: &Arc<AtomicU64>) -> Userpass {
    let clock = Arc::clone(now_ms);
    Userpass::with_clock(Arc::new(move || clock.load(Ordering::SeqCst)))
        .with_argon2_params(cheap_params())
}

impl Direct {
    async fn new() -> Direct {
        let (vault, _) = unsealed_vault(Arc::new(MemoryBackend::new())).await;
        // Any fixed time will do: codes are computed from this same clock.
        let now_ms = Arc::new(AtomicU64::new(1_700_000_010_000));
        let d = Direct {
            vault: Arc::new(vault),
            engine: Arc::new(engine_on(&now_ms)),
            now_ms,
        };
        d.call(
            Operation::Create,
            "users/alice",
            json!({"password": PASSWORD}),
        )
        .await
        .unwrap();
        d
    }

    fn view(&self) -> View<'_> {
        View::new(self.vault.barrier(), DIRECT_PREFIX)
    }

    async fn call(&self, op: Operation, path: &str, body: Value) -> Result<Response, EngineError> {
        let body = data(body);
        let request = EngineRequest {
            operation: op,
            path,
            data: &body,
            remote_addr: None,
            mount_path: "",
            caller: &crate::request::Caller::ANONYMOUS,
            client_token: None,
            leases: &crate::engines::NoLeases,
            lease_bounds: crate::engines::LeaseBounds::SYSTEM,
        };
        self.engine.handle(&self.view(), request).await
    }

    async fn login(&self, body: Value) -> Result<Response, EngineError> {
        self.call(Operation::Update, "login/alice", body).await
    }

    async fn login_ok(&self, body: Value) -> bool {
        match self.login(body).await {
            Ok(r) => r.login.is_some(),
            Err(EngineError::LoginRefused(_)) => false,
            Err(e) => panic!("login failed with {e:?}, not a refusal"),
        }
    }

    fn now_secs(&self) -> u64 {
        self.now_ms.load(Ordering::SeqCst) / 1000
    }

    fn advance_ms(&self, ms: u64) {
        self.now_ms.fetch_add(ms, Ordering::SeqCst);
    }

    async fn enrol(&self) -> Vec<u8> {
        let r = self
            .call(Operation::Update, "users/alice/totp", json!({}))
            .await
            .unwrap();
        let secret = r.data.unwrap()["secret"].as_str().unwrap().to_owned();
        totp::base32_decode(&secret).unwrap()
    }
}

/// A six-digit string that is none of the codes a login at `unix_secs` accepts.
fn wrong_code(secret: &[u8], unix_secs: u64) -> String {
    let valid: Vec<String> = [unix_secs - 30, unix_secs, unix_secs + 30]
        .iter()
        .map(|&t| totp::code(secret, t))
        .collect();
    (0..4)
        .map(|i| format!("{i:06}"))
        .find(|c| !valid.contains(c))
        .unwrap()
}

#[tokio::test]
async fn users_are_written_read_listed_and_deleted() {
    let f = Fixture::new().await;
    // A name in an operator path must be canonical: the ACL judged that spelling.
    let folded = f
        .call(
            Operation::Update,
            "auth/userpass/users/Alice",
            json!({"password": PASSWORD}),
        )
        .await;
    assert!(folded.is_err(), "{folded:?}");
    f.add_user(
        "alice",
        json!({
            "password": PASSWORD,
            "token_policies": "dev, Ops",
            "token_ttl": "1h",
            "token_max_ttl": "2h",
        }),
    )
    .await;
    let read = f
        .call(Operation::Read, "auth/userpass/users/alice", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(
        Value::Object(read.clone()),
        json!({
            "token_policies": ["dev", "ops"],
            "policies": ["dev", "ops"],
            "token_ttl": 3600,
            "token_max_ttl": 7200,
            "totp_enabled": false,
        })
    );
    let shown = serde_json::to_string(&read).unwrap();
    assert!(!shown.contains("argon2") && !shown.contains(PASSWORD));

    // Partial update, with Vault's older field name.
    f.add_user("alice", json!({"policies": ["admin"]})).await;
    let read = f
        .call(Operation::Read, "auth/userpass/users/alice", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(read["token_policies"], json!(["admin"]));
    assert_eq!(read["token_ttl"], 3600);

    let r = f
        .call(Operation::Update, "auth/userpass/users/bob", json!({}))
        .await;
    assert!(matches!(r, Err(VaultError::InvalidRequest(_))), "{r:?}");
    f.add_user("bob", json!({"password": "b"})).await;
    let list = f
        .call(Operation::List, "auth/userpass/users", json!({}))
        .await
        .unwrap();
    assert_eq!(list.data.unwrap()["keys"], json!(["alice", "bob"]));

    f.call(Operation::Delete, "auth/userpass/users/bob", json!({}))
        .await
        .unwrap();
    let r = f
        .call(Operation::Read, "auth/userpass/users/bob", json!({}))
        .await;
    assert!(matches!(r, Err(VaultError::NotFound(_))), "{r:?}");
    let list = f
        .call(Operation::List, "auth/userpass/users/", json!({}))
        .await
        .unwrap();
    assert_eq!(list.data.unwrap()["keys"], json!(["alice"]));
}

#[tokio::test]
async fn bad_input_is_refused() {
    let f = Fixture::new().await;
    for (path, body) in [
        ("auth/userpass/users/a:b", json!({"password": "x"})),
        ("auth/userpass/users/ok", json!({"password": ""})),
        ("auth/userpass/users/ok", json!({"password": 5})),
        (
            "auth/userpass/users/ok",
            json!({"password": "x", "policies": "root"}),
        ),
        (
            "auth/userpass/users/ok",
            json!({"password": "x", "token_ttl": "2h", "token_max_ttl": "1h"}),
        ),
        ("auth/userpass/config", json!({"lockout_threshold": 0})),
        ("auth/userpass/config", json!({"lockout_duration": "0s"})),
    ] {
        let r = f.call(Operation::Update, path, body.clone()).await;
        assert!(
            matches!(r, Err(VaultError::InvalidRequest(_))),
            "{path} {body}: {r:?}"
        );
    }
    let r = f
        .call(
            Operation::Update,
            "auth/userpass/users/x",
            json!({"password": "secret-pw", "token_ttl": "nope"}),
        )
        .await;
    let message = r.unwrap_err().to_string();
    assert!(!message.contains("secret-pw"), "{message}");
}

#[tokio::test]
async fn login_makes_a_token_with_the_users_policies_and_default() {
    let f = Fixture::new().await;
    f.add_user(
        "alice",
        json!({"password": PASSWORD, "token_policies": ["dev", "ops"], "token_ttl": "1h"}),
    )
    .await;
    let r = f
        .login(" ALICE", json!({"password": PASSWORD}))
        .await
        .unwrap();
    assert!(
        r.login.is_none(),
        "the pipeline turns the grant into a token"
    );
    let auth = r.auth.unwrap();
    assert_eq!(auth.policies, ["default", "dev", "ops"]);
    assert_eq!(
        auth.metadata.get("username").map(String::as_str),
        Some("alice")
    );
    assert!(auth.orphan);
    assert_eq!(auth.lease_duration, 3600);
    let me = f
        .call_as(
            &auth.client_token,
            Operation::Read,
            "auth/token/lookup-self",
            json!({}),
        )
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(me["display_name"], "userpass-alice");
    assert_eq!(me["policies"], json!(["default", "dev", "ops"]));
}

#[tokio::test]
async fn every_refusal_looks_the_same() {
    let f = Fixture::new().await;
    f.add_user("alice", json!({"password": PASSWORD})).await;
    let refusals = [
        f.login("alice", json!({"password": "wrong"})).await,
        f.login("alice", json!({})).await,
        f.login("nobody", json!({"password": PASSWORD})).await,
        f.login("not:a:name", json!({"password": PASSWORD})).await,
    ];
    let first = refusals[0].as_ref().unwrap_err().to_string();
    for r in &refusals {
        assert!(denied(r), "{r:?}");
        assert_eq!(r.as_ref().unwrap_err().to_string(), first);
    }
    // Wrong passwords were counted, but a success clears them.
    f.login("alice", json!({"password": PASSWORD}))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_enrolled_user_needs_a_fresh_totp_code() {
    let f = Fixture::new().await;
    f.add_user("alice", json!({"password": PASSWORD})).await;
    let enrolled = f
        .call(
            Operation::Update,
            "auth/userpass/users/alice/totp",
            json!({}),
        )
        .await
        .unwrap()
        .data
        .unwrap();
    let secret_b32 = enrolled["secret"].as_str().unwrap();
    let secret = totp::base32_decode(secret_b32).unwrap();
    assert_eq!(secret.len(), 20);
    assert_eq!(
        enrolled["url"],
        format!(
            "otpauth://totp/vault:alice?secret={secret_b32}&issuer=vault&algorithm=SHA1&digits=6&period=30"
        )
    );
    let read = f
        .call(Operation::Read, "auth/userpass/users/alice", json!({}))
        .await
        .unwrap();
    assert_eq!(read.data.unwrap()["totp_enabled"], true);

    let now = crate::clock::now_unix();
    assert!(denied(
        &f.login("alice", json!({"password": PASSWORD})).await
    ));
    let wrong = wrong_code(&secret, now);
    assert!(denied(
        &f.login("alice", json!({"password": PASSWORD, "totp": wrong}))
            .await
    ));
    let right = totp::code(&secret, now);
    assert!(denied(
        &f.login("alice", json!({"password": "wrong", "totp": right}))
            .await
    ));
    f.login("alice", json!({"password": PASSWORD, "totp": right}))
        .await
        .unwrap();
    assert!(denied(
        &f.login("alice", json!({"password": PASSWORD, "totp": right}))
            .await
    ));

    f.call(
        Operation::Delete,
        "auth/userpass/users/alice/totp",
        json!({}),
    )
    .await
    .unwrap();
    f.login("alice", json!({"password": PASSWORD}))
        .await
        .unwrap();
}

#[tokio::test]
async fn codes_are_good_for_one_step_either_side_and_once() {
    let d = Direct::new().await;
    // The refusals here are about codes, not the lockout; and a success
    // forgives failures only in the pipeline (once login MFA passed too),
    // which these direct calls skip.
    d.call(
        Operation::Update,
        "config",
        json!({"lockout_threshold": 100}),
    )
    .await
    .unwrap();
    let secret = d.enrol().await;
    let now = d.now_secs();
    let login = |code: String| json!({"password": PASSWORD, "totp": code});
    // The previous step's code (a slow phone), then the current one.
    assert!(d.login_ok(login(totp::code(&secret, now - 30))).await);
    assert!(d.login_ok(login(totp::code(&secret, now))).await);
    // Spent, and so is everything before it.
    assert!(!d.login_ok(login(totp::code(&secret, now))).await);
    assert!(!d.login_ok(login(totp::code(&secret, now - 30))).await);
    // Two steps ahead is too far; one ahead is fine.
    assert!(!d.login_ok(login(totp::code(&secret, now + 60))).await);
    assert!(d.login_ok(login(totp::code(&secret, now + 30))).await);
    d.advance_ms(60_000);
    assert!(!d.login_ok(login(totp::code(&secret, now + 30))).await);
    assert!(d.login_ok(login(totp::code(&secret, now + 60))).await);
    // Re-enrolling replaces the secret: the old one's codes stop working.
    let renewed = d.enrol().await;
    assert_ne!(renewed, secret);
    let later = d.now_secs() + 30;
    assert!(!d.login_ok(login(totp::code(&secret, later))).await);
    assert!(d.login_ok(login(totp::code(&renewed, later))).await);
}

#[tokio::test]
async fn five_failures_lock_until_unlocked() {
    let f = Fixture::new().await;
    f.add_user("alice", json!({"password": PASSWORD})).await;
    for _ in 0..4 {
        assert!(denied(
            &f.login("alice", json!({"password": "wrong"})).await
        ));
    }
    // Four failures and a success: the count starts again.
    f.login("alice", json!({"password": PASSWORD}))
        .await
        .unwrap();
    for _ in 0..5 {
        assert!(denied(
            &f.login("alice", json!({"password": "wrong"})).await
        ));
    }
    let locked = f.login("alice", json!({"password": PASSWORD})).await;
    assert!(denied(&locked), "{locked:?}");
    f.call(
        Operation::Update,
        "auth/userpass/users/alice/unlock",
        json!({}),
    )
    .await
    .unwrap();
    f.login("alice", json!({"password": PASSWORD}))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_lockout_ends_after_its_duration_and_survives_a_restart() {
    let d = Direct::new().await;
    let right = json!({"password": PASSWORD});
    for _ in 0..5 {
        assert!(!d.login_ok(json!({"password": "wrong"})).await);
    }
    assert!(!d.login_ok(right.clone()).await);
    // A new instance (a restart) reads the same lockout from storage.
    let restarted = engine_on(&d.now_ms);
    let body = data(right.clone());
    let request = EngineRequest {
        operation: Operation::Update,
        path: "login/alice",
        data: &body,
        remote_addr: None,
        mount_path: "",
        caller: &crate::request::Caller::ANONYMOUS,
        client_token: None,
        leases: &crate::engines::NoLeases,
        lease_bounds: crate::engines::LeaseBounds::SYSTEM,
    };
    let r = restarted.handle(&d.view(), request).await;
    assert!(matches!(r, Err(EngineError::LoginRefused(_))), "{r:?}");

    d.advance_ms(FIFTEEN_MINUTES_MS - 1);
    assert!(!d.login_ok(right.clone()).await);
    d.advance_ms(1);
    assert!(d.login_ok(right.clone()).await);
}

#[tokio::test]
async fn failed_codes_count_towards_the_lockout() {
    let d = Direct::new().await;
    let secret = d.enrol().await;
    for _ in 0..5 {
        let wrong = wrong_code(&secret, d.now_secs());
        assert!(
            !d.login_ok(json!({"password": PASSWORD, "totp": wrong}))
                .await
        );
    }
    let right = totp::code(&secret, d.now_secs());
    assert!(
        !d.login_ok(json!({"password": PASSWORD, "totp": right}))
            .await
    );
}

#[tokio::test]
async fn the_lockout_settings_are_configurable() {
    let d = Direct::new().await;
    let config = d.call(Operation::Read, "config", json!({})).await.unwrap();
    assert_eq!(
        Value::Object(config.data.unwrap()),
        json!({"lockout_threshold": 5, "lockout_duration": 900})
    );
    d.call(
        Operation::Update,
        "config",
        json!({"lockout_threshold": 2, "lockout_duration": "1m"}),
    )
    .await
    .unwrap();
    let config = d.call(Operation::Read, "config", json!({})).await.unwrap();
    assert_eq!(
        Value::Object(config.data.unwrap()),
        json!({"lockout_threshold": 2, "lockout_duration": 60})
    );
    for _ in 0..2 {
        assert!(!d.login_ok(json!({"password": "wrong"})).await);
    }
    assert!(!d.login_ok(json!({"password": PASSWORD})).await);
    d.advance_ms(60_000);
    assert!(d.login_ok(json!({"password": PASSWORD})).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_are_counted_one_by_one() {
    let d = Direct::new().await;
    let mut guesses = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (vault, engine) = (Arc::clone(&d.vault), Arc::clone(&d.engine));
        guesses.spawn(async move {
            let body = data(json!({"password": "wrong"}));
            let view = View::new(vault.barrier(), DIRECT_PREFIX);
            let request = EngineRequest {
                operation: Operation::Update,
                path: "login/alice",
                data: &body,
                remote_addr: None,
                mount_path: "",
                caller: &crate::request::Caller::ANONYMOUS,
                client_token: None,
                leases: &crate::engines::NoLeases,
                lease_bounds: crate::engines::LeaseBounds::SYSTEM,
            };
            engine.handle(&view, request).await
        });
    }
    while let Some(r) = guesses.join_next().await {
        assert!(matches!(r.unwrap(), Err(EngineError::LoginRefused(_))));
    }
    // Exactly the threshold was counted; the rest met the lockout.
    let stored = d.view().get("lockout/alice").await.unwrap().unwrap();
    let state: Value = serde_json::from_slice(stored.expose_secret()).unwrap();
    // Counted for the caller's address (these calls carry none).
    assert_eq!(state["by_address"]["local"]["failures"], 5);
    assert!(!d.login_ok(json!({"password": PASSWORD})).await);
}

#[tokio::test]
async fn an_update_grant_can_reset_passwords_but_not_create_users() {
    let f = Fixture::new().await;
    f.add_user("alice", json!({"password": PASSWORD})).await;
    f.call(
        Operation::Update,
        "sys/policy/helpdesk",
        json!({"policy": "path \"auth/userpass/users/*\" { capabilities = [\"update\"] }"}),
    )
    .await
    .unwrap();
    let token = f
        .call(
            Operation::Update,
            "auth/token/create",
            json!({"policies": ["helpdesk"]}),
        )
        .await
        .unwrap()
        .auth
        .unwrap()
        .client_token;
    let as_helpdesk = |path: &'static str, body: Value| {
        let token = token.clone();
        let f = &f;
        async move { f.call_as(&token, Operation::Update, path, body).await }
    };
    as_helpdesk(
        "auth/userpass/users/alice/password",
        json!({"password": "new pw"}),
    )
    .await
    .unwrap();
    as_helpdesk("auth/userpass/users/alice/unlock", json!({}))
        .await
        .unwrap();
    let r = as_helpdesk("auth/userpass/users/mallory", json!({"password": "x"})).await;
    assert!(matches!(r, Err(VaultError::PermissionDenied(_))), "{r:?}");
    f.login("alice", json!({"password": "new pw"}))
        .await
        .unwrap();
    assert!(denied(
        &f.login("alice", json!({"password": PASSWORD})).await
    ));
}

/// Every (key, ciphertext) under `prefix` in the backend, depth first.
async fn raw_records(backend: &MemoryBackend, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pending = vec![prefix.to_owned()];
    while let Some(dir) = pending.pop() {
        for child in backend.list(&dir).await.unwrap() {
            let key = format!("{dir}{child}");
            if child.ends_with('/') {
                pending.push(key);
            } else {
                let value = backend.get(&key).await.unwrap().unwrap();
                out.push((key, value));
            }
        }
    }
    out
}

#[tokio::test]
async fn storage_holds_the_argon2id_hash_and_never_the_password() {
    let f = Fixture::new().await;
    f.add_user("alice", json!({"password": PASSWORD})).await;
    let enrolled = f
        .call(
            Operation::Update,
            "auth/userpass/users/alice/totp",
            json!({}),
        )
        .await
        .unwrap()
        .data
        .unwrap();
    let totp_b32 = enrolled["secret"].as_str().unwrap().to_owned();
    let secret = totp::base32_decode(&totp_b32).unwrap();
    let _ = f.login("alice", json!({"password": "wrong"})).await;
    let code = totp::code(&secret, crate::clock::now_unix());
    f.login("alice", json!({"password": PASSWORD, "totp": code}))
        .await
        .unwrap();
    let _ = f.login("alice", json!({"password": "wrong again"})).await;

    let prefix = f.storage_prefix().await;
    let records = raw_records(&f.backend, &prefix).await;
    let mut keys: Vec<&str> = records
        .iter()
        .map(|(k, _)| k.strip_prefix(&prefix).unwrap())
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["lockout/alice", "totp/alice", "user/alice"]);
    let contains =
        |hay: &[u8], needle: &str| hay.windows(needle.len()).any(|w| w == needle.as_bytes());
    for (key, ciphertext) in &records {
        assert!(!contains(ciphertext, PASSWORD), "{key} holds the password");
        assert!(
            !contains(ciphertext, &totp_b32),
            "{key} holds the TOTP secret"
        );
        assert!(!contains(ciphertext, "argon2"), "{key} is not encrypted");
        let plain = f.vault.barrier().get(key).await.unwrap().unwrap();
        assert!(
            !contains(plain.expose_secret(), PASSWORD),
            "{key} holds the password"
        );
        assert!(
            !contains(plain.expose_secret(), "wrong"),
            "{key} holds a guess"
        );
    }
    let user = f
        .vault
        .barrier()
        .get(&format!("{prefix}user/alice"))
        .await
        .unwrap()
        .unwrap();
    let user: Value = serde_json::from_slice(user.expose_secret()).unwrap();
    let mut fields: Vec<&str> = user
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "password_hash",
            "token_max_ttl",
            "token_policies",
            "token_ttl"
        ]
    );
    let hash = user["password_hash"].as_str().unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
}

#[test]
fn debug_shows_no_secrets() {
    let printed = format!("{:?}", Userpass::new());
    assert!(printed.starts_with("Userpass"), "{printed}");
}
