//! Output in the two formats every command offers: a key/value table for people,
//! and JSON (stable field names, Vault's where they exist) for scripts.

use clap::ValueEnum;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// Seconds as Vault's CLI shows a duration in a table: `768h`, `1h30m`,
/// `59m58s`, `0s` (Go's form, zero units left out).
pub fn duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// A table cell for a value that may be empty, as Vault's CLI shows it: `n/a`.
pub fn or_na(value: &str) -> String {
    if value.is_empty() {
        "n/a".into()
    } else {
        value.to_owned()
    }
}

/// A list as Vault's CLI shows one in a table: `[a b]`, `[]`.
pub fn list<I, S>(items: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let items: Vec<S> = items.into_iter().collect();
    let texts: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    format!("[{}]", texts.join(" "))
}

/// An error and its causes, each said once. Some errors (tonic's connect
/// error) display their source as well as returning it, so `{:#}` would
/// print that cause twice.
pub fn error_text(error: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Prints `rows` as a table, or `json` as pretty JSON.
pub fn print(format: Format, rows: &[(&str, String)], json: &Value) {
    match format {
        Format::Json => match serde_json::to_string_pretty(json) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("cannot render JSON: {e}"),
        },
        Format::Table => {
            let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(3).max(3);
            println!("{:<width$}    Value", "Key");
            println!("{:<width$}    -----", "---");
            for (key, value) in rows {
                println!("{key:<width$}    {value}");
            }
        }
    }
}
