//! High availability over a PostgreSQL storage several nodes share, in one
//! place: `node.rs`, the loop that makes an unsealed node the active one or a
//! standby; `lock.rs`, the active lock (one row, renewed, taken over);
//! `fence.rs`, the lock's tenure every write of the active node is checked
//! against; `members.rs`, the nodes as they last reported.

pub mod fence;
pub mod lock;
pub mod members;
mod node;

pub use node::*;
