//! Keeping key material out of core dumps and swap.
//!
//! First thing at start, before anything secret is read, vaultd sets its
//! core-file limit to 0 (soft and hard) and marks itself not dumpable: a
//! crash or a SIGABRT writes no image of its memory, and other processes of
//! its user can no longer attach a debugger or read its memory through
//! `/proc`. Then, unless the config says `disable_mlock = true`, it locks its
//! memory (current and future mappings, locked as they are first touched, so
//! nothing is populated early and RSS does not grow): the root key, unseal
//! shares and tokens are never written to swap. Where the OS refuses the
//! lock (no `CAP_IPC_LOCK` and a small `RLIMIT_MEMLOCK`, as in many
//! containers), vaultd says so in a warning and goes on; an operator who
//! accepts that (swap off, or encrypted) silences it with `disable_mlock`.
//!
//! The system calls go through `rustix`, so no `unsafe` is needed here.

use rustix::mm::{MlockAllFlags, mlockall};
use rustix::process::{DumpableBehavior, Resource, Rlimit, set_dumpable_behavior, setrlimit};

/// Core dumps off for this process; fails only if the OS refuses, which
/// Linux does not for lowering one's own limits.
pub fn forbid_core_dumps() -> std::io::Result<()> {
    setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )?;
    set_dumpable_behavior(DumpableBehavior::NotDumpable)?;
    Ok(())
}

/// What came of locking memory.
#[derive(Debug, PartialEq, Eq)]
pub enum MemoryLock {
    /// Locked, current and future mappings.
    Locked,
    /// `disable_mlock = true`.
    Disabled,
    /// The OS refused; the reason.
    Refused(String),
}

/// Locks the process's memory unless `disabled`.
pub fn lock_memory(disabled: bool) -> MemoryLock {
    if disabled {
        return MemoryLock::Disabled;
    }
    let flags = MlockAllFlags::CURRENT | MlockAllFlags::FUTURE | MlockAllFlags::ONFAULT;
    match mlockall(flags) {
        Ok(()) => MemoryLock::Locked,
        Err(e) => MemoryLock::Refused(std::io::Error::from(e).to_string()),
    }
}
