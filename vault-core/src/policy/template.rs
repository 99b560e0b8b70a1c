//! Policy templates (Vault's templated policies): a path such as
//! `secret/data/{{identity.entity.name}}/*` is filled in per request from
//! the caller's identity. A template that cannot be filled safely (the
//! value is missing, or holds characters that would widen the path: a glob,
//! a segment wildcard, or a `/` that would reach into another caller's
//! space, as a subject `bob/x` would under `secret/data/{{...}}/*`) makes
//! the rule apply to nothing: a template may only ever narrow what a policy
//! grants.

use std::collections::BTreeMap;

/// The most templates one string may hold: policies are written by
/// operators, but a bound keeps evaluation per request small.
pub const MAX_TEMPLATES: usize = 32;

/// What a template can be filled from: the caller's entity, its aliases
/// and its groups, as resolved for this request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityContext {
    /// `identity.entity.id`.
    pub entity_id: String,
    /// `identity.entity.name`.
    pub entity_name: String,
    /// `identity.entity.metadata.<key>`.
    pub metadata: BTreeMap<String, String>,
    /// `identity.entity.aliases.<mount accessor>.name`, by accessor.
    pub alias_names: BTreeMap<String, String>,
    /// `identity.groups.names.<name>.id`, by group name.
    pub group_ids_by_name: BTreeMap<String, String>,
    /// `identity.groups.ids.<id>.name`, by group id.
    pub group_names_by_id: BTreeMap<String, String>,
}

/// Why a template could not be filled. The rule it is in then matches
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{{` without `}}`.
    #[error("policy template is not closed with }}}}")]
    Unterminated,
    /// More than [`MAX_TEMPLATES`].
    #[error("more than {MAX_TEMPLATES} policy templates in one string")]
    TooMany,
    /// Not one of the parameters Vault defines.
    #[error("unknown policy template parameter {0:?}")]
    Unknown(String),
    /// The caller has no such value (no entity, no such metadata key, not
    /// in the group).
    #[error("policy template parameter {0:?} has no value for this caller")]
    Missing(String),
    /// The value would widen the path.
    #[error("policy template parameter {0:?} has a value that is not safe in a path")]
    Unsafe(String),
}

/// Whether `text` holds a template at all (most policies hold none, and
/// are parsed once rather than per request).
pub fn is_templated(text: &str) -> bool {
    text.contains("{{")
}

/// Checks that every template in `text` is well formed and names a known
/// parameter, without an identity: for writing a policy.
pub fn check(text: &str) -> Result<(), TemplateError> {
    for_each_template(text, |parameter| {
        lookup(parameter, None).map(|_| String::new())
    })
    .map(|_| ())
}

/// `text` with every template filled from `identity`.
pub fn render(text: &str, identity: &IdentityContext) -> Result<String, TemplateError> {
    for_each_template(text, |parameter| {
        let value = lookup(parameter, Some(identity))?;
        if value.is_empty() {
            return Err(TemplateError::Missing(parameter.to_owned()));
        }
        if value
            .chars()
            .any(|c| matches!(c, '*' | '+' | '{' | '}' | '/') || c.is_control())
            || value == ".."
        {
            return Err(TemplateError::Unsafe(parameter.to_owned()));
        }
        Ok(value)
    })
}

/// Walks `text`, replacing each `{{ parameter }}` with what `fill` gives.
fn for_each_template(
    text: &str,
    mut fill: impl FnMut(&str) -> Result<String, TemplateError>,
) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut count = 0;
    while let Some(open) = rest.find("{{") {
        count += 1;
        if count > MAX_TEMPLATES {
            return Err(TemplateError::TooMany);
        }
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let close = after.find("}}").ok_or(TemplateError::Unterminated)?;
        out.push_str(&fill(after[..close].trim())?);
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The value of one parameter; with no identity, only whether it is known
/// (an empty value).
fn lookup(parameter: &str, identity: Option<&IdentityContext>) -> Result<String, TemplateError> {
    let unknown = || TemplateError::Unknown(parameter.chars().take(128).collect());
    let missing = || TemplateError::Missing(parameter.to_owned());
    let get =
        |map: Option<&BTreeMap<String, String>>, key: &str| -> Result<String, TemplateError> {
            match map {
                None => Ok(String::new()),
                Some(map) => map.get(key).cloned().ok_or_else(missing),
            }
        };
    let path = parameter.strip_prefix("identity.").ok_or_else(unknown)?;
    if let Some(entity) = path.strip_prefix("entity.") {
        return match entity {
            "id" => Ok(identity.map(|i| i.entity_id.clone()).unwrap_or_default()),
            "name" => Ok(identity.map(|i| i.entity_name.clone()).unwrap_or_default()),
            _ => {
                if let Some(key) = entity.strip_prefix("metadata.").filter(|k| !k.is_empty()) {
                    get(identity.map(|i| &i.metadata), key)
                } else if let Some(accessor) = entity
                    .strip_prefix("aliases.")
                    .and_then(|a| a.strip_suffix(".name"))
                    .filter(|a| !a.is_empty())
                {
                    get(identity.map(|i| &i.alias_names), accessor)
                } else {
                    Err(unknown())
                }
            }
        };
    }
    if let Some(name) = path
        .strip_prefix("groups.names.")
        .and_then(|g| g.strip_suffix(".id"))
        .filter(|g| !g.is_empty())
    {
        return get(identity.map(|i| &i.group_ids_by_name), name);
    }
    if let Some(id) = path
        .strip_prefix("groups.ids.")
        .and_then(|g| g.strip_suffix(".name"))
        .filter(|g| !g.is_empty())
    {
        return get(identity.map(|i| &i.group_names_by_id), id);
    }
    Err(unknown())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn alice() -> IdentityContext {
        IdentityContext {
            entity_id: "5f0c-entity".into(),
            entity_name: "alice".into(),
            metadata: BTreeMap::from([
                ("team".to_owned(), "payments".to_owned()),
                ("sneaky".to_owned(), "a*".to_owned()),
                // A subject such as "bob/x" must not reach into bob's
                // space under `secret/data/{{...}}/*`.
                ("deeper".to_owned(), "bob/x".to_owned()),
                ("dots".to_owned(), "..".to_owned()),
            ]),
            alias_names: BTreeMap::from([("auth_jwt_1234".to_owned(), "alice@ci".to_owned())]),
            group_ids_by_name: BTreeMap::from([("ops".to_owned(), "g-1".to_owned())]),
            group_names_by_id: BTreeMap::from([("g-1".to_owned(), "ops".to_owned())]),
        }
    }

    #[test]
    fn fills_every_parameter() {
        let id = alice();
        for (text, want) in [
            (
                "secret/data/{{identity.entity.id}}/*",
                "secret/data/5f0c-entity/*",
            ),
            ("kv/{{ identity.entity.name }}", "kv/alice"),
            ("kv/{{identity.entity.metadata.team}}/x", "kv/payments/x"),
            (
                "kv/{{identity.entity.aliases.auth_jwt_1234.name}}",
                "kv/alice@ci",
            ),
            ("kv/{{identity.groups.names.ops.id}}", "kv/g-1"),
            ("kv/{{identity.groups.ids.g-1.name}}", "kv/ops"),
            ("no/template/*", "no/template/*"),
        ] {
            assert_eq!(render(text, &id).as_deref(), Ok(want), "{text}");
        }
    }

    #[test]
    fn refuses_rather_than_widens() {
        let id = alice();
        assert_eq!(
            render("kv/{{identity.entity.metadata.sneaky}}", &id),
            Err(TemplateError::Unsafe(
                "identity.entity.metadata.sneaky".into()
            ))
        );
        for key in ["deeper", "dots"] {
            assert!(
                matches!(
                    render(&format!("kv/{{{{identity.entity.metadata.{key}}}}}/*"), &id),
                    Err(TemplateError::Unsafe(_))
                ),
                "{key}"
            );
        }
        assert!(matches!(
            render("kv/{{identity.entity.metadata.absent}}", &id),
            Err(TemplateError::Missing(_))
        ));
        assert!(matches!(
            render("kv/{{identity.groups.names.dev.id}}", &id),
            Err(TemplateError::Missing(_))
        ));
        // A token with no entity has no id to fill in.
        assert!(matches!(
            render("kv/{{identity.entity.id}}", &IdentityContext::default()),
            Err(TemplateError::Missing(_))
        ));
    }

    #[test]
    fn check_catches_what_a_policy_writer_got_wrong() {
        assert_eq!(
            check("kv/{{identity.entity.id}}/{{identity.entity.metadata.k}}"),
            Ok(())
        );
        assert_eq!(
            check("kv/{{identity.entity.id"),
            Err(TemplateError::Unterminated)
        );
        assert!(matches!(
            check("kv/{{identity.entity.secret}}"),
            Err(TemplateError::Unknown(_))
        ));
        assert!(matches!(
            check("kv/{{token.id}}"),
            Err(TemplateError::Unknown(_))
        ));
        assert!(matches!(
            check("kv/{{identity.entity.metadata.}}"),
            Err(TemplateError::Unknown(_))
        ));
        let many = "{{identity.entity.id}}".repeat(MAX_TEMPLATES + 1);
        assert_eq!(check(&many), Err(TemplateError::TooMany));
        assert!(is_templated("a/{{x}}") && !is_templated("a/{x}"));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

        /// Any text, real parameters among the noise: an answer, never a
        /// panic; a rendered path never holds more globs than the text it
        /// came from.
        #[test]
        fn never_panics_and_never_adds_a_glob(parts in proptest::collection::vec(
            prop_oneof![
                "[a-z{}.*+/ _-]{0,12}",
                Just("{{identity.entity.id}}".to_owned()),
                Just("{{identity.entity.metadata.sneaky}}".to_owned()),
                Just("{{identity.entity.metadata.team}}".to_owned()),
                Just("{{identity.groups.names.ops.id}}".to_owned()),
                Just("{{".to_owned()),
                Just("}}".to_owned()),
            ],
            0..40,
        )) {
            let text = parts.concat();
            let _ = check(&text);
            if let Ok(out) = render(&text, &alice()) {
                let globs = |s: &str| s.chars().filter(|c| matches!(c, '*' | '+')).count();
                prop_assert!(globs(&out) <= globs(&text));
            }
        }
    }
}
