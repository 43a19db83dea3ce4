//! The payment front with the journal (cargo feature `journal`): write-ahead, idempotency
//! across restarts, the start-up recovery and the delivery until confirmed. The rules are in
//! docs/PAYMENTS.md § Journal.

use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use super::journal::{
    handle_of, request_json, result_from_json, with_handle, Pending, PendingState, Reconciled,
    Track, Unfinished,
};
use super::{PayError, PaymentBackend, PaymentRequest, PaymentResult, TxKind};
use crate::fiscal::supervise::crash_point;
use crate::journal::{Begin, Entry, Filter, Journal, JournalError, Kind, Outcome, State};

fn jkind(k: TxKind) -> Kind {
    match k {
        TxKind::Payment => Kind::Payment,
        TxKind::Refund => Kind::Refund,
        TxKind::Reversal => Kind::Reversal,
    }
}

fn txkind(k: Kind) -> Option<TxKind> {
    match k {
        Kind::Payment => Some(TxKind::Payment),
        Kind::Refund => Some(TxKind::Refund),
        Kind::Reversal => Some(TxKind::Reversal),
        _ => None,
    }
}

/// A journal error before anything was sent: nothing is sent without its entry.
fn before_send(e: JournalError) -> PayError {
    match e {
        JournalError::Conflict { .. } => PayError::InvalidInput(e.to_string()),
        e => PayError::Config(format!("nothing was sent: {e}")),
    }
}

fn unfinished_of(e: &Entry) -> Option<Unfinished> {
    let kind = txkind(e.kind)?;
    let req: serde_json::Value = serde_json::from_str(&e.request).unwrap_or_default();
    Some(Unfinished {
        kind,
        reference: e.key.clone(),
        amount: req.get("amount").and_then(|a| a.as_i64()).unwrap_or(0),
        currency: req
            .get("currency")
            .and_then(|c| c.as_str())
            .unwrap_or_default()
            .to_string(),
        handle: handle_of(e.reason.as_deref()),
        sent: e.state != State::Recorded,
    })
}

fn error_json(e: &PayError) -> String {
    serde_json::json!({"error": e.to_string()}).to_string()
}

/// The journal side of a [`super::Terminal`].
pub(super) struct JournalFront {
    journal: Arc<Journal>,
    scope: String,
    /// Set when the start-up recovery is over (calls wait for it).
    recovered: Arc<(Mutex<bool>, Condvar)>,
    /// Operations the start-up recovery found not sent, not yet offered.
    not_sent: Arc<Mutex<Vec<Pending>>>,
    busy: Arc<Mutex<Vec<String>>>,
}

impl JournalFront {
    /// Start the recovery of this scope's unfinished money entries in the background.
    pub(super) fn start(
        journal: Arc<Journal>,
        backend: Arc<dyn PaymentBackend>,
        busy: Arc<Mutex<Vec<String>>>,
    ) -> JournalFront {
        let scope = backend.scope();
        let f = JournalFront {
            journal,
            scope,
            recovered: Arc::new((Mutex::new(false), Condvar::new())),
            not_sent: Arc::new(Mutex::new(Vec::new())),
            busy,
        };
        let todo: Vec<Entry> = f
            .journal
            .unfinished()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.scope == f.scope && txkind(e.kind).is_some())
            .collect();
        if todo.is_empty() {
            *f.recovered.0.lock() = true;
            return f;
        }
        let (j, done, offered) = (f.journal.clone(), f.recovered.clone(), f.not_sent.clone());
        let spawned = std::thread::Builder::new()
            .name("okc-pay-recovery".into())
            .spawn(move || {
                for e in todo {
                    let _ = reconcile_entry(&j, &*backend, &e, &offered);
                }
                *done.0.lock() = true;
                done.1.notify_all();
            });
        if spawned.is_err() {
            // No thread: the entries stay unfinished; a call with their reference asks then.
            *f.recovered.0.lock() = true;
        }
        f
    }

    pub(super) fn path(&self) -> PathBuf {
        self.journal.path().to_path_buf()
    }

    /// Whether the start-up recovery is over (no wait).
    pub(super) fn is_recovered(&self) -> bool {
        *self.recovered.0.lock()
    }

    fn wait_recovered(&self) {
        let mut r = self.recovered.0.lock();
        while !*r {
            self.recovered.1.wait(&mut r);
        }
    }

    pub(super) fn money(
        &self,
        backend: &dyn PaymentBackend,
        kind: TxKind,
        req: &PaymentRequest,
    ) -> Result<PaymentResult, PayError> {
        self.wait_recovered();
        let request = request_json(kind, req);
        let begin = |j: &Journal| {
            j.begin(jkind(kind), &req.reference, &self.scope, &request)
                .map_err(before_send)
        };
        let id = match begin(&self.journal)? {
            Begin::New(id) => id,
            Begin::Known(e) => match self.known(backend, &e)? {
                Ok(result) => return Ok(result),
                // The terminal does not know it: nothing was charged, send it now.
                Err(()) => match begin(&self.journal)? {
                    Begin::New(id) => id,
                    Begin::Known(e) => {
                        return Err(PayError::OutcomeUnknown(format!(
                            "reference {:?} is {} in the journal",
                            e.key, e.state
                        )))
                    }
                },
            },
        };
        crash_point("pay.before_send");
        let track = Track::entry(self.journal.clone(), id);
        let r = backend.pay_tracked(kind, req, &track);
        crash_point("pay.after_send");
        let r = self.finish(id, &track, r);
        crash_point("pay.after_return");
        r
    }

    /// A known entry: its recorded result (`Ok(Ok)`), or after asking the terminal about an
    /// unfinished one, its result, `Ok(Err(()))` (not sent: may be sent now) or the error
    /// (still unknown).
    fn known(
        &self,
        backend: &dyn PaymentBackend,
        e: &Entry,
    ) -> Result<Result<PaymentResult, ()>, PayError> {
        match e.state {
            State::Answered => {
                let r = e
                    .result
                    .as_deref()
                    .and_then(result_from_json)
                    .ok_or_else(|| {
                        PayError::Protocol(format!(
                            "journal entry {} has an unreadable result",
                            e.id
                        ))
                    })?;
                let _ = self.journal.mark_delivered(e.id);
                Ok(Ok(r))
            }
            State::Recorded | State::Sent | State::InDoubt => {
                let none = Mutex::new(Vec::new());
                match reconcile_entry(&self.journal, backend, e, &none)? {
                    Reconciled::Answered(r) => {
                        let _ = self.journal.mark_delivered(e.id);
                        Ok(Ok(r))
                    }
                    Reconciled::NotSent(_) => Ok(Err(())),
                    Reconciled::Unknown(why) => Err(PayError::OutcomeUnknown(format!(
                        "reference {:?} was sent before (journal entry {}) and its outcome is \
                         still unknown after asking the terminal: {why}. It is NOT sent again; \
                         ask later (status with this reference, or the same call again)",
                        e.key, e.id
                    ))),
                }
            }
            // begin() records these again.
            State::NotSent | State::Failed => Ok(Err(())),
        }
    }

    /// Record what the back end answered; the application gets `r` unchanged.
    fn finish(
        &self,
        id: i64,
        track: &Track,
        r: Result<PaymentResult, PayError>,
    ) -> Result<PaymentResult, PayError> {
        let j = &self.journal;
        match &r {
            Ok(res) => {
                if let Some(why) = track.not_sent_reason() {
                    let _ = j.mark_not_sent(id, &why);
                } else if track.failed_reason().is_some() {
                    // Refused without effect: the answer (with its reason) is kept, the
                    // reference may be used again.
                    let _ = j.record_result(id, &res.to_json().to_string(), Outcome::Failed);
                    let _ = j.mark_delivered(id);
                } else {
                    let outcome = if res.approved {
                        Outcome::Success
                    } else {
                        Outcome::Declined
                    };
                    let _ = j.record_result(id, &res.to_json().to_string(), outcome);
                    crash_point("pay.after_result");
                    let _ = j.mark_delivered(id);
                }
            }
            Err(e @ PayError::Unreachable(_)) => {
                let _ = j.mark_not_sent(id, &e.to_string());
            }
            Err(
                e @ (PayError::Refused { .. }
                | PayError::InvalidInput(_)
                | PayError::Unsupported(_)
                | PayError::Config(_)),
            ) => {
                if track.was_sent() {
                    let _ = j.record_result(id, &error_json(e), Outcome::Failed);
                } else {
                    let _ = j.mark_not_sent(id, &e.to_string());
                }
            }
            Err(e @ (PayError::OutcomeUnknown(_) | PayError::Protocol(_) | PayError::Closed)) => {
                if track.was_sent() {
                    let why = with_handle(&e.to_string(), track.handle().as_deref());
                    let _ = j.mark_in_doubt(id, &why);
                } else {
                    let _ = j.mark_not_sent(id, &format!("not sent: {e}"));
                }
            }
        }
        r
    }

    pub(super) fn reverse_last(
        &self,
        backend: &dyn PaymentBackend,
    ) -> Result<PaymentResult, PayError> {
        self.wait_recovered();
        let err = |e: JournalError| PayError::Config(e.to_string());
        let last = self
            .journal
            .list(&Filter {
                kind: Some(Kind::Payment),
                state: Some(State::Answered),
                scope: Some(self.scope.clone()),
                ..Filter::default()
            })
            .map_err(err)?
            .into_iter()
            .rev()
            .find_map(|e| {
                e.result
                    .as_deref()
                    .and_then(result_from_json)
                    .filter(|r| r.approved)
            });
        let key = match &last {
            Some(o) => format!("reversal-of-{}", o.reference),
            None => format!("reversal-{}", crate::journal::now_ms()),
        };
        let request = serde_json::json!({
            "kind": "reversal",
            "of": last.as_ref().map(|o| o.reference.clone()),
        })
        .to_string();
        let id = match self
            .journal
            .begin(Kind::Reversal, &key, &self.scope, &request)
            .map_err(before_send)?
        {
            Begin::New(id) => id,
            Begin::Known(e) => match self.known(backend, &e)? {
                Ok(r) => return Ok(r),
                Err(()) => match self
                    .journal
                    .begin(Kind::Reversal, &key, &self.scope, &request)
                    .map_err(before_send)?
                {
                    Begin::New(id) => id,
                    Begin::Known(e) => {
                        return Err(PayError::OutcomeUnknown(format!(
                            "{key} is {} in the journal",
                            e.state
                        )))
                    }
                },
            },
        };
        let track = Track::entry(self.journal.clone(), id);
        let r = backend.reverse_tracked(last.as_ref(), &track).map(|mut r| {
            r.reference = key.clone();
            r
        });
        self.finish(id, &track, r)
    }

    /// The recorded result of `reference`, when the journal has one.
    pub(super) fn recorded(&self, reference: &str) -> Result<Option<PaymentResult>, PayError> {
        let e = self
            .journal
            .get(Kind::Payment, reference)
            .map_err(|e| PayError::Config(e.to_string()))?;
        Ok(
            e.filter(|e| e.state == State::Answered && e.scope == self.scope)
                .and_then(|e| e.result.as_deref().and_then(result_from_json)),
        )
    }

    pub(super) fn confirm(&self, reference: &str) -> Result<(), PayError> {
        let e = self
            .journal
            .get(Kind::Payment, reference)
            .map_err(|e| PayError::Config(e.to_string()))?
            .ok_or_else(|| {
                PayError::InvalidInput(format!(
                    "the journal has no payment, refund or reversal with reference {reference:?}"
                ))
            })?;
        match e.state {
            State::Answered | State::Failed => self
                .journal
                .confirm(e.id)
                .map_err(|e| PayError::Config(e.to_string())),
            s => Err(PayError::InvalidInput(format!(
                "reference {reference:?} has no result to confirm (journal state {s})"
            ))),
        }
    }

    pub(super) fn pending(&self) -> Result<Vec<Pending>, PayError> {
        self.wait_recovered();
        let err = |e: JournalError| PayError::Config(e.to_string());
        let busy = self.busy.lock().clone();
        let mine =
            |e: &Entry| e.scope == self.scope && txkind(e.kind).is_some() && !busy.contains(&e.key);
        let mut out: Vec<Pending> = Vec::new();
        for e in self.journal.undelivered().map_err(err)? {
            if !mine(&e) {
                continue;
            }
            let _ = self.journal.mark_delivered(e.id);
            out.push(Pending {
                reference: e.key.clone(),
                kind: e.kind.as_str().into(),
                state: PendingState::Answered,
                reason: None,
                result: e.result.as_deref().and_then(result_from_json),
            });
        }
        for e in self.journal.unfinished().map_err(err)? {
            if !mine(&e) || e.state != State::InDoubt {
                continue;
            }
            out.push(Pending {
                reference: e.key.clone(),
                kind: e.kind.as_str().into(),
                state: PendingState::InDoubt,
                reason: e.reason.clone(),
                result: None,
            });
        }
        out.append(&mut self.not_sent.lock());
        Ok(out)
    }
}

/// Ask the back end about one unfinished entry and write what it said (answered: recorded,
/// not delivered — [`JournalFront::pending`] offers it; not sent: marked and kept in
/// `offered`; unknown: in doubt, with the handle kept).
fn reconcile_entry(
    j: &Journal,
    backend: &dyn PaymentBackend,
    e: &Entry,
    offered: &Mutex<Vec<Pending>>,
) -> Result<Reconciled, PayError> {
    let Some(op) = unfinished_of(e) else {
        return Ok(Reconciled::Unknown("not a money entry".into()));
    };
    // The front writes `sent` before a back end lets a request leave the process
    // (`Track::sent`): an entry still `recorded` never left.
    let r = if op.sent {
        backend.reconcile(&op)
    } else {
        Reconciled::NotSent(
            "never handed over: the program stopped before sending it (nothing was charged)".into(),
        )
    };
    let w = |x: Result<(), JournalError>| x.map_err(|e| PayError::Config(e.to_string()));
    match &r {
        Reconciled::Answered(res) => {
            let outcome = if res.approved {
                Outcome::Success
            } else {
                Outcome::Declined
            };
            w(j.record_result(e.id, &res.to_json().to_string(), outcome))?;
        }
        Reconciled::NotSent(why) => {
            w(j.mark_not_sent(e.id, why))?;
            offered.lock().push(Pending {
                reference: e.key.clone(),
                kind: e.kind.as_str().into(),
                state: PendingState::NotSent,
                reason: Some(why.clone()),
                result: None,
            });
        }
        Reconciled::Unknown(why) => {
            let why = if handle_of(Some(why)).is_some() {
                why.clone()
            } else {
                with_handle(why, op.handle.as_deref())
            };
            w(j.mark_in_doubt(e.id, &why))?;
        }
    }
    Ok(r)
}
