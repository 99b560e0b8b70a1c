//! Following the active node: a standby that does not forward a request answers
//! UNAVAILABLE with the active node's address in `x-vault-leader`, and the
//! command then runs once more at that address. Once only (no loops), and not
//! when the command's input came from stdin or a prompt, which cannot be read
//! a second time.

use std::fmt;
use std::future::Future;

use tonic::Code;

use crate::client::{CallError, Target};

/// What to do after a command failed.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Return the error as it is.
    GiveUp,
    /// Run the command again at the active node's address.
    Retry(String),
    /// Do not retry; say where the active node is and why it was not tried.
    Tell { leader: String, why: NotRetried },
}

/// Why a standby's refusal was not followed.
#[derive(Debug, PartialEq, Eq)]
pub enum NotRetried {
    /// The command consumed stdin or prompted; running it again would read again.
    InputFromStdin,
    /// The command went over https and the active node's address is not https:
    /// the token would travel in the clear.
    NotHttps,
}

impl fmt::Display for NotRetried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NotRetried::InputFromStdin => {
                "the command read its input from stdin or a prompt; run it again with that VAULT_ADDR"
            }
            NotRetried::NotHttps => "its address is not https, and the token is not sent in the clear",
        })
    }
}

/// The active node's address, when `status` is a standby's refusal naming one.
pub fn leader_in(status: &tonic::Status) -> Option<String> {
    if status.code() != Code::Unavailable {
        return None;
    }
    let value = status
        .metadata()
        .get(vault_proto::LEADER_METADATA_KEY)?
        .to_str()
        .ok()?
        .trim();
    (value.starts_with("http://") || value.starts_with("https://")).then(|| value.to_owned())
}

/// The leader named by the first refused call in the error's chain.
fn leader_of(error: &anyhow::Error) -> Option<String> {
    error
        .chain()
        .find_map(|e| e.downcast_ref::<CallError>())
        .and_then(|e| leader_in(e.status()))
}

fn same_address(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

/// Decides what follows a failure of a command sent to `used`.
pub fn decide(error: &anyhow::Error, used: &str, input_from_stdin: bool) -> Next {
    let Some(leader) = leader_of(error) else {
        return Next::GiveUp;
    };
    // A standby naming the address just used would send us round in a circle.
    if same_address(&leader, used) {
        return Next::GiveUp;
    }
    if used.starts_with("https://") && !leader.starts_with("https://") {
        return Next::Tell {
            leader,
            why: NotRetried::NotHttps,
        };
    }
    if input_from_stdin {
        return Next::Tell {
            leader,
            why: NotRetried::InputFromStdin,
        };
    }
    Next::Retry(leader)
}

/// Runs a command through `run`, and once more at the active node when a
/// standby turned it away (same token, same CA file).
pub async fn follow<F, Fut>(
    target: Target,
    input_from_stdin: bool,
    mut run: F,
) -> anyhow::Result<u8>
where
    F: FnMut(Target) -> Fut,
    Fut: Future<Output = anyhow::Result<u8>>,
{
    let error = match run(target.clone()).await {
        Err(error) => error,
        done => return done,
    };
    match decide(&error, &target.address, input_from_stdin) {
        Next::GiveUp => Err(error),
        Next::Retry(leader) => {
            eprintln!(
                "note: {} is a standby; retrying at the active node {leader}",
                target.address
            );
            run(Target {
                address: leader,
                ..target
            })
            .await
        }
        Next::Tell { leader, why } => Err(anyhow::anyhow!(
            "{error:#}\nnote: {} is a standby; the active node is {leader} (not retried: {why})",
            target.address
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::failed;
    use tonic::metadata::{MetadataMap, MetadataValue};

    fn refusal(code: Code, leader: Option<&'static str>) -> tonic::Status {
        let mut metadata = MetadataMap::new();
        if let Some(leader) = leader {
            metadata.insert(
                vault_proto::LEADER_METADATA_KEY,
                MetadataValue::from_static(leader),
            );
        }
        tonic::Status::with_metadata(code, "this node is a standby", metadata)
    }

    fn error(code: Code, leader: Option<&'static str>) -> anyhow::Error {
        failed("Error reading secret/x", refusal(code, leader))
    }

    #[test]
    fn the_leader_is_read_only_from_unavailable() {
        let active = Some("http://127.0.0.1:8201");
        assert_eq!(
            leader_in(&refusal(Code::Unavailable, active)).as_deref(),
            Some("http://127.0.0.1:8201")
        );
        assert_eq!(leader_in(&refusal(Code::Unavailable, None)), None);
        assert_eq!(leader_in(&refusal(Code::PermissionDenied, active)), None);
        assert_eq!(leader_in(&refusal(Code::Internal, active)), None);
    }

    #[test]
    fn a_leader_that_is_not_a_url_is_ignored() {
        assert_eq!(leader_in(&refusal(Code::Unavailable, Some(""))), None);
        assert_eq!(
            leader_in(&refusal(Code::Unavailable, Some("127.0.0.1:8201"))),
            None
        );
    }

    #[test]
    fn a_refusal_keeps_its_message() {
        let e = error(Code::Unavailable, Some("http://127.0.0.1:8201"));
        assert_eq!(
            format!("{e:#}"),
            "Error reading secret/x: this node is a standby (code: Unavailable)"
        );
    }

    #[test]
    fn a_standby_naming_another_node_is_followed() {
        let e = error(Code::Unavailable, Some("http://127.0.0.1:8201"));
        assert_eq!(
            decide(&e, "http://127.0.0.1:8200", false),
            Next::Retry("http://127.0.0.1:8201".into())
        );
        // Through added context too.
        let e = e.context("while doing something");
        assert_eq!(
            decide(&e, "http://127.0.0.1:8200", false),
            Next::Retry("http://127.0.0.1:8201".into())
        );
    }

    #[test]
    fn no_retry_at_the_same_address() {
        let e = error(Code::Unavailable, Some("http://127.0.0.1:8201/"));
        assert_eq!(decide(&e, "http://127.0.0.1:8201", false), Next::GiveUp);
    }

    #[test]
    fn no_retry_without_the_leader_or_for_other_errors() {
        let addr = "http://127.0.0.1:8200";
        assert_eq!(
            decide(&error(Code::Unavailable, None), addr, false),
            Next::GiveUp
        );
        let denied = error(Code::PermissionDenied, Some("http://127.0.0.1:8201"));
        assert_eq!(decide(&denied, addr, false), Next::GiveUp);
        assert_eq!(
            decide(&anyhow::anyhow!("no route"), addr, false),
            Next::GiveUp
        );
    }

    #[test]
    fn input_from_stdin_is_not_read_twice() {
        let e = error(Code::Unavailable, Some("http://127.0.0.1:8201"));
        assert_eq!(
            decide(&e, "http://127.0.0.1:8200", true),
            Next::Tell {
                leader: "http://127.0.0.1:8201".into(),
                why: NotRetried::InputFromStdin
            }
        );
    }

    #[test]
    fn https_is_not_given_up_for_http() {
        let e = error(Code::Unavailable, Some("http://10.0.0.2:8200"));
        assert_eq!(
            decide(&e, "https://10.0.0.1:8200", false),
            Next::Tell {
                leader: "http://10.0.0.2:8200".into(),
                why: NotRetried::NotHttps
            }
        );
        let e = error(Code::Unavailable, Some("https://10.0.0.2:8200"));
        assert_eq!(
            decide(&e, "https://10.0.0.1:8200", false),
            Next::Retry("https://10.0.0.2:8200".into())
        );
    }

    #[test]
    fn follow_retries_once_only() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let target = Target {
            address: "http://127.0.0.1:8200".into(),
            ca_cert: None,
            token: None,
            no_forward: true,
            wrap_ttl: None,
        };
        let mut tried = Vec::new();
        // Every node claims the other is active: the second refusal is final.
        let outcome = runtime.block_on(follow(target, false, |t| {
            let other = if t.address.ends_with("8200") {
                "http://127.0.0.1:8201"
            } else {
                "http://127.0.0.1:8200"
            };
            tried.push(t.address);
            async move { Err(error(Code::Unavailable, Some(other))) }
        }));
        assert!(outcome.is_err());
        assert_eq!(tried, ["http://127.0.0.1:8200", "http://127.0.0.1:8201"]);
    }
}
