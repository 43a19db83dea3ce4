//! The fiscal front's use of the journal (docs/JOURNAL.md § The fiscal front): every basket
//! with a `basketID` is recorded before it leaves, every sale info before it is acknowledged
//! to the device and before the callback, and a sale info counts as delivered once the
//! serialIn callback ran. Every back end (wired, TokenX cloud) gets this for free: it lives
//! in the front ([`super::Hub`]) and the dispatcher.
//!
//! | when | journal |
//! |---|---|
//! | `sendBasket` with a new `basketID` | `begin(basket)` → send → `sent` (accepted) / `not_sent` (no device, refused before the link) / `in_doubt` (300TR ACK timeout, cloud timeout) |
//! | `sendBasket` with a known `basketID`, answered | nothing is sent: `Accepted`, and the recorded sale info is delivered again unless the application confirmed it |
//! | `sendBasket` with a known `basketID`, unfinished | nothing is sent: [`HubError::InDoubt`] |
//! | a sale info arrives | `begin(receipt)` + result, the basket's result — committed before the device's "OK" is queued; the callback is queued as soon as the transaction is written, so it runs while the commit's fsync does |
//! | the callback returned | once the commit is known to have succeeded ([`CommitGate`]): `delivered` (+ `confirmed` in [`ConfirmMode::Callback`]) |
//! | start | unfinished baskets are asked about (cloud) or marked in doubt (wired: the device re-sends an unacknowledged sale info) |

use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use super::log::Logger;
use super::supervise::crash_point;
use super::{basket_id_of, HubError, Reconciled, SendOutcome};
use crate::config::{Config, ConfirmMode, LogLevel, TransportSpec};
use crate::journal::{Begin, Entry, Journal, JournalError, Kind, Outcome, State};

const COMPONENT: &str = "Journal";

/// What the front does with a basket.
pub(crate) enum BasketStart {
    /// Not journalled (it has no `basketID`): send it as before.
    Untracked,
    /// Recorded: send it, then [`FiscalJournal::after_send`].
    New(i64),
    /// Known and answered: not sent again. The recorded sale info (receipt entry id and
    /// JSON) when the device or cloud delivered one, and whether the application confirmed it.
    Answered {
        receipt: Option<(i64, String)>,
        confirmed: bool,
    },
}

/// Whether the record of a sale info committed. Its callback is queued before the commit
/// (the callback runs while the commit's fsync does: the sale info reaches the application
/// one fsync sooner); the confirmation that follows the callback waits here, so it is never
/// written for a record that did not commit (and whose entry id SQLite may give to the next
/// one). The device's "OK" still waits for the commit itself. A crash before the commit
/// leaves the sale info unacknowledged: the device (or cloud) sends it again and it is
/// delivered again — at least once.
#[derive(Default)]
pub(crate) struct CommitGate {
    done: Mutex<Option<bool>>,
    cond: Condvar,
}

impl CommitGate {
    fn set(&self, committed: bool) {
        *self.done.lock() = Some(committed);
        self.cond.notify_all();
    }

    /// Blocks until the commit ended; whether it succeeded.
    pub(crate) fn wait(&self) -> bool {
        let mut d = self.done.lock();
        loop {
            if let Some(ok) = *d {
                return ok;
            }
            self.cond.wait(&mut d);
        }
    }
}

/// Opens the gate as "not committed" when dropped before it was set.
struct GateGuard<'a>(&'a CommitGate);

impl Drop for GateGuard<'_> {
    fn drop(&mut self) {
        let unset = self.0.done.lock().is_none();
        if unset {
            self.0.set(false);
        }
    }
}

/// What [`FiscalJournal::record_sale`] did with a sale info.
pub(crate) enum SaleRecord {
    /// Recorded; its delivery was queued (by the caller's `queue`) before the commit.
    Queued,
    /// The application confirmed it already: not delivered.
    Confirmed,
    /// Not recorded (the journal failed): deliver it anyway, without an entry — losing it
    /// would be worse.
    Unrecorded,
}

pub(crate) struct FiscalJournal {
    /// The basket last handed to a wired device: its type-1 reply (a refusal text, or the
    /// 300TR's `{"basketID":…,"status":0}`) is about it.
    in_flight: parking_lot::Mutex<Option<(i64, String)>>,
    j: Arc<Journal>,
    scope: String,
    confirm: ConfirmMode,
    log: Arc<Logger>,
}

fn journal_error(e: JournalError) -> HubError {
    HubError::Journal(e.to_string())
}

/// Where a configuration's baskets go, as the journal's scope: one name for every wired
/// link (a basket's receipt may come back over another cable or after a reconnect), the
/// cloud terminal or branch for TokenX.
fn scope_of(config: &Config) -> String {
    for t in &config.transports {
        if let TransportSpec::Tokenx(t) = t {
            return match (&t.terminal_id, &t.branch_id) {
                (Some(id), _) => format!("tokenx:terminal:{id}"),
                (None, Some(b)) => format!("tokenx:branch:{b}"),
                (None, None) => "tokenx".into(),
            };
        }
    }
    "wired".into()
}

/// The journal key of a sale info: its `basketID`, or (a sale started on the device itself)
/// a digest of its text, so a re-sent one is still recognised.
fn sale_key(value: &str) -> String {
    match basket_id_of(value) {
        Some(id) if id.len() <= crate::journal::MAX_KEY_LEN => id,
        _ => {
            use sha2::{Digest, Sha256};
            let d = Sha256::digest(value.as_bytes());
            let hex: String = d[..12].iter().map(|b| format!("{b:02x}")).collect();
            format!("device-receipt:{hex}")
        }
    }
}

/// A sale info's outcome: `status` 0 (or none) is a sale; anything else (cancelled, voided)
/// is a negative answer that still is the result.
fn sale_outcome(value: &str) -> Outcome {
    let status = serde_json::from_str::<serde_json::Value>(value)
        .ok()
        .and_then(|v| v.get("status").and_then(serde_json::Value::as_i64));
    match status {
        None | Some(0) => Outcome::Success,
        Some(_) => Outcome::Declined,
    }
}

impl FiscalJournal {
    /// The journal the configuration asks for (None: none configured). An error names the
    /// file and what to do (docs/JOURNAL.md § Errors).
    pub(crate) fn open(
        config: &Config,
        log: Arc<Logger>,
    ) -> Result<Option<FiscalJournal>, HubError> {
        let Some(path) = config.journal_path() else {
            return Ok(None);
        };
        let j = Journal::shared(&path).map_err(journal_error)?;
        let pruned = match j.prune(config.journal_retention) {
            Ok(n) => format!("{n} finished entries older than the retention pruned"),
            Err(e) => format!("not pruned: {e}"),
        };
        log.log(
            LogLevel::Info,
            COMPONENT,
            &format!("journal {} ({pruned})", path.display()),
        );
        Ok(Some(FiscalJournal {
            in_flight: parking_lot::Mutex::new(None),
            j,
            scope: scope_of(config),
            confirm: config.confirm,
            log,
        }))
    }

    fn warn(&self, msg: &str) {
        self.log.log(LogLevel::Warn, COMPONENT, msg);
    }

    /// Before a basket leaves: record it, or answer from the journal.
    pub(crate) fn begin_basket(&self, json: &str) -> Result<BasketStart, HubError> {
        let Some(key) = basket_id_of(json) else {
            return Ok(BasketStart::Untracked);
        };
        match self
            .j
            .begin(Kind::Basket, &key, &self.scope, json)
            .map_err(journal_error)?
        {
            Begin::New(id) => Ok(BasketStart::New(id)),
            Begin::Known(e) => self.known_basket(&e),
        }
    }

    fn known_basket(&self, e: &Entry) -> Result<BasketStart, HubError> {
        match e.state {
            State::Answered => {
                let receipt = self
                    .j
                    .get(Kind::Receipt, &e.key)
                    .map_err(journal_error)?
                    .filter(|r| r.result.is_some());
                let confirmed = receipt.as_ref().is_some_and(Entry::confirmed);
                let receipt = receipt.map(|r| (r.id, r.result.unwrap_or_default()));
                self.log.log(
                    LogLevel::Info,
                    COMPONENT,
                    &format!(
                        "basket {:?} is already answered (entry {}): not sent again",
                        e.key, e.id
                    ),
                );
                Ok(BasketStart::Answered { receipt, confirmed })
            }
            _ => {
                let why = e.reason.as_deref().unwrap_or("no answer yet");
                Err(HubError::InDoubt(format!(
                    "basket {:?} was {} at {} ({why}); it is not sent again — its sale \
                     info is delivered when the device or cloud reports it (okc journal show {})",
                    e.key,
                    e.state,
                    crate::journal::format_time(e.sent_at.unwrap_or(e.created_at)),
                    e.id
                )))
            }
        }
    }

    /// A recorded basket is about to be handed to the back end.
    pub(crate) fn sending(&self, id: i64, json: &str) {
        *self.in_flight.lock() = basket_id_of(json).map(|k| (id, k));
    }

    /// The device's reply to a basket (serialIn type 1). A refusal (a text: "a receipt is
    /// open", "send payments separately", a syntax error) means the basket had no effect:
    /// `failed`, so the application may correct it and send it again; `"OK"` or a status
    /// JSON with `status` 0 means it is on the device (its receipt follows).
    pub(crate) fn basket_reply(&self, reply: &str) {
        let Some((id, key)) = self.in_flight.lock().clone() else {
            return;
        };
        let t = reply.trim();
        let json = serde_json::from_str::<serde_json::Value>(t).ok();
        let accepted = t == "OK"
            || json.as_ref().is_some_and(|v| {
                v.get("status").and_then(serde_json::Value::as_i64) == Some(0)
                    && basket_id_of(t).map_or(true, |b| b == key)
            });
        if accepted {
            return;
        }
        if json.is_some() && basket_id_of(t).is_some_and(|b| b != key) {
            return; // about another basket
        }
        *self.in_flight.lock() = None;
        let result = serde_json::json!({ "refused": t }).to_string();
        match self.j.record_result(id, &result, Outcome::Failed) {
            Ok(()) => self.warn(&format!(
                "basket {key:?} refused by the device ({t}): may be sent again"
            )),
            Err(JournalError::InvalidTransition { .. }) => {}
            Err(e) => self.warn(&format!("basket {key:?}: {e}")),
        }
    }

    /// After the back end's answer to a recorded basket.
    pub(crate) fn after_send(&self, id: i64, r: &Result<SendOutcome, HubError>) {
        crash_point("basket.after_send");
        let res = match r {
            Ok(SendOutcome::Accepted) => self.j.mark_sent(id),
            Ok(SendOutcome::NoDevice) => self.j.mark_not_sent(id, "no active device"),
            Ok(SendOutcome::AckTimeout) => self
                .j
                .mark_in_doubt(id, "the 300TR did not acknowledge it in time"),
            Err(HubError::Timeout) => self.j.mark_in_doubt(id, "no answer in time"),
            Err(e) => self.j.mark_not_sent(id, &e.to_string()),
        };
        match res {
            // The sale info may have been recorded already (a fast device): nothing to do.
            Ok(()) | Err(JournalError::InvalidTransition { .. }) => {}
            Err(e) => self.warn(&format!("entry {id}: {e}")),
        }
        crash_point("basket.after_mark");
    }

    /// A sale info arrived (any back end): record it — and its basket's result — before it
    /// is acknowledged. Its delivery is handed to `queue` (entry id, gate) once the
    /// transaction is written and before its commit, unless the application confirmed it
    /// already (a device re-sending after a restart); the gate opens when the commit ended.
    /// Returns after the commit: the caller may acknowledge then.
    pub(crate) fn record_sale(
        &self,
        value: &str,
        queue: impl FnOnce(i64, Arc<CommitGate>),
    ) -> SaleRecord {
        crash_point("sale.before_record");
        let key = sale_key(value);
        let outcome = sale_outcome(value);
        let gate = Arc::new(CommitGate::default());
        // Opened even if this thread panics on the way (the dispatcher would wait forever).
        let _unwind = GateGuard(&gate);
        let mut queued = false;
        // The sale info and its basket's result in one transaction (one fsync).
        let r = self.j.record_arrival_with(
            Kind::Receipt,
            &key,
            &self.scope,
            value,
            outcome,
            Some(Kind::Basket),
            |a| {
                if !a.confirmed {
                    queued = true;
                    queue(a.id, gate.clone());
                }
            },
        );
        gate.set(r.is_ok());
        match r {
            Ok(a) if a.confirmed => {
                self.log.log(
                    LogLevel::Info,
                    COMPONENT,
                    &format!("sale info {key:?} again: confirmed already, not delivered"),
                );
                SaleRecord::Confirmed
            }
            Ok(_) => {
                crash_point("sale.after_record");
                SaleRecord::Queued
            }
            Err(e) => {
                self.warn(&format!("sale info {key:?} not recorded: {e}"));
                if queued {
                    // Its delivery is queued; the gate keeps it from being marked.
                    SaleRecord::Queued
                } else {
                    SaleRecord::Unrecorded
                }
            }
        }
    }

    /// The serialIn callback returned for this receipt entry.
    pub(crate) fn delivered(&self, id: i64) {
        crash_point("sale.after_callback");
        let r = match self.confirm {
            ConfirmMode::Callback => self.j.confirm(id),
            ConfirmMode::Explicit => self.j.mark_delivered(id),
        };
        if let Err(e) = r {
            self.warn(&format!("entry {id} delivered but not marked: {e}"));
        }
    }

    /// Sale infos of this scope answered but never confirmed (entry id, JSON), oldest first.
    pub(crate) fn undelivered(&self) -> Vec<(i64, String)> {
        match self.j.undelivered() {
            Ok(v) => v
                .into_iter()
                .filter(|e| e.kind == Kind::Receipt && e.scope == self.scope)
                .filter_map(|e| e.result.map(|r| (e.id, r)))
                .collect(),
            Err(e) => {
                self.warn(&format!("cannot list undelivered sale infos: {e}"));
                Vec::new()
            }
        }
    }

    /// The application confirms it has the sale info of `basket_id`.
    pub(crate) fn confirm(&self, basket_id: &str) -> Result<(), HubError> {
        let e = self
            .j
            .get(Kind::Receipt, basket_id)
            .map_err(journal_error)?
            .ok_or_else(|| HubError::NotFound(format!("no sale info for {basket_id:?}")))?;
        self.j.confirm(e.id).map_err(journal_error)
    }

    /// The recorded sale info of `basket_id`, if any.
    pub(crate) fn recorded_sale(&self, basket_id: &str) -> Option<String> {
        self.j
            .get(Kind::Receipt, basket_id)
            .ok()
            .flatten()
            .filter(|e| e.scope == self.scope)
            .and_then(|e| e.result)
    }

    /// Baskets of this scope left unfinished by an earlier process.
    pub(crate) fn unfinished_baskets(&self) -> Vec<Entry> {
        match self.j.unfinished() {
            Ok(v) => v
                .into_iter()
                .filter(|e| e.kind == Kind::Basket && e.scope == self.scope)
                .collect(),
            Err(e) => {
                self.warn(&format!("cannot list unfinished baskets: {e}"));
                Vec::new()
            }
        }
    }

    /// An unfinished basket whose sale info is recorded already (a process before the
    /// sale info and its basket were one transaction died between the two writes): settled
    /// from it, by the same write as a sale info that arrives. Whether it was.
    pub(crate) fn settle_from_receipt(&self, e: &Entry) -> bool {
        let Some(sale) = self.recorded_sale(&e.key) else {
            return false;
        };
        let outcome = sale_outcome(&sale);
        let r = self.j.record_arrival(
            Kind::Receipt,
            &e.key,
            &self.scope,
            &sale,
            outcome,
            Some(Kind::Basket),
        );
        if let Err(err) = r {
            self.warn(&format!("basket {:?}: {err}", e.key));
        }
        true
    }

    /// What reconciliation learnt about an unfinished basket. A `Finished` sale info is
    /// recorded by the caller through the normal sale-info path.
    pub(crate) fn reconciled(&self, e: &Entry, r: &Reconciled) {
        let res = match r {
            Reconciled::NotThere => self
                .j
                .mark_not_sent(e.id, "the cloud does not know it (asked after a restart)"),
            Reconciled::CannotAsk if e.state != State::InDoubt => self.j.mark_in_doubt(
                e.id,
                "found unfinished at start; the device re-sends its sale info if it printed it",
            ),
            Reconciled::Unreachable(why) => self.j.mark_in_doubt(
                e.id,
                &format!("found unfinished at start, asking failed: {why}"),
            ),
            Reconciled::Pending if e.state == State::Recorded => self.j.mark_sent(e.id),
            _ => Ok(()),
        };
        if let Err(err) = res {
            if !matches!(err, JournalError::InvalidTransition { .. }) {
                self.warn(&format!("entry {}: {err}", e.id));
            }
        }
        self.log.log(
            LogLevel::Info,
            COMPONENT,
            &format!("unfinished basket {:?} (entry {}): {r:?}", e.key, e.id),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sale_keys_and_outcomes() {
        assert_eq!(sale_key(r#"{"basketID":"b-1","status":0}"#), "b-1");
        let a = sale_key(r#"{"basketID":"","receiptNo":9}"#);
        assert!(a.starts_with("device-receipt:"), "{a}");
        assert_eq!(a, sale_key(r#"{"basketID":"","receiptNo":9}"#));
        assert_ne!(a, sale_key(r#"{"basketID":"","receiptNo":10}"#));
        assert_eq!(sale_outcome(r#"{"status":0}"#), Outcome::Success);
        assert_eq!(sale_outcome(r#"{"receiptNo":1}"#), Outcome::Success);
        assert_eq!(sale_outcome(r#"{"status":-1}"#), Outcome::Declined);
        assert_eq!(sale_outcome(r#"{"status":99}"#), Outcome::Declined);
    }

    #[test]
    fn a_sale_info_is_queued_before_its_commit_and_the_gate_opens_after_it() {
        let dir = std::env::temp_dir().join(format!("okc-fj-gate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("j.sqlite");
        let mut c = Config::new("gate");
        c.log_dir = None;
        c.journal = crate::config::JournalSetting::Path(path.clone());
        let fj = FiscalJournal::open(&c, Arc::new(Logger::new(None, LogLevel::Error)))
            .unwrap()
            .unwrap();
        let sale = r#"{"basketID":"G-1","status":0,"receiptNo":1}"#;
        let visible = |p: &std::path::Path| -> i64 {
            let o = rusqlite::Connection::open(p).unwrap();
            o.query_row(
                "SELECT count(*) FROM entries WHERE key = 'G-1' AND state = 'answered'",
                [],
                |r| r.get(0),
            )
            .unwrap()
        };
        let mut seen = None;
        let r = fj.record_sale(sale, |id, gate| {
            // Queued while the transaction is written but not committed: another
            // connection does not see it yet, and the gate is still closed.
            assert_eq!(visible(&path), 0);
            assert!(gate.done.lock().is_none());
            seen = Some((id, gate));
        });
        assert!(matches!(r, SaleRecord::Queued));
        let (id, gate) = seen.expect("queued");
        assert!(gate.wait(), "committed");
        assert_eq!(visible(&path), 1);
        // Confirmed: the device sending it again queues nothing.
        fj.j.confirm(id).unwrap();
        let again = fj.record_sale(sale, |_, _| panic!("a confirmed sale info queued"));
        assert!(matches!(again, SaleRecord::Confirmed));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn scopes() {
        let mut c = Config::new("x");
        assert_eq!(scope_of(&c), "wired");
        c.transports = vec!["tokenx+http://127.0.0.1:1/?terminal-id=AV1"
            .parse()
            .unwrap()];
        assert_eq!(scope_of(&c), "tokenx:terminal:AV1");
    }
}
