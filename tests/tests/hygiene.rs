//! Memory hygiene of the real daemon: no core dump, whatever the limit it was
//! started with, and memory locked unless the config says otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;

use vault_tests::{Daemon, bin, init, unseal, write_config};

/// vaultd started through a shell that first allows core files of any size,
/// in `dir` (where a core file would land with the default `core_pattern`).
fn start_allowing_cores(dir: &Path, extra: &str) -> Daemon {
    let config = write_config(dir, extra);
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg("ulimit -c unlimited && exec \"$0\" --config \"$1\"")
        .arg(bin("vaultd"))
        .arg(&config)
        .current_dir(dir);
    Daemon::spawn(command, &config, dir)
}

/// A field of `/proc/PID/status` or a row of `/proc/PID/limits`.
fn proc_line(pid: u32, file: &str, starts: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with(starts))
        .unwrap_or_else(|| panic!("no {starts} in /proc/{pid}/{file}"))
        .to_owned()
}

#[test]
fn an_aborted_daemon_leaves_no_core_dump() {
    let dir = tempfile::tempdir().unwrap();
    // The shell's limit really was raised: the defence is vaultd's own.
    let shell = Command::new("sh")
        .args(["-c", "ulimit -c unlimited && ulimit -c"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&shell.stdout).trim(), "unlimited");

    let daemon = start_allowing_cores(dir.path(), "");
    let keys = init(&daemon, 1, 1);
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    let limit = proc_line(daemon.pid(), "limits", "Max core file size");
    let fields: Vec<&str> = limit.split_whitespace().collect();
    assert_eq!(&fields[4..6], ["0", "0"], "{limit}");

    let status = daemon.signal("ABRT");
    assert_eq!(status.signal(), Some(6), "{status:?}");
    assert!(!status.core_dumped(), "a core was dumped: {status:?}");
    let cores: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("core"))
        .collect();
    assert!(cores.is_empty(), "core files: {cores:?}");
}

#[test]
fn memory_is_locked_unless_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let locked = Daemon::start(dir.path());
    let vmlck = proc_line(locked.pid(), "status", "VmLck:");
    let kib: u64 = vmlck.split_whitespace().nth(1).unwrap().parse().unwrap();
    let log = locked.log_text();
    // Where the OS refuses (no CAP_IPC_LOCK, small RLIMIT_MEMLOCK) the
    // daemon must say so rather than pretend.
    assert!(
        kib > 0 || log.contains("memory could not be locked"),
        "{vmlck}; log: {log}"
    );
    locked.stop();

    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "disable_mlock = true");
    let unlocked = Daemon::start_with(&config, dir.path());
    let vmlck = proc_line(unlocked.pid(), "status", "VmLck:");
    assert_eq!(vmlck.split_whitespace().nth(1), Some("0"), "{vmlck}");
    assert!(unlocked.log_text().contains("disable_mlock = true"));
    unlocked.stop();
}
