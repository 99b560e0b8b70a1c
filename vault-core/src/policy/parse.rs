//! The policy language: the part of Vault's HCL that policies use, and its JSON
//! form, read into a [`Policy`].
//!
//! Both forms are read into one small tree of objects, lists and scalars that
//! keeps the position of every key and value; one pass then turns the tree into
//! rules, so the two forms cannot drift apart and every error can say where it is.
//!
//! The HCL accepted: `#`, `//` and `/* */` comments; `key = value` attributes and
//! `key "label" { ... }` blocks, separated by newlines or commas; strings with
//! JSON's escapes (no `${}` interpolation, no heredocs); numbers; `true` and
//! `false`; lists `[...]` (a trailing comma allowed) and objects `{...}`. The JSON
//! form is strict JSON (commas required, no trailing comma, no `null`), except
//! that the shared lexer also skips comments.
//!
//! Repeated `path` blocks, even for one pattern, are kept: their rules merge in
//! the ACL, as in Vault. A key repeated inside one block is an error.
//!
//! The parser never panics on any input: it walks characters (no byte slicing),
//! and nesting is capped at [`MAX_DEPTH`] so a hostile document cannot exhaust
//! the stack.

use std::collections::BTreeMap;
use std::iter::Peekable;
use std::str::Chars;

use serde_json::{Number, Value};

use super::{
    Capabilities, Capability, PathRule, Policy, PolicyError, RESPONSE_WRAPPING, ROOT,
    canonical_name, template,
};

/// How deep lists and objects may nest. A policy needs four levels.
const MAX_DEPTH: usize = 32;

/// Reads the policy `text` (HCL, or JSON when its first non-blank character is
/// `{`) under the name `name`, which is made canonical first ([`canonical_name`]).
/// The name `root` is refused: the root policy is built in and has no rules.
pub fn parse(name: &str, text: &str) -> Result<Policy, PolicyError> {
    let name = canonical_name(name)?;
    if name == ROOT || name == RESPONSE_WRAPPING {
        return Err(PolicyError::Reserved(name));
    }
    match read(text) {
        Ok(rules) => Ok(Policy {
            name,
            templated: rules.iter().any(|r| template::is_templated(&r.pattern)),
            rules,
            root: false,
        }),
        Err(e) => Err(PolicyError::Parse {
            name,
            line: e.pos.line,
            column: e.pos.column,
            message: e.message,
        }),
    }
}

fn read(text: &str) -> Result<Vec<PathRule>, SyntaxError> {
    // Editors on Windows may start a file with a byte-order mark.
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let (tokens, end) = Lexer::new(text).tokens()?;
    let mut parser = Parser {
        tokens: tokens.into_iter().peekable(),
        end,
    };
    let entries = if text.trim_start().starts_with('{') {
        parser.json_document()?
    } else {
        parser.hcl_body(0, None)?
    };
    rules(entries)
}

/// Where a token starts: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pos {
    line: usize,
    column: usize,
}

#[derive(Debug)]
struct SyntaxError {
    pos: Pos,
    message: String,
}

fn error(pos: Pos, message: impl Into<String>) -> SyntaxError {
    SyntaxError {
        pos,
        message: message.into(),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Equals,
    Colon,
    Comma,
    Str(String),
    Num(Number),
    /// A bare word: a key, `true`, `false`, `null`.
    Word(String),
}

/// How an error message names what it found.
fn describe(tok: Option<&Tok>) -> String {
    match tok {
        None => "the end of the input".to_owned(),
        Some(Tok::LBrace) => "'{'".to_owned(),
        Some(Tok::RBrace) => "'}'".to_owned(),
        Some(Tok::LBracket) => "'['".to_owned(),
        Some(Tok::RBracket) => "']'".to_owned(),
        Some(Tok::Equals) => "'='".to_owned(),
        Some(Tok::Colon) => "':'".to_owned(),
        Some(Tok::Comma) => "','".to_owned(),
        Some(Tok::Str(_)) => "a string".to_owned(),
        Some(Tok::Num(_)) => "a number".to_owned(),
        Some(Tok::Word(w)) => format!("`{}`", w.chars().take(32).collect::<String>()),
    }
}

struct Lexer<'a> {
    chars: Chars<'a>,
    line: usize,
    column: usize,
}

impl<'a> Lexer<'a> {
    fn new(text: &'a str) -> Self {
        Lexer {
            chars: text.chars(),
            line: 1,
            column: 1,
        }
    }

    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.column,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.clone().next()
    }

    fn peek2(&self) -> Option<char> {
        self.chars.clone().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    /// Every token with its position, and the position of the end.
    fn tokens(mut self) -> Result<(Vec<(Tok, Pos)>, Pos), SyntaxError> {
        let mut out = Vec::new();
        loop {
            self.skip_blank()?;
            let pos = self.pos();
            let Some(c) = self.peek() else {
                return Ok((out, pos));
            };
            let single = match c {
                '{' => Some(Tok::LBrace),
                '}' => Some(Tok::RBrace),
                '[' => Some(Tok::LBracket),
                ']' => Some(Tok::RBracket),
                '=' => Some(Tok::Equals),
                ':' => Some(Tok::Colon),
                ',' => Some(Tok::Comma),
                _ => None,
            };
            let tok = if let Some(tok) = single {
                self.bump();
                tok
            } else if c == '"' {
                Tok::Str(self.string(pos)?)
            } else if c == '-' || c.is_ascii_digit() {
                Tok::Num(self.number(pos)?)
            } else if c.is_ascii_alphabetic() || c == '_' {
                Tok::Word(self.word())
            } else {
                return Err(error(pos, format!("unexpected character {c:?}")));
            };
            out.push((tok, pos));
        }
    }

    fn skip_blank(&mut self) -> Result<(), SyntaxError> {
        loop {
            match (self.peek(), self.peek2()) {
                (Some(c), _) if c.is_whitespace() => {
                    self.bump();
                }
                (Some('#'), _) | (Some('/'), Some('/')) => {
                    while self.bump().is_some_and(|c| c != '\n') {}
                }
                (Some('/'), Some('*')) => {
                    let start = self.pos();
                    self.bump();
                    self.bump();
                    loop {
                        match self.bump() {
                            None => return Err(error(start, "unterminated /* comment")),
                            Some('*') if self.peek() == Some('/') => {
                                self.bump();
                                break;
                            }
                            Some(_) => {}
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn word(&mut self) -> String {
        let mut word = String::new();
        while let Some(c) = self
            .peek()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            word.push(c);
            self.bump();
        }
        word
    }

    fn number(&mut self, start: Pos) -> Result<Number, SyntaxError> {
        let mut text = String::new();
        while let Some(c) = self
            .peek()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '.'))
        {
            text.push(c);
            self.bump();
        }
        if let Ok(n) = text.parse::<i64>() {
            return Ok(n.into());
        }
        if let Ok(n) = text.parse::<u64>() {
            return Ok(n.into());
        }
        // Rust's float parser also takes `inf` and `NaN`, which JSON has no
        // number for; `from_f64` refuses them.
        text.parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .ok_or_else(|| error(start, format!("invalid number {text:?}")))
    }

    /// A double-quoted string, the opening quote at `start`. Strings end on the
    /// line they start on, as in HCL.
    fn string(&mut self, start: Pos) -> Result<String, SyntaxError> {
        self.bump();
        let mut s = String::new();
        loop {
            let at = self.pos();
            match self.bump() {
                None | Some('\n') => return Err(error(start, "unterminated string")),
                Some('"') => return Ok(s),
                Some('\\') => {
                    let c = match self.bump() {
                        Some('"') => '"',
                        Some('\\') => '\\',
                        Some('/') => '/',
                        Some('n') => '\n',
                        Some('t') => '\t',
                        Some('r') => '\r',
                        Some('b') => '\u{8}',
                        Some('f') => '\u{c}',
                        Some('u') => self.unicode_escape(at)?,
                        None | Some('\n') => return Err(error(start, "unterminated string")),
                        Some(other) => {
                            return Err(error(at, format!("invalid escape \\{other}")));
                        }
                    };
                    s.push(c);
                }
                Some(c) => s.push(c),
            }
        }
    }

    fn unicode_escape(&mut self, at: Pos) -> Result<char, SyntaxError> {
        let high = self.hex4(at)?;
        let code = if (0xD800..0xDC00).contains(&high) {
            // A UTF-16 surrogate pair, as JSON writes characters beyond U+FFFF.
            if self.bump() != Some('\\') || self.bump() != Some('u') {
                return Err(error(at, "unpaired surrogate in \\u escape"));
            }
            let low = self.hex4(at)?;
            if !(0xDC00..0xE000).contains(&low) {
                return Err(error(at, "unpaired surrogate in \\u escape"));
            }
            0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
        } else {
            high
        };
        char::from_u32(code).ok_or_else(|| error(at, "invalid \\u escape"))
    }

    fn hex4(&mut self, at: Pos) -> Result<u32, SyntaxError> {
        let mut value = 0;
        for _ in 0..4 {
            let digit = self
                .bump()
                .and_then(|c| c.to_digit(16))
                .ok_or_else(|| error(at, "\\u must be followed by four hex digits"))?;
            value = value * 16 + digit;
        }
        Ok(value)
    }
}

/// A value in the document tree.
#[derive(Debug)]
struct Node {
    pos: Pos,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// Entries in document order; keys may repeat (HCL blocks do).
    Object(Vec<Entry>),
    List(Vec<Node>),
    /// A string, number or boolean.
    Scalar(Value),
}

#[derive(Debug)]
struct Entry {
    key: String,
    pos: Pos,
    value: Node,
}

struct Parser {
    tokens: Peekable<std::vec::IntoIter<(Tok, Pos)>>,
    end: Pos,
}

impl Parser {
    fn unexpected(&self, wanted: &str, found: Option<(Tok, Pos)>) -> SyntaxError {
        let pos = found.as_ref().map_or(self.end, |(_, p)| *p);
        let found = describe(found.as_ref().map(|(t, _)| t));
        error(pos, format!("expected {wanted}, found {found}"))
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        self.tokens.next_if(|(t, _)| t == tok).is_some()
    }

    /// Entries up to the `}` closing the `{` at `open`, or to the end of the
    /// input at the top level.
    fn hcl_body(&mut self, depth: usize, open: Option<Pos>) -> Result<Vec<Entry>, SyntaxError> {
        let mut entries = Vec::new();
        loop {
            match (self.tokens.peek(), open) {
                (None, None) => return Ok(entries),
                (None, Some(at)) => {
                    return Err(error(
                        self.end,
                        format!(
                            "expected '}}' to close the '{{' at line {}, column {}",
                            at.line, at.column
                        ),
                    ));
                }
                (Some((Tok::RBrace, _)), Some(_)) => {
                    self.tokens.next();
                    return Ok(entries);
                }
                (Some((Tok::Comma, _)), _) => {
                    self.tokens.next();
                }
                _ => entries.push(self.hcl_entry(depth)?),
            }
        }
    }

    /// `key = value`, or `key "label"... { body }`, which nests one object per
    /// label: `path "a" { }` reads as `path = { "a" = { } }`.
    fn hcl_entry(&mut self, depth: usize) -> Result<Entry, SyntaxError> {
        let mut keys = Vec::new();
        while let Some((tok, pos)) = self
            .tokens
            .next_if(|(t, _)| matches!(t, Tok::Word(_) | Tok::Str(_)))
        {
            if let Tok::Word(key) | Tok::Str(key) = tok {
                keys.push((key, pos));
            }
        }
        if keys.is_empty() {
            let found = self.tokens.next();
            return Err(self.unexpected("a key", found));
        }
        let mut value = match self.tokens.next() {
            Some((Tok::Equals, _)) => self.hcl_value(depth)?,
            Some((Tok::LBrace, pos)) => Node {
                pos,
                kind: Kind::Object(self.hcl_body(deeper(depth, pos)?, Some(pos))?),
            },
            found => return Err(self.unexpected("'=' or '{' after the key", found)),
        };
        let mut keys = keys.into_iter();
        let Some((key, pos)) = keys.next() else {
            return Err(error(self.end, "expected a key"));
        };
        for (label, at) in keys.rev() {
            value = Node {
                pos: at,
                kind: Kind::Object(vec![Entry {
                    key: label,
                    pos: at,
                    value,
                }]),
            };
        }
        Ok(Entry { key, pos, value })
    }

    fn hcl_value(&mut self, depth: usize) -> Result<Node, SyntaxError> {
        match self.tokens.next() {
            Some((Tok::LBracket, pos)) => {
                let depth = deeper(depth, pos)?;
                let mut items = Vec::new();
                loop {
                    if self.eat(&Tok::RBracket) {
                        break;
                    }
                    items.push(self.hcl_value(depth)?);
                    match self.tokens.next() {
                        Some((Tok::Comma, _)) => {}
                        Some((Tok::RBracket, _)) => break,
                        found => return Err(self.unexpected("',' or ']'", found)),
                    }
                }
                Ok(Node {
                    pos,
                    kind: Kind::List(items),
                })
            }
            Some((Tok::LBrace, pos)) => Ok(Node {
                pos,
                kind: Kind::Object(self.hcl_body(deeper(depth, pos)?, Some(pos))?),
            }),
            found => self.scalar(found),
        }
    }

    fn scalar(&self, found: Option<(Tok, Pos)>) -> Result<Node, SyntaxError> {
        let (value, pos) = match found {
            Some((Tok::Str(s), pos)) => (Value::String(s), pos),
            Some((Tok::Num(n), pos)) => (Value::Number(n), pos),
            Some((Tok::Word(w), pos)) if w == "true" => (Value::Bool(true), pos),
            Some((Tok::Word(w), pos)) if w == "false" => (Value::Bool(false), pos),
            Some((Tok::Word(w), pos)) if w == "null" => {
                return Err(error(pos, "null is not allowed in a policy"));
            }
            Some((Tok::Word(_), pos)) => {
                return Err(error(pos, "expected a value; strings must be quoted"));
            }
            found => return Err(self.unexpected("a value", found)),
        };
        Ok(Node {
            pos,
            kind: Kind::Scalar(value),
        })
    }

    fn json_document(&mut self) -> Result<Vec<Entry>, SyntaxError> {
        let entries = match self.tokens.next() {
            Some((Tok::LBrace, pos)) => self.json_object(deeper(0, pos)?)?,
            found => return Err(self.unexpected("'{'", found)),
        };
        match self.tokens.next() {
            None => Ok(entries),
            found => Err(self.unexpected("the end of the JSON document", found)),
        }
    }

    /// The members of an object whose `{` was just read.
    fn json_object(&mut self, depth: usize) -> Result<Vec<Entry>, SyntaxError> {
        let mut entries = Vec::new();
        if self.eat(&Tok::RBrace) {
            return Ok(entries);
        }
        loop {
            let (key, pos) = match self.tokens.next() {
                Some((Tok::Str(key), pos)) => (key, pos),
                found => return Err(self.unexpected("a quoted key", found)),
            };
            if !self.eat(&Tok::Colon) {
                let found = self.tokens.next();
                return Err(self.unexpected("':' after the key", found));
            }
            let value = self.json_value(depth)?;
            entries.push(Entry { key, pos, value });
            match self.tokens.next() {
                Some((Tok::Comma, _)) => {}
                Some((Tok::RBrace, _)) => return Ok(entries),
                found => return Err(self.unexpected("',' or '}'", found)),
            }
        }
    }

    fn json_value(&mut self, depth: usize) -> Result<Node, SyntaxError> {
        match self.tokens.next() {
            Some((Tok::LBrace, pos)) => Ok(Node {
                pos,
                kind: Kind::Object(self.json_object(deeper(depth, pos)?)?),
            }),
            Some((Tok::LBracket, pos)) => {
                let depth = deeper(depth, pos)?;
                let mut items = Vec::new();
                if !self.eat(&Tok::RBracket) {
                    loop {
                        items.push(self.json_value(depth)?);
                        match self.tokens.next() {
                            Some((Tok::Comma, _)) => {}
                            Some((Tok::RBracket, _)) => break,
                            found => return Err(self.unexpected("',' or ']'", found)),
                        }
                    }
                }
                Ok(Node {
                    pos,
                    kind: Kind::List(items),
                })
            }
            found => self.scalar(found),
        }
    }
}

fn deeper(depth: usize, pos: Pos) -> Result<usize, SyntaxError> {
    if depth >= MAX_DEPTH {
        return Err(error(pos, "lists and objects are nested too deeply"));
    }
    Ok(depth + 1)
}

// --- from the document tree to rules ---

fn rules(entries: Vec<Entry>) -> Result<Vec<PathRule>, SyntaxError> {
    let mut rules = Vec::new();
    for Entry { key, pos, value } in entries {
        if key != "path" {
            return Err(error(
                pos,
                format!("unknown key {key:?}; a policy holds only `path` blocks"),
            ));
        }
        let Kind::Object(patterns) = value.kind else {
            return Err(error(
                value.pos,
                "expected a path pattern and a block after `path`",
            ));
        };
        for entry in patterns {
            rules.push(rule(entry)?);
        }
    }
    Ok(rules)
}

fn rule(Entry { key, pos, value }: Entry) -> Result<PathRule, SyntaxError> {
    let pattern = validate_pattern(&key).map_err(|message| error(pos, message))?;
    let Kind::Object(fields) = value.kind else {
        return Err(error(
            value.pos,
            format!("expected a block {{ ... }} for the path {pattern:?}"),
        ));
    };
    let mut rule = PathRule::new(pattern, Capabilities::NONE);
    let mut seen: Vec<String> = Vec::new();
    for Entry { key, pos, value } in fields {
        if seen.contains(&key) {
            return Err(error(
                pos,
                format!("duplicate key {key:?} in the block for {:?}", rule.pattern),
            ));
        }
        match key.as_str() {
            "capabilities" => rule.capabilities = capability_list(value)?,
            "required_parameters" => {
                rule.required_parameters = list(value)?
                    .into_iter()
                    .map(|item| parameter_name(item.pos, string(item)?))
                    .collect::<Result<_, _>>()?;
            }
            "allowed_parameters" => rule.allowed_parameters = parameter_map(value)?,
            "denied_parameters" => rule.denied_parameters = parameter_map(value)?,
            "min_wrapping_ttl" => rule.wrapping.min = wrapping_ttl(value)?,
            "max_wrapping_ttl" => rule.wrapping.max = wrapping_ttl(value)?,
            _ => {
                return Err(error(
                    pos,
                    format!(
                        "unknown or unsupported key {key:?} in a path block; expected \
                         capabilities, required_parameters, allowed_parameters, \
                         denied_parameters, min_wrapping_ttl or max_wrapping_ttl"
                    ),
                ));
            }
        }
        let bound = key.ends_with("_wrapping_ttl");
        seen.push(key);
        if bound && rule.wrapping.max > 0 && rule.wrapping.min > rule.wrapping.max {
            return Err(error(
                pos,
                format!(
                    "min_wrapping_ttl is above max_wrapping_ttl in the block for {:?}",
                    rule.pattern
                ),
            ));
        }
    }
    Ok(rule)
}

/// Checks a pattern and drops its leading `/`s, as normalisation drops a request
/// path's (Vault drops one: a pattern left with a `/` could never match, so a
/// `deny` on `//secret/*` would silently deny nothing).
fn validate_pattern(raw: &str) -> Result<String, &'static str> {
    let pattern = raw.trim_start_matches('/');
    if pattern.is_empty() {
        return Err("empty path pattern");
    }
    if pattern.find('*').is_some_and(|i| i + 1 != pattern.len()) {
        return Err("'*' is allowed only as the last character of a path pattern");
    }
    if template::is_templated(pattern) && template::check(pattern).is_err() {
        return Err(
            "bad policy template: expected {{identity.entity.id}}, {{identity.entity.name}}, \
             {{identity.entity.metadata.KEY}}, {{identity.entity.aliases.ACCESSOR.name}}, \
             {{identity.groups.names.NAME.id}} or {{identity.groups.ids.ID.name}}",
        );
    }
    if pattern.chars().any(char::is_control) {
        return Err("control character in a path pattern");
    }
    Ok(pattern.to_owned())
}

/// A wrapping TTL bound: a duration as text (`"30s"`, `"5m"`) or a number of
/// seconds, in milliseconds.
fn wrapping_ttl(node: Node) -> Result<u64, SyntaxError> {
    let pos = node.pos;
    match node.kind {
        Kind::Scalar(value @ (Value::String(_) | Value::Number(_))) => {
            crate::params::duration_ms_of(&value).map_err(|e| error(pos, e))
        }
        _ => Err(error(pos, "expected a duration such as \"30s\" or \"5m\"")),
    }
}

fn list(node: Node) -> Result<Vec<Node>, SyntaxError> {
    match node.kind {
        Kind::List(items) => Ok(items),
        _ => Err(error(node.pos, "expected a list [...]")),
    }
}

fn string(node: Node) -> Result<String, SyntaxError> {
    match node.kind {
        Kind::Scalar(Value::String(s)) => Ok(s),
        _ => Err(error(node.pos, "expected a string")),
    }
}

fn capability_list(node: Node) -> Result<Capabilities, SyntaxError> {
    let mut caps = Capabilities::NONE;
    for item in list(node)? {
        let pos = item.pos;
        let name = string(item)?;
        let cap = Capability::from_name(&name).ok_or_else(|| {
            let known: Vec<_> = Capability::ALL.iter().map(|c| c.as_str()).collect();
            error(
                pos,
                format!(
                    "unknown capability {name:?}; expected one of {}",
                    known.join(", ")
                ),
            )
        })?;
        caps.insert(cap);
    }
    Ok(caps)
}

/// Parameter names compare case-insensitively (as in Vault), so they are kept
/// lower case.
fn parameter_name(pos: Pos, name: String) -> Result<String, SyntaxError> {
    if name.is_empty() {
        return Err(error(pos, "empty parameter name"));
    }
    Ok(name.to_lowercase())
}

fn parameter_map(node: Node) -> Result<BTreeMap<String, Vec<Value>>, SyntaxError> {
    let Kind::Object(entries) = node.kind else {
        return Err(error(
            node.pos,
            "expected a map of parameter names to lists of values",
        ));
    };
    let mut map = BTreeMap::new();
    for Entry { key, pos, value } in entries {
        let name = parameter_name(pos, key)?;
        if map.contains_key(&name) {
            return Err(error(pos, format!("duplicate parameter {name:?}")));
        }
        let values = list(value)?
            .into_iter()
            .map(|item| match item.kind {
                Kind::Scalar(v) => Ok(v),
                _ => Err(error(
                    item.pos,
                    "parameter values must be strings, numbers or booleans",
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        map.insert(name, values);
    }
    Ok(map)
}
