//! Sessions with the directory: the servers in `url` are tried in order,
//! each with `connection_timeout` to connect (TCP, TLS or StartTLS) and
//! `request_timeout` for its first bind, so a server that is down or that
//! accepts connections and never answers costs a login one bounded wait
//! before the next server is asked; such a server is then tried last for
//! [`DOWN_FOR`], so the logins after it do not wait on it at all. Every
//! operation has `request_timeout`, and sessions per mount are bounded
//! ([`MAX_SESSIONS`]). Sessions bound as the search bind are kept for the
//! next login ([`MAX_IDLE`], for [`IDLE_FOR`]), so a login does not pay a
//! connection and a bind before its search; one that went stale is replaced
//! once. Entries are read without trusting the server's encoding (a
//! malformed answer is an error, never a panic).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::config::LdapConfig;

/// How long a server that failed is tried after the others.
pub(super) const DOWN_FOR: Duration = Duration::from_secs(30);
/// Directory sessions open at once, per mount.
pub(super) const MAX_SESSIONS: usize = 64;
/// Search-bound sessions kept for the next logins, per mount.
pub(super) const MAX_IDLE: usize = 16;
/// How long a kept session may wait for its next login.
pub(super) const IDLE_FOR: Duration = Duration::from_secs(60);
/// Entries one search may return before it is refused.
const MAX_ENTRIES: usize = 1024;

/// LDAP's resultCode for a wrong password (or an unknown or disabled
/// account: servers do not tell them apart).
const INVALID_CREDENTIALS: u32 = 49;

/// Why the directory could not be asked.
#[derive(Debug, thiserror::Error)]
pub(super) enum DirectoryError {
    /// No server could be reached, or none answered in time.
    #[error("no LDAP server could be reached: {0}")]
    Unreachable(String),
    /// The TLS settings are unusable.
    #[error("LDAP TLS settings: {0}")]
    Tls(String),
    /// An operation failed or timed out.
    #[error("LDAP operation failed: {0}")]
    Operation(String),
    /// Too many logins are talking to the directory at once.
    #[error("too many LDAP logins in progress; try again")]
    Busy,
}

/// A directory entry: its DN and its string attributes (names lower-cased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    pub dn: String,
    pub attrs: HashMap<String, Vec<String>>,
}

/// A mount's view of its servers: which failed lately, and the session
/// bound.
#[derive(Debug)]
pub(super) struct Directory {
    down: Mutex<HashMap<String, Instant>>,
    sessions: Arc<tokio::sync::Semaphore>,
    // Sessions bound as the search bind, with the config they were made
    // for (a digest: a changed config never reuses them) and since when.
    idle: Mutex<Vec<(String, Instant, Session)>>,
}

impl Default for Directory {
    fn default() -> Self {
        Directory {
            down: Mutex::new(HashMap::new()),
            sessions: Arc::new(tokio::sync::Semaphore::new(MAX_SESSIONS)),
            idle: Mutex::new(Vec::new()),
        }
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("reused", &self.reused)
            .finish_non_exhaustive()
    }
}

/// One connection, bound as someone.
pub(super) struct Session {
    ldap: Ldap,
    timeout: Duration,
    /// It waited in the pool: its server may have closed it since.
    pub reused: bool,
    _driver: AbortOnDrop,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// The digest a kept session is filed under: computed once per login.
pub(super) fn config_key(config: &LdapConfig) -> String {
    let encoded = zeroize::Zeroizing::new(serde_json::to_vec(config).unwrap_or_default());
    hex::encode(ring::digest::digest(&ring::digest::SHA256, &encoded))
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What a bind came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Bound {
    /// The credentials were accepted.
    Yes,
    /// The server refused them.
    Refused,
}

impl Directory {
    /// A session on the first server that connects and answers the first
    /// bind (`dn` with `password`): whatever that bind's outcome, the
    /// server answered.
    pub(super) async fn open(
        &self,
        config: &LdapConfig,
        dn: &str,
        password: &str,
    ) -> Result<(Session, Bound), DirectoryError> {
        let permit = tokio::time::timeout(
            config.request_timeout(),
            Arc::clone(&self.sessions).acquire_owned(),
        )
        .await
        .map_err(|_| DirectoryError::Busy)?
        .map_err(|_| DirectoryError::Busy)?;
        let settings = settings(config)?;
        let mut failures = Vec::new();
        let mut permit = Some(permit);
        for server in self.in_order(config) {
            match self
                .try_server(config, &settings, server, dn, password, &mut permit)
                .await
            {
                Ok(found) => {
                    self.mark_up(server);
                    return Ok(found);
                }
                Err(reason) => {
                    tracing::warn!(server, %reason, "LDAP server skipped");
                    self.mark_down(server);
                    failures.push(format!("{server}: {reason}"));
                }
            }
        }
        Err(DirectoryError::Unreachable(failures.join("; ")))
    }

    async fn try_server(
        &self,
        config: &LdapConfig,
        settings: &LdapConnSettings,
        server: &str,
        dn: &str,
        password: &str,
        permit: &mut Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> Result<(Session, Bound), String> {
        let connect = LdapConnAsync::with_settings(settings.clone(), server);
        let (conn, ldap) = match tokio::time::timeout(config.connection_timeout(), connect).await {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => return Err(describe(&e)),
            Err(_) => {
                return Err(format!(
                    "no connection within {}s (connection_timeout)",
                    config.connection_timeout
                ));
            }
        };
        let driver = AbortOnDrop(tokio::spawn(async move {
            let _ = conn.drive().await;
        }));
        let Some(held) = permit.take() else {
            return Err("no session permit".into());
        };
        let mut session = Session {
            ldap,
            timeout: config.request_timeout(),
            reused: false,
            _driver: driver,
            _permit: held,
        };
        match session.bind(dn, password).await {
            Ok(bound) => Ok((session, bound)),
            Err(e) => {
                // The permit goes back for the next server.
                let Session { _permit: held, .. } = session;
                *permit = Some(held);
                Err(e.to_string())
            }
        }
    }

    /// A session bound as the search bind (`binddn`): one kept from an
    /// earlier login if there is one, else a new one.
    pub(super) async fn search_session(
        &self,
        config: &LdapConfig,
        key: &str,
    ) -> Result<Session, DirectoryError> {
        let kept = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            idle.retain(|(_, since, _)| since.elapsed() < IDLE_FOR);
            idle.iter()
                .position(|(k, _, _)| k == key)
                .map(|i| idle.swap_remove(i).2)
        };
        if let Some(mut session) = kept {
            session.reused = true;
            return Ok(session);
        }
        self.fresh_search_session(config).await
    }

    /// A new session bound as the search bind.
    pub(super) async fn fresh_search_session(
        &self,
        config: &LdapConfig,
    ) -> Result<Session, DirectoryError> {
        let (session, bound) = self.open(config, &config.binddn, &config.bindpass).await?;
        match bound {
            Bound::Yes => Ok(session),
            Bound::Refused => Err(DirectoryError::Operation(
                "the directory refused the search bind (binddn/bindpass)".into(),
            )),
        }
    }

    /// Keeps `session`, bound as the search bind again, for the next login.
    pub(super) fn keep(&self, key: String, mut session: Session) {
        session.reused = false;
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.retain(|(_, since, _)| since.elapsed() < IDLE_FOR);
        if idle.len() < MAX_IDLE {
            idle.push((key, Instant::now(), session));
        }
    }

    /// The servers, those that failed lately last.
    fn in_order<'a>(&self, config: &'a LdapConfig) -> Vec<&'a str> {
        let down = self.down.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let is_down = |s: &str| down.get(s).is_some_and(|until| *until > now);
        let servers = config.servers();
        let (mut up, failed): (Vec<&str>, Vec<&str>) =
            servers.into_iter().partition(|s| !is_down(s));
        up.extend(failed);
        up
    }

    fn mark_down(&self, server: &str) {
        let mut down = self.down.lock().unwrap_or_else(|p| p.into_inner());
        down.insert(server.to_owned(), Instant::now() + DOWN_FOR);
    }

    fn mark_up(&self, server: &str) {
        let mut down = self.down.lock().unwrap_or_else(|p| p.into_inner());
        down.remove(server);
    }
}

impl Session {
    /// A simple bind as `dn`.
    pub(super) async fn bind(&mut self, dn: &str, password: &str) -> Result<Bound, DirectoryError> {
        let call = self
            .ldap
            .with_timeout(self.timeout)
            .simple_bind(dn, password);
        let result = tokio::time::timeout(self.timeout + Duration::from_secs(1), call)
            .await
            .map_err(|_| timed_out(self.timeout))?
            .map_err(|e| DirectoryError::Operation(describe(&e)))?;
        match result.rc {
            0 => Ok(Bound::Yes),
            INVALID_CREDENTIALS => Ok(Bound::Refused),
            rc => Err(DirectoryError::Operation(format!(
                "bind answered with result code {rc}"
            ))),
        }
    }

    /// The entries under `base` that `filter` matches (subtree), with
    /// `attrs`.
    pub(super) async fn search(
        &mut self,
        base: &str,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Vec<Entry>, DirectoryError> {
        let call = self.ldap.with_timeout(self.timeout).search(
            base,
            Scope::Subtree,
            filter,
            attrs.to_vec(),
        );
        let answer = tokio::time::timeout(self.timeout + Duration::from_secs(1), call)
            .await
            .map_err(|_| timed_out(self.timeout))?
            .map_err(|e| DirectoryError::Operation(describe(&e)))?;
        let (entries, _) = answer
            .success()
            .map_err(|e| DirectoryError::Operation(describe(&e)))?;
        if entries.len() > MAX_ENTRIES {
            return Err(DirectoryError::Operation(format!(
                "a search returned more than {MAX_ENTRIES} entries"
            )));
        }
        entries
            .into_iter()
            .map(|e| {
                entry(e).ok_or_else(|| {
                    DirectoryError::Operation("the server sent a malformed entry".into())
                })
            })
            .collect()
    }
}

fn timed_out(timeout: Duration) -> DirectoryError {
    DirectoryError::Operation(format!(
        "no answer within {}s (request_timeout)",
        timeout.as_secs()
    ))
}

/// An error's text without what the server may have echoed of a
/// credential (ldap3's errors name the operation and the result code).
fn describe(e: &LdapError) -> String {
    match e {
        LdapError::LdapResult { result } => format!("result code {}", result.rc),
        other => other.to_string().chars().take(256).collect(),
    }
}

/// A search result entry, read without panicking on a malformed one.
fn entry(raw: ldap3::ResultEntry) -> Option<Entry> {
    let mut parts = raw.0.match_id(4)?.expect_constructed()?.into_iter();
    let dn = String::from_utf8(parts.next()?.expect_primitive()?).ok()?;
    let mut attrs: HashMap<String, Vec<String>> = HashMap::new();
    for attribute in parts.next()?.expect_constructed()? {
        let mut pair = attribute.expect_constructed()?.into_iter();
        let name = String::from_utf8(pair.next()?.expect_primitive()?).ok()?;
        let values = pair.next()?.expect_constructed()?;
        let list = attrs.entry(name.to_ascii_lowercase()).or_default();
        for value in values {
            if let Ok(text) = String::from_utf8(value.expect_primitive()?) {
                list.push(text);
            }
        }
    }
    Some(Entry { dn, attrs })
}

/// The connection settings of `config`: StartTLS, the CA, a client
/// certificate, and (only if asked) no certificate check.
fn settings(config: &LdapConfig) -> Result<LdapConnSettings, DirectoryError> {
    let tls = |m: String| DirectoryError::Tls(m);
    let mut roots = rustls::RootCertStore::empty();
    if config.certificate.is_empty() {
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    } else {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(config.certificate.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| tls(format!("certificate: {e}")))?;
        roots.add_parsable_certificates(certs);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(e.to_string()))?
        .with_root_certificates(roots);
    let client = if config.client_tls_cert.is_empty() {
        builder.with_no_client_auth()
    } else {
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(config.client_tls_cert.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| tls(format!("client_tls_cert: {e}")))?;
        let key = PrivateKeyDer::from_pem_slice(config.client_tls_key.as_bytes())
            .map_err(|_| tls("client_tls_key is not a PEM private key".into()))?;
        builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| tls(format!("client certificate: {e}")))?
    };
    Ok(LdapConnSettings::new()
        .set_conn_timeout(config.connection_timeout())
        .set_starttls(config.starttls)
        .set_no_tls_verify(config.insecure_tls)
        .set_config(Arc::new(client)))
}
