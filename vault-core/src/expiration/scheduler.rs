//! The background loop that revokes leases on time: it sleeps until the earliest
//! due key (one key read) or until a lease is registered or renewed, then ticks.
//! Its memory is one timer, whatever the number of leases.

use std::future::Future;
use std::time::Duration;

use super::manager::ExpirationManager;
use super::{ExpirationError, Revoker};
use crate::barrier::{Barrier, BarrierError};
use crate::clock;

/// The longest the loop sleeps without looking at the schedule, so a lease
/// written behind its back (another process, a restore) is still met in time.
const MAX_SLEEP: Duration = Duration::from_secs(60);
/// How long the loop waits after a storage error before looking again.
const ERROR_PAUSE: Duration = Duration::from_secs(1);

impl ExpirationManager {
    /// Revokes due leases until `shutdown` completes or the barrier is sealed
    /// (then it returns; the caller starts it again after unseal). Spawn it as
    /// a task owning what it borrows, e.g. an `Arc<Vault>` and the revoker.
    pub async fn run(
        &self,
        barrier: &Barrier,
        revoker: &dyn Revoker,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            let pause = match self.pass(barrier, revoker).await {
                Ok(pause) => pause,
                Err(ExpirationError::Barrier(BarrierError::Sealed)) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "lease expiration pass failed");
                    ERROR_PAUSE
                }
            };
            tokio::select! {
                () = &mut shutdown => return,
                () = self.schedule_changed().notified() => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// One tick at the wall clock; returns how long to sleep until the next due
    /// lease.
    async fn pass(
        &self,
        barrier: &Barrier,
        revoker: &dyn Revoker,
    ) -> Result<Duration, ExpirationError> {
        let now = clock::now_unix_millis();
        let report = self.tick(barrier, revoker, now).await?;
        // A lease left due (busy elsewhere, or a record that does not decode)
        // would otherwise make the loop spin on it.
        let floor = if report.skipped + report.errors > 0 {
            ERROR_PAUSE
        } else {
            Duration::ZERO
        };
        let pause = match self.next_due(barrier).await? {
            Some(due) => Duration::from_millis(due.saturating_sub(clock::now_unix_millis())),
            None => MAX_SLEEP,
        };
        Ok(pause.clamp(floor, MAX_SLEEP))
    }
}
