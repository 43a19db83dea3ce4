//! The GP tom Cloud API (Global Payments): a cloud that creates *tasks* for the GP tom
//! payment app on a card terminal (TID), which runs them one after another and reports the
//! result back. The simulator serves the cloud's token and task endpoints over plain HTTP,
//! runs one simulated device per TID (a FIFO queue, automatic or assisted mode, scriptable
//! outcomes and latency), keeps a request log and switchable faults. Every guess is in
//! [`assumptions`].
//!
//! # Wire behaviour
//!
//! | Method + path | Auth | OK |
//! |---|---|---|
//! | `POST /cloud/oauth/token` (also `/api/oauth/token`), form `grant_type=password&username&password[&tid]` or `grant_type=refresh_token&refresh_token` | `Basic` = the client value | 200 `{access_token, token_type: "bearer", refresh_token, expires_in, scope: "read write", tid}` |
//! | `POST /v1/tasks/TRANSACTION` (JSON) | `Bearer` | 201 task detail |
//! | `POST /v1/tasks/BATCH` (JSON, `{}` or empty allowed) | `Bearer` | 201 task detail |
//! | `GET /v1/tasks/{id}` | `Bearer` | 200 task detail |
//! | `GET /v1/tasks?tid=` | `Bearer` | 200 JSON array of task details, newest first |
//!
//! A login with `tid` gives a token bound to that TID; without `tid`, a master-account
//! token (`tid: null`) that must name the TID of every task (body `tid` or query `?tid=`).
//! By default any username / password is accepted ([`GptomConfig::accept_any`]); with
//! [`GptomConfig::accounts`] only those (an account with a TID logs in to that TID only).
//!
//! Token errors are Spring-OAuth2 style `{"error", "error_description"}`: wrong Basic 401
//! `unauthorized`; bad password 400 `invalid_grant`; unknown / revoked refresh token 401
//! `invalid_token`; expired or unknown bearer 401 `invalid_token`; no bearer 401.
//! API errors are `{"code", "message"}`: 400 (`INVALID_REQUEST`, `VALIDATION_ERROR`,
//! `INVALID_AMOUNT`, `INVALID_REFERENCE`, `TID_REQUIRED`, `UNSUPPORTED_TASK_TYPE`), 403
//! `TID_NOT_OWNED`, 404 (`TASK_NOT_FOUND`, `TRANSACTION_NOT_FOUND`, `NOT_FOUND`), 422
//! (`CROSS_TID_CANCEL`, `CANCEL_PERIOD_EXPIRED`, `TRANSACTION_NOT_CANCELLABLE`).
//!
//! ## Transaction request (`CreateCloudTaskTransactionApiRequest`, spec §4.1)
//!
//! `transactionType` "SALE" | "VOID" | "REFUND" (required); `amount` integer minor units > 0
//! (required for SALE and REFUND); `currencyCode` 3 letters (default the terminal's);
//! `originReferenceNum` ≤ 20 ASCII letters / digits / spaces; `printByPaymentApp` boolean;
//! `tipAmount` integer ≥ 0; `originTransactionID` (required for VOID: the sale's
//! `transactionID`, `externalTransactionID` or task id); `cancelMode` 1 | 2; `clientID`
//! string; `tid` (master accounts). A VOID must be on the sale's TID (422
//! `CROSS_TID_CANCEL`), within 93 days (422 `CANCEL_PERIOD_EXPIRED`), of an approved, not
//! yet voided SALE (422 `TRANSACTION_NOT_CANCELLABLE`; unknown: 404). Client references
//! are not deduplicated.
//!
//! ## Task detail (`CloudTaskDetailApiResponse`, spec §4.3)
//!
//! `{id, type: "TRANSACTION"|"BATCH", tid, state, created, updated, request (the body as
//! posted), error, transaction}` (+ `batch` for BATCH tasks). `error` and `transaction` are
//! `null` until the device sets them.
//!
//! # The device (one per TID)
//!
//! A task is CREATED by the cloud and delivered to its TID's device (QUEUED) at once while
//! the device is online. In automatic mode the device runs its queued tasks in creation
//! order (FIFO), one at a time; in assisted mode a task waits for the user's tap
//! ([`GptomSim::tap`]; tapped tasks run in tap order). A running task is IN_PROGRESS for
//! [`GptomConfig::task_time`], then ends per the [`TaskOutcome`] in force when it started:
//! approved (COMPLETED, `transaction.result` 0 with card data), declined (COMPLETED,
//! `result` ≠ 0), cancelled by the user (CANCELLED), app error (FAILED with `error.code`),
//! offline (nothing is delivered: tasks stay CREATED), stuck (IN_PROGRESS until
//! [`GptomSim::finish`], and the device takes nothing else meanwhile). Every completed
//! transaction carries its TID's current `batchNumber`; an approved BATCH task closes it
//! (`batch: {result, batchNumber, newBatchNumber, transactionCount}`) and the next one opens.
//!
//! # Control API over HTTP (for `okc sim-terminal --gptom`)
//!
//! Under `/_sim/`, without authentication, not written to the request log:
//! - `POST /_sim/tasks/{id}/tap`, `POST /_sim/tasks/{id}/finish?outcome=approve|decline|cancel|fail`,
//!   `POST /_sim/transactions/{id}/age?days=N` → `{"ok": true|false}`;
//! - `POST /_sim/config?mode=automatic|assisted&outcome=…&task_ms=N&token_ttl_s=N` → the
//!   settings in force; `GET /_sim/config` reads them;
//! - `POST /_sim/tokens/expire` (every access token issued so far expires),
//!   `POST /_sim/tokens/revoke-refresh` (every refresh token issued so far is revoked);
//! - `POST /_sim/faults?create_5xx=N&create_5xx_after_create=N&create_drop_after_create=N&slow_auth_ms=N&device_offline=BOOL&sic_transaction_id=BOOL`
//!   (the named ones change), `POST /_sim/faults/clear`, `GET /_sim/faults`;
//! - `GET /_sim/requests`, `GET /_sim/tasks`, `GET /_sim/transactions` → JSON arrays.

mod api;
pub mod assumptions;
mod engine;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use crate::killable::HttpServer;

/// How the device starts its tasks (spec §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskMode {
    /// A customer-facing device: a task runs as soon as the device is idle.
    Automatic,
    /// A task waits until the user taps it ([`GptomSim::tap`]).
    Assisted,
}

/// What the device does with the tasks it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskOutcome {
    /// The card is approved: COMPLETED, `transaction.result` 0.
    Approve,
    /// The card is declined: COMPLETED, `transaction.result` ≠ 0.
    Decline,
    /// The user cancels the task on the device: CANCELLED.
    Cancel,
    /// The payment app fails: FAILED with `error.code`.
    Fail,
    /// The device is offline: tasks are not delivered (they stay CREATED).
    Offline,
    /// The app hangs: the task stays IN_PROGRESS (until [`GptomSim::finish`]).
    Stuck,
}

impl TaskOutcome {
    /// The name used on the command line and in the control API.
    pub fn name(self) -> &'static str {
        match self {
            TaskOutcome::Approve => "approve",
            TaskOutcome::Decline => "decline",
            TaskOutcome::Cancel => "cancel",
            TaskOutcome::Fail => "fail",
            TaskOutcome::Offline => "offline",
            TaskOutcome::Stuck => "stuck",
        }
    }

    /// Parse [`TaskOutcome::name`].
    pub fn parse(s: &str) -> Option<TaskOutcome> {
        [
            TaskOutcome::Approve,
            TaskOutcome::Decline,
            TaskOutcome::Cancel,
            TaskOutcome::Fail,
            TaskOutcome::Offline,
            TaskOutcome::Stuck,
        ]
        .into_iter()
        .find(|o| o.name() == s)
    }
}

impl TaskMode {
    pub fn name(self) -> &'static str {
        match self {
            TaskMode::Automatic => "automatic",
            TaskMode::Assisted => "assisted",
        }
    }

    pub fn parse(s: &str) -> Option<TaskMode> {
        match s {
            "automatic" => Some(TaskMode::Automatic),
            "assisted" => Some(TaskMode::Assisted),
            _ => None,
        }
    }
}

/// Task life cycle (names: [`assumptions`]`::STATE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Accepted by the cloud, not yet on the device (it is offline).
    Created,
    /// On the device, waiting for its turn or the user's tap.
    Queued,
    InProgress,
    Completed,
    Cancelled,
    Failed,
}

impl TaskState {
    /// The wire name (`"QUEUED"`, …).
    pub fn as_str(self) -> &'static str {
        use assumptions as a;
        match self {
            TaskState::Created => a::STATE_CREATED,
            TaskState::Queued => a::STATE_QUEUED,
            TaskState::InProgress => a::STATE_IN_PROGRESS,
            TaskState::Completed => a::STATE_COMPLETED,
            TaskState::Cancelled => a::STATE_CANCELLED,
            TaskState::Failed => a::STATE_FAILED,
        }
    }

    /// COMPLETED, CANCELLED or FAILED.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Completed | TaskState::Cancelled | TaskState::Failed
        )
    }
}

/// The task types of `POST /v1/tasks/{TYPE}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    Transaction,
    Batch,
}

/// A GP tom login. `tid: None` = a master account: logging in without `tid` gives a
/// master token, with `tid` a token for that TID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptomAccount {
    pub username: String,
    pub password: String,
    pub tid: Option<String>,
}

/// Fault switches, changeable at run time ([`GptomSim::set_faults`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GptomFaults {
    /// The next N task creations answer 500 and create nothing.
    pub create_5xx: u32,
    /// The next N task creations create the task (it runs) but answer 500.
    pub create_5xx_after_create: u32,
    /// The next N task creations create the task (it runs) and close the connection
    /// without an answer.
    pub create_drop_after_create: u32,
    /// Delay before the token endpoint answers.
    pub slow_auth: Duration,
    /// Every device is offline: tasks stay CREATED until it is back.
    pub device_offline: bool,
    /// `transaction` carries the id as `trasanctionID` (sic, app2app's spelling).
    pub sic_transaction_id: bool,
}

/// Simulator configuration; [`Default`] accepts any login, runs tasks automatically and
/// approves them after 2 s.
#[derive(Debug, Clone)]
pub struct GptomConfig {
    /// The accepted Basic credential (after "Basic "); default [`assumptions::CLIENT_BASIC`].
    pub client_basic: String,
    /// Accept any username / password (the token is bound to the `tid` given). When
    /// `false`, only [`GptomConfig::accounts`] log in.
    pub accept_any: bool,
    pub accounts: Vec<GptomAccount>,
    /// Access token lifetime (`expires_in`).
    pub token_ttl: Duration,
    pub mode: TaskMode,
    pub outcome: TaskOutcome,
    /// Time a task is IN_PROGRESS on the device before its outcome.
    pub task_time: Duration,
    /// `transaction.merchantID`.
    pub merchant_id: String,
    /// `currencyCode` of requests that carry none.
    pub currency: String,
    /// Batch number every TID starts with.
    pub first_batch_number: u32,
    pub faults: GptomFaults,
}

impl Default for GptomConfig {
    fn default() -> Self {
        use assumptions as a;
        GptomConfig {
            client_basic: a::CLIENT_BASIC.to_string(),
            accept_any: true,
            accounts: Vec::new(),
            token_ttl: a::TOKEN_TTL,
            mode: TaskMode::Automatic,
            outcome: TaskOutcome::Approve,
            task_time: a::TASK_TIME,
            merchant_id: a::MERCHANT_ID.to_string(),
            currency: a::DEFAULT_CURRENCY.to_string(),
            first_batch_number: a::FIRST_BATCH_NUMBER,
            faults: GptomFaults::default(),
        }
    }
}

/// One HTTP request the simulator answered (control API excluded).
#[derive(Debug, Clone)]
pub struct GptomRequest {
    pub method: String,
    pub path: String,
    /// Query string without `?` (empty when none).
    pub query: String,
    /// Headers, names in lower case, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The HTTP status; 0 = the connection was closed without an answer.
    pub http_status: u16,
    /// `code` (API errors) or `error` (token errors) of an error answer.
    pub error_code: Option<String>,
    pub at: Instant,
}

impl GptomRequest {
    /// The value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A task as the cloud holds it.
#[derive(Debug, Clone)]
pub struct GptomTask {
    pub id: String,
    pub kind: TaskKind,
    pub tid: String,
    pub state: TaskState,
    /// The create body as posted (`{}` for an empty BATCH body).
    pub request: Value,
    /// The device's transaction (COMPLETED transaction tasks).
    pub transaction: Option<Value>,
    /// The app's error (FAILED tasks).
    pub error: Option<Value>,
    /// The batch close result (COMPLETED BATCH tasks).
    pub batch: Option<Value>,
    pub created: SystemTime,
    pub updated: SystemTime,
    /// The user tapped it (assisted mode).
    pub tapped: bool,
    /// The outcome the device applied (once it finished or got stuck).
    pub outcome: Option<TaskOutcome>,
}

/// A transaction the device carried out (approved or declined).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptomTransaction {
    /// `transactionID`.
    pub id: String,
    pub external_id: String,
    pub task_id: String,
    pub tid: String,
    /// "SALE", "VOID" or "REFUND".
    pub kind: String,
    pub amount: i64,
    pub tip_amount: i64,
    pub currency: String,
    /// `transaction.result` (0 = approved).
    pub result: i64,
    pub batch_number: u32,
    pub reference: Option<String>,
    /// VOID: the original's `transactionID`.
    pub origin_id: Option<String>,
    /// Transaction id of the VOID that cancelled this sale.
    pub voided_by: Option<String>,
    /// When it happened ([`GptomSim::age_transaction`] moves it back).
    pub at: SystemTime,
}

impl GptomTransaction {
    pub fn approved(&self) -> bool {
        self.result == assumptions::RESULT_APPROVED
    }
}

pub(crate) struct Shared {
    pub(crate) state: parking_lot::Mutex<engine::State>,
    pub(crate) secret: Vec<u8>,
    pub(crate) started: Instant,
    pub(crate) rt: tokio::runtime::Handle,
}

/// A running GP tom cloud simulator (own tokio runtime, two worker threads). Dropping it
/// stops it.
pub struct GptomSim {
    shared: Arc<Shared>,
    server: HttpServer,
}

impl GptomSim {
    /// Bind `listen` ("127.0.0.1:0" = any free port) and serve; returns once bound.
    pub fn start(config: GptomConfig, listen: &str) -> std::io::Result<GptomSim> {
        let (server, shared) = HttpServer::start(listen, "okc-gptom-sim", |_, rt| {
            let shared = Arc::new(Shared {
                state: parking_lot::Mutex::new(engine::State::new(config)),
                secret: uuid::Uuid::new_v4().as_bytes().to_vec(),
                started: Instant::now(),
                rt: rt.clone(),
            });
            Ok((shared.clone(), api::router(shared)))
        })?;
        Ok(GptomSim { shared, server })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://ADDR` (the cloud host; no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The okclink terminal URL of TID `tid`: `gptom+http://ADDR?tid=TID`.
    pub fn terminal_url(&self, tid: &str) -> String {
        format!("gptom+http://{}?tid={tid}", self.addr())
    }

    /// Every request answered so far (control API excluded), oldest first.
    pub fn requests(&self) -> Vec<GptomRequest> {
        self.shared.state.lock().requests.clone()
    }

    /// Requests with this method (any when empty) whose path starts with `path_prefix`.
    pub fn requests_to(&self, method: &str, path_prefix: &str) -> Vec<GptomRequest> {
        self.requests()
            .into_iter()
            .filter(|r| {
                (method.is_empty() || r.method.eq_ignore_ascii_case(method))
                    && r.path.starts_with(path_prefix)
            })
            .collect()
    }

    /// Every task so far, in creation order.
    pub fn tasks(&self) -> Vec<GptomTask> {
        self.shared.state.lock().tasks()
    }

    pub fn task(&self, id: &str) -> Option<GptomTask> {
        self.shared.state.lock().task(id).cloned()
    }

    /// The task detail JSON as `GET /v1/tasks/{id}` answers it.
    pub fn task_json(&self, id: &str) -> Option<Value> {
        let st = self.shared.state.lock();
        st.find(id).map(|i| st.detail_json(i))
    }

    /// Every transaction so far, oldest first.
    pub fn transactions(&self) -> Vec<GptomTransaction> {
        self.shared.state.lock().transactions.clone()
    }

    /// The open batch number of `tid`.
    pub fn batch_number(&self, tid: &str) -> u32 {
        self.shared.state.lock().batch_number(tid)
    }

    pub fn mode(&self) -> TaskMode {
        self.shared.state.lock().mode
    }

    pub fn set_mode(&self, m: TaskMode) {
        let mut st = self.shared.state.lock();
        st.mode = m;
        st.wake_all();
    }

    pub fn outcome(&self) -> TaskOutcome {
        self.shared.state.lock().outcome
    }

    /// The outcome of tasks the devices start from now on (Offline: nothing is delivered).
    pub fn set_outcome(&self, o: TaskOutcome) {
        let mut st = self.shared.state.lock();
        st.outcome = o;
        st.wake_all();
    }

    /// The IN_PROGRESS time of tasks started from now on.
    pub fn set_task_time(&self, d: Duration) {
        self.shared.state.lock().task_time = d;
    }

    /// `expires_in` of tokens issued from now on.
    pub fn set_token_ttl(&self, d: Duration) {
        self.shared.state.lock().token_ttl = d;
    }

    pub fn faults(&self) -> GptomFaults {
        self.shared.state.lock().faults.clone()
    }

    pub fn set_faults(&self, f: GptomFaults) {
        let mut st = self.shared.state.lock();
        st.faults = f;
        st.wake_all();
    }

    /// The user taps the queued task on the device (assisted mode; in automatic mode it
    /// jumps the queue). `false` when the task is not QUEUED.
    pub fn tap(&self, task_id: &str) -> bool {
        self.shared.state.lock().tap(task_id)
    }

    /// The device ends the task now with `outcome` (Approve, Decline, Cancel or Fail),
    /// whatever its state short of a terminal one — e.g. a stuck task recovers. `false`
    /// when the task is unknown or finished, or for Offline / Stuck.
    pub fn finish(&self, task_id: &str, outcome: TaskOutcome) -> bool {
        self.shared.state.lock().finish(task_id, outcome)
    }

    /// Move a transaction (by `transactionID`, `externalTransactionID` or its task id)
    /// `days` days into the past, its task's times with it. `false` when unknown.
    pub fn age_transaction(&self, id: &str, days: u32) -> bool {
        self.shared.state.lock().age(id, days)
    }

    /// Every access token issued so far is expired from now on (401 on API calls).
    pub fn expire_tokens(&self) {
        self.shared.state.lock().expire_tokens();
    }

    /// Every refresh token issued so far is revoked (a refresh fails: log in again).
    pub fn revoke_refresh_tokens(&self) {
        self.shared.state.lock().revoke_refresh_tokens();
    }

    /// Stop serving; the port is free when this returns (also done on drop).
    pub fn stop(self) {}
}
