//! High availability: the loop that makes an unsealed node either the active
//! node or a standby, over a PostgreSQL storage several nodes share.
//!
//! A sealed node does not compete. An unsealed one tries the lock
//! ([`lock`](super::lock)) every `poll`; the winner fences the storage to its
//! tenure, calls [`Vault::activate`], and renews the lock every quarter TTL. It
//! steps down at once when a renewal says the lock is gone, when it could not
//! renew before its own deadline (start of the last good renewal plus the TTL),
//! or when the fence refuses a write; it gives the lock up on shutdown, seal
//! and `step_down`. A standby keeps its keyring current and names the active
//! node (from the lock row) so the front end can forward to it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::lock::{HaLock, HaLockOptions, Held};
use super::members::{DEFAULT_MEMBERS_TABLE, Member, Members};
use crate::Vault;
use crate::clock;
use crate::storage::StorageError;
use crate::storage::postgres::PostgresBackend;

/// How long the lock lasts without renewal unless configured: short enough
/// that a standby takes over within about two seconds of the active node's
/// death.
pub const DEFAULT_LOCK_TTL: Duration = Duration::from_secs(2);
/// How often a standby tries the lock unless configured.
pub const DEFAULT_POLL: Duration = Duration::from_millis(250);
/// How long a node that stepped down waits before competing again.
pub const DEFAULT_STEP_DOWN_WAIT: Duration = Duration::from_secs(5);
/// How often a node reports itself in the members table, and a standby reads
/// the keyring again.
const REPORT_EVERY: Duration = Duration::from_secs(1);
/// Errors that repeat every poll are logged at most this often.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Why an HA call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HaError {
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The node id is empty or has a character the holder id reserves.
    #[error("invalid HA node_id {0:?}: use letters, digits, '-', '_' and '.'")]
    InvalidNodeId(String),
    /// `step_down` on a node that is not active.
    #[error("this node is not the active node")]
    NotActive,
}

/// How a node takes part.
#[derive(Debug, Clone)]
pub struct HaOptions {
    /// Unique among the nodes sharing the storage, stable across restarts.
    pub node_id: String,
    /// The address other nodes and clients reach this node's API at
    /// (`http://host:port`).
    pub advertise: String,
    /// How long the lock lasts without renewal.
    pub lock_ttl: Duration,
    /// How often a standby tries the lock.
    pub poll: Duration,
    /// How long a node that stepped down waits before competing again.
    pub step_down_wait: Duration,
    /// The lock table and row.
    pub lock: HaLockOptions,
    /// The members table.
    pub members_table: String,
}

impl HaOptions {
    /// Defaults for `node_id` serving at `advertise`.
    pub fn new(node_id: impl Into<String>, advertise: impl Into<String>) -> HaOptions {
        HaOptions {
            node_id: node_id.into(),
            advertise: advertise.into(),
            lock_ttl: DEFAULT_LOCK_TTL,
            poll: DEFAULT_POLL,
            step_down_wait: DEFAULT_STEP_DOWN_WAIT,
            lock: HaLockOptions::default(),
            members_table: DEFAULT_MEMBERS_TABLE.into(),
        }
    }
}

/// The active node as a standby knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leader {
    /// Its node id.
    pub node_id: String,
    /// Where it serves.
    pub address: String,
}

/// This node's part, as the front end needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Sealed: not competing.
    Sealed,
    /// Unsealed, not holding the lock; `leader` when one is known.
    Standby {
        /// The active node.
        leader: Option<Leader>,
    },
    /// Holding the lock and serving since `since` (Unix milliseconds).
    Active {
        /// When it became active.
        since: u64,
    },
}

/// A node in the members list, with whether it holds the lock now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    /// As it last reported itself.
    pub member: Member,
    /// It is the lock's live holder.
    pub active: bool,
}

/// A node silent for longer than this is shown as `unreachable`.
const SILENT_AFTER_SECS: u64 = 10;

impl MemberView {
    /// `active` (holds the lock now), `unreachable` (silent for a while),
    /// else what it last reported: `standby`, `sealed` or `stopped`. A node
    /// that reported `active` but no longer holds the lock is a `standby`.
    pub fn state(&self) -> &str {
        if self.active {
            return "active";
        }
        match self.member.state.as_str() {
            "stopped" => "stopped",
            _ if self.member.seen_ago > SILENT_AFTER_SECS => "unreachable",
            "active" => "standby",
            other => other,
        }
    }
}

/// How a tenure ended.
enum Ended {
    Shutdown,
    SteppedDown,
    Lost,
}

/// One node's HA loop and what the front end asks of it.
#[derive(Debug)]
pub struct HaNode {
    vault: Arc<Vault>,
    backend: Arc<PostgresBackend>,
    lock: HaLock,
    members: Members,
    options: HaOptions,
    // Unique per process run: a restarted node is a new holder.
    holder: String,
    role: watch::Sender<Role>,
    step_downs: watch::Sender<u64>,
}

/// The node id part of a holder id (`node:run`).
fn node_of(holder: &str) -> &str {
    holder.split_once(':').map_or(holder, |(node, _)| node)
}

fn valid_node_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl HaNode {
    /// Prepares the lock and members tables. The storage stays unfenced while
    /// the node is sealed (so `init` can write the first records, when no node
    /// can hold the lock yet); from unseal on, until this node holds the lock,
    /// every write is refused.
    pub async fn new(
        vault: Arc<Vault>,
        backend: Arc<PostgresBackend>,
        options: HaOptions,
    ) -> Result<HaNode, HaError> {
        if !valid_node_id(&options.node_id) {
            return Err(HaError::InvalidNodeId(options.node_id));
        }
        let skip = options.lock.skip_create_table;
        let lock = HaLock::new(Arc::clone(&backend), options.lock.clone()).await?;
        let members = Members::new(Arc::clone(&backend), &options.members_table, skip).await?;
        let run = crate::random::alphanumeric(12)
            .map_err(|e| HaError::Storage(StorageError::Io(e.to_string())))?;
        let holder = format!("{}:{run}", options.node_id);
        Ok(HaNode {
            vault,
            backend,
            lock,
            members,
            options,
            holder,
            role: watch::Sender::new(Role::Sealed),
            step_downs: watch::Sender::new(0),
        })
    }

    /// This node's part now. Just unsealed, before the loop's next round, it
    /// is a standby that knows no leader yet.
    pub fn role(&self) -> Role {
        let role = self.role.borrow().clone();
        if role == Role::Sealed && !self.vault.barrier().is_sealed() {
            return Role::Standby { leader: None };
        }
        role
    }

    /// Sees each change of role.
    pub fn watch_role(&self) -> watch::Receiver<Role> {
        self.role.subscribe()
    }

    /// The vault this node serves.
    pub fn vault(&self) -> &Arc<Vault> {
        &self.vault
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.options.node_id
    }

    /// Where this node serves.
    pub fn advertise(&self) -> &str {
        &self.options.advertise
    }

    /// Gives the lock up (Vault's `sys/step-down`) and returns once this node
    /// is a standby; it waits `step_down_wait` before competing again.
    pub async fn step_down(&self) -> Result<(), HaError> {
        let mut role = self.role.subscribe();
        if !matches!(*role.borrow_and_update(), Role::Active { .. }) {
            return Err(HaError::NotActive);
        }
        self.step_downs.send_modify(|n| *n += 1);
        // Bounded: the loop answers within one renewal at worst.
        let wait = self.options.lock_ttl * 2 + Duration::from_secs(5);
        let _ =
            tokio::time::timeout(wait, role.wait_for(|r| !matches!(r, Role::Active { .. }))).await;
        Ok(())
    }

    /// The nodes seen recently, the live lock holder marked active.
    pub async fn members(&self) -> Result<Vec<MemberView>, HaError> {
        let holder = self.lock.current().await?;
        let members = self.members.list().await?;
        Ok(members
            .into_iter()
            .map(|member| MemberView {
                active: holder
                    .as_ref()
                    .is_some_and(|h| node_of(&h.holder) == member.node_id),
                member,
            })
            .collect())
    }

    /// Competes for the lock, serves while holding it, and stands by
    /// otherwise, until `shutdown` completes; then gives the lock up.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut noisy = Throttle::default();
        let mut last_report: Option<Instant> = None;
        loop {
            let round = Instant::now();
            let mut expires_in = None;
            let acquired = self
                .stand_by_round(&mut noisy, &mut last_report, &mut expires_in)
                .await;
            let wait = match acquired {
                Some(held) => match self.serve(held, round, &mut shutdown).await {
                    Ended::Shutdown => return,
                    Ended::SteppedDown => {
                        // Not competing for a while, but following the lock:
                        // requests reaching this node are forwarded to
                        // whoever takes it, from the moment they do.
                        if self
                            .follow(self.options.step_down_wait, &mut shutdown)
                            .await
                        {
                            self.report("stopped").await;
                            return;
                        }
                        Duration::ZERO
                    }
                    Ended::Lost => self.options.poll,
                },
                // Try again just after the leader's lock would expire, if
                // that is sooner than the next poll: a dead leader is
                // replaced without waiting out a poll interval too.
                None => match expires_in {
                    Some(e) if e < self.options.poll => e + Duration::from_millis(5),
                    _ => self.options.poll,
                },
            };
            tokio::select! {
                () = &mut shutdown => {
                    self.report("stopped").await;
                    return;
                }
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Looks at the lock every poll interval for `period` without taking it,
    /// and names its holder as the leader. True if `shutdown` came first.
    async fn follow(
        &self,
        period: Duration,
        shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> bool {
        let until = Instant::now() + period;
        loop {
            if let Ok(Some(current)) = self.lock.current().await
                && current.holder != self.holder
            {
                let role = Role::Standby {
                    leader: Some(Leader {
                        node_id: node_of(&current.holder).to_owned(),
                        address: current.advertise,
                    }),
                };
                if self.role.send_if_modified(|r| replace(r, role)) {
                    tracing::info!(leader = %node_of(&current.holder), "standing by");
                }
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            tokio::select! {
                () = shutdown.as_mut() => return true,
                () = tokio::time::sleep(left.min(self.options.poll)) => {}
            }
        }
    }

    /// How long a lock lasts unrenewed: the longest a standby can be without
    /// a leader to name when one is alive.
    pub fn lock_ttl(&self) -> Duration {
        self.options.lock_ttl
    }

    /// One look at the lock as a non-active node: takes it when it is free,
    /// expired, or held by a dead earlier run of this node. Sets `expires_in`
    /// when another node holds it.
    async fn stand_by_round(
        &self,
        noisy: &mut Throttle,
        last_report: &mut Option<Instant>,
        expires_in: &mut Option<Duration>,
    ) -> Option<Held> {
        let due = last_report.is_none_or(|t| t.elapsed() >= REPORT_EVERY);
        if self.vault.barrier().is_sealed() {
            self.role.send_if_modified(|r| replace(r, Role::Sealed));
            if due {
                *last_report = Some(Instant::now());
                self.report("sealed").await;
            }
            return None;
        }
        // Unsealed and not active: no write of this node may land.
        self.backend
            .set_fence(Some(self.lock.standby_fence(&self.holder)));
        let (advertise, ttl) = (&self.options.advertise, self.options.lock_ttl);
        let attempt = match self.lock.current().await {
            Ok(Some(current)) if current.holder == self.holder => {
                self.lock.try_acquire(&self.holder, advertise, ttl).await
            }
            Ok(Some(current)) if node_of(&current.holder) == self.options.node_id => {
                tracing::warn!(
                    "the active lock is held by an earlier run of this node, which is gone; taking it over"
                );
                self.lock
                    .take_over_own(&current.holder, &self.holder, advertise, ttl)
                    .await
            }
            Ok(Some(current)) => {
                *expires_in = Some(current.expires_in);
                let leader = Leader {
                    node_id: node_of(&current.holder).to_owned(),
                    address: current.advertise,
                };
                let role = Role::Standby {
                    leader: Some(leader),
                };
                if self.role.send_if_modified(|r| replace(r, role)) {
                    tracing::info!(leader = %node_of(&current.holder), "standing by");
                }
                Ok(None)
            }
            Ok(None) => self.lock.try_acquire(&self.holder, advertise, ttl).await,
            Err(e) => Err(e),
        };
        let held = match attempt {
            Ok(held) => held,
            Err(e) => {
                if noisy.ready() {
                    tracing::warn!(error = %e, "cannot read or take the active lock; retrying");
                }
                None
            }
        };
        if held.is_none() && due {
            *last_report = Some(Instant::now());
            self.report("standby").await;
            if let Err(e) = self.vault.refresh_keyring().await
                && noisy.ready()
            {
                tracing::warn!(error = %e, "cannot read the keyring as a standby");
            }
        }
        held
    }

    /// Serves while `held` lasts. `acquired` is when the acquisition was
    /// started: the lock cannot outlive it by more than the TTL.
    async fn serve<F: Future<Output = ()>>(
        &self,
        held: Held,
        acquired: Instant,
        shutdown: &mut std::pin::Pin<&mut F>,
    ) -> Ended {
        let ttl = held.ttl;
        self.backend.set_fence(Some(self.lock.fence(&held)));
        let mut fenced = self.backend.fenced_writes();
        fenced.borrow_and_update();
        let mut step_downs = self.step_downs.subscribe();
        step_downs.borrow_and_update();
        if let Err(e) = self.vault.activate().await {
            tracing::error!(error = %e, "could not become active; giving the lock up");
            self.give_up(&held).await;
            return Ended::SteppedDown;
        }
        self.role.send_replace(Role::Active {
            since: clock::now_unix_millis(),
        });
        tracing::info!(generation = held.generation, "holding the active lock");
        let mut serving = self.vault.serving();
        let mut deadline = acquired + ttl;
        let mut next_renewal = acquired + ttl / 4;
        let mut last_report: Option<Instant> = None;
        loop {
            tokio::select! {
                biased;
                () = shutdown.as_mut() => {
                    self.vault.deactivate().await;
                    self.give_up(&held).await;
                    self.report("stopped").await;
                    return Ended::Shutdown;
                }
                _ = step_downs.changed() => {
                    tracing::info!("stepping down on request");
                    self.vault.deactivate().await;
                    self.give_up(&held).await;
                    return Ended::SteppedDown;
                }
                _ = fenced.changed() => {
                    tracing::error!("a write was refused: this node no longer holds the active lock; stepping down");
                    self.lose().await;
                    return Ended::Lost;
                }
                _ = async { serving.wait_for(|s| !*s).await.map(|_| ()) } => {
                    // Sealed: nothing is served here any more.
                    self.give_up(&held).await;
                    return Ended::Lost;
                }
                () = tokio::time::sleep_until(deadline) => {
                    tracing::error!("could not renew the active lock before it expired; stepping down");
                    self.lose().await;
                    return Ended::Lost;
                }
                () = tokio::time::sleep_until(next_renewal) => {
                    let started = Instant::now();
                    match tokio::time::timeout_at(deadline, self.lock.renew(&held)).await {
                        Ok(Ok(true)) => {
                            deadline = started + ttl;
                            next_renewal = started + ttl / 4;
                            if last_report.is_none_or(|t| t.elapsed() >= REPORT_EVERY) {
                                last_report = Some(Instant::now());
                                self.report("active").await;
                            }
                        }
                        Ok(Ok(false)) => {
                            tracing::error!("the active lock was taken or removed; stepping down");
                            self.lose().await;
                            return Ended::Lost;
                        }
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, "renewing the active lock failed; retrying");
                            next_renewal = Instant::now() + ttl / 10;
                        }
                        Err(_) => {
                            tracing::error!("renewing the active lock did not finish before it expired; stepping down");
                            self.lose().await;
                            return Ended::Lost;
                        }
                    }
                }
            }
        }
    }

    /// The lock is gone: refuse writes first, then stop serving.
    async fn lose(&self) {
        self.backend
            .set_fence(Some(self.lock.standby_fence(&self.holder)));
        self.role.send_replace(Role::Standby { leader: None });
        self.vault.deactivate().await;
    }

    /// Gives a lock still held back, so a standby can take it at once.
    async fn give_up(&self, held: &Held) {
        self.backend
            .set_fence(Some(self.lock.standby_fence(&self.holder)));
        let next = if self.vault.barrier().is_sealed() {
            Role::Sealed
        } else {
            Role::Standby { leader: None }
        };
        self.role.send_replace(next);
        match self.lock.release(held).await {
            Ok(true) => tracing::info!("released the active lock"),
            Ok(false) => tracing::warn!("the active lock was no longer ours to release"),
            Err(e) => {
                tracing::warn!(error = %e, "could not release the active lock; it expires on its own")
            }
        }
    }

    /// Best effort: the members list is informative.
    async fn report(&self, state: &str) {
        if let Err(e) = self
            .members
            .report(&self.options.node_id, &self.options.advertise, state)
            .await
        {
            tracing::debug!(error = %e, "could not report this node in the members table");
        }
    }
}

/// Replaces `slot` with `next`; true when it changed.
fn replace(slot: &mut Role, next: Role) -> bool {
    if *slot == next {
        return false;
    }
    *slot = next;
    true
}

/// Lets a repeating log line through at most every [`LOG_EVERY`].
#[derive(Default)]
struct Throttle(Option<Instant>);

impl Throttle {
    fn ready(&mut self) -> bool {
        if self.0.is_some_and(|t| t.elapsed() < LOG_EVERY) {
            return false;
        }
        self.0 = Some(Instant::now());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holder_ids_name_their_node() {
        assert_eq!(node_of("n1:ab12"), "n1");
        assert_eq!(node_of("n1"), "n1");
        assert!(valid_node_id("vault-1.eu_west"));
        assert!(!valid_node_id(""));
        assert!(!valid_node_id("n1:x"));
        assert!(!valid_node_id("n 1"));
    }
}
