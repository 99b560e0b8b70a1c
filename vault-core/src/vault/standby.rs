//! Active and standby (high availability): with [`super::VaultOptions::standby`],
//! unsealing opens the barrier and nothing else. The node serves only between
//! [`Vault::activate`] (it took the active lock) and [`Vault::deactivate`]
//! (it lost or gave the lock up); [`crate::ha`] calls both.

use super::{Vault, VaultError};

impl Vault {
    /// True when this vault waits for the active lock after unseal.
    pub fn is_standby_mode(&self) -> bool {
        self.standby
    }

    /// Unsealed and serving: on an HA node, it holds the active lock.
    pub fn is_active(&self) -> bool {
        self.is_ready()
    }

    /// Refuses a request unless this node serves: sealed first, then standby.
    pub(super) fn check_serving(&self) -> Result<(), VaultError> {
        if self.barrier.is_sealed() {
            return Err(VaultError::Sealed);
        }
        if self.standby && !self.is_ready() {
            return Err(VaultError::Standby);
        }
        Ok(())
    }

    /// Becomes the active node: reads the keyring again (another node may have
    /// rotated it, and its reservations count as spent), loads the token key
    /// and mount table, starts the audit devices, and lets the lease schedule
    /// run. Call it only while holding the active lock, with the storage fenced
    /// to it. On failure nothing stays loaded.
    pub async fn activate(&self) -> Result<(), VaultError> {
        let _life = self.lifecycle.lock().await;
        if self.barrier.is_sealed() {
            return Err(VaultError::Sealed);
        }
        if self.is_ready() {
            return Ok(());
        }
        // Nothing may be served unaudited: the gate stays closed until the
        // devices run.
        self.audit.expect_devices(usize::MAX);
        let term = self.barrier.reload_keyring().await?;
        if let Err(e) = self.load_after_unseal().await {
            self.unload();
            return Err(e);
        }
        if let Err(e) = self.start_audit().await {
            tracing::error!(error = %e, "audit devices could not be loaded; not becoming active");
            self.stop_audit().await;
            self.unload();
            return Err(e);
        }
        let mut record = crate::request::Data::new();
        record.insert("outcome".into(), "active".into());
        if let Some(node) = &self.node_id {
            record.insert("node_id".into(), node.clone().into());
        }
        self.audit_lifecycle("sys/ha/active", record).await;
        // Standbys sign their clients' addresses with it (forwarded.rs).
        self.ensure_forwarding_key().await;
        self.ready.send_replace(true);
        tracing::info!(keyring_term = term, "this node is now active");
        Ok(())
    }

    /// Stops serving and unloads what [`Vault::activate`] loaded; the keys
    /// stay, so the node can become active again without an unseal. Requests
    /// already inside finish or fail (a write after the lock is lost is
    /// refused by the storage fence).
    pub async fn deactivate(&self) {
        let mut life = self.lifecycle.lock().await;
        if !*self.ready.borrow() {
            return;
        }
        // A rekey belongs to the node serving it: requests now go to another
        // node, which knows nothing of it. Dropped, as at a seal, its new
        // shares never take effect and the current ones keep working.
        life.rekey = None;
        self.ready.send_replace(false);
        let mut record = crate::request::Data::new();
        record.insert("outcome".into(), "standby".into());
        self.audit_lifecycle("sys/ha/standby", record).await;
        // Saving the chain positions is a write: it fails, and is logged,
        // when the lock was lost rather than given up.
        self.stop_audit().await;
        self.unload();
        tracing::info!("this node is no longer active");
    }

    /// On a standby: reads the keyring again, so a rotation on the active node
    /// is known here before this node takes over. Returns the active term.
    pub async fn refresh_keyring(&self) -> Result<u32, VaultError> {
        self.forget_seen_config();
        Ok(self.barrier.reload_keyring().await?)
    }

    /// A receiver that sees each change of "serving" (unseal, seal, activate,
    /// deactivate).
    pub fn serving(&self) -> tokio::sync::watch::Receiver<bool> {
        self.ready.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::request::{Operation, Request};
    use crate::storage::MemoryBackend;
    use crate::{Vault, VaultError, VaultOptions};

    fn node(backend: &Arc<MemoryBackend>) -> Vault {
        Vault::with_options(
            backend.clone(),
            VaultOptions {
                standby: true,
                node_id: Some("n".into()),
                ..VaultOptions::default()
            },
        )
    }

    fn read_mounts(token: &str) -> Request {
        Request::new(Operation::Read, "sys/mounts").with_token(token)
    }

    #[tokio::test]
    async fn a_standby_serves_nothing_until_activated_and_follows_rotations() {
        let backend = Arc::new(MemoryBackend::new());
        let (a, b) = (node(&backend), node(&backend));
        let init = a.init(1, 1).await.unwrap();
        let share = init.shares[0].to_hex();
        let root = init.root_token.expose_secret().to_owned();
        for v in [&a, &b] {
            v.unseal(share.expose_secret()).await.unwrap();
            assert!(!v.barrier().is_sealed());
            assert!(matches!(
                v.handle(read_mounts(&root)).await,
                Err(VaultError::Standby)
            ));
            assert!(matches!(
                v.sys_as(&root, Operation::Update, "rotate").await,
                Err(VaultError::Standby)
            ));
        }

        a.activate().await.unwrap();
        assert!(a.is_active());
        a.handle(read_mounts(&root)).await.unwrap();
        assert_eq!(
            a.sys_as(&root, Operation::Update, "rotate").await.unwrap()["term"],
            2
        );
        a.barrier().put("app/x", b"under term 2").await.unwrap();

        // The standby's keyring is behind until it reads it again.
        assert_eq!(b.refresh_keyring().await.unwrap(), 2);
        a.deactivate().await;
        assert!(!a.is_active());
        assert!(matches!(
            a.handle(read_mounts(&root)).await,
            Err(VaultError::Standby)
        ));
        b.activate().await.unwrap();
        let value = b.barrier().get("app/x").await.unwrap().unwrap();
        assert_eq!(value.expose_secret(), b"under term 2");
        // A rotation on the new active node continues the sequence.
        assert_eq!(
            b.sys_as(&root, Operation::Update, "rotate").await.unwrap()["term"],
            3
        );
        b.handle(read_mounts(&root)).await.unwrap();
    }
}
