//! `audit enable|disable|list|hash` (thin shapes over `sys/audit/...` and
//! `sys/audit-hash/...`) and `audit verify`, which checks log files offline with
//! [`crate::verify`] and, given a vault, asks it about what only the vault can
//! judge: checkpoint signatures and where the log really ends.

use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal as _, Read};
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde_json::{Map, Value, json};
use tokio::runtime::Runtime;

use crate::client::{Client, Target};
use crate::logical::{self, Op};
use crate::output::{Format, print};
use crate::verify::{self, Checkpoint, Kind, Mark, Options, Problem, Summary};

/// `audit enable [--path NAME] TYPE [k=v ...]`.
pub async fn enable(
    client: &mut Client,
    kind: &str,
    path: Option<&str>,
    options: &[String],
) -> anyhow::Result<u8> {
    let name = path.unwrap_or(kind).trim_matches('/');
    let mut body = Map::new();
    body.insert("type".into(), json!(kind));
    body.insert(
        "options".into(),
        Value::Object(logical::parse_pairs(options)?),
    );
    logical::call(client, Op::Write, &format!("sys/audit/{name}"), body).await?;
    println!("Success! Enabled the {kind} audit device at: {name}/");
    Ok(0)
}

/// `audit disable NAME`.
pub async fn disable(client: &mut Client, name: &str) -> anyhow::Result<u8> {
    let name = name.trim_matches('/');
    logical::call(client, Op::Delete, &format!("sys/audit/{name}"), Map::new()).await?;
    println!("Success! Disabled the audit device (if it was enabled) at: {name}/");
    Ok(0)
}

/// `audit list`: one row per device.
pub async fn list(client: &mut Client, format: Format) -> anyhow::Result<u8> {
    let response = logical::call(client, Op::Read, "sys/audit", Map::new()).await?;
    let data = logical::data_of(&response)?;
    if format == Format::Json {
        print(format, &[], &Value::Object(data));
        return Ok(0);
    }
    if data.is_empty() {
        // Vault's words and exit code.
        eprintln!("No audit devices are enabled.");
        return Ok(2);
    }
    println!(
        "{:<20}  {:<8}  {:<8}  {:<10}  Options",
        "Path", "Type", "Healthy", "Seq"
    );
    println!(
        "{:<20}  {:<8}  {:<8}  {:<10}  -------",
        "----", "----", "-------", "---"
    );
    for (name, device) in &data {
        let text = |k: &str| match device.get(k) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        let options: Vec<String> = device
            .get("options")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                )
            })
            .collect();
        println!(
            "{name:<20}  {:<8}  {:<8}  {:<10}  {}",
            text("type"),
            text("healthy"),
            text("seq"),
            options.join(" ")
        );
    }
    Ok(0)
}

/// `audit hash NAME INPUT`: the HMAC device NAME writes for INPUT, to search its
/// log for a known value. INPUT `-` is read from stdin, to keep a secret out of
/// the shell's history and the process list.
pub async fn hash(
    client: &mut Client,
    format: Format,
    name: &str,
    input: &str,
) -> anyhow::Result<u8> {
    let input = if input == "-" {
        let mut text = String::new();
        io::stdin()
            .read_to_string(&mut text)
            .context("reading the input from stdin")?;
        text.trim_end_matches('\n').to_owned()
    } else {
        input.to_owned()
    };
    let mut body = Map::new();
    body.insert("input".into(), json!(input));
    let name = name.trim_matches('/');
    let response =
        logical::call(client, Op::Write, &format!("sys/audit-hash/{name}"), body).await?;
    match format {
        Format::Json => print(format, &[], &logical::envelope(&response)?),
        Format::Table => {
            let data = logical::data_of(&response)?;
            let hash = data
                .get("hash")
                .and_then(Value::as_str)
                .context("the vault's answer has no hash")?;
            println!("{hash}");
        }
    }
    Ok(0)
}

/// `audit verify` arguments.
#[derive(Debug)]
pub struct VerifyArgs {
    pub files: Vec<PathBuf>,
    pub vault: bool,
    pub device: Option<String>,
    pub allow_open_end: bool,
}

/// `audit verify [--vault --device NAME] [--allow-open-end] FILE...`: exit 0 when
/// the series verifies, 1 with the first problem otherwise.
///
/// Offline, the log must end with a `shutdown` checkpoint (a clean stop), and its
/// last line must be complete; `--allow-open-end` accepts a live or crashed log
/// (ending elsewhere, or with an entry still being written, which is ignored).
/// With `--vault`, the vault's record of the device's last seq and hash, found in
/// the files, vouches for the end instead; it alone catches a log cut exactly at
/// a `shutdown` checkpoint.
///
/// Synchronous on purpose: the chain is read on this thread, and the few vault
/// calls (one per checkpoint, one per 1,000 entries) are run on `runtime` as they
/// come, so that a forged checkpoint is reported in its place among the problems.
pub fn verify(
    runtime: &Runtime,
    target: &Target,
    format: Format,
    args: VerifyArgs,
) -> anyhow::Result<u8> {
    let files = open_all(&args.files)?;
    let mut vault = match (args.vault, args.device) {
        (true, Some(device)) => Some(runtime.block_on(VaultCheck::connect(target, device))?),
        (true, None) => bail!("--vault needs --device NAME: the device whose log this is"),
        (false, _) => None,
    };
    let options = Options {
        allow_open_end: args.allow_open_end,
        mark: vault.as_ref().map(|v| v.mark.clone()),
    };
    let progress = Progress::for_files(&files);
    let readers = progress.readers(files);
    let mut check = |checkpoint: &Checkpoint| match vault.as_mut() {
        Some(vault) => runtime.block_on(vault.check(checkpoint)),
        None => Ok(()),
    };
    let outcome = verify::verify(readers, &options, &mut check);
    if progress.show {
        eprintln!();
    }
    Ok(report(format, &args.files, args.vault, outcome))
}

/// Prints the verdict on stdout (notes on stderr) and returns the exit code.
fn report(format: Format, files: &[PathBuf], vault: bool, outcome: Result<Summary, Problem>) -> u8 {
    match outcome {
        Ok(summary) => {
            for note in notes(&summary, files, vault) {
                eprintln!("note: {note}");
            }
            match format {
                Format::Json => print(format, &[], &summary_json(&summary, vault)),
                Format::Table => println!("{}", ok_line(&summary)),
            }
            0
        }
        Err(problem) => {
            match format {
                Format::Json => print(
                    format,
                    &[],
                    &json!({
                        "ok": false,
                        "file": problem.file,
                        "line": problem.line,
                        "problem": problem.to_string(),
                    }),
                ),
                Format::Table => println!("FAILED: {problem}"),
            }
            1
        }
    }
}

fn ok_line(s: &Summary) -> String {
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    format!(
        "OK: {} in {}, seq {}..{}, {}",
        plural(s.entries, "entry", "entries"),
        plural(s.files as u64, "file", "files"),
        s.first_seq,
        s.last_seq,
        plural(s.checkpoints, "checkpoint", "checkpoints"),
    )
}

/// What a passing verification did not prove.
fn notes(s: &Summary, files: &[PathBuf], vault: bool) -> Vec<String> {
    let mut notes = Vec::new();
    if s.continues_earlier {
        let first = files
            .first()
            .map(|f| f.display().to_string())
            .unwrap_or_default();
        notes.push(format!(
            "{first} begins at seq {}, continuing earlier files that were not given: its link to them was not checked",
            s.first_seq
        ));
    }
    if !vault {
        notes.push(
            "checkpoint signatures were not checked (add --vault --device NAME): an edit whose author recomputed the hashes would pass"
                .into(),
        );
    }
    match s.vouched_seq {
        Some(seq) => notes.push(format!(
            "the files hold seq {seq}, the vault's own record of this device's last entry"
        )),
        None if s.open_end => notes.push(
            "the log does not end with a shutdown checkpoint (--allow-open-end): entries removed from its end would not be noticed"
                .into(),
        ),
        None => {}
    }
    if let Some(line) = s.incomplete_line {
        let last = files
            .last()
            .map(|f| f.display().to_string())
            .unwrap_or_default();
        notes.push(format!(
            "line {line} of {last} is incomplete (an entry still being written) and was not checked"
        ));
    }
    notes
}

fn summary_json(s: &Summary, vault: bool) -> Value {
    json!({
        "ok": true,
        "entries": s.entries,
        "files": s.files,
        "first_seq": s.first_seq,
        "last_seq": s.last_seq,
        "checkpoints": s.checkpoints,
        "continues_earlier": s.continues_earlier,
        "open_end": s.open_end,
        "incomplete_line": s.incomplete_line,
        "signatures_checked": vault,
        "vault_seq": s.vouched_seq,
    })
}

/// Each file with the name used in messages and its size (for the progress).
fn open_all(paths: &[PathBuf]) -> anyhow::Result<Vec<(String, File, u64)>> {
    paths
        .iter()
        .map(|path| {
            let name = path.display().to_string();
            let file = File::open(path).with_context(|| format!("cannot open {name}"))?;
            let size = file
                .metadata()
                .with_context(|| format!("cannot read the size of {name}"))?
                .len();
            Ok((name, file, size))
        })
        .collect()
}

/// What the vault knows of one device, and the way to ask it.
struct VaultCheck {
    client: Client,
    device: String,
    mark: Mark,
}

impl VaultCheck {
    /// Connects and reads the device's mark. Read before the files, so that a
    /// live file given to the verifier already holds the marked entry.
    async fn connect(target: &Target, device: String) -> anyhow::Result<VaultCheck> {
        let mut client = Client::connect(target).await?;
        let device = device.trim_matches('/').to_owned();
        let path = format!("sys/audit/{device}");
        let response = logical::call(&mut client, Op::Read, &path, Map::new()).await?;
        let data = logical::data_of(&response)?;
        let seq = data.get("seq").and_then(Value::as_u64);
        let hash = data.get("last_hash").and_then(Value::as_str);
        let (Some(seq), Some(hash)) = (seq, hash) else {
            bail!("the vault's answer for {path} has no seq and last_hash");
        };
        let mark = Mark {
            seq,
            hash: hash.to_owned(),
        };
        Ok(VaultCheck {
            client,
            device,
            mark,
        })
    }

    /// Asks the vault whether the device signed this checkpoint.
    async fn check(&mut self, checkpoint: &Checkpoint) -> Result<(), Kind> {
        let mut body = Map::new();
        body.insert("seq".into(), json!(checkpoint.seq));
        body.insert("prev_hash".into(), json!(checkpoint.prev_hash));
        body.insert("signature".into(), json!(checkpoint.signature));
        let path = format!("sys/audit/{}/verify-checkpoint", self.device);
        let unchecked = |e: anyhow::Error| Kind::Unchecked(crate::output::error_text(&e));
        let response = logical::call(&mut self.client, Op::Write, &path, body)
            .await
            .map_err(unchecked)?;
        let data = logical::data_of(&response).map_err(unchecked)?;
        match data.get("valid").and_then(Value::as_bool) {
            Some(true) => Ok(()),
            Some(false) => Err(Kind::Forged),
            None => Err(Kind::Unchecked(format!(
                "the vault's answer for {path} has no valid"
            ))),
        }
    }
}

/// Progress on stderr, for people: only on a terminal, and only when the files
/// are big enough to wait for.
#[derive(Debug, Clone, Copy)]
struct Progress {
    total: u64,
    show: bool,
}

/// How often the progress line is redrawn.
const PROGRESS_STEP: u64 = 64 << 20;

/// Read-ahead per file: large, since the files are read once, front to back.
const READ_BUFFER: usize = 1 << 20;

impl Progress {
    fn for_files(files: &[(String, File, u64)]) -> Progress {
        let total = files.iter().map(|(_, _, size)| size).sum();
        Progress {
            total,
            show: total >= PROGRESS_STEP && io::stderr().is_terminal(),
        }
    }

    /// The files as readers that report the bytes verified across the series.
    fn readers(self, files: Vec<(String, File, u64)>) -> Vec<(String, Counted)> {
        let mut before = 0;
        files
            .into_iter()
            .map(|(name, file, size)| {
                let reader = Counted {
                    inner: BufReader::with_capacity(READ_BUFFER, file),
                    done: before,
                    next: (before / PROGRESS_STEP + 1) * PROGRESS_STEP,
                    progress: self,
                };
                before += size;
                (name, reader)
            })
            .collect()
    }
}

/// A file reader that counts what is consumed, to draw the progress.
#[derive(Debug)]
struct Counted {
    inner: BufReader<File>,
    /// Bytes consumed across the series, this file's included.
    done: u64,
    /// Where the progress is next redrawn.
    next: u64,
    progress: Progress,
}

impl Counted {
    fn advance(&mut self, n: usize) {
        self.done += n as u64;
        if self.progress.show && self.done >= self.next {
            let mib = |b: u64| b >> 20;
            eprint!(
                "\rverified {} MiB of {} MiB",
                mib(self.done),
                mib(self.progress.total)
            );
            self.next = (self.done / PROGRESS_STEP + 1) * PROGRESS_STEP;
        }
    }
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.advance(n);
        Ok(n)
    }
}

impl BufRead for Counted {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.inner.consume(amount);
        self.advance(amount);
    }
}
