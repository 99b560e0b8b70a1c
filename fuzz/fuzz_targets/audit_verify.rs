//! The audit log verifier of `vault-cli audit verify`, over files an attacker
//! may have edited: any bytes, as one file or a rotated series, verify or are
//! reported as a problem at a line, never a panic.
//!
//! Input: the first byte sets the options (bit 0: accept an open end; bit 1: a
//! vault mark at seq `byte >> 2` with the genesis hash); the rest is split into
//! files at each 0xFF byte (which no UTF-8 text, so no log line, contains).

#![no_main]

use libfuzzer_sys::fuzz_target;

// The verifier is part of the CLI binary, so it is compiled in here from its
// source; it needs only serde, serde_json and ring.
#[allow(dead_code)]
#[path = "../../vault-cli/src/verify.rs"]
mod verify;

use verify::{GENESIS_HASH, Mark, Options, verify};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let options = Options {
        allow_open_end: flags & 1 != 0,
        mark: (flags & 2 != 0).then(|| Mark {
            seq: u64::from(flags >> 2),
            hash: GENESIS_HASH.to_owned(),
        }),
    };
    let files: Vec<(String, &[u8])> = rest
        .split(|&b| b == 0xFF)
        .enumerate()
        .map(|(i, bytes)| (format!("audit.log.{i}"), bytes))
        .collect();
    let count = files.len();
    let mut checkpoints = 0u64;
    let result = verify(files, &options, &mut |_| {
        checkpoints += 1;
        Ok(())
    });
    match result {
        Ok(summary) => {
            assert_eq!(summary.files, count);
            assert!(summary.entries >= 1);
            assert!(summary.first_seq <= summary.last_seq);
            assert_eq!(summary.checkpoints, checkpoints);
        }
        Err(problem) => {
            // Every problem names a file given (or none at all) and renders.
            assert!(problem.file.starts_with("audit.log.") || problem.file == "(no files)");
            assert!(!problem.to_string().is_empty());
        }
    }
});
