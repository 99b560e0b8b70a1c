//! Which commands take input from stdin or a hidden prompt. Such a command must
//! not be run a second time (as following the active node would): the input is
//! gone, or the operator would be asked again.
//!
//! Decided from the parsed arguments, before anything runs. The matches name
//! every command so that a new one has to be placed here.

use crate::{
    AuditCommand, Command, KvCommand, MountCommand, Operator, PolicyCommand, TokenCommand,
};

/// One secret line: asked for without echo on a terminal, else read from
/// stdin (a pipe, a file), trimmed. `what` names it in errors.
pub fn secret_line(prompt: &str, what: &str) -> anyhow::Result<String> {
    use anyhow::Context as _;
    use std::io::IsTerminal as _;
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(prompt)
            .with_context(|| format!("reading the {what} from the terminal"));
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .with_context(|| format!("reading the {what} from stdin"))?;
    Ok(line.trim().to_owned())
}

/// `k=-` reads the value from stdin, and `-` the whole data as JSON (see
/// [`crate::logical::parse_pairs`]).
fn any_pair_from_stdin(pairs: &[String]) -> bool {
    pairs
        .iter()
        .any(|pair| pair == "-" || pair.split_once('=').is_some_and(|(_, value)| value == "-"))
}

/// A share given as `-` or not at all is read from stdin or prompted for.
fn key_from_stdin(key: Option<&str>) -> bool {
    matches!(key, None | Some("-"))
}

/// Whether running `command` reads stdin or prompts.
pub fn reads_stdin(command: &Command) -> bool {
    match command {
        Command::Status | Command::List { .. } | Command::Delete { .. } => false,
        Command::Operator(op) => match op {
            Operator::Unseal { key, reset, .. } => !reset && key_from_stdin(key.as_deref()),
            // As main dispatches: a share is read only for an update (--nonce)
            // or a verification (--verify, with or without --nonce).
            Operator::Rekey {
                init,
                verify,
                status,
                cancel,
                nonce,
                key,
                ..
            } => {
                !init
                    && !status
                    && !cancel
                    && (*verify || nonce.is_some())
                    && key_from_stdin(key.as_deref())
            }
            Operator::Init { .. }
            | Operator::Seal
            | Operator::Rotate
            | Operator::KeyStatus
            | Operator::StepDown
            | Operator::Members => false,
        },
        Command::Login { method, args, .. } => match method.as_str() {
            "token" => args.is_empty() || args.iter().any(|a| a == "-"),
            "userpass" | "ldap" => {
                any_pair_from_stdin(args) || !args.iter().any(|a| a.starts_with("password="))
            }
            _ => any_pair_from_stdin(args),
        },
        Command::Unwrap { token, .. } => token.as_deref() == Some("-"),
        Command::Read { pairs, .. }
        | Command::Write { pairs, .. }
        | Command::Patch { pairs, .. } => any_pair_from_stdin(pairs),
        Command::Kv { command } => match command {
            KvCommand::Put { pairs, .. } | KvCommand::Patch { pairs, .. } => {
                any_pair_from_stdin(pairs)
            }
            KvCommand::Get { .. }
            | KvCommand::Delete { .. }
            | KvCommand::Undelete { .. }
            | KvCommand::Destroy { .. }
            | KvCommand::Metadata(_)
            | KvCommand::List { .. } => false,
        },
        Command::Token(command) => match command {
            TokenCommand::Create { metadata, .. } => any_pair_from_stdin(metadata),
            // The token acted on, given as `-` (see commands::token_argument).
            TokenCommand::Lookup { token, .. }
            | TokenCommand::Renew { token, .. }
            | TokenCommand::Revoke { token, .. } => token.as_deref() == Some("-"),
            TokenCommand::Capabilities { args } => {
                args.len() == 2 && args.first().is_some_and(|a| a == "-")
            }
        },
        Command::Policy(command) => match command {
            PolicyCommand::Write { file, .. } => file == "-",
            PolicyCommand::Read { .. } | PolicyCommand::List | PolicyCommand::Delete { .. } => {
                false
            }
        },
        Command::Secrets(command) | Command::Auth(command) => match command {
            MountCommand::Enable { .. }
            | MountCommand::Disable { .. }
            | MountCommand::List
            | MountCommand::Tune { .. } => false,
        },
        Command::Audit(command) => match command {
            AuditCommand::Enable { options, .. } => any_pair_from_stdin(options),
            AuditCommand::Hash { input, .. } => input == "-",
            AuditCommand::Disable { .. } | AuditCommand::List | AuditCommand::Verify { .. } => {
                false
            }
        },
        Command::Lease(_) | Command::Bench(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn reads(args: &[&str]) -> bool {
        let cli =
            crate::Cli::try_parse_from(std::iter::once("vault-cli").chain(args.iter().copied()))
                .unwrap();
        reads_stdin(&cli.command)
    }

    #[test]
    fn unseal_reads_stdin_unless_given_a_key_or_resetting() {
        assert!(reads(&["operator", "unseal"]));
        assert!(reads(&["operator", "unseal", "-"]));
        assert!(!reads(&["operator", "unseal", "abcd"]));
        assert!(!reads(&["operator", "unseal", "--reset"]));
    }

    #[test]
    fn rekey_reads_a_share_only_for_an_update_or_a_verification() {
        assert!(reads(&["operator", "rekey", "--nonce", "n"]));
        assert!(!reads(&["operator", "rekey", "--nonce", "n", "abcd"]));
        assert!(!reads(&["operator", "rekey", "--init"]));
        assert!(!reads(&["operator", "rekey", "--status"]));
        assert!(reads(&["operator", "rekey", "--verify"]));
        assert!(reads(&[
            "operator", "rekey", "--verify", "--nonce", "n", "-"
        ]));
        assert!(!reads(&["operator", "rekey", "--verify", "abcd"]));
        assert!(!reads(&["operator", "rekey", "--verify", "--status"]));
        assert!(!reads(&["operator", "rekey", "--verify", "--cancel"]));
        assert!(!reads(&[
            "operator",
            "rekey",
            "--init",
            "--skip-verification"
        ]));
    }

    #[test]
    fn a_dash_value_reads_stdin() {
        assert!(reads(&["write", "secret/x", "a=1", "b=-"]));
        assert!(reads(&["read", "secret/x", "q=-"]));
        assert!(reads(&["kv", "put", "secret/x", "v=-"]));
        assert!(reads(&["kv", "put", "secret/x", "-"]));
        assert!(!reads(&["kv", "put", "secret/x", "@data.json"]));
        assert!(reads(&["token", "create", "--metadata", "k=-"]));
        assert!(reads(&["audit", "enable", "file", "file_path=-"]));
        assert!(!reads(&["write", "secret/x", "a=1", "b=@file", "c=x-"]));
        assert!(!reads(&["kv", "get", "secret/x"]));
    }

    #[test]
    fn dash_files_and_inputs_read_stdin() {
        assert!(reads(&["policy", "write", "p", "-"]));
        assert!(!reads(&["policy", "write", "p", "p.hcl"]));
        assert!(reads(&["audit", "hash", "file", "-"]));
        assert!(!reads(&["audit", "hash", "file", "secret"]));
    }

    #[test]
    fn logins_that_prompt() {
        assert!(reads(&["login"]));
        assert!(!reads(&["login", "s.token"]));
        assert!(reads(&["login", "--method", "userpass", "username=u"]));
        assert!(!reads(&[
            "login",
            "--method",
            "userpass",
            "username=u",
            "password=p"
        ]));
        assert!(!reads(&[
            "login",
            "--method",
            "approle",
            "role_id=r",
            "secret_id=s"
        ]));
        assert!(reads(&[
            "login",
            "--method",
            "approle",
            "role_id=r",
            "secret_id=-"
        ]));
    }

    #[test]
    fn a_token_given_as_dash_reads_stdin() {
        assert!(reads(&["login", "-"]));
        assert!(!reads(&["login", "@token.txt"]));
        for command in ["lookup", "renew", "revoke"] {
            assert!(reads(&["token", command, "-"]), "{command}");
            assert!(!reads(&["token", command, "@t"]), "{command}");
            assert!(!reads(&["token", command]), "{command}");
        }
        assert!(reads(&["token", "capabilities", "-", "secret/x"]));
        assert!(!reads(&["token", "capabilities", "secret/x"]));
        assert!(!reads(&["token", "capabilities", "@t", "secret/x"]));
    }

    #[test]
    fn plain_commands_do_not() {
        assert!(!reads(&["status"]));
        assert!(!reads(&["operator", "step-down"]));
        assert!(!reads(&["operator", "members"]));
        assert!(!reads(&["list", "secret/"]));
        assert!(!reads(&["lease", "count"]));
    }
}
