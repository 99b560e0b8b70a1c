//! A scenario's outcome as people and scripts read it, and the daemon's memory
//! from `/proc/PID/status` (VmRSS, VmHWM) around it.

use serde::Serialize;

use super::load::Measured;
use crate::output::Format;

/// The daemon's memory, KiB.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

/// Reads VmRSS and VmHWM of process `pid`.
pub fn memory(pid: u32) -> anyhow::Result<Memory> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("cannot read {path} (is --pid the daemon's?): {e}"))?;
    parse_status(&text).ok_or_else(|| anyhow::anyhow!("{path} shows no VmRSS and VmHWM"))
}

fn parse_status(text: &str) -> Option<Memory> {
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
    })
}

/// What the revoke-prefix after a database scenario did.
#[derive(Debug, Clone, Copy)]
pub struct Revoked {
    pub leases: u64,
    pub seconds: f64,
}

/// One scenario's line. The JSON field names are the interface scripts use.
#[derive(Debug, Serialize)]
pub struct Outcome {
    pub scenario: &'static str,
    pub clients: usize,
    pub seconds: f64,
    pub ops: u64,
    pub ops_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub rss_before_kib: Option<u64>,
    pub rss_after_kib: Option<u64>,
    pub hwm_after_kib: Option<u64>,
    /// Database scenarios only: leases the final revoke-prefix revoked.
    pub revoked: Option<u64>,
    pub revoke_seconds: Option<f64>,
    pub revoked_per_sec: Option<f64>,
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

fn per_sec(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

impl Outcome {
    /// A scenario that could not run: `error` says why.
    pub fn failed(scenario: &'static str, clients: usize, error: String) -> Outcome {
        let measured = Measured {
            errors: 1,
            first_error: Some(error),
            ..Measured::default()
        };
        Outcome::new(scenario, clients, measured, None, None, None)
    }

    pub fn new(
        scenario: &'static str,
        clients: usize,
        measured: Measured,
        before: Option<Memory>,
        after: Option<Memory>,
        revoked: Option<Revoked>,
    ) -> Outcome {
        let ops = measured.latencies.count();
        Outcome {
            scenario,
            clients,
            seconds: measured.seconds,
            ops,
            ops_per_sec: per_sec(ops, measured.seconds),
            p50_ms: ms(measured.latencies.quantile_micros(0.50)),
            p99_ms: ms(measured.latencies.quantile_micros(0.99)),
            max_ms: ms(measured.latencies.max_micros()),
            errors: measured.errors,
            first_error: measured.first_error,
            rss_before_kib: before.map(|m| m.rss_kib),
            rss_after_kib: after.map(|m| m.rss_kib),
            hwm_after_kib: after.map(|m| m.hwm_kib),
            revoked: revoked.map(|r| r.leases),
            revoke_seconds: revoked.map(|r| r.seconds),
            revoked_per_sec: revoked.map(|r| per_sec(r.leases, r.seconds)),
        }
    }
}

/// Prints the outcomes: a table with one row per scenario (and the errors and
/// revocations under it), or a JSON array.
pub fn print(format: Format, outcomes: &[Outcome]) {
    if format == Format::Json {
        match serde_json::to_string_pretty(outcomes) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("cannot render JSON: {e}"),
        }
        return;
    }
    let kib = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |k| format!("{k} KiB"));
    println!(
        "{:<14} {:>7} {:>7} {:>9} {:>10} {:>8} {:>8} {:>9} {:>6} {:>12} {:>12} {:>12}",
        "Scenario",
        "Clients",
        "Seconds",
        "Ops",
        "Ops/s",
        "p50 ms",
        "p99 ms",
        "Max ms",
        "Errors",
        "RSS before",
        "RSS after",
        "HWM after"
    );
    for o in outcomes {
        println!(
            "{:<14} {:>7} {:>7.2} {:>9} {:>10.1} {:>8.3} {:>8.3} {:>9.3} {:>6} {:>12} {:>12} {:>12}",
            o.scenario,
            o.clients,
            o.seconds,
            o.ops,
            o.ops_per_sec,
            o.p50_ms,
            o.p99_ms,
            o.max_ms,
            o.errors,
            kib(o.rss_before_kib),
            kib(o.rss_after_kib),
            kib(o.hwm_after_kib),
        );
    }
    for o in outcomes {
        if let (Some(leases), Some(seconds), Some(rate)) =
            (o.revoked, o.revoke_seconds, o.revoked_per_sec)
        {
            println!(
                "{}: revoke-prefix revoked {leases} leases in {seconds:.2} s ({rate:.0}/s)",
                o.scenario
            );
        }
        if let Some(error) = &o.first_error {
            println!("{}: first error: {error}", o.scenario);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_status_gives_rss_and_high_water_mark() {
        let text = "Name:\tvaultd\nVmPeak:\t  900 kB\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        let m = parse_status(text).unwrap();
        assert_eq!((m.rss_kib, m.hwm_kib), (10240, 20480));
        assert!(parse_status("Name:\tkthreadd\n").is_none());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_memory_of_this_process_is_readable() {
        let m = memory(std::process::id()).unwrap();
        assert!(m.rss_kib > 0 && m.hwm_kib >= m.rss_kib);
    }
}
