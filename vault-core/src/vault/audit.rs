//! The vault's audit: its device table started at unseal and stopped at
//! seal, the log every request's entries go to (fail closed), and what the
//! daemon asks of the devices (status, reopen after log rotation).

use crate::audit::request_entries::Record;
use crate::audit::{ApiAuditPolicy, Wait};
use crate::request::{Data, Operation, Request, Response};

use super::{Vault, VaultError};

impl Vault {
    /// What `sys/audit/<name>` may enable (by default nothing): set before the
    /// vault is shared.
    pub fn with_api_audit(mut self, policy: ApiAuditPolicy) -> Self {
        self.audit.set_api_policy(policy);
        self
    }

    /// At unseal and activation: starts every device of the table and of
    /// the daemon's config.
    pub(super) async fn start_audit(&self) -> Result<(), VaultError> {
        self.audit_devices
            .start_all(&self.barrier, &self.audit)
            .await
    }

    /// At seal and shutdown: closes every device with a checkpoint.
    pub(super) async fn stop_audit(&self) {
        self.audit_devices
            .stop_all(&self.barrier, &self.audit)
            .await;
    }

    /// Records a lifecycle event (an unseal, HA activation) as a
    /// request/response pair. Best effort: the event has happened.
    pub(super) async fn audit_lifecycle(&self, path: &str, data: Data) {
        let request = Request::new(Operation::Update, path).with_data(data);
        let done: Result<Response, VaultError> = Ok(Response::default());
        let entries = [
            self.audit_request(&Record::request(&request, None, None))
                .await,
            self.audit_log(&Record::response(&request, None, None, &done))
                .await,
        ];
        for e in entries.into_iter().filter_map(Result::err) {
            tracing::warn!(path, error = %e, "lifecycle call not audited");
        }
    }

    /// The status of every running audit device.
    pub fn audit_status(&self) -> Vec<crate::audit::DeviceStatus> {
        self.audit.all_status()
    }

    /// Reopens every audit file before its next write (SIGHUP, log rotation).
    pub fn audit_reopen(&self) {
        self.audit.reopen_all();
    }

    /// Records `record` and waits until it is durable, with every entry
    /// before it; fails closed. Every answer waits on this, for its
    /// response entry.
    pub(super) async fn audit_log(&self, record: &Record<'_>) -> Result<(), VaultError> {
        Ok(self.audit.log(Wait::Durable, record).await?)
    }

    /// Records a request's `record` before it runs and waits until it is written,
    /// not synced: its response entry, written after it to the same devices,
    /// is synced before the answer and makes both durable. Fails closed: a
    /// request no device could write is not run.
    pub(super) async fn audit_request(&self, record: &Record<'_>) -> Result<(), VaultError> {
        Ok(self.audit.log(Wait::Written, record).await?)
    }
}
