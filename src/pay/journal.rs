//! The payment front's use of the journal (docs/JOURNAL.md, docs/PAYMENTS.md § Journal):
//! the request and result JSON, the hand-over hook a back end calls at the HTTP send
//! ([`Track`]), what a back end answers when asked about an unfinished entry
//! ([`Reconciled`]), and what the application is offered again ([`Pending`]).
//!
//! Everything that touches SQLite is behind the cargo feature `journal`; without it the
//! types exist (back ends take a [`Track`]) and do nothing.

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use super::{PayError, PaymentRequest, PaymentResult, TxKind};

/// The configuration value that switches the journal off (`"journal": "off"`,
/// `OKC_JOURNAL=off`): tests and in-memory use only — a restart then forgets every reference.
pub const OFF: &str = "off";

/// Where a back end's handle of a request is written in the journal's in-doubt reason:
/// `… [handle NEXO-ServiceID 123456]`. Read back by [`handle_of`] when the entry is
/// reconciled after a restart.
const HANDLE_OPEN: &str = " [handle ";

/// `reason [handle H]` → H.
pub fn handle_of(reason: Option<&str>) -> Option<String> {
    let r = reason?;
    let at = r.rfind(HANDLE_OPEN)?;
    let rest = &r[at + HANDLE_OPEN.len()..];
    let end = rest.find(']')?;
    Some(rest[..end].to_string()).filter(|h| !h.is_empty())
}

/// `why` with the handle appended (see [`handle_of`]).
pub fn with_handle(why: &str, handle: Option<&str>) -> String {
    match handle {
        Some(h) => format!("{why}{HANDLE_OPEN}{h}]"),
        None => why.to_string(),
    }
}

/// The request as the journal keeps it (and compares it: the same reference with another
/// amount or currency is a conflict, refused).
pub fn request_json(kind: TxKind, req: &PaymentRequest) -> String {
    serde_json::json!({
        "kind": kind.as_str(),
        "amount": req.amount,
        "currency": req.currency,
        "reference": req.reference,
    })
    .to_string()
}

/// [`PaymentResult::to_json`] read back.
pub fn result_from_json(text: &str) -> Option<PaymentResult> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let lines = |k: &str| -> Vec<String> {
        v.get("receipts")
            .and_then(|r| r.get(k))
            .and_then(|a| a.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|l| l.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    Some(PaymentResult {
        approved: v.get("approved")?.as_bool()?,
        kind: s("kind").unwrap_or_default(),
        reason: s("reason"),
        amount: v.get("amount").and_then(|a| a.as_i64()).unwrap_or(0),
        currency: s("currency").unwrap_or_default(),
        masked_pan: s("maskedPan"),
        brand: s("brand"),
        entry_mode: s("entryMode"),
        approval_code: s("approvalCode"),
        transaction_id: s("transactionId"),
        timestamp: s("timestamp"),
        reference: s("reference").unwrap_or_default(),
        merchant_receipt: lines("merchant"),
        customer_receipt: lines("customer"),
        signature_required: v
            .get("signatureRequired")
            .and_then(|b| b.as_bool())
            .unwrap_or(false),
        raw: s("raw").unwrap_or_default(),
    })
}

/// A money operation the journal has without an answer, as a back end is asked about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfinished {
    pub kind: TxKind,
    /// The caller's reference (the journal key).
    pub reference: String,
    pub amount: i64,
    pub currency: String,
    /// The back end's handle of the request handed over, when the journal has it (nexo:
    /// `ServiceID N`; GP tom: `task ID`).
    pub handle: Option<String>,
    /// Whether it was handed over (`sent` / `in_doubt`) or only recorded (a crash between
    /// the record and the send).
    pub sent: bool,
}

/// What the terminal said about an [`Unfinished`] operation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // one per unfinished entry, rare
pub enum Reconciled {
    /// It has a result (approved or declined): recorded, delivered to the application.
    Answered(PaymentResult),
    /// The terminal does not know it: nothing was charged. The reference may be used again.
    NotSent(String),
    /// Still unknown (the terminal unreachable, the task still running, …): stays in doubt.
    Unknown(String),
}

/// The hook a back end calls while it runs one journalled request: [`Track::sent`] right
/// before the request leaves the process (the journal's `mark_sent`), [`Track::not_sent`]
/// when the terminal proves it never had it, [`Track::failed`] when it refused it without
/// effect. A `Track` without a journal only remembers. Cheap to clone (shared state).
#[derive(Clone, Default)]
pub struct Track(std::sync::Arc<TrackState>);

#[derive(Default)]
struct TrackState {
    #[cfg(feature = "journal")]
    entry: Option<(std::sync::Arc<crate::journal::Journal>, i64)>,
    sent: AtomicBool,
    handle: Mutex<Option<String>>,
    not_sent: Mutex<Option<String>>,
    failed: Mutex<Option<String>>,
}

impl Track {
    /// No journal.
    pub fn none() -> Track {
        Track::default()
    }

    #[cfg(feature = "journal")]
    pub(crate) fn entry(journal: std::sync::Arc<crate::journal::Journal>, id: i64) -> Track {
        Track(std::sync::Arc::new(TrackState {
            entry: Some((journal, id)),
            ..TrackState::default()
        }))
    }

    /// The request with this `handle` (nexo: `ServiceID N`, GP tom: `task ID`, or "" when the
    /// handle comes later) is about to leave the process. The first call writes `sent`; an
    /// error (the journal cannot be written) means: do not send.
    pub fn sent(&self, handle: &str) -> Result<(), PayError> {
        let new_handle = !handle.is_empty() && self.keep_handle(handle);
        if self.0.sent.swap(true, Ordering::SeqCst) {
            if new_handle {
                self.note_handle();
            }
            return Ok(());
        }
        #[cfg(feature = "journal")]
        if let Some((j, id)) = &self.0.entry {
            // The handle is kept with `sent`: a crash before the answer is reconciled by it.
            let note = (!handle.is_empty()).then(|| with_handle("sent", Some(handle)));
            if let Err(e) = j.mark_sent_with(*id, note.as_deref()) {
                self.0.sent.store(false, Ordering::SeqCst);
                return Err(PayError::Config(format!("not sent: {e}")));
            }
            // The crash harness (docs/JOURNAL.md § Crash harness): `sent` written, the
            // request not yet out.
            crate::fiscal::supervise::crash_point("pay.after_mark");
        }
        Ok(())
    }

    /// The back end's handle learnt after the send (GP tom: the task id from the create
    /// answer).
    pub fn set_handle(&self, handle: &str) {
        if self.keep_handle(handle) && self.was_sent() {
            self.note_handle();
        }
    }

    /// Keeps `handle`; true when it differs from the one kept before.
    fn keep_handle(&self, handle: &str) -> bool {
        let mut h = self.0.handle.lock();
        if h.as_deref() == Some(handle) {
            return false;
        }
        *h = Some(handle.to_string());
        true
    }

    /// Writes the handle into the journal's entry (a crash before the answer is reconciled
    /// by it). A failure is not an error of the payment: recovery then asks without it.
    fn note_handle(&self) {
        #[cfg(feature = "journal")]
        if let (Some((j, id)), Some(h)) = (&self.0.entry, self.handle()) {
            let _ = j.note(*id, &with_handle("sent", Some(&h)));
        }
    }

    /// The terminal says it never had the request (nothing was charged).
    pub fn not_sent(&self, why: &str) {
        *self.0.not_sent.lock() = Some(why.to_string());
    }

    /// The terminal refused the request without effect (busy, logged out, a format error):
    /// the answer is not a card's decline, the reference may be used again.
    pub fn failed(&self, why: &str) {
        *self.0.failed.lock() = Some(why.to_string());
    }

    pub fn failed_reason(&self) -> Option<String> {
        self.0.failed.lock().clone()
    }

    pub fn was_sent(&self) -> bool {
        self.0.sent.load(Ordering::SeqCst)
    }

    pub fn handle(&self) -> Option<String> {
        self.0.handle.lock().clone()
    }

    pub fn not_sent_reason(&self) -> Option<String> {
        self.0.not_sent.lock().clone()
    }
}

/// Where a result the application has not confirmed stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingState {
    /// Answered (approved or declined), not confirmed: `result` holds it.
    Answered,
    /// Sent, and the terminal could not tell its outcome (yet): may have been charged.
    InDoubt,
    /// Found unfinished at start and the terminal does not know it: nothing was charged
    /// (offered once per process).
    NotSent,
}

impl PendingState {
    pub fn as_str(self) -> &'static str {
        match self {
            PendingState::Answered => "answered",
            PendingState::InDoubt => "in_doubt",
            PendingState::NotSent => "not_sent",
        }
    }
}

/// A money operation offered to the application again ([`super::Terminal::pending`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub reference: String,
    /// `payment`, `refund` or `reversal`.
    pub kind: String,
    pub state: PendingState,
    /// Why in doubt / not sent.
    pub reason: Option<String>,
    pub result: Option<PaymentResult>,
}

impl Pending {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "reference": self.reference,
            "kind": self.kind,
            "state": self.state.as_str(),
            "reason": self.reason,
            "result": self.result.as_ref().map(PaymentResult::to_json),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_round_trip() {
        let r = with_handle("answer lost", Some("ServiceID 12"));
        assert_eq!(handle_of(Some(&r)).as_deref(), Some("ServiceID 12"));
        assert_eq!(handle_of(Some("answer lost")), None);
        assert_eq!(handle_of(None), None);
    }

    #[test]
    fn results_round_trip() {
        let r = PaymentResult {
            approved: true,
            kind: "payment".into(),
            amount: 1250,
            currency: "SEK".into(),
            masked_pan: Some("4111".into()),
            transaction_id: Some("T1".into()),
            reference: "r-1".into(),
            merchant_receipt: vec!["a".into()],
            customer_receipt: vec!["b".into(), "c".into()],
            signature_required: true,
            raw: "<x/>".into(),
            ..Default::default()
        };
        assert_eq!(
            result_from_json(&r.to_json().to_string()).as_ref(),
            Some(&r)
        );
    }
}
