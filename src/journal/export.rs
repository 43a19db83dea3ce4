//! Export (CSV, JSON) and `verify` of the journal.

use std::io::{self, Write};

use rusqlite::Connection;

use super::{format_time, schema, Entry, Kind, Outcome, State};

/// Export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// RFC 4180: a header line, then one line per entry; request and result as JSON text.
    Csv,
    /// One JSON array of [`Entry::to_json`] objects, one per line.
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            _ => Err(format!("unknown export format {s:?} (csv or json)")),
        }
    }
}

/// The CSV columns, in order.
pub const CSV_HEADER: &[&str] = &[
    "id",
    "kind",
    "key",
    "scope",
    "state",
    "outcome",
    "attempts",
    "reason",
    "created_at",
    "sent_at",
    "answered_at",
    "in_doubt_at",
    "ended_at",
    "delivered_at",
    "confirmed_at",
    "updated_at",
    "request",
    "result",
];

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub(super) fn write(entries: &[Entry], format: Format, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Csv => {
            writeln!(out, "{}", CSV_HEADER.join(","))?;
            let t = |m: Option<i64>| m.map(format_time).unwrap_or_default();
            for e in entries {
                let fields = [
                    e.id.to_string(),
                    e.kind.as_str().into(),
                    e.key.clone(),
                    e.scope.clone(),
                    e.state.as_str().into(),
                    e.outcome.map(Outcome::as_str).unwrap_or("").into(),
                    e.attempts.to_string(),
                    e.reason.clone().unwrap_or_default(),
                    format_time(e.created_at),
                    t(e.sent_at),
                    t(e.answered_at),
                    t(e.in_doubt_at),
                    t(e.ended_at),
                    t(e.delivered_at),
                    t(e.confirmed_at),
                    format_time(e.updated_at),
                    e.request.clone(),
                    e.result.clone().unwrap_or_default(),
                ];
                let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
                writeln!(out, "{}", line.join(","))?;
            }
        }
        Format::Json => {
            writeln!(out, "[")?;
            for (i, e) in entries.iter().enumerate() {
                let sep = if i + 1 < entries.len() { "," } else { "" };
                writeln!(out, "{}{sep}", e.to_json())?;
            }
            writeln!(out, "]")?;
        }
    }
    out.flush()
}

/// One problem `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The entry concerned, if one.
    pub entry: Option<i64>,
    /// Which check: `integrity`, `schema`, `entry`, `json`, `receipt_without_basket`,
    /// `history`.
    pub check: &'static str,
    pub message: String,
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub schema_version: u32,
    pub entries: u64,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn is_ok(&self) -> bool {
        self.findings.is_empty()
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "ok": self.is_ok(),
            "schemaVersion": self.schema_version,
            "entries": self.entries,
            "findings": self.findings.iter().map(|f| serde_json::json!({
                "entry": f.entry, "check": f.check, "message": f.message,
            })).collect::<Vec<_>>(),
        })
    }
}

fn strings(c: &Connection, sql: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare(sql)?;
    let v = st
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>();
    v
}

fn is_json(s: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(s).is_ok()
}

pub(super) fn verify(c: &Connection) -> rusqlite::Result<Report> {
    let mut findings = Vec::new();
    let mut add = |entry: Option<i64>, check: &'static str, message: String| {
        findings.push(Finding {
            entry,
            check,
            message,
        })
    };
    let integrity = strings(c, "PRAGMA integrity_check")?;
    if integrity != ["ok"] {
        for m in integrity {
            add(None, "integrity", m);
        }
    }
    let version = schema::version(c)?.unwrap_or(0);
    if version != schema::CURRENT {
        add(
            None,
            "schema",
            format!("schema version {version}, expected {}", schema::CURRENT),
        );
    }
    let mut schema_ok = true;
    for (table, cols) in schema::TABLES {
        let have = strings(c, &format!("SELECT name FROM pragma_table_info('{table}')"))?;
        if have != *cols {
            schema_ok = false;
            add(
                None,
                "schema",
                format!("table {table}: columns {have:?}, expected {cols:?}"),
            );
        }
    }
    if !schema_ok {
        return Ok(Report {
            schema_version: version,
            entries: 0,
            findings,
        });
    }
    for m in strings(
        c,
        "SELECT 'history row ' || rowid || ' refers to missing entry' FROM pragma_foreign_key_check('history')",
    )? {
        add(None, "history", m);
    }

    struct Raw {
        id: i64,
        family: String,
        kind: String,
        key: String,
        state: String,
        outcome: Option<String>,
        request: String,
        result: Option<String>,
        reason: Option<String>,
        times: [Option<i64>; 8],
    }
    let mut st = c.prepare(
        "SELECT id, family, kind, key, state, outcome, request, result, reason, created_at, \
         sent_at, answered_at, in_doubt_at, ended_at, delivered_at, confirmed_at, updated_at \
         FROM entries ORDER BY id",
    )?;
    let rows = st
        .query_map([], |r| {
            Ok(Raw {
                id: r.get(0)?,
                family: r.get(1)?,
                kind: r.get(2)?,
                key: r.get(3)?,
                state: r.get(4)?,
                outcome: r.get(5)?,
                request: r.get(6)?,
                result: r.get(7)?,
                reason: r.get(8)?,
                times: [
                    r.get(9)?,
                    r.get(10)?,
                    r.get(11)?,
                    r.get(12)?,
                    r.get(13)?,
                    r.get(14)?,
                    r.get(15)?,
                    r.get(16)?,
                ],
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut baskets = std::collections::HashSet::new();
    for r in &rows {
        if r.family == Kind::Basket.family() {
            baskets.insert(r.key.as_str());
        }
    }
    for r in &rows {
        let id = Some(r.id);
        let [created, sent, answered, in_doubt, ended, delivered, confirmed, updated] = r.times;
        match r.kind.parse::<Kind>() {
            Err(m) => add(id, "entry", m),
            Ok(k) if k.family() != r.family => add(
                id,
                "entry",
                format!(
                    "kind {k} in family {:?} (expected {:?})",
                    r.family,
                    k.family()
                ),
            ),
            Ok(Kind::Receipt) if !baskets.contains(r.key.as_str()) => add(
                id,
                "receipt_without_basket",
                format!("receipt {:?} has no basket entry with that id", r.key),
            ),
            Ok(_) => {}
        }
        if !is_json(&r.request) {
            add(id, "json", "the request is not JSON".into());
        }
        if let Some(res) = &r.result {
            if !is_json(res) {
                add(id, "json", "the result is not JSON".into());
            }
        }
        let outcome = r.outcome.as_deref().map(str::parse::<Outcome>);
        if let Some(Err(m)) = &outcome {
            add(id, "entry", m.clone());
        }
        let outcome = outcome.and_then(Result::ok);
        if created.is_none() || updated.is_none() || created > updated {
            add(
                id,
                "entry",
                "creation after the last change (or a time missing)".into(),
            );
        }
        let mut need = |ok: bool, what: &str| {
            if !ok {
                add(id, "entry", format!("state {}: {what}", r.state));
            }
        };
        match r.state.parse::<State>() {
            Err(m) => need(false, &m),
            Ok(s) => {
                let has_result = r.result.is_some() && answered.is_some();
                match s {
                    State::Answered => {
                        need(has_result, "no result or answer time");
                        need(
                            matches!(outcome, Some(Outcome::Success | Outcome::Declined)),
                            "outcome must be success or declined",
                        );
                    }
                    State::Failed => {
                        need(has_result && ended.is_some(), "no result or end time");
                        need(outcome == Some(Outcome::Failed), "outcome must be failed");
                    }
                    State::Sent => need(sent.is_some(), "no send time"),
                    State::InDoubt => need(
                        in_doubt.is_some() && r.reason.is_some(),
                        "no time or reason",
                    ),
                    State::NotSent => {
                        need(ended.is_some() && r.reason.is_some(), "no time or reason")
                    }
                    State::Recorded => {}
                }
                if !matches!(s, State::Answered | State::Failed) {
                    need(
                        r.result.is_none() && delivered.is_none() && confirmed.is_none(),
                        "a result or a delivery without an answer",
                    );
                }
                if confirmed.is_some() {
                    need(delivered.is_some(), "confirmed but never delivered");
                }
            }
        }
    }
    Ok(Report {
        schema_version: version,
        entries: rows.len() as u64,
        findings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_only_when_needed() {
        assert_eq!(csv_field("abc"), "abc");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("{\"a\":1}"), "\"{\"\"a\"\":1}\"");
        assert_eq!(csv_field("x\ny"), "\"x\ny\"");
    }

    #[test]
    fn formats_parse() {
        assert_eq!("CSV".parse::<Format>(), Ok(Format::Csv));
        assert_eq!("json".parse::<Format>(), Ok(Format::Json));
        assert!("xml".parse::<Format>().is_err());
    }
}
