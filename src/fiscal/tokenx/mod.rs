//! The TokenX Connect cloud back end: the same `sendBasket` / sale info / fiscal info API,
//! served by Token's cloud instead of a cable (`OKC_TRANSPORT=tokenx+https://HOST/BASE?
//! terminal-id=AV…`). The POS's code, callbacks and the C / vendor / .NET / Python / Delphi
//! layers do not change.
//!
//! | wired call | cloud |
//! |---|---|
//! | device state `(true, serial)` | authenticated and the terminal known (`GET /v1/terminal/{id}`); `(false, "")` when the cloud is unreachable |
//! | `sendBasket` | `POST /v1/instant-basket` (terminal-id), or `POST /v1/basket` (branch-id, list mode) |
//! | sale info, serialIn type 3 | the webhook `BASKET_COMPLETED`'s `data` (the wired shape), or a poll's `result.sale` — exactly once |
//! | `getFiscalInfo` | `GET /v1/fiscal-parameters`, mapped to the wired fiscal-info JSON |
//! | `sendPayment` | refused: the cloud takes payments inside the basket (`paymentItems`) |
//!
//! Exactly once: every basket carries a `basketID` (the caller's, or a fresh UUID v4 put
//! first in the JSON when it has none); a re-send answered 1007 means "already accepted".
//! After a timeout or a 5xx on the POST the back end asks `GET /v1/basket/{id}` before it
//! ever sends again (404 → never created → sent again with the same id; found → wait for its
//! result; asking fails too → "in doubt": `Timeout` to the caller and the basket is polled
//! until the cloud knows). Results come by webhook when a receiver is configured, else (or
//! when no webhook came within `poll_after`) by polling with back-off, one request per open
//! basket, 429 honoured. `api` holds the protocol as values, `tracker` the schedule and the
//! exactly-once filter, `client` the HTTP, `receiver` the webhook server.

pub mod api;
#[cfg(feature = "tokenx")]
pub(crate) mod client;
#[cfg(feature = "tokenx")]
mod receiver;
#[cfg(feature = "tokenx")]
mod tracker;

#[cfg(feature = "tokenx")]
pub use backend::{Cloud, TokenxBackend};
#[cfg(feature = "tokenx")]
pub use client::CallError;

#[cfg(feature = "tokenx")]
mod backend {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use parking_lot::{Condvar, Mutex};

    use super::api::{
        self, assumptions, basket_id_of, fiscal_info_from_parameters, parse_basket, with_basket_id,
        BasketView, Endpoints, Op, Operation, WebhookEvent,
    };
    use super::client::{CallError, Client};
    use super::receiver;
    use super::tracker::Tracker;
    use crate::config::{Config, LogLevel, TokenxTarget, TransportSpec};
    use crate::fiscal::dispatch::Dispatcher;
    use crate::fiscal::log::Logger;
    use crate::fiscal::{
        BackendContext, DataKind, FiscalBackend, HubError, Reconciled, SendOutcome,
    };
    use crate::runtime::{BackendRuntime, RunError};

    const COMPONENT: &str = "TokenX";
    /// How often a basket POST is sent again after the cloud said it never got it.
    const MAX_SENDS: usize = 3;

    struct Observed {
        connected: bool,
        /// Whether `(true, …)` was delivered (a loss then reports `(false, "")`).
        announced: bool,
        /// `disconnect` stopped the back end until `reconnect`.
        enabled: bool,
        closed: bool,
        last_fiscal: String,
    }

    struct Inner {
        client: Client,
        target: TokenxTarget,
        /// The device serial reported in `(true, serial)`: the terminal id (list mode: the
        /// branch id).
        serial: String,
        callback: Option<(String, String)>,
        log: Arc<Logger>,
        events: Arc<Dispatcher>,
        tracker: Mutex<Tracker>,
        observed: Mutex<Observed>,
        observed_cond: Condvar,
        poll_wake: tokio::sync::Notify,
        state_wake: tokio::sync::Notify,
        registered: AtomicBool,
    }

    /// The cloud [`FiscalBackend`]: a small tokio runtime (one worker, `okc-tokenx`) runs the
    /// connection task, the poller and the webhook receiver; API calls from the POS's threads
    /// are handed to it and waited for.
    pub struct TokenxBackend {
        inner: Arc<Inner>,
        rt: BackendRuntime,
        stop: Arc<tokio::sync::Notify>,
    }

    impl Inner {
        fn logf(&self, level: LogLevel, msg: &str) {
            self.log.log(level, COMPONENT, msg);
        }

        /// Record and report a state change (once per change).
        fn set_connected(&self, up: bool) {
            let mut o = self.observed.lock();
            if o.closed {
                return;
            }
            if up && !o.enabled {
                return;
            }
            if o.connected == up {
                return;
            }
            o.connected = up;
            if up {
                o.announced = true;
                self.events.state(true, self.serial.clone());
                self.logf(
                    LogLevel::Info,
                    &format!("cloud terminal {} ready", self.serial),
                );
            } else if o.announced {
                o.announced = false;
                o.last_fiscal.clear();
                self.events.state(false, String::new());
                self.logf(LogLevel::Warn, "cloud terminal not reachable");
            }
            self.observed_cond.notify_all();
        }

        fn enabled(&self) -> bool {
            let o = self.observed.lock();
            o.enabled && !o.closed
        }

        /// A basket's result: delivered (serialIn type 3) the first time only.
        fn finish(&self, id: &str, sale: String, via: &str) {
            if self.tracker.lock().finish(id) {
                self.logf(
                    LogLevel::Info,
                    &format!("basket {id}: result by {via}, delivered"),
                );
                self.events.serial_in(3, sale);
            } else {
                self.logf(
                    LogLevel::Debug,
                    &format!("basket {id}: repeated result by {via}, not delivered again"),
                );
            }
        }

        /// Note a call's failure for the device state: the cloud is unreachable on network
        /// errors and server failures.
        fn note(&self, e: &CallError) {
            if matches!(e, CallError::Network { .. })
                || matches!(e, CallError::Api(a) if a.is_server())
            {
                self.set_connected(false);
                self.state_wake.notify_one();
            }
        }

        fn basket_op(&self, body: String) -> Op {
            match (&self.target.terminal_id, &self.target.branch_id) {
                (Some(t), _) => Op::AddInstantBasket {
                    terminal: t.clone(),
                    basket: body,
                },
                (None, Some(b)) => Op::AddBasket {
                    branch: b.clone(),
                    basket: body,
                },
                (None, None) => unreachable!("TokenxTarget always has one"),
            }
        }

        fn get_basket(&self, id: &str) -> Op {
            Op::GetBasket {
                id: id.to_string(),
                terminal: self.target.terminal_id.clone(),
            }
        }

        /// `sendBasket`, exactly once.
        async fn send_basket(self: Arc<Self>, json: String) -> Result<SendOutcome, HubError> {
            let (id, body) = match basket_id_of(&json) {
                Some(id) => (id, json),
                None => {
                    let id = uuid::Uuid::new_v4().to_string();
                    self.logf(
                        LogLevel::Info,
                        &format!("basket without basketID: sent as {id}"),
                    );
                    let b = with_basket_id(&json, &id);
                    (id, b)
                }
            };
            {
                let t = self.tracker.lock();
                if t.is_done(&id) {
                    self.logf(
                        LogLevel::Warn,
                        &format!("basket {id} is already finished; not sent again"),
                    );
                    return Ok(SendOutcome::Accepted);
                }
                if t.is_waiting(&id) && !t.is_in_doubt(&id) {
                    self.logf(
                        LogLevel::Warn,
                        &format!("basket {id} is already with the cloud; not sent again"),
                    );
                    return Ok(SendOutcome::Accepted);
                }
            }
            let op = self.basket_op(body);
            let mut last = None;
            for _ in 0..MAX_SENDS {
                let r = if self.tracker.lock().is_in_doubt(&id) {
                    // Unknown whether an earlier POST arrived: ask first.
                    Err(CallError::Network {
                        sent: true,
                        detail: "earlier attempt in doubt".into(),
                    })
                } else {
                    self.client.call(&op).await
                };
                match r {
                    Ok(_) => return Ok(self.accepted(&id, "accepted")),
                    Err(CallError::Api(e)) if e.is_duplicate() => {
                        return Ok(self.accepted(&id, "already accepted (1007)"))
                    }
                    Err(e) if !e.outcome_unknown() => {
                        self.note(&e);
                        self.tracker.lock().forget(&id);
                        self.logf(LogLevel::Warn, &format!("basket {id}: {e}"));
                        return Err(hub_error(e));
                    }
                    Err(e) => {
                        self.note(&e);
                        self.logf(
                            LogLevel::Warn,
                            &format!("basket {id}: {e}; asking the cloud before sending again"),
                        );
                        match self.client.call(&self.get_basket(&id)).await {
                            Ok(env) => {
                                if let Ok(BasketView::Finished { sale }) = parse_basket(&env.result)
                                {
                                    self.accepted(&id, "found finished");
                                    self.finish(&id, sale, "check");
                                    return Ok(SendOutcome::Accepted);
                                }
                                return Ok(self.accepted(&id, "found at the cloud"));
                            }
                            Err(CallError::Api(g)) if g.is_not_found() => {
                                self.tracker.lock().forget(&id);
                                self.logf(
                                    LogLevel::Info,
                                    &format!("basket {id}: not at the cloud; sending again with the same basketID"),
                                );
                                last = Some(e);
                            }
                            Err(g) => {
                                self.note(&g);
                                self.tracker.lock().in_doubt(&id, Instant::now());
                                self.poll_wake.notify_one();
                                self.logf(
                                    LogLevel::Warn,
                                    &format!("basket {id}: outcome unknown ({g}); it is asked about until the cloud answers and never sent again meanwhile"),
                                );
                                return Err(HubError::Timeout);
                            }
                        }
                    }
                }
            }
            Err(last.map(hub_error).unwrap_or(HubError::Timeout))
        }

        /// After a restart: what the cloud knows of a basket the journal left unfinished.
        /// Finished → its sale (the front records and delivers it; the tracker only notes
        /// it, so a late webhook is not delivered again); open → tracked (webhook / poll);
        /// unknown → never arrived.
        async fn reconcile(self: Arc<Self>, id: String) -> Result<Reconciled, HubError> {
            Ok(match self.client.call(&self.get_basket(&id)).await {
                Ok(env) => match parse_basket(&env.result) {
                    Ok(BasketView::Finished { sale }) => {
                        self.tracker.lock().finish(&id);
                        Reconciled::Finished(sale)
                    }
                    Ok(_) => {
                        self.accepted(&id, "open at the cloud after a restart; tracked again");
                        Reconciled::Pending
                    }
                    Err(e) => Reconciled::Unreachable(format!("unreadable basket: {e}")),
                },
                Err(CallError::Api(g)) if g.is_not_found() => Reconciled::NotThere,
                Err(g) => {
                    self.note(&g);
                    Reconciled::Unreachable(g.to_string())
                }
            })
        }

        fn accepted(&self, id: &str, how: &str) -> SendOutcome {
            self.tracker.lock().opened(id, Instant::now());
            self.poll_wake.notify_one();
            self.set_connected(true);
            self.logf(LogLevel::Info, &format!("basket {id}: {how}"));
            SendOutcome::Accepted
        }

        /// Connect (auth, webhook registration, terminal check) and watch the connection.
        async fn connection_task(self: Arc<Self>) {
            let mut backoff = Duration::from_millis(500);
            loop {
                if !self.enabled() {
                    self.state_wake.notified().await;
                    continue;
                }
                match self.connect_once().await {
                    Ok(()) => {
                        backoff = Duration::from_millis(500);
                        self.set_connected(true);
                        let _ = tokio::time::timeout(
                            assumptions::HEALTH_INTERVAL,
                            self.state_wake.notified(),
                        )
                        .await;
                    }
                    Err(e) => {
                        self.set_connected(false);
                        self.logf(
                            LogLevel::Warn,
                            &format!("cannot reach the TokenX cloud: {e}"),
                        );
                        let _ = tokio::time::timeout(backoff, self.state_wake.notified()).await;
                        backoff = (backoff * 2).min(Duration::from_secs(30));
                    }
                }
            }
        }

        async fn connect_once(&self) -> Result<(), CallError> {
            if let Some((url, auth)) = &self.callback {
                if !self.registered.load(Ordering::SeqCst) {
                    self.client
                        .call(&Op::SetClientSettings {
                            callback_url: url.clone(),
                            callback_auth: auth.clone(),
                        })
                        .await?;
                    self.registered.store(true, Ordering::SeqCst);
                    self.logf(LogLevel::Info, &format!("webhook registered: {url}"));
                }
            }
            let op = match (&self.target.terminal_id, &self.target.branch_id) {
                (Some(t), _) => Op::TerminalOrganisation {
                    terminal: t.clone(),
                },
                (None, Some(b)) => Op::Terminals {
                    context: api::Context::Branch(b.clone()),
                },
                (None, None) => unreachable!(),
            };
            self.client.call(&op).await.map(|_| ())
        }

        /// Poll the baskets whose webhook is late, with back-off.
        async fn poll_task(self: Arc<Self>) {
            loop {
                let next = self.tracker.lock().next_due();
                let sleep = match next {
                    Some(at) => tokio::time::sleep_until(at.into()),
                    None => tokio::time::sleep(Duration::from_secs(3600)),
                };
                tokio::select! {
                    _ = sleep => {}
                    _ = self.poll_wake.notified() => continue,
                }
                if !self.enabled() {
                    continue;
                }
                let due = self.tracker.lock().due(Instant::now());
                for id in due {
                    self.poll_one(&id).await;
                }
            }
        }

        async fn poll_one(&self, id: &str) {
            match self.client.call(&self.get_basket(id)).await {
                Ok(env) => {
                    self.set_connected(true);
                    match parse_basket(&env.result) {
                        Ok(BasketView::Finished { sale }) => self.finish(id, sale, "poll"),
                        Ok(BasketView::Open { .. }) => {
                            let mut t = self.tracker.lock();
                            if t.is_in_doubt(id) {
                                t.opened(id, Instant::now());
                                drop(t);
                                self.logf(
                                    LogLevel::Info,
                                    &format!("basket {id}: the cloud has it"),
                                );
                            }
                        }
                        Ok(BasketView::Deleted) => {
                            self.tracker.lock().forget(id);
                            self.logf(
                                LogLevel::Warn,
                                &format!("basket {id}: deleted at the cloud"),
                            );
                        }
                        Err(e) => self.logf(LogLevel::Warn, &format!("basket {id}: {e}")),
                    }
                }
                Err(CallError::Api(e)) if e.is_not_found() => {
                    let doubt = self.tracker.lock().is_in_doubt(id);
                    self.tracker.lock().forget(id);
                    self.logf(
                        LogLevel::Warn,
                        &if doubt {
                            format!("basket {id}: the cloud never got it — NOT sent; send it again with the same basketID")
                        } else {
                            format!("basket {id}: no longer known to the cloud")
                        },
                    );
                }
                Err(CallError::Api(api::ApiError::Api {
                    http: 429,
                    retry_after,
                    ..
                })) => {
                    let wait = retry_after.unwrap_or(assumptions::THROTTLE_BACKOFF);
                    self.tracker.lock().throttled(id, Instant::now(), wait);
                }
                Err(e) => {
                    self.note(&e);
                    self.logf(LogLevel::Warn, &format!("basket {id}: poll failed: {e}"));
                }
            }
        }

        async fn fiscal_info(&self) -> Result<String, HubError> {
            let Some(t) = self.target.terminal_id.clone() else {
                return Err(HubError::Unsupported(
                    "fiscal parameters need a terminal (tokenx+…?terminal-id=…)".into(),
                ));
            };
            let env = self
                .client
                .call(&Op::FiscalParameters { terminal: t })
                .await
                .map_err(|e| {
                    self.note(&e);
                    hub_error(e)
                })?;
            let info =
                fiscal_info_from_parameters(&env.result).map_err(|e| HubError::Rejected {
                    http: 200,
                    code: 0,
                    message: e,
                })?;
            self.observed.lock().last_fiscal = info.clone();
            Ok(info)
        }
    }

    impl receiver::WebhookSink for Inner {
        fn on_event(&self, e: WebhookEvent) {
            if let (Some(ours), Some(theirs)) = (&self.target.terminal_id, &e.terminal_id) {
                if ours != theirs {
                    self.logf(
                        LogLevel::Warn,
                        &format!("webhook for terminal {theirs} ignored (this hub drives {ours})"),
                    );
                    return;
                }
            }
            match e.operation {
                Operation::BasketCompleted => self.finish(&e.basket_id, e.data, "webhook"),
                Operation::BasketLocked | Operation::BasketUnlocked => self.logf(
                    LogLevel::Info,
                    &format!(
                        "basket {}: {:?} by {}",
                        e.basket_id,
                        e.operation,
                        e.locked_by.as_deref().unwrap_or("?")
                    ),
                ),
                Operation::Other(op) => self.logf(
                    LogLevel::Info,
                    &format!("basket {}: webhook {op:?} ignored", e.basket_id),
                ),
            }
        }

        fn on_refused(&self, status: u16, why: &str) {
            self.logf(
                LogLevel::Warn,
                &format!("webhook refused ({status}): {why}"),
            );
        }
    }

    /// A call's failure as the API's error.
    fn hub_error(e: CallError) -> HubError {
        match e {
            CallError::Network { .. } => HubError::NoDevice,
            CallError::Api(api::ApiError::Api {
                http,
                status,
                description,
                info,
                ..
            }) => HubError::Rejected {
                http,
                code: status,
                message: match info {
                    Some(i) if !description.is_empty() => format!("{description} ({})", i.meaning),
                    Some(i) => i.meaning.to_string(),
                    None => description,
                },
            },
            CallError::Api(api::ApiError::Malformed { http, detail }) => HubError::Rejected {
                http,
                code: 0,
                message: detail,
            },
        }
    }

    /// The target and a client from the configuration (the one place that reads it).
    fn client_from(cfg: &Config) -> Result<(TokenxTarget, Client), HubError> {
        let target = match cfg.transports.as_slice() {
            [TransportSpec::Tokenx(t)] => t.clone(),
            _ => {
                return Err(HubError::Config(
                    "expected exactly one transport, tokenx+https://HOST/BASE?terminal-id=…".into(),
                ))
            }
        };
        let tx = &cfg.tokenx;
        if tx.client_id.is_empty() || tx.client_secret.is_empty() {
            return Err(HubError::Config(
                "the TokenX cloud needs OKC_TOKENX_CLIENT_ID and OKC_TOKENX_CLIENT_SECRET \
                 (or tokenx_client_id / tokenx_client_secret)"
                    .into(),
            ));
        }
        let ep = Endpoints {
            auth: tx.auth_url.clone().unwrap_or_else(|| target.base.clone()),
            settings: tx
                .settings_url
                .clone()
                .unwrap_or_else(|| target.base.clone()),
            api: target.base.clone(),
        };
        let client = Client::new(
            ep,
            tx.client_id.clone(),
            tx.client_secret.clone(),
            tx.status_table,
            assumptions::HTTP_TIMEOUT,
        )
        .map_err(HubError::Config)?;
        Ok((target, client))
    }

    /// A blocking client for every operation of the cloud (the `okc tokenx` commands,
    /// support tools): the same client, token handling and retry rules as the back end.
    pub struct Cloud {
        rt: tokio::runtime::Runtime,
        client: Client,
        target: TokenxTarget,
    }

    impl Cloud {
        /// From a configuration whose transport is `tokenx+…` (credentials from its
        /// `tokenx` settings).
        pub fn from_config(cfg: &Config) -> Result<Cloud, HubError> {
            let (target, client) = client_from(cfg)?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| HubError::Resource(format!("cannot start a runtime: {e}")))?;
            Ok(Cloud { rt, client, target })
        }

        pub fn target(&self) -> &TokenxTarget {
            &self.target
        }

        /// Run one operation (token fetched as needed).
        pub fn call(&self, op: &Op) -> Result<api::Envelope, CallError> {
            self.rt.block_on(self.client.call(op))
        }

        /// Authenticate now (checks the credentials).
        pub fn authenticate(&self) -> Result<(), CallError> {
            self.rt.block_on(self.client.authenticate())
        }

        pub fn auth_requests(&self) -> u64 {
            self.client.auth_requests()
        }
    }

    impl TokenxBackend {
        pub(crate) fn start(ctx: BackendContext) -> Result<TokenxBackend, HubError> {
            let cfg = ctx.config;
            let (target, client) = client_from(&cfg)?;
            let tx = cfg.tokenx.clone();
            // Without a configured Authorization value a random one is registered: a webhook
            // receiver is never open to anyone who guesses its URL.
            let callback = tx.callback_url.clone().map(|u| {
                let auth = tx
                    .callback_auth
                    .as_ref()
                    .map(|s| s.expose().to_string())
                    .unwrap_or_else(|| format!("Bearer {}", uuid::Uuid::new_v4().simple()));
                (u, auth)
            });
            let poll_after = tx.poll_after.unwrap_or(if tx.webhook_listen.is_some() {
                assumptions::POLL_AFTER_WITH_WEBHOOK
            } else {
                assumptions::POLL_AFTER_WITHOUT_WEBHOOK
            });
            let serial = target
                .terminal_id
                .clone()
                .or_else(|| target.branch_id.clone())
                .unwrap_or_default();
            let rt = BackendRuntime::new("okc-tokenx")
                .map_err(|e| HubError::Resource(format!("cannot start the TokenX runtime: {e}")))?;
            let handle = rt.handle().clone();
            let inner = Arc::new(Inner {
                client,
                target,
                serial,
                callback: callback.clone(),
                log: ctx.log,
                events: ctx.events,
                tracker: Mutex::new(Tracker::new(poll_after)),
                observed: Mutex::new(Observed {
                    connected: false,
                    announced: false,
                    enabled: true,
                    closed: false,
                    last_fiscal: String::new(),
                }),
                observed_cond: Condvar::new(),
                poll_wake: tokio::sync::Notify::new(),
                state_wake: tokio::sync::Notify::new(),
                registered: AtomicBool::new(false),
            });
            let stop = Arc::new(tokio::sync::Notify::new());
            if let Some(listen) = &tx.webhook_listen {
                let auth = callback
                    .as_ref()
                    .map(|(_, a)| a.clone())
                    .or_else(|| tx.callback_auth.as_ref().map(|s| s.expose().to_string()))
                    .ok_or_else(|| {
                        HubError::Config(
                            "OKC_TOKENX_WEBHOOK_LISTEN needs OKC_TOKENX_CALLBACK_AUTH (the \
                             Authorization value Token sends) or OKC_TOKENX_CALLBACK_URL"
                                .into(),
                        )
                    })?;
                let path = tx.callback_url.as_deref().map(receiver::url_path);
                let sink: Arc<dyn receiver::WebhookSink> = inner.clone();
                let (listener, app) = handle
                    .block_on(receiver::bind(listen, &auth, path, sink))
                    .map_err(|e| {
                        HubError::Config(format!("webhook receiver cannot listen on {listen}: {e}"))
                    })?;
                inner.logf(
                    LogLevel::Info,
                    &format!(
                        "webhook receiver listening on {}",
                        receiver::local(&listener).map_or(listen.clone(), |a| a.to_string())
                    ),
                );
                let stop2 = stop.clone();
                let log = inner.clone();
                handle.spawn(async move {
                    if let Err(e) =
                        receiver::serve(listener, app, async move { stop2.notified().await }).await
                    {
                        log.logf(LogLevel::Error, &format!("webhook receiver stopped: {e}"));
                    }
                });
            }
            supervise(&handle, inner.clone(), "connection", |i| {
                i.connection_task()
            });
            supervise(&handle, inner.clone(), "poller", |i| i.poll_task());
            inner.logf(
                LogLevel::Info,
                &format!(
                    "TokenX cloud back end: {:?}, client {}, poll after {} ms",
                    inner.target,
                    tx.client_id,
                    poll_after.as_millis()
                ),
            );
            Ok(TokenxBackend { inner, rt, stop })
        }

        /// Run `fut` on the runtime and wait for it up to `wait`.
        fn run<T: Send + 'static>(
            &self,
            fut: impl std::future::Future<Output = Result<T, HubError>> + Send + 'static,
            wait: Duration,
        ) -> Result<T, HubError> {
            if self.inner.observed.lock().closed {
                return Err(HubError::Closed);
            }
            match self.rt.run(fut, Some(wait)) {
                Ok(r) => r,
                Err(RunError::Timeout) => Err(HubError::Timeout),
                Err(RunError::Closed) => Err(HubError::Closed),
            }
        }

        /// Auth requests sent so far (tests).
        pub fn auth_requests(&self) -> u64 {
            self.inner.client.auth_requests()
        }
    }

    /// Keep a task running: a panic inside it is logged, the cloud reported unreachable, and
    /// the task started again.
    fn supervise<F, Fut>(
        handle: &tokio::runtime::Handle,
        inner: Arc<Inner>,
        name: &'static str,
        f: F,
    ) where
        F: Fn(Arc<Inner>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let h = handle.clone();
        handle.spawn(async move {
            loop {
                match h.spawn(f(inner.clone())).await {
                    Err(e) if e.is_panic() => {
                        let why = crate::fiscal::supervise::panic_text(&*e.into_panic());
                        inner.logf(
                            LogLevel::Error,
                            &format!("TokenX {name} task panicked ({why}); restarted"),
                        );
                        inner.set_connected(false);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    _ => return,
                }
            }
        });
    }

    impl FiscalBackend for TokenxBackend {
        fn send(&self, kind: DataKind, json: &str) -> Result<SendOutcome, HubError> {
            if kind == DataKind::Payment {
                return Err(HubError::Unsupported(
                    "the TokenX cloud takes payments inside the basket (paymentItems); \
                     sendPayment is for the wired 300TR"
                        .into(),
                ));
            }
            if !self.inner.observed.lock().connected {
                return Ok(SendOutcome::NoDevice);
            }
            let inner = self.inner.clone();
            let json = json.to_string();
            // The POST, one check and up to two re-sends, each bounded by the HTTP timeout.
            let wait = assumptions::HTTP_TIMEOUT * (2 * MAX_SENDS as u32) + Duration::from_secs(1);
            self.run(inner.send_basket(json), wait)
        }

        fn reconcile(&self, basket_id: &str, _json: &str) -> Reconciled {
            let inner = self.inner.clone();
            let wait = assumptions::HTTP_TIMEOUT + Duration::from_secs(1);
            match self.run(inner.reconcile(basket_id.to_string()), wait) {
                Ok(r) => r,
                Err(e) => Reconciled::Unreachable(e.to_string()),
            }
        }

        fn fiscal_info(&self, timeout: Duration) -> Result<String, HubError> {
            if !self.inner.observed.lock().connected {
                return Err(HubError::NoDevice);
            }
            let inner = self.inner.clone();
            self.run(async move { inner.fiscal_info().await }, timeout)
        }

        fn last_fiscal_info(&self) -> String {
            self.inner.observed.lock().last_fiscal.clone()
        }

        fn active_device_index(&self) -> i32 {
            if self.inner.observed.lock().connected {
                assumptions::DEVICE_INDEX
            } else {
                -1
            }
        }

        fn wait_connected(&self, timeout: Duration) -> Option<String> {
            let deadline = Instant::now() + timeout;
            let mut o = self.inner.observed.lock();
            loop {
                if o.connected {
                    return Some(self.inner.serial.clone());
                }
                if o.closed
                    || self
                        .inner
                        .observed_cond
                        .wait_until(&mut o, deadline)
                        .timed_out()
                {
                    return o.connected.then(|| self.inner.serial.clone());
                }
            }
        }

        fn reconnect(&self) {
            let mut o = self.inner.observed.lock();
            if !o.enabled && !o.closed {
                o.enabled = true;
                drop(o);
                self.inner.state_wake.notify_one();
                self.inner.logf(LogLevel::Info, "reconnect");
            }
        }

        fn disconnect(&self, deadline: Instant) {
            {
                let mut o = self.inner.observed.lock();
                o.enabled = false;
            }
            self.inner.set_connected(false);
            self.inner.state_wake.notify_one();
            let (tx, rx) = mpsc::channel::<()>();
            let in_callback = self.inner.events.on_callback_thread();
            self.inner.events.after_queued(
                Box::new(move || {
                    let _ = tx.send(());
                }),
                in_callback,
            );
            let _ = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()));
        }

        fn shutdown(&self, deadline: Instant) {
            {
                let mut o = self.inner.observed.lock();
                o.closed = true;
                o.connected = false;
            }
            self.inner.observed_cond.notify_all();
            self.stop.notify_waiters();
            self.rt
                .shutdown(deadline.saturating_duration_since(Instant::now()));
        }
    }
}
