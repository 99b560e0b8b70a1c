//! Vault's CLI spells long flags with one dash (`-path=foo`, `-format json`),
//! and every Vault user types them so; clap wants two. The arguments are
//! rewritten before clap sees them: an argument of one dash, a letter, and
//! at least one more letter, digit or dash (optionally `=value`) gets a
//! second dash. Left alone: `-` (stdin), `-h` and other one-letter flags,
//! `-1` and other negative numbers, anything after `--`.

use std::ffi::OsString;

/// `args` with single-dash long flags made double-dash.
pub fn double_dashed(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut flags_end = false;
    for arg in args {
        if flags_end {
            out.push(arg);
            continue;
        }
        match arg.to_str() {
            Some("--") => {
                flags_end = true;
                out.push(arg);
            }
            Some(text) if is_single_dash_long(text) => out.push(format!("-{text}").into()),
            _ => out.push(arg),
        }
    }
    out
}

fn is_single_dash_long(arg: &str) -> bool {
    let Some(rest) = arg.strip_prefix('-') else {
        return false;
    };
    let name = rest.split_once('=').map_or(rest, |(name, _)| name);
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(args: &[&str]) -> Vec<String> {
        double_dashed(args.iter().map(OsString::from))
            .into_iter()
            .map(|a| a.into_string().unwrap_or_default())
            .collect()
    }

    #[test]
    fn long_flags_get_a_second_dash_and_nothing_else_does() {
        assert_eq!(
            rewritten(&[
                "vault-cli",
                "secrets",
                "enable",
                "-path=foo",
                "-format",
                "json",
                "kv"
            ]),
            [
                "vault-cli",
                "secrets",
                "enable",
                "--path=foo",
                "--format",
                "json",
                "kv"
            ]
        );
        assert_eq!(
            rewritten(&[
                "kv",
                "put",
                "a/b",
                "-",
                "-h",
                "-1",
                "--cas",
                "x=-y",
                "-explicit-max-ttl=1h"
            ]),
            [
                "kv",
                "put",
                "a/b",
                "-",
                "-h",
                "-1",
                "--cas",
                "x=-y",
                "--explicit-max-ttl=1h"
            ]
        );
        assert_eq!(
            rewritten(&["write", "--", "-path=kept"]),
            ["write", "--", "-path=kept"]
        );
    }
}
