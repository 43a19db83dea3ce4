//! The wired back end: a fiscal device on a cable (USB AOA, FTDI serial) or on TCP (the
//! simulator, USB-over-TCP bridges). All protocol decisions are in the sans-IO
//! [`core::HostCore`]; this module only moves its inputs and outputs between threads:
//!
//! - **session** (`okc-session`): owns the core; feeds it link events, API calls and time;
//!   writes its transmits to the link's writer, its callbacks to the dispatcher, its replies
//!   to the waiting callers. Never runs user code, never waits for anything but its channel.
//! - **discovery** (`okc-discovery`): while no link is open and discovery is on (off after
//!   `disconnect` until `reconnect`), tries the connectors, with back-off.
//! - per open link a **reader** (`okc-reader`, blocks in the transport's `recv`) and a
//!   **writer** (`okc-writer`).
//!
//! Every thread is supervised (`super::supervise`): a panic in a link thread reports the link
//! lost; a panic in the session thread drops the link (reporting `(false, "")` if it was
//! announced), answers every waiting call and goes on with a fresh core that keeps the
//! sale-info filter; discovery resumes. Why callbacks have a thread of their own: a callback
//! may call `getFiscalInfo`, whose answer the session thread must read while the callback
//! still runs.

pub mod core;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use okclink_wire::message::tag;
use okclink_wire::session::{KeySource, OpId};
use okclink_wire::text::encode_outgoing_json;
use okclink_wire::DeviceModel;
use parking_lot::{Condvar, Mutex};

use self::core::{CoreConfig, CoreEvent, HostCore, LinkGen, Reply, ReplyOrder, Transmit};
use super::dispatch::Dispatcher;
use super::log::Logger;
use super::supervise::Threads;
use super::{connector_for, BackendContext, DataKind, FiscalBackend, HubError, SendOutcome};
use crate::config::{LogLevel, TextEncoding, TransportSpec};
use crate::transport::{Connector, Incoming, Link, LinkError, LinkReader, LinkWriter};

/// Budget of one `Connector::connect` call.
const CONNECT_BUDGET: Duration = Duration::from_secs(1);
/// Longest discovery back-off after repeated failed sessions.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Extra wait beyond a protocol timeout before an API call gives up on the session thread.
const REPLY_MARGIN: Duration = Duration::from_millis(1000);

#[cfg(feature = "test-hooks")]
fn check_point(thread: &str) {
    super::supervise::hooks::maybe_panic(thread);
}
#[cfg(not(feature = "test-hooks"))]
fn check_point(_thread: &str) {}

/// What API calls read without asking the session thread.
struct Observed {
    serial: Option<String>,
    last_fiscal: String,
}

/// Discovery control.
struct DiscState {
    enabled: bool,
    shutdown: bool,
    link_open: bool,
    gen: LinkGen,
    /// Do not try before this instant (back-off after a closed link).
    resume_at: Option<Instant>,
    /// Consecutive links that closed without ever becoming active.
    failures: u32,
    /// Shortest poll interval of the connectors (the base of the back-off).
    poll: Duration,
}

struct Shared {
    log: Arc<Logger>,
    events: Arc<Dispatcher>,
    threads: Threads,
    cmd_tx: Sender<Cmd>,
    active_index: AtomicI32,
    observed: Mutex<Observed>,
    observed_cond: Condvar,
    disc: Mutex<DiscState>,
    disc_cond: Condvar,
    closed: AtomicBool,
    ack_timeout: Duration,
    text_encoding: TextEncoding,
}

impl Shared {
    fn logf(&self, level: LogLevel, component: &str, msg: impl AsRef<str>) {
        self.log.log(level, component, msg.as_ref());
    }
}

enum Cmd {
    Opened(OpenLink),
    Incoming(LinkGen, Incoming),
    LinkDown(LinkGen, String),
    Send {
        tag: u16,
        payload: Vec<u8>,
        reply: Sender<Result<SendOutcome, HubError>>,
        /// The caller is a callback (the dispatcher thread): see `ReplyOrder`.
        in_callback: bool,
    },
    Fiscal {
        reply: Sender<Result<String, HubError>>,
    },
    Disconnect {
        reply: Sender<()>,
        in_callback: bool,
    },
    Shutdown {
        reply: Sender<()>,
    },
}

struct OpenLink {
    gen: LinkGen,
    model: DeviceModel,
    detect: bool,
    describe: String,
    io: LinkIo,
}

/// The driver's handles on one link's threads.
struct LinkIo {
    writer_tx: Sender<WriterMsg>,
    reader_stop: Arc<AtomicBool>,
}

impl LinkIo {
    fn stop(&self) {
        self.reader_stop.store(true, Ordering::SeqCst);
        let _ = self.writer_tx.send(WriterMsg::Close);
    }
}

enum WriterMsg {
    Data(Vec<u8>),
    Close,
}

/// The wired [`FiscalBackend`].
pub struct WiredBackend {
    sh: Arc<Shared>,
}

impl WiredBackend {
    /// Start the session and discovery threads over the configured transports (USB and
    /// serial report "not available" in builds without them and are skipped).
    pub(crate) fn start(ctx: BackendContext) -> Result<WiredBackend, HubError> {
        let cfg = ctx.config;
        let mut connectors = Vec::new();
        for spec in &cfg.transports {
            match connector_for(spec) {
                Ok(c) => connectors.push(c),
                Err(HubError::Config(e))
                    if matches!(
                        spec,
                        TransportSpec::Usb | TransportSpec::Serial | TransportSpec::SerialPort(_)
                    ) =>
                {
                    ctx.log.log(LogLevel::Warn, "ConnectionWrapper", &e)
                }
                Err(e) => return Err(e),
            }
        }
        let (cmd_tx, cmd_rx) = channel::<Cmd>();
        let sh = Arc::new(Shared {
            log: ctx.log,
            events: ctx.events,
            threads: ctx.threads,
            cmd_tx,
            active_index: AtomicI32::new(-1),
            observed: Mutex::new(Observed {
                serial: None,
                last_fiscal: String::new(),
            }),
            observed_cond: Condvar::new(),
            disc: Mutex::new(DiscState {
                enabled: true,
                shutdown: false,
                link_open: false,
                gen: 0,
                resume_at: None,
                failures: 0,
                poll: Duration::from_millis(250),
            }),
            disc_cond: Condvar::new(),
            closed: AtomicBool::new(false),
            ack_timeout: cfg.ack_timeout,
            text_encoding: cfg.text_encoding,
        });
        let core_cfg = CoreConfig {
            company_name: cfg.company_name.clone(),
            fiscal_timeout: cfg.fiscal_timeout,
            ack_timeout: cfg.ack_timeout,
            disconnect_timeout: cfg.disconnect_timeout,
            handshake_timeout: cfg.handshake_timeout,
            max_receive: cfg.max_receive,
            keys: KeySource::os(),
        };
        let spawn_err =
            |e: std::io::Error| HubError::Resource(format!("cannot start a thread: {e}"));
        let mut session = SessionDriver::new(sh.clone(), core_cfg);
        sh.threads
            .spawn_supervised("okc-session", sh.log.clone(), move |panicked| {
                if let Some(why) = panicked {
                    session.recover(&why);
                }
                session.run(&cmd_rx);
            })
            .map_err(spawn_err)?;
        let s = sh.clone();
        let mut last_err = HashMap::new();
        if let Err(e) =
            sh.threads
                .spawn_supervised("okc-discovery", sh.log.clone(), move |panicked| {
                    if panicked.is_some() {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    discovery(&s, &connectors, &mut last_err);
                })
        {
            let (tx, _rx) = channel();
            let _ = sh.cmd_tx.send(Cmd::Shutdown { reply: tx });
            return Err(spawn_err(e));
        }
        Ok(WiredBackend { sh })
    }

    fn ask<T>(&self, cmd: Cmd, rx: Receiver<T>, wait: Duration) -> Result<T, HubError> {
        self.sh.cmd_tx.send(cmd).map_err(|_| HubError::Closed)?;
        match rx.recv_timeout(wait) {
            Ok(r) => Ok(r),
            Err(RecvTimeoutError::Timeout) => Err(HubError::Timeout),
            // The session thread dropped the call: shutting down, or it recovered from a
            // panic (the link is gone then).
            Err(RecvTimeoutError::Disconnected) if self.sh.closed.load(Ordering::SeqCst) => {
                Err(HubError::Closed)
            }
            Err(RecvTimeoutError::Disconnected) => Err(HubError::NoDevice),
        }
    }
}

impl FiscalBackend for WiredBackend {
    fn send(&self, kind: DataKind, json: &str) -> Result<SendOutcome, HubError> {
        if self.active_device_index() < 0 {
            return Ok(SendOutcome::NoDevice);
        }
        let t = match kind {
            DataKind::Basket => tag::BASKET,
            DataKind::Payment => tag::PAYMENT,
        };
        let payload = encode_outgoing_json(json, self.sh.text_encoding);
        let (tx, rx) = channel();
        let cmd = Cmd::Send {
            tag: t,
            payload,
            reply: tx,
            in_callback: self.sh.events.on_callback_thread(),
        };
        self.ask(cmd, rx, self.sh.ack_timeout + REPLY_MARGIN)?
    }

    fn fiscal_info(&self, timeout: Duration) -> Result<String, HubError> {
        if self.active_device_index() < 0 {
            return Err(HubError::NoDevice);
        }
        let (tx, rx) = channel();
        self.ask(Cmd::Fiscal { reply: tx }, rx, timeout)?
    }

    fn last_fiscal_info(&self) -> String {
        self.sh.observed.lock().last_fiscal.clone()
    }

    fn active_device_index(&self) -> i32 {
        self.sh.active_index.load(Ordering::SeqCst)
    }

    fn wait_connected(&self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let mut o = self.sh.observed.lock();
        loop {
            if let Some(s) = &o.serial {
                if self.active_device_index() >= 0 {
                    return Some(s.clone());
                }
            }
            if self.sh.closed.load(Ordering::SeqCst) {
                return None;
            }
            if self
                .sh
                .observed_cond
                .wait_until(&mut o, deadline)
                .timed_out()
            {
                return o.serial.clone().filter(|_| self.active_device_index() >= 0);
            }
        }
    }

    fn reconnect(&self) {
        let mut st = self.sh.disc.lock();
        if !st.enabled {
            st.enabled = true;
            st.resume_at = None;
            self.sh.disc_cond.notify_all();
            drop(st);
            self.sh.logf(
                LogLevel::Info,
                "ConnectionWrapper",
                "hotplugThread restarted",
            );
        }
    }

    fn disconnect(&self, deadline: Instant) {
        {
            let mut st = self.sh.disc.lock();
            st.enabled = false;
            self.sh.disc_cond.notify_all();
        }
        let (tx, rx) = channel();
        let in_callback = self.sh.events.on_callback_thread();
        let cmd = Cmd::Disconnect {
            reply: tx,
            in_callback,
        };
        if self.sh.cmd_tx.send(cmd).is_err() {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if rx.recv_timeout(left) == Err(RecvTimeoutError::Timeout) {
            self.sh.logf(
                LogLevel::Warn,
                "ConnectionWrapper",
                "disconnect did not complete within its bound; returning anyway",
            );
        }
    }

    fn shutdown(&self, deadline: Instant) {
        self.sh.closed.store(true, Ordering::SeqCst);
        {
            let mut st = self.sh.disc.lock();
            st.shutdown = true;
            self.sh.disc_cond.notify_all();
        }
        self.sh.observed_cond.notify_all();
        let (tx, rx) = channel();
        let _ = self.sh.cmd_tx.send(Cmd::Shutdown { reply: tx });
        let _ = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    }
}

// ---------------------------------------------------------------------------------------
// Session thread

/// A caller waiting for the session thread (`bool`: it is a callback, see `ReplyOrder`).
enum Waiter {
    Send(Sender<Result<SendOutcome, HubError>>, bool),
    Fiscal(Sender<Result<String, HubError>>),
    Disconnect(Sender<()>, bool),
}

struct SessionDriver {
    sh: Arc<Shared>,
    core: HostCore,
    next_op: OpId,
    waiters: HashMap<OpId, Waiter>,
    links: HashMap<LinkGen, LinkIo>,
}

impl SessionDriver {
    fn new(sh: Arc<Shared>, cfg: CoreConfig) -> SessionDriver {
        SessionDriver {
            sh,
            core: HostCore::new(cfg),
            next_op: 1,
            waiters: HashMap::new(),
            links: HashMap::new(),
        }
    }

    /// The loop: wait for a command or the core's next timer, apply, flush the outputs.
    fn run(&mut self, rx: &Receiver<Cmd>) {
        loop {
            let cmd = match self.core.poll_timeout() {
                Some(d) => rx.recv_timeout(d.saturating_duration_since(Instant::now())),
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            check_point("okc-session");
            let now = Instant::now();
            match cmd {
                Ok(Cmd::Shutdown { reply }) => {
                    self.core.shutdown();
                    self.flush();
                    let _ = reply.send(());
                    return;
                }
                Ok(c) => self.apply(now, c),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.core.shutdown();
                    self.flush();
                    return;
                }
            }
            self.core.handle_timeout(now);
            self.flush();
        }
    }

    fn op(&mut self, w: Waiter) -> OpId {
        let op = self.next_op;
        self.next_op += 1;
        self.waiters.insert(op, w);
        op
    }

    fn apply(&mut self, now: Instant, cmd: Cmd) {
        match cmd {
            Cmd::Opened(o) => {
                let discovery_on = {
                    let st = self.sh.disc.lock();
                    st.enabled && !st.shutdown
                };
                if !discovery_on || self.core.link_gen().is_some() {
                    o.io.stop();
                    let mut st = self.sh.disc.lock();
                    if st.gen == o.gen {
                        st.link_open = self.core.link_gen().is_some();
                    }
                    self.sh.disc_cond.notify_all();
                    return;
                }
                self.links.insert(o.gen, o.io);
                self.core
                    .link_opened(now, o.gen, o.model, o.detect, &o.describe);
            }
            Cmd::Incoming(gen, Incoming::Message(m)) => self.core.on_message(now, gen, &m),
            Cmd::Incoming(gen, Incoming::Garbage(t)) => self.core.on_garbage(gen, t),
            Cmd::Incoming(_, Incoming::Idle) => {}
            Cmd::LinkDown(gen, why) => self.core.link_lost(gen, &why),
            Cmd::Send {
                tag,
                payload,
                reply,
                in_callback,
            } => {
                let op = self.op(Waiter::Send(reply, in_callback));
                self.core.send_data(now, op, tag, &payload);
            }
            Cmd::Fiscal { reply } => {
                let op = self.op(Waiter::Fiscal(reply));
                self.core.request_fiscal(now, op);
            }
            Cmd::Disconnect { reply, in_callback } => {
                let op = self.op(Waiter::Disconnect(reply, in_callback));
                self.core.disconnect(now, op);
            }
            Cmd::Shutdown { .. } => unreachable!("handled by the loop"),
        }
    }

    /// Carry the core's outputs out: bytes to the writers, callbacks to the dispatcher,
    /// replies to their callers, observed state to the API.
    fn flush(&mut self) {
        // Events before bytes: a sale info is recorded in the journal (in `serial_in`, on
        // this thread) before the device's "OK" that the same message queued is written —
        // a crash in between makes the device send it again, never lose it.
        while let Some(ev) = self.core.poll_event() {
            self.event(ev);
        }
        while let Some(t) = self.core.poll_transmit() {
            match t {
                Transmit::Data(gen, m) => {
                    if let Some(io) = self.links.get(&gen) {
                        let _ = io.writer_tx.send(WriterMsg::Data(m));
                    }
                }
                Transmit::Close(gen) => {
                    if let Some(io) = self.links.remove(&gen) {
                        io.stop();
                    }
                }
            }
        }
    }

    fn event(&mut self, ev: CoreEvent) {
        let sh = self.sh.clone();
        match ev {
            CoreEvent::State(c, s) => sh.events.state(c, s),
            CoreEvent::SerialIn(t, v) => sh.events.serial_in(t, v),
            CoreEvent::Reply { op, reply, order } => {
                let Some(w) = self.waiters.remove(&op) else {
                    return;
                };
                let (answer, in_callback): (Box<dyn FnOnce() + Send>, bool) = match (w, reply) {
                    (Waiter::Send(tx, cb), Reply::Send(r)) => (
                        Box::new(move || {
                            let _ = tx.send(Ok(r));
                        }),
                        cb,
                    ),
                    (Waiter::Fiscal(tx), Reply::Fiscal(r)) => (
                        Box::new(move || {
                            let _ = tx.send(r);
                        }),
                        false,
                    ),
                    (Waiter::Disconnect(tx, cb), Reply::Disconnected) => (
                        Box::new(move || {
                            let _ = tx.send(());
                        }),
                        cb,
                    ),
                    _ => unreachable!("the core answers each call with its own kind of reply"),
                };
                match order {
                    ReplyOrder::Now => answer(),
                    ReplyOrder::AfterQueuedCallbacks => sh.events.after_queued(answer, in_callback),
                }
            }
            CoreEvent::ActiveIndex(i) => {
                sh.active_index.store(i, Ordering::SeqCst);
                if i >= 0 {
                    sh.disc.lock().failures = 0;
                }
            }
            CoreEvent::Serial(s) => {
                sh.observed.lock().serial = s;
                sh.observed_cond.notify_all();
            }
            CoreEvent::FiscalStored(f) => sh.observed.lock().last_fiscal = f,
            CoreEvent::LinkClosed { gen, became_active } => {
                let mut st = sh.disc.lock();
                let poll = st.poll;
                if st.gen == gen {
                    st.link_open = false;
                }
                if became_active {
                    st.failures = 0;
                    st.resume_at = Some(Instant::now() + poll);
                } else {
                    st.failures = st.failures.saturating_add(1);
                    let back = poll
                        .saturating_mul(1u32 << st.failures.min(5))
                        .min(MAX_BACKOFF);
                    st.resume_at = Some(Instant::now() + back);
                }
                sh.disc_cond.notify_all();
            }
            CoreEvent::Log(level, msg) => {
                if sh.log.enabled(level) {
                    sh.logf(level, "Connection", msg);
                }
            }
        }
    }

    /// After a panic in this thread: drop the link (reporting `(false, "")` if it was
    /// announced), answer every waiting caller, and start again with a fresh core that keeps
    /// the sale-info filter. Discovery then finds the device again.
    fn recover(&mut self, why: &str) {
        let announced = self.core.announced();
        self.core = HostCore::recover_from(&mut self.core);
        for (_, io) in self.links.drain() {
            io.stop();
        }
        let sh = self.sh.clone();
        sh.active_index.store(-1, Ordering::SeqCst);
        {
            let mut o = sh.observed.lock();
            o.serial = None;
            o.last_fiscal.clear();
            sh.observed_cond.notify_all();
        }
        if announced {
            sh.events.state(false, String::new());
        }
        for (_, w) in self.waiters.drain() {
            match w {
                Waiter::Send(tx, _) => {
                    let _ = tx.send(Ok(SendOutcome::NoDevice));
                }
                Waiter::Fiscal(tx) => {
                    let _ = tx.send(Err(HubError::NoDevice));
                }
                Waiter::Disconnect(tx, in_callback) => sh.events.after_queued(
                    Box::new(move || {
                        let _ = tx.send(());
                    }),
                    in_callback,
                ),
            }
        }
        sh.logf(
            LogLevel::Error,
            "Connection",
            format!("session reset after an internal error ({why}); looking for the device again"),
        );
        let mut st = sh.disc.lock();
        st.link_open = false;
        st.resume_at = Some(Instant::now() + st.poll);
        sh.disc_cond.notify_all();
    }
}

// ---------------------------------------------------------------------------------------
// Discovery thread

/// Loop over the connectors while no link is open and discovery is enabled.
fn discovery(
    sh: &Arc<Shared>,
    connectors: &[Arc<dyn Connector>],
    last_err: &mut HashMap<String, String>,
) {
    let poll = connectors
        .iter()
        .map(|c| c.poll_interval())
        .min()
        .unwrap_or(Duration::from_millis(250))
        .max(Duration::from_millis(10));
    sh.disc.lock().poll = poll;
    loop {
        {
            let mut st = sh.disc.lock();
            loop {
                if st.shutdown {
                    return;
                }
                if st.enabled && !st.link_open {
                    match st.resume_at {
                        Some(t) if Instant::now() < t => {
                            sh.disc_cond.wait_until(&mut st, t);
                            continue;
                        }
                        _ => break,
                    }
                }
                sh.disc_cond.wait(&mut st);
            }
        }
        check_point("okc-discovery");
        let mut opened = false;
        for c in connectors {
            match c.connect(CONNECT_BUDGET) {
                Ok(Some(link)) => {
                    last_err.remove(&c.name());
                    opened = open_link(sh, link);
                    if opened {
                        break;
                    }
                }
                Ok(None) => {
                    last_err.remove(&c.name());
                }
                Err(e) => {
                    let text = e.to_string();
                    if last_err.get(&c.name()) != Some(&text) {
                        sh.logf(LogLevel::Warn, "Hotplug", format!("{}: {text}", c.name()));
                        last_err.insert(c.name(), text);
                    }
                }
            }
        }
        if !opened {
            let mut st = sh.disc.lock();
            if !st.shutdown && st.enabled && !st.link_open {
                sh.disc_cond.wait_for(&mut st, poll);
            }
        }
    }
}

/// Split a fresh link, start its reader and writer, hand it to the session thread.
fn open_link(sh: &Arc<Shared>, link: Box<dyn Link>) -> bool {
    let model = link.model();
    let detect = link.detect_model();
    let describe = link.describe();
    let (reader, mut writer) = link.split();
    let gen = {
        let mut st = sh.disc.lock();
        if st.shutdown || !st.enabled || st.link_open {
            drop(st);
            writer.close();
            return false;
        }
        st.link_open = true;
        st.gen += 1;
        st.gen
    };
    sh.logf(
        LogLevel::Info,
        "Hotplug",
        format!("device found: {describe} ({model:?})"),
    );
    let (wtx, wrx) = channel::<WriterMsg>();
    let stop = Arc::new(AtomicBool::new(false));
    let r1 = spawn_reader(sh, gen, reader, stop.clone());
    let r2 = spawn_writer(sh, gen, writer, wrx);
    let io = LinkIo {
        writer_tx: wtx,
        reader_stop: stop,
    };
    if r1.is_err() || r2.is_err() {
        io.stop();
        sh.logf(LogLevel::Error, "Hotplug", "cannot start the link threads");
        let mut st = sh.disc.lock();
        st.link_open = false;
        st.resume_at = Some(Instant::now() + MAX_BACKOFF);
        return false;
    }
    let _ = sh.cmd_tx.send(Cmd::Opened(OpenLink {
        gen,
        model,
        detect,
        describe,
        io,
    }));
    true
}

// ---------------------------------------------------------------------------------------
// Link threads

/// The reader: whole messages to the session thread until the link ends, is stopped, or
/// the thread panics (then the link is reported lost).
fn spawn_reader(
    sh: &Arc<Shared>,
    gen: LinkGen,
    mut reader: Box<dyn LinkReader>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::ThreadId> {
    let s = sh.clone();
    let slice = reader.wait_slice();
    sh.threads
        .spawn_supervised("okc-reader", sh.log.clone(), move |panicked| {
            if let Some(why) = panicked {
                let _ = s
                    .cmd_tx
                    .send(Cmd::LinkDown(gen, format!("reader thread panicked: {why}")));
                return;
            }
            let mut io_errors = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let r = reader.recv(slice);
                check_point("okc-reader");
                match r {
                    Ok(Incoming::Idle) => {}
                    Ok(inc) => {
                        io_errors = 0;
                        if s.cmd_tx.send(Cmd::Incoming(gen, inc)).is_err() {
                            break;
                        }
                    }
                    Err(LinkError::Gone(why)) => {
                        let _ = s.cmd_tx.send(Cmd::LinkDown(gen, why));
                        break;
                    }
                    Err(e) => {
                        io_errors += 1;
                        if io_errors >= 50 {
                            let _ = s
                                .cmd_tx
                                .send(Cmd::LinkDown(gen, format!("repeated read errors: {e}")));
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            }
        })
}

/// The writer: messages from the session thread to the link; ends on `Close`, a gone
/// device, repeated errors, or a panic (then the link is reported lost). Always releases
/// the device.
fn spawn_writer(
    sh: &Arc<Shared>,
    gen: LinkGen,
    mut writer: Box<dyn LinkWriter>,
    rx: Receiver<WriterMsg>,
) -> std::io::Result<std::thread::ThreadId> {
    let s = sh.clone();
    sh.threads
        .spawn_supervised("okc-writer", sh.log.clone(), move |panicked| {
            if let Some(why) = panicked {
                writer.close();
                let _ = s
                    .cmd_tx
                    .send(Cmd::LinkDown(gen, format!("writer thread panicked: {why}")));
                return;
            }
            let mut failures = 0u32;
            while let Ok(msg) = rx.recv() {
                check_point("okc-writer");
                match msg {
                    WriterMsg::Close => break,
                    WriterMsg::Data(m) => match writer.send(&m) {
                        Ok(()) => failures = 0,
                        Err(LinkError::Gone(why)) => {
                            let _ = s.cmd_tx.send(Cmd::LinkDown(gen, why));
                            break;
                        }
                        Err(e) => {
                            failures += 1;
                            s.logf(LogLevel::Error, "Transport", format!("write failed: {e}"));
                            if failures >= 3 {
                                let _ = s.cmd_tx.send(Cmd::LinkDown(
                                    gen,
                                    format!("repeated write errors: {e}"),
                                ));
                                break;
                            }
                        }
                    },
                }
            }
            writer.close();
        })
}
