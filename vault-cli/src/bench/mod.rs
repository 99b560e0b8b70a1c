//! `bench`: a load generator against a running vaultd over gRPC. It prepares
//! what it needs itself under names starting `bench-` ([`setup`]), then runs
//! each scenario with N clients, each on its own connection ([`load`]), and
//! reports throughput, latency percentiles, errors and, given the daemon's pid,
//! its memory before and after ([`report`]).
//!
//! Exit codes: 0 when every scenario ran without an error, 1 when one had
//! errors (or the run could not start), 2 for bad arguments.

mod conn;
mod histogram;
mod load;
mod report;
mod setup;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use self::conn::Conn;
use self::load::Work;
use self::report::{Outcome, Revoked};
use self::setup::{CREDS_PATH, Fixture, Needs, PgUrl, REVOKE_CREDS_PATH};
use crate::client::{Target, describe};
use crate::logical::{Op, data_of};
use crate::output::Format;

/// The longest a scenario may be measured, or warmed up.
const MAX_DURATION: Duration = Duration::from_secs(600);
/// How long one load operation may take before it counts as an error.
const OP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the revoke-prefix after a database scenario may take: a long run
/// issues many thousands of leases, each a role to drop.
const REVOKE_TIMEOUT: Duration = Duration::from_secs(900);
/// Leases issued before lease-renew (more when there are more clients, so that
/// each has its own).
const RENEW_LEASES: usize = 64;

/// What to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Read one 256-byte KV v2 secret.
    KvRead,
    /// Write a new 256-byte KV v2 key each time.
    KvWrite,
    /// auth/token/lookup-self.
    TokenLookup,
    /// Log in with AppRole (role_id and secret_id).
    ApproleLogin,
    /// Issue PostgreSQL credentials (a role each); then revoke them all by prefix.
    DbCreds,
    /// Renew 64 PostgreSQL leases in turn; then revoke them by prefix.
    LeaseRenew,
    /// Each of the above in turn (the database ones only with --pg-url).
    All,
}

const EACH: [Scenario; 6] = [
    Scenario::KvRead,
    Scenario::KvWrite,
    Scenario::TokenLookup,
    Scenario::ApproleLogin,
    Scenario::DbCreds,
    Scenario::LeaseRenew,
];

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::KvRead => "kv-read",
            Scenario::KvWrite => "kv-write",
            Scenario::TokenLookup => "token-lookup",
            Scenario::ApproleLogin => "approle-login",
            Scenario::DbCreds => "db-creds",
            Scenario::LeaseRenew => "lease-renew",
            Scenario::All => "all",
        }
    }

    fn needs_database(self) -> bool {
        matches!(self, Scenario::DbCreds | Scenario::LeaseRenew)
    }
}

/// `bench` arguments (the address, token, CA and format are the global ones).
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// The load to run.
    #[arg(long, value_enum)]
    scenario: Scenario,
    /// Concurrent clients, each with a connection of its own (1..=1024).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024))]
    clients: u16,
    /// How long each scenario is measured (e.g. 10s, 2m; at most 10m).
    #[arg(long, default_value = "10s", value_parser = measured_duration)]
    duration: Duration,
    /// How long each scenario runs, uncounted, before it is measured (at most 10m).
    #[arg(long, default_value = "2s", value_parser = warmup_duration)]
    warmup: Duration,
    /// The daemon's process id: report its VmRSS and VmHWM before and after
    /// each scenario.
    #[arg(long)]
    pid: Option<u32>,
    /// PostgreSQL for db-creds and lease-renew, as a user that may create roles:
    /// postgres://USER:PASSWORD@HOST:PORT/DB.
    #[arg(long = "pg-url", env = "VAULT_BENCH_PG_URL", hide_env_values = true, value_parser = secret_arg)]
    pg_url: Option<SecretArg>,
}

/// An argument holding a password: kept out of Debug output, and parsed by
/// us rather than by clap, whose errors would repeat it.
#[derive(Clone)]
struct SecretArg(String);

impl std::fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

fn secret_arg(text: &str) -> Result<SecretArg, String> {
    Ok(SecretArg(text.to_owned()))
}

fn duration_arg(text: &str) -> Result<Duration, String> {
    let d = vault_client::parse_duration(text).map_err(|e| e.to_string())?;
    if d > MAX_DURATION {
        return Err("at most 10m".into());
    }
    Ok(d)
}

fn measured_duration(text: &str) -> Result<Duration, String> {
    let d = duration_arg(text)?;
    if d.is_zero() {
        return Err("must be more than zero".into());
    }
    Ok(d)
}

fn warmup_duration(text: &str) -> Result<Duration, String> {
    duration_arg(text)
}

/// A bad argument found after parsing: exit 2, as clap's own.
fn usage(message: &str) -> anyhow::Result<u8> {
    eprintln!("Error: {message}");
    Ok(2)
}

/// Runs `bench`, on a multi-threaded runtime of its own: the clients must not
/// share one thread, or the CLI would be what is measured.
pub fn run(target: &Target, format: Format, args: BenchArgs) -> anyhow::Result<u8> {
    let pg = match args
        .pg_url
        .as_ref()
        .map(|u| u.0.parse::<PgUrl>())
        .transpose()
    {
        Ok(pg) => pg,
        // The URL holds a password: the message does not repeat it.
        Err(e) => return usage(&format!("--pg-url: {e}")),
    };
    let scenarios: Vec<Scenario> = match args.scenario {
        Scenario::All => {
            let runnable: Vec<Scenario> = EACH
                .into_iter()
                .filter(|s| pg.is_some() || !s.needs_database())
                .collect();
            if pg.is_none() {
                eprintln!("bench: skipping db-creds and lease-renew: they need --pg-url");
            }
            runnable
        }
        one if one.needs_database() && pg.is_none() => {
            return usage(&format!("--scenario {} needs --pg-url", one.name()));
        }
        one => vec![one],
    };
    if let Some(pid) = args.pid
        && let Err(e) = report::memory(pid)
    {
        return usage(&format!("--pid: {e:#}"));
    }
    let Some(token) = target
        .token
        .clone()
        .filter(|t| !t.is_empty())
        .or_else(crate::token_helper::read)
    else {
        return usage("bench needs a root token (--token or VAULT_TOKEN) to prepare its mounts");
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let bench = Bench {
        target: target.clone(),
        clients: usize::from(args.clients),
        warmup: args.warmup,
        duration: args.duration,
        pid: args.pid,
    };
    let outcomes = runtime.block_on(bench.run_all(&token, &scenarios, pg.as_ref()))?;
    report::print(format, &outcomes);
    Ok(if outcomes.iter().any(|o| o.errors > 0) {
        1
    } else {
        0
    })
}

/// A run's settings.
#[derive(Debug)]
struct Bench {
    target: Target,
    clients: usize,
    warmup: Duration,
    duration: Duration,
    pid: Option<u32>,
}

impl Bench {
    async fn run_all(
        &self,
        root: &str,
        scenarios: &[Scenario],
        pg: Option<&PgUrl>,
    ) -> anyhow::Result<Vec<Outcome>> {
        let mut admin = Conn::connect(&self.target, Some(root), REVOKE_TIMEOUT).await?;
        let rounds = u32::try_from(scenarios.len()).unwrap_or(u32::MAX);
        let needs = Needs {
            approle: scenarios.contains(&Scenario::ApproleLogin),
            database: pg.filter(|_| scenarios.iter().any(|s| s.needs_database())),
            // The whole run, with room for the setup and the revocations.
            token_ttl: (self.warmup + self.duration) * rounds + Duration::from_secs(1800),
        };
        let fixture = setup::prepare(&mut admin, &needs)
            .await
            .context("preparing the bench mounts")?;
        let mut outcomes = Vec::new();
        for &scenario in scenarios {
            eprintln!(
                "bench: {}: {} clients, {:?} warm-up, {:?} measured",
                scenario.name(),
                self.clients,
                self.warmup,
                self.duration
            );
            let outcome = match self.scenario(&mut admin, &fixture, scenario).await {
                Ok(outcome) => outcome,
                Err(e) => Outcome::failed(scenario.name(), self.clients, format!("{e:#}")),
            };
            outcomes.push(outcome);
        }
        // The service token is the run's own; its leases are revoked already.
        let mut service = admin.with_token(Some(&fixture.service_token))?;
        if let Err(e) = service
            .admin(Op::Write, "auth/token/revoke-self", Default::default())
            .await
        {
            eprintln!("bench: could not revoke the service token: {e:#}");
        }
        Ok(outcomes)
    }

    /// Prepares, runs and measures one scenario.
    async fn scenario(
        &self,
        admin: &mut Conn,
        fixture: &Fixture,
        scenario: Scenario,
    ) -> anyhow::Result<Outcome> {
        let service = Some(fixture.service_token.as_str());
        let (work, token) = match scenario {
            Scenario::KvRead => (Work::Read(setup::HOT_SECRET), service),
            Scenario::KvWrite => (
                Work::KvWrite {
                    body: Arc::from(setup::value_256()),
                },
                service,
            ),
            Scenario::TokenLookup => (Work::Read("auth/token/lookup-self"), service),
            Scenario::ApproleLogin => {
                let body = fixture
                    .login_body
                    .as_deref()
                    .context("the AppRole was not prepared")?;
                (
                    Work::Write {
                        path: setup::LOGIN_PATH,
                        body: Arc::from(body),
                    },
                    None,
                )
            }
            Scenario::DbCreds => {
                // Leases a stopped run left would be counted as this one's.
                revoke_creds(admin)
                    .await
                    .context("revoking earlier leases")?;
                (Work::Read(CREDS_PATH), service)
            }
            Scenario::LeaseRenew => {
                revoke_creds(admin)
                    .await
                    .context("revoking earlier leases")?;
                let count = RENEW_LEASES.max(self.clients);
                let issuer = admin.with_token(service)?;
                let bodies = issue_creds(issuer, count).await?;
                (
                    Work::Renew {
                        bodies: bodies.into(),
                    },
                    service,
                )
            }
            Scenario::All => anyhow::bail!("`all` is not one scenario"),
        };
        let conns = self.connect(token).await?;
        let before = self.memory();
        let mut measured = load::run(conns, &work, self.warmup, self.duration).await;
        let after = self.memory();
        let revoked = if scenario.needs_database() {
            let start = Instant::now();
            match revoke_creds(admin).await {
                Ok((leases, failed)) => {
                    if failed > 0 {
                        measured.errors += failed;
                        measured.first_error.get_or_insert_with(|| {
                            format!("revoke-prefix: {failed} leases could not be revoked")
                        });
                    }
                    Some(Revoked {
                        leases,
                        seconds: start.elapsed().as_secs_f64(),
                    })
                }
                Err(e) => {
                    measured.errors += 1;
                    measured.first_error.get_or_insert(format!("{e:#}"));
                    None
                }
            }
        } else {
            None
        };
        Ok(Outcome::new(
            scenario.name(),
            self.clients,
            measured,
            before,
            after,
            revoked,
        ))
    }

    /// One new connection per client, made side by side.
    async fn connect(&self, token: Option<&str>) -> anyhow::Result<Vec<Conn>> {
        let mut tasks = JoinSet::new();
        for i in 0..self.clients {
            let target = self.target.clone();
            let token = token.map(str::to_owned);
            tasks.spawn(async move {
                (
                    i,
                    Conn::connect(&target, token.as_deref(), OP_TIMEOUT).await,
                )
            });
        }
        let mut conns: Vec<Option<Conn>> = vec![None; self.clients];
        while let Some(joined) = tasks.join_next().await {
            let (i, conn) = joined.context("a connecting task failed")?;
            conns[i] = Some(conn?);
        }
        Ok(conns.into_iter().flatten().collect())
    }

    /// The daemon's memory now, when its pid was given. A daemon that went away
    /// reads as unknown: the scenario's errors say why.
    fn memory(&self) -> Option<report::Memory> {
        let pid = self.pid?;
        report::memory(pid)
            .inspect_err(|e| eprintln!("bench: {e:#}"))
            .ok()
    }
}

/// `count` credentials issued through `issuer`, a few at a time: the bodies that
/// renew their leases.
async fn issue_creds(issuer: Conn, count: usize) -> anyhow::Result<Vec<String>> {
    const IN_FLIGHT: usize = 16;
    let mut bodies = Vec::with_capacity(count);
    let mut tasks = JoinSet::new();
    let mut issued = 0;
    while bodies.len() < count {
        while issued < count && tasks.len() < IN_FLIGHT {
            let mut conn = issuer.clone();
            tasks.spawn(async move { conn.call(Op::Read, CREDS_PATH, "").await });
            issued += 1;
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let response = joined
            .context("an issuing task failed")?
            .map_err(|s| anyhow::anyhow!("issuing {CREDS_PATH}: {}", describe(&s)))?;
        if response.lease_id.is_empty() {
            anyhow::bail!("{CREDS_PATH} answered without a lease");
        }
        bodies.push(json!({ "lease_id": response.lease_id }).to_string());
    }
    Ok(bodies)
}

/// Revokes every lease under `bench-db/creds/bench` with one revoke-prefix:
/// (revoked, could not be revoked now).
async fn revoke_creds(admin: &mut Conn) -> anyhow::Result<(u64, u64)> {
    let response = admin
        .call(Op::Write, REVOKE_CREDS_PATH, "")
        .await
        .map_err(|s| anyhow::anyhow!("{REVOKE_CREDS_PATH}: {}", describe(&s)))?;
    let data = data_of(&response)?;
    let count = |key: &str| data.get(key).and_then(Value::as_u64).unwrap_or(0);
    Ok((
        count("revoked"),
        count("retrying") + count("irrevocable") + count("errors") + count("busy"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_password_stays_out_of_debug_output() {
        let arg = secret_arg("postgres://bench:hunter2@127.0.0.1:5432/postgres").unwrap();
        assert!(!format!("{arg:?}").contains("hunter2"));
        assert!(arg.0.parse::<PgUrl>().is_ok());
    }
}
