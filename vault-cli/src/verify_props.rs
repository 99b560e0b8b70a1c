//! Property tests for the audit log verifier: the checks of the `audit_verify`
//! fuzz target (`fuzz/`), run on stable by the normal suite. Any bytes, as one
//! file or several, verify or are reported, never a panic; a log written to the
//! spec verifies; one changed byte, or lines removed, repeated or moved, are
//! reported unless what remains is itself a whole log.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;
use serde_json::{Value, json};

use crate::verify::{GENESIS_HASH, Mark, Options, Problem, Summary, canonical, sha256_hex, verify};

/// What happens between a session's `open` and `shutdown` checkpoints.
#[derive(Debug, Clone)]
enum Event {
    Request { path: String, data: Value },
    Periodic,
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        // Finite only: JSON has no NaN or infinity.
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    let data = vec((any::<String>(), scalar()), 0..4)
        .prop_map(|pairs| Value::Object(pairs.into_iter().collect()));
    prop_oneof![
        4 => (any::<String>(), data).prop_map(|(path, data)| Event::Request { path, data }),
        1 => Just(Event::Periodic),
    ]
}

/// A log as the vault writes it: sessions, each `open ... shutdown`.
#[derive(Debug, Clone)]
struct Log {
    lines: Vec<String>,
    /// Which lines are `open` and `shutdown` checkpoints.
    opens: Vec<bool>,
    shutdowns: Vec<bool>,
    last_hash: String,
}

impl Log {
    fn write(sessions: &[Vec<Event>]) -> Log {
        let mut log = Log {
            lines: Vec::new(),
            opens: Vec::new(),
            shutdowns: Vec::new(),
            last_hash: GENESIS_HASH.to_owned(),
        };
        for session in sessions {
            log.checkpoint("open");
            for event in session {
                match event {
                    Event::Request { path, data } => log.entry(
                        "request",
                        json!({ "request": { "id": "r1", "operation": "update", "path": path, "data": data } }),
                    ),
                    Event::Periodic => log.checkpoint("periodic"),
                }
            }
            log.checkpoint("shutdown");
        }
        log
    }

    fn checkpoint(&mut self, reason: &str) {
        self.entry(
            "checkpoint",
            json!({ "checkpoint": { "reason": reason, "signature": "hmac-sha256:abcd" } }),
        );
        let last = self.lines.len() - 1;
        self.opens[last] = reason == "open";
        self.shutdowns[last] = reason == "shutdown";
    }

    /// One entry, hashed with the verifier's own `canonical` and `sha256_hex`.
    fn entry(&mut self, kind: &str, extra: Value) {
        let mut entry = json!({
            "seq": self.lines.len() + 1,
            "prev_hash": self.last_hash,
            "time": "2026-11-27T00:00:00Z",
            "type": kind,
        });
        if let (Some(entry), Value::Object(extra)) = (entry.as_object_mut(), extra) {
            entry.extend(extra);
        }
        let mut text = Vec::new();
        canonical(&entry, &mut text).unwrap();
        let hash = sha256_hex(&text);
        entry["hash"] = json!(hash);
        self.lines.push(serde_json::to_string(&entry).unwrap());
        self.opens.push(false);
        self.shutdowns.push(false);
        self.last_hash = hash;
    }

    fn text(&self, indices: impl IntoIterator<Item = usize>) -> Vec<u8> {
        indices
            .into_iter()
            .flat_map(|i| format!("{}\n", self.lines[i]).into_bytes())
            .collect()
    }
}

fn sessions() -> impl Strategy<Value = Vec<Vec<Event>>> {
    vec(vec(event(), 0..4), 1..3)
}

fn run(files: &[Vec<u8>], options: &Options) -> Result<Summary, Problem> {
    let files = files
        .iter()
        .enumerate()
        .map(|(i, f)| (format!("audit.log.{i}"), f.as_slice()));
    verify(files, options, &mut |_| Ok(()))
}

/// The same JSON on every line: an edit the hash, over the canonical form, cannot
/// see (`\u001f` for `\u001F`), and need not.
fn same_entries(a: &[u8], b: &[u8]) -> bool {
    let (a, b): (Vec<&[u8]>, Vec<&[u8]>) = (
        a.split(|&c| c == b'\n').collect(),
        b.split(|&c| c == b'\n').collect(),
    );
    a.len() == b.len()
        && a.iter().zip(&b).all(|(x, y)| {
            x == y
                || matches!(
                    (serde_json::from_slice::<Value>(x), serde_json::from_slice::<Value>(y)),
                    (Ok(x), Ok(y)) if x == y
                )
        })
}

proptest! {
    #![proptest_config(Config::with_cases(256))]

    #[test]
    fn any_bytes_verify_or_are_reported(
        files in vec(vec(any::<u8>(), 0..300), 0..4),
        allow_open_end in any::<bool>(),
        mark in proptest::option::of((0u64..4, prop_oneof![Just(GENESIS_HASH.to_owned()), "[0-9a-f]{64}"])),
    ) {
        let options = Options {
            allow_open_end,
            mark: mark.map(|(seq, hash)| Mark { seq, hash }),
        };
        match run(&files, &options) {
            Ok(summary) => {
                prop_assert_eq!(summary.files, files.len());
                prop_assert!(summary.entries >= 1 && summary.first_seq <= summary.last_seq);
            }
            Err(problem) => {
                prop_assert!(problem.file.starts_with("audit.log.") || problem.file == "(no files)");
                prop_assert!(!problem.to_string().is_empty());
            }
        }
    }
}

proptest! {
    #![proptest_config(Config::with_cases(128))]

    #[test]
    fn one_changed_byte_is_reported(
        sessions in sessions(),
        at in any::<Index>(),
        delta in 1u8..=255,
    ) {
        let log = Log::write(&sessions);
        let text = log.text(0..log.lines.len());
        prop_assert!(run(std::slice::from_ref(&text), &Options::default()).is_ok(), "the writer's own log");
        let mut changed = text.clone();
        let at = at.index(changed.len());
        changed[at] ^= delta;
        let result = run(std::slice::from_ref(&changed), &Options::default());
        if same_entries(&text, &changed) {
            prop_assert!(result.is_ok(), "{:?}", result);
        } else {
            prop_assert!(result.is_err(), "byte {} changed to {:#04x}: {}", at, changed[at], String::from_utf8_lossy(&changed));
        }
    }

    /// Lines kept, dropped, repeated and reordered, in one file or split over
    /// several: only a run of whole sessions in order verifies (a run that begins
    /// at an `open` and ends at a `shutdown`); with the vault's mark, only one
    /// that ends at the true end.
    #[test]
    fn only_whole_sessions_in_order_verify(
        sessions in sessions(),
        picks in vec(any::<Index>(), 1..16),
        contiguous in any::<bool>(),
        splits in vec(any::<Index>(), 0..3),
        marked in any::<bool>(),
    ) {
        let log = Log::write(&sessions);
        let n = log.lines.len();
        let order: Vec<usize> = if contiguous {
            // A run of lines, the likeliest thing to verify.
            let (a, b) = (picks[0].index(n), picks[picks.len() - 1].index(n));
            (a.min(b)..=a.max(b)).collect()
        } else {
            picks.iter().map(|p| p.index(n)).collect()
        };
        // Files split at line boundaries, none empty.
        let mut cuts: Vec<usize> = splits.iter().map(|s| s.index(order.len())).filter(|&c| c > 0).collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut files = Vec::new();
        let mut start = 0;
        for cut in cuts.into_iter().chain([order.len()]) {
            files.push(log.text(order[start..cut].iter().copied()));
            start = cut;
        }
        let options = Options {
            allow_open_end: false,
            mark: marked.then(|| Mark { seq: n as u64, hash: log.last_hash.clone() }),
        };
        let (first, last) = (order[0], order[order.len() - 1]);
        let in_order = order.windows(2).all(|w| w[1] == w[0] + 1);
        let whole = in_order
            && (first == 0 || log.opens[first])
            && log.shutdowns[last]
            && (!marked || last == n - 1);
        let result = run(&files, &options);
        prop_assert_eq!(result.is_ok(), whole, "lines {:?}: {:?}", order, result);
        if let Ok(summary) = result {
            prop_assert_eq!(summary.entries as usize, order.len());
            prop_assert_eq!(summary.continues_earlier, first > 0);
        }
    }
}
