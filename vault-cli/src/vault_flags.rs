//! Vault's CLI spells long flags with one dash (`-path=foo`, `-format json`),
//! and every Vault user types them so; clap wants two. The arguments are
//! rewritten before clap sees them: an argument of one dash, a letter, and
//! at least one more letter, digit or dash (optionally `=value`) gets a
//! second dash. Left alone: `-` (stdin), `-h` and other one-letter flags,
//! `-1` and other negative numbers, anything after `--`.

use std::ffi::OsString;

/// `command` with every argument read from an empty environment variable
/// (`VAULT_CACERT=`) reading as if the variable were unset, as Vault's CLI
/// does. clap would take the empty value, and refuse it as a usage error,
/// whose exit code 2 is `status`'s "sealed".
pub fn empty_env_unset(mut command: clap::Command) -> clap::Command {
    let empty: Vec<clap::Id> = command
        .get_arguments()
        .filter(|arg| {
            arg.get_env()
                .is_some_and(|name| std::env::var_os(name).is_some_and(|v| v.is_empty()))
        })
        .map(|arg| arg.get_id().clone())
        .collect();
    for id in empty {
        command = command.mut_arg(id, |arg| arg.env(None::<&'static str>));
    }
    command
}

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
