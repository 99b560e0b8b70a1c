//! The vault's core library: the Shamir seal, the encrypting barrier and the
//! storage backends. Everything that decides lives here; `vaultd` is a thin gRPC
//! front end over it, and a Rust service can embed it directly.
//!
//! Keys come in three levels (see `DESIGN.md`): the operators' Shamir shares
//! combine into the *unseal key*, which decrypts the *root key*, which decrypts
//! the *keyring* whose terms encrypt every stored value with AES-256-GCM.
//!
//! # Embedding
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use vault_core::{Vault, request::{Operation, Request}, storage::MemoryBackend};
//!
//! let vault = Vault::new(Arc::new(MemoryBackend::new()));
//! let init = vault.init(3, 2).await?;
//! for share in &init.shares[..2] {
//!     vault.unseal(share.to_hex().expose_secret()).await?;
//! }
//! vault.barrier().put("app/config", b"s3cr3t").await?;
//! let value = vault.barrier().get("app/config").await?.expect("just written");
//! assert_eq!(value.expose_secret(), b"s3cr3t");
//! let token = init.root_token.expose_secret();
//! vault.handle(Request::new(Operation::Update, "sys/seal").with_token(token)).await?;
//! assert!(vault.barrier().get("app/config").await.is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! `Vault::open_sqlite(path)` gives the same over the embedded SQLite store; see
//! `examples/embedded.rs`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;
pub mod auth;
pub mod barrier;
pub mod clock;
pub mod engines;
mod error;
pub mod expiration;
pub mod ha;
pub mod https_client;
pub mod identity;
pub mod json_limits;
pub mod metrics;
pub mod net;
pub mod params;
pub mod path;
mod pg;
pub mod policy;
pub mod random;
pub mod rate_limit;
pub mod request;
pub mod router;
pub mod seal;
pub mod secret;
pub mod storage;
mod sys;
mod time_id;
pub mod token;
mod vault;
pub mod wrapping;

pub use error::VaultError;
pub use vault::{
    InitOutput, RekeyOutcome, RekeyStatus, RekeyVerifyOutcome, RekeyVerifyStatus, SealStatus,
    UnsealOutcome, Vault, VaultOptions,
};
