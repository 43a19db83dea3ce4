//! The cloud's state (accounts and tokens, tasks, transactions, one device per TID, the
//! request log) and the device workers that move tasks through their states.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use tokio::sync::Notify;

use super::assumptions as a;
use super::{
    GptomAccount, GptomConfig, GptomFaults, GptomRequest, GptomTask, GptomTransaction, Shared,
    TaskKind, TaskMode, TaskOutcome, TaskState,
};

const DAY: Duration = Duration::from_secs(86_400);

pub(crate) struct TokenRec {
    pub(crate) tid: Option<String>,
    pub(crate) expires: SystemTime,
    pub(crate) expired: bool,
}

pub(crate) struct RefreshRec {
    pub(crate) username: String,
    pub(crate) tid: Option<String>,
    pub(crate) expires: SystemTime,
    pub(crate) revoked: bool,
}

/// The simulated device of one TID.
struct Device {
    notify: Arc<Notify>,
    /// The open batch.
    batch: u32,
    /// The task the device is running (or stuck on).
    busy: Option<String>,
    next_seq: u64,
    next_receipt: u64,
}

struct TaskRec {
    public: GptomTask,
    /// Incremented each time the device starts the task (a late wake-up of a run that a
    /// control call already finished is ignored).
    run: u64,
    /// Order of the user's taps.
    tap_seq: u64,
}

/// What a device worker does next.
pub(crate) enum Step {
    Wait,
    Run {
        id: String,
        run: u64,
        outcome: TaskOutcome,
        time: Duration,
    },
}

pub(crate) struct State {
    pub(crate) client_basic: String,
    pub(crate) accept_any: bool,
    pub(crate) accounts: Vec<GptomAccount>,
    pub(crate) token_ttl: Duration,
    pub(crate) mode: TaskMode,
    pub(crate) outcome: TaskOutcome,
    pub(crate) task_time: Duration,
    pub(crate) merchant_id: String,
    pub(crate) currency: String,
    first_batch: u32,
    pub(crate) faults: GptomFaults,
    pub(crate) tokens: HashMap<String, TokenRec>,
    pub(crate) refresh: HashMap<String, RefreshRec>,
    tasks: Vec<TaskRec>,
    index: HashMap<String, usize>,
    pub(crate) transactions: Vec<GptomTransaction>,
    devices: HashMap<String, Device>,
    pub(crate) requests: Vec<GptomRequest>,
    next_txn: u64,
    next_approval: u32,
    next_rrn: u64,
    next_trace: u32,
    next_tap: u64,
}

/// RFC 3339 UTC, whole seconds (`2026-01-10T08:12:00Z`).
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let d = DateTime::<Utc>::from(t);
    if a::TIME_SECONDS_ONLY {
        d.to_rfc3339_opts(SecondsFormat::Secs, true)
    } else {
        d.to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

fn int(v: Option<&Value>) -> i64 {
    v.and_then(Value::as_i64).unwrap_or(0)
}

fn string(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_string)
}

/// The app2app number of a `transactionType` name.
pub(crate) fn type_number(name: &str) -> Option<i64> {
    a::TRANSACTION_TYPES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, c)| *c)
}

impl State {
    pub(crate) fn new(c: GptomConfig) -> State {
        State {
            client_basic: c.client_basic,
            accept_any: c.accept_any,
            accounts: c.accounts,
            token_ttl: c.token_ttl,
            mode: c.mode,
            outcome: c.outcome,
            task_time: c.task_time,
            merchant_id: c.merchant_id,
            currency: c.currency,
            first_batch: c.first_batch_number,
            faults: c.faults,
            tokens: HashMap::new(),
            refresh: HashMap::new(),
            tasks: Vec::new(),
            index: HashMap::new(),
            transactions: Vec::new(),
            devices: HashMap::new(),
            requests: Vec::new(),
            next_txn: 100_000_001,
            next_approval: a::FIRST_APPROVAL_CODE,
            next_rrn: a::FIRST_REFERENCE_NUMBER,
            next_trace: 1,
            next_tap: 1,
        }
    }

    // -----------------------------------------------------------------------------------
    // Reading

    pub(crate) fn tasks(&self) -> Vec<GptomTask> {
        self.tasks.iter().map(|t| t.public.clone()).collect()
    }

    pub(crate) fn find(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    pub(crate) fn task(&self, id: &str) -> Option<&GptomTask> {
        self.find(id).map(|i| &self.tasks[i].public)
    }

    /// Indexes of the tasks of `tid`, newest first.
    pub(crate) fn tasks_of(&self, tid: &str) -> Vec<usize> {
        (0..self.tasks.len())
            .rev()
            .filter(|&i| self.tasks[i].public.tid == tid)
            .collect()
    }

    /// `CloudTaskDetailApiResponse` of task `i`.
    pub(crate) fn detail_json(&self, i: usize) -> Value {
        let t = &self.tasks[i].public;
        let mut v = json!({
            "id": t.id,
            "type": match t.kind { TaskKind::Transaction => a::TYPE_TRANSACTION, TaskKind::Batch => a::TYPE_BATCH },
            "tid": t.tid,
            "state": t.state.as_str(),
            "created": rfc3339(t.created),
            "updated": rfc3339(t.updated),
            "request": t.request,
            "error": t.error,
            "transaction": t.transaction,
        });
        if t.kind == TaskKind::Batch {
            v[a::BATCH_RESULT_KEY] = t.batch.clone().unwrap_or(Value::Null);
        }
        v
    }

    pub(crate) fn batch_number(&self, tid: &str) -> u32 {
        self.devices.get(tid).map_or(self.first_batch, |d| d.batch)
    }

    /// Index of the transaction whose `transactionID`, `externalTransactionID` or task id
    /// is `key`.
    pub(crate) fn find_transaction(&self, key: &str) -> Option<usize> {
        self.transactions.iter().position(|t| {
            t.id == key || t.external_id == key || (a::ORIGIN_MATCHES_TASK_ID && t.task_id == key)
        })
    }

    /// A VOID of `origin` on `tid` may be created: `Err((http, code, message))` if not.
    pub(crate) fn check_void(
        &self,
        origin: &str,
        tid: &str,
    ) -> Result<(), ((u16, &'static str), String)> {
        let Some(i) = self.find_transaction(origin) else {
            return Err((
                a::ERR_ORIGINAL_NOT_FOUND,
                format!("No transaction {origin}"),
            ));
        };
        let t = &self.transactions[i];
        if t.tid != tid {
            return Err((
                a::ERR_CROSS_TID,
                format!(
                    "Transaction {origin} was made on TID {}; cancel it there",
                    t.tid
                ),
            ));
        }
        let days = SystemTime::now()
            .duration_since(t.at)
            .unwrap_or_default()
            .as_secs()
            / DAY.as_secs();
        if days as i64 > a::CANCEL_MAX_DAYS {
            return Err((
                a::ERR_TOO_OLD,
                format!(
                    "Transaction {origin} is {days} days old (at most {})",
                    a::CANCEL_MAX_DAYS
                ),
            ));
        }
        if t.kind != "SALE" || !t.approved() || t.voided_by.is_some() {
            return Err((
                a::ERR_NOT_CANCELLABLE,
                format!("Transaction {origin} cannot be cancelled"),
            ));
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------
    // Devices

    fn online(&self) -> bool {
        !self.faults.device_offline && self.outcome != TaskOutcome::Offline
    }

    pub(crate) fn wake_all(&self) {
        for d in self.devices.values() {
            d.notify.notify_one();
        }
    }

    fn wake(&self, tid: &str) {
        if let Some(d) = self.devices.get(tid) {
            d.notify.notify_one();
        }
    }

    /// The device of `tid`; `Some(notify)` when it was just created (its worker must be
    /// spawned).
    fn ensure_device(&mut self, tid: &str) -> Option<Arc<Notify>> {
        if self.devices.contains_key(tid) {
            return None;
        }
        let notify = Arc::new(Notify::new());
        self.devices.insert(
            tid.to_string(),
            Device {
                notify: notify.clone(),
                batch: self.first_batch,
                busy: None,
                next_seq: 1,
                next_receipt: 1,
            },
        );
        Some(notify)
    }

    /// Deliver `tid`'s CREATED tasks to its device (when online).
    fn deliver(&mut self, tid: &str) {
        if !self.online() {
            return;
        }
        let now = SystemTime::now();
        for t in self.tasks.iter_mut() {
            if t.public.tid == tid && t.public.state == TaskState::Created {
                t.public.state = TaskState::Queued;
                t.public.updated = now;
            }
        }
    }

    /// Create a task (delivered at once when the device is online). Returns its index and,
    /// for a new TID, the device's notifier (spawn its worker).
    pub(crate) fn create_task(
        &mut self,
        kind: TaskKind,
        tid: &str,
        request: Value,
    ) -> (usize, Option<Arc<Notify>>) {
        let fresh = self.ensure_device(tid);
        let now = SystemTime::now();
        let id = uuid::Uuid::new_v4().to_string();
        let i = self.tasks.len();
        self.index.insert(id.clone(), i);
        self.tasks.push(TaskRec {
            public: GptomTask {
                id,
                kind,
                tid: tid.to_string(),
                state: TaskState::Created,
                request,
                transaction: None,
                error: None,
                batch: None,
                created: now,
                updated: now,
                tapped: false,
                outcome: None,
            },
            run: 0,
            tap_seq: 0,
        });
        self.deliver(tid);
        self.wake(tid);
        (i, fresh)
    }

    /// The device of `tid` looks for work.
    pub(crate) fn next_step(&mut self, tid: &str) -> Step {
        if !self.online() {
            return Step::Wait;
        }
        self.deliver(tid);
        if self.devices.get(tid).map_or(true, |d| d.busy.is_some()) {
            return Step::Wait;
        }
        let queued = |t: &&TaskRec| t.public.tid == tid && t.public.state == TaskState::Queued;
        let tapped = self
            .tasks
            .iter()
            .filter(queued)
            .filter(|t| t.public.tapped)
            .min_by_key(|t| t.tap_seq);
        let pick = match (tapped, self.mode) {
            (Some(t), _) => Some(t),
            (None, TaskMode::Automatic) => self.tasks.iter().find(queued),
            (None, TaskMode::Assisted) => None,
        };
        let Some(id) = pick.map(|t| t.public.id.clone()) else {
            return Step::Wait;
        };
        let i = self.index[&id];
        let outcome = self.outcome;
        let rec = &mut self.tasks[i];
        rec.run += 1;
        rec.public.state = TaskState::InProgress;
        rec.public.updated = SystemTime::now();
        let run = rec.run;
        if let Some(d) = self.devices.get_mut(tid) {
            d.busy = Some(id.clone());
        }
        if outcome == TaskOutcome::Stuck {
            self.tasks[i].public.outcome = Some(TaskOutcome::Stuck);
            return Step::Wait;
        }
        Step::Run {
            id,
            run,
            outcome,
            time: self.task_time,
        }
    }

    /// The run `run` of task `id` is over.
    pub(crate) fn end_run(&mut self, id: &str, run: u64, outcome: TaskOutcome) {
        let Some(i) = self.find(id) else { return };
        if self.tasks[i].run != run || self.tasks[i].public.state != TaskState::InProgress {
            return;
        }
        self.finish_task(i, outcome);
    }

    pub(crate) fn tap(&mut self, id: &str) -> bool {
        let Some(i) = self.find(id) else { return false };
        let t = &mut self.tasks[i];
        if t.public.state != TaskState::Queued || t.public.tapped {
            return false;
        }
        t.public.tapped = true;
        t.tap_seq = self.next_tap;
        self.next_tap += 1;
        let tid = t.public.tid.clone();
        self.wake(&tid);
        true
    }

    pub(crate) fn finish(&mut self, id: &str, outcome: TaskOutcome) -> bool {
        if matches!(outcome, TaskOutcome::Offline | TaskOutcome::Stuck) {
            return false;
        }
        let Some(i) = self.find(id) else { return false };
        if self.tasks[i].public.state.is_terminal() {
            return false;
        }
        self.finish_task(i, outcome);
        true
    }

    pub(crate) fn age(&mut self, id: &str, days: u32) -> bool {
        let Some(x) = self.find_transaction(id) else {
            return false;
        };
        let by = DAY * days;
        let t = &mut self.transactions[x];
        t.at = t.at.checked_sub(by).unwrap_or(t.at);
        let at = t.at;
        let task_id = t.task_id.clone();
        if let Some(i) = self.find(&task_id) {
            let p = &mut self.tasks[i].public;
            p.created = p.created.checked_sub(by).unwrap_or(p.created);
            p.updated = p.updated.checked_sub(by).unwrap_or(p.updated);
            if let Some(tx) = p.transaction.as_mut() {
                let d = DateTime::<Utc>::from(at);
                tx["date"] = json!(d.format(a::DATE_FORMAT).to_string());
                tx["time"] = json!(d.format(a::TIME_FORMAT).to_string());
            }
        }
        true
    }

    pub(crate) fn expire_tokens(&mut self) {
        for t in self.tokens.values_mut() {
            t.expired = true;
        }
    }

    pub(crate) fn revoke_refresh_tokens(&mut self) {
        for r in self.refresh.values_mut() {
            r.revoked = true;
        }
    }

    // -----------------------------------------------------------------------------------
    // Outcomes

    /// End task `i` with `outcome` (Approve, Decline, Cancel, Fail) and free its device.
    fn finish_task(&mut self, i: usize, outcome: TaskOutcome) {
        let tid = self.tasks[i].public.tid.clone();
        let id = self.tasks[i].public.id.clone();
        if let Some(d) = self.devices.get_mut(&tid) {
            if d.busy.as_deref() == Some(id.as_str()) {
                d.busy = None;
            }
        }
        let now = SystemTime::now();
        let kind = self.tasks[i].public.kind;
        let state = match outcome {
            TaskOutcome::Approve | TaskOutcome::Decline => {
                let approve = outcome == TaskOutcome::Approve;
                match kind {
                    TaskKind::Transaction => {
                        let tx = self.transaction(i, approve, now);
                        self.tasks[i].public.transaction = Some(tx);
                    }
                    TaskKind::Batch => {
                        let b = self.close_batch(&tid, approve);
                        self.tasks[i].public.batch = Some(b);
                    }
                }
                TaskState::Completed
            }
            TaskOutcome::Cancel => TaskState::Cancelled,
            TaskOutcome::Fail | TaskOutcome::Offline | TaskOutcome::Stuck => {
                self.tasks[i].public.error = Some(json!({
                    "code": a::APP_ERROR_CODE,
                    "internalErrorCode": 0,
                    "internalErrorSubCode": 0,
                    "platform": a::APP_ERROR_PLATFORM,
                    "isRepeatable": a::APP_ERROR_REPEATABLE,
                }));
                TaskState::Failed
            }
        };
        let p = &mut self.tasks[i].public;
        p.state = state;
        p.updated = now;
        p.outcome = Some(outcome);
        self.wake(&tid);
    }

    fn close_batch(&mut self, tid: &str, approve: bool) -> Value {
        let closed = self.batch_number(tid);
        let count = self
            .transactions
            .iter()
            .filter(|t| t.tid == tid && t.batch_number == closed)
            .count();
        let next = if approve { closed + 1 } else { closed };
        if let Some(d) = self.devices.get_mut(tid) {
            d.batch = next;
        }
        json!({
            "result": if approve { a::RESULT_APPROVED } else { a::RESULT_DECLINED },
            "batchNumber": closed.to_string(),
            "newBatchNumber": next.to_string(),
            "transactionCount": count,
        })
    }

    /// The device's transaction for task `i` (recorded in `transactions`).
    fn transaction(&mut self, i: usize, approve: bool, now: SystemTime) -> Value {
        let req = self.tasks[i].public.request.clone();
        let tid = self.tasks[i].public.tid.clone();
        let task_id = self.tasks[i].public.id.clone();
        let kind = string(req.get("transactionType")).unwrap_or_else(|| "SALE".into());
        let origin_key = string(req.get("originTransactionID"));
        // A VOID takes amount and currency from its original; it is declined when the
        // original can no longer be cancelled (e.g. a second VOID queued for the same sale).
        let mut origin = None;
        let (mut amount, mut tip, mut currency) = (
            int(req.get("amount")),
            int(req.get("tipAmount")),
            string(req.get("currencyCode")).unwrap_or_else(|| self.currency.clone()),
        );
        let mut approve = approve;
        let mut message = if approve {
            a::MESSAGE_APPROVED
        } else {
            a::MESSAGE_DECLINED
        };
        if kind == "VOID" {
            match origin_key.as_deref().and_then(|k| self.find_transaction(k)) {
                Some(o) => {
                    let t = &self.transactions[o];
                    amount = t.amount;
                    tip = t.tip_amount;
                    currency = t.currency.clone();
                    if t.voided_by.is_some() || !t.approved() || t.tid != tid {
                        approve = false;
                        message = a::MESSAGE_DECLINED;
                    }
                    origin = Some(o);
                }
                None => {
                    approve = false;
                    message = a::MESSAGE_DECLINED;
                }
            }
        }
        let result = if approve {
            a::RESULT_APPROVED
        } else {
            a::RESULT_DECLINED
        };
        let batch = self.batch_number(&tid);
        let (seq, receipt) = match self.devices.get_mut(&tid) {
            Some(d) => {
                let s = (d.next_seq, d.next_receipt);
                d.next_seq += 1;
                d.next_receipt += 1;
                s
            }
            None => (0, 0),
        };
        let txn_id = self.next_txn.to_string();
        self.next_txn += 1;
        let rrn = format!("{:012}", self.next_rrn);
        self.next_rrn += 1;
        let trace = format!("{:06}", self.next_trace % 1_000_000);
        self.next_trace += 1;
        let approval = approve.then(|| {
            let c = format!("{:06}", self.next_approval % 1_000_000);
            self.next_approval += 1;
            c
        });
        let external = uuid::Uuid::new_v4().to_string();
        let origin_id = origin.map(|o| self.transactions[o].id.clone());
        if approve {
            if let Some(o) = origin {
                self.transactions[o].voided_by = Some(txn_id.clone());
            }
        }
        let d = DateTime::<Utc>::from(now);
        let id_key = if self.faults.sic_transaction_id {
            a::TRANSACTION_ID_KEY_SIC
        } else {
            a::TRANSACTION_ID_KEY
        };
        let mut v = json!({
            "result": result,
            "responseMessage": message,
            "transactionType": type_number(&kind).unwrap_or(1),
            "merchantID": self.merchant_id,
            "terminalID": tid,
            "currencyCode": currency,
            "amount": amount,
            "tipAmount": tip,
            "cashbackAmount": 0,
            "cardNumber": a::CARD_NUMBER,
            "cardDataEntry": a::CARD_ENTRY,
            "approvedCode": approval,
            "referenceNumber": rrn,
            "traceNumber": trace,
            "date": d.format(a::DATE_FORMAT).to_string(),
            "time": d.format(a::TIME_FORMAT).to_string(),
            "emvAppLabel": a::CARD_LABEL,
            "emvAid": a::CARD_AID,
            "sequenceNumber": seq.to_string(),
            "batchNumber": batch.to_string(),
            "cardProduct": a::CARD_PRODUCT,
            "pinOK": approve,
            "cardHolderVerificationMethod": a::CARD_CVM,
            "externalTransactionID": external,
            "totalamount": amount + tip,
            "receiptNumber": receipt.to_string(),
            "originReferenceNum": req.get("originReferenceNum").cloned().unwrap_or(Value::Null),
            "clientID": req.get("clientID").cloned().unwrap_or(Value::Null),
        });
        v[id_key] = json!(txn_id);
        if kind == "VOID" {
            v["originTransactionID"] = json!(origin_id.clone().or(origin_key));
        }
        self.transactions.push(GptomTransaction {
            id: txn_id,
            external_id: external,
            task_id,
            tid,
            kind,
            amount,
            tip_amount: tip,
            currency,
            result,
            batch_number: batch,
            reference: string(req.get("originReferenceNum")),
            origin_id,
            voided_by: None,
            at: now,
        });
        v
    }
}

/// The worker of `tid`'s device: waits for work, runs one task at a time.
pub(crate) fn spawn_device(sh: &Arc<Shared>, tid: String, notify: Arc<Notify>) {
    let sh2 = sh.clone();
    sh.rt.spawn(async move {
        loop {
            let step = sh2.state.lock().next_step(&tid);
            match step {
                Step::Wait => {
                    // The poll is a safety net; every change that matters notifies.
                    let _ =
                        tokio::time::timeout(Duration::from_millis(500), notify.notified()).await;
                }
                Step::Run {
                    id,
                    run,
                    outcome,
                    time,
                } => {
                    tokio::time::sleep(time).await;
                    sh2.state.lock().end_run(&id, run, outcome);
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_whole_seconds() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_768_032_720_640);
        assert_eq!(rfc3339(t), "2026-01-10T08:12:00Z");
    }

    #[test]
    fn type_numbers() {
        assert_eq!(type_number("SALE"), Some(1));
        assert_eq!(type_number("VOID"), Some(2));
        assert_eq!(type_number("REFUND"), Some(3));
        assert_eq!(type_number("sale"), None);
    }
}
