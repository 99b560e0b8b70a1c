//! Username templates: the subset of Vault's Go-template syntax a role's
//! `username_template` may use, and the default template.
//!
//! An action is `{{ pipeline }}`; a pipeline is commands joined by `|`, each
//! command's result passed as the last argument of the next (Go's rule).
//! Operands: `.RoleName`, `.DisplayName`, `"strings"`, integers and
//! `(sub-pipelines)`. Functions, as in Vault's `sdk/helper/template`:
//! `random N`, `truncate N s`, `truncate_sha256 N s`, `uppercase s`,
//! `lowercase s`, `replace old new s`, `sha256 s`, `base64 s`, `uuid`,
//! `unix_time`, `unix_time_millis`, `printf "fmt" args...` (`%s`, `%d`, `%v`,
//! `%%`), and one of ours: `sanitize s`, which replaces every character outside
//! `[A-Za-z0-9_-]` with `_`.
//!
//! Parentheses nest at most 32 levels deep (`MAX_NESTING`): deeper is an error,
//! not a stack overflow.
//!
//! Whatever the template makes is cut to 63 bytes (at a character boundary),
//! PostgreSQL's identifier limit: the server would silently cut a longer name,
//! and the engine must know the exact name it created.

use base64::Engine as _;

use crate::engines::EngineError;

/// The template of a role that sets none: Vault's PostgreSQL default
/// (`v-<display>-<role>-<random>-<time>`), with the two names sanitised so a
/// generated name is always plain ASCII.
pub const DEFAULT_USERNAME_TEMPLATE: &str = r#"{{ printf "v-%s-%s-%s-%s" (.DisplayName | sanitize | truncate 8) (.RoleName | sanitize | truncate 8) (random 20) (unix_time) | truncate 63 }}"#;

/// PostgreSQL's longest identifier, in bytes (NAMEDATALEN - 1).
pub(super) const MAX_IDENTIFIER_BYTES: usize = 63;

/// The most characters `random N` may ask for.
const MAX_RANDOM: i64 = 128;

/// The deepest `(` nesting a template may use. Parsing, evaluating and
/// dropping a template each recurse once per level on the caller's stack, so
/// without a bound a role write could overflow it and abort the daemon.
/// Real templates nest two or three levels; 32 is the policy parser's bound.
const MAX_NESTING: usize = 32;

/// What a template may refer to.
#[derive(Debug, Clone, Copy)]
pub(super) struct TemplateInput<'a> {
    /// The role's name (`.RoleName`).
    pub role_name: &'a str,
    /// The caller's display name (`.DisplayName`).
    pub display_name: &'a str,
    /// Now, in Unix ms (`unix_time`, `unix_time_millis`).
    pub now_ms: u64,
}

/// A parsed username template.
#[derive(Debug, Clone)]
pub(super) struct UsernameTemplate {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipeline),
}

#[derive(Debug, Clone)]
struct Pipeline(Vec<Command>);

#[derive(Debug, Clone)]
struct Command(Vec<Operand>);

#[derive(Debug, Clone)]
enum Operand {
    Field(Field),
    Str(String),
    Int(i64),
    Func(Func),
    Sub(Pipeline),
}

#[derive(Debug, Clone, Copy)]
enum Field {
    RoleName,
    DisplayName,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Random,
    Truncate,
    TruncateSha256,
    Uppercase,
    Lowercase,
    Replace,
    Sha256,
    Base64,
    Uuid,
    UnixTime,
    UnixTimeMillis,
    Printf,
    Sanitize,
}

impl Func {
    fn from_name(name: &str) -> Option<Func> {
        Some(match name {
            "random" => Func::Random,
            "truncate" => Func::Truncate,
            "truncate_sha256" => Func::TruncateSha256,
            "uppercase" => Func::Uppercase,
            "lowercase" => Func::Lowercase,
            "replace" => Func::Replace,
            "sha256" => Func::Sha256,
            "base64" => Func::Base64,
            "uuid" => Func::Uuid,
            "unix_time" => Func::UnixTime,
            "unix_time_millis" => Func::UnixTimeMillis,
            "printf" => Func::Printf,
            "sanitize" => Func::Sanitize,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Str(String),
    Int(i64),
}

impl Value {
    fn into_text(self) -> String {
        match self {
            Value::Str(s) => s,
            Value::Int(n) => n.to_string(),
        }
    }
}

fn invalid(reason: impl std::fmt::Display) -> EngineError {
    EngineError::InvalidRequest(format!("invalid username_template: {reason}"))
}

impl UsernameTemplate {
    /// Parses `text`; the error says what is wrong and where.
    pub(super) fn parse(text: &str) -> Result<UsernameTemplate, EngineError> {
        let mut nodes = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            match rest.find("{{") {
                None => {
                    nodes.push(Node::Text(rest.to_owned()));
                    break;
                }
                Some(start) => {
                    if start > 0 {
                        nodes.push(Node::Text(rest[..start].to_owned()));
                    }
                    let after = &rest[start + 2..];
                    let end = find_action_end(after)
                        .ok_or_else(|| invalid("an action opened with {{ is never closed"))?;
                    let tokens = tokenize(&after[..end])?;
                    let mut parser = Parser {
                        tokens,
                        pos: 0,
                        depth: 0,
                    };
                    let pipeline = parser.pipeline()?;
                    if parser.pos != parser.tokens.len() {
                        return Err(invalid("unexpected text after the pipeline in an action"));
                    }
                    nodes.push(Node::Action(pipeline));
                    rest = &after[end + 2..];
                }
            }
        }
        Ok(UsernameTemplate { nodes })
    }

    /// The username for `input`: rendered, cut to 63 bytes, and checked to be a
    /// name PostgreSQL can hold (not empty, no control characters).
    pub(super) fn render(&self, input: &TemplateInput<'_>) -> Result<String, EngineError> {
        let mut out = String::new();
        for node in &self.nodes {
            match node {
                Node::Text(text) => out.push_str(text),
                Node::Action(pipeline) => out.push_str(&pipeline.eval(input)?.into_text()),
            }
        }
        let name = truncate_bytes(out.trim(), MAX_IDENTIFIER_BYTES).to_owned();
        if name.is_empty() {
            return Err(invalid("the template produced an empty username"));
        }
        if name.chars().any(char::is_control) {
            return Err(invalid("the username would contain a control character"));
        }
        Ok(name)
    }
}

/// The username `template` makes for `role_name` and a caller named
/// `display_name` at `now_ms`, exactly as a role with that template would
/// name its credentials (an empty template is an error here: a role without
/// one uses the default, which this does not substitute), or why the template
/// is refused. For the fuzz target and property tests, which cannot reach the
/// parser through a live database.
pub fn preview_username(
    template: &str,
    role_name: &str,
    display_name: &str,
    now_ms: u64,
) -> Result<String, EngineError> {
    UsernameTemplate::parse(template)?.render(&TemplateInput {
        role_name,
        display_name,
        now_ms,
    })
}

/// Where the `}}` closing an action is, skipping `}}` inside string literals.
fn find_action_end(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Pipe,
    Field(String),
    Ident(String),
    Str(String),
    Int(i64),
}

fn tokenize(text: &str) -> Result<Vec<Token>, EngineError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '(' => tokens.push(Token::Open),
            ')' => tokens.push(Token::Close),
            '|' => tokens.push(Token::Pipe),
            '"' => {
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return Err(invalid("unterminated string")),
                        Some((_, '"')) => break,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, 'n')) => s.push('\n'),
                            Some((_, 't')) => s.push('\t'),
                            Some((_, '\\')) => s.push('\\'),
                            Some((_, '"')) => s.push('"'),
                            _ => return Err(invalid("unsupported escape in a string")),
                        },
                        Some((_, other)) => s.push(other),
                    }
                }
                tokens.push(Token::Str(s));
            }
            '`' => {
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return Err(invalid("unterminated raw string")),
                        Some((_, '`')) => break,
                        Some((_, other)) => s.push(other),
                    }
                }
                tokens.push(Token::Str(s));
            }
            c if c == '.' || c == '_' || c == '-' || c.is_ascii_alphanumeric() => {
                let mut end = start + c.len_utf8();
                while let Some(&(i, n)) = chars.peek() {
                    if n == '_' || n.is_ascii_alphanumeric() {
                        end = i + n.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                let word = &text[start..end];
                if let Some(field) = word.strip_prefix('.') {
                    tokens.push(Token::Field(field.to_owned()));
                } else if c == '-' || c.is_ascii_digit() {
                    let n = word
                        .parse()
                        .map_err(|_| invalid(format!("{word:?} is not a number")))?;
                    tokens.push(Token::Int(n));
                } else {
                    tokens.push(Token::Ident(word.to_owned()));
                }
            }
            other => return Err(invalid(format!("unexpected character {other:?}"))),
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// Sub-pipelines open at this point, at most [`MAX_NESTING`].
    depth: usize,
}

impl Parser {
    fn pipeline(&mut self) -> Result<Pipeline, EngineError> {
        let mut commands = vec![self.command()?];
        while self.tokens.get(self.pos) == Some(&Token::Pipe) {
            self.pos += 1;
            commands.push(self.command()?);
        }
        Ok(Pipeline(commands))
    }

    fn command(&mut self) -> Result<Command, EngineError> {
        let mut operands = Vec::new();
        while let Some(token) = self.tokens.get(self.pos).cloned() {
            let operand = match token {
                Token::Pipe | Token::Close => break,
                Token::Open => {
                    if self.depth >= MAX_NESTING {
                        return Err(invalid(format!(
                            "parentheses are nested more than {MAX_NESTING} levels deep"
                        )));
                    }
                    self.pos += 1;
                    self.depth += 1;
                    let sub = self.pipeline()?;
                    self.depth -= 1;
                    if self.tokens.get(self.pos) != Some(&Token::Close) {
                        return Err(invalid("a ( is never closed"));
                    }
                    Operand::Sub(sub)
                }
                Token::Field(name) => Operand::Field(match name.as_str() {
                    "RoleName" => Field::RoleName,
                    "DisplayName" => Field::DisplayName,
                    _ => {
                        return Err(invalid(format!(
                            "unknown field .{name} (use .RoleName or .DisplayName)"
                        )));
                    }
                }),
                Token::Ident(name) => Operand::Func(
                    Func::from_name(&name)
                        .ok_or_else(|| invalid(format!("unknown function {name:?}")))?,
                ),
                Token::Str(s) => Operand::Str(s),
                Token::Int(n) => Operand::Int(n),
            };
            self.pos += 1;
            operands.push(operand);
        }
        if operands.is_empty() {
            return Err(invalid("empty command in a pipeline"));
        }
        Ok(Command(operands))
    }
}

impl Pipeline {
    fn eval(&self, input: &TemplateInput<'_>) -> Result<Value, EngineError> {
        let mut piped: Option<Value> = None;
        for Command(operands) in &self.0 {
            let (head, rest) = operands
                .split_first()
                .ok_or_else(|| invalid("empty command"))?;
            piped = Some(match head {
                Operand::Func(func) => {
                    let mut args = rest
                        .iter()
                        .map(|o| o.eval(input))
                        .collect::<Result<Vec<_>, _>>()?;
                    args.extend(piped.take());
                    call(*func, args, input)?
                }
                operand if rest.is_empty() && piped.is_none() => operand.eval(input)?,
                _ => return Err(invalid("only a function can take arguments")),
            });
        }
        piped.ok_or_else(|| invalid("empty pipeline"))
    }
}

impl Operand {
    fn eval(&self, input: &TemplateInput<'_>) -> Result<Value, EngineError> {
        Ok(match self {
            Operand::Field(Field::RoleName) => Value::Str(input.role_name.to_owned()),
            Operand::Field(Field::DisplayName) => Value::Str(input.display_name.to_owned()),
            Operand::Str(s) => Value::Str(s.clone()),
            Operand::Int(n) => Value::Int(*n),
            Operand::Func(func) => call(*func, Vec::new(), input)?,
            Operand::Sub(pipeline) => pipeline.eval(input)?,
        })
    }
}

fn call(func: Func, args: Vec<Value>, input: &TemplateInput<'_>) -> Result<Value, EngineError> {
    let arity = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(invalid(format!(
                "{func:?} takes {n} argument(s), got {}",
                args.len()
            )))
        }
    };
    let int = |v: &Value| match v {
        Value::Int(n) => Ok(*n),
        Value::Str(_) => Err(invalid(format!("{func:?} expects a number"))),
    };
    let text = |v: &Value| v.clone().into_text();
    Ok(match func {
        Func::Random => {
            arity(1)?;
            let n = int(&args[0])?;
            if !(1..=MAX_RANDOM).contains(&n) {
                return Err(invalid(format!("random takes 1 to {MAX_RANDOM}")));
            }
            Value::Str(random_chars(n)?)
        }
        Func::Truncate => {
            arity(2)?;
            let n = usize::try_from(int(&args[0])?)
                .map_err(|_| invalid("truncate takes a non-negative length"))?;
            Value::Str(truncate_bytes(&text(&args[1]), n).to_owned())
        }
        Func::TruncateSha256 => {
            arity(2)?;
            let n = usize::try_from(int(&args[0])?)
                .ok()
                .filter(|n| *n > 8)
                .ok_or_else(|| invalid("truncate_sha256 takes a length over 8"))?;
            let s = text(&args[1]);
            if s.len() <= n {
                Value::Str(s)
            } else {
                let hash = sha256_hex(&s);
                Value::Str(format!("{}{}", truncate_bytes(&s, n - 8), &hash[..8]))
            }
        }
        Func::Uppercase => {
            arity(1)?;
            Value::Str(text(&args[0]).to_uppercase())
        }
        Func::Lowercase => {
            arity(1)?;
            Value::Str(text(&args[0]).to_lowercase())
        }
        Func::Replace => {
            arity(3)?;
            let old = text(&args[0]);
            if old.is_empty() {
                return Err(invalid("replace needs a non-empty string to find"));
            }
            Value::Str(text(&args[2]).replace(&old, &text(&args[1])))
        }
        Func::Sha256 => {
            arity(1)?;
            Value::Str(sha256_hex(&text(&args[0])))
        }
        Func::Base64 => {
            arity(1)?;
            Value::Str(base64::engine::general_purpose::STANDARD.encode(text(&args[0])))
        }
        Func::Uuid => {
            arity(0)?;
            Value::Str(crate::random::uuid_v4().map_err(crate::barrier::BarrierError::from)?)
        }
        Func::UnixTime => {
            arity(0)?;
            Value::Int(i64::try_from(input.now_ms / 1000).unwrap_or(i64::MAX))
        }
        Func::UnixTimeMillis => {
            arity(0)?;
            Value::Int(i64::try_from(input.now_ms).unwrap_or(i64::MAX))
        }
        Func::Printf => {
            let (format, rest) = args
                .split_first()
                .ok_or_else(|| invalid("printf needs a format"))?;
            Value::Str(printf(&text(format), rest)?)
        }
        Func::Sanitize => {
            arity(1)?;
            Value::Str(sanitize(&text(&args[0])))
        }
    })
}

fn printf(format: &str, args: &[Value]) -> Result<String, EngineError> {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('s' | 'v' | 'd') => out.push_str(
                &args
                    .next()
                    .ok_or_else(|| invalid("printf has more verbs than arguments"))?
                    .clone()
                    .into_text(),
            ),
            _ => return Err(invalid("printf supports only %s, %d, %v and %%")),
        }
    }
    if args.next().is_some() {
        return Err(invalid("printf has more arguments than verbs"));
    }
    Ok(out)
}

/// Every character outside `[A-Za-z0-9_-]` replaced with `_`.
pub(super) fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The longest prefix of `text` of at most `max` bytes that ends on a
/// character boundary.
pub(super) fn truncate_bytes(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn sha256_hex(text: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()))
}

fn random_chars(n: i64) -> Result<String, EngineError> {
    let n = usize::try_from(n).map_err(|_| invalid("random takes a positive length"))?;
    Ok(crate::random::alphanumeric(n).map_err(crate::barrier::BarrierError::from)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(role: &'a str, display: &'a str) -> TemplateInput<'a> {
        TemplateInput {
            role_name: role,
            display_name: display,
            now_ms: 1_795_770_308_123,
        }
    }

    fn render(template: &str, role: &str, display: &str) -> Result<String, EngineError> {
        UsernameTemplate::parse(template)?.render(&input(role, display))
    }

    #[test]
    fn the_default_matches_vaults_shape() {
        let name = render(DEFAULT_USERNAME_TEMPLATE, "readonly", "userpass-alice").unwrap();
        let parts: Vec<&str> = name.split('-').collect();
        assert_eq!(parts[0], "v");
        assert_eq!(parts[1], "userpass");
        assert_eq!(parts[2], "readonly");
        assert_eq!(parts[3].len(), 20);
        assert!(parts[3].chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(parts[4], "1795770308");
    }

    #[test]
    fn the_default_sanitises_names_and_stays_within_63_bytes() {
        let name = render(
            DEFAULT_USERNAME_TEMPLATE,
            "r\"; DROP--",
            "x\"; DROP TABLE t; --é\\",
        )
        .unwrap();
        assert!(name.len() <= MAX_IDENTIFIER_BYTES);
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            "{name}"
        );
        assert!(name.starts_with("v-x___DROP-r___DROP-"), "{name}");
    }

    #[test]
    fn functions_and_pipes() {
        let t = r#"{{ .RoleName | uppercase }}_{{ replace "-" "_" .DisplayName }}_{{ unix_time_millis }}"#;
        assert_eq!(
            render(t, "ro", "token-x").unwrap(),
            "RO_token_x_1795770308123"
        );
        let t = r#"{{ printf "%s-%d-%%" .RoleName 7 | truncate 4 }}"#;
        assert_eq!(render(t, "abcdef", "").unwrap(), "abcd");
        let t = "{{ .DisplayName | truncate_sha256 12 }}";
        let out = render(t, "", "a-very-long-display-name").unwrap();
        assert_eq!(out.len(), 12);
        assert!(out.starts_with("a-ve"));
        assert_eq!(render("{{random 5}}", "", "").unwrap().len(), 5);
        assert_eq!(render("{{uuid}}", "", "").unwrap().len(), 36);
        assert_eq!(render("{{ `lit` | base64 }}", "", "").unwrap(), "bGl0");
    }

    #[test]
    fn output_is_cut_to_63_bytes_on_a_character_boundary() {
        let display = "é".repeat(40);
        let out = render("{{.DisplayName}}", "", &display).unwrap();
        assert_eq!(out.len(), 62);
        assert_eq!(out.chars().count(), 31);
    }

    #[test]
    fn raw_values_pass_through_custom_templates() {
        // Quoting is the statement filler's job, not the template's.
        let out = render("{{.DisplayName}}", "", "x\"; DROP TABLE t; --").unwrap();
        assert_eq!(out, "x\"; DROP TABLE t; --");
    }

    /// 200,000 nested `(` once overflowed the stack and aborted the daemon
    /// (a role write is all it took). Each level is a frame of the parser and,
    /// for an accepted template, of the evaluator: both must be bounded, at 32
    /// levels (as the policy parser).
    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        for depth in [33, 1_000, 200_000] {
            let text = format!(
                "{{{{ {}.RoleName{} }}}}",
                "(".repeat(depth),
                ")".repeat(depth)
            );
            let err = UsernameTemplate::parse(&text).unwrap_err();
            assert!(err.to_string().contains("nested"), "{depth}: {err}");
            // Unclosed as well as balanced.
            let text = format!("{{{{ {} }}}}", "(".repeat(depth));
            assert!(UsernameTemplate::parse(&text).is_err(), "{depth}");
        }
        let at_limit = format!("{{{{ {}.RoleName{} }}}}", "(".repeat(32), ")".repeat(32));
        assert_eq!(render(&at_limit, "ro", "").unwrap(), "ro");
    }

    #[test]
    fn bad_templates_are_refused() {
        for bad in [
            "{{ .Nope }}",
            "{{ nope }}",
            "{{ random }}",
            "{{ random 0 }}",
            "{{ random 1000 }}",
            "{{ truncate 3 }}",
            "{{ .RoleName",
            "{{ (.RoleName }}",
            "{{ printf \"%q\" .RoleName }}",
            "{{ printf \"%s\" }}",
            "{{ .RoleName .DisplayName }}",
            "{{ \"open }}",
            "{{ }}",
        ] {
            let result = UsernameTemplate::parse(bad).and_then(|t| t.render(&input("r", "d")));
            assert!(result.is_err(), "{bad:?} accepted: {result:?}");
        }
        assert!(render("{{.DisplayName}}", "", "  ").is_err());
        assert!(render("{{.DisplayName}}", "", "a\nb").is_err());
    }
}
