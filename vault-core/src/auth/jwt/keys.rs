//! The keys a mount verifies tokens with, from its configured source: the
//! PEM keys in the config, a JWKS fetched from `jwks_url`, or the JWKS an
//! OIDC issuer's discovery document names. Fetched keys are kept for
//! [`FRESH_FOR`]; a token naming a `kid` the set lacks (a rotation) fetches
//! again, but never more often than every [`MIN_REFETCH`], so tokens with
//! made-up ids cannot make the vault hammer the issuer. If a fetch fails,
//! keys fetched within [`STALE_FOR`] are used.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::https_client::{self, Limits, Outbound};

use super::config::JwtConfig;
use super::verify::{JwtError, KeyEntry};

/// How long fetched keys are used without asking again.
pub(super) const FRESH_FOR: Duration = Duration::from_secs(300);
/// The least time between two fetches.
pub(super) const MIN_REFETCH: Duration = Duration::from_secs(10);
/// How long fetched keys stand in when the issuer cannot be reached.
pub(super) const STALE_FOR: Duration = Duration::from_secs(3600);

const FETCH: Limits = Limits {
    deadline: Duration::from_secs(10),
    max_body: super::jwks::MAX_JWKS_BYTES,
};

/// Why no keys could be had.
#[derive(Debug, thiserror::Error)]
pub(super) enum KeyError {
    /// The issuer or JWKS server could not be reached, or answered badly.
    #[error("{0}")]
    Fetch(String),
    /// What it answered holds no usable key.
    #[error(transparent)]
    Keys(#[from] JwtError),
}

/// Keys as of one fetch, and the issuer a discovery document named.
#[derive(Debug, Clone)]
pub(super) struct KeySet {
    /// The keys.
    pub keys: Arc<Vec<KeyEntry>>,
    /// The issuer the discovery document names (`None` for the other
    /// sources): tokens must carry it.
    pub issuer: Option<String>,
}

#[derive(Debug)]
struct Cached {
    // What the keys came from: a change of config fetches anew.
    source: String,
    set: KeySet,
    fetched: Instant,
}

/// A mount's keys, cached.
#[derive(Debug, Default)]
pub(super) struct KeyCache {
    // A std lock: held only to read or swap, never across an await.
    cached: std::sync::RwLock<Option<Arc<Cached>>>,
    // One fetch at a time.
    fetching: tokio::sync::Mutex<()>,
}

fn source_of(config: &JwtConfig) -> String {
    if config.jwt_validation_pubkeys.is_empty() {
        format!(
            "{}\n{}\n{}\n{}",
            config.jwks_url,
            config.jwks_ca_pem,
            config.oidc_discovery_url,
            config.oidc_discovery_ca_pem
        )
    } else {
        config.jwt_validation_pubkeys.join("\n")
    }
}

impl KeyCache {
    /// The keys to verify a token naming `kid` with.
    pub(super) async fn keys(
        &self,
        config: &JwtConfig,
        kid: Option<&str>,
    ) -> Result<KeySet, KeyError> {
        let source = source_of(config);
        let cached = self.current(&source);
        if let Some(c) = &cached {
            let has_kid =
                kid.is_none_or(|k| c.set.keys.iter().any(|e| e.kid.as_deref() == Some(k)));
            let age = c.fetched.elapsed();
            let local = !config.jwt_validation_pubkeys.is_empty();
            if local || (age < FRESH_FOR && (has_kid || age < MIN_REFETCH)) {
                return Ok(c.set.clone());
            }
        }
        let _one = self.fetching.lock().await;
        // Another login may have fetched while this one waited.
        if let Some(c) = self.current(&source)
            && c.fetched.elapsed() < MIN_REFETCH
        {
            return Ok(c.set.clone());
        }
        match fetch(config).await {
            Ok(set) => {
                let fresh = Arc::new(Cached {
                    source,
                    set: set.clone(),
                    fetched: Instant::now(),
                });
                *self.cached.write().unwrap_or_else(|p| p.into_inner()) = Some(fresh);
                Ok(set)
            }
            Err(e) => match cached {
                Some(c) if c.fetched.elapsed() < STALE_FOR => {
                    tracing::warn!(error = %e, "cannot refresh the JWT signing keys; using the ones fetched before");
                    Ok(c.set.clone())
                }
                _ => Err(e),
            },
        }
    }

    fn current(&self, source: &str) -> Option<Arc<Cached>> {
        self.cached
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|c| c.source == source)
            .cloned()
    }
}

/// The keys from the configured source, fetched now.
async fn fetch(config: &JwtConfig) -> Result<KeySet, KeyError> {
    if !config.jwt_validation_pubkeys.is_empty() {
        let mut keys = Vec::new();
        for pem in &config.jwt_validation_pubkeys {
            keys.extend(super::pem::keys(pem)?);
        }
        return Ok(KeySet {
            keys: Arc::new(keys),
            issuer: None,
        });
    }
    if !config.jwks_url.is_empty() {
        let body = get(&config.jwks_url, &config.jwks_ca_pem).await?;
        return Ok(KeySet {
            keys: Arc::new(super::jwks::parse(&body)?),
            issuer: None,
        });
    }
    let base = config.oidc_discovery_url.trim_end_matches('/');
    let well_known = format!("{base}/.well-known/openid-configuration");
    let body = get(&well_known, &config.oidc_discovery_ca_pem).await?;
    let limits = crate::json_limits::JsonLimits {
        max_depth: 8,
        ..crate::json_limits::JsonLimits::default()
    };
    let document = crate::json_limits::parse_object(&body, &limits)
        .map_err(|e| KeyError::Fetch(format!("the OIDC discovery document is not JSON: {e}")))?;
    let issuer = document
        .get("issuer")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if issuer.trim_end_matches('/') != base {
        return Err(KeyError::Fetch(format!(
            "the OIDC discovery document's issuer {issuer:?} is not oidc_discovery_url"
        )));
    }
    let jwks_uri = document
        .get("jwks_uri")
        .and_then(Value::as_str)
        .filter(|u| u.starts_with("https://"))
        .ok_or_else(|| {
            KeyError::Fetch("the OIDC discovery document names no https:// jwks_uri".into())
        })?;
    let body = get(jwks_uri, &config.oidc_discovery_ca_pem).await?;
    Ok(KeySet {
        keys: Arc::new(super::jwks::parse(&body)?),
        issuer: Some(issuer.to_owned()),
    })
}

async fn get(url: &str, ca_pem: &str) -> Result<Vec<u8>, KeyError> {
    let answer = https_client::send(
        Outbound {
            url,
            ca_pem: Some(ca_pem).filter(|c| !c.is_empty()),
            bearer: None,
            json_body: None,
        },
        FETCH,
    )
    .await
    .map_err(|e| KeyError::Fetch(format!("fetching {url}: {e}")))?;
    if answer.status != 200 {
        return Err(KeyError::Fetch(format!(
            "fetching {url}: the server answered {}",
            answer.status
        )));
    }
    Ok(answer.body)
}
