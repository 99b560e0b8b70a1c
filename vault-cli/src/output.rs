//! Output in the two formats every command offers: a key/value table for people,
//! and JSON (stable field names, Vault's where they exist) for scripts.

use clap::ValueEnum;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
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
