//! An answered request's audit entries are on disk before its answer leaves:
//! vaultd runs under `strace -f`, and in the order of its system calls the
//! `fdatasync` of the audit file that follows the write of a read's
//! response entry has returned before the answer (which carries the secret)
//! is written to the client's socket. A SIGKILL test cannot show this: the
//! page cache survives a killed process, so an entry written but not yet
//! synced would still be read back.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use std::process::Command;

use serde_json::json;
use vault_tests::http::{http, ok};
use vault_tests::{Daemon, bin, file_device, init, unseal, write_config};

/// The value read back: found in the answer on the socket, never in the
/// audit file (where it is HMAC'd).
const PROBE_VALUE: &str = "order-probe-value-5Jq";
const PROBE_PATH: &str = "secret/data/order-probe";

/// One line of strace's output: the thread, and what it says.
struct Call<'a> {
    pid: &'a str,
    text: &'a str,
}

fn calls(trace: &str) -> Vec<Call<'_>> {
    trace
        .lines()
        .filter_map(|line| {
            let (pid, text) = line.split_once(' ')?;
            pid.parse::<u32>().ok()?;
            Some(Call {
                pid,
                text: text.trim_start(),
            })
        })
        .collect()
}

/// The fd `openat` returned for the audit file.
fn audit_fd(calls: &[Call<'_>]) -> String {
    calls
        .iter()
        .filter(|c| c.text.starts_with("openat(") && c.text.contains("audit.log\""))
        .filter_map(|c| c.text.rsplit_once("= ").map(|(_, fd)| fd.trim().to_owned()))
        .next_back()
        .expect("the audit file's openat is in the trace")
}

/// The index of the line where the `fdatasync(fd)` started at `start`
/// returned: the same line, or its thread's `<... fdatasync resumed>`.
fn returned_at(calls: &[Call<'_>], start: usize) -> usize {
    if !calls[start].text.contains("<unfinished ...>") {
        return start;
    }
    let pid = calls[start].pid;
    (start + 1..calls.len())
        .find(|&i| calls[i].pid == pid && calls[i].text.starts_with("<... fdatasync resumed>"))
        .expect("the fdatasync returned")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reads_response_entry_is_synced_before_its_answer_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let config = write_config(dir.path(), &file_device("file", &log));
    let trace_file = dir.path().join("strace.txt");
    let mut command = Command::new("strace");
    command
        .args(["-f", "-qq", "-s", "65536", "-o"])
        .arg(&trace_file)
        .args(["-e", "trace=openat,fdatasync,write,writev,sendto,sendmsg"])
        .arg(bin("vaultd"))
        .arg("--config")
        .arg(&config);
    let daemon = Daemon::spawn(command, &config, dir.path());
    let keys = init(&daemon, 1, 1);
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    let root = &keys.root_token;
    daemon
        .cli(
            Some(root),
            &["secrets", "enable", "--path", "secret", "kv-v2"],
        )
        .expect_code(0);
    ok(
        &daemon,
        root,
        "POST",
        PROBE_PATH,
        json!({"data": {"v": PROBE_VALUE}}),
    );
    let (code, read) = http(&daemon, root, "GET", PROBE_PATH, None);
    assert_eq!(code, 200, "{read}");
    assert_eq!(read["data"]["data"]["v"], PROBE_VALUE);

    // Stop vaultd itself (strace follows it out), then read the trace.
    let vaultd =
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", daemon.pid())).unwrap();
    let vaultd = vaultd
        .split_whitespace()
        .next()
        .expect("vaultd under strace");
    let status = Command::new("kill")
        .args(["-TERM", vaultd])
        .status()
        .unwrap();
    assert!(status.success());
    daemon.stop();
    let trace = std::fs::read_to_string(&trace_file).unwrap();
    let calls = calls(&trace);
    let fd = audit_fd(&calls);

    // The read's response entry, written to the audit file (the GET is the
    // only request of type response on this path whose operation is read).
    let entry = calls
        .iter()
        .position(|c| {
            (c.text.starts_with(&format!("write({fd}, "))
                || c.text.starts_with(&format!("writev({fd}, ")))
                && c.text.contains("\\\"operation\\\":\\\"read\\\"")
                && c.text
                    .contains(&format!("\\\"path\\\":\\\"{PROBE_PATH}\\\""))
                && c.text.contains("\\\"type\\\":\\\"response\\\"")
        })
        .expect("the read's response entry is written to the audit file");
    let sync = (entry + 1..calls.len())
        .find(|&i| {
            let text = calls[i].text;
            text.starts_with(&format!("fdatasync({fd})"))
                || text.starts_with(&format!("fdatasync({fd} <"))
        })
        .expect("the audit file is synced after the entry");
    let synced = returned_at(&calls, sync);
    // The answer: the first socket write that carries the secret.
    let answer = calls
        .iter()
        .position(|c| {
            c.text.contains(PROBE_VALUE)
                && ["write(", "writev(", "sendto(", "sendmsg("]
                    .iter()
                    .any(|s| c.text.starts_with(s))
                && !c.text.starts_with(&format!("write({fd}, "))
        })
        .expect("the answer is written to the socket");
    assert!(
        synced < answer,
        "the answer (trace line {answer}) left before the audit file's fdatasync returned \
         (line {synced})"
    );
}
