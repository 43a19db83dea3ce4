//! The journal: "nothing lost, nothing twice" (docs/JOURNAL.md).
//!
//! Every operation that can print a receipt or move money — a basket, a card payment, a
//! refund, a reversal, an energy lock or payment — is written to an embedded SQLite file
//! **before** it leaves the process, keyed by the caller's id (basketID, payment reference).
//! Every later state change (sent, answered, in doubt, not sent, delivered, confirmed) is
//! written as it happens, each in its own committed transaction with `synchronous=FULL`.
//!
//! - **Idempotency**: [`Journal::begin`] decides "new or known" and writes the record in one
//!   transaction; a known id returns the known [`Entry`] (its state and result) instead of
//!   being sent again.
//! - **Recovery**: [`Journal::unfinished`] lists what was recorded or sent but has no answer:
//!   the back end asks the device / cloud / terminal about each, then records the answer,
//!   or [`Journal::mark_not_sent`] — never a blind re-send.
//! - **Delivery at least once**: [`Journal::undelivered`] lists answers the application has
//!   not confirmed; they are delivered again after a restart.
//!
//! One connection behind a mutex: `Journal` is `Send + Sync`; share it with an `Arc`. Several
//! processes may open the same file (SQLite's locking, WAL, a busy timeout). The fronts (the
//! fiscal `Hub`, the payment `Terminal`, the energy orders) open it; back ends get it from
//! their front. The integration is described in docs/JOURNAL.md.

pub mod events;
mod export;
pub mod schema;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use rusqlite::{
    params, Connection, ErrorCode, OpenFlags, OptionalExtension, Row, TransactionBehavior,
};

pub use export::{Finding, Format, Report};

/// The environment variable that names the journal file (read by the configuration and by
/// `okc journal`).
pub const ENV_VAR: &str = "OKC_JOURNAL";
/// The configuration key (JSON) that names the journal file.
pub const CONFIG_KEY: &str = "journal";
/// How long finished entries are kept: 100 days. GP tom accepts a cancellation up to 93
/// days after the payment, and a cancellation needs the original's terminal transaction id,
/// which the journal holds; 7 days more cover a shop closed over a holiday and clock skew.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(100 * 24 * 60 * 60);
/// How long a write waits for another process that holds the file (default 5 s).
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest caller id accepted.
pub const MAX_KEY_LEN: usize = 256;
/// Up to this size `open` runs SQLite's whole-file `quick_check` (≈ 50 000 entries, some
/// 30 ms); larger files open in milliseconds and are checked whole by [`Journal::verify`].
pub const FULL_CHECK_MAX_BYTES: u64 = 32 << 20;

/// What an entry records. Stored as its [`Kind::as_str`] text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A basket sent to a fiscal device (key: the basketID).
    Basket,
    /// A payment sent to a fiscal device for an open basket (300TR type 10; key: the
    /// caller's id for that payment, e.g. `basketID/n`).
    FiscalPayment,
    /// A sale info (receipt) the device delivered (key: its basketID).
    Receipt,
    /// A card payment (key: the payment reference).
    Payment,
    /// A card refund (key: its reference; the money namespace, shared with payments).
    Refund,
    /// A reversal / cancellation (key: its reference; the money namespace).
    Reversal,
    /// An energy order's pump lock (key: the order id).
    EnergyLock,
    /// An energy order's payment (key: the order id).
    EnergyPay,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Basket,
        Kind::FiscalPayment,
        Kind::Receipt,
        Kind::Payment,
        Kind::Refund,
        Kind::Reversal,
        Kind::EnergyLock,
        Kind::EnergyPay,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Basket => "basket",
            Kind::FiscalPayment => "fiscal_payment",
            Kind::Receipt => "receipt",
            Kind::Payment => "payment",
            Kind::Refund => "refund",
            Kind::Reversal => "reversal",
            Kind::EnergyLock => "energy_lock",
            Kind::EnergyPay => "energy_pay",
        }
    }

    /// The namespace of the caller's ids: a key is unique per family. Payments, refunds and
    /// reversals share `money` (a refund may not reuse a payment's reference).
    pub fn family(self) -> &'static str {
        match self {
            Kind::Payment | Kind::Refund | Kind::Reversal => "money",
            k => k.as_str(),
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Kind, String> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown entry kind {s:?}"))
    }
}

/// Where an operation is. `Recorded → Sent → Answered | Failed | InDoubt`, `InDoubt →
/// Answered | Failed | NotSent`, `Recorded → NotSent`; `NotSent` and `Failed` may be begun
/// again (nothing happened), `Answered` is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Written, not yet handed to the link / HTTP client.
    Recorded,
    /// Handed over: the device / cloud / terminal may have it.
    Sent,
    /// A result arrived ([`Outcome::Success`] or [`Outcome::Declined`]).
    Answered,
    /// Sent, answer lost (timeout, link loss, crash): reconcile before anything else.
    InDoubt,
    /// Known not to have arrived (reconciliation proved it, or it never left): may be begun
    /// again.
    NotSent,
    /// The other side refused it without effect ([`Outcome::Failed`]): may be begun again.
    Failed,
}

impl State {
    pub const ALL: [State; 6] = [
        State::Recorded,
        State::Sent,
        State::Answered,
        State::InDoubt,
        State::NotSent,
        State::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Recorded => "recorded",
            State::Sent => "sent",
            State::Answered => "answered",
            State::InDoubt => "in_doubt",
            State::NotSent => "not_sent",
            State::Failed => "failed",
        }
    }

    /// Recorded, sent or in doubt: needs reconciliation after a restart.
    pub fn is_unfinished(self) -> bool {
        matches!(self, State::Recorded | State::Sent | State::InDoubt)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = String;
    fn from_str(s: &str) -> Result<State, String> {
        State::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown entry state {s:?}"))
    }
}

/// What a result means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Done: receipt printed, payment approved, pump locked.
    Success,
    /// Done with a negative answer that is itself the result (card declined, receipt status
    /// ≠ 0): final, returned again for the same id.
    Declined,
    /// Refused without effect (validation error, busy terminal): state [`State::Failed`],
    /// the same id may be begun again.
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Declined => "declined",
            Outcome::Failed => "failed",
        }
    }
}

impl FromStr for Outcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Outcome, String> {
        [Outcome::Success, Outcome::Declined, Outcome::Failed]
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown outcome {s:?}"))
    }
}

/// Milliseconds since the Unix epoch (UTC). The journal's only time type.
pub type Millis = i64;

/// One operation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: i64,
    pub kind: Kind,
    /// The caller's id (basketID, payment reference, order id).
    pub key: String,
    /// Where it goes: device serial, terminal URL / POIID, GP tom TID, cloud terminal id.
    pub scope: String,
    /// The request as JSON text (as the front will send it).
    pub request: String,
    pub state: State,
    pub outcome: Option<Outcome>,
    /// The result as JSON text (what the application is given).
    pub result: Option<String>,
    /// Why in doubt / not sent / failed.
    pub reason: Option<String>,
    /// How many times it was handed over ([`Journal::mark_sent`]).
    pub attempts: u32,
    pub created_at: Millis,
    pub sent_at: Option<Millis>,
    pub answered_at: Option<Millis>,
    pub in_doubt_at: Option<Millis>,
    /// When it became not sent or failed.
    pub ended_at: Option<Millis>,
    pub delivered_at: Option<Millis>,
    pub confirmed_at: Option<Millis>,
    pub updated_at: Millis,
}

impl Entry {
    pub fn delivered(&self) -> bool {
        self.delivered_at.is_some()
    }

    pub fn confirmed(&self) -> bool {
        self.confirmed_at.is_some()
    }

    /// The entry as one JSON object (request and result embedded as JSON, times as RFC 3339).
    pub fn to_json(&self) -> serde_json::Value {
        let embed = |s: &str| {
            serde_json::from_str::<serde_json::Value>(s)
                .unwrap_or_else(|_| serde_json::Value::String(s.to_string()))
        };
        let t = |m: Option<Millis>| m.map(format_time);
        serde_json::json!({
            "id": self.id,
            "kind": self.kind.as_str(),
            "key": self.key,
            "scope": self.scope,
            "state": self.state.as_str(),
            "outcome": self.outcome.map(Outcome::as_str),
            "attempts": self.attempts,
            "reason": self.reason,
            "createdAt": format_time(self.created_at),
            "sentAt": t(self.sent_at),
            "answeredAt": t(self.answered_at),
            "inDoubtAt": t(self.in_doubt_at),
            "endedAt": t(self.ended_at),
            "deliveredAt": t(self.delivered_at),
            "confirmedAt": t(self.confirmed_at),
            "updatedAt": format_time(self.updated_at),
            "request": embed(&self.request),
            "result": self.result.as_deref().map(embed),
        })
    }
}

/// One state change of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub at: Millis,
    /// `recorded`, `sent`, `answered`, `failed`, `in_doubt`, `not_sent`, `delivered`,
    /// `confirmed`.
    pub event: String,
    pub note: Option<String>,
}

/// What [`Journal::begin`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// Recorded now (a new id, or one that was not sent / failed before: the same row, begun
    /// again): send it.
    New(i64),
    /// Already known: do not send; use its state and result.
    Known(Box<Entry>),
}

/// What [`Journal::record_arrival`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// The entry of the result.
    pub id: i64,
    /// It got its result now (new, or known and unfinished); false: it was answered before.
    pub new: bool,
    /// The application had confirmed it already (deliver nothing).
    pub confirmed: bool,
}

/// Which entries [`Journal::list`] returns (all conditions must hold).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub kind: Option<Kind>,
    pub state: Option<State>,
    pub scope: Option<String>,
    /// Created at or after.
    pub since: Option<Millis>,
    /// The newest `limit` entries only.
    pub limit: Option<usize>,
}

/// Options of [`Journal::open_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOptions {
    /// How long a write waits for another process holding the file, then [`JournalError::Locked`].
    pub busy_timeout: Duration,
    /// Open without writing: no file or folder is created, no migration runs (the file must
    /// have the current schema). For `okc journal`.
    pub read_only: bool,
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions {
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            read_only: false,
        }
    }
}

/// Why the journal could not be used. The `Display` text says what to do.
#[derive(Debug)]
pub enum JournalError {
    /// The folder could not be created (or the path is not usable).
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// SQLite cannot open or create the file.
    CannotOpen {
        path: PathBuf,
        detail: String,
    },
    /// The file or its folder is read-only.
    ReadOnly {
        path: PathBuf,
        detail: String,
    },
    /// Another process holds the file longer than the busy timeout.
    Locked {
        path: PathBuf,
    },
    /// Not a database, or damaged (`PRAGMA quick_check` failed).
    Corrupt {
        path: PathBuf,
        detail: String,
    },
    /// A SQLite file that is not a journal.
    Foreign {
        path: PathBuf,
    },
    /// Written by a newer okclink (schema `found` > `supported`).
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// Read-only open of a file with an older schema.
    TooOld {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// The disk is full.
    Full {
        path: PathBuf,
    },
    /// The id is known with another kind, scope or request.
    Conflict {
        id: i64,
        kind: Kind,
        key: String,
        why: String,
    },
    /// The state change is not allowed from the entry's state.
    InvalidTransition {
        id: i64,
        from: State,
        to: &'static str,
    },
    NotFound(i64),
    /// A bad argument (empty key, request not JSON).
    InvalidInput(String),
    /// Any other SQLite error.
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
}

const MOVE_ASIDE: &str = "stop every program using it, move the file (and its -wal and -shm \
files) aside, e.g. rename it to *.damaged, keep it for support, and start again: a new journal \
is created. Operations the old file knew are not reconciled automatically then: check the \
devices' and terminals' last transactions (okc journal show/export may still read parts of it)";

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalError::Io { path, source } => write!(
                f,
                "journal {}: {source}. Create the folder or choose another file \
                 (OKC_JOURNAL / config key \"journal\")",
                path.display()
            ),
            JournalError::CannotOpen { path, detail } => write!(
                f,
                "journal {}: cannot open or create it ({detail}). Check that the folder exists \
                 and is writable, or choose another file (OKC_JOURNAL / config key \"journal\")",
                path.display()
            ),
            JournalError::ReadOnly { path, detail } => write!(
                f,
                "journal {}: read-only ({detail}). The file and its folder must be writable by \
                 this program (it creates -wal and -shm files beside it); fix the permissions \
                 or choose another file (OKC_JOURNAL / config key \"journal\")",
                path.display()
            ),
            JournalError::Locked { path } => write!(
                f,
                "journal {}: locked by another program for longer than the busy timeout. \
                 Close the other program using this journal (another POS instance?) or give \
                 each instance its own file (OKC_JOURNAL)",
                path.display()
            ),
            JournalError::Corrupt { path, detail } => write!(
                f,
                "journal {}: not a journal database or damaged ({detail}). Nothing was written \
                 to it. To continue: {MOVE_ASIDE}",
                path.display()
            ),
            JournalError::Foreign { path } => write!(
                f,
                "journal {}: a SQLite file that is not an okclink journal; nothing was written \
                 to it. Choose another file (OKC_JOURNAL / config key \"journal\")",
                path.display()
            ),
            JournalError::TooNew {
                path,
                found,
                supported,
            } => write!(
                f,
                "journal {}: written by a newer okclink (schema {found}, this one knows up to \
                 {supported}); nothing was changed. Use that newer okclink, or to go back: \
                 {MOVE_ASIDE}",
                path.display()
            ),
            JournalError::TooOld {
                path,
                found,
                supported,
            } => write!(
                f,
                "journal {}: schema {found}, this okclink reads {supported}. Open it once with \
                 the POS (okclink migrates a journal when it opens it for writing) to bring \
                 it up to date",
                path.display()
            ),
            JournalError::Full { path } => write!(
                f,
                "journal {}: the disk is full. Free space (okc journal prune, old logs) before \
                 selling: no operation is sent without its journal entry",
                path.display()
            ),
            JournalError::Conflict { id, kind, key, why } => write!(
                f,
                "id {key:?} is already journalled as {kind} entry {id} with {why}: a caller id \
                 names one operation; use a new id for a new operation"
            ),
            JournalError::InvalidTransition { id, from, to } => {
                write!(f, "journal entry {id}: cannot go from {from} to {to}")
            }
            JournalError::NotFound(id) => write!(f, "journal entry {id} does not exist"),
            JournalError::InvalidInput(m) => write!(f, "journal: {m}"),
            JournalError::Sqlite { path, source } => {
                write!(f, "journal {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for JournalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JournalError::Io { source, .. } => Some(source),
            JournalError::Sqlite { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A SQLite error with the journal's path, typed by what the user can do about it.
fn classify(path: &Path, e: rusqlite::Error) -> JournalError {
    let path = path.to_path_buf();
    let detail = e.to_string();
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => JournalError::Locked { path },
        Some(ErrorCode::ReadOnly) => JournalError::ReadOnly { path, detail },
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            JournalError::Corrupt { path, detail }
        }
        Some(ErrorCode::CannotOpen) => JournalError::CannotOpen { path, detail },
        Some(ErrorCode::DiskFull) => JournalError::Full { path },
        _ => JournalError::Sqlite { path, source: e },
    }
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

/// RFC 3339 in UTC with milliseconds: `2025-01-31T12:00:00.000Z`.
pub fn format_time(ms: Millis) -> String {
    match chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms) {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        None => ms.to_string(),
    }
}

/// `YYYY-MM-DD` (midnight UTC) or RFC 3339 → milliseconds since the epoch.
pub fn parse_time(s: &str) -> Result<Millis, String> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    let d = s.split('-').collect::<Vec<_>>();
    if let [y, m, d] = d[..] {
        if let (Ok(y), Ok(m), Ok(d)) = (y.parse::<i32>(), m.parse::<u32>(), d.parse::<u32>()) {
            if let Some(t) = chrono::NaiveDate::from_ymd_opt(y, m, d)
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc().timestamp_millis())
            {
                return Ok(t);
            }
        }
    }
    Err(format!(
        "time {s:?}: expected YYYY-MM-DD or RFC 3339 (2025-01-31T12:00:00Z)"
    ))
}

const COLS: &str = "id, kind, key, scope, request, state, outcome, result, reason, attempts, \
    created_at, sent_at, answered_at, in_doubt_at, ended_at, delivered_at, confirmed_at, \
    updated_at";

fn text_err(i: usize, m: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, m.into())
}

fn entry_of(r: &Row<'_>) -> rusqlite::Result<Entry> {
    let kind: String = r.get(1)?;
    let state: String = r.get(5)?;
    let outcome: Option<String> = r.get(6)?;
    Ok(Entry {
        id: r.get(0)?,
        kind: kind.parse().map_err(|m| text_err(1, m))?,
        key: r.get(2)?,
        scope: r.get(3)?,
        request: r.get(4)?,
        state: state.parse().map_err(|m| text_err(5, m))?,
        outcome: outcome
            .map(|o| o.parse())
            .transpose()
            .map_err(|m| text_err(6, m))?,
        result: r.get(7)?,
        reason: r.get(8)?,
        attempts: r.get::<_, i64>(9)?.max(0) as u32,
        created_at: r.get(10)?,
        sent_at: r.get(11)?,
        answered_at: r.get(12)?,
        in_doubt_at: r.get(13)?,
        ended_at: r.get(14)?,
        delivered_at: r.get(15)?,
        confirmed_at: r.get(16)?,
        updated_at: r.get(17)?,
    })
}

fn check_json(what: &str, s: &str) -> Result<(), JournalError> {
    serde_json::from_str::<serde_json::Value>(s)
        .map(|_| ())
        .map_err(|e| JournalError::InvalidInput(format!("{what} is not JSON: {e}")))
}

fn same_json(a: &str, b: &str) -> bool {
    a == b
        || matches!(
            (
                serde_json::from_str::<serde_json::Value>(a),
                serde_json::from_str::<serde_json::Value>(b),
            ),
            (Ok(x), Ok(y)) if x == y
        )
}

/// The journal file, open. See the module documentation.
pub struct Journal {
    path: PathBuf,
    conn: Mutex<Connection>,
    read_only: bool,
}

impl fmt::Debug for Journal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.path)
            .field("read_only", &self.read_only)
            .finish()
    }
}

/// `company` as a file name part: letters, digits, `.`, `-`, `_`; anything else `_`.
fn file_part(company: &str) -> String {
    let s: String = company
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_start_matches('.').to_string();
    if s.is_empty() {
        "default".into()
    } else {
        s
    }
}

impl Journal {
    /// The default file: `LOG_DIR/okclink-journal-COMPANY.sqlite`, beside the logs, one per
    /// company name (the name made file-safe).
    pub fn default_path(log_dir: &Path, company: &str) -> PathBuf {
        log_dir.join(format!("okclink-journal-{}.sqlite", file_part(company)))
    }

    /// Opens (creating folder and file when missing) and migrates the journal at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Journal, JournalError> {
        Journal::open_with(path, &OpenOptions::default())
    }

    /// [`Journal::open`] with options. Checks, in this order: folder, file, write access,
    /// WAL, `PRAGMA quick_check` (files up to [`FULL_CHECK_MAX_BYTES`]), schema version (a newer one is refused untouched), then
    /// migrates in one transaction.
    pub fn open_with(path: impl AsRef<Path>, opts: &OpenOptions) -> Result<Journal, JournalError> {
        let path = path.as_ref().to_path_buf();
        let err = |e| classify(&path, e);
        let flags = if opts.read_only {
            if !path.is_file() {
                return Err(JournalError::CannotOpen {
                    path,
                    detail: "no such file".into(),
                });
            }
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
        } else {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| JournalError::Io {
                    path: dir.to_path_buf(),
                    source,
                })?;
            }
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
        };
        let mut conn = Connection::open_with_flags(&path, flags).map_err(err)?;
        conn.busy_timeout(opts.busy_timeout).map_err(err)?;
        if !opts.read_only && conn.is_readonly("main").map_err(err)? {
            return Err(JournalError::ReadOnly {
                path,
                detail: "the file cannot be written".into(),
            });
        }
        // The first statement reads the header: a file that is not a database fails here.
        let mode: String = if opts.read_only {
            conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))
        } else {
            conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        }
        .map_err(err)?;
        if !opts.read_only && !mode.eq_ignore_ascii_case("wal") {
            return Err(JournalError::CannotOpen {
                path,
                detail: format!("write-ahead logging unavailable (journal_mode {mode})"),
            });
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(err)?;
        // The whole-file check reads every page: at open only while the file is small (a
        // shop's months); a larger one is checked by `verify` (`okc journal verify`), and
        // SQLite reports a damaged page as corrupt whenever it reads one.
        let small = std::fs::metadata(&path).map_or(true, |m| m.len() <= FULL_CHECK_MAX_BYTES);
        let problems = if small {
            quick_check(&conn).map_err(err)?
        } else {
            Vec::new()
        };
        if !problems.is_empty() {
            return Err(JournalError::Corrupt {
                path,
                detail: problems.join("; "),
            });
        }
        if opts.read_only {
            match schema::version(&conn).map_err(err)? {
                None => return Err(JournalError::Foreign { path }),
                Some(v) if v > schema::CURRENT => {
                    return Err(JournalError::TooNew {
                        path,
                        found: v,
                        supported: schema::CURRENT,
                    })
                }
                Some(v) if v < schema::CURRENT => {
                    return Err(JournalError::TooOld {
                        path,
                        found: v,
                        supported: schema::CURRENT,
                    })
                }
                Some(_) => {}
            }
        } else {
            match schema::migrate(&mut conn, now_ms()).map_err(err)? {
                schema::Found::Ready { .. } => {}
                schema::Found::Foreign => return Err(JournalError::Foreign { path }),
                schema::Found::TooNew(found) => {
                    return Err(JournalError::TooNew {
                        path,
                        found,
                        supported: schema::CURRENT,
                    })
                }
            }
        }
        Ok(Journal {
            path,
            conn: Mutex::new(conn),
            read_only: opts.read_only,
        })
    }

    /// The process's one `Journal` for `path`: fronts of one process (a fiscal `Hub` and a
    /// payment `Terminal`, two hubs of one company) share the connection instead of
    /// competing for the file's write lock. Opened with the default options when no front
    /// holds it; the path is compared as given and, when the file exists, canonicalised.
    pub fn shared(path: impl AsRef<Path>) -> Result<std::sync::Arc<Journal>, JournalError> {
        use std::collections::HashMap;
        use std::sync::{Arc, OnceLock, Weak};
        static OPEN: OnceLock<Mutex<HashMap<PathBuf, Weak<Journal>>>> = OnceLock::new();
        let path = path.as_ref();
        let key = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let mut map = OPEN.get_or_init(Default::default).lock();
        map.retain(|_, w| w.strong_count() > 0);
        if let Some(j) = map.get(&key(path)).and_then(Weak::upgrade) {
            return Ok(j);
        }
        let j = Arc::new(Journal::open(path)?);
        map.insert(key(path), Arc::downgrade(&j));
        Ok(j)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's schema version (after `open`: [`schema::CURRENT`]).
    pub fn schema_version(&self) -> Result<u32, JournalError> {
        let c = self.conn.lock();
        Ok(schema::version(&c).map_err(|e| self.err(e))?.unwrap_or(0))
    }

    fn err(&self, e: rusqlite::Error) -> JournalError {
        classify(&self.path, e)
    }

    /// Write-ahead record and idempotency decision in one transaction: a new `key` (in the
    /// kind's family) is recorded and `New(id)` returned — send it, then [`Journal::mark_sent`].
    /// A known key returns `Known(entry)` — do not send, use its state and result — unless it
    /// was not sent or failed, which records it again (same id, `New`). A known key with
    /// another kind, scope or request is a [`JournalError::Conflict`].
    pub fn begin(
        &self,
        kind: Kind,
        key: &str,
        scope: &str,
        request: &str,
    ) -> Result<Begin, JournalError> {
        check_key(key)?;
        check_json("the request", request)?;
        let mut c = self.conn.lock();
        let tx = c
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let known = tx
            .query_row(
                &format!("SELECT {COLS} FROM entries WHERE family = ?1 AND key = ?2"),
                params![kind.family(), key],
                entry_of,
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let now = now_ms();
        let id = match known {
            Some(e) if matches!(e.state, State::NotSent | State::Failed) => {
                tx.execute(
                    "UPDATE entries SET kind = ?2, scope = ?3, request = ?4, state = 'recorded', \
                     outcome = NULL, result = NULL, reason = NULL, sent_at = NULL, \
                     answered_at = NULL, in_doubt_at = NULL, ended_at = NULL, \
                     delivered_at = NULL, confirmed_at = NULL, updated_at = ?5 WHERE id = ?1",
                    params![e.id, kind.as_str(), scope, request, now],
                )
                .map_err(|e| self.err(e))?;
                let note = format!(
                    "begun again after {}: {}",
                    e.state,
                    e.reason.or(e.result).unwrap_or_default()
                );
                history(&tx, e.id, now, "recorded", Some(&note)).map_err(|e| self.err(e))?;
                e.id
            }
            Some(e) => {
                let why = if e.kind != kind {
                    Some(format!("kind {}", e.kind))
                } else if e.scope != scope {
                    Some(format!("scope {:?}", e.scope))
                } else if !same_json(&e.request, request) {
                    Some("another request".to_string())
                } else {
                    None
                };
                return match why {
                    Some(why) => Err(JournalError::Conflict {
                        id: e.id,
                        kind: e.kind,
                        key: key.to_string(),
                        why,
                    }),
                    None => Ok(Begin::Known(Box::new(e))),
                };
            }
            None => {
                tx.execute(
                    "INSERT INTO entries (family, kind, key, scope, request, state, attempts, \
                     created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, 'recorded', 0, ?6, ?6)",
                    params![kind.family(), kind.as_str(), key, scope, request, now],
                )
                .map_err(|e| self.err(e))?;
                let id = tx.last_insert_rowid();
                history(&tx, id, now, "recorded", None).map_err(|e| self.err(e))?;
                id
            }
        };
        tx.commit().map_err(|e| self.err(e))?;
        Ok(Begin::New(id))
    }

    /// A result that arrives by itself (a sale info from a device or cloud), in **one**
    /// transaction: the entry (`kind`, `key`) is recorded answered with it (a known
    /// unfinished one gets the result; a known answered one is left as it is), and the
    /// unfinished entry of kind `settles` with the same key and scope (the basket the sale
    /// info is for) gets the same result. A known key of another kind in the family or
    /// another scope is a [`JournalError::Conflict`].
    pub fn record_arrival(
        &self,
        kind: Kind,
        key: &str,
        scope: &str,
        result_json: &str,
        outcome: Outcome,
        settles: Option<Kind>,
    ) -> Result<Arrival, JournalError> {
        check_key(key)?;
        check_json("the result", result_json)?;
        let mut c = self.conn.lock();
        let tx = c
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let get = |tx: &rusqlite::Transaction, k: Kind| {
            tx.query_row(
                &format!("SELECT {COLS} FROM entries WHERE family = ?1 AND key = ?2"),
                params![k.family(), key],
                entry_of,
            )
            .optional()
        };
        let known = get(&tx, kind).map_err(|e| self.err(e))?;
        let now = now_ms();
        let (event, state_set) = result_change(outcome);
        let set_result = |tx: &rusqlite::Transaction, id: i64| -> rusqlite::Result<()> {
            tx.execute(
                &format!("UPDATE entries SET {state_set}, updated_at = ?2 WHERE id = ?1"),
                params![id, now, result_json, outcome.as_str()],
            )?;
            history(tx, id, now, event, Some(outcome.as_str()))
        };
        let arrival = match known {
            Some(e) if e.kind != kind || e.scope != scope => {
                return Err(JournalError::Conflict {
                    id: e.id,
                    kind: e.kind,
                    key: key.to_string(),
                    why: if e.kind != kind {
                        format!("kind {}", e.kind)
                    } else {
                        format!("scope {:?}", e.scope)
                    },
                });
            }
            Some(e) => {
                if e.state.is_unfinished() {
                    set_result(&tx, e.id).map_err(|e| self.err(e))?;
                }
                Arrival {
                    id: e.id,
                    new: e.state.is_unfinished(),
                    confirmed: e.confirmed(),
                }
            }
            None => {
                tx.execute(
                    "INSERT INTO entries (family, kind, key, scope, request, state, attempts, \
                     created_at, updated_at) VALUES (?1, ?2, ?3, ?4, '{}', 'recorded', 0, ?5, ?5)",
                    params![kind.family(), kind.as_str(), key, scope, now],
                )
                .map_err(|e| self.err(e))?;
                let id = tx.last_insert_rowid();
                history(&tx, id, now, "recorded", None).map_err(|e| self.err(e))?;
                set_result(&tx, id).map_err(|e| self.err(e))?;
                Arrival {
                    id,
                    new: true,
                    confirmed: false,
                }
            }
        };
        if let Some(k) = settles {
            if let Some(b) = get(&tx, k).map_err(|e| self.err(e))? {
                if b.kind == k && b.scope == scope && b.state.is_unfinished() {
                    if b.state == State::Recorded {
                        // Its answer came before the sender wrote `sent` (a fast device):
                        // the answer proves it was handed over — one attempt.
                        tx.execute(
                            "UPDATE entries SET state = 'sent', sent_at = ?2, \
                             attempts = attempts + 1, updated_at = ?2 WHERE id = ?1",
                            params![b.id, now],
                        )
                        .map_err(|e| self.err(e))?;
                        history(&tx, b.id, now, "sent", Some("answered before marked sent"))
                            .map_err(|e| self.err(e))?;
                    }
                    set_result(&tx, b.id).map_err(|e| self.err(e))?;
                }
            }
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(arrival)
    }

    /// One state change in one transaction: check the state, apply `set` (an `UPDATE … SET`
    /// list with `?1` = id, `?2` = now, `?3` / `?4` = `a` / `b`), add the history row.
    fn change(
        &self,
        id: i64,
        event: &'static str,
        allowed: &[State],
        set: &str,
        [a, b]: [Option<&str>; 2],
        note: Option<&str>,
    ) -> Result<(), JournalError> {
        let mut c = self.conn.lock();
        let tx = c
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let state: Option<String> = tx
            .query_row("SELECT state FROM entries WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))?;
        let state = state.ok_or(JournalError::NotFound(id))?;
        let from = state
            .parse::<State>()
            .map_err(|m| self.err(text_err(0, m)))?;
        if !allowed.contains(&from) {
            return Err(JournalError::InvalidTransition {
                id,
                from,
                to: event,
            });
        }
        let now = now_ms();
        {
            let mut st = tx
                .prepare(&format!(
                    "UPDATE entries SET {set}, updated_at = ?2 WHERE id = ?1"
                ))
                .map_err(|e| self.err(e))?;
            let all: [&dyn rusqlite::ToSql; 4] = [&id, &now, &a, &b];
            let n = st.parameter_count();
            st.execute(&all[..n]).map_err(|e| self.err(e))?;
        }
        history(&tx, id, now, event, note).map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))
    }

    /// Handed to the link / HTTP client (from recorded). Counts an attempt.
    pub fn mark_sent(&self, id: i64) -> Result<(), JournalError> {
        self.change(
            id,
            "sent",
            &[State::Recorded],
            "state = 'sent', sent_at = ?2, attempts = attempts + 1",
            [None, None],
            None,
        )
    }

    /// The device / cloud / terminal answered (from recorded, sent or in doubt): `Success` or
    /// `Declined` → answered (final); `Failed` → failed (may be begun again).
    pub fn record_result(
        &self,
        id: i64,
        result_json: &str,
        outcome: Outcome,
    ) -> Result<(), JournalError> {
        check_json("the result", result_json)?;
        let (event, set) = result_change(outcome);
        self.change(
            id,
            event,
            &[State::Recorded, State::Sent, State::InDoubt],
            set,
            [Some(result_json), Some(outcome.as_str())],
            Some(outcome.as_str()),
        )
    }

    /// The answer is lost (timeout, link loss, found unfinished after a restart): reconcile
    /// before anything else. From recorded, sent or in doubt (a later reason replaces the
    /// earlier; the history keeps both).
    pub fn mark_in_doubt(&self, id: i64, why: &str) -> Result<(), JournalError> {
        self.change(
            id,
            "in_doubt",
            &[State::Recorded, State::Sent, State::InDoubt],
            "state = 'in_doubt', in_doubt_at = ?2, reason = ?3",
            [Some(why), None],
            Some(why),
        )
    }

    /// Known not to have arrived: it never left (recorded), or the device / cloud / terminal
    /// said it does not know it (sent, in doubt). Only then may the same id be begun again.
    pub fn mark_not_sent(&self, id: i64, why: &str) -> Result<(), JournalError> {
        self.change(
            id,
            "not_sent",
            &[State::Recorded, State::Sent, State::InDoubt],
            "state = 'not_sent', ended_at = ?2, reason = ?3",
            [Some(why), None],
            Some(why),
        )
    }

    /// The result was handed to the application (a callback ran, a call returned). May be
    /// called again (a delivery after a restart): the time is the latest.
    pub fn mark_delivered(&self, id: i64) -> Result<(), JournalError> {
        self.change(
            id,
            "delivered",
            &[State::Answered, State::Failed],
            "delivered_at = ?2",
            [None, None],
            None,
        )
    }

    /// The application confirmed it has the result: it is not delivered again. Idempotent:
    /// confirming a confirmed entry changes nothing (no second history row).
    pub fn confirm(&self, id: i64) -> Result<(), JournalError> {
        if self.get_id(id)?.is_some_and(|e| e.confirmed()) {
            return Ok(());
        }
        self.change(
            id,
            "confirmed",
            &[State::Answered, State::Failed],
            "confirmed_at = coalesce(confirmed_at, ?2), delivered_at = coalesce(delivered_at, ?2)",
            [None, None],
            None,
        )
    }

    fn query(&self, sql: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Vec<Entry>, JournalError> {
        let c = self.conn.lock();
        let mut st = c.prepare_cached(sql).map_err(|e| self.err(e))?;
        let rows = st.query_map(args, entry_of).map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// The entry of `key` in `kind`'s family.
    pub fn get(&self, kind: Kind, key: &str) -> Result<Option<Entry>, JournalError> {
        Ok(self
            .query(
                &format!("SELECT {COLS} FROM entries WHERE family = ?1 AND key = ?2"),
                &[&kind.family(), &key],
            )?
            .pop())
    }

    pub fn get_id(&self, id: i64) -> Result<Option<Entry>, JournalError> {
        Ok(self
            .query(&format!("SELECT {COLS} FROM entries WHERE id = ?1"), &[&id])?
            .pop())
    }

    /// Every entry with this key, any family.
    pub fn find_key(&self, key: &str) -> Result<Vec<Entry>, JournalError> {
        self.query(
            &format!("SELECT {COLS} FROM entries WHERE key = ?1 ORDER BY id"),
            &[&key],
        )
    }

    /// Recorded, sent or in doubt, oldest first: to reconcile at start.
    pub fn unfinished(&self) -> Result<Vec<Entry>, JournalError> {
        self.query(
            &format!(
                "SELECT {COLS} FROM entries WHERE state IN ('recorded', 'sent', 'in_doubt') \
                 ORDER BY id"
            ),
            &[],
        )
    }

    /// Answered, not confirmed, oldest first: to deliver (again).
    pub fn undelivered(&self) -> Result<Vec<Entry>, JournalError> {
        self.query(
            &format!(
                "SELECT {COLS} FROM entries WHERE state = 'answered' AND confirmed_at IS NULL \
                 ORDER BY id"
            ),
            &[],
        )
    }

    /// Entries matching `f`, oldest first.
    pub fn list(&self, f: &Filter) -> Result<Vec<Entry>, JournalError> {
        let kind = f.kind.map(Kind::as_str);
        let state = f.state.map(State::as_str);
        let limit = f
            .limit
            .map(|l| l.min(i64::MAX as usize) as i64)
            .unwrap_or(-1);
        self.query(
            &format!(
                "SELECT * FROM (SELECT {COLS} FROM entries WHERE (?1 IS NULL OR kind = ?1) \
                 AND (?2 IS NULL OR state = ?2) AND (?3 IS NULL OR scope = ?3) \
                 AND (?4 IS NULL OR created_at >= ?4) ORDER BY id DESC LIMIT ?5) ORDER BY id"
            ),
            &[&kind, &state, &f.scope, &f.since, &limit],
        )
    }

    /// The state changes of entry `id`, oldest first.
    pub fn history(&self, id: i64) -> Result<Vec<HistoryRow>, JournalError> {
        let c = self.conn.lock();
        let mut st = c
            .prepare_cached("SELECT at, event, note FROM history WHERE entry_id = ?1 ORDER BY id")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([id], |r| {
                Ok(HistoryRow {
                    at: r.get(0)?,
                    event: r.get(1)?,
                    note: r.get(2)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Removes finished entries (answered and confirmed, not sent, failed) last changed
    /// before `now - retention`; never an unfinished or unconfirmed one. Returns how many.
    pub fn prune(&self, retention: Duration) -> Result<usize, JournalError> {
        let cutoff = now_ms().saturating_sub(retention.as_millis().min(i64::MAX as u128) as i64);
        self.prune_before(cutoff)
    }

    /// [`Journal::prune`] with the cut-off time given.
    pub fn prune_before(&self, cutoff: Millis) -> Result<usize, JournalError> {
        let mut c = self.conn.lock();
        let tx = c
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let n = tx
            .execute(
                "DELETE FROM entries WHERE updated_at < ?1 AND (state IN ('not_sent', 'failed') \
                 OR (state = 'answered' AND confirmed_at IS NOT NULL))",
                [cutoff],
            )
            .map_err(|e| self.err(e))?;
        events::prune_before(&tx, cutoff).map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(n)
    }

    /// Writes the entries created at or after `since` (all with `None`), oldest first.
    /// Returns how many.
    pub fn export(
        &self,
        since: Option<Millis>,
        format: Format,
        out: &mut dyn std::io::Write,
    ) -> Result<usize, JournalError> {
        let entries = self.list(&Filter {
            since,
            ..Filter::default()
        })?;
        export::write(&entries, format, out).map_err(|source| JournalError::Io {
            path: PathBuf::from("(export output)"),
            source,
        })?;
        Ok(entries.len())
    }

    /// Checks the file: SQLite's integrity check, the schema (version, tables, columns), every
    /// entry's state against its time stamps and JSON, and that every receipt has its basket.
    pub fn verify(&self) -> Result<Report, JournalError> {
        let c = self.conn.lock();
        export::verify(&c).map_err(|e| self.err(e))
    }
}

fn history(
    tx: &Connection,
    id: i64,
    at: Millis,
    event: &str,
    note: Option<&str>,
) -> rusqlite::Result<()> {
    tx.prepare_cached("INSERT INTO history (entry_id, at, event, note) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![id, at, event, note])
        .map(|_| ())
}

/// A caller's id: 1 to [`MAX_KEY_LEN`] bytes.
fn check_key(key: &str) -> Result<(), JournalError> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(JournalError::InvalidInput(format!(
            "the caller's id must have 1 to {MAX_KEY_LEN} bytes (got {})",
            key.len()
        )));
    }
    Ok(())
}

/// A result's history event and `UPDATE … SET` list (`?2` now, `?3` the result, `?4` the
/// outcome): `Failed` ends the entry (it may be begun again), the others answer it.
fn result_change(outcome: Outcome) -> (&'static str, &'static str) {
    match outcome {
        Outcome::Failed => (
            "failed",
            "state = 'failed', result = ?3, outcome = ?4, answered_at = ?2, ended_at = ?2",
        ),
        _ => (
            "answered",
            "state = 'answered', result = ?3, outcome = ?4, answered_at = ?2",
        ),
    }
}

/// `PRAGMA quick_check`: empty when fine, else SQLite's findings.
fn quick_check(c: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare("PRAGMA quick_check")?;
    let rows = st.query_map([], |r| r.get::<_, String>(0))?;
    let v = rows.collect::<Result<Vec<_>, _>>()?;
    Ok(if v.len() == 1 && v[0] == "ok" {
        vec![]
    } else {
        v
    })
}

#[cfg(test)]
mod tests;
