//! The watcher against [`LeaseBook`], an in-process lease kept with the vault's
//! own arithmetic on tokio's paused clock: hours of lease time pass in
//! milliseconds, and every deadline is exact.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::{Instant, sleep, timeout};

use super::*;

const LEASE_ID: &str = "database/creds/app/h2Xk9";

/// More renew calls than any test needs: past it the watcher is spinning.
const MAX_RENEW_CALLS: usize = 1000;

/// Every test's budget, in paused (virtual) time.
const TEST_BUDGET: Duration = Duration::from_secs(24 * 3600);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// One lease, renewed and revoked the way vault-core's expiration manager does
/// it: a renewal sets the expiry to now + increment, never past the max (with
/// Vault's "capped" warning), is refused once the lease has expired or been
/// revoked, and answers the TTL in whole seconds rounded down.
struct LeaseBook {
    // std Mutex: nothing is awaited while it is held.
    state: Mutex<BookState>,
    /// Each way of the round trip: a renewal takes effect `latency` after it
    /// is sent, and its answer arrives `latency` after that.
    latency: Duration,
}

struct BookState {
    expires_at: Instant,
    max_expires_at: Instant,
    renewable: bool,
    revoked: bool,
    /// The next this many renewals fail as on a sealed vault.
    failures_left: u32,
    /// Grant at most this, without a warning (as a vault capping at what the
    /// owning token has left might).
    grant_at_most: Option<Duration>,
    renewals: Vec<RenewCall>,
    revoke_calls: u32,
}

#[derive(Debug, Clone, Copy)]
struct RenewCall {
    at: Instant,
    expiry_before: Instant,
    /// The new expiry; `None` when the renewal was refused.
    expiry_after: Option<Instant>,
}

impl LeaseBook {
    fn issue(ttl: Duration, max_ttl: Duration, renewable: bool) -> Arc<LeaseBook> {
        LeaseBook::issue_with(ttl, max_ttl, renewable, Duration::ZERO, |_| {})
    }

    fn issue_with(
        ttl: Duration,
        max_ttl: Duration,
        renewable: bool,
        latency: Duration,
        adjust: impl FnOnce(&mut BookState),
    ) -> Arc<LeaseBook> {
        let now = Instant::now();
        let mut state = BookState {
            expires_at: now + ttl,
            max_expires_at: now + max_ttl,
            renewable,
            revoked: false,
            failures_left: 0,
            grant_at_most: None,
            renewals: Vec::new(),
            revoke_calls: 0,
        };
        adjust(&mut state);
        Arc::new(LeaseBook {
            state: Mutex::new(state),
            latency,
        })
    }

    fn state(&self) -> MutexGuard<'_, BookState> {
        self.state.lock().unwrap()
    }

    fn watched(&self) -> WatchedLease {
        let state = self.state();
        WatchedLease {
            lease_id: LEASE_ID.to_owned(),
            lease_duration: state.expires_at - Instant::now(),
            renewable: state.renewable,
        }
    }

    fn renewals(&self) -> Vec<RenewCall> {
        self.state().renewals.clone()
    }

    fn renew_now(&self, lease_id: &str, increment: Duration) -> Result<Renewal, ClientError> {
        let refuse = |status| ClientError::Rpc {
            doing: "renewing the lease",
            status,
        };
        let now = Instant::now();
        let mut state = self.state();
        let mut call = RenewCall {
            at: now,
            expiry_before: state.expires_at,
            expiry_after: None,
        };
        let answer = if lease_id != LEASE_ID || state.revoked {
            Err(refuse(tonic::Status::not_found("lease not found")))
        } else if now >= state.expires_at {
            Err(refuse(tonic::Status::invalid_argument("lease expired")))
        } else if !state.renewable {
            Err(refuse(tonic::Status::invalid_argument(
                "lease is not renewable",
            )))
        } else if state.failures_left > 0 {
            state.failures_left -= 1;
            Err(refuse(tonic::Status::unavailable("vault is sealed")))
        } else {
            let mut expiry = now + increment;
            let mut warnings = Vec::new();
            if expiry > state.max_expires_at {
                expiry = state.max_expires_at;
                warnings.push(format!(
                    "TTL of {}s exceeded the effective max_ttl of {}s; TTL value is capped accordingly",
                    increment.as_secs(),
                    (state.max_expires_at - now).as_secs()
                ));
            }
            if let Some(most) = state.grant_at_most {
                expiry = expiry.min(now + most);
            }
            state.expires_at = expiry;
            call.expiry_after = Some(expiry);
            Ok(Renewal {
                lease_duration: secs((expiry - now).as_secs()),
                renewable: true,
                warnings,
            })
        };
        state.renewals.push(call);
        assert!(
            state.renewals.len() <= MAX_RENEW_CALLS,
            "the watcher is spinning"
        );
        answer
    }
}

#[async_trait]
impl LeaseApi for LeaseBook {
    async fn renew(&self, lease_id: &str, increment: Duration) -> Result<Renewal, ClientError> {
        sleep(self.latency).await;
        let answer = self.renew_now(lease_id, increment);
        sleep(self.latency).await;
        answer
    }

    async fn revoke(&self, lease_id: &str) -> Result<(), ClientError> {
        sleep(self.latency).await;
        let mut state = self.state();
        state.revoke_calls += 1;
        if lease_id == LEASE_ID {
            state.revoked = true;
        }
        Ok(())
    }
}

fn spawn(book: &Arc<LeaseBook>, options: WatchOptions) -> LeaseWatcher {
    let api: Arc<dyn LeaseApi> = book.clone();
    LeaseWatcher::spawn(api, book.watched(), options)
}

/// The next event, or a panic if none comes within the test's budget.
async fn next(watcher: &mut LeaseWatcher) -> Option<WatchEvent> {
    timeout(TEST_BUDGET, watcher.next_event())
        .await
        .expect("no event within the test budget")
}

/// Timers have millisecond resolution.
fn assert_near(actual: Duration, expected: Duration) {
    let gap = actual.abs_diff(expected);
    assert!(
        gap <= Duration::from_millis(2),
        "{actual:?} is not {expected:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn renewals_come_before_the_expiry_and_extend_it() {
    let latency = Duration::from_millis(50);
    let book = LeaseBook::issue_with(secs(30), secs(3600), true, latency, |_| {});
    let start = Instant::now();
    let mut watcher = spawn(&book, WatchOptions::default());

    for _ in 0..5 {
        match next(&mut watcher).await {
            Some(WatchEvent::Renewed { ttl }) => assert_eq!(ttl, secs(30)),
            other => panic!("expected Renewed, got {other:?}"),
        }
    }

    let renewals = book.renewals();
    assert_eq!(renewals.len(), 5);
    // The first renewal is sent at two thirds of the TTL and lands one
    // latency later.
    assert_near(renewals[0].at - start, secs(20) + latency);
    for call in &renewals {
        let after = call.expiry_after.expect("every renewal was granted");
        assert!(
            call.at < call.expiry_before,
            "renewed after the expiry: {call:?}"
        );
        assert!(
            after > call.expiry_before,
            "renewal did not extend: {call:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_renewal_capped_at_the_max_ttl_stops_renewing_until_the_expiry() {
    let book = LeaseBook::issue(secs(30), secs(100), true);
    let start = Instant::now();
    let mut watcher = spawn(&book, WatchOptions::default());

    // Renewals at 20s, 40s and 60s each ask for 30s; the one at 80s would pass
    // the max at 100s and is capped to 20s.
    for _ in 0..3 {
        assert!(matches!(
            next(&mut watcher).await,
            Some(WatchEvent::Renewed { .. })
        ));
    }
    match next(&mut watcher).await {
        Some(WatchEvent::Capped { ttl }) => assert_eq!(ttl, secs(20)),
        other => panic!("expected Capped, got {other:?}"),
    }
    assert_near(Instant::now() - start, secs(80));
    assert!(matches!(
        next(&mut watcher).await,
        Some(WatchEvent::Expired)
    ));
    assert_near(Instant::now() - start, secs(100));
    assert!(
        next(&mut watcher).await.is_none(),
        "the watch should be over"
    );

    assert_eq!(book.renewals().len(), 4, "no renewal after the capped one");
    assert_eq!(book.state().revoke_calls, 0);
}

#[tokio::test(start_paused = true)]
async fn a_grant_shorter_than_asked_counts_as_capped() {
    let book = LeaseBook::issue_with(secs(30), secs(3600), true, Duration::ZERO, |s| {
        s.grant_at_most = Some(secs(10));
    });
    let start = Instant::now();
    let mut watcher = spawn(&book, WatchOptions::default());

    match next(&mut watcher).await {
        Some(WatchEvent::Capped { ttl }) => assert_eq!(ttl, secs(10)),
        other => panic!("expected Capped, got {other:?}"),
    }
    assert!(matches!(
        next(&mut watcher).await,
        Some(WatchEvent::Expired)
    ));
    assert_near(Instant::now() - start, secs(30));
    assert!(next(&mut watcher).await.is_none());
    assert_eq!(book.renewals().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn failed_renewals_are_reported_and_retried_with_backoff() {
    let book = LeaseBook::issue_with(secs(30), secs(3600), true, Duration::ZERO, |s| {
        s.failures_left = 2;
    });
    let start = Instant::now();
    let mut watcher = spawn(&book, WatchOptions::default());

    for ttl_expected in [secs(10), secs(9)] {
        match next(&mut watcher).await {
            Some(WatchEvent::RenewFailed { error, ttl_left }) => {
                assert!(error.to_string().contains("vault is sealed"), "{error}");
                assert_near(ttl_left, ttl_expected);
            }
            other => panic!("expected RenewFailed, got {other:?}"),
        }
    }
    match next(&mut watcher).await {
        Some(WatchEvent::Renewed { ttl }) => assert_eq!(ttl, secs(30)),
        other => panic!("expected Renewed, got {other:?}"),
    }

    // At the renew point, then after 1s, then after 2s.
    let times: Vec<Duration> = book.renewals().iter().map(|c| c.at - start).collect();
    assert_eq!(times.len(), 3);
    for (at, expected) in times.into_iter().zip([secs(20), secs(21), secs(23)]) {
        assert_near(at, expected);
    }
}

#[tokio::test(start_paused = true)]
async fn renewals_failing_until_the_expiry_end_with_expired() {
    let book = LeaseBook::issue_with(secs(30), secs(3600), true, Duration::ZERO, |s| {
        s.failures_left = u32::MAX;
    });
    let start = Instant::now();
    let mut watcher = spawn(&book, WatchOptions::default());

    let mut ttls_left = Vec::new();
    loop {
        match next(&mut watcher).await {
            Some(WatchEvent::RenewFailed { ttl_left, .. }) => ttls_left.push(ttl_left),
            Some(WatchEvent::Expired) => break,
            other => panic!("expected RenewFailed or Expired, got {other:?}"),
        }
    }
    assert_near(Instant::now() - start, secs(30));
    assert!(next(&mut watcher).await.is_none());

    assert!(ttls_left.len() >= 3, "too few retries: {ttls_left:?}");
    assert!(
        ttls_left.windows(2).all(|w| w[1] < w[0]),
        "retries should come closer to the expiry: {ttls_left:?}"
    );
    // Retries keep coming until the lease runs out, not one long backoff before.
    assert!(
        ttls_left.last().is_some_and(|left| *left <= secs(1)),
        "{ttls_left:?}"
    );
    let renewals = book.renewals();
    assert_eq!(renewals.len(), ttls_left.len());
    assert!(
        renewals.iter().all(|c| c.at < c.expiry_before),
        "a retry after the expiry"
    );
}

#[tokio::test(start_paused = true)]
async fn a_non_renewable_lease_expires_without_renewals() {
    let book = LeaseBook::issue(secs(30), secs(3600), false);
    let start = Instant::now();
    let mut watcher = spawn(&book, WatchOptions::default());

    assert!(matches!(
        next(&mut watcher).await,
        Some(WatchEvent::Expired)
    ));
    assert_near(Instant::now() - start, secs(30));
    assert!(next(&mut watcher).await.is_none());
    assert!(book.renewals().is_empty());
}

#[tokio::test(start_paused = true)]
async fn revoke_revokes_now_and_ends_the_watch() {
    let book = LeaseBook::issue(secs(30), secs(3600), true);
    let mut watcher = spawn(&book, WatchOptions::default());
    assert!(matches!(
        next(&mut watcher).await,
        Some(WatchEvent::Renewed { .. })
    ));

    watcher.revoke().await.unwrap();
    assert!(matches!(
        next(&mut watcher).await,
        Some(WatchEvent::Revoked)
    ));
    assert!(next(&mut watcher).await.is_none());
    assert!(book.state().revoked);

    let renewed = book.renewals().len();
    sleep(secs(600)).await;
    assert_eq!(
        book.renewals().len(),
        renewed,
        "renewed after the revocation"
    );
}

#[tokio::test(start_paused = true)]
async fn revoke_after_the_watch_ended_still_asks_the_vault() {
    let book = LeaseBook::issue(secs(5), secs(3600), false);
    let mut watcher = spawn(&book, WatchOptions::default());
    assert!(matches!(
        next(&mut watcher).await,
        Some(WatchEvent::Expired)
    ));
    assert!(next(&mut watcher).await.is_none());

    watcher.revoke().await.unwrap();
    assert_eq!(book.state().revoke_calls, 1);
}

#[tokio::test(start_paused = true)]
async fn dropping_with_revoke_on_drop_revokes() {
    let latency = Duration::from_millis(50);
    let book = LeaseBook::issue_with(secs(30), secs(3600), true, latency, |_| {});
    let options = WatchOptions {
        revoke_on_drop: true,
        ..WatchOptions::default()
    };
    let mut watcher = spawn(&book, options);
    assert!(matches!(
        next(&mut watcher).await,
        Some(WatchEvent::Renewed { .. })
    ));
    drop(watcher);

    timeout(secs(10), async {
        while !book.state().revoked {
            sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("not revoked after the drop");
    let renewed = book.renewals().len();
    sleep(secs(600)).await;
    assert_eq!(book.state().revoke_calls, 1);
    assert_eq!(book.renewals().len(), renewed, "renewed after the drop");
    assert_eq!(
        Arc::strong_count(&book),
        1,
        "the task still holds the lease"
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_without_revoke_on_drop_only_stops_the_watch() {
    let book = LeaseBook::issue(secs(30), secs(3600), true);
    drop(spawn(&book, WatchOptions::default()));

    sleep(secs(600)).await;
    assert!(book.renewals().is_empty());
    assert_eq!(book.state().revoke_calls, 0);
    assert_eq!(
        Arc::strong_count(&book),
        1,
        "the task still holds the lease"
    );
}

#[tokio::test(start_paused = true)]
async fn a_consumer_that_does_not_read_delays_no_renewal_and_misses_no_ending() {
    // Renewals every 2s for 10 minutes: far more events than the channel holds.
    let book = LeaseBook::issue(secs(3), secs(600), true);
    let start = Instant::now();
    let mut watcher = spawn(&book, WatchOptions::default());

    sleep(secs(700)).await;
    let renewals = book.renewals();
    assert!(
        renewals.len() > EVENT_CAPACITY,
        "only {} renewals",
        renewals.len()
    );
    assert!(
        renewals
            .iter()
            .all(|c| c.at < c.expiry_before && c.expiry_after.is_some())
    );

    let mut events = Vec::new();
    while let Some(event) = next(&mut watcher).await {
        events.push(event);
    }
    assert!(events.len() <= EVENT_CAPACITY);
    let ending = &events[events.len() - 2..];
    assert!(
        matches!(ending, [WatchEvent::Capped { .. }, WatchEvent::Expired]),
        "{ending:?}"
    );
    assert!(Instant::now() - start >= secs(600));
}

#[tokio::test(start_paused = true)]
async fn a_lease_with_no_time_left_is_expired_at_once() {
    let book = LeaseBook::issue(Duration::ZERO, secs(3600), true);
    let mut watcher = spawn(&book, WatchOptions::default());
    assert!(matches!(
        next(&mut watcher).await,
        Some(WatchEvent::Expired)
    ));
    assert!(book.renewals().is_empty());
}

/// A vault (or a proxy in front of it) that grants whatever TTL it is told
/// to, however large: the watcher must take a TTL near `u64::MAX` seconds
/// without overflowing the instant it computes from it.
struct Generous {
    grant: Duration,
    renew_calls: Mutex<u32>,
}

#[async_trait]
impl LeaseApi for Generous {
    async fn renew(&self, _lease_id: &str, _increment: Duration) -> Result<Renewal, ClientError> {
        *self.renew_calls.lock().unwrap() += 1;
        Ok(Renewal {
            lease_duration: self.grant,
            renewable: true,
            warnings: Vec::new(),
        })
    }

    async fn revoke(&self, _lease_id: &str) -> Result<(), ClientError> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_huge_ttl_at_the_start_does_not_panic() {
    for ttl in [Duration::MAX, secs(u64::MAX), secs(u64::MAX / 2)] {
        let api = Arc::new(Generous {
            grant: ttl,
            renew_calls: Mutex::new(0),
        });
        let lease = WatchedLease {
            lease_id: LEASE_ID.to_owned(),
            lease_duration: ttl,
            renewable: true,
        };
        let mut watcher = LeaseWatcher::spawn(api.clone(), lease, WatchOptions::default());
        // Nothing falls due within a day: no renewal, no event.
        assert!(timeout(TEST_BUDGET, watcher.next_event()).await.is_err());
        assert_eq!(*api.renew_calls.lock().unwrap(), 0);
        watcher.revoke().await.unwrap();
        assert!(matches!(
            next(&mut watcher).await,
            Some(WatchEvent::Revoked)
        ));
    }
}

#[tokio::test(start_paused = true)]
async fn a_huge_ttl_granted_by_a_renewal_does_not_end_the_watch() {
    let api = Arc::new(Generous {
        grant: secs(u64::MAX),
        renew_calls: Mutex::new(0),
    });
    let lease = WatchedLease {
        lease_id: LEASE_ID.to_owned(),
        lease_duration: secs(30),
        renewable: true,
    };
    let mut watcher = LeaseWatcher::spawn(api.clone(), lease, WatchOptions::default());
    // The renewal at 20 s is answered with the huge TTL: the task takes it in
    // (a panic there would end the event stream with no event).
    match next(&mut watcher).await {
        Some(WatchEvent::Renewed { ttl }) => assert!(ttl >= secs(30), "{ttl:?}"),
        other => panic!("expected Renewed, got {other:?}"),
    }
    assert_eq!(*api.renew_calls.lock().unwrap(), 1);
    // The watch goes on, and ends when asked.
    assert!(timeout(TEST_BUDGET, watcher.next_event()).await.is_err());
    watcher.revoke().await.unwrap();
    assert!(matches!(
        next(&mut watcher).await,
        Some(WatchEvent::Revoked)
    ));
}
