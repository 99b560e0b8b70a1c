//! Fault injection for the SQLite writer's group commit, and the tests that use
//! it: a group of 1 to 32 jobs meets an error at every statement position, and
//! every job answered `Ok` must be in the file, every job answered with an
//! error must be wholly absent or wholly applied, the file must pass
//! `integrity_check`, and the writer must commit the next group.
//!
//! Two sources of failure:
//! - real ones: `PRAGMA max_page_count` makes SQLite itself fail a write with
//!   `SQLITE_FULL`, which in WAL mode abandons the whole transaction, as a full
//!   disk does;
//! - planned ones, through [`step`], which the writer calls before each
//!   statement: the statement fails and the transaction is either left as it
//!   was (what `SQLITE_BUSY` or a statement-level error does) or really rolled
//!   back (what `SQLITE_FULL` or `SQLITE_IOERR` do). They reach positions the
//!   real errors cannot (a savepoint's release, the commit) and combinations
//!   (a group abandoned, then a later statement failing).

use std::cell::{Cell, RefCell};

use rusqlite::{Connection, ffi};

/// What a planned fault does to the transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// The statement fails; the transaction stays open.
    Refuse,
    /// The statement fails and SQLite rolls the whole transaction back.
    Abandon,
}

thread_local! {
    // The writer runs on the test's own thread here (commit_group is called
    // directly), so a thread-local plan reaches it and no other test.
    static PLAN: RefCell<Vec<(u32, Kind)>> = const { RefCell::new(Vec::new()) };
    static COUNT: Cell<u32> = const { Cell::new(0) };
}

/// Plans `faults` (1-based statement positions) for the next statements.
pub(super) fn plan(faults: &[(u32, Kind)]) {
    PLAN.with(|p| *p.borrow_mut() = faults.to_vec());
    COUNT.with(|c| c.set(0));
}

/// Called by the writer before each statement.
pub(super) fn step(conn: &Connection) -> rusqlite::Result<()> {
    let n = COUNT.with(|c| {
        c.set(c.get() + 1);
        c.get()
    });
    let kind = PLAN.with(|p| p.borrow().iter().find(|(at, _)| *at == n).map(|(_, k)| *k));
    match kind {
        None => Ok(()),
        Some(Kind::Refuse) => Err(injected(ffi::SQLITE_BUSY)),
        Some(Kind::Abandon) => {
            if !conn.is_autocommit() {
                conn.execute_batch("ROLLBACK")?;
            }
            Err(injected(ffi::SQLITE_FULL))
        }
    }
}

fn injected(code: i32) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some("injected fault".into()))
}

#[cfg(test)]
mod tests {
    use super::super::{
        WriteJob, commit_group, create_private_file, open_connection, prepare_schema,
    };
    use super::*;
    use crate::storage::{BatchOp, StorageError};

    /// The value a job stores: small, or large enough to pass the page limit.
    fn value(scenario: &str, i: usize, big: bool) -> Vec<u8> {
        let v = format!("{scenario}/{i};");
        if big { v.repeat(200_000 / v.len()) } else { v }.into_bytes()
    }

    /// Job `i` of a scenario: two puts and a delete, all or nothing.
    fn job(scenario: &str, i: usize, big: bool) -> WriteJob {
        let value = value(scenario, i, big);
        let (done, _) = tokio::sync::oneshot::channel();
        WriteJob {
            ops: vec![
                BatchOp::Put {
                    key: format!("{scenario}/{i}/a"),
                    value: value.clone(),
                },
                BatchOp::Put {
                    key: format!("{scenario}/{i}/b"),
                    value,
                },
                BatchOp::Delete {
                    key: format!("{scenario}/{i}/c"),
                },
            ],
            done,
        }
    }

    const OLD: &[u8] = b"old";

    /// A database for a test; `synchronous = OFF` because what is checked is
    /// which transactions commit, not the disk's flushes (the black-box test
    /// `disk_full.rs` covers those), and thousands of scenarios must run fast.
    fn open(dir: &std::path::Path) -> (Connection, std::path::PathBuf) {
        let path = dir.join("v.db");
        create_private_file(&path).unwrap();
        let conn = open_connection(&path, false).unwrap();
        prepare_schema(&conn, &path).unwrap();
        conn.execute_batch("PRAGMA synchronous = OFF").unwrap();
        (conn, path)
    }

    /// One scenario: what each job was answered.
    struct Outcome {
        scenario: String,
        big: Vec<bool>,
        results: Vec<Result<(), String>>,
    }

    fn get(conn: &Connection, key: &str) -> Option<Vec<u8>> {
        use rusqlite::OptionalExtension;
        conn.query_row("SELECT value FROM kv WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .unwrap()
    }

    /// The promise, read through `reader` (a connection that sees only what
    /// committed): `Ok` jobs applied; failed jobs applied or untouched, never
    /// half of either.
    fn broken_promises(reader: &Connection, o: &Outcome) -> Vec<String> {
        let mut broken = Vec::new();
        for (i, result) in o.results.iter().enumerate() {
            let s = &o.scenario;
            let (a, b, c) = (
                get(reader, &format!("{s}/{i}/a")),
                get(reader, &format!("{s}/{i}/b")),
                get(reader, &format!("{s}/{i}/c")),
            );
            let v = value(s, i, o.big[i]);
            let applied = a.as_deref() == Some(&v) && b.as_deref() == Some(&v) && c.is_none();
            let untouched = a.is_none() && b.is_none() && c.as_deref() == Some(OLD);
            match result {
                Ok(()) if !applied => broken.push(format!("{s}: job {i} answered Ok, not stored")),
                Err(e) if !applied && !untouched => {
                    broken.push(format!("{s}: job {i} answered {e:?}, half applied"))
                }
                _ => {}
            }
        }
        broken
    }

    /// Runs one group of `big.len()` jobs with `faults` planned, then checks
    /// that the writer commits a next group.
    fn run(
        conn: &mut Connection,
        scenario: String,
        big: Vec<bool>,
        faults: &[(u32, Kind)],
    ) -> Outcome {
        conn.execute_batch("BEGIN").unwrap();
        for i in 0..big.len() {
            conn.execute(
                "INSERT INTO kv (key, value) VALUES (?1, ?2)",
                rusqlite::params![format!("{scenario}/{i}/c"), OLD],
            )
            .unwrap();
        }
        conn.execute_batch("COMMIT").unwrap();
        let group: Vec<_> = (0..big.len()).map(|i| job(&scenario, i, big[i])).collect();
        plan(faults);
        let results = commit_group(conn, &group)
            .results
            .into_iter()
            .map(|r| r.map_err(|e: StorageError| e.to_string()))
            .collect();
        plan(&[]);
        conn.pragma_update(None, "max_page_count", 1_073_741_823)
            .unwrap();
        let next = commit_group(conn, &[job(&format!("{scenario}-next"), 0, false)]).results;
        assert!(
            matches!(next.as_slice(), [Ok(())]),
            "{scenario}: the writer cannot commit after the fault: {next:?}"
        );
        Outcome {
            scenario,
            big,
            results,
        }
    }

    /// Checks every outcome now, and again through a new connection after the
    /// writer's is closed.
    fn check_all(conn: Connection, path: &std::path::Path, outcomes: &[Outcome]) {
        let reader = open_connection(path, true).unwrap();
        let broken: Vec<_> = outcomes
            .iter()
            .flat_map(|o| broken_promises(&reader, o))
            .collect();
        assert!(
            broken.is_empty(),
            "{} broken:\n{}",
            broken.len(),
            broken.join("\n")
        );
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        drop(reader);
        drop(conn);
        let reopened = open_connection(path, true).unwrap();
        let broken: Vec<_> = outcomes
            .iter()
            .flat_map(|o| broken_promises(&reopened, o))
            .collect();
        assert!(broken.is_empty(), "after reopening: {}", broken.join("\n"));
    }

    fn oks(outcomes: &[Outcome]) -> usize {
        outcomes
            .iter()
            .flat_map(|o| &o.results)
            .filter(|r| r.is_ok())
            .count()
    }

    #[test]
    fn a_real_sqlite_full_at_every_job_of_groups_of_1_to_32() {
        let dir = tempfile::tempdir().unwrap();
        let (mut conn, path) = open(dir.path());
        let mut outcomes = Vec::new();
        for n in 1..=32 {
            for at in 0..n {
                // One large job (the disk fills at it), or every job from it
                // on (the disk stays full).
                for stays_full in [false, true] {
                    let pages: i64 = conn
                        .query_row("PRAGMA page_count", [], |r| r.get(0))
                        .unwrap();
                    let big = (0..n).map(|i| i == at || (stays_full && i > at)).collect();
                    // Room for the small jobs and the setup, not a large one.
                    conn.pragma_update(None, "max_page_count", pages + 24)
                        .unwrap();
                    let scenario = format!("full-{n}-{at}-{stays_full}");
                    let outcome = run(&mut conn, scenario, big, &[]);
                    assert!(
                        outcome.results[at].is_err(),
                        "{}: the large job must fail",
                        outcome.scenario
                    );
                    outcomes.push(outcome);
                }
            }
        }
        assert!(oks(&outcomes) > 0, "no job ever committed");
        check_all(conn, &path, &outcomes);
    }

    /// Statements a group of `n` three-op jobs runs when nothing fails, plus
    /// room for the statements of any retry after a failure.
    fn positions(n: usize) -> u32 {
        (2 * (2 + 5 * n) + 4) as u32
    }

    #[test]
    fn a_planned_fault_at_every_statement_of_groups_of_1_to_32() {
        let dir = tempfile::tempdir().unwrap();
        let (mut conn, path) = open(dir.path());
        let mut outcomes = Vec::new();
        for n in 1..=32 {
            for at in 1..=positions(n) {
                for kind in [Kind::Refuse, Kind::Abandon] {
                    let scenario = format!("plan-{n}-{at}-{kind:?}");
                    outcomes.push(run(&mut conn, scenario, vec![false; n], &[(at, kind)]));
                }
            }
        }
        assert!(oks(&outcomes) > 0, "no job ever committed");
        check_all(conn, &path, &outcomes);
    }

    #[test]
    fn a_group_abandoned_then_a_later_statement_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (mut conn, path) = open(dir.path());
        let mut outcomes = Vec::new();
        for n in 1..=5 {
            let last = positions(n);
            for first in 1..=last {
                for second in first + 1..=last {
                    let scenario = format!("pair-{n}-{first}-{second}");
                    let faults = [(first, Kind::Abandon), (second, Kind::Refuse)];
                    outcomes.push(run(&mut conn, scenario, vec![false; n], &faults));
                }
            }
        }
        assert!(oks(&outcomes) > 0, "no job ever committed");
        check_all(conn, &path, &outcomes);
    }
}
