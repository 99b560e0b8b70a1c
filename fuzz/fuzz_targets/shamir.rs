//! Shamir shares: typed shares as an operator pastes them (hex or base64), and
//! split/combine. Any text is a share or an error, never a panic; any shares
//! combine or are refused; any `threshold` shares of a split recover the secret.
//!
//! Input: the first byte chooses. Even: split, with `n = data[1]`,
//! `threshold = data[2] % 33` and the secret the rest (at most 32 bytes). Odd:
//! parse each of the first 64 lines of the rest as a share of a
//! `data[1] % 65`-byte secret, and combine those that parse.
//!
//! The caps keep an execution short: combining k shares costs k^2 inversions
//! in constant-time GF(256), slow under the sanitizer. n still reaches 255.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vault_core::seal::shamir::{self, ShamirError, Share};

fuzz_target!(|data: &[u8]| {
    match data {
        [mode, n, t, secret @ ..] if mode % 2 == 0 => {
            split(*n, *t % 33, &secret[..secret.len().min(32)]);
        }
        [_, len, text @ ..] => parse_and_combine(usize::from(*len % 65), text),
        _ => {}
    }
});

fn split(n: u8, t: u8, secret: &[u8]) {
    let shares = match shamir::split(secret, n, t) {
        Ok(shares) => shares,
        Err(ShamirError::BadParameters { .. }) => {
            assert!(t == 0 || n == 0 || t > n);
            return;
        }
        Err(ShamirError::EmptySecret) => {
            assert!(secret.is_empty());
            return;
        }
        Err(other) => panic!("split: {other:?}"),
    };
    assert_eq!(shares.len(), usize::from(n));
    let mut xs: Vec<u8> = shares.iter().map(Share::x).collect();
    xs.sort_unstable();
    xs.dedup();
    assert_eq!(xs.len(), shares.len(), "repeated x-coordinate");
    assert!(!xs.contains(&0));
    let t = usize::from(t);
    let all = if shares.len() <= 32 {
        &shares[..]
    } else {
        &shares[..t]
    };
    for quorum in [&shares[..t], &shares[shares.len() - t..], all] {
        assert_eq!(shamir::combine(quorum).unwrap().expose_secret(), secret);
    }
    for share in &shares[..t] {
        for text in [share.to_hex(), share.to_base64()] {
            let back = Share::parse(text.expose_secret(), secret.len()).unwrap();
            assert_eq!(
                back.to_bytes().expose_secret(),
                share.to_bytes().expose_secret()
            );
        }
    }
}

fn parse_and_combine(secret_len: usize, text: &[u8]) {
    let text = String::from_utf8_lossy(text);
    let mut shares = Vec::new();
    for line in text.lines().take(64) {
        let Ok(share) = Share::parse(line, secret_len) else {
            continue;
        };
        let bytes = share.to_bytes();
        assert_eq!(bytes.len(), secret_len + 1);
        assert_ne!(share.x(), 0);
        let again = Share::parse(share.to_hex().expose_secret(), secret_len).unwrap();
        assert_eq!(again.to_bytes().expose_secret(), bytes.expose_secret());
        shares.push(share);
    }
    let mut xs: Vec<u8> = shares.iter().map(Share::x).collect();
    xs.sort_unstable();
    xs.dedup();
    match shamir::combine(&shares) {
        Ok(secret) => {
            assert_eq!(secret.len(), secret_len);
            assert_eq!(xs.len(), shares.len());
        }
        Err(ShamirError::NoShares) => assert!(shares.is_empty()),
        Err(ShamirError::DuplicateShare) => assert!(xs.len() < shares.len()),
        Err(other) => panic!("combine: {other:?}"),
    }
}
