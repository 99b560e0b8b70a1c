//! The one error of reading the config: a configuration the daemon refuses
//! to start with. Its own file, so the config's parts (`ha_config.rs`,
//! `rate_limit_config.rs`) and the whole (`config.rs`) share it without
//! importing each other both ways.

/// A configuration the daemon refuses to start with (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);
