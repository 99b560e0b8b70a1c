//! The audit log verifier: replays one device's hash chain through its JSON Lines
//! files (a rotated series, oldest first) and names the first line that was
//! changed, removed, inserted or moved.
//!
//! Written from the format spec alone (the module docs of vault-core's `audit`),
//! never from vault-core's code, so that it is an independent check of the
//! writer. The rules it enforces:
//!
//! - each line is one JSON object whose `hash` is the lower-case hex SHA-256 of
//!   its canonical form without `hash` (keys sorted by UTF-8 bytes at every
//!   depth, no whitespace, strings as `serde_json` escapes them);
//! - `seq` goes up by exactly one and `prev_hash` is the previous entry's `hash`,
//!   across file boundaries too;
//! - the device's first entry has seq 1 and a `prev_hash` of 64 zeros; a series
//!   may instead begin at an `open` checkpoint, continuing files not given;
//! - a log ends with a `shutdown` checkpoint (a clean stop, or the device
//!   disabled), unless the caller accepts an open end. An `open` or `periodic`
//!   checkpoint is no end: a log cut right after one would pass. With the vault's
//!   [`Mark`] found in the files, the vault vouches for the end instead. A log cut
//!   exactly at a `shutdown` checkpoint (a seal or stop, the entries written after
//!   the restart removed) is only caught with the mark: the vault remembers the
//!   last `seq` and hash of each device, the files alone cannot tell;
//! - every line ends with `\n`, except that the last line of the last file may
//!   be an entry still being written (a live file): it is ignored, unchecked, and
//!   the log has an open end, accepted only as one is (by the caller, or by the
//!   mark). A line without its `\n` anywhere else is an error.
//!
//! Anyone can recompute SHA-256, so the chain alone only catches careless
//! edits: what binds it to the vault are the checkpoint signatures (keyed by the
//! device, so only the vault can check them) and the vault's own record of where
//! the log ends. Both come from the caller: a check run on each checkpoint, and
//! an optional [`Mark`].
//!
//! Streaming: one line is held at a time (at most [`MAX_LINE`] bytes), so memory
//! stays bounded whatever the size of the files.

use std::fmt;
use std::io::{self, BufRead, Read as _};

use serde::Deserialize;
use serde_json::Value;

/// The `prev_hash` of a device's first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The longest line read. Entries are far smaller; the cap keeps a file that is
/// one endless line (damaged, or hostile) from being read into memory whole.
pub const MAX_LINE: u64 = 64 << 20;

/// What the caller knows beyond the files.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// Do not require the log to end with a `shutdown` checkpoint, nor its last
    /// line to be complete (a live file, or one cut short by a crash).
    pub allow_open_end: bool,
    /// Where the vault says the device's log has reached.
    pub mark: Option<Mark>,
}

/// The vault's record of a device's chain: its last `seq` and that entry's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub seq: u64,
    pub hash: String,
}

/// A checkpoint entry whose place in the chain has been checked, for the caller
/// to check its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: u64,
    pub prev_hash: String,
    pub reason: String,
    pub signature: String,
}

/// A verified series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub entries: u64,
    pub files: usize,
    pub first_seq: u64,
    pub last_seq: u64,
    pub checkpoints: u64,
    /// The series begins with an `open` checkpoint past seq 1: it continues files
    /// that were not given, and its link to them was not checked.
    pub continues_earlier: bool,
    /// The last entry is not a `shutdown` checkpoint, or the last line is
    /// incomplete (accepted by option or by the mark).
    pub open_end: bool,
    /// The last line of the last file, without its `\n`: an entry still being
    /// written, ignored (the log then has an open end).
    pub incomplete_line: Option<u64>,
    /// The mark was found in the files: the vault vouches for the log up to here.
    pub vouched_seq: Option<u64>,
}

/// The first thing wrong with a series, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    /// 1-based; 0 when the problem is the file as a whole.
    pub line: u64,
    pub kind: Kind,
    /// Said after the message when the likely cause is the operator's.
    pub hint: Option<&'static str>,
}

/// What is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Not JSON, not an object, too long, or without the fields every entry has.
    NotAnEntry,
    /// The entry does not match its hash.
    Changed,
    /// The seq jumps forward and the skipped entries are nowhere later.
    Missing { expected: u64, found: u64 },
    /// The seq goes back, repeats, or jumps to an entry whose predecessor
    /// comes later (`expected_at`).
    OutOfOrder {
        expected: u64,
        found: u64,
        expected_at: Option<(String, u64)>,
    },
    /// Right seq, wrong `prev_hash`.
    ChainBroken,
    /// A file with no entries at all.
    Empty,
    /// The file could not be read.
    Read(String),
    /// The last entry is not a `shutdown` checkpoint.
    OpenEnd,
    /// The last line of the last file has no `\n`: a write in progress, or a cut.
    Incomplete,
    /// A line other than the last of the last file has no `\n`.
    Unterminated,
    /// The vault refused a checkpoint's signature.
    Forged,
    /// The vault could not be asked about a checkpoint.
    Unchecked(String),
    /// The files stop before the vault's mark.
    Truncated { recorded: u64, ends: u64 },
    /// The entry at the mark's seq is not the one the vault recorded.
    NotRecorded { seq: u64 },
    /// The files begin after the mark's seq.
    BeginsAfterMark { seq: u64 },
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::NotAnEntry => write!(f, "not a valid entry (changed or truncated)"),
            Kind::Changed => write!(f, "changed (the entry does not match its hash)"),
            Kind::Missing { expected, found } => {
                let count = found.saturating_sub(*expected);
                let entries = if count == 1 { "entry" } else { "entries" };
                write!(
                    f,
                    "{count} {entries} missing before this line (removed): seq {found} where seq {expected} belongs"
                )
            }
            Kind::OutOfOrder {
                expected,
                found,
                expected_at,
            } => {
                write!(
                    f,
                    "out of order or inserted: seq {found} where seq {expected} belongs"
                )?;
                match expected_at {
                    Some((file, line)) => {
                        write!(f, " (seq {expected} is at line {line} of {file})")
                    }
                    None => Ok(()),
                }
            }
            Kind::ChainBroken => write!(
                f,
                "chain broken (inserted or replaced): its prev_hash is not the hash of the entry before it"
            ),
            Kind::Empty => write!(
                f,
                "the file is empty, but every log file begins with an `open` checkpoint (its entries were removed)"
            ),
            Kind::Read(e) => write!(f, "cannot read: {e}"),
            Kind::OpenEnd => write!(
                f,
                "the log ends here without a closing (shutdown) checkpoint: the last entries may have been removed (or the vault crashed or is still running)"
            ),
            Kind::Incomplete => write!(
                f,
                "incomplete last entry (a write in progress, or the log was cut mid-line)"
            ),
            Kind::Unterminated => write!(
                f,
                "the file ends mid-line (no newline after this entry), but it is not the last file: it was cut short"
            ),
            Kind::Forged => write!(f, "checkpoint signature invalid (forged)"),
            Kind::Unchecked(e) => write!(f, "the checkpoint signature could not be checked: {e}"),
            Kind::Truncated { recorded, ends } => write!(
                f,
                "the vault recorded up to seq {recorded}; the files end at seq {ends}, here: the entries after it were removed (or the live file was not given)"
            ),
            Kind::NotRecorded { seq } => write!(
                f,
                "seq {seq} is not the entry the vault recorded (its hash differs): the log was rewritten, or it is not this device's log"
            ),
            Kind::BeginsAfterMark { seq } => write!(
                f,
                "the files begin after seq {seq}, the last entry the vault recorded: is this the device's log?"
            ),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The end-of-log problems read as a statement about the log, the others
        // as a statement about a line.
        match (&self.kind, self.line) {
            (Kind::OpenEnd, line) => write!(
                f,
                "the log ends at line {line} of {} without a closing (shutdown) checkpoint: the last entries may have been removed (or the vault crashed or is still running)",
                self.file
            )?,
            (kind, 0) => write!(f, "{}: {kind}", self.file)?,
            (kind, line) => write!(f, "line {line} of {}: {kind}", self.file)?,
        }
        match self.hint {
            Some(hint) => write!(f, " ({hint})"),
            None => Ok(()),
        }
    }
}

/// Verifies a series of files, oldest first, each given by a name (for the
/// messages) and a reader. `check` is asked about each checkpoint once its place
/// in the chain is verified; the first error it returns is reported at that line.
pub fn verify<R, I>(
    files: I,
    options: &Options,
    check: &mut dyn FnMut(&Checkpoint) -> Result<(), Kind>,
) -> Result<Summary, Problem>
where
    R: BufRead,
    I: IntoIterator<Item = (String, R)>,
{
    let mut chain = Chain::new(options);
    let mut files = files.into_iter().peekable();
    let mut buf = Vec::new();
    while let Some((name, mut reader)) = files.next() {
        chain.names.push(name);
        let mut line = 0;
        loop {
            let more = read_line(&mut reader, &mut buf)
                .map_err(|e| chain.at(line + 1, Kind::Read(e.to_string())))?;
            if !more {
                break;
            }
            line += 1;
            // Without its `\n` (and not cut at MAX_LINE), a line is its file's
            // last. In the last file, it is an entry still being written.
            let unterminated = buf.last() != Some(&b'\n') && buf.len() as u64 <= MAX_LINE;
            if unterminated && files.peek().is_none() {
                chain.incomplete = Some(line);
                break;
            }
            match chain.accept(&buf, line, check) {
                Ok(()) if unterminated => return Err(chain.at(line, Kind::Unterminated)),
                Ok(()) => {}
                Err(Kind::Missing { expected, found }) => {
                    // A jump forward is a removal only if the skipped entry is
                    // nowhere later; otherwise lines were moved.
                    let here = chain.current_name().to_owned();
                    let kind = match find_later(&mut reader, &here, line, &mut files, expected) {
                        Some(at) => Kind::OutOfOrder {
                            expected,
                            found,
                            expected_at: Some(at),
                        },
                        None => Kind::Missing { expected, found },
                    };
                    return Err(chain.at(line, kind));
                }
                Err(kind) => return Err(chain.at(line, kind)),
            }
        }
        if line == 0 {
            return Err(chain.at(0, Kind::Empty));
        }
    }
    chain.finish()
}

/// The last entry accepted.
#[derive(Debug)]
struct Last {
    seq: u64,
    hash: String,
    /// The entry is a `shutdown` checkpoint: a clean end.
    shutdown: bool,
    file: usize,
    line: u64,
}

/// The running state of one verification.
#[derive(Debug)]
struct Chain<'a> {
    options: &'a Options,
    names: Vec<String>,
    last: Option<Last>,
    first_seq: u64,
    continues_earlier: bool,
    entries: u64,
    checkpoints: u64,
    /// The entry at the mark's seq: (its hash is the mark's, file, line).
    at_mark: Option<(bool, usize, u64)>,
    /// The last line of the last file, ignored for want of its `\n`.
    incomplete: Option<u64>,
    /// Reused for each entry's canonical form.
    scratch: Vec<u8>,
}

impl<'a> Chain<'a> {
    fn new(options: &'a Options) -> Chain<'a> {
        Chain {
            options,
            names: Vec::new(),
            last: None,
            first_seq: 0,
            continues_earlier: false,
            entries: 0,
            checkpoints: 0,
            at_mark: None,
            incomplete: None,
            scratch: Vec::new(),
        }
    }

    fn current_name(&self) -> &str {
        self.names.last().map_or("", String::as_str)
    }

    /// A problem at `line` of the current file.
    fn at(&self, line: u64, kind: Kind) -> Problem {
        self.problem(self.names.len().saturating_sub(1), line, kind)
    }

    fn problem(&self, file: usize, line: u64, kind: Kind) -> Problem {
        // A seq problem on the first line of a later file is most often the
        // files given in the wrong order.
        let seq_problem = matches!(
            kind,
            Kind::Missing { .. } | Kind::OutOfOrder { .. } | Kind::ChainBroken
        );
        let hint = (file > 0 && line == 1 && seq_problem)
            .then_some("are all the files given, oldest first?");
        Problem {
            file: self.names.get(file).cloned().unwrap_or_default(),
            line,
            kind,
            hint,
        }
    }

    /// Checks one line against the chain so far and, if it holds, extends it.
    fn accept(
        &mut self,
        line_text: &[u8],
        line: u64,
        check: &mut dyn FnMut(&Checkpoint) -> Result<(), Kind>,
    ) -> Result<(), Kind> {
        let entry = parse_entry(line_text, &mut self.scratch)?;
        self.link(&entry)?;
        if let Some(checkpoint) = &entry.checkpoint {
            check(checkpoint)?;
            self.checkpoints += 1;
        }
        if let Some(mark) = &self.options.mark
            && entry.seq == mark.seq
        {
            self.at_mark = Some((entry.hash == mark.hash, self.names.len() - 1, line));
        }
        self.entries += 1;
        self.last = Some(Last {
            seq: entry.seq,
            hash: entry.hash,
            shutdown: entry
                .checkpoint
                .as_ref()
                .is_some_and(|c| c.reason == "shutdown"),
            file: self.names.len() - 1,
            line,
        });
        Ok(())
    }

    /// Does the entry follow the last one (or begin a series)?
    fn link(&mut self, entry: &Entry) -> Result<(), Kind> {
        let Some(last) = &self.last else {
            return self.begin(entry);
        };
        // Saturating: a forged seq of u64::MAX must not wrap to an "expected" 0.
        let expected = last.seq.saturating_add(1);
        if entry.seq == expected && last.seq != u64::MAX {
            if entry.prev_hash == last.hash {
                Ok(())
            } else {
                Err(Kind::ChainBroken)
            }
        } else if entry.seq > expected {
            Err(Kind::Missing {
                expected,
                found: entry.seq,
            })
        } else {
            Err(Kind::OutOfOrder {
                expected,
                found: entry.seq,
                expected_at: None,
            })
        }
    }

    /// The first entry: the device's very first, or an `open` checkpoint that
    /// continues files not given.
    fn begin(&mut self, entry: &Entry) -> Result<(), Kind> {
        self.first_seq = entry.seq;
        let opens = entry
            .checkpoint
            .as_ref()
            .is_some_and(|c| c.reason == "open");
        if entry.seq == 1 {
            return if entry.prev_hash == GENESIS_HASH {
                Ok(())
            } else {
                Err(Kind::ChainBroken)
            };
        }
        if opens && entry.seq > 1 {
            self.continues_earlier = true;
            return Ok(());
        }
        if entry.seq == 0 {
            return Err(Kind::OutOfOrder {
                expected: 1,
                found: 0,
                expected_at: None,
            });
        }
        Err(Kind::Missing {
            expected: 1,
            found: entry.seq,
        })
    }

    /// The checks that need the whole series: the vault's mark, then the end.
    fn finish(self) -> Result<Summary, Problem> {
        let last_file = self.names.len().saturating_sub(1);
        let Some(last) = &self.last else {
            // Nothing but a line being written: nothing to verify.
            if let Some(line) = self.incomplete {
                return Err(self.problem(last_file, line, Kind::Incomplete));
            }
            return Err(Problem {
                file: "(no files)".into(),
                line: 0,
                kind: Kind::Empty,
                hint: None,
            });
        };
        let mut vouched_seq = None;
        if let Some(mark) = self.options.mark.as_ref().filter(|m| m.seq > 0) {
            if last.seq < mark.seq {
                let kind = Kind::Truncated {
                    recorded: mark.seq,
                    ends: last.seq,
                };
                return Err(self.problem(last.file, last.line, kind));
            }
            match self.at_mark {
                Some((true, _, _)) => vouched_seq = Some(mark.seq),
                Some((false, file, line)) => {
                    return Err(self.problem(file, line, Kind::NotRecorded { seq: mark.seq }));
                }
                None => return Err(self.problem(0, 1, Kind::BeginsAfterMark { seq: mark.seq })),
            }
        }
        // Only a clean stop closes a log: one cut right after an `open` or
        // `periodic` checkpoint would pass otherwise. The vault's mark vouches for
        // the end as a closing checkpoint would: the entries after it (and a line
        // still being written) came while the files were being read.
        let open_end = !last.shutdown || self.incomplete.is_some();
        if open_end && !self.options.allow_open_end && vouched_seq.is_none() {
            return Err(match self.incomplete {
                Some(line) => self.problem(last_file, line, Kind::Incomplete),
                None => self.problem(last.file, last.line, Kind::OpenEnd),
            });
        }
        Ok(Summary {
            entries: self.entries,
            files: self.names.len(),
            first_seq: self.first_seq,
            last_seq: last.seq,
            checkpoints: self.checkpoints,
            continues_earlier: self.continues_earlier,
            open_end,
            incomplete_line: self.incomplete,
            vouched_seq,
        })
    }
}

/// The fields of an entry the chain needs.
#[derive(Debug)]
struct Entry {
    seq: u64,
    prev_hash: String,
    hash: String,
    checkpoint: Option<Checkpoint>,
}

/// Parses one line and checks it against its own hash. The hash is checked
/// before the fields are read, so that an edit anywhere reads as "changed".
fn parse_entry(line: &[u8], scratch: &mut Vec<u8>) -> Result<Entry, Kind> {
    let value: Value = serde_json::from_slice(line).map_err(|_| Kind::NotAnEntry)?;
    let Value::Object(mut fields) = value else {
        return Err(Kind::NotAnEntry);
    };
    let Some(Value::String(hash)) = fields.remove("hash") else {
        return Err(Kind::NotAnEntry);
    };
    let rest = Value::Object(fields);
    scratch.clear();
    canonical(&rest, scratch).map_err(|_| Kind::NotAnEntry)?;
    if sha256_hex(scratch) != hash {
        return Err(Kind::Changed);
    }
    let seq = rest
        .get("seq")
        .and_then(Value::as_u64)
        .ok_or(Kind::NotAnEntry)?;
    let prev_hash = rest
        .get("prev_hash")
        .and_then(Value::as_str)
        .ok_or(Kind::NotAnEntry)?
        .to_owned();
    let checkpoint = match rest.get("type").and_then(Value::as_str) {
        Some("checkpoint") => Some(checkpoint_of(&rest, seq, &prev_hash)?),
        Some(_) => None,
        None => return Err(Kind::NotAnEntry),
    };
    Ok(Entry {
        seq,
        prev_hash,
        hash,
        checkpoint,
    })
}

fn checkpoint_of(entry: &Value, seq: u64, prev_hash: &str) -> Result<Checkpoint, Kind> {
    let field = |name: &str| {
        entry
            .get("checkpoint")
            .and_then(|c| c.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or(Kind::NotAnEntry)
    };
    Ok(Checkpoint {
        seq,
        prev_hash: prev_hash.to_owned(),
        reason: field("reason")?,
        signature: field("signature")?,
    })
}

/// Writes the canonical form of `value`: every object's keys sorted by their
/// UTF-8 bytes, at every depth; no whitespace; strings escaped as `serde_json`
/// writes them; numbers as `serde_json` displays them.
pub fn canonical(value: &Value, out: &mut Vec<u8>) -> serde_json::Result<()> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => serde_json::to_writer(&mut *out, s)?,
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            // Sorted here, not trusted to the map: serde_json keeps insertion
            // order when any crate in the build enables `preserve_order`.
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, key)?;
                out.push(b':');
                if let Some(item) = map.get(key) {
                    canonical(item, out)?;
                }
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut hex = String::with_capacity(64);
    for byte in digest.as_ref() {
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    hex
}

/// Reads one line (with its `\n`, if any) into `buf`; false at the end of the
/// file. A line longer than [`MAX_LINE`] is cut there, and will not parse.
fn read_line<R: BufRead>(reader: &mut R, buf: &mut Vec<u8>) -> io::Result<bool> {
    buf.clear();
    let read = reader.by_ref().take(MAX_LINE + 1).read_until(b'\n', buf)?;
    Ok(read > 0)
}

/// Just the seq, for the lookahead: parsing skips everything else unbuilt.
#[derive(Deserialize)]
struct SeqOnly {
    seq: u64,
}

/// Where the entry with `seq` is, if anywhere after `line` of the current file
/// (or in a later file). Tells a moved entry from a removed one. Reads to the end
/// of the series, but only ever on the way to reporting a problem.
fn find_later<R: BufRead>(
    reader: &mut R,
    name: &str,
    line: u64,
    rest: &mut impl Iterator<Item = (String, R)>,
    seq: u64,
) -> Option<(String, u64)> {
    let mut buf = Vec::new();
    if let Some(at) = find_in(reader, line, seq, &mut buf) {
        return Some((name.to_owned(), at));
    }
    for (name, mut reader) in rest {
        if let Some(at) = find_in(&mut reader, 0, seq, &mut buf) {
            return Some((name, at));
        }
    }
    None
}

/// The line number of the entry with `seq` in the rest of one file.
fn find_in<R: BufRead>(reader: &mut R, mut line: u64, seq: u64, buf: &mut Vec<u8>) -> Option<u64> {
    // A read error or an overlong line ends the search: the line numbers after
    // it could not be trusted.
    while read_line(reader, buf).ok()? {
        line += 1;
        if buf.len() as u64 > MAX_LINE {
            return None;
        }
        if serde_json::from_slice::<SeqOnly>(buf).is_ok_and(|e| e.seq == seq) {
            return Some(line);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A test writer following the spec: each entry gets `seq`, `prev_hash` and
    /// `hash` over its canonical form without `hash`.
    struct Writer {
        seq: u64,
        last_hash: String,
        lines: Vec<String>,
    }

    impl Writer {
        fn new() -> Writer {
            Writer::continuing(0, GENESIS_HASH)
        }

        fn continuing(seq: u64, last_hash: &str) -> Writer {
            Writer {
                seq,
                last_hash: last_hash.to_owned(),
                lines: Vec::new(),
            }
        }

        fn write(&mut self, kind: &str, extra: Value) {
            self.seq += 1;
            let mut entry = json!({
                "seq": self.seq,
                "prev_hash": self.last_hash,
                "time": "2025-01-01T00:00:00Z",
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
            self.last_hash = hash;
        }

        fn request(&mut self, path: &str) {
            self.write(
                "request",
                json!({ "request": { "id": "r1", "operation": "read", "path": path,
                        "data": { "password": "hmac-sha256:00ff", "ttl": 3600 } } }),
            );
        }

        fn checkpoint(&mut self, reason: &str) {
            self.write(
                "checkpoint",
                json!({ "checkpoint": { "reason": reason, "signature": "hmac-sha256:abcd" } }),
            );
        }

        /// open, 8 requests, shutdown: 10 lines.
        fn session() -> Writer {
            let mut w = Writer::new();
            w.checkpoint("open");
            for i in 0..8 {
                w.request(&format!("secret/data/k{i}"));
            }
            w.checkpoint("shutdown");
            w
        }

        fn text(&self) -> String {
            self.lines.iter().map(|l| format!("{l}\n")).collect()
        }
    }

    fn run_with(files: &[(&str, &str)], options: &Options) -> Result<Summary, Problem> {
        let readers = files
            .iter()
            .map(|(name, text)| ((*name).to_owned(), text.as_bytes()));
        verify(readers, options, &mut |_| Ok(()))
    }

    fn run(text: &str) -> Result<Summary, Problem> {
        run_with(&[("audit.log", text)], &Options::default())
    }

    fn lines_of(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    fn join(lines: &[String]) -> String {
        lines.iter().map(|l| format!("{l}\n")).collect()
    }

    #[test]
    fn a_valid_log_verifies() {
        let summary = run(&Writer::session().text()).unwrap();
        assert_eq!(summary.entries, 10);
        assert_eq!(summary.files, 1);
        assert_eq!((summary.first_seq, summary.last_seq), (1, 10));
        assert_eq!(summary.checkpoints, 2);
        assert!(!summary.continues_earlier && !summary.open_end);
    }

    #[test]
    fn one_changed_character_is_found_at_its_line() {
        let text = Writer::session()
            .text()
            .replacen("secret/data/k3", "secret/data/k4", 1);
        let problem = run(&text).unwrap_err();
        assert_eq!((problem.line, &problem.kind), (5, &Kind::Changed));
        assert_eq!(
            problem.to_string(),
            "line 5 of audit.log: changed (the entry does not match its hash)"
        );
    }

    #[test]
    fn a_change_that_breaks_the_json_is_found_at_its_line() {
        let mut lines = lines_of(&Writer::session().text());
        lines[2].pop();
        let problem = run(&join(&lines)).unwrap_err();
        assert_eq!((problem.line, &problem.kind), (3, &Kind::NotAnEntry));
    }

    #[test]
    fn a_deleted_line_is_found_at_the_next_one() {
        let mut lines = lines_of(&Writer::session().text());
        lines.remove(3);
        let problem = run(&join(&lines)).unwrap_err();
        assert_eq!(problem.line, 4);
        assert_eq!(
            problem.kind,
            Kind::Missing {
                expected: 4,
                found: 5
            }
        );
        assert!(
            problem
                .to_string()
                .starts_with("line 4 of audit.log: 1 entry missing before this line (removed)")
        );
    }

    #[test]
    fn two_swapped_lines_are_found_at_the_first() {
        let mut lines = lines_of(&Writer::session().text());
        lines.swap(4, 5);
        let problem = run(&join(&lines)).unwrap_err();
        assert_eq!(problem.line, 5);
        assert_eq!(
            problem.kind,
            Kind::OutOfOrder {
                expected: 5,
                found: 6,
                expected_at: Some(("audit.log".into(), 6))
            }
        );
    }

    #[test]
    fn an_inserted_copy_is_found_at_it() {
        let mut lines = lines_of(&Writer::session().text());
        let copy = lines[2].clone();
        lines.insert(6, copy);
        let problem = run(&join(&lines)).unwrap_err();
        assert_eq!(problem.line, 7);
        assert!(matches!(problem.kind, Kind::OutOfOrder { found: 3, .. }));
    }

    #[test]
    fn a_recomputed_replacement_breaks_the_chain() {
        let mut w = Writer::session();
        // An entry rewritten with a consistent hash but an invented predecessor.
        let mut forged = Writer::continuing(5, "ab".repeat(32).as_str());
        forged.request("secret/data/forged");
        w.lines[5] = forged.lines.remove(0);
        let problem = run(&w.text()).unwrap_err();
        assert_eq!((problem.line, &problem.kind), (6, &Kind::ChainBroken));
    }

    #[test]
    fn removing_the_last_lines_leaves_no_closing_checkpoint() {
        let mut lines = lines_of(&Writer::session().text());
        lines.truncate(lines.len() - 3);
        let problem = run(&join(&lines)).unwrap_err();
        assert_eq!((problem.line, &problem.kind), (7, &Kind::OpenEnd));
        assert!(problem.to_string().starts_with(
            "the log ends at line 7 of audit.log without a closing (shutdown) checkpoint"
        ));
        let allowed = Options {
            allow_open_end: true,
            ..Options::default()
        };
        let summary = run_with(&[("audit.log", &join(&lines))], &allowed).unwrap();
        assert!(summary.open_end);
    }

    fn allow_open_end() -> Options {
        Options {
            allow_open_end: true,
            ..Options::default()
        }
    }

    #[test]
    fn a_log_cut_after_a_periodic_or_open_checkpoint_has_no_closing_one() {
        let mut w = Writer::new();
        w.checkpoint("open");
        w.request("secret/data/a");
        w.checkpoint("periodic");
        let problem = run(&w.text()).unwrap_err();
        assert_eq!((problem.line, &problem.kind), (3, &Kind::OpenEnd));
        assert_eq!(
            problem.to_string(),
            "the log ends at line 3 of audit.log without a closing (shutdown) checkpoint: the last entries may have been removed (or the vault crashed or is still running)"
        );
        let summary = run_with(&[("audit.log", &w.text())], &allow_open_end()).unwrap();
        assert!(summary.open_end);
        assert_eq!((summary.last_seq, summary.incomplete_line), (3, None));

        // A file cut right after its `open` checkpoint.
        let session = Writer::session();
        let mut later = Writer::continuing(session.seq, &session.last_hash);
        later.checkpoint("open");
        let problem = run_with(
            &[("a.log", &session.text()), ("b.log", &later.text())],
            &Options::default(),
        )
        .unwrap_err();
        assert_eq!(
            (problem.file.as_str(), problem.line, &problem.kind),
            ("b.log", 1, &Kind::OpenEnd)
        );
    }

    #[test]
    fn a_log_ending_at_a_shutdown_checkpoint_is_closed() {
        let mut w = Writer::new();
        w.checkpoint("open");
        w.request("secret/data/a");
        w.checkpoint("periodic");
        w.request("secret/data/b");
        w.checkpoint("shutdown");
        let summary = run(&w.text()).unwrap();
        assert_eq!((summary.last_seq, summary.checkpoints), (5, 3));
        assert!(!summary.open_end);
    }

    #[test]
    fn a_partial_last_line_is_a_write_in_progress() {
        // The live file: a complete session, then an entry half written.
        let w = Writer::session();
        let mut later = Writer::continuing(w.seq, &w.last_hash);
        later.checkpoint("open");
        let open = (later.seq, later.last_hash.clone());
        later.request("secret/data/after");
        let written = later.lines[1].len() / 2;
        let live = format!(
            "{}{}\n{}",
            w.text(),
            later.lines[0],
            &later.lines[1][..written]
        );
        let problem = run(&live).unwrap_err();
        assert_eq!((problem.line, &problem.kind), (12, &Kind::Incomplete));
        assert_eq!(
            problem.to_string(),
            "line 12 of audit.log: incomplete last entry (a write in progress, or the log was cut mid-line)"
        );

        let summary = run_with(&[("audit.log", &live)], &allow_open_end()).unwrap();
        assert_eq!((summary.entries, summary.last_seq), (11, 11));
        assert_eq!(
            (summary.open_end, summary.incomplete_line),
            (true, Some(12))
        );

        // Even a closing checkpoint before it does not close the log.
        let after_shutdown = format!("{}{}", w.text(), &later.lines[0][..10]);
        let problem = run(&after_shutdown).unwrap_err();
        assert_eq!((problem.line, &problem.kind), (11, &Kind::Incomplete));

        // A whole entry is not yet written until its `\n` is.
        let unterminated = w.text().trim_end_matches('\n').to_owned();
        let problem = run(&unterminated).unwrap_err();
        assert_eq!((problem.line, &problem.kind), (10, &Kind::Incomplete));
        let summary = run_with(&[("audit.log", &unterminated)], &allow_open_end()).unwrap();
        assert_eq!((summary.last_seq, summary.incomplete_line), (9, Some(10)));

        // The vault's mark, found in the files, vouches for the open end.
        let marked = Options {
            mark: Some(Mark {
                seq: open.0,
                hash: open.1,
            }),
            ..Options::default()
        };
        let summary = run_with(&[("audit.log", &live)], &marked).unwrap();
        assert_eq!(
            (summary.vouched_seq, summary.incomplete_line),
            (Some(11), Some(12))
        );

        // Only a partial line: nothing to verify.
        let problem =
            run_with(&[("audit.log", &later.lines[0][..10])], &allow_open_end()).unwrap_err();
        assert_eq!((problem.line, &problem.kind), (1, &Kind::Incomplete));
    }

    #[test]
    fn a_line_without_its_newline_before_the_last_file_is_an_error() {
        let first = Writer::session();
        let mut second = Writer::continuing(first.seq, &first.last_hash);
        second.checkpoint("open");
        second.checkpoint("shutdown");
        let files = |first: &str| {
            run_with(
                &[("a.log", first), ("b.log", &second.text())],
                &allow_open_end(),
            )
            .unwrap_err()
        };
        // A whole entry without its `\n`.
        let problem = files(first.text().trim_end_matches('\n'));
        assert_eq!(
            (problem.file.as_str(), problem.line, &problem.kind),
            ("a.log", 10, &Kind::Unterminated)
        );
        // A partial one.
        let text = first.text();
        let problem = files(&text[..text.len() - 20]);
        assert_eq!(
            (problem.file.as_str(), problem.line, &problem.kind),
            ("a.log", 10, &Kind::NotAnEntry)
        );
    }

    #[test]
    fn a_rotated_series_verifies_across_its_files() {
        let first = Writer::session();
        let mut second = Writer::continuing(first.seq, &first.last_hash);
        second.checkpoint("open");
        second.request("secret/data/after");
        second.checkpoint("shutdown");
        let files = [("a.log", first.text()), ("b.log", second.text())];
        let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
        let summary = run_with(&files, &Options::default()).unwrap();
        assert_eq!((summary.entries, summary.files), (13, 2));
        assert_eq!(
            (summary.first_seq, summary.last_seq, summary.checkpoints),
            (1, 13, 4)
        );

        // The later file alone continues files not given.
        let summary = run_with(&files[1..], &Options::default()).unwrap();
        assert!(summary.continues_earlier);
        assert_eq!(summary.first_seq, 11);

        // Given in the wrong order, the second file's first line says so.
        let problem = run_with(&[files[1], files[0]], &Options::default()).unwrap_err();
        assert_eq!((problem.file.as_str(), problem.line), ("a.log", 1));
        assert!(
            problem
                .to_string()
                .ends_with("(are all the files given, oldest first?)")
        );
    }

    #[test]
    fn a_removed_file_in_a_series_is_missing_entries() {
        let first = Writer::session();
        let mut second = Writer::continuing(first.seq, &first.last_hash);
        second.checkpoint("open");
        second.checkpoint("shutdown");
        let mut third = Writer::continuing(second.seq, &second.last_hash);
        third.checkpoint("open");
        third.checkpoint("shutdown");
        let problem = run_with(
            &[("a.log", &first.text()), ("c.log", &third.text())],
            &Options::default(),
        )
        .unwrap_err();
        assert_eq!((problem.file.as_str(), problem.line), ("c.log", 1));
        assert_eq!(
            problem.kind,
            Kind::Missing {
                expected: 11,
                found: 13
            }
        );
    }

    #[test]
    fn an_empty_file_is_reported() {
        let problem = run("").unwrap_err();
        assert_eq!((problem.line, &problem.kind), (0, &Kind::Empty));
        assert!(
            problem
                .to_string()
                .starts_with("audit.log: the file is empty")
        );
    }

    #[test]
    fn a_log_whose_beginning_was_cut_is_missing_entries() {
        let mut lines = lines_of(&Writer::session().text());
        lines.drain(..2);
        let problem = run(&join(&lines)).unwrap_err();
        assert_eq!(
            (problem.line, &problem.kind),
            (
                1,
                &Kind::Missing {
                    expected: 1,
                    found: 3
                }
            )
        );
    }

    #[test]
    fn the_check_sees_each_checkpoint_and_its_refusal_is_reported_there() {
        let text = Writer::session().text();
        let mut seen = Vec::new();
        let mut check = |c: &Checkpoint| {
            seen.push((c.seq, c.reason.clone()));
            if c.reason == "shutdown" {
                Err(Kind::Forged)
            } else {
                Ok(())
            }
        };
        let problem = verify(
            [("audit.log".to_owned(), text.as_bytes())],
            &Options::default(),
            &mut check,
        )
        .unwrap_err();
        assert_eq!((problem.line, &problem.kind), (10, &Kind::Forged));
        assert_eq!(seen, [(1, "open".to_owned()), (10, "shutdown".to_owned())]);
    }

    #[test]
    fn the_vaults_mark_catches_a_cut_at_a_checkpoint() {
        // The vault went on after a clean stop; the later entries were cut off
        // at the stop's checkpoint, which the chain alone cannot tell.
        let w = Writer::session();
        let mut later = Writer::continuing(w.seq, &w.last_hash);
        later.checkpoint("open");
        later.request("secret/data/after");
        let mark = |seq: u64, hash: &str| Options {
            mark: Some(Mark {
                seq,
                hash: hash.to_owned(),
            }),
            ..Options::default()
        };
        let problem = run_with(
            &[("audit.log", &w.text())],
            &mark(later.seq, &later.last_hash),
        )
        .unwrap_err();
        assert_eq!(
            (problem.line, &problem.kind),
            (
                10,
                &Kind::Truncated {
                    recorded: 12,
                    ends: 10
                }
            )
        );

        // With the live file, the mark vouches for the open end.
        let live = format!("{}{}", w.text(), later.text());
        let summary =
            run_with(&[("audit.log", &live)], &mark(later.seq, &later.last_hash)).unwrap();
        assert_eq!((summary.vouched_seq, summary.open_end), (Some(12), true));

        // Another log with the same length is not the one the vault recorded.
        let problem = run_with(&[("audit.log", &live)], &mark(12, &"cd".repeat(32))).unwrap_err();
        assert_eq!(
            (problem.line, &problem.kind),
            (12, &Kind::NotRecorded { seq: 12 })
        );
    }

    #[test]
    fn canonical_form_sorts_keys_at_every_depth() {
        let value: Value = serde_json::from_str(
            r#"{ "zeta": 1, "alpha": { "b": [ {"y": null, "x": true} ], "a": "é\"\n" }, "Beta": -2.5 }"#,
        )
        .unwrap();
        let mut out = Vec::new();
        canonical(&value, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"Beta":-2.5,"alpha":{"a":"é\"\n","b":[{"x":true,"y":null}]},"zeta":1}"#
        );
    }

    #[test]
    fn keys_sort_by_their_utf8_bytes() {
        // "é" (0xC3 0xA9) sorts after "z", and "Z" before "a".
        let value = json!({ "é": 1, "z": 2, "a": 3, "Z": 4 });
        let mut out = Vec::new();
        canonical(&value, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"Z":4,"a":3,"z":2,"é":1}"#
        );
    }

    #[test]
    fn entry_hash_matches_an_outside_sha256() {
        // The digest was computed with coreutils' sha256sum over the canonical
        // text, so the hash is pinned independently of this module.
        let line = r#"{"type":"request","seq":1,"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","time":"2025-01-01T00:00:00Z","hash":"HASH"}"#;
        let canonical_text = r#"{"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","seq":1,"time":"2025-01-01T00:00:00Z","type":"request"}"#;
        let expected = "bd27afb74706796b27698470032555abca3e2279be12c2b94782f827fae81313";
        assert_eq!(sha256_hex(canonical_text.as_bytes()), expected);
        let entry =
            parse_entry(line.replace("HASH", expected).as_bytes(), &mut Vec::new()).unwrap();
        assert_eq!((entry.seq, entry.checkpoint.is_none()), (1, true));
    }

    #[test]
    fn floats_survive_the_round_trip() {
        // Numbers are hashed as serde_json displays them after parsing, so a
        // parse that is off by one ulp would read as "changed".
        let mut w = Writer::new();
        w.write(
            "request",
            json!({ "request": { "data": { "f": 0.1_f64 + 0.2, "g": 1e300, "h": 5e-324 } } }),
        );
        w.checkpoint("shutdown");
        assert!(run(&w.text()).is_ok());
    }
}
