//! `auth/<mount>/login/<username>` with `password`: the user's DN is found
//! (searched with the search bind, or built from `userdn`, or the UPN for
//! Active Directory), the user binds with the password, and their groups
//! are searched (nested groups followed upwards, bounded). An empty password
//! is refused before any bind (many servers take an empty password as an
//! anonymous bind, which succeeds). A wrong password, an unknown user and
//! an account the directory disabled all get the same answer.

use std::collections::{BTreeSet, VecDeque};

use crate::auth::{lockout, records};
use crate::engines::{EngineError, View};
use crate::error::field;
use crate::params;
use crate::request::{AliasGrant, Data, LoginLockout, Response};
use crate::secret::SecretString;

use super::LdapAuth;
use super::config::LdapConfig;
use super::directory::{self, Bound, DirectoryError, Entry, Session};
use super::entries::{self, Kind};
use super::filter::{self, Values};

/// The one answer for every refused login.
const REFUSED: &str = "invalid username or password";

/// Groups followed at most (direct and nested together), and how deep.
const MAX_GROUPS: usize = 256;
const MAX_NESTING: usize = 8;

fn upstream(e: DirectoryError) -> EngineError {
    EngineError::Upstream(e.to_string())
}

impl LdapAuth {
    pub(super) async fn login(
        &self,
        view: &View<'_>,
        username: &str,
        data: &Data,
        remote_addr: Option<std::net::IpAddr>,
    ) -> Result<Response, EngineError> {
        let config: LdapConfig = records::config(view)
            .await?
            .ok_or_else(|| EngineError::InvalidRequest("ldap backend not configured".into()))?;
        let password = field(params::string(data, "password"))?
            .map(SecretString::new)
            .unwrap_or_else(|| SecretString::new(String::new()));
        if username.is_empty() || username.len() > 256 || password.expose_secret().is_empty() {
            return Err(EngineError::LoginRefused(REFUSED));
        }
        let username = if config.case_sensitive_names {
            username.to_owned()
        } else {
            username.to_lowercase()
        };
        // A user locked out from this address is refused before the
        // directory is asked, which also keeps a stranger's guesses from
        // reaching the directory's own lockout. The record's lock is not held
        // across the bind (one user's logins would queue behind each other's
        // round trips), so a burst of guesses in flight together may pass
        // this check before the first failure is written.
        let rules = lockout::Rules::default();
        let address = lockout::address_key(remote_addr);
        let now = crate::clock::now_unix_millis();
        let mut failures = lockout::load(view, &username).await?;
        failures.expire(now, &rules);
        if failures.is_locked(&address, now) {
            return Err(EngineError::LoginRefused(REFUSED));
        }
        let key = directory::config_key(&config);
        // A success is forgiven by the pipeline once the whole login,
        // second factor included, passed.
        let (mut session, user) = match self.bind_user(&config, &key, &username, &password).await? {
            Ok(bound) => bound,
            Err(refused) => {
                if refused == Refused::UserFound {
                    self.count_failure(view, &username, &address, now, &rules)
                        .await?;
                }
                return Err(EngineError::LoginRefused(REFUSED));
            }
        };

        // Groups, searched as the search bind when there is one.
        if !config.binddn.is_empty() {
            match session
                .bind(&config.binddn, &config.bindpass)
                .await
                .map_err(upstream)?
            {
                Bound::Yes => {}
                Bound::Refused => {
                    return Err(EngineError::Upstream(
                        "the directory refused the search bind (binddn/bindpass)".into(),
                    ));
                }
            }
        }
        let mut groups = directory_groups(&config, &mut session, &username, &user.dn).await?;
        if !config.binddn.is_empty() {
            // Bound as the search bind again: the next login's.
            self.directory.keep(key, session);
        }
        let local = match entries::key(&username, config.case_sensitive_names) {
            Ok(key) => entries::load(view, Kind::Users, &key).await?,
            Err(_) => None,
        };
        if let Some(user_entry) = &local {
            groups.extend(user_entry.groups.iter().cloned());
        }

        let mut policies: BTreeSet<String> = config.token.policies.iter().cloned().collect();
        if let Some(user_entry) = &local {
            policies.extend(user_entry.policies.iter().cloned());
        }
        for group in &groups {
            if let Ok(key) = entries::key(group, config.case_sensitive_names)
                && let Some(mapping) = entries::load(view, Kind::Groups, &key).await?
            {
                policies.extend(mapping.policies);
            }
        }
        let mut grant = config.token.grant();
        grant.policies = policies.into_iter().collect();
        grant.display_name = username.clone();
        grant.metadata =
            std::collections::BTreeMap::from([("username".to_owned(), username.clone())]);
        let alias = if config.username_as_alias {
            username.clone()
        } else {
            user.attr.unwrap_or_else(|| username.clone())
        };
        grant.lockout = Some(LoginLockout {
            name: username.clone(),
            rules,
        });
        grant.alias = Some(AliasGrant {
            name: alias,
            metadata: std::collections::BTreeMap::from([("name".to_owned(), username)]),
            groups: Some(groups.into_iter().collect()),
        });
        Ok(Response {
            login: Some(grant),
            ..Response::default()
        })
    }

    /// Counts a refused bind of a user the directory found.
    async fn count_failure(
        &self,
        view: &View<'_>,
        username: &str,
        address: &str,
        now: u64,
        rules: &lockout::Rules,
    ) -> Result<(), EngineError> {
        let _record = lockout::lock(view, username).await;
        let mut failures = lockout::load(view, username).await?;
        failures.expire(now, rules);
        if failures.record_failure(address, now, rules) {
            tracing::warn!(
                user = %username,
                address = %address,
                "ldap: user locked out from one address after repeated failed logins"
            );
        }
        view.batch(vec![failures.op(username)?]).await?;
        Ok(())
    }

    /// Finds the user's DN and binds as the user: the session, bound as
    /// them, or why not.
    async fn bind_user(
        &self,
        config: &LdapConfig,
        key: &str,
        username: &str,
        password: &SecretString,
    ) -> Result<Result<(Session, User), Refused>, EngineError> {
        let searched = !config.binddn.is_empty() || config.discoverdn;
        if !searched {
            // No search: the DN is built (or, for Active Directory, the UPN
            // is the bind name).
            let dn = if config.upndomain.is_empty() {
                filter::user_dn(&config.userattr, username, &config.userdn)
            } else {
                format!("{}@{}", ldap3::dn_escape(username), config.upndomain)
            };
            let (session, bound) = self
                .directory
                .open(config, &dn, password.expose_secret())
                .await
                .map_err(upstream)?;
            if bound != Bound::Yes {
                // A server refuses a DN that does not exist as it refuses a
                // wrong password: nothing says the user exists.
                return Ok(Err(Refused::UserUnknown));
            }
            return Ok(Ok((session, User { dn, attr: None })));
        }
        let search = if config.upndomain.is_empty() {
            filter::render(
                &config.userfilter,
                &Values {
                    username,
                    user_dn: "",
                    user_attr: &config.userattr,
                },
            )
            .map_err(|e| EngineError::InvalidRequest(format!("userfilter: {e}")))?
        } else {
            format!(
                "(userPrincipalName={})",
                ldap3::ldap_escape(format!("{username}@{}", config.upndomain))
            )
        };
        let attrs = [config.userattr.as_str()];
        let mut session = self
            .directory
            .search_session(config, key)
            .await
            .map_err(upstream)?;
        let found = match session.search(&config.userdn, &search, &attrs).await {
            Ok(found) => found,
            // A kept session may have been closed by its server: once more
            // on a new one.
            Err(_) if session.reused => {
                session = self
                    .directory
                    .fresh_search_session(config)
                    .await
                    .map_err(upstream)?;
                session
                    .search(&config.userdn, &search, &attrs)
                    .await
                    .map_err(upstream)?
            }
            Err(e) => return Err(upstream(e)),
        };
        // None, or more than one: the same refusal as a wrong password.
        let Ok([user]) = <[Entry; 1]>::try_from(found) else {
            return Ok(Err(Refused::UserUnknown));
        };
        match session
            .bind(&user.dn, password.expose_secret())
            .await
            .map_err(upstream)?
        {
            Bound::Yes => {}
            Bound::Refused => return Ok(Err(Refused::UserFound)),
        }
        let attr = user
            .attrs
            .get(&config.userattr.to_ascii_lowercase())
            .and_then(|v| v.first())
            .cloned();
        Ok(Ok((session, User { dn: user.dn, attr })))
    }
}

/// Why the directory refused a login. Only a refusal of a user the
/// directory found counts towards the lockout: counting names nobody has
/// would let strangers fill storage with records of their choosing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    /// The search found exactly this user, and its bind was refused.
    UserFound,
    /// No such user, more than one, or a bind without a search.
    UserUnknown,
}

/// The user as found.
struct User {
    dn: String,
    /// The value of `userattr` on the entry, when it was searched.
    attr: Option<String>,
}

/// The names of the groups the user is in: those `groupfilter` finds under
/// `groupdn`, and the groups those are members of, up to
/// [`MAX_NESTING`] levels and [`MAX_GROUPS`] groups.
async fn directory_groups(
    config: &LdapConfig,
    session: &mut Session,
    username: &str,
    user_dn: &str,
) -> Result<BTreeSet<String>, EngineError> {
    let mut names = BTreeSet::new();
    if config.groupdn.is_empty() {
        return Ok(names);
    }
    let attr = config.groupattr.to_ascii_lowercase();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut queue: VecDeque<(String, String, usize)> = VecDeque::new();
    queue.push_back((username.to_owned(), user_dn.to_owned(), 0));
    while let Some((name, dn, depth)) = queue.pop_front() {
        if depth >= MAX_NESTING || seen.len() >= MAX_GROUPS {
            break;
        }
        let search = filter::render(
            &config.groupfilter,
            &Values {
                username: &name,
                user_dn: &dn,
                user_attr: &config.userattr,
            },
        )
        .map_err(|e| EngineError::InvalidRequest(format!("groupfilter: {e}")))?;
        let found = session
            .search(&config.groupdn, &search, &[config.groupattr.as_str()])
            .await
            .map_err(upstream)?;
        for group in found {
            if !seen.insert(group.dn.to_ascii_lowercase()) {
                continue;
            }
            for value in group.attrs.get(&attr).into_iter().flatten() {
                names.insert(first_rdn_value(value));
            }
            // Groups that hold this group: matched by its DN, never by a
            // username.
            queue.push_back((String::new(), group.dn.clone(), depth + 1));
        }
    }
    Ok(names)
}

/// A group attribute's value; for a DN-valued one (`memberOf`), the value
/// of its first RDN, as Vault takes it.
fn first_rdn_value(value: &str) -> String {
    match value.split_once('=') {
        Some((attr, rest)) if !attr.contains(',') && rest.contains(',') => {
            rest.split(',').next().unwrap_or(rest).to_owned()
        }
        _ => value.to_owned(),
    }
}
