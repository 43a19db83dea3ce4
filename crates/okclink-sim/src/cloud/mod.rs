//! The TokenX Connect cloud simulator: Token's cloud API (auth, client settings, the basket
//! API), a simulated ÖKC per terminal that takes instant baskets and finishes them, webhooks
//! to the POS, a request log and switchable faults. It behaves like the real cloud as far as
//! Token's public material (the official Postman collection, the changelog, integrators'
//! code) describes it; every guess is in [`assumptions`].
//!
//! # Wire behaviour
//!
//! Everything is served under one base path ([`CloudConfig::base`], `""` = the root):
//!
//! | Method + path | Context header | OK: HTTP / `status` / `description` |
//! |---|---|---|
//! | `POST /v1/auth/token` (HTTP Basic `client-id:secret`) | — | 200 / 201 / "User authenticated successfully." |
//! | `POST /v1/client-settings {callbackUrl, callbackAuthHeader}` | — | 200 / 0 / "Your client settings has been set successfully" |
//! | `GET /v1/client-settings` | — | 200 / 0 / "Your client settings has been fetched successfully" |
//! | `POST /v1/basket` (list mode) | `branch-id` | 201 / 0 / "Basket Record Successfully Created" |
//! | `PUT /v1/basket/{id}` | `branch-id` (or `terminal-id`) | 200 / 0 / "Basket Record Successfully Updated" |
//! | `POST /v1/basket/unlock {basketID}` | `branch-id` (or `terminal-id`) | 200 / 0 / "Unlock Operation Successfully Completed" |
//! | `POST /v1/instant-basket` | `terminal-id` only | 201 / 0 / "Instant Basket Record Successfully Created" |
//! | `GET /v1/basket/{id}` | — | 200 / 0 / "Successfully Fetched the Basket" |
//! | `GET /v1/fiscal-parameters` | `terminal-id` | 200 / 0 / "Successfully Fetched Fiscal Parameters" |
//! | `GET /v1/basket/open-basket` | `terminal-id` | 200 / 0 / "Successfully Fetched Open Baskets" |
//! | `DELETE /v1/basket/{id}` | — | 200 / 0 / "Basket has been deleted successfully" |
//! | `GET /v1/terminal` | exactly one of `terminal-id`, `branch-id`, `merchant-id` (or query `merchantId` / `branchId`) | 200 / 0 / "Terminal List Successfully Fetched" |
//! | `GET /v1/terminal/{id}` | `terminal-id` | 200 / 0 / "POS's organization returned successfully." |
//!
//! Every reply is the envelope `{status, description, result?}` with `status` a JSON integer.
//! Every call but auth needs `Authorization: Bearer <accessToken>`: missing → 401 / 4,
//! garbled or badly signed → 401 / 3, expired → 401 / 2, wrong algorithm → 401 / 1, wrong
//! claims → 401 / 5. Basket errors: duplicate `basketID` 400 / 1007; a second open instant
//! basket on a terminal 400 / 1100; terminal not in instant mode 400 / 1104; update or delete
//! of a finished basket 400 / 1105; locked basket 400 / 1018; unknown id 404 / 404 "No basket
//! record found for given id"; no context header 400 / 6 "No context header provided.";
//! two context headers 400 / 7; another client's terminal 403 / 403 "Forbidden resource";
//! item total ≠ payment total (non-empty `paymentItems`) 400 / 1103; unlocking an unknown
//! basket is 200 / 0. Unknown paths 404.
//!
//! The tokens are HS256 JWTs signed with a random per-simulator secret (the real cloud uses
//! RS256 from a Keycloak realm); their header carries a `kid` and their claims are those of
//! the real ones: `exp`, `iat`, `jti`, `iss` (…`/auth/realms/tokenx-dtokc`), `aud` "account",
//! `sub`, `azp`, `clientId`, `merchantId`, `scope` "profile email", `preferred_username`
//! `"service-account-<clientId>"`.
//!
//! # The device
//!
//! Each terminal has a simulated ÖKC. An instant basket is taken by its terminal after
//! [`CloudConfig::device_delay`] and finished according to the [`DeviceOutcome`] in force at
//! that moment. A finished basket carries `sale` (in `GET /v1/basket/{id}`) and fires a
//! `BASKET_COMPLETED` webhook whose `data` is the same object:
//! `{basketID, documentType, InstanceIdentifier, invoiceID, isWayBill, message, paymentCount,
//! paymentItems[{amount, BatchNo, currencyId, description, operatorId, status, taxRate, TxnNo,
//! type}], receiptNo, status, UUID, zNo}`, amounts in kuruş; `status` 0 "OK" (receipt and
//! Z numbers ≥ 1, receipt numbers counting up per terminal; no `paymentItems` in the basket
//! means cash for the total), -1 "CANCELLED" (no receipt; `data` carries only `basketID`,
//! `documentType`, `message`, `status`), 99 (voided: `receiptNo` and `zNo` -1).
//!
//! **List-mode baskets** (`POST /v1/basket`) are never picked up on their own, whatever the
//! outcome: a cashier takes them, which the simulator is told through the control calls.
//! [`CloudSim::lock`] (terminal of the basket's branch) fires `BASKET_LOCKED`, and
//! [`CloudSim::complete`] / [`CloudSim::cancel`] / [`CloudSim::void`] finish the basket on the
//! locking terminal, or when nobody locked it, on the first list-mode terminal of its branch
//! (else the first terminal of the branch).
//!
//! Control calls fail (return `false`) while the device is offline
//! ([`CloudFaults::device_offline`]); an instant basket's own completion waits for the device
//! to come back and then happens at once.
//!
//! # Webhooks
//!
//! Sent to the `callbackUrl` the basket's client registered (`${terminal-id}`, `${basket-id}`
//! and `${branch-or-terminal-id}` replaced), `POST`, `Content-Type: application/json`,
//! `Authorization: <callbackAuthHeader>` verbatim, body `{terminalId, clientId, operation,
//! operationDate, data}` (`operationDate` RFC 3339 UTC with milliseconds). Operations:
//! `BASKET_COMPLETED` (device finished the basket), `BASKET_LOCKED` / `BASKET_UNLOCKED`
//! (`data = {basketID, lockedBy}`, on the device control calls; an unlock through the API by
//! the POS itself fires none). A non-2xx answer or no answer within 2 s is retried
//! [`CloudFaults::webhook_retries`] times after 100 ms · 2ⁿ. No callback registered → no
//! webhook (the POS must poll).
//!
//! # Control API over HTTP (for `okc sim-cloud`)
//!
//! Under the same base, without authentication, not written to the request log:
//! - `POST /_sim/baskets/{id}/complete`, `…/cancel`, `…/void`, `…/unlock`,
//!   `POST /_sim/baskets/{id}/lock?terminal=ID` → `{"ok": true|false}` (as the Rust calls);
//! - `GET /_sim/requests`, `GET /_sim/webhooks`, `GET /_sim/baskets` → JSON arrays;
//! - `POST /_sim/tokens/expire` → every token issued so far is expired.
//!
//! # Token X Energy
//!
//! The same server (base, tokens, envelope, request log, webhooks) serves the Energy order
//! API under `/v1/energy/orders…` for a forecourt of [`EnergyConfig::pumps`] pumps: fuel
//! orders the pumps create ([`CloudSim::fuel`]), exclusive locks with a TTL, idempotent
//! payments, the pump ÖKC (1000TR) completing paid orders, and the forecourt's faults
//! ([`EnergyFaults`]). The module `energy` documents it; every guessed path, field, code
//! and default is in [`energy_assumptions`] (the wire format is not public); `docs/ENERGY.md`
//! has the tables.

mod api;
pub mod assumptions;
mod device;
mod energy;
pub mod energy_assumptions;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::killable::{ConnKill, KillableStream};

pub use energy::{EnergyConfig, EnergyFaults, EnergyOrder, EnergyTerminal, Fuelling, OrderState};

/// Simulator configuration; [`Default`] gives one instant terminal and no faults.
#[derive(Debug, Clone)]
pub struct CloudConfig {
    /// Base path of the API (`""` = at the root, else e.g. `/app-store/external`).
    pub base: String,
    /// Accepted client id and secret; `None` = any (the client id is then the user name).
    pub credentials: Option<(String, String)>,
    /// Token lifetime (`expiresIn`; default 900 s).
    pub token_ttl: Duration,
    /// Default: one instant terminal "AV00000000001", branch "BR-0001", merchant "M-0001".
    pub terminals: Vec<CloudTerminal>,
    /// Time an instant basket waits before its device finishes it (default 200 ms).
    pub device_delay: Duration,
    pub device_outcome: DeviceOutcome,
    /// Also accept the camelCase `terminalId` / `branchId` / `merchantId` headers.
    pub legacy_headers: bool,
    pub faults: CloudFaults,
    /// Token X Energy: the forecourt (pumps, market terminals, lock TTL, 1000TR completion).
    pub energy: EnergyConfig,
}

impl Default for CloudConfig {
    fn default() -> Self {
        CloudConfig {
            base: String::new(),
            credentials: None,
            token_ttl: Duration::from_secs(900),
            terminals: vec![CloudTerminal {
                id: "AV00000000001".into(),
                branch_id: "BR-0001".into(),
                merchant_id: "M-0001".into(),
                instant: true,
                client_id: None,
            }],
            device_delay: Duration::from_millis(200),
            device_outcome: DeviceOutcome::Complete,
            legacy_headers: false,
            faults: CloudFaults::default(),
            energy: EnergyConfig::default(),
        }
    }
}

/// A terminal (ÖKC) known to the cloud.
#[derive(Debug, Clone)]
pub struct CloudTerminal {
    /// Device serial ("AV…" / "AT…").
    pub id: String,
    pub branch_id: String,
    pub merchant_id: String,
    /// Sale mode: instant (1) or list (0).
    pub instant: bool,
    /// Owning client id; `None` = usable by any client.
    pub client_id: Option<String>,
}

/// What the simulated device does with an instant basket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceOutcome {
    /// Sold: status 0, message "OK".
    Complete,
    /// Cancelled at the device: status -1, message "CANCELLED", no receipt.
    Cancel,
    /// The receipt is printed and voided: status 99, receiptNo -1, zNo -1.
    Void,
    /// Nothing happens until a control call.
    Manual,
}

/// Fault switches, changeable at run time ([`CloudSim::set_faults`]).
#[derive(Debug, Clone)]
pub struct CloudFaults {
    /// Webhooks are never sent (no attempt is recorded).
    pub drop_webhooks: bool,
    /// Every webhook is delivered twice (same body).
    pub duplicate_webhooks: bool,
    /// Delay before a webhook's first attempt.
    pub webhook_delay: Duration,
    /// Retries after a failed attempt (non-2xx or no answer in 2 s); default 3.
    pub webhook_retries: u32,
    /// The next N requests (any endpoint) answer 429 with `Retry-After`.
    pub throttle_next: u32,
    /// `Retry-After` seconds of the throttled replies (default 1).
    pub retry_after_secs: u32,
    /// The next N basket POSTs (`/v1/basket`, `/v1/instant-basket`) answer 500, creating nothing.
    pub basket_post_5xx: u32,
    /// The next N basket POSTs that create a basket answer 500 anyway (the reply is lost).
    pub basket_post_5xx_after_create: u32,
    /// Delay before the auth endpoint answers.
    pub slow_auth: Duration,
    /// The next N auth requests answer 503.
    pub auth_5xx: u32,
    /// The devices are offline: baskets stay open until they are back.
    pub device_offline: bool,
}

impl Default for CloudFaults {
    fn default() -> Self {
        CloudFaults {
            drop_webhooks: false,
            duplicate_webhooks: false,
            webhook_delay: Duration::ZERO,
            webhook_retries: 3,
            throttle_next: 0,
            retry_after_secs: 1,
            basket_post_5xx: 0,
            basket_post_5xx_after_create: 0,
            slow_auth: Duration::ZERO,
            auth_5xx: 0,
            device_offline: false,
        }
    }
}

/// One HTTP request the simulator answered (control API excluded).
#[derive(Debug, Clone)]
pub struct CloudRequest {
    pub method: String,
    /// Path without the base (the full path when it was outside the base).
    pub path: String,
    /// Query string without `?` (empty when none).
    pub query: String,
    /// Headers, names in lower case, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub http_status: u16,
    /// `status` of the reply envelope.
    pub api_status: Option<i64>,
    pub at: Instant,
}

impl CloudRequest {
    /// The value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One webhook attempt.
#[derive(Debug, Clone)]
pub struct WebhookDelivery {
    pub url: String,
    /// The `Authorization` header sent (the registered `callbackAuthHeader`).
    pub authorization: Option<String>,
    /// `BASKET_COMPLETED`, `BASKET_LOCKED` or `BASKET_UNLOCKED`.
    pub operation: String,
    pub basket_id: String,
    pub body: String,
    /// 1 for the first attempt of a delivery, then 2, 3, … for its retries.
    pub attempt: u32,
    /// HTTP status of the receiver's answer; `None` = no answer (timeout, refused).
    pub response_status: Option<u16>,
    pub at: Instant,
}

/// Basket life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BasketState {
    Open,
    Completed,
    Cancelled,
    Voided,
    Deleted,
}

/// A basket as the cloud holds it.
#[derive(Debug, Clone)]
pub struct CloudBasket {
    pub id: String,
    /// Instant basket: its terminal; list basket: the terminal that finished it (if any).
    pub terminal_id: Option<String>,
    /// List basket: its branch; instant basket: its terminal's branch.
    pub branch_id: Option<String>,
    pub instant: bool,
    pub state: BasketState,
    /// Terminal holding the lock.
    pub locked_by: Option<String>,
    /// POSTs that carried this `basketID` and got past validation: 1 for the creation, +1
    /// for every duplicate (1007) resend.
    pub creations: u32,
    /// The basket body as last posted / updated.
    pub body: serde_json::Value,
}

pub(crate) struct Shared {
    pub(crate) base: String,
    pub(crate) credentials: Option<(String, String)>,
    pub(crate) token_ttl: Duration,
    pub(crate) legacy_headers: bool,
    pub(crate) secret: Vec<u8>,
    pub(crate) kid: String,
    pub(crate) started: Instant,
    pub(crate) connections: AtomicUsize,
    pub(crate) state: parking_lot::Mutex<device::State>,
    pub(crate) http: reqwest::Client,
    pub(crate) rt: tokio::runtime::Handle,
}

/// A running cloud simulator (own tokio runtime, two worker threads). Dropping it stops it.
pub struct CloudSim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    rt: Option<tokio::runtime::Runtime>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    listener_gone: Option<std::sync::mpsc::Receiver<()>>,
}

/// The listener, counting accepted connections; dropping it tells [`CloudSim::stop`].
struct CountingListener {
    inner: tokio::net::TcpListener,
    shared: Arc<Shared>,
    _gone: std::sync::mpsc::Sender<()>,
}

impl axum::serve::Listener for CountingListener {
    type Io = KillableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (s, a) = axum::serve::Listener::accept(&mut self.inner).await;
        self.shared.connections.fetch_add(1, Ordering::SeqCst);
        (KillableStream::new(s), a)
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// The handler can cut its connection (a payment committed, the reply lost).
impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, CountingListener>>
    for ConnKill
{
    fn connect_info(s: axum::serve::IncomingStream<'_, CountingListener>) -> Self {
        s.io().conn_kill()
    }
}

fn normalise_base(base: &str) -> String {
    let b = base.trim().trim_end_matches('/');
    if b.is_empty() {
        String::new()
    } else if b.starts_with('/') {
        b.to_string()
    } else {
        format!("/{b}")
    }
}

impl CloudSim {
    /// Bind `listen` ("127.0.0.1:0" = any free port) and serve; returns once bound.
    pub fn start(config: CloudConfig, listen: &str) -> std::io::Result<CloudSim> {
        let std_listener = std::net::TcpListener::bind(listen)?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("okc-cloud-sim")
            .enable_all()
            .build()?;
        let _enter = rt.enter();
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_millis(assumptions::WEBHOOK_TIMEOUT_MS))
            .build()
            .map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared {
            base: normalise_base(&config.base),
            credentials: config.credentials.clone(),
            token_ttl: config.token_ttl,
            legacy_headers: config.legacy_headers,
            secret: uuid::Uuid::new_v4().as_bytes().to_vec(),
            kid: uuid::Uuid::new_v4().simple().to_string(),
            started: Instant::now(),
            connections: AtomicUsize::new(0),
            state: parking_lot::Mutex::new(device::State::new(&config)),
            http,
            rt: rt.handle().clone(),
        });
        if let Some(e) = config
            .energy
            .fuel
            .iter()
            .find_map(|f| energy::fuel(&shared, f).err())
        {
            // Dropping a runtime inside another one's context would panic.
            drop(listener);
            drop(_enter);
            rt.shutdown_background();
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, e));
        }
        let (gone_tx, gone_rx) = std::sync::mpsc::channel();
        let listener = CountingListener {
            inner: listener,
            shared: shared.clone(),
            _gone: gone_tx,
        };
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let app = api::router(shared.clone()).into_make_service_with_connect_info::<ConnKill>();
        rt.spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.await;
                })
                .await;
        });
        drop(_enter);
        Ok(CloudSim {
            shared,
            addr,
            rt: Some(rt),
            shutdown: Some(stop_tx),
            listener_gone: Some(gone_rx),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR{base}` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, self.shared.base)
    }

    /// Every request answered so far (control API excluded), oldest first.
    pub fn requests(&self) -> Vec<CloudRequest> {
        self.shared.state.lock().requests.clone()
    }

    /// Requests with this method (any when empty) whose path starts with `path_prefix`.
    pub fn requests_to(&self, method: &str, path_prefix: &str) -> Vec<CloudRequest> {
        self.shared
            .state
            .lock()
            .requests
            .iter()
            .filter(|r| {
                (method.is_empty() || r.method.eq_ignore_ascii_case(method))
                    && r.path.starts_with(path_prefix)
            })
            .cloned()
            .collect()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Every webhook attempt so far, oldest first.
    pub fn webhooks(&self) -> Vec<WebhookDelivery> {
        self.shared.state.lock().webhooks.clone()
    }

    /// Every basket ever created (deleted ones included), in creation order.
    pub fn baskets(&self) -> Vec<CloudBasket> {
        self.shared
            .state
            .lock()
            .baskets
            .iter()
            .map(|b| b.public.clone())
            .collect()
    }

    pub fn basket(&self, id: &str) -> Option<CloudBasket> {
        let st = self.shared.state.lock();
        st.find(id).map(|i| st.baskets[i].public.clone())
    }

    pub fn set_faults(&self, f: CloudFaults) {
        self.shared.state.lock().faults = f;
    }

    pub fn faults(&self) -> CloudFaults {
        self.shared.state.lock().faults.clone()
    }

    /// Outcome for instant baskets the device takes from now on.
    pub fn set_device_outcome(&self, o: DeviceOutcome) {
        self.shared.state.lock().outcome = o;
    }

    /// Device delay for instant baskets created from now on.
    pub fn set_device_delay(&self, d: Duration) {
        self.shared.state.lock().device_delay = d;
    }

    /// The device completes the open basket (status 0). `true` if it applied.
    pub fn complete(&self, basket_id: &str) -> bool {
        device::finish(&self.shared, basket_id, device::Finish::Complete)
    }

    /// The device cancels the open basket (status -1).
    pub fn cancel(&self, basket_id: &str) -> bool {
        device::finish(&self.shared, basket_id, device::Finish::Cancel)
    }

    /// The device voids: an open basket is printed and voided, a completed one's receipt
    /// is voided (a second `BASKET_COMPLETED` with status 99).
    pub fn void(&self, basket_id: &str) -> bool {
        device::finish(&self.shared, basket_id, device::Finish::Void)
    }

    /// Terminal `terminal_id` locks the open basket (`BASKET_LOCKED`).
    pub fn lock(&self, basket_id: &str, terminal_id: &str) -> bool {
        device::lock(&self.shared, basket_id, terminal_id)
    }

    /// The locking terminal releases the basket (`BASKET_UNLOCKED`).
    pub fn unlock(&self, basket_id: &str) -> bool {
        device::unlock(&self.shared, basket_id)
    }

    /// Every token issued so far is expired from now on (401 / 2).
    pub fn expire_tokens(&self) {
        api::expire_tokens(&self.shared);
    }

    /// Switch a terminal between instant (mode 1) and list (mode 0).
    pub fn set_terminal_mode(&self, terminal_id: &str, instant: bool) {
        let mut st = self.shared.state.lock();
        if let Some(t) = st.terminals.iter_mut().find(|t| t.cfg.id == terminal_id) {
            t.cfg.instant = instant;
        }
    }

    // -----------------------------------------------------------------------------------
    // Token X Energy

    /// A pump finishes fuelling: a new OPEN order (`ORDER_CREATED`); its id, or why not
    /// (unknown / busy pump — a pump is busy until its order is COMPLETED —, no plate, …).
    pub fn fuel(&self, f: Fuelling) -> Result<String, String> {
        energy::fuel(&self.shared, &f)
    }

    /// The customer pays at the pump: an OPEN or LOCKED order is COMPLETED by its 1000TR
    /// (a lock is voided: `ORDER_UNLOCKED` reason PAID_AT_PUMP, then `ORDER_COMPLETED`).
    /// `false` if the order is PAID / COMPLETED / unknown or the 1000TR is offline.
    pub fn pay_at_pump(&self, order_id: &str) -> bool {
        energy::pay_at_pump(&self.shared, order_id)
    }

    /// The lock's TTL runs out now (`ORDER_UNLOCKED` reason TIMEOUT). `false` if not locked.
    pub fn expire_lock(&self, order_id: &str) -> bool {
        energy::expire_lock(&self.shared, order_id)
    }

    /// The 1000TR completes a PAID order now. `false` if not PAID or the 1000TR is offline.
    pub fn complete_order(&self, order_id: &str) -> bool {
        energy::complete(&self.shared, order_id)
    }

    /// The 1000TRs go offline (paid orders stay PAID) or come back (and complete them).
    pub fn set_pump_offline(&self, offline: bool) {
        let mut f = self.energy_faults();
        f.pump_offline = offline;
        self.set_energy_faults(f);
    }

    pub fn set_energy_faults(&self, f: EnergyFaults) {
        energy::set_faults(&self.shared, f);
    }

    pub fn energy_faults(&self) -> EnergyFaults {
        energy::faults(&self.shared)
    }

    /// Lock TTL for locks taken from now on without `lockTtlSec`.
    pub fn set_lock_ttl(&self, ttl: Duration) {
        energy::set_lock_ttl(&self.shared, ttl);
    }

    /// 1000TR completion delay for payments accepted from now on (`None` = manual).
    pub fn set_complete_delay(&self, d: Option<Duration>) {
        energy::set_complete_delay(&self.shared, d);
    }

    /// Every order (expired locks released first), in creation order.
    pub fn orders(&self) -> Vec<EnergyOrder> {
        energy::orders(&self.shared)
    }

    pub fn order(&self, order_id: &str) -> Option<EnergyOrder> {
        self.orders().into_iter().find(|o| o.id == order_id)
    }

    /// Payments accepted for the order (0 for an unknown one); at most 1 if all is well.
    pub fn payments_accepted(&self, order_id: &str) -> u32 {
        self.order(order_id).map_or(0, |o| o.payments_accepted)
    }

    /// The Energy calls answered so far (`/v1/energy/…`), oldest first.
    pub fn energy_requests(&self) -> Vec<CloudRequest> {
        self.requests_to("", "/v1/energy/")
    }

    /// Stop serving; the port is free when this returns (also done on drop).
    pub fn stop(self) {}

    fn shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(rx) = self.listener_gone.take() {
            // The listener's drop disconnects this channel.
            let _ = rx.recv_timeout(Duration::from_secs(5));
        }
        if let Some(rt) = self.rt.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                rt.shutdown_background();
            } else {
                rt.shutdown_timeout(Duration::from_secs(1));
            }
        }
    }
}

impl Drop for CloudSim {
    fn drop(&mut self) {
        self.shutdown();
    }
}
