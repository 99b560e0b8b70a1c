//! Machine logins through the real daemon, over HTTP and gRPC: JWT (keys
//! from a JWKS URL and from OIDC discovery, RS256 and ES256 tokens signed
//! here), Kubernetes (a loopback TokenReview stand-in: see
//! `vault_tests::idp`), the External Secrets Operator's sequence end to
//! end, identity that is live and spans methods, and the `bao` CLI logging
//! in with both.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use std::sync::Arc;

use serde_json::{Value, json};
use vault_tests::bao::Bao;
use vault_tests::http::{http, ok};
use vault_tests::idp::{Keys, Standin, now, service_account_claims};
use vault_tests::{Daemon, Init, logical, unsealed_with_kv};

const REVIEWER: &str = "reviewer-token-0123456789";

/// A login without a token: (status, answer).
fn login(daemon: &Daemon, path: &str, body: Value) -> (u16, Value) {
    vault_tests::secret_scan::note_in(&body);
    let (code, answer) = http(daemon, "", "POST", path, Some(body));
    vault_tests::secret_scan::note_in(&answer["auth"]);
    (code, answer)
}

fn errors(answer: &Value) -> String {
    answer["errors"].to_string()
}

fn ci_claims(sub: &str, iss: &str) -> Value {
    json!({"iss": iss, "sub": sub, "aud": "vault", "exp": now() + 300, "iat": now(),
           "groups": ["deployers"], "repository": "acme/api"})
}

/// A daemon with KV v2 at `secret/` (holding `secret/app/config`) and a
/// policy `app` reading it.
fn daemon_with_secret(dir: &std::path::Path) -> (Daemon, Init) {
    let (daemon, init) = unsealed_with_kv(dir);
    let root = &init.root_token;
    ok(
        &daemon,
        root,
        "POST",
        "secret/data/app/config",
        json!({"data": {"db": "s3cr3t-value"}}),
    );
    ok(
        &daemon,
        root,
        "PUT",
        "sys/policies/acl/app",
        json!({"policy": r#"path "secret/data/app/*" { capabilities = ["read"] }"#}),
    );
    (daemon, init)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_logins_with_a_jwks_url_and_with_oidc_discovery_refuse_every_bad_token() {
    let keys = Arc::new(Keys::new());
    let idp = Standin::start(Arc::clone(&keys), REVIEWER).await;
    let dir = tempfile::tempdir().unwrap();
    let (daemon, init) = daemon_with_secret(dir.path());
    let root = &init.root_token;
    ok(
        &daemon,
        root,
        "POST",
        "sys/auth/jwt",
        json!({"type": "jwt"}),
    );
    ok(
        &daemon,
        root,
        "POST",
        "auth/jwt/config",
        json!({"jwks_url": format!("{}/jwks", idp.url), "jwks_ca_pem": idp.ca_pem,
               "bound_issuer": "https://ci.example"}),
    );
    ok(
        &daemon,
        root,
        "POST",
        "auth/jwt/role/deploy",
        json!({"role_type": "jwt", "user_claim": "sub", "bound_audiences": "vault",
               "bound_claims": {"repository": "acme/*"}, "bound_claims_type": "glob",
               "claim_mappings": {"repository": "repo"}, "token_policies": "app",
               "groups_claim": "groups", "token_ttl": "5m"}),
    );
    // The groups claim's "deployers" is an external group's alias here.
    let (_, auth_table) = http(&daemon, root, "GET", "sys/auth", None);
    let jwt_accessor = auth_table["data"]["jwt/"]["accessor"]
        .as_str()
        .unwrap()
        .to_owned();
    let group = ok(
        &daemon,
        root,
        "POST",
        "identity/group",
        json!({"name": "ci-deployers", "type": "external", "policies": ["deployers"]}),
    );
    ok(
        &daemon,
        root,
        "POST",
        "identity/group-alias",
        json!({"name": "deployers", "mount_accessor": jwt_accessor,
               "canonical_id": group["data"]["id"]}),
    );
    let good = ci_claims("repo:acme/api:ref:main", "https://ci.example");
    for jwt in [keys.rs256(&good), keys.es256(&good)] {
        let (code, answer) = login(
            &daemon,
            "auth/jwt/login",
            json!({"role": "deploy", "jwt": jwt}),
        );
        assert_eq!(code, 200, "{answer}");
        let auth = &answer["auth"];
        assert_eq!(auth["token_policies"], json!(["app", "default"]));
        assert_eq!(auth["metadata"]["repo"], "acme/api");
        assert_eq!(auth["lease_duration"], 300);
        assert_eq!(auth["identity_policies"], json!(["deployers"]));
        assert!(!auth["entity_id"].as_str().unwrap().is_empty());
        let token = auth["client_token"].as_str().unwrap();
        let (code, read) = http(&daemon, token, "GET", "secret/data/app/config", None);
        assert_eq!(
            (code, &read["data"]["data"]["db"]),
            (200, &json!("s3cr3t-value"))
        );
    }

    let with = |key: &str, value: Value| {
        let mut c = good.clone();
        c[key] = value;
        c
    };
    let none = {
        let signed = keys.es256(&good);
        let header = base64_url(&json!({"alg": "none", "typ": "JWT"}).to_string());
        let parts: Vec<&str> = signed.split('.').collect();
        format!("{header}.{}.", parts[1])
    };
    let cases = [
        (
            "expired",
            keys.es256(&with("exp", json!(now() - 3600))),
            "expired",
        ),
        (
            "not yet valid",
            keys.rs256(&with("nbf", json!(now() + 3600))),
            "not yet valid",
        ),
        (
            "wrong audience",
            keys.es256(&with("aud", json!("other"))),
            "aud",
        ),
        (
            "wrong issuer",
            keys.es256(&with("iss", json!("https://evil"))),
            "issuer",
        ),
        (
            "bound claim",
            keys.es256(&with("repository", json!("evil/api"))),
            "repository",
        ),
        ("wrong key", Keys::new().es256(&good), "signature"),
        ("alg none", none, "algorithm"),
    ];
    for (name, jwt, words) in cases {
        let (code, answer) = login(
            &daemon,
            "auth/jwt/login",
            json!({"role": "deploy", "jwt": jwt}),
        );
        assert_eq!(code, 400, "{name}: {answer}");
        assert!(errors(&answer).contains(words), "{name}: {answer}");
        assert!(answer["auth"].is_null(), "{name}: no token");
    }

    // OIDC discovery: the issuer's document names the JWKS, and its issuer
    // is the one tokens must carry.
    ok(
        &daemon,
        root,
        "POST",
        "sys/auth/oidc",
        json!({"type": "jwt"}),
    );
    ok(
        &daemon,
        root,
        "POST",
        "auth/oidc/config",
        json!({"oidc_discovery_url": idp.url, "oidc_discovery_ca_pem": idp.ca_pem,
               "default_role": "deploy"}),
    );
    ok(
        &daemon,
        root,
        "POST",
        "auth/oidc/role/deploy",
        json!({"user_claim": "sub", "bound_audiences": ["vault"], "token_policies": ["app"]}),
    );
    let (code, answer) = login(
        &daemon,
        "auth/oidc/login",
        json!({"jwt": keys.es256(&ci_claims("svc", &idp.url))}),
    );
    assert_eq!(code, 200, "{answer}");
    let (code, answer) = login(
        &daemon,
        "auth/oidc/login",
        json!({"jwt": keys.es256(&ci_claims("svc", "https://ci.example"))}),
    );
    assert_eq!(code, 400, "{answer}");
    assert!(errors(&answer).contains("issuer"), "{answer}");
    // A discovery URL whose server has no such document is refused when
    // configured, not at every login.
    let (code, answer) = http(
        &daemon,
        root,
        "POST",
        "auth/oidc/config",
        Some(json!({"oidc_discovery_url": format!("{}/nothing", idp.url),
                    "oidc_discovery_ca_pem": idp.ca_pem})),
    );
    assert_eq!(code, 400, "{answer}");
}

fn base64_url(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

/// A daemon with Kubernetes auth at `auth/kubernetes/`, reviewing through
/// `idp`, and a role `eso` for service accounts `eso-*` in `team-*`.
fn kubernetes_daemon(dir: &std::path::Path, idp: &Standin) -> (Daemon, Init) {
    let (daemon, init) = daemon_with_secret(dir);
    let root = &init.root_token;
    ok(
        &daemon,
        root,
        "POST",
        "sys/auth/kubernetes",
        json!({"type": "kubernetes"}),
    );
    ok(
        &daemon,
        root,
        "POST",
        "auth/kubernetes/config",
        json!({"kubernetes_host": idp.url, "kubernetes_ca_cert": idp.ca_pem,
               "token_reviewer_jwt": REVIEWER}),
    );
    ok(
        &daemon,
        root,
        "POST",
        "auth/kubernetes/role/eso",
        json!({"bound_service_account_names": "eso-*",
               "bound_service_account_namespaces": ["team-*"],
               "audience": "vault", "token_policies": ["app"], "token_ttl": "1h"}),
    );
    (daemon, init)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_login_as_external_secrets_operator_does_it_and_every_refusal() {
    let keys = Arc::new(Keys::new());
    let idp = Standin::start(Arc::clone(&keys), REVIEWER).await;
    let dir = tempfile::tempdir().unwrap();
    let (daemon, init) = kubernetes_daemon(dir.path(), &idp);

    // ESO: login, lookup-self, a KV v2 read, revoke-self.
    let sa = keys.rs256(&service_account_claims(
        "team-a", "eso-sync", "uid-1", "vault",
    ));
    let (code, answer) = login(
        &daemon,
        "auth/kubernetes/login",
        json!({"role": "eso", "jwt": sa}),
    );
    assert_eq!(code, 200, "{answer}");
    let token = answer["auth"]["client_token"].as_str().unwrap().to_owned();
    assert_eq!(
        answer["auth"]["metadata"]["service_account_namespace"],
        "team-a"
    );
    let (code, me) = http(&daemon, &token, "GET", "auth/token/lookup-self", None);
    assert_eq!(code, 200, "{me}");
    assert_eq!(me["data"]["type"], "service");
    assert!(
        me["data"]["ttl"]
            .as_u64()
            .is_some_and(|t| t > 3500 && t <= 3600),
        "{me}"
    );
    assert!(
        me["data"]["expire_time"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{me}"
    );
    assert_eq!(me["data"]["display_name"], "kubernetes-team-a-eso-sync");
    let entity = me["data"]["entity_id"].as_str().unwrap().to_owned();
    let (_, alias) = http(
        &daemon,
        &init.root_token,
        "GET",
        &format!("identity/entity/id/{entity}"),
        None,
    );
    assert_eq!(alias["data"]["aliases"][0]["name"], "uid-1");
    let (code, read) = http(&daemon, &token, "GET", "secret/data/app/config", None);
    assert_eq!(
        (code, &read["data"]["data"]["db"]),
        (200, &json!("s3cr3t-value"))
    );
    let (code, _) = http(&daemon, &token, "POST", "auth/token/revoke-self", None);
    assert_eq!(code, 204);
    let (code, _) = http(&daemon, &token, "GET", "auth/token/lookup-self", None);
    assert_eq!(code, 403);

    // The same login over gRPC.
    let response = logical(&daemon)
        .await
        .write(tonic::Request::new(vault_proto::v1::LogicalRequest {
            path: "auth/kubernetes/login".into(),
            data_json: json!({"role": "eso", "jwt": sa}).to_string(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let auth = response.auth.unwrap();
    vault_tests::secret_scan::note(&auth.client_token);
    assert_eq!(auth.entity_id, entity);
    assert_eq!(auth.token_policies, ["app", "default"]);

    let reviews = idp.reviews.load(std::sync::atomic::Ordering::SeqCst);
    let refused = [
        (
            "namespace outside the globs",
            keys.es256(&service_account_claims(
                "kube-system",
                "eso-sync",
                "uid-2",
                "vault",
            )),
            "namespace not authorized",
        ),
        (
            "name outside the globs",
            keys.es256(&service_account_claims(
                "team-a", "default", "uid-3", "vault",
            )),
            "service account name not authorized",
        ),
        (
            "another audience",
            keys.es256(&service_account_claims(
                "team-a", "eso-sync", "uid-1", "other",
            )),
            "service account unauthorized",
        ),
        (
            "another signer",
            Keys::new().es256(&service_account_claims(
                "team-a", "eso-sync", "uid-1", "vault",
            )),
            "service account unauthorized",
        ),
    ];
    for (name, jwt, words) in refused {
        let (code, answer) = login(
            &daemon,
            "auth/kubernetes/login",
            json!({"role": "eso", "jwt": jwt}),
        );
        assert_eq!(code, 400, "{name}: {answer}");
        assert!(errors(&answer).contains(words), "{name}: {answer}");
    }
    // Bounds are checked before the API server is asked.
    assert_eq!(
        idp.reviews.load(std::sync::atomic::Ordering::SeqCst),
        reviews + 2,
        "only the two tokens inside the bounds were reviewed"
    );

    // A revoked service account: the API server says unauthenticated.
    idp.revoke("uid-1");
    let (code, answer) = login(
        &daemon,
        "auth/kubernetes/login",
        json!({"role": "eso", "jwt": sa}),
    );
    assert_eq!(code, 400, "{answer}");
    assert!(
        errors(&answer).contains("service account unauthorized"),
        "{answer}"
    );

    // The API server is down: a clear error, no token.
    let other = keys.es256(&service_account_claims("team-b", "eso-x", "uid-9", "vault"));
    idp.stop();
    let started = std::time::Instant::now();
    let (code, answer) = login(
        &daemon,
        "auth/kubernetes/login",
        json!({"role": "eso", "jwt": other}),
    );
    assert!(code >= 500, "{code} {answer}");
    assert!(errors(&answer).contains("Kubernetes API"), "{answer}");
    assert!(answer["auth"].is_null());
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_is_live_and_one_entity_spans_userpass_and_jwt() {
    let keys = Arc::new(Keys::new());
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let config = vault_tests::write_config(
        dir.path(),
        &format!(
            "[[audit]]\nname = \"file\"\ntype = \"file\"\noptions = {{ file_path = \"{}\" }}\n",
            log.display()
        ),
    );
    let daemon = Daemon::start_with(&config, dir.path());
    let init = vault_tests::init(&daemon, 1, 1);
    vault_tests::unseal(&daemon, &init.keys_hex[0]).expect_code(0);
    let root = &init.root_token;
    daemon
        .cli(
            Some(root),
            &["secrets", "enable", "--path", "secret", "kv-v2"],
        )
        .expect_code(0);
    ok(
        &daemon,
        root,
        "POST",
        "secret/data/team/plan",
        json!({"data": {"k": "v"}}),
    );
    ok(
        &daemon,
        root,
        "PUT",
        "sys/policies/acl/team",
        json!({"policy": r#"path "secret/data/team/*" { capabilities = ["read"] }"#}),
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
        "POST",
        "auth/userpass/users/alice",
        json!({"password": "correct horse battery", "token_policies": ["default"]}),
    );
    ok(
        &daemon,
        root,
        "POST",
        "sys/auth/jwt",
        json!({"type": "jwt"}),
    );
    ok(
        &daemon,
        root,
        "POST",
        "auth/jwt/config",
        json!({"jwt_validation_pubkeys": [keys.es_pem], "bound_issuer": "https://ci.example"}),
    );
    ok(
        &daemon,
        root,
        "POST",
        "auth/jwt/role/people",
        json!({"user_claim": "email", "bound_audiences": "vault"}),
    );

    let (code, by_password) = login(
        &daemon,
        "auth/userpass/login/alice",
        json!({"password": "correct horse battery"}),
    );
    assert_eq!(code, 200, "{by_password}");
    let mut claims = ci_claims("u-1", "https://ci.example");
    claims["email"] = json!("alice@example.com");
    let (code, by_jwt) = login(
        &daemon,
        "auth/jwt/login",
        json!({"role": "people", "jwt": keys.es256(&claims)}),
    );
    assert_eq!(code, 200, "{by_jwt}");
    let password_token = by_password["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let jwt_token = by_jwt["auth"]["client_token"].as_str().unwrap().to_owned();
    let person = by_password["auth"]["entity_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let jwt_entity = by_jwt["auth"]["entity_id"].as_str().unwrap().to_owned();
    assert_ne!(person, jwt_entity, "two methods, two entities until merged");

    ok(
        &daemon,
        root,
        "POST",
        "identity/entity/merge",
        json!({"from_entity_ids": [jwt_entity], "to_entity_id": person}),
    );
    for token in [&password_token, &jwt_token] {
        let (_, me) = http(&daemon, token, "GET", "auth/token/lookup-self", None);
        assert_eq!(
            me["data"]["entity_id"],
            json!(person),
            "one entity in both tokens"
        );
    }
    let (_, again) = login(
        &daemon,
        "auth/jwt/login",
        json!({"role": "people", "jwt": keys.es256(&claims)}),
    );
    assert_eq!(
        again["auth"]["entity_id"],
        json!(person),
        "the JWT alias is now the person's"
    );
    // Looked up by its userpass alias: the person.
    let (_, auth_table) = http(&daemon, root, "GET", "sys/auth", None);
    let userpass = auth_table["data"]["userpass/"]["accessor"]
        .as_str()
        .unwrap()
        .to_owned();
    let found = ok(
        &daemon,
        root,
        "POST",
        "identity/lookup/entity",
        json!({"alias_name": "alice", "alias_mount_accessor": userpass}),
    );
    assert_eq!(found["data"]["id"], json!(person));
    // The identity API over gRPC: the person, with both aliases.
    let read = logical(&daemon)
        .await
        .read(vault_tests::logical_request(
            root,
            &format!("identity/entity/id/{person}"),
            json!({}),
        ))
        .await
        .unwrap()
        .into_inner();
    let entity: Value = serde_json::from_str(&read.data_json).unwrap();
    let mut mounts: Vec<&str> = entity["aliases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["mount_type"].as_str().unwrap())
        .collect();
    mounts.sort();
    assert_eq!(mounts, ["jwt", "userpass"]);
    assert_eq!(entity["merged_entity_ids"], json!([jwt_entity]));

    // Live: a group made after the logins, its policy added later, reaches
    // both existing tokens on their next request.
    let (_, group) = http(
        &daemon,
        root,
        "POST",
        "identity/group",
        Some(json!({"name": "team", "member_entity_ids": [person]})),
    );
    let group_id = group["data"]["id"].as_str().unwrap().to_owned();
    for token in [&password_token, &jwt_token] {
        let (code, _) = http(&daemon, token, "GET", "secret/data/team/plan", None);
        assert_eq!(code, 403, "no policy on the group yet");
    }
    ok(
        &daemon,
        root,
        "POST",
        &format!("identity/group/id/{group_id}"),
        json!({"policies": ["team"]}),
    );
    for token in [&password_token, &jwt_token] {
        let (code, _) = http(&daemon, token, "GET", "secret/data/team/plan", None);
        assert_eq!(code, 200, "the group's new policy applies at once");
    }
    let (_, me) = http(&daemon, &jwt_token, "GET", "auth/token/lookup-self", None);
    assert_eq!(me["data"]["identity_policies"], json!(["team"]));

    // Disabling the entity refuses its tokens at once; enabling lets them in.
    ok(
        &daemon,
        root,
        "POST",
        &format!("identity/entity/id/{person}"),
        json!({"disabled": true}),
    );
    let (code, _) = http(
        &daemon,
        &password_token,
        "GET",
        "secret/data/team/plan",
        None,
    );
    assert_eq!(code, 403);
    ok(
        &daemon,
        root,
        "POST",
        &format!("identity/entity/id/{person}"),
        json!({"disabled": false}),
    );
    let (code, _) = http(
        &daemon,
        &password_token,
        "GET",
        "secret/data/team/plan",
        None,
    );
    assert_eq!(code, 200);

    // Leaving the group takes the policy away.
    ok(
        &daemon,
        root,
        "POST",
        &format!("identity/group/id/{group_id}"),
        json!({"member_entity_ids": []}),
    );
    let (code, _) = http(&daemon, &jwt_token, "GET", "secret/data/team/plan", None);
    assert_eq!(code, 403);

    // The audit log names the entity on both tokens' requests.
    let text = std::fs::read_to_string(&log).unwrap();
    let reads: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| {
            e["type"] == "response"
                && e["request"]["path"] == "secret/data/team/plan"
                && e["request"]["operation"] == "read"
                && e["error"] == ""
        })
        .collect();
    assert_eq!(reads.len(), 3, "the reads that were served");
    assert!(
        reads
            .iter()
            .all(|e| e["auth"]["entity_id"] == json!(person)),
        "every read is recorded with the person's entity"
    );
    assert!(
        reads
            .iter()
            .any(|e| e["auth"]["identity_policies"] == json!(["team"])),
        "and the identity policies it was judged with"
    );
    // The refused reads (no policy yet, entity disabled, group left) are
    // recorded with who was refused: the token's accessor and its entity.
    let refused: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| {
            e["type"] == "response"
                && e["request"]["path"] == "secret/data/team/plan"
                && e["error"] != ""
        })
        .collect();
    assert_eq!(
        refused.len(),
        4,
        "two before the policy, one disabled, one after leaving"
    );
    for entry in &refused {
        assert_eq!(entry["auth"]["entity_id"], json!(person), "{entry}");
        assert!(entry["auth"]["accessor"].is_string(), "{entry}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bao_cli_logs_in_with_jwt_and_kubernetes() {
    let keys = Arc::new(Keys::new());
    let idp = Standin::start(Arc::clone(&keys), REVIEWER).await;
    let dir = tempfile::tempdir().unwrap();
    let (daemon, init) = kubernetes_daemon(dir.path(), &idp);
    let root = &init.root_token;
    ok(
        &daemon,
        root,
        "POST",
        "sys/auth/jwt",
        json!({"type": "jwt"}),
    );
    ok(
        &daemon,
        root,
        "POST",
        "auth/jwt/config",
        json!({"jwt_validation_pubkeys": [keys.rsa_pem, keys.es_pem]}),
    );
    ok(
        &daemon,
        root,
        "POST",
        "auth/jwt/role/ci",
        json!({"user_claim": "sub", "bound_audiences": "vault", "token_policies": "app"}),
    );
    let bao = Bao::new(&daemon.addr, dir.path());
    let jwt = keys.rs256(&ci_claims("repo:acme/api", "https://ci.example"));
    let answer = bao.json(&[
        "write",
        "-format=json",
        "auth/jwt/login",
        "role=ci",
        &format!("jwt={jwt}"),
    ]);
    let token = answer["auth"]["client_token"].as_str().unwrap().to_owned();
    let secret = bao
        .with_token(&token)
        .json(&["kv", "get", "-format=json", "secret/app/config"]);
    assert_eq!(secret["data"]["data"]["db"], "s3cr3t-value");

    let sa = keys.es256(&service_account_claims(
        "team-a", "eso-sync", "uid-7", "vault",
    ));
    let answer = bao.json(&[
        "write",
        "-format=json",
        "auth/kubernetes/login",
        "role=eso",
        &format!("jwt={sa}"),
    ]);
    assert_eq!(
        answer["auth"]["metadata"]["service_account_name"],
        "eso-sync"
    );
    let token = answer["auth"]["client_token"].as_str().unwrap().to_owned();
    let me = bao
        .with_token(&token)
        .json(&["token", "lookup", "-format=json"]);
    assert_eq!(me["data"]["policies"], json!(["app", "default"]));
    let refused = bao.run(&[
        "write",
        "auth/kubernetes/login",
        "role=eso",
        &format!(
            "jwt={}",
            keys.es256(&service_account_claims(
                "prod", "eso-sync", "uid-8", "vault"
            ))
        ),
    ]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stderr.contains("namespace not authorized"),
        "{}",
        refused.stderr
    );
}
