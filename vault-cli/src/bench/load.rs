//! The load: N clients, each a task with its own connection, running one kind
//! of operation back to back, first for the warm-up (not counted), then until
//! the deadline. Every loop checks its deadline before each operation, so a run
//! ends at most one operation (bounded by the connection's timeout) after it.
//! Errors are counted, never fatal.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::conn::Conn;
use super::histogram::Histogram;
use super::setup::WRITE_PREFIX;
use crate::client::describe;
use crate::logical::Op;

/// What one operation sends.
#[derive(Debug, Clone)]
pub enum Work {
    /// Read one path (kv-read, token-lookup, db-creds).
    Read(&'static str),
    /// Write `body` to a new key under [`WRITE_PREFIX`] each time.
    KvWrite { body: Arc<str> },
    /// Write `body` to `path` (approle-login).
    Write { path: &'static str, body: Arc<str> },
    /// Renew a lease: client `c` of `n` takes the bodies `c`, `c + n`, ... in
    /// turn, so no two clients renew the same lease at once (the vault would
    /// answer the second that the lease is busy).
    Renew { bodies: Arc<[String]> },
}

/// The counts of a measured phase, all clients merged.
#[derive(Debug, Default)]
pub struct Measured {
    /// Latencies of the operations that succeeded.
    pub latencies: Histogram,
    pub errors: u64,
    /// The earliest error's message.
    pub first_error: Option<String>,
    /// From the end of the warm-up until the last client's last operation ended.
    pub seconds: f64,
}

/// One client's counts.
#[derive(Default)]
struct Tally {
    latencies: Histogram,
    errors: u64,
    first_error: Option<(Instant, String)>,
}

/// Runs `work` on every connection: `warmup`, then `duration` measured.
pub async fn run(conns: Vec<Conn>, work: &Work, warmup: Duration, duration: Duration) -> Measured {
    let clients = conns.len();
    let measure_from = Instant::now() + warmup;
    let deadline = measure_from + duration;
    let mut tasks = JoinSet::new();
    for (client, conn) in conns.into_iter().enumerate() {
        let work = work.clone();
        tasks.spawn(async move {
            client_loop(conn, work, client, clients, measure_from, deadline).await
        });
    }
    let mut measured = Measured::default();
    let mut first: Option<(Instant, String)> = None;
    let mut last_end = measure_from;
    while let Some(joined) = tasks.join_next().await {
        let (tally, ended) = match joined {
            Ok(done) => done,
            Err(e) => {
                measured.errors += 1;
                first.get_or_insert((Instant::now(), format!("a client task failed: {e}")));
                continue;
            }
        };
        measured.latencies.merge(&tally.latencies);
        measured.errors += tally.errors;
        if let Some((at, message)) = tally.first_error
            && first.as_ref().is_none_or(|(seen, _)| at < *seen)
        {
            first = Some((at, message));
        }
        last_end = last_end.max(ended);
    }
    measured.first_error = first.map(|(_, message)| message);
    measured.seconds = last_end.duration_since(measure_from).as_secs_f64();
    measured
}

async fn client_loop(
    mut conn: Conn,
    work: Work,
    client: usize,
    clients: usize,
    measure_from: Instant,
    deadline: Instant,
) -> (Tally, Instant) {
    let mut n: u64 = 0;
    while Instant::now() < measure_from {
        let _ = once(&mut conn, &work, client, clients, n).await;
        n += 1;
    }
    let mut tally = Tally::default();
    loop {
        let start = Instant::now();
        if start >= deadline {
            break;
        }
        match once(&mut conn, &work, client, clients, n).await {
            Ok(()) => tally.latencies.record(start.elapsed()),
            Err(status) => {
                tally.errors += 1;
                if tally.first_error.is_none() {
                    tally.first_error = Some((start, describe(&status)));
                }
            }
        }
        n += 1;
    }
    (tally, Instant::now())
}

/// Operation number `n` of `client`.
async fn once(
    conn: &mut Conn,
    work: &Work,
    client: usize,
    clients: usize,
    n: u64,
) -> Result<(), tonic::Status> {
    match work {
        Work::Read(path) => conn.call(Op::Read, path, "").await.map(drop),
        Work::KvWrite { body } => {
            let path = format!("{WRITE_PREFIX}{client}-{n}");
            conn.call(Op::Write, &path, body).await.map(drop)
        }
        Work::Write { path, body } => conn.call(Op::Write, path, body).await.map(drop),
        Work::Renew { bodies } => {
            let body = renewal(bodies, client, clients, n).ok_or_else(|| {
                tonic::Status::failed_precondition("this client has no lease to renew")
            })?;
            conn.call(Op::Write, "sys/leases/renew", body)
                .await
                .map(drop)
        }
    }
}

/// The body client `client` of `clients` sends for its `n`th renewal: its own
/// share of the leases, in turn. None when it has no share (fewer leases than
/// clients, which the caller avoids).
fn renewal(bodies: &[String], client: usize, clients: usize, n: u64) -> Option<&str> {
    let share = bodies.len().saturating_sub(client).div_ceil(clients.max(1));
    if share == 0 {
        return None;
    }
    let turn = usize::try_from(n % share as u64).ok()?;
    bodies.get(client + turn * clients).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_renew_disjoint_shares_covering_every_lease() {
        let bodies: Vec<String> = (0..64).map(|i| i.to_string()).collect();
        for clients in [1, 5, 16, 64] {
            let mut seen = std::collections::HashMap::new();
            for client in 0..clients {
                for n in 0..200 {
                    let body = renewal(&bodies, client, clients, n).unwrap();
                    let owner = *seen.entry(body.to_owned()).or_insert(client);
                    assert_eq!(owner, client, "{body} shared with {clients} clients");
                }
            }
            assert_eq!(seen.len(), 64, "{clients} clients");
        }
        assert_eq!(renewal(&bodies[..3], 3, 4, 0), None);
    }
}
