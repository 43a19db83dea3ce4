//! The GP tom back end: tasks in GP tom's cloud created and followed by the client
//! (`client.rs`) on a small tokio runtime of its own (`okc-gptom`).
//!
//! Exactly once: the caller's reference is `originReferenceNum` and the key of this
//! process's reference → task id map, filled right after a create. A create whose answer is
//! lost (timeout, connection lost, 5xx, an unreadable answer) is never sent again: the TID's
//! task list is searched for the reference; found, the task is followed; not found, the
//! outcome is unknown. The same reference again follows the task already created (or, after
//! an unknown outcome, searches the list first).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::api::{
    self, Expect, GptomConfig, GptomTarget, GptomTiming, Op, Poll, PollStep, Task, TaskState,
    TransactionTask, TxType,
};
use super::client::{CallError, Client};
use crate::pay::{
    EventFn, PayError, PaymentBackend, PaymentRequest, PaymentResult, Reconciled, TerminalEvent,
    Track, TxKind, Unfinished,
};

/// How a task id is kept as its journal handle (`task ID`).
const TASK_HANDLE: &str = "task ";
use crate::runtime::BackendRuntime;

/// Settings of a GP tom terminal.
#[derive(Clone)]
pub struct GptomSettings {
    pub target: GptomTarget,
    pub config: GptomConfig,
    /// Task state changes are [`TerminalEvent::Notification`]s named `task`.
    pub events: Option<EventFn>,
}

struct Inner {
    client: Client,
    timing: GptomTiming,
    /// One payment / refund / cancellation / batch close at a time.
    money: tokio::sync::Mutex<()>,
    /// The caller's reference → the task created for it (this process).
    by_reference: Mutex<HashMap<String, String>>,
    /// The reference of the last task created (status without a reference).
    last_reference: Mutex<Option<String>>,
    /// References whose create answer was lost and whose task was not found.
    unresolved: Mutex<HashSet<String>>,
    /// The last approved transaction task of this process (the candidate of a cancellation).
    last_approved: Mutex<Option<Task>>,
    /// The last generated cancellation reference (kept unique).
    last_void_ref: AtomicU64,
    events: Option<mpsc::Sender<EventMsg>>,
}

/// What the event thread receives: an event for the callback, or a flush (answered once every
/// event before it was handed over, so a call's events come before its result).
enum EventMsg {
    Event(TerminalEvent),
    Flush(mpsc::Sender<()>),
}

/// The longest a call waits for its events to be delivered (a callback that blocks does not
/// block the call for longer).
const EVENT_FLUSH_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The GP tom [`PaymentBackend`].
pub struct GptomBackend {
    inner: Arc<Inner>,
    rt: BackendRuntime,
}

fn unknown(what: &str, reference: &str, detail: &str) -> PayError {
    PayError::OutcomeUnknown(format!(
        "GP tom {what} (reference {reference:?}): {detail}; ask the status later (status with \
         this reference), never pay again blindly"
    ))
}

impl Inner {
    fn tid(&self) -> &str {
        &self.client.target().tid
    }

    fn emit(&self, e: TerminalEvent) {
        if let Some(tx) = &self.events {
            let _ = tx.send(EventMsg::Event(e));
        }
    }

    /// Wait (bounded) until the events emitted so far have been delivered.
    fn flush_events(&self) {
        if let Some(tx) = &self.events {
            let (done, wait) = mpsc::channel();
            if tx.send(EventMsg::Flush(done)).is_ok() {
                let _ = wait.recv_timeout(EVENT_FLUSH_WAIT);
            }
        }
    }

    fn record(&self, reference: &str, task_id: &str) {
        self.by_reference
            .lock()
            .insert(reference.to_string(), task_id.to_string());
        self.unresolved.lock().remove(reference);
        *self.last_reference.lock() = Some(reference.to_string());
    }

    /// `GET /v1/tasks/{id}`.
    async fn read_task(&self, id: &str) -> Result<Task, PayError> {
        let op = Op::GetTask { id: id.to_string() };
        let reply = self
            .client
            .call(&op)
            .await
            .map_err(CallError::into_pay_error)?;
        if !reply.is_success() {
            return Err(api::api_error(reply.http, &reply.body).to_pay_error(op.name()));
        }
        api::parse_task(&reply.body)
            .map_err(|e| PayError::Protocol(format!("GP tom task {id}: {e}")))
    }

    /// `GET /v1/tasks?tid=`.
    async fn list(&self) -> Result<Vec<Task>, PayError> {
        let reply = self
            .client
            .call(&Op::ListTasks)
            .await
            .map_err(CallError::into_pay_error)?;
        if !reply.is_success() {
            return Err(api::api_error(reply.http, &reply.body).to_pay_error(Op::ListTasks.name()));
        }
        api::parse_task_list(&reply.body)
            .map_err(|e| PayError::Protocol(format!("GP tom task list: {e}")))
    }

    /// Search the TID's tasks for a lost create. Ok(None): listed, not there; Err: the list
    /// could not be read.
    async fn lookup(&self, expect: &Expect) -> Result<Option<Task>, String> {
        let skip: Vec<String> = self.by_reference.lock().values().cloned().collect();
        let mut last = Ok(None);
        for attempt in 0..self.timing.lookup_attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(self.timing.poll_first).await;
            }
            match self.list().await {
                Ok(tasks) => {
                    if let Some(t) = api::find_task(&tasks, expect, &skip) {
                        return Ok(Some(t.clone()));
                    }
                    last = Ok(None);
                }
                Err(e) => last = Err(e.to_string()),
            }
        }
        last
    }

    /// Create the task; a lost answer is resolved by the lookup, never by a second create.
    async fn create(&self, op: &Op, expect: &Expect, track: &Track) -> Result<Task, PayError> {
        // The journal's `sent`, before the create leaves (an error: do not send).
        track.sent("")?;
        let why = match self.client.call(op).await {
            Ok(reply) if reply.is_success() => match api::parse_task(&reply.body) {
                Ok(t) => {
                    self.record(&expect.reference, &t.id);
                    track.set_handle(&format!("{TASK_HANDLE}{}", t.id));
                    return Ok(t);
                }
                Err(e) => format!("the answer to {} is unreadable ({e})", op.name()),
            },
            Ok(reply) if reply.http >= 500 => format!(
                "{} answered {}",
                op.name(),
                api::api_error(reply.http, &reply.body)
            ),
            Ok(reply) => {
                return Err(api::api_error(reply.http, &reply.body).to_pay_error(op.name()))
            }
            Err(CallError::Login(e)) => return Err(e),
            Err(CallError::Network {
                sent: false,
                detail,
            }) => return Err(PayError::Unreachable(detail)),
            Err(CallError::Network { sent: true, detail }) => detail,
        };
        self.resolve_lost(expect, &why, track).await
    }

    /// After a lost create: the task from the list, or an unknown outcome.
    async fn resolve_lost(
        &self,
        expect: &Expect,
        why: &str,
        track: &Track,
    ) -> Result<Task, PayError> {
        match self.lookup(expect).await {
            Ok(Some(t)) => {
                self.record(&expect.reference, &t.id);
                track.set_handle(&format!("{TASK_HANDLE}{}", t.id));
                Ok(t)
            }
            Ok(None) => {
                self.unresolved.lock().insert(expect.reference.clone());
                Err(unknown(
                    "task",
                    &expect.reference,
                    &format!(
                        "{why}, and TID {}'s task list has no task with this reference (yet); \
                         it was not sent again",
                        self.tid()
                    ),
                ))
            }
            Err(e) => {
                self.unresolved.lock().insert(expect.reference.clone());
                Err(unknown(
                    "task",
                    &expect.reference,
                    &format!("{why}, and the task list could not be read ({e})"),
                ))
            }
        }
    }

    /// Read the task until it is finished (or the limits end the wait).
    async fn follow(&self, first: Task, reference: &str) -> Result<Task, PayError> {
        let mut poll = Poll::new(self.timing, Instant::now());
        let id = first.id.clone();
        let mut task = first;
        let mut shown: Option<TaskState> = None;
        let mut last_error: Option<String> = None;
        loop {
            if shown.as_ref() != Some(&task.state) {
                self.emit(TerminalEvent::Notification {
                    event: "task".into(),
                    details: Some(format!("{} {}", task.state.name(), id)),
                });
                shown = Some(task.state.clone());
            }
            match poll.step(&task.state, Instant::now()) {
                PollStep::Done => return Ok(task),
                PollStep::Wait(d) => tokio::time::sleep(d).await,
                PollStep::GiveUp(why) => {
                    let last = last_error
                        .map(|e| format!(" (last read: {e})"))
                        .unwrap_or_default();
                    return Err(unknown(
                        &format!("task {id}"),
                        reference,
                        &format!("{why}{last}"),
                    ));
                }
            }
            let op = Op::GetTask { id: id.clone() };
            match self.client.call(&op).await {
                Ok(r) if r.is_success() => match api::parse_task(&r.body) {
                    Ok(t) => {
                        task = t;
                        last_error = None;
                    }
                    Err(e) => last_error = Some(e),
                },
                Ok(r) if r.http == api::assumptions::HTTP_NOT_FOUND => {
                    return Err(unknown(
                        &format!("task {id}"),
                        reference,
                        "the cloud no longer knows the task (HTTP 404)",
                    ))
                }
                Ok(r) => last_error = Some(api::api_error(r.http, &r.body).to_string()),
                Err(CallError::Login(e)) => {
                    return Err(unknown(
                        &format!("task {id}"),
                        reference,
                        &format!("the task cannot be read: {e}"),
                    ))
                }
                Err(CallError::Network { detail, .. }) => last_error = Some(detail),
            }
        }
    }

    /// Create (or find again) and follow a transaction task.
    async fn run_task(&self, task: TransactionTask, track: &Track) -> Result<Task, PayError> {
        let expect = Expect {
            reference: task.reference.clone(),
            tx_type: task.tx_type,
            amount: task.amount,
        };
        let known = self.by_reference.lock().get(&expect.reference).cloned();
        let first = if let Some(id) = known {
            // Created by an earlier call of this process: follow it, never create a second.
            self.read_task(&id).await.map_err(|e| {
                unknown(
                    &format!("task {id}"),
                    &expect.reference,
                    &format!("the task cannot be read: {e}"),
                )
            })?
        } else if self.unresolved.lock().contains(&expect.reference) {
            // An earlier create's answer was lost and its task not found: look once more
            // before creating (the caller asked again with the same reference).
            match self.lookup(&expect).await {
                Ok(Some(t)) => {
                    self.record(&expect.reference, &t.id);
                    t
                }
                Ok(None) => {
                    self.create(&Op::CreateTransaction(task), &expect, track)
                        .await?
                }
                Err(e) => {
                    return Err(unknown(
                        "task",
                        &expect.reference,
                        &format!(
                            "an earlier attempt's answer was lost and the task list cannot be \
                             read ({e}); nothing was sent"
                        ),
                    ))
                }
            }
        } else {
            self.create(&Op::CreateTransaction(task), &expect, track)
                .await?
        };
        if !track.was_sent() {
            // Followed a task created earlier in this process: it left then.
            track.sent(&format!("{TASK_HANDLE}{}", first.id))?;
        }
        track.set_handle(&format!("{TASK_HANDLE}{}", first.id));
        self.follow(first, &expect.reference).await
    }

    async fn pay(
        &self,
        kind: TxKind,
        r: &PaymentRequest,
        track: &Track,
    ) -> Result<PaymentResult, PayError> {
        api::check_reference(&r.reference)?;
        let _one = self.money.lock().await;
        let tx_type = if kind == TxKind::Refund {
            TxType::Refund
        } else {
            TxType::Sale
        };
        let task = self
            .run_task(
                TransactionTask {
                    tx_type,
                    amount: Some(r.amount),
                    currency: Some(r.currency.clone()),
                    reference: r.reference.clone(),
                    origin_transaction_id: None,
                },
                track,
            )
            .await?;
        let result = api::payment_result(&task, kind, &r.reference, Some((r.amount, &r.currency)))?;
        if result.approved {
            *self.last_approved.lock() = Some(task);
        }
        Ok(result)
    }

    /// A reference for a cancellation: `V` and the milliseconds (14 characters), unique in
    /// this process.
    fn void_reference(&self) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let mut prev = self.last_void_ref.load(Ordering::Relaxed);
        loop {
            let next = now.max(prev + 1);
            match self.last_void_ref.compare_exchange(
                prev,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return format!("V{next}"),
                Err(p) => prev = p,
            }
        }
    }

    async fn reverse_last(
        &self,
        original: Option<PaymentResult>,
        track: &Track,
    ) -> Result<PaymentResult, PayError> {
        let _one = self.money.lock().await;
        let from_journal = original.and_then(|o| {
            // The journal's result of the sale: its transaction id is the cancel key.
            Some(api::SaleRecord {
                task_id: String::new(),
                cancel_key: o.transaction_id.clone()?,
                tid: Some(self.tid().to_string()),
                when: o.timestamp.as_deref().and_then(api::parse_time),
                amount: o.amount,
                currency: o.currency.clone(),
            })
        });
        let sale = match from_journal {
            Some(s) => s,
            None => {
                let known = self.last_approved.lock().clone();
                let last = match known {
                    Some(t) => t,
                    // Not from this process: the TID's newest approved transaction in the
                    // cloud.
                    None => api::last_approved(&self.list().await?)
                        .cloned()
                        .ok_or_else(|| PayError::Refused {
                            condition: "NotFound".into(),
                            text: format!(
                                "GP tom lists no approved transaction on TID {}",
                                self.tid()
                            ),
                        })?,
                };
                api::sale_record(&last)?
            }
        };
        api::check_cancellable(&sale, self.tid(), chrono::Utc::now())?;
        let reference = self.void_reference();
        let task = self
            .run_task(
                TransactionTask {
                    tx_type: TxType::Void,
                    amount: None,
                    currency: None,
                    reference: reference.clone(),
                    origin_transaction_id: Some(sale.cancel_key.clone()),
                },
                track,
            )
            .await?;
        let result = api::payment_result(
            &task,
            TxKind::Reversal,
            &reference,
            Some((sale.amount, &sale.currency)),
        )?;
        if result.approved {
            // The cancellation is now the last approved transaction: nothing left to reverse.
            *self.last_approved.lock() = Some(task);
        }
        Ok(result)
    }

    async fn status(&self, reference: Option<String>) -> Result<PaymentResult, PayError> {
        let reference = reference.or_else(|| self.last_reference.lock().clone());
        let known = reference
            .as_ref()
            .and_then(|r| self.by_reference.lock().get(r).cloned());
        let id = match (known, &reference) {
            (Some(id), _) => id,
            (None, Some(r)) => api::find_by_reference(&self.list().await?, r)
                .map(|t| t.id.clone())
                .ok_or_else(|| PayError::Refused {
                    condition: "NotFound".into(),
                    text: format!(
                        "GP tom lists no task with reference {r:?} on TID {}",
                        self.tid()
                    ),
                })?,
            (None, None) => api::newest_transaction(&self.list().await?)
                .map(|t| t.id.clone())
                .ok_or_else(|| PayError::Refused {
                    condition: "NotFound".into(),
                    text: format!("GP tom lists no transaction task on TID {}", self.tid()),
                })?,
        };
        let task = self.read_task(&id).await?;
        let kind = task.tx_type().map_or(TxKind::Payment, TxType::kind);
        api::payment_result(&task, kind, reference.as_deref().unwrap_or(""), None)
    }

    /// Ask the cloud about a task the journal has without an answer: the task detail when
    /// the journal kept its id, else the TID's task list by reference. Never creates a task.
    async fn reconcile(&self, op: &Unfinished) -> Reconciled {
        let _one = self.money.lock().await;
        let id = op
            .handle
            .as_deref()
            .and_then(|h| h.strip_prefix(TASK_HANDLE))
            .map(str::to_string);
        let task = match id {
            Some(id) => match self.read_task(&id).await {
                Ok(t) => t,
                Err(e) => {
                    return Reconciled::Unknown(format!("GP tom task {id} cannot be read: {e}"))
                }
            },
            None if op.kind == TxKind::Reversal => {
                return Reconciled::Unknown(
                    "a GP tom cancellation without its task id: check the terminal's last                      transactions"
                        .into(),
                )
            }
            None => {
                let expect = Expect {
                    reference: op.reference.clone(),
                    tx_type: if op.kind == TxKind::Refund {
                        TxType::Refund
                    } else {
                        TxType::Sale
                    },
                    amount: Some(op.amount),
                };
                match self.list().await {
                    Ok(tasks) => match api::find_task(&tasks, &expect, &[]) {
                        Some(t) => t.clone(),
                        None => {
                            return Reconciled::NotSent(format!(
                                "TID {}'s task list has no task with reference {:?}: it never                                  reached GP tom (not charged)",
                                self.tid(),
                                op.reference
                            ))
                        }
                    },
                    Err(e) => {
                        return Reconciled::Unknown(format!(
                            "TID {}'s task list cannot be read: {e}",
                            self.tid()
                        ))
                    }
                }
            }
        };
        let handle = format!("{TASK_HANDLE}{}", task.id);
        self.record(&op.reference, &task.id);
        if !task.state.is_terminal() {
            return Reconciled::Unknown(crate::pay::journal::with_handle(
                &format!("GP tom task {} is still {}", task.id, task.state.name()),
                Some(&handle),
            ));
        }
        match api::payment_result(
            &task,
            op.kind,
            &op.reference,
            Some((op.amount, &op.currency)),
        ) {
            Ok(r) => Reconciled::Answered(r),
            Err(e) => Reconciled::Unknown(crate::pay::journal::with_handle(
                &format!("GP tom task {}: {e}", task.id),
                Some(&handle),
            )),
        }
    }

    async fn batch_close(&self) -> Result<String, PayError> {
        let _one = self.money.lock().await;
        let op = Op::CreateBatch;
        let lost = |why: String| {
            PayError::OutcomeUnknown(format!(
                "GP tom batch close: {why}; it was not sent again — check the batch on the \
                 terminal before closing it again"
            ))
        };
        let first = match self.client.call(&op).await {
            Ok(r) if r.is_success() => api::parse_task(&r.body)
                .map_err(|e| lost(format!("the answer is unreadable ({e})")))?,
            Ok(r) if r.http >= 500 => {
                return Err(lost(format!(
                    "answered {}",
                    api::api_error(r.http, &r.body)
                )))
            }
            Ok(r) => return Err(api::api_error(r.http, &r.body).to_pay_error(op.name())),
            Err(CallError::Login(e)) => return Err(e),
            Err(CallError::Network {
                sent: false,
                detail,
            }) => return Err(PayError::Unreachable(detail)),
            Err(CallError::Network { sent: true, detail }) => return Err(lost(detail)),
        };
        let task = self.follow(first, "batch").await?;
        match &task.state {
            TaskState::Completed => Ok(task.raw),
            s => Err(PayError::Refused {
                condition: s.name(),
                text: format!(
                    "the batch close ended {}{}",
                    s.name(),
                    task.error.map(|e| format!(" ({e})")).unwrap_or_default()
                ),
            }),
        }
    }
}

impl GptomBackend {
    /// Start the runtime. No request is sent before the first call.
    pub fn start(s: GptomSettings) -> Result<GptomBackend, PayError> {
        s.config.check().map_err(PayError::Config)?;
        let rt = BackendRuntime::new("okc-gptom")
            .map_err(|e| PayError::Config(format!("cannot start the GP tom runtime: {e}")))?;
        let timing = s.config.timing;
        let client = Client::new(s.target, s.config).map_err(PayError::Config)?;
        let events = match s.events {
            Some(cb) => {
                let (tx, rx) = mpsc::channel::<EventMsg>();
                std::thread::Builder::new()
                    .name("okc-pay-events".into())
                    .spawn(move || {
                        for m in rx {
                            match m {
                                EventMsg::Event(e) => {
                                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
                                        || cb(&e),
                                    ));
                                }
                                EventMsg::Flush(done) => {
                                    let _ = done.send(());
                                }
                            }
                        }
                    })
                    .map_err(|e| PayError::Config(format!("cannot start a thread: {e}")))?;
                Some(tx)
            }
            None => None,
        };
        Ok(GptomBackend {
            inner: Arc::new(Inner {
                client,
                timing,
                money: tokio::sync::Mutex::new(()),
                by_reference: Mutex::new(HashMap::new()),
                last_reference: Mutex::new(None),
                unresolved: Mutex::new(HashSet::new()),
                last_approved: Mutex::new(None),
                last_void_ref: AtomicU64::new(0),
                events,
            }),
            rt,
        })
    }

    /// Run `fut` on the runtime and wait for it (every request has its own HTTP timeout and
    /// polling its limits), then for its events to reach the callback (events, then the
    /// result: `okc pay --json` prints them in that order).
    fn run<T: Send + 'static>(
        &self,
        fut: impl std::future::Future<Output = Result<T, PayError>> + Send + 'static,
    ) -> Result<T, PayError> {
        let r = self.rt.run(fut, None).unwrap_or(Err(PayError::Closed));
        self.inner.flush_events();
        r
    }
}

impl PaymentBackend for GptomBackend {
    fn pay(&self, kind: TxKind, req: &PaymentRequest) -> Result<PaymentResult, PayError> {
        self.pay_tracked(kind, req, &Track::none())
    }

    fn pay_tracked(
        &self,
        kind: TxKind,
        req: &PaymentRequest,
        track: &Track,
    ) -> Result<PaymentResult, PayError> {
        let inner = self.inner.clone();
        let (req, track) = (req.clone(), track.clone());
        self.run(async move { inner.pay(kind, &req, &track).await })
    }

    fn reverse_last(&self) -> Result<PaymentResult, PayError> {
        self.reverse_tracked(None, &Track::none())
    }

    fn reverse_tracked(
        &self,
        original: Option<&PaymentResult>,
        track: &Track,
    ) -> Result<PaymentResult, PayError> {
        let inner = self.inner.clone();
        let (original, track) = (original.cloned(), track.clone());
        self.run(async move { inner.reverse_last(original, &track).await })
    }

    fn scope(&self) -> String {
        self.inner.tid().to_string()
    }

    fn reconcile(&self, op: &Unfinished) -> Reconciled {
        let inner = self.inner.clone();
        let op = op.clone();
        self.run(async move { Ok(inner.reconcile(&op).await) })
            .unwrap_or_else(|e| Reconciled::Unknown(e.to_string()))
    }

    fn abort(&self) -> Result<(), PayError> {
        Err(PayError::Unsupported(
            "GP tom's Cloud API has no call to cancel a task; cancel it on the terminal (the \
             task then ends CANCELLED and the payment returns declined)"
                .into(),
        ))
    }

    fn status(&self, reference: Option<&str>) -> Result<PaymentResult, PayError> {
        let inner = self.inner.clone();
        let reference = reference.map(str::to_string);
        self.run(async move { inner.status(reference).await })
    }

    fn batch_close(&self) -> Result<String, PayError> {
        let inner = self.inner.clone();
        self.run(async move { inner.batch_close().await })
    }

    fn login(&self) -> Result<(), PayError> {
        let inner = self.inner.clone();
        self.run(async move { inner.client.login().await })
    }

    fn logout(&self, _maintenance_allowed: bool) -> Result<(), PayError> {
        let inner = self.inner.clone();
        self.run(async move {
            inner.client.logout().await;
            Ok(())
        })
    }

    fn close(&self) {
        self.rt.shutdown(Duration::from_secs(2));
    }
}
