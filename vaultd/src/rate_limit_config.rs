//! `[rate_limit]`: how many failed logins and unseal calls one client address
//! may make (token buckets: `burst` at once, then `per_second`). Defaults
//! apply when the section or a field is left out. `per_second` is at least
//! 1/86400 (one attempt a day): slower is refused at start, as a wait nobody
//! means and, far enough, one a `Duration` cannot hold.
//!
//! ```toml
//! [rate_limit.login_failures]   # failed logins per address
//! burst = 64
//! per_second = 1.0
//! [rate_limit.unseal]           # unseal calls (a share or a reset) per address
//! burst = 30
//! per_second = 1.0
//! # disable = true              # either one can be turned off
//! ```

use serde::Deserialize;
use vault_core::rate_limit::{RateLimit, RateLimits};

use crate::config_error::ConfigError;

/// The whole section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Failed logins per client address.
    pub login_failures: Option<BucketConfig>,
    /// Unseal calls per client address.
    pub unseal: Option<BucketConfig>,
}

/// One bucket; a field left out keeps its default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketConfig {
    /// Attempts at once.
    pub burst: Option<u32>,
    /// Attempts restored per second.
    pub per_second: Option<f64>,
    /// No limit at all.
    #[serde(default)]
    pub disable: bool,
}

impl RateLimitConfig {
    /// The core's limits, or an error naming the bad field.
    pub fn limits(&self) -> Result<RateLimits, ConfigError> {
        let defaults = RateLimits::default();
        Ok(RateLimits {
            login_failures: bucket(
                "login_failures",
                self.login_failures.as_ref(),
                defaults.login_failures,
            )?,
            unseal: bucket("unseal", self.unseal.as_ref(), defaults.unseal)?,
        })
    }
}

fn bucket(
    name: &str,
    config: Option<&BucketConfig>,
    default: Option<RateLimit>,
) -> Result<Option<RateLimit>, ConfigError> {
    let Some(config) = config else {
        return Ok(default);
    };
    if config.disable {
        return Ok(None);
    }
    let base = default.unwrap_or(RateLimit {
        burst: 1,
        per_second: 1.0,
    });
    let limit = RateLimit {
        burst: config.burst.unwrap_or(base.burst),
        per_second: config.per_second.unwrap_or(base.per_second),
    };
    limit
        .validate()
        .map_err(|e| ConfigError(format!("rate_limit.{name}: {e}")))?;
    Ok(Some(limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(text: &str) -> Result<RateLimits, ConfigError> {
        let c: RateLimitConfig = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        c.limits()
    }

    #[test]
    fn defaults_overrides_and_bad_values() {
        assert_eq!(limits("").unwrap(), RateLimits::default());
        let l = limits("[login_failures]\nburst = 5\n[unseal]\ndisable = true").unwrap();
        assert_eq!(l.login_failures.unwrap().burst, 5);
        assert_eq!(
            l.login_failures.unwrap().per_second,
            RateLimits::default().login_failures.unwrap().per_second
        );
        assert_eq!(l.unseal, None);
        let err = limits("[unseal]\nper_second = 0.0").unwrap_err();
        assert!(err.0.contains("rate_limit.unseal: per_second"), "{err}");
        let err = limits("[login_failures]\nburst = 0").unwrap_err();
        assert!(err.0.contains("rate_limit.login_failures: burst"), "{err}");
        assert!(limits("[unseal]\nbrust = 3").is_err());
    }

    /// A rate the limiter cannot wait for (1e-20 a second: 1e20 s) was
    /// accepted, and the first refused login then panicked (HTTP 500).
    #[test]
    fn a_rate_slower_than_once_a_day_is_refused() {
        for bad in ["1e-20", "1e-300", "0.00001", "nan", "inf", "-1.0"] {
            let err = limits(&format!("[login_failures]\nper_second = {bad}")).unwrap_err();
            assert!(
                err.0.contains("rate_limit.login_failures: per_second"),
                "{bad}: {err}"
            );
        }
        let slowest = limits("[unseal]\nper_second = 0.0000116").unwrap();
        assert_eq!(slowest.unseal.unwrap().per_second, 0.0000116);
    }
}
