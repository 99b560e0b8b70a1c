//! The last entry of an audit file: where a device's chain goes on after a
//! restart, and what a confined file's owner check reads.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use serde_json::Value;

/// How much of the end of an existing file is read to find its last entry.
const TAIL: u64 = 16 << 20;

/// The last complete line of `file` (read from its last [`TAIL`] bytes), as
/// JSON: a crash can leave half of one at the end, which does not count.
pub(super) fn last_complete_entry(file: &mut File) -> Option<Value> {
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(TAIL))).ok()?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).ok()?;
    let end = tail.iter().rposition(|&b| b == b'\n')?;
    let start = tail[..end]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    serde_json::from_slice(&tail[start..end]).ok()
}
