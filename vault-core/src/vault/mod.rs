//! [`Vault`]: the facade over the seal, the barrier and the request pipeline:
//! open ([`Vault::new`], [`Vault::open_sqlite`]), [`Vault::init`],
//! [`Vault::unseal`], [`Vault::handle`] for every operation (a seal, a rekey,
//! a rotation, raw storage, step-down are requests on `sys/` paths like any
//! other), and [`Vault::close`]. What else is public serves the daemon that
//! runs it (HA activation, health, metrics, admission), never an operation.
//!
//! The files here keep the bookkeeping only the vault holds (the mount
//! table, the policy cache, the quota gates, the audit device table, the
//! rekey attempt); the endpoints that act on it are the system backends in
//! [`crate::sys`], which get it through narrow traits ([`system`]).

mod admission;
mod audit;
mod forwarded;
mod handle;
mod init;
mod leases;
mod mfa_login;
mod mounts;
#[cfg(test)]
mod pipeline_tests;
mod rekey;
#[cfg(test)]
mod seal_tests;
mod standby;
mod system;
mod telemetry;
mod token_expiry;
mod unseal;
mod wrapping;
#[cfg(test)]
mod wrapping_tests;

use std::sync::Arc;

use crate::barrier::{Barrier, BarrierOptions};
use crate::router::MountTable;
use crate::seal::attempt::KeyAttempt;
use crate::seal::root_token;
use crate::seal::{SEAL_CONFIG_PATH, SealConfig};
use crate::storage::{Backend, SqliteBackend};
use crate::token::TokenStore;

use crate::error::VaultError;

pub use init::InitOutput;
pub use rekey::{RekeyOutcome, RekeyStatus, RekeyVerifyOutcome, RekeyVerifyStatus};
pub use unseal::UnsealOutcome;

/// What `status` shows: the fields Vault operators know from `sys/seal-status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealStatus {
    /// `shamir`.
    pub seal_type: String,
    /// `init` has run.
    pub initialized: bool,
    /// No keys are loaded.
    pub sealed: bool,
    /// Shares needed to unseal.
    pub t: u32,
    /// Shares in all.
    pub n: u32,
    /// Distinct shares given in the current unseal attempt.
    pub progress: u32,
    /// The attempt's nonce: empty unless the caller presented the root token.
    pub nonce: String,
    /// This build's version.
    pub version: String,
    /// The storage backend's name.
    pub storage_type: String,
}

/// Tuning for a [`Vault`].
#[derive(Debug, Clone, Default)]
pub struct VaultOptions {
    /// Barrier tuning.
    pub barrier: BarrierOptions,
    /// Serve the `raw_*` methods (Vault's `sys/raw`). Off by default: they read and
    /// write any barrier path with only the root token.
    pub raw_storage: bool,
    /// Audit devices declared by the daemon's config: enabled at unseal if not
    /// already.
    pub audit_devices: Vec<crate::audit::DeviceConfig>,
    /// Lease expiration tuning: the retry backoff of failed revocations and the
    /// concurrency of revocations.
    pub expiration: crate::expiration::ExpirationOptions,
    /// High availability: unsealing opens the barrier only, and the node
    /// serves once [`Vault::activate`] is called (by [`crate::ha`] when it
    /// takes the active lock).
    pub standby: bool,
    /// This node's id when several share the storage: it keeps per-node
    /// state (where each node's audit file chain stands) apart.
    pub node_id: Option<String>,
    /// Failed logins and unseal calls allowed per client address.
    pub rate_limits: crate::rate_limit::RateLimits,
}

/// A vault over one storage backend.
#[derive(Debug)]
pub struct Vault {
    barrier: Barrier,
    tokens: TokenStore,
    expiration: crate::expiration::ExpirationManager,
    audit: crate::audit::AuditBroker,
    audit_devices: crate::audit::table::DeviceTable,
    policies: crate::policy::store::PolicyStore,
    identity: crate::identity::IdentityStore,
    /// Login MFA: methods, enforcements, logins waiting for codes.
    mfa: crate::identity::mfa::Mfa,
    // One handler per mount, by mount UUID. A std lock: held only to look up or
    // insert, never across an await.
    engines: std::sync::RwLock<
        std::collections::HashMap<String, Arc<dyn crate::engines::LogicalBackend>>,
    >,
    // Serialises changes to the mount table. A tokio Mutex: held across the write.
    mount_writes: tokio::sync::Mutex<()>,
    // std RwLock: held only to clone or swap the Arc, never across an await.
    mounts: std::sync::RwLock<Arc<MountTable>>,
    raw_storage: bool,
    standby: bool,
    // The HA node this vault runs under, once it exists (it holds the vault,
    // so only a weak reference here): sys/step-down and sys/ha/members.
    ha: std::sync::OnceLock<std::sync::Weak<crate::ha::HaNode>>,
    node_id: Option<String>,
    // Mounts (by uuid) whose leases are being revoked before they are
    // disabled: no new requests are routed to them. std Mutex: never held
    // across an await.
    disabling: std::sync::Mutex<std::collections::HashSet<String>>,
    // Unsealed (and, with HA, active) with the mount table loaded and the
    // audit devices running; the expiration loop waits for it, and stops
    // when it falls (seal, step-down).
    ready: tokio::sync::watch::Sender<bool>,
    // A tokio Mutex: init, unseal, seal and rekey hold it across storage reads and
    // writes so that two of them never interleave.
    lifecycle: tokio::sync::Mutex<Lifecycle>,
    // Every request through `handle` holds it shared; a seal takes it alone,
    // so it waits for the requests in flight (whose request entries are in
    // the audit log) to finish and be recorded before the devices stop, and
    // requests after it queue, then find the vault sealed. Vault's state lock.
    in_flight: tokio::sync::RwLock<()>,
    // The seal configuration as `status` last read it while unsealed, so
    // health checks neither queue on `lifecycle` nor read storage. Filled under
    // `lifecycle`; emptied by seal, rekey and each keyring re-read (an HA
    // standby's, so another node's rekey shows within a second). A std lock:
    // never held across an await.
    seen_config: std::sync::RwLock<Option<Arc<SealConfig>>>,
    // The key standbys sign their clients' addresses with (forwarded.rs),
    // read from the barrier once. std lock: never held across an await.
    forwarding_key: std::sync::RwLock<Option<Arc<crate::secret::Key256>>>,
    quotas: crate::expiration::quotas::LeaseQuotas,
    metrics: crate::metrics::Metrics,
    // The last storage error a request met, and when (see `degraded`). A std
    // Mutex: never held across an await.
    storage_error: std::sync::Mutex<Option<(std::time::Instant, String)>>,
    // The last `degraded` answer and when it was made. A std Mutex: never
    // held across an await.
    degraded_seen: std::sync::Mutex<Option<(std::time::Instant, Vec<String>)>>,
    login_attempts: crate::rate_limit::AddressLimiter,
    unseal_attempts: crate::rate_limit::AddressLimiter,
}

#[derive(Debug, Default)]
struct Lifecycle {
    unseal: Option<KeyAttempt>,
    rekey: Option<rekey::RekeyAttempt>,
}

impl Vault {
    /// A sealed vault over `backend`.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self::with_options(backend, VaultOptions::default())
    }

    /// A sealed vault over `backend`, tuned.
    pub fn with_options(backend: Arc<dyn Backend>, options: VaultOptions) -> Self {
        let vault = Vault {
            barrier: Barrier::new(backend, options.barrier),
            tokens: TokenStore::new(),
            expiration: crate::expiration::ExpirationManager::new(options.expiration),
            audit: crate::audit::AuditBroker::default(),
            audit_devices: crate::audit::table::DeviceTable::new(
                options.audit_devices,
                options.node_id.clone(),
            ),
            policies: crate::policy::store::PolicyStore::default(),
            identity: crate::identity::IdentityStore::default(),
            mfa: crate::identity::mfa::Mfa::default(),
            engines: std::sync::RwLock::new(std::collections::HashMap::new()),
            mount_writes: tokio::sync::Mutex::new(()),
            mounts: std::sync::RwLock::new(Arc::new(MountTable::with_builtins())),
            raw_storage: options.raw_storage,
            ha: std::sync::OnceLock::new(),
            standby: options.standby,
            node_id: options.node_id,
            ready: tokio::sync::watch::Sender::new(false),
            disabling: std::sync::Mutex::new(std::collections::HashSet::new()),
            lifecycle: tokio::sync::Mutex::new(Lifecycle::default()),
            in_flight: tokio::sync::RwLock::new(()),
            seen_config: std::sync::RwLock::new(None),
            forwarding_key: std::sync::RwLock::new(None),
            quotas: crate::expiration::quotas::LeaseQuotas::default(),
            metrics: crate::metrics::Metrics::default(),
            storage_error: std::sync::Mutex::new(None),
            degraded_seen: std::sync::Mutex::new(None),
            login_attempts: crate::rate_limit::AddressLimiter::new(
                options.rate_limits.login_failures,
            ),
            unseal_attempts: crate::rate_limit::AddressLimiter::new(options.rate_limits.unseal),
        };
        vault.metrics.register(
            "vault_storage_operation_duration_seconds",
            "Time in the storage backend, by operation (get, put, delete, list, batch).",
            vault.barrier.latency().clone(),
        );
        vault
    }

    /// A sealed vault over the SQLite file at `path` (created if missing).
    pub fn open_sqlite(path: impl AsRef<std::path::Path>) -> Result<Self, VaultError> {
        Ok(Self::new(Arc::new(SqliteBackend::open(path)?)))
    }

    /// The barrier: encrypted reads and writes for an embedding application.
    /// Paths under `core/` are the vault's own and refused.
    pub fn barrier(&self) -> &Barrier {
        &self.barrier
    }

    /// The lease store, for embedders that issue leases on secrets of their own
    /// making (and import them) outside a mount. Requests go through
    /// [`Vault::handle`] and `sys/leases/`.
    pub fn expiration(&self) -> &crate::expiration::ExpirationManager {
        &self.expiration
    }

    /// The seal status. `token`, if it is the root token, also reveals the unseal
    /// attempt's nonce.
    pub async fn status(&self, token: Option<&str>) -> Result<SealStatus, VaultError> {
        if !self.barrier.is_sealed()
            && let Some(config) = self.seen_config()
        {
            // Unsealed: no attempt is in progress, so no progress or nonce.
            return Ok(self.status_from(Some(&config), 0, String::new()));
        }
        let life = self.lifecycle.lock().await;
        let config = self.seal_config().await?;
        let progress = life.unseal.as_ref().map_or(0, KeyAttempt::progress);
        let show_nonce = match (&config, token) {
            (Some(c), Some(t)) => root_token::verify(t, &c.root_token_verifier),
            _ => false,
        };
        let nonce = match (&life.unseal, show_nonce) {
            (Some(a), true) => a.nonce().to_owned(),
            _ => String::new(),
        };
        if !self.barrier.is_sealed()
            && let Some(c) = &config
        {
            *self.seen_config.write().unwrap_or_else(|p| p.into_inner()) =
                Some(Arc::new(c.clone()));
        }
        Ok(self.status_from(config.as_ref(), progress, nonce))
    }

    fn seen_config(&self) -> Option<Arc<SealConfig>> {
        self.seen_config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Makes the next `status` read the seal configuration from storage.
    fn forget_seen_config(&self) {
        *self.seen_config.write().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Serves `sys/step-down` and `sys/ha/members` through `node`, the HA node
    /// this vault runs under (set once; later calls are ignored).
    pub fn attach_ha(&self, node: &Arc<crate::ha::HaNode>) {
        let _ = self.ha.set(Arc::downgrade(node));
    }

    /// Seals and closes the storage (a clean shutdown).
    pub async fn close(&self) -> Result<(), VaultError> {
        let mut life = self.lifecycle.lock().await;
        if !self.barrier.is_sealed() {
            self.stop_audit().await;
        }
        self.wipe_keys();
        life.unseal = None;
        life.rekey = None;
        Ok(self.barrier.backend().close().await?)
    }

    fn status_from(&self, config: Option<&SealConfig>, progress: u32, nonce: String) -> SealStatus {
        SealStatus {
            seal_type: "shamir".into(),
            initialized: config.is_some(),
            sealed: self.barrier.is_sealed(),
            t: config.map_or(0, |c| c.secret_threshold),
            n: config.map_or(0, |c| c.secret_shares),
            progress,
            nonce,
            version: env!("CARGO_PKG_VERSION").into(),
            storage_type: self.barrier.backend().kind().into(),
        }
    }

    async fn seal_config(&self) -> Result<Option<SealConfig>, VaultError> {
        let Some(raw) = self.barrier.backend().get(SEAL_CONFIG_PATH).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&raw)
            .map(Some)
            .map_err(|e| VaultError::BadSealConfig(e.to_string()))
    }

    /// Loads what lives behind the barrier and is kept in memory: the token hash
    /// key and the mount table.
    async fn load_after_unseal(&self) -> Result<(), VaultError> {
        // Held while loading, so no mount change made in the moment between the
        // barrier opening and the table loading can store a table without it.
        let _serial = self.mount_writes.lock().await;
        self.tokens.load(&self.barrier).await?;
        let table = match self
            .barrier
            .get_internal(crate::router::MOUNT_TABLE_PATH)
            .await?
        {
            Some(raw) => {
                MountTable::from_stored(raw.expose_secret()).map_err(|_| VaultError::Integrity {
                    path: crate::router::MOUNT_TABLE_PATH.into(),
                    reason: "the mount table does not decode",
                })?
            }
            None => MountTable::with_builtins(),
        };
        *self.mounts.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(table);
        Ok(())
    }

    /// Drops every key and everything decrypted that is kept in memory.
    /// Unsealed, with the mount table loaded and the audit devices running.
    pub(super) fn is_ready(&self) -> bool {
        *self.ready.borrow() && !self.barrier.is_sealed()
    }

    fn wipe_keys(&self) {
        self.ready.send_replace(false);
        self.barrier.seal();
        if let Ok(mut key) = self.forwarding_key.write() {
            *key = None;
        }
        self.forget_seen_config();
        self.unload();
    }

    /// Drops every key, once a `sys/seal` request was answered and recorded
    /// and the other requests in flight have finished.
    pub(super) async fn seal_now(&self) {
        let _alone = self.in_flight.write().await;
        let mut life = self.lifecycle.lock().await;
        self.stop_audit().await;
        self.wipe_keys();
        // A rekey is only in memory: dropped here, its new shares (if they
        // await verification) never take effect and the stored seal, the one
        // the current shares open, stays.
        life.rekey = None;
        tracing::info!("vault sealed");
    }

    /// Forgets what was loaded behind the barrier (the keyring stays).
    fn unload(&self) {
        self.tokens.unload();
        self.policies.clear();
        self.identity.unload();
        self.mfa.unload();
        self.quotas.clear();
        if let Ok(mut engines) = self.engines.write() {
            engines.clear();
        }
        *self.mounts.write().unwrap_or_else(|p| p.into_inner()) =
            Arc::new(MountTable::with_builtins());
    }
}

/// The tests' way to the operator endpoints: `operation` on `sys/<path>`
/// as `token`, through the pipeline; the answer's data.
#[cfg(test)]
impl Vault {
    pub(crate) async fn sys_as(
        &self,
        token: &str,
        operation: crate::request::Operation,
        path: &str,
    ) -> Result<crate::request::Data, VaultError> {
        let request =
            crate::request::Request::new(operation, format!("sys/{path}")).with_token(token);
        Ok(self.handle(request).await?.data.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Operation;
    use crate::seal::{self, shamir};

    fn file_bytes(db: &std::path::Path) -> Vec<u8> {
        ["", "-wal", "-shm"]
            .iter()
            .filter_map(|s| std::fs::read(format!("{}{s}", db.display())).ok())
            .flatten()
            .collect()
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[tokio::test]
    async fn no_key_of_any_level_is_stored_in_the_clear() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("vault.db");
        let vault = Vault::open_sqlite(&db).unwrap();
        let init = vault.init(3, 2).await.unwrap();
        for share in &init.shares[..2] {
            vault.unseal(share.to_hex().expose_secret()).await.unwrap();
        }
        vault
            .sys_as(init.root_token.expose_secret(), Operation::Update, "rotate")
            .await
            .unwrap();
        vault.barrier().put("app/x", b"value").await.unwrap();

        let unseal_key = shamir::combine(&init.shares[..2]).unwrap();
        let wrapped = vault
            .barrier()
            .backend()
            .get(seal::ROOT_KEY_PATH)
            .await
            .unwrap()
            .unwrap();
        let unseal_key = crate::secret::Key256::from_slice(unseal_key.expose_secret()).unwrap();
        let root_key = seal::unwrap_root_key(&unseal_key, &wrapped).unwrap();
        let keyring = vault.barrier().current().unwrap();
        let mut keys: Vec<Vec<u8>> = vec![
            unseal_key.expose_secret().to_vec(),
            root_key.expose_secret().to_vec(),
        ];
        for term in [1, 2] {
            keys.push(
                keyring
                    .term(term)
                    .unwrap()
                    .key_for_tests()
                    .expose_secret()
                    .to_vec(),
            );
        }
        let token_key = vault
            .barrier()
            .get_internal(crate::token::TOKEN_KEY_PATH)
            .await
            .unwrap()
            .unwrap();
        keys.push(token_key.expose_secret().to_vec());
        let token = init.root_token.expose_secret().as_bytes().to_vec();
        let bytes = file_bytes(&db);
        assert!(contains(&bytes, b"app/x"), "the scan reads the files");
        assert!(
            !contains(&bytes, &token[2..]),
            "the root token is stored in the clear"
        );
        for key in &keys {
            // A whole key, and its first half: neither may appear.
            assert!(!contains(&bytes, key), "a key is stored in the clear");
            assert!(
                !contains(&bytes, &key[..16]),
                "half a key is stored in the clear"
            );
        }
        vault.close().await.unwrap();
        let bytes = file_bytes(&db);
        for key in &keys {
            assert!(
                !contains(&bytes, &key[..16]),
                "a key is stored in the clear after close"
            );
        }
    }

    #[tokio::test]
    async fn seal_wipes_the_keyring_and_unseal_restores_it() {
        let vault = Vault::new(Arc::new(crate::storage::MemoryBackend::new()));
        let init = vault.init(1, 1).await.unwrap();
        vault
            .unseal(init.shares[0].to_base64().expose_secret())
            .await
            .unwrap();
        vault.barrier().put("a", b"1").await.unwrap();
        let weak = Arc::downgrade(&vault.barrier().current().unwrap());
        vault
            .sys_as(init.root_token.expose_secret(), Operation::Update, "seal")
            .await
            .unwrap();
        // The keyring (and its zeroize-on-drop keys) is gone, not just hidden.
        assert!(weak.upgrade().is_none());
        assert!(matches!(
            vault.barrier().get("a").await,
            Err(crate::barrier::BarrierError::Sealed)
        ));
        vault
            .unseal(init.shares[0].to_hex().expose_secret())
            .await
            .unwrap();
        assert_eq!(
            vault
                .barrier()
                .get("a")
                .await
                .unwrap()
                .unwrap()
                .expose_secret(),
            b"1"
        );
    }
}
