//! Stand-ins for the services the JWT and Kubernetes auth methods check
//! callers with, on loopback HTTPS with a certificate made here:
//!
//! - an OIDC issuer: `/.well-known/openid-configuration` and the JWKS it
//!   names (`/jwks`), as a CI platform publishes them;
//! - Kubernetes' TokenReview API (`POST /apis/authentication.k8s.io/v1/
//!   tokenreviews`), the `authentication.k8s.io/v1` contract: the request
//!   must carry the reviewer's bearer token, the token under review is
//!   verified with the test's key (signature, expiry, audience), and a
//!   service account the test revoked is unauthenticated. No Kubernetes API
//!   server can run on this machine; this is what vaultd talks to instead.
//!
//! Keys are made per test: ES256 by rcgen, RSA by `openssl` (ring signs
//! with RSA keys but cannot make them).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair,
    RsaPublicKeyComponents,
};
use serde_json::{Value, json};
use vault_core::auth::jwt::{jwks, verify};

/// Signing keys made for one test, with their public halves as PEM and JWK.
pub struct Keys {
    es: EcdsaKeyPair,
    /// The ES256 public key, PEM (SubjectPublicKeyInfo).
    pub es_pem: String,
    rsa: RsaKeyPair,
    /// The RS256 public key, PEM.
    pub rsa_pem: String,
}

impl Keys {
    /// New keys.
    pub fn new() -> Keys {
        let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let es = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &ec.serialize_der(),
            &SystemRandom::new(),
        )
        .unwrap();
        let der = openssl(
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-outform",
                "DER",
            ],
            None,
        );
        let rsa = RsaKeyPair::from_der(&der).expect("openssl wrote a PKCS#1 RSA key");
        let rsa_pem =
            String::from_utf8(openssl(&["pkey", "-inform", "DER", "-pubout"], Some(&der))).unwrap();
        Keys {
            es,
            es_pem: ec.public_key_pem(),
            rsa,
            rsa_pem,
        }
    }

    /// A token signed with ES256, its header naming `kid` `es-1`.
    pub fn es256(&self, claims: &Value) -> String {
        sign(
            json!({"alg": "ES256", "typ": "JWT", "kid": "es-1"}),
            claims,
            |input| {
                self.es
                    .sign(&SystemRandom::new(), input)
                    .unwrap()
                    .as_ref()
                    .to_vec()
            },
        )
    }

    /// A token signed with RS256, its header naming `kid` `rs-1`.
    pub fn rs256(&self, claims: &Value) -> String {
        sign(
            json!({"alg": "RS256", "typ": "JWT", "kid": "rs-1"}),
            claims,
            |input| {
                let mut sig = vec![0; self.rsa.public().modulus_len()];
                self.rsa
                    .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), input, &mut sig)
                    .unwrap();
                sig
            },
        )
    }

    /// The public keys as a JWKS.
    pub fn jwks(&self) -> Value {
        let point = self.es.public_key().as_ref();
        let rsa: RsaPublicKeyComponents<Vec<u8>> = self.rsa.public().into();
        json!({"keys": [
            {"kty": "EC", "crv": "P-256", "kid": "es-1", "use": "sig", "alg": "ES256",
             "x": b64(&point[1..33]), "y": b64(&point[33..65])},
            {"kty": "RSA", "kid": "rs-1", "use": "sig", "alg": "RS256",
             "n": b64(&rsa.n), "e": b64(&rsa.e)},
        ]})
    }
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(<test signing keys>)")
    }
}

impl Default for Keys {
    fn default() -> Self {
        Keys::new()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn sign(header: Value, claims: &Value, signer: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = signer(input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

fn openssl(args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
    use std::io::Write as _;
    let mut child = std::process::Command::new("openssl")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl runs");
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        input.write_all(bytes).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl {args:?} failed");
    out.stdout
}

/// The claims of a Kubernetes service account token (a projected one).
pub fn service_account_claims(namespace: &str, name: &str, uid: &str, audience: &str) -> Value {
    let now = now();
    json!({
        "iss": "https://kubernetes.default.svc.cluster.local",
        "sub": format!("system:serviceaccount:{namespace}:{name}"),
        "aud": [audience],
        "exp": now + 3600, "iat": now, "nbf": now,
        "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}},
    })
}

/// Unix seconds.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The loopback HTTPS server (see the module's note).
#[derive(Debug)]
pub struct Standin {
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    /// The PEM certificate to trust it by.
    pub ca_pem: String,
    /// TokenReviews answered.
    pub reviews: Arc<AtomicUsize>,
    revoked: Arc<Mutex<HashSet<String>>>,
    task: tokio::task::JoinHandle<()>,
}

struct Shared {
    keys: Arc<Keys>,
    reviewer: String,
    issuer: String,
    revoked: Arc<Mutex<HashSet<String>>>,
    reviews: Arc<AtomicUsize>,
}

impl Standin {
    /// Serves on a free loopback port; a TokenReview must carry `reviewer`
    /// as its bearer token.
    pub async fn start(keys: Arc<Keys>, reviewer: &str) -> Standin {
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "https://127.0.0.1:{}",
            listener.local_addr().unwrap().port()
        );
        let revoked = Arc::new(Mutex::new(HashSet::new()));
        let reviews = Arc::new(AtomicUsize::new(0));
        let shared = Arc::new(Shared {
            keys,
            reviewer: reviewer.to_owned(),
            issuer: url.clone(),
            revoked: Arc::clone(&revoked),
            reviews: Arc::clone(&reviews),
        });
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(socket).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |request| {
                        let shared = Arc::clone(&shared);
                        async move { Ok::<_, std::convert::Infallible>(answer(&shared, request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Standin {
            url,
            ca_pem: cert.cert.pem(),
            reviews,
            revoked,
            task,
        }
    }

    /// From now on, tokens of the account with `uid` are unauthenticated
    /// (the account was deleted).
    pub fn revoke(&self, uid: &str) {
        self.revoked.lock().unwrap().insert(uid.to_owned());
    }

    /// Stops serving: connections are refused from now on.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Reply = hyper::Response<Full<hyper::body::Bytes>>;

fn reply(status: u16, body: Value) -> Reply {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(hyper::body::Bytes::from(body.to_string())))
        .unwrap()
}

async fn answer(shared: &Shared, request: hyper::Request<hyper::body::Incoming>) -> Reply {
    let path = request.uri().path().to_owned();
    match (request.method().as_str(), path.as_str()) {
        ("GET", "/.well-known/openid-configuration") => reply(
            200,
            json!({"issuer": shared.issuer, "jwks_uri": format!("{}/jwks", shared.issuer)}),
        ),
        ("GET", "/jwks") => reply(200, shared.keys.jwks()),
        ("POST", "/apis/authentication.k8s.io/v1/tokenreviews") => {
            let bearer = request
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            if bearer != format!("Bearer {}", shared.reviewer) {
                return reply(
                    401,
                    json!({"kind": "Status", "status": "Failure", "reason": "Unauthorized", "code": 401}),
                );
            }
            let Ok(body) = request.into_body().collect().await else {
                return reply(400, json!({}));
            };
            let review: Value = serde_json::from_slice(&body.to_bytes()).unwrap_or_default();
            shared.reviews.fetch_add(1, Ordering::SeqCst);
            reply(201, token_review(shared, &review))
        }
        _ => reply(404, json!({})),
    }
}

/// The `authentication.k8s.io/v1` TokenReview answer for `review`.
fn token_review(shared: &Shared, review: &Value) -> Value {
    let token = review["spec"]["token"].as_str().unwrap_or_default();
    let audiences: Vec<String> = review["spec"]["audiences"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let unauthenticated = |error: &str| {
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
               "status": {"authenticated": false, "error": error}})
    };
    let keys = jwks::parse(shared.keys.jwks().to_string().as_bytes()).unwrap();
    let Ok(claims) = verify::parse(token).and_then(|t| t.verify(&keys)) else {
        return unauthenticated("invalid bearer token");
    };
    if claims
        .check_times(now(), verify::Leeways::default())
        .is_err()
    {
        return unauthenticated("token has expired");
    }
    let token_audiences: Vec<String> = match &claims.0["aud"] {
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Value::String(s) => vec![s.clone()],
        _ => Vec::new(),
    };
    let granted: Vec<&String> = if audiences.is_empty() {
        token_audiences.iter().collect()
    } else {
        audiences
            .iter()
            .filter(|a| token_audiences.contains(a))
            .collect()
    };
    if granted.is_empty() {
        return unauthenticated("token audiences do not match");
    }
    let k8s = &claims.0["kubernetes.io"];
    let uid = k8s["serviceaccount"]["uid"].as_str().unwrap_or_default();
    if shared.revoked.lock().unwrap().contains(uid) {
        return unauthenticated("service account has been deleted");
    }
    json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
        "status": {
            "authenticated": true,
            "user": {
                "username": format!(
                    "system:serviceaccount:{}:{}",
                    k8s["namespace"].as_str().unwrap_or_default(),
                    k8s["serviceaccount"]["name"].as_str().unwrap_or_default()
                ),
                "uid": uid,
                "groups": ["system:serviceaccounts"],
            },
            "audiences": granted,
        }
    })
}
