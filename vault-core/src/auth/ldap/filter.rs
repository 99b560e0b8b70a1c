//! The search filters and DNs a login builds from what a caller typed.
//! Every value from the caller is escaped where it lands: RFC 4515 in a
//! filter (`*`, `(`, `)`, `\` and NUL become `\2a`...), RFC 4514 in a DN
//! (`,`, `+`, `"`, `\`, `<`, `>`, `;`, `=`, NUL, and a leading `#` or space,
//! a trailing space), so a username can never widen a search or name
//! another entry to bind as. Templates are Vault's: `{{.Username}}`,
//! `{{.UserDN}}` and `{{.UserAttr}}`, and nothing else.

/// The most placeholders one template may hold.
const MAX_PLACEHOLDERS: usize = 16;

/// What a template can be filled with. `username` and `user_dn` are
/// escaped as filter values; `user_attr` is the operator's attribute name.
pub(super) struct Values<'a> {
    pub username: &'a str,
    pub user_dn: &'a str,
    pub user_attr: &'a str,
}

/// Why a template is refused (when the config is written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum FilterError {
    /// `{{` without `}}`.
    #[error("a {{{{ is not closed")]
    Unterminated,
    /// An unknown placeholder.
    #[error("unknown placeholder {0:?}; expected .Username, .UserDN or .UserAttr")]
    Unknown(String),
    /// Not a parenthesised filter.
    #[error("a filter must start with '(' and end with ')'")]
    NotParenthesised,
    /// Too many placeholders.
    #[error("more than {MAX_PLACEHOLDERS} placeholders")]
    TooMany,
}

/// Checks a filter template.
pub(super) fn check(template: &str) -> Result<(), FilterError> {
    let t = template.trim();
    if !(t.starts_with('(') && t.ends_with(')')) {
        return Err(FilterError::NotParenthesised);
    }
    let values = Values {
        username: "",
        user_dn: "",
        user_attr: "",
    };
    render(template, &values).map(|_| ())
}

/// The filter `template` makes with `values`, each caller value escaped.
pub(super) fn render(template: &str, values: &Values<'_>) -> Result<String, FilterError> {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    let mut count = 0;
    while let Some(open) = rest.find("{{") {
        count += 1;
        if count > MAX_PLACEHOLDERS {
            return Err(FilterError::TooMany);
        }
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let close = after.find("}}").ok_or(FilterError::Unterminated)?;
        match after[..close].trim() {
            ".Username" => out.push_str(&ldap3::ldap_escape(values.username)),
            ".UserDN" => out.push_str(&ldap3::ldap_escape(values.user_dn)),
            ".UserAttr" => out.push_str(values.user_attr),
            other => return Err(FilterError::Unknown(other.chars().take(64).collect())),
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The DN of `username` under `userdn` with the RDN attribute `userattr`:
/// `uid=<escaped username>,ou=people,...`.
pub(super) fn user_dn(userattr: &str, username: &str, userdn: &str) -> String {
    let rdn = format!("{userattr}={}", ldap3::dn_escape(username));
    if userdn.is_empty() {
        rdn
    } else {
        format!("{rdn},{userdn}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn values(username: &str) -> Values<'_> {
        Values {
            username,
            user_dn: "uid=x,ou=people,dc=example,dc=test",
            user_attr: "uid",
        }
    }

    #[test]
    fn caller_values_cannot_widen_a_filter_or_change_a_dn() {
        let f = render(
            "(&(objectClass=person)({{.UserAttr}}={{.Username}}))",
            &values("*)(uid=*"),
        )
        .unwrap();
        assert_eq!(f, r"(&(objectClass=person)(uid=\2a\29\28uid=\2a))");
        let nul = render("(uid={{ .Username }})", &values("a\0b")).unwrap();
        assert_eq!(nul, r"(uid=a\00b)");
        assert_eq!(
            user_dn("uid", "kim,lee", "ou=people,dc=example,dc=test"),
            r"uid=kim\2clee,ou=people,dc=example,dc=test"
        );
        assert_eq!(
            user_dn("cn", "x,cn=admin", "dc=t"),
            r"cn=x\2ccn\3dadmin,dc=t"
        );
        assert_eq!(user_dn("cn", " #lead ", "dc=t"), r"cn=\20#lead\20,dc=t");
    }

    #[test]
    fn templates_are_checked() {
        assert!(check(super::super::config::DEFAULT_GROUP_FILTER).is_ok());
        assert_eq!(
            check("(uid={{.Password}})"),
            Err(FilterError::Unknown(".Password".into()))
        );
        assert_eq!(check("(uid={{.Username)"), Err(FilterError::Unterminated));
        assert_eq!(
            check("uid={{.Username}}"),
            Err(FilterError::NotParenthesised)
        );
    }

    proptest! {
        /// Whatever a caller types, the rendered filter holds exactly the
        /// template's parentheses and wildcards.
        #[test]
        fn a_username_never_adds_structure(name in "\\PC{0,24}") {
            let f = render("(uid={{.Username}})", &values(&name)).unwrap();
            let structure = |s: &str| s.chars().filter(|c| matches!(c, '(' | ')' | '*')).count();
            prop_assert_eq!(structure(&f), 2);
            let dn = user_dn("uid", &name, "dc=t");
            prop_assert!(!dn[4..dn.len() - 5].chars().any(|c| matches!(c, ',' | '+' | '=' | '"' | ';' | '<' | '>')));
        }
    }
}
