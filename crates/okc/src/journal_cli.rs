//! `okc journal list|show|export|verify`: the journal (docs/JOURNAL.md) for support. Opens
//! the file read-only: nothing is created, migrated or changed.
//!
//! Exit codes: 0 done (verify: no findings), 1 usage, 3 verify found problems, 6 bad input
//! (time, format, unknown entry), 7 the journal cannot be opened (the message says why and
//! what to do).

use std::io::Write;
use std::path::PathBuf;

use okclink::journal::{
    format_time, parse_time, Entry, Filter, Format, Journal, OpenOptions, ENV_VAR,
};

pub const EXIT_USAGE: u8 = 1;
pub const EXIT_FINDINGS: u8 = 3;
pub const EXIT_BAD_INPUT: u8 = 6;
pub const EXIT_JOURNAL: u8 = 7;

/// The message of a `verify` whose report was already printed.
pub const FINDINGS_PREFIX: &str = "verify found ";

pub const USAGE: &str = "okc journal list [--kind K] [--state S] [--since DATE] [--limit N]
okc journal show ID|KEY
okc journal export [--since DATE] [--format csv|json] [--output FILE]
okc journal verify
okc journal prune [--keep-days N]

The journal of operations that print receipts or move money (docs/JOURNAL.md), read-only
(but prune).

OPTIONS:
  --journal PATH   the journal file (default $OKC_JOURNAL)
  --json           list/show/verify: JSON (list: one object per line)
  --kind K         basket, fiscal_payment, receipt, payment, refund, reversal, energy_lock,
                   energy_pay
  --state S        recorded, sent, answered, in_doubt, not_sent, failed
  --since DATE     created at or after DATE (YYYY-MM-DD, midnight UTC, or RFC 3339)
  --limit N        the newest N entries only
  --format F       export: csv (default) or json
  --output FILE    export: write there instead of stdout
  --keep-days N    prune: keep finished entries changed in the last N days (default 100);
                   unfinished and unconfirmed entries are never pruned

show: ID is the entry's number; anything else is looked up as the caller's id (basketID,
payment reference) in every kind.
verify: SQLite's integrity check, the schema, every entry's state against its times and
JSON, and that every receipt has its basket.

EXIT CODES: 0 ok, 1 usage, 3 verify found problems, 6 bad input or unknown entry,
7 the journal cannot be opened";

/// A failure: exit code and message.
pub type Failure = (u8, String);

#[derive(Default)]
struct Args {
    journal: Option<PathBuf>,
    keep_days: Option<u64>,
    json: bool,
    filter: Filter,
    format: Option<Format>,
    output: Option<PathBuf>,
    positional: Vec<String>,
}

fn parse(args: &[String]) -> Result<Args, Failure> {
    let usage = |m: String| (EXIT_USAGE, m);
    let bad = |m: String| (EXIT_BAD_INPUT, m);
    let mut a = Args::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .ok_or_else(|| usage(format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--journal" => a.journal = Some(PathBuf::from(val()?)),
            "--json" => a.json = true,
            "--kind" => a.filter.kind = Some(val()?.parse().map_err(bad)?),
            "--state" => a.filter.state = Some(val()?.parse().map_err(bad)?),
            "--since" => a.filter.since = Some(parse_time(&val()?).map_err(bad)?),
            "--keep-days" => {
                let v = val()?;
                a.keep_days = Some(
                    v.parse()
                        .ok()
                        .filter(|d: &u64| (1..=36_500).contains(d))
                        .ok_or_else(|| usage(format!("--keep-days: 1 to 36500, not {v:?}")))?,
                );
            }
            "--limit" => {
                let v = val()?;
                a.filter.limit = Some(
                    v.parse()
                        .map_err(|_| bad(format!("--limit {v:?}: not a number")))?,
                )
            }
            "--format" => a.format = Some(val()?.parse().map_err(bad)?),
            "--output" | "-o" => a.output = Some(PathBuf::from(val()?)),
            s if s.starts_with('-') && s.len() > 1 => {
                return Err(usage(format!("unknown option {s:?} (okc journal --help)")))
            }
            _ => a.positional.push(arg.clone()),
        }
    }
    Ok(a)
}

fn open(a: &Args) -> Result<Journal, Failure> {
    open_mode(a, true)
}

fn open_mode(a: &Args, read_only: bool) -> Result<Journal, Failure> {
    let path = match &a.journal {
        Some(p) => p.clone(),
        None => match std::env::var_os(ENV_VAR).filter(|v| !v.is_empty()) {
            Some(p) => PathBuf::from(p),
            None => {
                return Err((
                    EXIT_USAGE,
                    format!("which journal? --journal PATH or ${ENV_VAR}"),
                ))
            }
        },
    };
    Journal::open_with(
        &path,
        &OpenOptions {
            read_only,
            ..OpenOptions::default()
        },
    )
    .map_err(|e| (EXIT_JOURNAL, e.to_string()))
}

fn journal_err(e: okclink::journal::JournalError) -> Failure {
    (EXIT_JOURNAL, e.to_string())
}

fn line(e: &Entry) -> String {
    let state = match e.outcome {
        Some(o) => format!("{}/{}", e.state, o.as_str()),
        None => e.state.to_string(),
    };
    let flags = if e.confirmed() {
        "confirmed"
    } else if e.delivered() {
        "delivered"
    } else {
        "-"
    };
    format!(
        "{:>6}  {}  {:<14} {:<24} {:<20} {:<18} {:>2}  {:<9} {}",
        e.id,
        format_time(e.created_at),
        e.kind.as_str(),
        e.key,
        e.scope,
        state,
        e.attempts,
        flags,
        e.reason.as_deref().unwrap_or("")
    )
}

/// Runs `okc journal ARGS…`, printing to stdout.
pub fn run(args: &[String]) -> Result<(), Failure> {
    let Some(cmd) = args.first() else {
        return Err((EXIT_USAGE, format!("a subcommand, please\n{USAGE}")));
    };
    let a = parse(&args[1..])?;
    let out = std::io::stdout();
    let mut out = out.lock();
    let io = |e: std::io::Error| (EXIT_JOURNAL, format!("writing the output: {e}"));
    match cmd.as_str() {
        "prune" => {
            let j = open_mode(&a, false)?;
            let days = a
                .keep_days
                .unwrap_or(okclink::journal::DEFAULT_RETENTION.as_secs() / 86_400);
            let n = j
                .prune(std::time::Duration::from_secs(days * 86_400))
                .map_err(journal_err)?;
            writeln!(out, "pruned {n} finished entries older than {days} days").map_err(io)?;
            Ok(())
        }
        "list" => {
            let j = open(&a)?;
            let entries = j.list(&a.filter).map_err(journal_err)?;
            if !a.json {
                writeln!(
                    out,
                    "{:>6}  {:<24}  {:<14} {:<24} {:<20} {:<18} {:>2}  {:<9} reason",
                    "id", "created", "kind", "key", "scope", "state", "n", "app"
                )
                .map_err(io)?;
            }
            for e in &entries {
                if a.json {
                    writeln!(out, "{}", e.to_json()).map_err(io)?;
                } else {
                    writeln!(out, "{}", line(e)).map_err(io)?;
                }
            }
            Ok(())
        }
        "show" => {
            let [what] = &a.positional[..] else {
                return Err((EXIT_USAGE, "show needs one ID or KEY".into()));
            };
            let j = open(&a)?;
            let mut entries = match what.parse::<i64>() {
                Ok(id) => j.get_id(id).map_err(journal_err)?.into_iter().collect(),
                Err(_) => Vec::new(),
            };
            if entries.is_empty() {
                entries = j.find_key(what).map_err(journal_err)?;
            }
            if entries.is_empty() {
                return Err((EXIT_BAD_INPUT, format!("no journal entry {what:?}")));
            }
            for e in &entries {
                let history = j.history(e.id).map_err(journal_err)?;
                if a.json {
                    let mut v = e.to_json();
                    v["history"] = history
                        .iter()
                        .map(|h| {
                            serde_json::json!({"at": format_time(h.at), "event": h.event, "note": h.note})
                        })
                        .collect();
                    writeln!(out, "{v}").map_err(io)?;
                    continue;
                }
                let v = e.to_json();
                for k in [
                    "id", "kind", "key", "scope", "state", "outcome", "attempts", "reason",
                ] {
                    writeln!(out, "{k:<9} {}", v[k]).map_err(io)?;
                }
                let pretty = |v: &serde_json::Value| {
                    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
                };
                writeln!(out, "request   {}", pretty(&v["request"])).map_err(io)?;
                writeln!(out, "result    {}", pretty(&v["result"])).map_err(io)?;
                writeln!(out, "history").map_err(io)?;
                for h in &history {
                    writeln!(
                        out,
                        "  {}  {:<9} {}",
                        format_time(h.at),
                        h.event,
                        h.note.as_deref().unwrap_or("")
                    )
                    .map_err(io)?;
                }
            }
            Ok(())
        }
        "export" => {
            let j = open(&a)?;
            let format = a.format.unwrap_or(Format::Csv);
            match &a.output {
                Some(p) => {
                    let mut f = std::io::BufWriter::new(std::fs::File::create(p).map_err(|e| {
                        (
                            EXIT_BAD_INPUT,
                            format!("cannot create {}: {e}", p.display()),
                        )
                    })?);
                    let n = j
                        .export(a.filter.since, format, &mut f)
                        .map_err(journal_err)?;
                    eprintln!("okc journal export: {n} entries to {}", p.display());
                }
                None => {
                    j.export(a.filter.since, format, &mut out)
                        .map_err(journal_err)?;
                }
            }
            Ok(())
        }
        "verify" => {
            let j = open(&a)?;
            let rep = j.verify().map_err(journal_err)?;
            if a.json {
                writeln!(out, "{}", rep.to_json()).map_err(io)?;
            } else {
                writeln!(
                    out,
                    "journal {}: schema {}, {} entries, {}",
                    j.path().display(),
                    rep.schema_version,
                    rep.entries,
                    if rep.is_ok() {
                        "ok".to_string()
                    } else {
                        format!("{} problems", rep.findings.len())
                    }
                )
                .map_err(io)?;
                for f in &rep.findings {
                    let at = f.entry.map(|i| format!("entry {i}: ")).unwrap_or_default();
                    writeln!(out, "  [{}] {at}{}", f.check, f.message).map_err(io)?;
                }
            }
            if rep.is_ok() {
                Ok(())
            } else {
                Err((
                    EXIT_FINDINGS,
                    format!("{FINDINGS_PREFIX}{} problems", rep.findings.len()),
                ))
            }
        }
        other => Err((
            EXIT_USAGE,
            format!("unknown journal command {other:?} (list, show, export, verify)"),
        )),
    }
}
