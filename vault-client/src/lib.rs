//! vault-client: a library for applications that talk to the vault over gRPC.
//! For now it covers leases: renewing and revoking them ([`GrpcLeases`], behind
//! the [`LeaseApi`] trait), and [`LeaseWatcher`], which keeps a lease alive in
//! the background until its max TTL and says when the caller must fetch a new
//! credential.
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use tonic::transport::Channel;
//! use vault_client::{GrpcLeases, LeaseWatcher, Token, WatchEvent, WatchOptions};
//! use vault_proto::v1::logical_client::LogicalClient;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let channel = Channel::from_static("http://127.0.0.1:8200").connect().await?;
//! let token = Token::new(&std::env::var("VAULT_TOKEN")?)?;
//! let leases = GrpcLeases::new(LogicalClient::new(channel), token);
//!
//! // The lease id came with a secret, e.g. a read of database/creds/app.
//! let lease = leases.lookup("database/creds/app/h2Xk9").await?;
//! let options = WatchOptions { revoke_on_drop: true, ..WatchOptions::default() };
//! let mut watcher = LeaseWatcher::spawn(Arc::new(leases), lease, options);
//! while let Some(event) = watcher.next_event().await {
//!     match event {
//!         WatchEvent::Renewed { .. } | WatchEvent::RenewFailed { .. } => {}
//!         WatchEvent::Capped { ttl } => {
//!             println!("fetch new credentials within {}s", ttl.as_secs());
//!         }
//!         WatchEvent::Expired | WatchEvent::Revoked => break,
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Tokens are held in [`Token`], which never prints its value.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod duration;
mod error;
mod lease_api;
mod token;
mod watcher;

pub use duration::{format_duration, parse_duration};
pub use error::ClientError;
pub use lease_api::{GrpcLeases, LeaseApi, Renewal};
pub use token::Token;
pub use watcher::{LeaseWatcher, WatchEvent, WatchOptions, WatchedLease};
