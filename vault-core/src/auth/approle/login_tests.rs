//! AppRole logins through the whole vault: the token they make, uses under
//! concurrency, identical refusals, CIDR binding and expiry.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;

use super::AppRole;
use super::tests::{Fixture, data, login};
use crate::engines::{EngineError, EngineRequest, LogicalBackend, View};
use crate::request::{Operation, Request, Response};
use crate::{Vault, VaultError};

fn token_of(r: Response) -> String {
    r.auth.expect("a login returns a token").client_token
}

async fn lookup_self(
    vault: &Vault,
    token: &str,
    remote: Option<&str>,
) -> Result<Response, VaultError> {
    let mut request = Request::new(Operation::Read, "auth/token/lookup-self").with_token(token);
    request.remote_addr = remote.map(|r| r.parse().unwrap());
    vault.handle(request).await
}

#[tokio::test]
async fn a_login_makes_a_token_with_the_roles_policies() {
    let f = Fixture::new().await;
    let role_id = f
        .role(
            "web",
            json!({"token_policies": ["app", "ops"], "token_ttl": "20m", "token_num_uses": 5}),
        )
        .await;
    let (secret, _) = f.secret_id("web").await;
    let r = f.login(&role_id, &secret, None).await.unwrap();
    let auth = r.auth.clone().unwrap();
    assert_eq!(auth.policies, vec!["app", "default", "ops"]);
    assert_eq!(auth.lease_duration, 20 * 60);
    assert_eq!(auth.metadata["role_name"], "web");
    assert!(auth.orphan);
    assert!(r.login.is_none(), "the grant never reaches the caller");

    let me = lookup_self(&f.vault, &auth.client_token, None)
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(me["policies"], json!(["app", "default", "ops"]));
    assert_eq!(me["meta"], json!({"role_name": "web"}));
    assert_eq!(me["display_name"], "approle");
    assert_eq!(me["path"], "auth/approle/login");
    assert_eq!(me["num_uses"], 4, "one of 5 uses spent by the lookup");
    // A secret_id with no use limit works again.
    f.login(&role_id, &secret, None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_three_use_secret_id_allows_exactly_three_of_twenty_concurrent_logins() {
    let f = Fixture::new().await;
    let role_id = f.role("a", json!({"secret_id_num_uses": 3})).await;
    // Several rounds: on two cores one round does not always interleave the
    // logins badly enough to show a lost decrement.
    for round in 0..5 {
        let (secret, _) = f.secret_id("a").await;
        // All twenty wait at the gate, so their logins really overlap.
        let gate = Arc::new(tokio::sync::Barrier::new(20));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let vault = Arc::clone(&f.vault);
                let gate = Arc::clone(&gate);
                let (role_id, secret) = (role_id.clone(), secret.clone());
                tokio::spawn(async move {
                    gate.wait().await;
                    login(&vault, &role_id, &secret, None).await
                })
            })
            .collect();
        let mut won = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(r) => {
                    token_of(r);
                    won += 1;
                }
                Err(VaultError::LoginRefused(_)) => {}
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
        assert_eq!(won, 3, "round {round}");
        // The used-up secret_id is gone, accessor and all.
        let list = f
            .ok(Operation::List, "auth/approle/role/a/secret-id", json!({}))
            .await;
        assert_eq!(list["keys"], json!([]), "round {round}");
    }
}

#[tokio::test]
async fn every_refusal_looks_the_same() {
    let f = Fixture::new().await;
    let role_id = f
        .role(
            "a",
            json!({"secret_id_num_uses": 1, "secret_id_bound_cidrs": ["10.0.0.0/8"]}),
        )
        .await;
    let other_role_id = f.role("b", json!({})).await;
    let (secret, _) = f.secret_id("a").await;
    let (used, _) = f.secret_id("a").await;
    let (b_secret, _) = f.secret_id("b").await;
    let inside = Some("10.1.2.3");
    f.login(&role_id, &used, inside).await.unwrap();

    let refusals = [
        f.login("no-such-role-id", &secret, inside).await,
        f.login(&role_id, "no-such-secret-id", inside).await,
        f.login(&role_id, &used, inside).await,
        f.login(&role_id, "", inside).await,
        f.login(&role_id, &secret, Some("127.0.0.1")).await,
        f.login(&role_id, &secret, None).await,
        // Another role's secret_id with this role's role_id, and the reverse.
        f.login(&role_id, &b_secret, inside).await,
        f.login(&other_role_id, &secret, inside).await,
    ];
    let first = format!("{:?}", refusals[0]);
    assert!(matches!(refusals[0], Err(VaultError::LoginRefused(_))));
    for r in &refusals {
        assert_eq!(format!("{r:?}"), first);
        assert_eq!(
            r.as_ref().err().map(ToString::to_string).as_deref(),
            Some("invalid role or secret ID")
        );
    }
    // None of the refused attempts spent the one use.
    f.login(&role_id, &secret, inside).await.unwrap();
    let r = f.login(&role_id, &secret, inside).await;
    assert_eq!(format!("{r:?}"), first);
}

#[tokio::test]
async fn secret_id_bound_cidrs_decide_where_logins_come_from() {
    let f = Fixture::new().await;
    let role_id = f
        .role("a", json!({"secret_id_bound_cidrs": ["10.0.0.0/8"]}))
        .await;
    let (secret, _) = f.secret_id("a").await;
    assert!(matches!(
        f.login(&role_id, &secret, Some("127.0.0.1")).await,
        Err(VaultError::LoginRefused(_))
    ));
    f.login(&role_id, &secret, Some("10.1.2.3")).await.unwrap();

    // A secret_id's own cidr_list narrows the role's; it cannot widen it.
    let made = f
        .ok(
            Operation::Update,
            "auth/approle/role/a/secret-id",
            json!({"cidr_list": ["10.9.0.0/16", "127.0.0.0/8"]}),
        )
        .await;
    let narrow = made["secret_id"].as_str().unwrap();
    assert!(f.login(&role_id, narrow, Some("10.1.2.3")).await.is_err());
    assert!(f.login(&role_id, narrow, Some("127.0.0.1")).await.is_err());
    f.login(&role_id, narrow, Some("10.9.1.1")).await.unwrap();
}

#[tokio::test]
async fn a_role_without_secret_ids_is_bound_by_cidrs_and_tokens_follow_theirs() {
    let f = Fixture::new().await;
    let role_id = f
        .role(
            "a",
            json!({"bind_secret_id": false, "token_bound_cidrs": ["10.0.0.0/8"]}),
        )
        .await;
    let r = f
        .call(
            Operation::Update,
            "auth/approle/role/a/secret-id",
            json!({}),
        )
        .await;
    assert!(matches!(r, Err(VaultError::InvalidRequest(_))), "{r:?}");
    assert!(f.login(&role_id, "", Some("127.0.0.1")).await.is_err());
    let token = token_of(f.login(&role_id, "", Some("10.0.0.7")).await.unwrap());
    lookup_self(&f.vault, &token, Some("10.0.0.7"))
        .await
        .unwrap();
    assert!(matches!(
        lookup_self(&f.vault, &token, Some("127.0.0.1")).await,
        Err(VaultError::PermissionDenied(_))
    ));
}

#[tokio::test]
async fn an_expired_secret_id_is_refused_through_the_pipeline() {
    let f = Fixture::new().await;
    let role_id = f.role("a", json!({"secret_id_ttl": 1})).await;
    let (secret, _) = f.secret_id("a").await;
    let (later, _) = f.secret_id("a").await;
    f.login(&role_id, &secret, None).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = f.login(&role_id, &later, None).await;
    assert!(matches!(r, Err(VaultError::LoginRefused(_))), "{r:?}");
}

/// Drives one AppRole with a hand-set clock over a real unsealed barrier.
struct Direct {
    fixture: Fixture,
    approle: AppRole,
    now: Arc<AtomicU64>,
}

impl Direct {
    async fn new() -> Direct {
        let now = Arc::new(AtomicU64::new(1_700_000_000_000));
        let clock = Arc::clone(&now);
        Direct {
            fixture: Fixture::new().await,
            approle: AppRole::with_clock(Arc::new(move || clock.load(Ordering::SeqCst))),
            now,
        }
    }

    async fn call(
        &self,
        operation: Operation,
        path: &str,
        body: serde_json::Value,
    ) -> Result<Response, EngineError> {
        let view = View::new(self.fixture.vault.barrier(), "auth/direct-test/");
        let body = data(body);
        let request = EngineRequest {
            operation,
            path,
            data: &body,
            remote_addr: None,
            mount_path: "",
            caller: &crate::request::Caller::ANONYMOUS,
            client_token: None,
            leases: &crate::engines::NoLeases,
            lease_bounds: crate::engines::LeaseBounds::SYSTEM,
        };
        self.approle.handle(&view, request).await
    }
}

#[tokio::test]
async fn a_secret_id_expires_at_its_ttl_on_the_injected_clock() {
    let d = Direct::new().await;
    d.call(
        Operation::Update,
        "role/a",
        json!({"secret_id_ttl": "1h", "token_policies": ["p"]}),
    )
    .await
    .unwrap();
    let role_id = d
        .call(Operation::Read, "role/a/role-id", json!({}))
        .await
        .unwrap()
        .data
        .unwrap()["role_id"]
        .clone();
    let made = d
        .call(Operation::Update, "role/a/secret-id", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    let secret = made["secret_id"].clone();
    let creds = json!({"role_id": role_id, "secret_id": secret});

    d.now.fetch_add(3_599_999, Ordering::SeqCst);
    let r = d
        .call(Operation::Update, "login", creds.clone())
        .await
        .unwrap();
    let grant = r.login.unwrap();
    assert_eq!(grant.policies, vec!["p"]);
    assert_eq!(grant.metadata["role_name"], "a");

    d.now.fetch_add(1, Ordering::SeqCst);
    let r = d.call(Operation::Update, "login", creds).await;
    assert!(matches!(r, Err(EngineError::LoginRefused(_))), "{r:?}");
    // The expired record is gone: lookups find nothing and the list is empty.
    let r = d
        .call(
            Operation::Update,
            "role/a/secret-id/lookup",
            json!({"secret_id": secret}),
        )
        .await;
    assert!(matches!(r, Err(EngineError::NotFound(_))), "{r:?}");
    let list = d
        .call(Operation::List, "role/a/secret-id/", json!({}))
        .await
        .unwrap();
    assert_eq!(list.data.unwrap()["keys"], json!([]));
}
