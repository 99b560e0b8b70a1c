//! The directory's own bind rate, the ceiling of the `ldap_login` benchmark
//! (bench/vaultd/run.sh): N connections to one LDAP server, each binding as
//! one user in a loop, a warm-up then a measured run of fixed length, as
//! wrk drives the vault (16 connections, 2 s warm-up, 10 s measured). Prints
//! one line `BENCHJSON {...}` with the fields wrk's scripts report
//! (`rps_ok`, `lat_p50_ms`, `lat_p99_ms`, errors), loopback only.
//!
//!   ldap_bind_rate URL DN PASSWORD [CONNECTIONS] [SECONDS] [WARMUP_SECONDS]

#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        bail!("usage: ldap_bind_rate URL DN PASSWORD [CONNECTIONS] [SECONDS] [WARMUP_SECONDS]");
    }
    let (url, dn, password) = (args[0].clone(), args[1].clone(), args[2].clone());
    if !(url.starts_with("ldap://127.") || url.starts_with("ldaps://127.")) {
        bail!("refusing a non-loopback server: {url}");
    }
    let number = |i: usize, default: u64| -> anyhow::Result<u64> {
        args.get(i)
            .map_or(Ok(default), |a| a.parse().context("a number"))
    };
    let connections = number(3, 16)?.clamp(1, 256);
    let seconds = number(4, 10)?.clamp(1, 120);
    let warmup = number(5, 2)?.min(30);
    let start = Instant::now() + Duration::from_secs(warmup);
    let end = start + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (url, dn, password) = (url.clone(), dn.clone(), password.clone());
        tasks.push(tokio::spawn(async move {
            let (conn, mut ldap) = ldap3::LdapConnAsync::new(&url).await?;
            ldap3::drive!(conn);
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < end {
                let began = Instant::now();
                let ok = ldap
                    .with_timeout(Duration::from_secs(10))
                    .simple_bind(&dn, &password)
                    .await
                    .is_ok_and(|r| r.rc == 0);
                if began >= start {
                    if ok {
                        latencies.push(began.elapsed());
                    } else {
                        errors += 1;
                    }
                }
            }
            let _ = ldap.unbind().await;
            Ok::<_, ldap3::LdapError>((latencies, errors))
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await??;
        latencies.extend(l);
        errors += e;
    }
    latencies.sort();
    let pick = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q).round() as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "BENCHJSON {}",
        serde_json::json!({
            "test": "ldap_bind_ceiling",
            "duration_s": seconds,
            "ok": latencies.len(),
            "rps_ok": latencies.len() as f64 / seconds as f64,
            "lat_p50_ms": pick(0.50),
            "lat_p99_ms": pick(0.99),
            "err_status": errors,
        })
    );
    Ok(())
}
