//! Filling `{{name}}`, `{{username}}`, `{{password}}` and `{{expiration}}` into
//! a role's SQL statements so that no value can change what the SQL does.
//!
//! The statements are written by the operator (trusted); the values are not: a
//! username comes from a template fed with the caller's display name. So the
//! filler lexes each statement the way PostgreSQL does and inserts each value
//! quoted for the place it lands in:
//!
//! - in plain SQL: a name as a quoted identifier (`"…"`, `"` doubled), the
//!   password and expiration as string literals (`'…'`, `'` doubled);
//! - inside a quoted identifier (`"{{name}}"`, Vault's usual form): the
//!   content only, `"` doubled;
//! - inside a string literal (`'{{password}}'`): the content only, `'`
//!   doubled. A value holding a backslash turns the literal into an escape
//!   string (`E'…'`, every backslash in it doubled), so its meaning does not
//!   depend on `standard_conforming_strings` (which the engine also forces on
//!   for its sessions);
//! - inside a comment: nothing is filled (the placeholder stays as text);
//! - inside a dollar-quoted body (`DO $$ … $$`): lexed as SQL again, and a value
//!   that would contain the body's closing tag is refused.
//!
//! Refused outright: NUL characters, placeholders in `U&'…'` strings and
//! `U&"…"` identifiers or right after a `U&` (their escapes would turn the
//! value into other characters, and the escape character can be changed
//! after the fact with `UESCAPE`), and backslashes inside
//! `B'…'`, `X'…'`, `N'…'` literals. One limit no lexer can lift: a value
//! placed in a string that a function body later runs as SQL (`EXECUTE
//! '… {{name}} …'`) is quoted for the string, not for that second parse; such
//! bodies should use `format('%I', …)`.

use zeroize::Zeroizing;

/// The values a statement may refer to. A `None` value makes its placeholder
/// an error (a revocation statement has no password to fill in).
#[derive(Clone, Copy)]
pub(super) struct Values<'a> {
    /// The database role (`{{name}}`, `{{username}}`).
    pub name: &'a str,
    /// Its password (`{{password}}`).
    pub password: Option<&'a str>,
    /// When it stops working, a timestamp literal (`{{expiration}}`).
    pub expiration: Option<&'a str>,
}

impl std::fmt::Debug for Values<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Values")
            .field("name", &self.name)
            .field("password", &self.password.map(|_| "<redacted>"))
            .field("expiration", &self.expiration)
            .finish()
    }
}

/// Why a statement could not be filled. Never carries a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum FillError {
    /// The placeholder has no value here.
    #[error("{0} cannot be used in these statements")]
    Unavailable(&'static str),
    /// A value holds a NUL character, which PostgreSQL cannot carry.
    #[error("the value for {0} contains a NUL character")]
    Nul(&'static str),
    /// A value cannot be put safely where its placeholder stands.
    #[error("the value for {placeholder} cannot be placed safely {place}")]
    Unsafe {
        /// The placeholder.
        placeholder: &'static str,
        /// Where it stands.
        place: &'static str,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Identifier,
    Literal,
}

const PLACEHOLDERS: [(&str, Kind); 4] = [
    ("{{name}}", Kind::Identifier),
    ("{{username}}", Kind::Identifier),
    ("{{password}}", Kind::Literal),
    ("{{expiration}}", Kind::Literal),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StrKind {
    /// `'…'`: backslashes are plain characters (standard_conforming_strings).
    Plain,
    /// `E'…'`: backslash escapes.
    Escape,
    /// `B'…'`, `X'…'`, `N'…'`.
    Prefixed,
    /// `U&'…'`.
    Unicode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Code,
    /// `"…"`, or `U&"…"` (`unicode`).
    Ident {
        unicode: bool,
    },
    Str {
        kind: StrKind,
        /// Where its opening quote is in the output (to turn it into `E'`).
        quote_at: usize,
        /// Turned into an escape string: the statement's own backslashes are
        /// doubled from here on.
        upgraded: bool,
    },
    LineComment,
    BlockComment(u32),
}

#[derive(Debug)]
struct Frame {
    /// The closing tag of the dollar-quoted body this frame lexes, if any.
    tag: Option<String>,
    ctx: Ctx,
}

/// Whether `statements` may change the privileges of an object other
/// credentials share (`GRANT`, `REVOKE`, `DROP OWNED`, `REASSIGN OWNED`, by
/// whole word, any case). PostgreSQL fails such changes made concurrently on
/// one object ("tuple concurrently updated"), so the engine runs them one at
/// a time per config; the rest (`CREATE ROLE ... IN ROLE`, `DROP ROLE`) run
/// in parallel. A word inside a literal or a comment only costs parallelism,
/// and a conflict that gets through is still retried.
pub(super) fn changes_privileges<'a>(statements: impl IntoIterator<Item = &'a str>) -> bool {
    statements.into_iter().any(|statement| {
        statement
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .any(|word| {
                ["grant", "revoke", "owned"]
                    .iter()
                    .any(|k| word.eq_ignore_ascii_case(k))
            })
    })
}

/// `statement` with every placeholder filled in.
pub(super) fn fill(statement: &str, values: &Values<'_>) -> Result<Zeroizing<String>, FillError> {
    let bytes = statement.as_bytes();
    let mut out = Zeroizing::new(String::with_capacity(statement.len() + 64));
    let mut stack = vec![Frame {
        tag: None,
        ctx: Ctx::Code,
    }];
    let mut i = 0;
    'scan: while i < bytes.len() {
        let rest = &statement[i..];
        // The closing tag of an open dollar quote ends it whatever is open
        // inside (PostgreSQL looks for nothing else there); the outermost wins.
        if let Some(k) = stack
            .iter()
            .position(|f| f.tag.as_deref().is_some_and(|t| rest.starts_with(t)))
        {
            let tag_len = stack[k].tag.as_deref().map_or(0, str::len);
            stack.truncate(k);
            out.push_str(&rest[..tag_len]);
            i += tag_len;
            continue;
        }
        if rest.starts_with("{{") {
            for (placeholder, kind) in PLACEHOLDERS {
                if rest.starts_with(placeholder) {
                    insert(
                        &mut out,
                        &mut stack,
                        placeholder,
                        kind,
                        values,
                        statement,
                        i,
                    )?;
                    i += placeholder.len();
                    continue 'scan;
                }
            }
        }
        let Some(top) = stack.last_mut() else {
            break;
        };
        let c = bytes[i];
        let next = bytes.get(i + 1).copied();
        let mut step = 1;
        match top.ctx {
            Ctx::Code => match c {
                b'-' if next == Some(b'-') => {
                    top.ctx = Ctx::LineComment;
                    step = 2;
                }
                b'/' if next == Some(b'*') => {
                    top.ctx = Ctx::BlockComment(1);
                    step = 2;
                }
                b'"' => {
                    top.ctx = Ctx::Ident {
                        unicode: after_unicode_prefix(&out),
                    }
                }
                b'\'' => {
                    top.ctx = Ctx::Str {
                        kind: string_kind(&out),
                        quote_at: out.len(),
                        upgraded: false,
                    }
                }
                b'$' if !out.as_bytes().last().is_some_and(|b| is_ident_byte(*b)) => {
                    if let Some(tag) = dollar_tag(rest) {
                        out.push_str(tag);
                        i += tag.len();
                        stack.push(Frame {
                            tag: Some(tag.to_owned()),
                            ctx: Ctx::Code,
                        });
                        continue;
                    }
                }
                _ => {}
            },
            Ctx::Ident { .. } => {
                if c == b'"' {
                    if next == Some(b'"') {
                        step = 2;
                    } else {
                        top.ctx = Ctx::Code;
                    }
                }
            }
            Ctx::Str { kind, upgraded, .. } => match c {
                b'\'' if next == Some(b'\'') => step = 2,
                b'\'' => top.ctx = Ctx::Code,
                b'\\' if kind == StrKind::Escape => step = if next.is_some() { 2 } else { 1 },
                b'\\' if upgraded => {
                    // A plain string's backslash, in what is now an escape string.
                    out.push_str("\\\\");
                    i += 1;
                    continue;
                }
                _ => {}
            },
            Ctx::LineComment => {
                if c == b'\n' {
                    top.ctx = Ctx::Code;
                }
            }
            Ctx::BlockComment(depth) => {
                if c == b'/' && next == Some(b'*') {
                    top.ctx = Ctx::BlockComment(depth + 1);
                    step = 2;
                } else if c == b'*' && next == Some(b'/') {
                    top.ctx = if depth <= 1 {
                        Ctx::Code
                    } else {
                        Ctx::BlockComment(depth - 1)
                    };
                    step = 2;
                }
            }
        }
        // `step` bytes of ASCII syntax, or the start of one character: copy up
        // to the next character boundary so multi-byte text stays whole.
        let mut end = (i + step).min(bytes.len());
        while !statement.is_char_boundary(end) {
            end += 1;
        }
        out.push_str(&statement[i..end]);
        i = end;
    }
    Ok(out)
}

/// Fills one placeholder at `at` (its position in `statement`).
fn insert(
    out: &mut String,
    stack: &mut [Frame],
    placeholder: &'static str,
    kind: Kind,
    values: &Values<'_>,
    statement: &str,
    at: usize,
) -> Result<(), FillError> {
    let Some(top) = stack.last_mut() else {
        return Ok(());
    };
    if matches!(top.ctx, Ctx::LineComment | Ctx::BlockComment(_)) {
        out.push_str(placeholder);
        return Ok(());
    }
    let value = match placeholder {
        "{{name}}" | "{{username}}" => Some(values.name),
        "{{password}}" => values.password,
        _ => values.expiration,
    }
    .ok_or(FillError::Unavailable(placeholder))?;
    if value.contains('\0') {
        return Err(FillError::Nul(placeholder));
    }
    let unsafe_here = |place| FillError::Unsafe { placeholder, place };
    let start = out.len();
    match &mut top.ctx {
        // `U&` glued to the quotes the value would get makes a Unicode string
        // or identifier of it.
        Ctx::Code if after_unicode_prefix(out) => return Err(unsafe_here("right after U&")),
        Ctx::Code => {
            // A space keeps the quoted value from gluing onto a preceding word
            // (an `E` would change how it is read; `U&` is refused above).
            if out.as_bytes().last().is_some_and(|b| is_ident_byte(*b)) {
                out.push(' ');
            }
            out.push_str(&match kind {
                Kind::Identifier => quote_identifier(value),
                Kind::Literal => quote_literal(value),
            });
        }
        Ctx::Ident { unicode: true } => return Err(unsafe_here("inside a U&\"\" identifier")),
        Ctx::Ident { unicode: false } => out.push_str(&value.replace('"', "\"\"")),
        Ctx::Str {
            kind: str_kind,
            quote_at,
            upgraded,
        } => match str_kind {
            StrKind::Unicode => return Err(unsafe_here("inside a U&'' string")),
            StrKind::Prefixed if value.contains('\\') => {
                return Err(unsafe_here("inside a B'', X'' or N'' string"));
            }
            StrKind::Prefixed => out.push_str(&value.replace('\'', "''")),
            StrKind::Escape => out.push_str(&escape_string_content(value)),
            StrKind::Plain if *upgraded => out.push_str(&escape_string_content(value)),
            StrKind::Plain if value.contains('\\') => {
                // Turn '…' into E'…': double the backslashes already copied.
                let opening = *quote_at;
                let copied = out[opening + 1..].replace('\\', "\\\\");
                out.truncate(opening);
                if out.as_bytes().last().is_some_and(|b| is_ident_byte(*b)) {
                    out.push(' ');
                }
                let moved = out.len();
                out.push_str("E'");
                out.push_str(&copied);
                *quote_at = moved + 1;
                *upgraded = true;
                out.push_str(&escape_string_content(value));
            }
            StrKind::Plain => out.push_str(&value.replace('\'', "''")),
        },
        Ctx::LineComment | Ctx::BlockComment(_) => {}
    }
    // The filled text, with what touches it on both sides, must not close an
    // enclosing dollar quote.
    for tag in stack.iter().filter_map(|f| f.tag.as_deref()) {
        let reach = tag.len().saturating_sub(1);
        let mut from = start.saturating_sub(reach);
        while !out.is_char_boundary(from) {
            from -= 1;
        }
        let after = &statement[at + placeholder.len()..];
        let mut upto = reach.min(after.len());
        while !after.is_char_boundary(upto) {
            upto += 1;
        }
        let window = format!("{}{}", &out[from..], &after[..upto]);
        if window.contains(tag) {
            return Err(unsafe_here("inside a dollar-quoted body it would end"));
        }
    }
    Ok(())
}

/// `value` as a quoted identifier: `"…"` with `"` doubled.
pub(super) fn quote_identifier(value: &str) -> String {
    format!("\"{}\"", value.replace('"', "\"\""))
}

/// `value` as a string literal that reads the same whatever
/// `standard_conforming_strings` says: `'…'` with `'` doubled, or `E'…'` with
/// backslashes doubled too when it holds any.
pub(super) fn quote_literal(value: &str) -> String {
    if value.contains('\\') {
        format!("E'{}'", escape_string_content(value))
    } else {
        format!("'{}'", value.replace('\'', "''"))
    }
}

/// The content of an escape string (`E'…'`) that reads as `value`.
fn escape_string_content(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\'', "''")
}

/// What kind of string a quote opens, from what precedes it in the output.
fn string_kind(out: &str) -> StrKind {
    let b = out.as_bytes();
    let before = |n: usize| b.len().checked_sub(n).map(|i| b[i]);
    let starts_word = |n: usize| !before(n).is_some_and(is_ident_byte);
    match before(1) {
        Some(b'E' | b'e') if starts_word(2) => StrKind::Escape,
        Some(b'B' | b'b' | b'X' | b'x' | b'N' | b'n') if starts_word(2) => StrKind::Prefixed,
        _ if after_unicode_prefix(out) => StrKind::Unicode,
        _ => StrKind::Plain,
    }
}

/// True if `out` ends with a `U&` (either case) that starts a word: a quote
/// right after it opens a Unicode string or identifier.
fn after_unicode_prefix(out: &str) -> bool {
    let b = out.as_bytes();
    b.len() >= 2
        && b[b.len() - 1] == b'&'
        && matches!(b[b.len() - 2], b'U' | b'u')
        && !(b.len() >= 3 && is_ident_byte(b[b.len() - 3]))
}

/// A byte that can continue an identifier (so a `$` after it is not a quote).
fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// The dollar-quote tag `rest` starts with (`$$`, `$body$`), if it is one.
fn dollar_tag(rest: &str) -> Option<&str> {
    let bytes = rest.as_bytes();
    let mut end = 1;
    while end < bytes.len() {
        let b = bytes[end];
        if b == b'$' {
            return Some(&rest[..=end]);
        }
        let allowed =
            b == b'_' || b.is_ascii_alphabetic() || b >= 0x80 || (end > 1 && b.is_ascii_digit());
        if !allowed {
            return None;
        }
        end += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values<'a>(name: &'a str) -> Values<'a> {
        Values {
            name,
            password: Some("A1a-secret"),
            expiration: Some("2026-11-27 09:05:08+00"),
        }
    }

    fn filled(statement: &str, name: &str) -> String {
        fill(statement, &values(name))
            .unwrap_or_else(|e| panic!("{statement}: {e}"))
            .to_string()
    }

    const VAULT_CREATE: &str = "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' \
                                VALID UNTIL '{{expiration}}';";

    #[test]
    fn vaults_usual_form_fills_the_content_only() {
        assert_eq!(
            filled(VAULT_CREATE, "v-ro-1"),
            "CREATE ROLE \"v-ro-1\" WITH LOGIN PASSWORD 'A1a-secret' \
             VALID UNTIL '2026-11-27 09:05:08+00';"
        );
    }

    #[test]
    fn bare_placeholders_get_quotes() {
        assert_eq!(
            filled("ALTER ROLE {{name}} VALID UNTIL {{expiration}}", "a\"b"),
            "ALTER ROLE \"a\"\"b\" VALID UNTIL '2026-11-27 09:05:08+00'"
        );
        assert_eq!(
            filled("SELECT x={{username}}", "u"),
            "SELECT x=\"u\"",
            "a name in plain SQL is an identifier"
        );
        assert_eq!(
            filled("SELECT E{{password}}", "u"),
            "SELECT E 'A1a-secret'",
            "a literal never glues onto a prefix letter"
        );
    }

    #[test]
    fn hostile_names_stay_inside_their_quotes() {
        let hostile = [
            "x\"; DROP TABLE t; --",
            "x'; DROP TABLE t; --",
            "a\\'; DROP TABLE t; --",
            "\\",
            "é\"'\\;--/*",
            "$$; DROP TABLE t; $$",
        ];
        for name in hostile {
            let ident = filled("GRANT SELECT ON t TO \"{{name}}\";", name);
            assert_eq!(
                ident,
                format!("GRANT SELECT ON t TO \"{}\";", name.replace('"', "\"\""))
            );
            let bare = filled("DROP ROLE {{name}};", name);
            assert_eq!(bare, format!("DROP ROLE {};", quote_identifier(name)));
            let literal = filled("SELECT 1 WHERE u = '{{name}}';", name);
            let expected = if name.contains('\\') {
                format!(
                    "SELECT 1 WHERE u = E'{}';",
                    name.replace('\\', "\\\\").replace('\'', "''")
                )
            } else {
                format!("SELECT 1 WHERE u = '{}';", name.replace('\'', "''"))
            };
            assert_eq!(literal, expected, "{name}");
            // Re-lexing the output finds the statement's own structure: every
            // quote the value brought is inside a string or identifier.
            assert_eq!(top_level_semicolons(&literal), 1, "{literal}");
            assert_eq!(top_level_semicolons(&ident), 1, "{ident}");
            assert_eq!(top_level_semicolons(&bare), 1, "{bare}");
        }
    }

    /// Counts `;` outside strings, identifiers and comments, lexing the way
    /// PostgreSQL does with standard_conforming_strings on.
    fn top_level_semicolons(sql: &str) -> usize {
        let b = sql.as_bytes();
        let (mut i, mut count) = (0, 0);
        while i < b.len() {
            match b[i] {
                b';' => count += 1,
                b'"' => {
                    i += 1;
                    while i < b.len() {
                        if b[i] == b'"' && b.get(i + 1) == Some(&b'"') {
                            i += 2;
                            continue;
                        }
                        if b[i] == b'"' {
                            break;
                        }
                        i += 1;
                    }
                }
                b'\'' => {
                    let escape = i > 0 && (b[i - 1] == b'E' || b[i - 1] == b'e');
                    i += 1;
                    while i < b.len() {
                        if escape && b[i] == b'\\' {
                            i += 2;
                            continue;
                        }
                        if b[i] == b'\'' && b.get(i + 1) == Some(&b'\'') {
                            i += 2;
                            continue;
                        }
                        if b[i] == b'\'' {
                            break;
                        }
                        i += 1;
                    }
                }
                b'-' if b.get(i + 1) == Some(&b'-') => {
                    while i < b.len() && b[i] != b'\n' {
                        i += 1;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        count
    }

    #[test]
    fn a_backslash_upgrades_the_literal_and_its_own_backslashes() {
        let out = filled("SELECT 'a\\b {{name}} c\\d'", "x\\'y");
        assert_eq!(out, "SELECT E'a\\\\b x\\\\''y c\\\\d'");
        // Glued to a word: a space keeps E from joining it.
        let out = filled("SELECT col='{{name}}'", "\\");
        assert_eq!(out, "SELECT col=E'\\\\'");
        let hex = fill("SELECT x'{{name}}'", &values("\\"));
        assert!(matches!(hex, Err(FillError::Unsafe { .. })));
    }

    #[test]
    fn escape_strings_escape_backslashes_and_quotes() {
        assert_eq!(filled("SELECT E'{{name}}'", "a\\'"), "SELECT E'a\\\\'''");
    }

    #[test]
    fn comments_are_left_alone() {
        assert_eq!(
            filled(
                "-- {{name}}\nSELECT 1 /* {{password}} /* */ {{name}} */",
                "x\ny"
            ),
            "-- {{name}}\nSELECT 1 /* {{password}} /* */ {{name}} */"
        );
    }

    #[test]
    fn dollar_bodies_are_lexed_and_cannot_be_closed_by_a_value() {
        let statement = "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{{name}}') \
                         THEN CREATE ROLE \"{{name}}\"; END IF; END $$;";
        assert_eq!(
            filled(statement, "a'b\"c"),
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'a''b\"c') \
             THEN CREATE ROLE \"a'b\"\"c\"; END IF; END $$;"
        );
        for name in ["x$$; DROP TABLE t; --", "x$", "$"] {
            let result = fill(
                "DO $$ BEGIN CREATE ROLE \"{{name}}$\"; END $$",
                &values(name),
            );
            assert!(
                matches!(result, Err(FillError::Unsafe { .. })),
                "{name}: {result:?}"
            );
        }
        assert_eq!(
            filled("DO $f$ SELECT '{{name}}' $f$", "$$"),
            "DO $f$ SELECT '$$' $f$"
        );
        assert_eq!(
            filled("SELECT $1, a$b, '{{name}}'", "n"),
            "SELECT $1, a$b, 'n'"
        );
    }

    #[test]
    fn refused_places_and_values() {
        for statement in [
            "SELECT U&'{{name}}'",
            "DROP ROLE U&\"{{name}}\"",
            "DROP ROLE u&\"x{{name}}\" UESCAPE '!'",
            "DROP ROLE U&{{name}}",
            "SELECT U&{{password}}",
            "DO $$ BEGIN EXECUTE 'x'; DROP ROLE U&\"{{name}}\"; END $$",
        ] {
            let unicode = fill(statement, &values("x"));
            assert!(
                matches!(unicode, Err(FillError::Unsafe { .. })),
                "{statement}: {unicode:?}"
            );
        }
        // Not a U& prefix: part of a longer word, or inside a plain identifier.
        assert_eq!(
            filled("SELECT xU&\"{{name}}\", \"U&{{name}}\"", "n"),
            "SELECT xU&\"n\", \"U&n\""
        );
        let bits = fill("SELECT N'{{name}}'", &values("\\"));
        assert!(matches!(bits, Err(FillError::Unsafe { .. })));
        assert_eq!(
            fill("DROP ROLE \"{{name}}\"", &values("a\0b")).map(|s| s.to_string()),
            Err(FillError::Nul("{{name}}"))
        );
        let none = Values {
            name: "x",
            password: None,
            expiration: None,
        };
        assert_eq!(
            fill("ALTER ROLE x PASSWORD '{{password}}'", &none).map(|s| s.to_string()),
            Err(FillError::Unavailable("{{password}}"))
        );
        assert!(fill("-- {{password}}", &none).is_ok());
    }

    #[test]
    fn unknown_placeholders_and_unicode_pass_through() {
        assert_eq!(
            filled("COMMENT ON ROLE \"{{name}}\" IS 'ünï {{other}}'", "ü\"ñ"),
            "COMMENT ON ROLE \"ü\"\"ñ\" IS 'ünï {{other}}'"
        );
    }

    #[test]
    fn literal_quoting() {
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal("a\\b'"), "E'a\\\\b'''");
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn privilege_changes_are_told_apart() {
        let changes = |s: &str| changes_privileges([s]);
        assert!(changes("GRANT SELECT ON t TO \"{{name}}\";"));
        assert!(changes("revoke all on t from x"));
        assert!(changes("REASSIGN OWNED BY x TO y; DROP OWNED BY x;"));
        assert!(changes(
            "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO x"
        ));
        assert!(!changes(VAULT_CREATE));
        assert!(!changes("CREATE ROLE \"{{name}}\" LOGIN IN ROLE readers;"));
        assert!(!changes("DROP ROLE IF EXISTS \"{{name}}\";"));
        assert!(!changes("CREATE ROLE grantee_x LOGIN"), "whole words only");
        assert!(changes_privileges(["CREATE ROLE x", "GRANT r TO x"]));
    }

    #[test]
    fn debug_hides_the_password() {
        assert!(!format!("{:?}", values("x")).contains("secret"));
    }
}
