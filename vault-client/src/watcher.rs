//! [`LeaseWatcher`]: keeps one lease alive in the background until its max TTL,
//! and tells its owner what happened through a stream of [`WatchEvent`]s.
//!
//! One tokio task per lease sleeps until the renew point (by default when two
//! thirds of the TTL left have passed), renews, and sleeps again. It stops
//! renewing when the vault grants less than it asked for ([`WatchEvent::Capped`]:
//! the lease ends at its max TTL and the owner needs a new credential), and it
//! ends when the lease expires, when it is revoked, or when the handle is dropped.
//! Every wait is a `tokio::time` deadline, so tests drive it on a paused clock.
//!
//! Invariants a change must keep:
//! - The loop ends: each turn either returns or moves the next renewal later
//!   than now, and nothing is scheduled past the lease's expiry, which the
//!   vault never moves past the max TTL.
//! - The task never waits for the event consumer (a slow reader must not cost
//!   a renewal), yet the events that end a watch are never dropped: see
//!   [`FINAL_EVENTS`].
//! - The expiry the task believes in is never later than the vault's: a
//!   granted TTL counts from when the renewal was sent, not answered.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep_until, timeout_at};

use crate::{ClientError, LeaseApi, Renewal};

/// How many events wait for the consumer before the task drops progress events.
const EVENT_CAPACITY: usize = 32;

/// Slots kept free for the events that end a watch: at most two are ever sent
/// (`Capped` then `Expired` or `Revoked`), and progress events are only queued
/// while more than this many slots are free, so these always fit.
const FINAL_EVENTS: usize = 2;

/// The longest wait between two attempts at a failing renewal: a lease with
/// days left should not go hours without a try.
const MAX_RETRY: Duration = Duration::from_secs(300);

/// The shortest `min_retry` honoured, so a zero cannot turn a failing vault
/// into a busy loop.
const MIN_RETRY_FLOOR: Duration = Duration::from_millis(10);

/// The default renew point: when this fraction of the TTL left has passed.
const DEFAULT_RENEW_AT_FRACTION: f64 = 2.0 / 3.0;

/// The longest TTL the watcher believes: a century. A TTL comes from the
/// vault (or whatever answers in its place) and may be as large as
/// `u64::MAX` seconds, which no `Instant` can be moved by; taking less than
/// was granted keeps the invariant that our expiry is never later than the
/// vault's.
const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The lease to watch, as a lookup or the response that made it describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedLease {
    /// The lease's id.
    pub lease_id: String,
    /// The TTL it has left now.
    pub lease_duration: Duration,
    /// Whether it may be renewed.
    pub renewable: bool,
}

/// How to watch a lease.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchOptions {
    /// The TTL to ask for at each renewal. `None` (or zero): the lease's
    /// duration when the watch started.
    pub increment: Option<Duration>,
    /// Renew when this fraction of the TTL left has passed. Values outside
    /// (0, 1) mean the default, 2/3.
    pub renew_at_fraction: f64,
    /// Revoke the lease when the [`LeaseWatcher`] is dropped (see there).
    pub revoke_on_drop: bool,
    /// The first wait after a failed renewal; it doubles at each failure (at
    /// most 5 minutes, and at most half the TTL left). At least 10 ms.
    pub min_retry: Duration,
}

impl Default for WatchOptions {
    fn default() -> WatchOptions {
        WatchOptions {
            increment: None,
            renew_at_fraction: DEFAULT_RENEW_AT_FRACTION,
            revoke_on_drop: false,
            min_retry: Duration::from_secs(1),
        }
    }
}

/// What happened to the watched lease.
#[derive(Debug)]
pub enum WatchEvent {
    /// The lease was renewed and now lives `ttl` from the renewal.
    Renewed {
        /// The TTL granted.
        ttl: Duration,
    },
    /// The vault granted less than asked (the lease's max TTL, or the TTL left
    /// on the token that made it), or said the lease cannot be renewed again.
    /// The lease ends after `ttl`: get a new credential before then. The
    /// watcher renews no more; it waits for the expiry and sends `Expired`.
    Capped {
        /// The TTL left, from the renewal.
        ttl: Duration,
    },
    /// A renewal failed. The watcher retries with backoff until the lease
    /// runs out.
    RenewFailed {
        /// Why it failed.
        error: ClientError,
        /// How long the lease still lives, as far as the watcher knows.
        ttl_left: Duration,
    },
    /// The lease's TTL has run out. The last event of a watch.
    Expired,
    /// The lease was revoked through [`LeaseWatcher::revoke`]. The last event
    /// of a watch.
    Revoked,
}

/// The handle of a running watch.
///
/// Dropping it stops the watch. With [`WatchOptions::revoke_on_drop`] the
/// background task first revokes the lease: best effort, as it needs the
/// tokio runtime to keep running until the vault has answered (a process that
/// exits right after the drop may leave the lease to expire instead). Prefer
/// [`LeaseWatcher::revoke`] where the result matters.
pub struct LeaseWatcher {
    lease_id: String,
    api: Arc<dyn LeaseApi>,
    events: mpsc::Receiver<WatchEvent>,
    commands: mpsc::Sender<Command>,
}

/// What the handle asks of the task. Dropping the sender is the other message:
/// "stop".
enum Command {
    Revoke(oneshot::Sender<Result<(), ClientError>>),
}

impl LeaseWatcher {
    /// Starts watching `lease` on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (as `tokio::spawn` does).
    pub fn spawn(
        api: Arc<dyn LeaseApi>,
        lease: WatchedLease,
        options: WatchOptions,
    ) -> LeaseWatcher {
        let (event_tx, events) = mpsc::channel(EVENT_CAPACITY);
        // One slot: `revoke` is the only command, and a second caller can wait.
        let (commands, command_rx) = mpsc::channel(1);
        let renew_at_fraction =
            if options.renew_at_fraction > 0.0 && options.renew_at_fraction < 1.0 {
                options.renew_at_fraction
            } else {
                DEFAULT_RENEW_AT_FRACTION
            };
        let watch = Watch {
            api: Arc::clone(&api),
            lease_id: lease.lease_id.clone(),
            increment: options
                .increment
                .filter(|i| !i.is_zero())
                .unwrap_or(lease.lease_duration),
            renew_at_fraction,
            revoke_on_drop: options.revoke_on_drop,
            min_retry: options.min_retry.max(MIN_RETRY_FLOOR),
            expires_at: expiry(Instant::now(), lease.lease_duration),
            events: event_tx,
            commands: command_rx,
        };
        tokio::spawn(watch.run(lease.renewable));
        LeaseWatcher {
            lease_id: lease.lease_id,
            api,
            events,
            commands,
        }
    }

    /// The watched lease's id.
    pub fn lease_id(&self) -> &str {
        &self.lease_id
    }

    /// The next event; `None` once the watch has ended and every event has
    /// been read.
    pub async fn next_event(&mut self) -> Option<WatchEvent> {
        self.events.recv().await
    }

    /// The event receiver itself, e.g. to poll it in a `select!`.
    pub fn events(&mut self) -> &mut mpsc::Receiver<WatchEvent> {
        &mut self.events
    }

    /// Revokes the lease now and ends the watch with [`WatchEvent::Revoked`].
    ///
    /// If the revocation fails, the error is returned and the watch goes on.
    /// If the watch had already ended (the lease expired), the vault is still
    /// asked, and no event follows.
    pub async fn revoke(&self) -> Result<(), ClientError> {
        let (reply, answer) = oneshot::channel();
        if self.commands.send(Command::Revoke(reply)).await.is_ok()
            && let Ok(result) = answer.await
        {
            return result;
        }
        // The task has ended, or ended before it read the command: the lease
        // expired or is being revoked anyway, and revoking a lease that is
        // gone succeeds, so asking directly gives the caller a true answer.
        self.api.revoke(&self.lease_id).await
    }
}

impl std::fmt::Debug for LeaseWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseWatcher")
            .field("lease_id", &self.lease_id)
            .finish_non_exhaustive()
    }
}

/// The background task's state.
struct Watch {
    api: Arc<dyn LeaseApi>,
    lease_id: String,
    increment: Duration,
    renew_at_fraction: f64,
    revoke_on_drop: bool,
    min_retry: Duration,
    /// When the lease expires, never later than the vault thinks.
    expires_at: Instant,
    events: mpsc::Sender<WatchEvent>,
    commands: mpsc::Receiver<Command>,
}

/// How an awaited step ended: done, or cut short by the handle.
enum Interrupted<T> {
    Done(T),
    Revoke(oneshot::Sender<Result<(), ClientError>>),
    HandleDropped,
}

/// Runs `work` unless the handle says something first. Biased towards the
/// handle: a revocation asked for outranks a renewal falling due.
async fn unless_interrupted<T>(
    commands: &mut mpsc::Receiver<Command>,
    work: impl Future<Output = T>,
) -> Interrupted<T> {
    tokio::select! {
        biased;
        command = commands.recv() => match command {
            Some(Command::Revoke(reply)) => Interrupted::Revoke(reply),
            None => Interrupted::HandleDropped,
        },
        out = work => Interrupted::Done(out),
    }
}

impl Watch {
    async fn run(mut self, renewable: bool) {
        // `None`: renewing is over; only the expiry is left to wait for.
        let mut next_renewal = renewable.then(|| self.renew_point());
        let mut retry = self.min_retry;
        loop {
            let deadline = next_renewal.map_or(self.expires_at, |at| at.min(self.expires_at));
            match unless_interrupted(&mut self.commands, sleep_until(deadline)).await {
                Interrupted::Done(()) => {}
                Interrupted::Revoke(reply) => {
                    if self.revoke_now(reply).await {
                        return;
                    }
                    continue;
                }
                Interrupted::HandleDropped => return self.revoke_if_asked().await,
            }
            if Instant::now() >= self.expires_at {
                self.emit_final(WatchEvent::Expired);
                return;
            }

            let asked_at = Instant::now();
            let call = timeout_at(
                self.expires_at,
                self.api.renew(&self.lease_id, self.increment),
            );
            match unless_interrupted(&mut self.commands, call).await {
                Interrupted::Done(Ok(Ok(renewal))) => {
                    retry = self.min_retry;
                    next_renewal = self.renewed(asked_at, &renewal);
                }
                Interrupted::Done(Ok(Err(error))) => {
                    let now = Instant::now();
                    let ttl_left = self.expires_at.saturating_duration_since(now);
                    tracing::warn!(
                        lease_id = %self.lease_id,
                        error = %error,
                        ttl_left_secs = ttl_left.as_secs(),
                        "lease renewal failed; retrying"
                    );
                    self.emit(WatchEvent::RenewFailed { error, ttl_left });
                    // Half the time left keeps a few tries before the expiry;
                    // the floor keeps the loop from spinning near it. A retry
                    // due after the expiry never runs: the deadline is the expiry.
                    let wait = retry.min(ttl_left / 2).max(self.min_retry);
                    retry = retry.saturating_mul(2).min(MAX_RETRY);
                    next_renewal = Some(now + wait);
                }
                // The lease ran out while the vault was being asked.
                Interrupted::Done(Err(_elapsed)) => {
                    self.emit_final(WatchEvent::Expired);
                    return;
                }
                Interrupted::Revoke(reply) => {
                    // The renewal in flight was abandoned; if the revocation
                    // fails, renew again at once.
                    if self.revoke_now(reply).await {
                        return;
                    }
                    next_renewal = Some(Instant::now());
                }
                Interrupted::HandleDropped => return self.revoke_if_asked().await,
            }
        }
    }

    /// Takes in a successful renewal; returns the next renew point, or `None`
    /// when the lease is capped.
    fn renewed(&mut self, asked_at: Instant, renewal: &Renewal) -> Option<Instant> {
        let capped = !renewal.renewable
            || renewal.lease_duration < self.increment
            || renewal.warnings.iter().any(|w| w.contains("capped"));
        let ttl = renewal.lease_duration.min(MAX_TTL);
        self.expires_at = expiry(asked_at, ttl);
        if capped {
            tracing::info!(
                lease_id = %self.lease_id,
                ttl_secs = ttl.as_secs(),
                "lease renewal capped; the lease ends at its max TTL"
            );
            self.emit_final(WatchEvent::Capped { ttl });
            None
        } else {
            tracing::debug!(lease_id = %self.lease_id, ttl_secs = ttl.as_secs(), "lease renewed");
            self.emit(WatchEvent::Renewed { ttl });
            Some(self.renew_point())
        }
    }

    fn renew_point(&self) -> Instant {
        let now = Instant::now();
        let left = self.expires_at.saturating_duration_since(now);
        now + left.mul_f64(self.renew_at_fraction)
    }

    /// Revokes for the handle; true when the lease is revoked and the watch over.
    async fn revoke_now(&mut self, reply: oneshot::Sender<Result<(), ClientError>>) -> bool {
        let result = self.api.revoke(&self.lease_id).await;
        let revoked = result.is_ok();
        if revoked {
            // Before the reply, so the event is queued when `revoke` returns.
            self.emit_final(WatchEvent::Revoked);
        }
        // The caller may have stopped waiting; the lease's fate is the same.
        let _ = reply.send(result);
        revoked
    }

    async fn revoke_if_asked(self) {
        if !self.revoke_on_drop {
            return;
        }
        // After the expiry there is nothing left to revoke: the vault has.
        match timeout_at(self.expires_at, self.api.revoke(&self.lease_id)).await {
            Ok(Ok(())) => tracing::debug!(lease_id = %self.lease_id, "lease revoked on drop"),
            Ok(Err(error)) => tracing::warn!(
                lease_id = %self.lease_id,
                error = %error,
                "could not revoke the lease on drop; it lives until it expires"
            ),
            Err(_elapsed) => {}
        }
    }

    /// Queues a progress event if the consumer keeps up, else drops it.
    fn emit(&self, event: WatchEvent) {
        if self.events.capacity() > FINAL_EVENTS {
            // Fails only when the receiver is gone, with the handle; the
            // next wait sees that and stops.
            let _ = self.events.try_send(event);
        } else {
            tracing::warn!(
                lease_id = %self.lease_id,
                ?event,
                "the lease watcher's events are not being read; event dropped"
            );
        }
    }

    /// Queues an event that ends renewing; room is always kept (FINAL_EVENTS).
    fn emit_final(&self, event: WatchEvent) {
        // Fails only when the receiver is gone: no one is left to tell.
        let _ = self.events.try_send(event);
    }
}

/// When a lease granted `ttl` at `from` expires, with `ttl` cut to [`MAX_TTL`].
/// Adding can then only overflow for an `Instant` a century from the end of
/// its range; should it, the lease is taken as expiring at `from`, early
/// rather than late.
fn expiry(from: Instant, ttl: Duration) -> Instant {
    from.checked_add(ttl.min(MAX_TTL)).unwrap_or(from)
}

#[cfg(test)]
mod tests;
