//! Per-address token buckets for the attempts a stranger can make without a
//! token: logins (only the failed ones cost in the end) and unseal calls. A guesser from
//! one address is slowed to the refill rate; everyone else is untouched.
//!
//! Addresses are grouped as an attacker gets them: one IPv4 address, or one
//! IPv6 /64 (a single host is usually handed a whole /64). The table is
//! bounded: when full, buckets that have refilled (idle addresses) are
//! forgotten first, and if every one is still draining the oldest half goes.
//! Forgetting a bucket only ever gives an address its burst back, so the bound
//! costs precision under a flood from very many addresses, never correctness
//! for the ones served.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How many addresses are remembered at most.
const MAX_ADDRESSES: usize = 16_384;

/// The slowest refill accepted: one attempt a day. Slower, the wait before an
/// address's next attempt stops being one an operator means (and at about
/// 1e-19 a second it no longer fits in a `Duration`).
pub const MIN_PER_SECOND: f64 = 1.0 / 86_400.0;

/// The longest wait a refusal names: what the slowest accepted rate needs
/// for one attempt. A limiter built without [`RateLimit::validate`] is
/// clamped to it rather than panicking.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// A token bucket's shape: `burst` attempts at once, then `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Attempts an address may make at once (the bucket's size), at least 1.
    pub burst: u32,
    /// Attempts restored per second, at least [`MIN_PER_SECOND`] (one a day).
    pub per_second: f64,
}

impl RateLimit {
    /// Checks the shape; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.burst == 0 {
            return Err("burst must be at least 1".into());
        }
        if !(self.per_second.is_finite() && self.per_second >= MIN_PER_SECOND) {
            return Err(
                "per_second must be a number of at least 1/86400 (one attempt a day)".into(),
            );
        }
        Ok(())
    }
}

/// The rate limits a [`crate::Vault`] applies; `None` turns one off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimits {
    /// Failed logins per client address.
    pub login_failures: Option<RateLimit>,
    /// Unseal calls (a share, or a reset) per client address.
    pub unseal: Option<RateLimit>,
}

impl Default for RateLimits {
    /// 64 failed logins at once then 1 a second; 30 unseal calls then 1 a
    /// second. An application that logs in correctly is not slowed (unless it
    /// has more than 64 logins in flight from one address); an operator
    /// ceremony needs a handful of calls.
    fn default() -> Self {
        RateLimits {
            login_failures: Some(RateLimit {
                burst: 64,
                per_second: 1.0,
            }),
            unseal: Some(RateLimit {
                burst: 30,
                per_second: 1.0,
            }),
        }
    }
}

/// An attempt refused: the address has used its burst. Says when to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// How long until one attempt is available again.
    pub retry_after: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Buckets by client address for one kind of attempt.
#[derive(Debug)]
pub struct AddressLimiter {
    limit: Option<RateLimit>,
    // A std Mutex: held for a map lookup and some arithmetic, never across an
    // await.
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl AddressLimiter {
    /// A limiter with this shape; `None` lets everything through.
    pub fn new(limit: Option<RateLimit>) -> Self {
        AddressLimiter {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Spends one attempt for `addr` if it has one; refuses otherwise. A login
    /// takes one before it is checked and [`Self::refund`]s it on success: so
    /// only failures cost, and a thousand guesses sent at once cannot all be
    /// in flight before the first is counted.
    pub fn acquire(&self, addr: Option<IpAddr>) -> Result<(), Throttled> {
        self.with_bucket(addr)
    }

    /// Gives back an attempt [`Self::acquire`] took (a login that succeeded),
    /// up to the burst.
    pub fn refund(&self, addr: Option<IpAddr>) {
        let (Some(limit), Some(addr)) = (self.limit, addr) else {
            return;
        };
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(bucket) = buckets.get_mut(&group(addr)) {
            bucket.tokens = (bucket.tokens + 1.0).min(f64::from(limit.burst));
        }
    }

    /// Refills `addr`'s bucket to now, refuses if it is empty, and otherwise
    /// spends one attempt.
    fn with_bucket(&self, addr: Option<IpAddr>) -> Result<(), Throttled> {
        // An embedding application's own calls have no address: not limited.
        let (Some(limit), Some(addr)) = (self.limit, addr) else {
            return Ok(());
        };
        let key = group(addr);
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_ADDRESSES && !buckets.contains_key(&key) {
            forget_some(&mut buckets, &limit, now);
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: f64::from(limit.burst),
            updated: now,
        });
        refill(bucket, &limit, now);
        if bucket.tokens < 1.0 {
            let missing = 1.0 - bucket.tokens;
            return Err(Throttled {
                retry_after: retry_after(missing / limit.per_second),
            });
        }
        bucket.tokens -= 1.0;
        Ok(())
    }
}

/// `seconds` as a wait, at most [`MAX_RETRY_AFTER`]: never a panic, whatever
/// the arithmetic gave (too large, infinite or NaN from a rate that was not
/// validated).
fn retry_after(seconds: f64) -> Duration {
    Duration::try_from_secs_f64(seconds).map_or(MAX_RETRY_AFTER, |wait| wait.min(MAX_RETRY_AFTER))
}

fn refill(bucket: &mut Bucket, limit: &RateLimit, now: Instant) {
    let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
    bucket.tokens = (bucket.tokens + elapsed * limit.per_second).min(f64::from(limit.burst));
    bucket.updated = now;
}

/// Makes room: idle (refilled) addresses first, then the oldest half.
fn forget_some(buckets: &mut HashMap<IpAddr, Bucket>, limit: &RateLimit, now: Instant) {
    buckets.retain(|_, b| {
        let mut b = *b;
        refill(&mut b, limit, now);
        b.tokens < f64::from(limit.burst)
    });
    if buckets.len() >= MAX_ADDRESSES {
        let mut times: Vec<Instant> = buckets.values().map(|b| b.updated).collect();
        times.sort_unstable();
        let cut = times[times.len() / 2];
        buckets.retain(|_, b| b.updated > cut);
    }
}

/// The unit an attacker controls: an IPv4 address or an IPv6 /64.
fn group(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Option<IpAddr> {
        text.parse().ok()
    }

    const LIMIT: RateLimit = RateLimit {
        burst: 3,
        per_second: 2.0,
    };

    #[tokio::test(start_paused = true)]
    async fn a_burst_then_the_refill_rate() {
        let limiter = AddressLimiter::new(Some(LIMIT));
        for _ in 0..3 {
            assert!(limiter.acquire(ip("10.0.0.1")).is_ok());
        }
        let refused = limiter.acquire(ip("10.0.0.1")).unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_millis(500));
        // Another address has its own bucket.
        assert!(limiter.acquire(ip("10.0.0.2")).is_ok());
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(limiter.acquire(ip("10.0.0.1")).is_ok());
        assert!(limiter.acquire(ip("10.0.0.1")).is_err());
        // A long pause refills to the burst, no more.
        tokio::time::advance(Duration::from_secs(60)).await;
        for _ in 0..3 {
            assert!(limiter.acquire(ip("10.0.0.1")).is_ok());
        }
        assert!(limiter.acquire(ip("10.0.0.1")).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn refunded_attempts_cost_nothing_and_never_overfill() {
        let limiter = AddressLimiter::new(Some(LIMIT));
        for _ in 0..10 {
            assert!(limiter.acquire(ip("10.0.0.1")).is_ok());
            limiter.refund(ip("10.0.0.1"));
            limiter.refund(ip("10.0.0.1"));
        }
        for _ in 0..3 {
            assert!(limiter.acquire(ip("10.0.0.1")).is_ok());
        }
        assert!(limiter.acquire(ip("10.0.0.1")).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn one_ipv6_slash_64_is_one_address() {
        let limiter = AddressLimiter::new(Some(LIMIT));
        for i in 0..3 {
            assert!(limiter.acquire(ip(&format!("2001:db8::{i}"))).is_ok());
        }
        assert!(limiter.acquire(ip("2001:db8::ffff:1")).is_err());
        assert!(limiter.acquire(ip("2001:db8:0:1::1")).is_ok());
        // An IPv4-mapped address is its IPv4 address.
        for _ in 0..3 {
            assert!(limiter.acquire(ip("::ffff:10.0.0.9")).is_ok());
        }
        assert!(limiter.acquire(ip("10.0.0.9")).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn no_address_or_no_limit_is_never_refused() {
        let limiter = AddressLimiter::new(Some(LIMIT));
        let off = AddressLimiter::new(None);
        for _ in 0..100 {
            assert!(limiter.acquire(None).is_ok());
            assert!(off.acquire(ip("10.0.0.1")).is_ok());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_table_stays_bounded_and_keeps_draining_buckets() {
        let limiter = AddressLimiter::new(Some(LIMIT));
        for _ in 0..3 {
            assert!(limiter.acquire(ip("10.0.0.1")).is_ok());
        }
        tokio::time::advance(Duration::from_millis(1)).await;
        for i in 0..(MAX_ADDRESSES as u32 + 100) {
            let addr = Some(IpAddr::V4((0x0b00_0000 + i).into()));
            assert!(limiter.acquire(addr).is_ok());
            limiter.refund(addr);
        }
        let len = limiter.buckets.lock().unwrap().len();
        assert!(len <= MAX_ADDRESSES, "{len}");
        // The idle addresses went; the one still draining stayed.
        assert!(limiter.acquire(ip("10.0.0.1")).is_err());
    }

    /// 1e-20 a second passed validation, and the wait before a refused
    /// address's next attempt (1e20 s) overflowed `Duration::from_secs_f64`,
    /// which panicked: failed logins past the burst were answered 500.
    /// Validation refuses rates slower than one attempt a day; a limiter made
    /// without validation still never panics, and says a day at most.
    #[tokio::test(start_paused = true)]
    async fn a_rate_too_slow_to_wait_for_is_refused_and_never_panics() {
        let day = Duration::from_secs(86_400);
        let slowest = RateLimit {
            burst: 1,
            per_second: 1.0 / 86_400.0,
        };
        assert!(slowest.validate().is_ok());
        for per_second in [1e-20, 1e-300, f64::MIN_POSITIVE, 1.0 / 86_401.0] {
            let tiny = RateLimit {
                burst: 1,
                per_second,
            };
            let why = tiny.validate().unwrap_err();
            assert!(why.contains("per_second"), "{per_second}: {why}");
            let limiter = AddressLimiter::new(Some(tiny));
            assert!(limiter.acquire(ip("10.0.0.1")).is_ok());
            let refused = limiter.acquire(ip("10.0.0.1")).unwrap_err();
            assert_eq!(refused.retry_after, day, "{per_second}");
        }
        let limiter = AddressLimiter::new(Some(slowest));
        assert!(limiter.acquire(ip("10.0.0.1")).is_ok());
        let refused = limiter.acquire(ip("10.0.0.1")).unwrap_err();
        assert!(refused.retry_after <= day, "{refused:?}");
    }

    #[test]
    fn shapes_are_checked() {
        assert!(LIMIT.validate().is_ok());
        let zero = RateLimit {
            burst: 0,
            per_second: 1.0,
        };
        assert!(zero.validate().unwrap_err().contains("burst"));
        let nan = RateLimit {
            burst: 1,
            per_second: f64::NAN,
        };
        assert!(nan.validate().unwrap_err().contains("per_second"));
    }
}
