//! The gRPC health service, kept in step with the node's state. `""` and
//! `vault.v1.Sys` are SERVING only on a node that serves requests itself:
//! unsealed, and with HA the active node. `vault.standbyok` is also SERVING
//! on an unsealed standby (Vault's `sys/health?standbyok=true`), for load
//! balancers that may send traffic to standbys, which forward it.

use std::sync::Arc;
use std::time::Duration;

use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use vault_core::Vault;
use vault_core::ha::{HaNode, Role};

/// The name the health service reports for the `Sys` service.
pub const SERVICE_NAME: &str = "vault.v1.Sys";

/// The health service name that counts a standby as healthy.
pub const STANDBY_OK: &str = "vault.standbyok";

/// How often the state is looked at besides the change notifications (an
/// unseal of a standby changes no role).
const LOOK_EVERY: Duration = Duration::from_millis(500);

fn status(up: bool) -> ServingStatus {
    if up {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}

/// (serves itself, unsealed at all).
fn state(vault: &Vault, ha: Option<&HaNode>) -> (bool, bool) {
    let unsealed = !vault.barrier().is_sealed();
    let serving = match ha {
        None => unsealed,
        Some(ha) => unsealed && matches!(ha.role(), Role::Active { .. }),
    };
    (serving, unsealed)
}

/// Sets the statuses from the state now.
pub async fn report(vault: &Vault, ha: Option<&HaNode>, health: &HealthReporter) {
    let (serving, unsealed) = state(vault, ha);
    health.set_service_status("", status(serving)).await;
    health
        .set_service_status(SERVICE_NAME, status(serving))
        .await;
    health
        .set_service_status(STANDBY_OK, status(unsealed))
        .await;
}

/// Keeps the statuses current for the life of the daemon.
pub fn spawn_watch(vault: Arc<Vault>, ha: Option<Arc<HaNode>>, health: HealthReporter) {
    tokio::spawn(async move {
        let mut serving = vault.serving();
        let mut role = ha.as_ref().map(|h| h.watch_role());
        let mut last = None;
        loop {
            let now = state(&vault, ha.as_deref());
            if last != Some(now) {
                report(&vault, ha.as_deref(), &health).await;
                last = Some(now);
            }
            let role_changed = async {
                match role.as_mut() {
                    Some(r) => {
                        if r.changed().await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = serving.changed() => {}
                () = role_changed => {}
                () = tokio::time::sleep(LOOK_EVERY) => {}
            }
        }
    });
}
