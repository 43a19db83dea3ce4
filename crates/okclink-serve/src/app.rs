//! The fronts `okc serve` owns (fiscal `Hub`, payment `Terminal`, Energy `Orders`, the
//! journal) and the state shared between the handlers and the fronts' callbacks. The fronts
//! are synchronous: handlers call them through `spawn_blocking`; their callbacks publish
//! events (journal write + broadcast) on the fronts' own threads and never call back into a
//! front.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use okclink::energy::{EnergyConfig, Orders};
use okclink::hub::{basket_id_of, Config, Hub, TransportSpec};
use okclink::journal::{format_time, now_ms, Journal};
use okclink::pay::{self, Terminal, TerminalConfig, TerminalEvent};
use okclink::transport::DeviceModel;
use okclink_sim::{NexoConfig, NexoSim, SimConfig, SimControl};
use parking_lot::Mutex;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::{oneshot, watch};

use crate::config::{redact, ServeConfig};
use crate::events::EventHub;
use crate::model::BasketView;

/// Sale-info type of `serialIn` (docs/BASKETS.md).
pub const SALE_INFO: i32 = 3;
/// Type of a basket's reply (`OK`, the 300TR's `{"basketID":…,"status":0}`, or a refusal text).
pub const BASKET_REPLY: i32 = 1;
/// Type of a payment's reply (300TR: `{"basketID":…,"status":0}` or a refusal text).
pub const PAYMENT_REPLY: i32 = 10;
/// Baskets remembered in memory without a journal.
const BOOK_CAPACITY: usize = 10_000;

/// The fiscal front.
pub struct Fiscal {
    pub hub: Arc<Hub>,
    /// The transport as configured (credentials removed).
    pub label: String,
    pub cloud: bool,
    /// The in-process simulator (`sim`, `sim:x30tr`, `sim:300tr`).
    pub sim: Option<Mutex<SimControl>>,
}

/// The payment front.
pub struct Payment {
    pub terminal: Arc<Terminal>,
    pub label: String,
    pub currency: String,
    /// The in-process nexo simulator (`--terminal sim`).
    pub sim: Option<Mutex<NexoSim>>,
    /// Calls in progress (status `busy`).
    pub busy: AtomicUsize,
}

/// A basket sent by this process, without a journal.
#[derive(Debug, Clone)]
pub struct MemBasket {
    pub state: &'static str,
    pub created_at: i64,
    pub sale_info: Option<String>,
}

/// What the callbacks share with the handlers.
pub struct Shared {
    pub events: EventHub,
    /// `(connected, serial)` as last reported.
    pub device: Mutex<(bool, String)>,
    /// `?wait=` requests waiting for a basket's sale info.
    waiters: Mutex<HashMap<String, Vec<oneshot::Sender<()>>>>,
    /// Baskets being sent now (a second request for the same id is not sent).
    pub inflight: Mutex<HashSet<String>>,
    /// Without a journal: the baskets and sale infos of this process.
    pub book: Mutex<(HashMap<String, MemBasket>, VecDeque<String>)>,
    pub receipts: Mutex<VecDeque<(i64, String)>>,
    /// Baskets a request is handing to the hub right now, with the events about them that
    /// arrived meanwhile: published after the basket's own `basket-state` (`sent`…), so a
    /// fast device's sale info never comes first on the stream.
    sending: Mutex<HashMap<String, Vec<(&'static str, String)>>>,
    /// The basket last handed to the device: a type-1 refusal is about it.
    last_basket: Mutex<Option<String>>,
    /// The payment request waiting for the device's type-10 reply.
    payment_reply: Mutex<Option<oneshot::Sender<String>>>,
    /// One payment at a time: a reply is not tied to its request by anything but order.
    pub payments: tokio::sync::Mutex<()>,
}

impl Shared {
    /// Publishes an event about `basket_id` — after its `basket-state` when a request is
    /// sending it right now (see `sending`).
    fn publish_about(&self, basket_id: Option<&str>, kind: &'static str, json: String) {
        if let Some(id) = basket_id {
            let mut s = self.sending.lock();
            if let Some(q) = s.get_mut(id) {
                q.push((kind, json));
                return;
            }
        }
        self.events.publish(kind, json);
    }

    /// A request starts handing `basket_id` to the hub (blocking thread; before the call).
    pub fn begin_sending(&self, basket_id: &str, journal: bool) {
        self.sending
            .lock()
            .insert(basket_id.to_string(), Vec::new());
        *self.last_basket.lock() = Some(basket_id.to_string());
        if !journal {
            self.remember(basket_id, "sent");
        }
    }

    /// The hub returned: publishes the basket's new state (`sent`, `not_sent`, `in_doubt`;
    /// None: nothing new), then what arrived about it meanwhile — in that order, under the
    /// lock that holds back other events about it.
    pub fn end_sending(&self, basket_id: &str, state: Option<&'static str>, journal: bool) {
        let mut s = self.sending.lock();
        let deferred = s.remove(basket_id).unwrap_or_default();
        if !journal && state.is_none() {
            // It never left (refused before the device): as unknown as it was.
            let mut b = self.book.lock();
            if b.0.remove(basket_id).is_some() {
                b.1.retain(|k| k != basket_id);
            }
        }
        if let Some(state) = state {
            if !journal && state != "sent" {
                self.remember(basket_id, state);
            }
            self.events.publish(
                "basket-state",
                json!({"basketID": basket_id, "state": state}).to_string(),
            );
        }
        for (kind, json) in deferred {
            self.events.publish(kind, json);
        }
        drop(s);
    }

    /// The device's reply to a basket (dispatcher thread). `OK` or a status 0 JSON: it is on
    /// the device. A refusal text: the last basket sent `failed` (it had no effect and may be
    /// sent again; with a journal the library recorded that before this runs).
    fn basket_reply(&self, journal: bool, value: &str) {
        let Some(key) = self.last_basket.lock().clone() else {
            return;
        };
        let t = value.trim();
        let parsed = serde_json::from_str::<Value>(t).ok();
        let about = basket_id_of(t);
        if parsed.is_some() && about.as_ref().is_some_and(|b| *b != key) {
            return; // about another basket
        }
        let accepted = t == "OK"
            || parsed
                .as_ref()
                .is_some_and(|v| v.get("status").and_then(Value::as_i64) == Some(0));
        if accepted {
            return;
        }
        *self.last_basket.lock() = None;
        if !journal {
            if let Some(e) = self.book.lock().0.get_mut(&key) {
                if e.state != "answered" {
                    e.state = "failed";
                }
            }
        }
        self.publish_about(
            Some(&key),
            "basket-state",
            json!({"basketID": key, "state": "failed", "reason": t}).to_string(),
        );
    }

    /// A sale info arrived (dispatcher thread): log it as an event (then its basket's
    /// `answered` state), wake the waiters.
    fn sale_info(&self, journal: bool, value: &str) {
        let id = basket_id_of(value);
        let parsed: Value = serde_json::from_str(value).unwrap_or(Value::String(value.into()));
        let status = parsed.get("status").cloned().unwrap_or(Value::Null);
        self.publish_about(
            id.as_deref(),
            "sale-info",
            json!({"basketID": id, "saleInfo": parsed}).to_string(),
        );
        if let Some(id) = &id {
            self.publish_about(
                Some(id),
                "basket-state",
                json!({"basketID": id, "state": "answered", "status": status}).to_string(),
            );
        }
        if !journal {
            let mut r = self.receipts.lock();
            r.push_front((now_ms(), value.to_string()));
            r.truncate(BOOK_CAPACITY);
            if let Some(id) = &id {
                let mut b = self.book.lock();
                if let Some(e) = b.0.get_mut(id) {
                    e.state = "answered";
                    e.sale_info = Some(value.to_string());
                }
            }
        }
        if let Some(id) = id {
            for w in self.waiters.lock().remove(&id).unwrap_or_default() {
                let _ = w.send(());
            }
        }
    }

    /// The device answered a payment (dispatcher thread): hand it to the waiting request.
    fn payment_reply(&self, value: &str) {
        if let Some(tx) = self.payment_reply.lock().take() {
            let _ = tx.send(value.to_string());
        }
    }

    /// Wait for the next payment reply (register before sending; under `payments`).
    pub fn expect_payment_reply(&self) -> oneshot::Receiver<String> {
        let (tx, rx) = oneshot::channel();
        *self.payment_reply.lock() = Some(tx);
        rx
    }

    /// No payment reply is awaited any more (the send failed, or the wait ended).
    pub fn forget_payment_reply(&self) {
        self.payment_reply.lock().take();
    }

    /// Wait for `basket_id`'s sale info (register before sending).
    pub fn wait_for(&self, basket_id: &str) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.waiters
            .lock()
            .entry(basket_id.to_string())
            .or_default()
            .push(tx);
        rx
    }

    /// Drops the finished waiters of `basket_id` (after a timeout).
    pub fn forget_waiters(&self, basket_id: &str) {
        let mut w = self.waiters.lock();
        if let Some(v) = w.get_mut(basket_id) {
            v.retain(|s| !s.is_closed());
            if v.is_empty() {
                w.remove(basket_id);
            }
        }
    }

    /// Without a journal: remember a basket sent now.
    pub fn remember(&self, basket_id: &str, state: &'static str) {
        let mut b = self.book.lock();
        let (map, order) = &mut *b;
        if !map.contains_key(basket_id) {
            order.push_back(basket_id.to_string());
            if order.len() > BOOK_CAPACITY {
                if let Some(old) = order.pop_front() {
                    map.remove(&old);
                }
            }
        }
        let e = map.entry(basket_id.to_string()).or_insert(MemBasket {
            state,
            created_at: now_ms(),
            sale_info: None,
        });
        if e.state != "answered" {
            e.state = state;
        }
    }
}

/// Everything `okc serve` runs.
pub struct App {
    pub config: ServeConfig,
    pub fiscal: Option<Fiscal>,
    pub payment: Option<Payment>,
    pub energy: Option<Arc<Orders>>,
    pub journal: Option<Arc<Journal>>,
    pub shared: Arc<Shared>,
    /// SHA-256 of the API token (compared in constant time; the token itself is not kept).
    pub token_digest: Option<[u8; 32]>,
    ready: AtomicBool,
    shutdown: watch::Sender<bool>,
}

/// The model an in-process simulator transport asks for (`sim`, `sim:x30tr`, `sim:300tr`).
pub fn sim_model(transport: &str) -> Option<Result<DeviceModel, String>> {
    let t = transport.trim().to_ascii_lowercase();
    let rest = t.strip_prefix("sim")?;
    Some(match rest {
        "" | ":x30tr" | ":x30" => Ok(DeviceModel::X30tr),
        ":300tr" | ":300" | ":t300tr" => Ok(DeviceModel::T300tr),
        _ => Err(format!(
            "unknown simulator {transport:?} (sim, sim:x30tr or sim:300tr)"
        )),
    })
}

/// A free loopback port (for the in-process terminal simulator's POS listener).
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl App {
    /// Opens every configured front. Nothing is sent to a device here.
    pub fn open(config: ServeConfig) -> Result<Arc<App>, String> {
        // The fiscal configuration first: it names the journal the other fronts share.
        let fiscal_cfg = match &config.fiscal {
            Some(f) => Some(Self::hub_config(f)?),
            None => None,
        };
        let journal_path = fiscal_cfg
            .as_ref()
            .and_then(|(c, _)| c.journal_path())
            .or_else(|| {
                config
                    .payment
                    .as_ref()
                    .and_then(|p| p.journal.as_deref())
                    .and_then(pay::parse_journal_setting)
            });
        let journal = match &journal_path {
            Some(p) => {
                Some(Journal::shared(p).map_err(|e| format!("journal {}: {e}", p.display()))?)
            }
            None => None,
        };
        let shared = Arc::new(Shared {
            events: EventHub::new(journal.clone()),
            device: Mutex::new((false, String::new())),
            waiters: Mutex::new(HashMap::new()),
            inflight: Mutex::new(HashSet::new()),
            book: Mutex::new((HashMap::new(), VecDeque::new())),
            receipts: Mutex::new(VecDeque::new()),
            sending: Mutex::new(HashMap::new()),
            last_basket: Mutex::new(None),
            payment_reply: Mutex::new(None),
            payments: tokio::sync::Mutex::new(()),
        });
        let fiscal = match (fiscal_cfg, &config.fiscal) {
            (Some((cfg, sim)), Some(f)) => Some(Self::open_fiscal(cfg, sim, f, &shared)?),
            _ => None,
        };
        let payment = match &config.payment {
            Some(p) => Some(Self::open_payment(p, journal_path.clone(), &shared)?),
            None => None,
        };
        let energy = match &config.energy {
            Some(e) => {
                let mut text = Value::Object(e.clone());
                if let (Some(p), Value::Object(m)) = (&journal_path, &mut text) {
                    m.entry("journal")
                        .or_insert_with(|| json!(p.display().to_string()));
                }
                let cfg = EnergyConfig::load(Some(&text.to_string()))
                    .map_err(|e| format!("energy: {e}"))?;
                Some(Arc::new(
                    Orders::open(cfg).map_err(|e| format!("energy: {e}"))?,
                ))
            }
            None => None,
        };
        let (shutdown, _) = watch::channel(false);
        let token_digest = config
            .token
            .as_deref()
            .filter(|t| !t.trim().is_empty())
            .map(digest);
        let app = Arc::new(App {
            config,
            fiscal,
            payment,
            energy,
            journal,
            shared,
            token_digest,
            ready: AtomicBool::new(false),
            shutdown,
        });
        app.ready.store(true, Ordering::SeqCst);
        Ok(app)
    }

    /// The library configuration of the fiscal section, and the simulator it asks for.
    fn hub_config(
        f: &crate::config::FiscalSettings,
    ) -> Result<(Config, Option<DeviceModel>), String> {
        let mut lib = f.library.clone();
        if let Some(c) = &f.company {
            lib.insert("company_name".into(), json!(c));
        }
        // No log directory unless asked for: no files appear beside the service by surprise.
        lib.entry("log_dir").or_insert(Value::Null);
        let mut cfg = Config::load(Some(&Value::Object(lib).to_string()))
            .map_err(|e| format!("fiscal: {e}"))?;
        let sim = match sim_model(&f.transport) {
            Some(m) => Some(m?),
            None => {
                if !f.transport.trim().is_empty() {
                    cfg.transports = TransportSpec::parse_list(&f.transport)
                        .map_err(|e| format!("fiscal: {e}"))?;
                }
                None
            }
        };
        Ok((cfg, sim))
    }

    fn open_fiscal(
        mut cfg: Config,
        sim: Option<DeviceModel>,
        f: &crate::config::FiscalSettings,
        shared: &Arc<Shared>,
    ) -> Result<Fiscal, String> {
        let mut control = None;
        let label = match sim {
            Some(model) => {
                let (conn, ctl) = okclink_sim::mem_connector(SimConfig::for_model(model));
                control = Some(Mutex::new(ctl));
                cfg.transports = vec![TransportSpec::Custom(conn)];
                match model {
                    DeviceModel::T300tr => "sim:300tr".to_string(),
                    _ => "sim:x30tr".to_string(),
                }
            }
            None if f.transport.trim().is_empty() => std::env::var("OKC_TRANSPORT")
                .map(|t| redact(&t))
                .unwrap_or_else(|_| "usb,serial".into()),
            None => redact(f.transport.trim()),
        };
        let cloud = cfg
            .transports
            .iter()
            .any(|t| matches!(t, TransportSpec::Tokenx(_)));
        let journal = cfg.journal_path().is_some();
        let hub = Hub::new(cfg).map_err(|e| format!("fiscal: {e}"))?;
        let s = shared.clone();
        hub.set_serial_in_callback(Some(Box::new(move |t, v| match t {
            SALE_INFO => s.sale_info(journal, v),
            BASKET_REPLY => s.basket_reply(journal, v),
            PAYMENT_REPLY => s.payment_reply(v),
            _ => {}
        })));
        let s = shared.clone();
        hub.set_device_state_callback(Some(Box::new(move |connected, serial| {
            *s.device.lock() = (connected, serial.to_string());
            s.events.publish(
                "device-state",
                json!({"connected": connected, "serial": (!serial.is_empty()).then_some(serial)})
                    .to_string(),
            );
        })));
        Ok(Fiscal {
            hub: Arc::new(hub),
            label,
            cloud,
            sim: control,
        })
    }

    fn open_payment(
        p: &crate::config::PaymentSettings,
        journal: Option<std::path::PathBuf>,
        shared: &Arc<Shared>,
    ) -> Result<Payment, String> {
        let mut sim = None;
        let mut listener = p.listener.clone();
        let url = if p.terminal.trim().eq_ignore_ascii_case("sim") {
            let port = free_port()?;
            let pos = format!("127.0.0.1:{port}");
            let s = NexoSim::start(
                NexoConfig {
                    payment_time: std::time::Duration::from_millis(50),
                    busy_after_payment: std::time::Duration::from_millis(100),
                    pos_listener: Some(format!("http://{pos}/EPASSaleToPOI/3.1")),
                    ..NexoConfig::default()
                },
                "127.0.0.1:0",
            )
            .map_err(|e| format!("payment: terminal simulator: {e}"))?;
            let url = format!("nexo+http://{}", s.addr());
            listener = Some(pos);
            sim = Some(Mutex::new(s));
            url
        } else {
            p.terminal.trim().to_string()
        };
        let mut cfg = TerminalConfig::new(&url);
        cfg.gptom = pay::gptom::GptomConfig::from_env().map_err(|e| format!("payment: {e}"))?;
        cfg.journal = match p.journal.as_deref() {
            Some(j) => pay::parse_journal_setting(j),
            None => journal,
        };
        cfg.listener = listener;
        cfg.application_name = "okc-serve".into();
        let s = shared.clone();
        cfg.events = Some(Arc::new(move |e: &TerminalEvent| {
            s.events.publish("terminal", e.to_json().to_string());
            None
        }));
        let terminal = pay::open(cfg).map_err(|e| format!("payment: {e}"))?;
        Ok(Payment {
            terminal: Arc::new(terminal),
            label: if sim.is_some() {
                format!("sim ({})", redact(&url))
            } else {
                redact(&url)
            },
            currency: p.currency.clone().unwrap_or_else(|| "TRY".into()),
            sim,
            busy: AtomicUsize::new(0),
        })
    }

    pub fn events(&self) -> &EventHub {
        &self.shared.events
    }

    /// Ready: every front open, their start-up recoveries over (the fiscal journal's
    /// unfinished baskets asked about, the payment journal's operations reconciled), and
    /// not shutting down.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst) && !*self.shutdown.borrow() && self.recovered()
    }

    /// Whether the fronts' start-up recoveries are over (no wait).
    pub fn recovered(&self) -> bool {
        self.fiscal.as_ref().map_or(true, |f| f.hub.recovered())
            && self
                .payment
                .as_ref()
                .map_or(true, |p| p.terminal.recovered())
    }

    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Starts the shutdown: event streams end, waits return, readiness goes.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Closes every front (blocking): in-flight calls have returned by now; what is still
    /// unanswered stays in the journal for the next start's recovery.
    pub fn close_fronts(&self) {
        if let Some(f) = &self.fiscal {
            f.hub.close();
        }
        if let Some(p) = &self.payment {
            p.terminal.close();
        }
        if let Some(e) = &self.energy {
            e.close();
        }
    }

    /// A basket's state as the API shows it (blocking: reads the journal).
    pub fn basket_view(&self, basket_id: &str) -> Result<Option<BasketView>, crate::Problem> {
        use okclink::journal::Kind;
        let Some(j) = &self.journal else {
            let b = self.shared.book.lock();
            return Ok(b.0.get(basket_id).map(|e| BasketView {
                basket_id: basket_id.to_string(),
                state: e.state.to_string(),
                attempts: 1,
                created_at: format_time(e.created_at),
                sale_info: e.sale_info.as_deref().map(parse_or_text),
                confirmed: false,
            }));
        };
        let e = j
            .get(Kind::Basket, basket_id)
            .map_err(|e| crate::problem::from_journal(&e))?;
        let Some(e) = e else { return Ok(None) };
        let receipt = j
            .get(Kind::Receipt, basket_id)
            .map_err(|e| crate::problem::from_journal(&e))?;
        Ok(Some(BasketView {
            basket_id: e.key,
            state: e.state.as_str().to_string(),
            attempts: e.attempts,
            created_at: format_time(e.created_at),
            sale_info: receipt
                .as_ref()
                .and_then(|r| r.result.as_deref())
                .map(parse_or_text),
            confirmed: receipt.as_ref().is_some_and(|r| r.confirmed()),
        }))
    }
}

/// JSON text as a value (a text that is not JSON stays a string).
pub fn parse_or_text(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_string()))
}
