//! The threads behind a [`super::Hub`].
//!
//! - **session thread** (`okc-session`): owns the [`HostSession`] of the open link (if any),
//!   feeds it incoming messages, ticks it at its next deadline, executes API requests that
//!   arrive over a channel, and turns its events into writes, shared-state updates and
//!   callback jobs. It never runs user code and never waits for anything but its channel.
//! - **callback thread** (`okc-callbacks`, "the dispatcher"): runs user callbacks, in order,
//!   from a queue, with no lock held. API calls made from inside a callback post to the
//!   session thread and wait for its reply; as the session thread never waits for the
//!   callback thread, that cannot deadlock.
//! - **discovery thread** (`okc-discovery`): loops over the connectors while no link is open
//!   and discovery is enabled (off after `disconnect` until `reconnect`), with back-off.
//! - per open link a **reader** (`okc-reader`) and a **writer** (`okc-writer`) thread.
//!
//! Why the session and the callbacks live on two threads: a callback may take long or call
//! `getFiscalInfo`, whose answer must be read, decoded and matched while the callback is
//! still running. With one thread that would need re-entrant processing of the session
//! from inside user code; with two it is a plain request/reply.

use std::collections::{HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::log::Logger;
use super::text::decode_device_text;
use super::{Config, DeviceStateFn, HubError, LogLevel, SendOutcome, SerialInFn};
use crate::proto::message::tag;
use crate::proto::session::{
    HostConfig, HostEvent, HostPhase, HostSession, Level, OpId, SendResult,
};
use crate::transport::{Connector, DeviceModel, Incoming, Link, LinkError, LinkReader, LinkWriter};

/// How long a reader waits in one `recv` (bounds how fast it notices a stop request).
const READ_SLICE: Duration = Duration::from_millis(100);
/// Budget of one `Connector::connect` call.
const CONNECT_BUDGET: Duration = Duration::from_secs(1);
/// Longest discovery back-off after repeated failed sessions.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub(crate) fn map_level(l: Level) -> LogLevel {
    match l {
        Level::Error => LogLevel::Error,
        Level::Warn => LogLevel::Warn,
        Level::Info => LogLevel::Info,
        Level::Debug => LogLevel::Debug,
    }
}

// ---------------------------------------------------------------------------------------
// Shared state

/// What API calls read without asking the session thread.
pub(crate) struct Observed {
    pub serial: Option<String>,
    pub last_fiscal: String,
}

/// Discovery control.
pub(crate) struct DiscState {
    pub enabled: bool,
    pub shutdown: bool,
    pub link_open: bool,
    pub gen: u64,
    /// Do not try before this instant (back-off after a closed link).
    pub resume_at: Option<Instant>,
    /// Consecutive links that closed without ever becoming active.
    pub failures: u32,
    /// Shortest poll interval of the connectors (the base of the back-off).
    pub poll: Duration,
}

/// Callbacks and the gate that keeps them from starting after `close`.
pub(crate) struct GateState {
    pub closed: bool,
    pub running: bool,
    pub serial: Option<Arc<SerialInFn>>,
    pub state: Option<(u64, Arc<DeviceStateFn>)>,
    pub next_gen: u64,
}

/// Live-thread counter: `close` waits (bounded) for the runtime's threads to end.
pub(crate) struct Live {
    count: Mutex<usize>,
    cond: Condvar,
}

struct LiveGuard(Arc<Live>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        let mut c = self.0.count.lock();
        *c -= 1;
        self.0.cond.notify_all();
    }
}

impl Live {
    fn new() -> Arc<Live> {
        Arc::new(Live {
            count: Mutex::new(0),
            cond: Condvar::new(),
        })
    }
    /// Wait until at most `allowed` threads are alive or `deadline` passes.
    pub(crate) fn wait(&self, allowed: usize, deadline: Instant) -> bool {
        let mut c = self.count.lock();
        while *c > allowed {
            if self.cond.wait_until(&mut c, deadline).timed_out() {
                return *c <= allowed;
            }
        }
        true
    }
}

pub(crate) struct Shared {
    pub cfg: Config,
    pub log: Logger,
    pub cmd_tx: Sender<Cmd>,
    pub cb_tx: Sender<Job>,
    pub cb_thread: Mutex<Option<ThreadId>>,
    pub active_index: AtomicI32,
    pub observed: Mutex<Observed>,
    pub observed_cond: Condvar,
    pub disc: Mutex<DiscState>,
    pub disc_cond: Condvar,
    pub gate: Mutex<GateState>,
    pub gate_cond: Condvar,
    pub live: Arc<Live>,
    pub closed: AtomicBool,
}

impl Shared {
    pub(crate) fn on_callback_thread(&self) -> bool {
        *self.cb_thread.lock() == Some(thread::current().id())
    }

    pub(crate) fn logf(&self, level: LogLevel, component: &str, msg: impl AsRef<str>) {
        self.log.log(level, component, msg.as_ref());
    }

    fn spawn<F: FnOnce() + Send + 'static>(
        &self,
        name: &str,
        f: F,
    ) -> std::io::Result<thread::JoinHandle<()>> {
        *self.live.count.lock() += 1;
        let guard = LiveGuard(self.live.clone());
        let r = thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let _g = guard;
                f();
            });
        // On spawn failure the closure (and the guard inside it) is dropped: the count is
        // restored.
        r
    }
}

// ---------------------------------------------------------------------------------------
// Messages between threads

pub(crate) type SendReply = Sender<Result<SendOutcome, HubError>>;
pub(crate) type FiscalReply = Sender<Result<String, HubError>>;

pub(crate) enum Cmd {
    Opened(OpenLink),
    Incoming(u64, Incoming),
    LinkDown(u64, String),
    Send {
        tag: u16,
        payload: Vec<u8>,
        reply: SendReply,
        from_cb: bool,
    },
    Fiscal {
        reply: FiscalReply,
    },
    Disconnect {
        reply: Sender<()>,
        from_cb: bool,
    },
    Shutdown {
        reply: Sender<()>,
    },
}

pub(crate) struct OpenLink {
    gen: u64,
    model: DeviceModel,
    describe: String,
    writer_tx: Sender<WriterMsg>,
    reader_stop: Arc<AtomicBool>,
}

enum WriterMsg {
    Data(Vec<u8>),
    Close,
}

pub(crate) enum Job {
    SerialIn(i32, String),
    State(bool, String),
    /// Replay the last state to the state callback of this generation.
    Replay(u64),
    /// Run after every job queued before it (used to deliver replies after callbacks).
    Barrier(Box<dyn FnOnce() + Send>),
    Stop,
}

// ---------------------------------------------------------------------------------------
// Start

pub(crate) fn start(
    cfg: Config,
    connectors: Vec<Arc<dyn Connector>>,
    first_logs: Vec<(LogLevel, String)>,
) -> Result<Arc<Shared>, HubError> {
    let (cmd_tx, cmd_rx) = channel::<Cmd>();
    let (cb_tx, cb_rx) = channel::<Job>();
    let log = Logger::new(cfg.log_dir.clone(), cfg.log_level);
    let sh = Arc::new(Shared {
        cfg,
        log,
        cmd_tx,
        cb_tx,
        cb_thread: Mutex::new(None),
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
        gate: Mutex::new(GateState {
            closed: false,
            running: false,
            serial: None,
            state: None,
            next_gen: 1,
        }),
        gate_cond: Condvar::new(),
        live: Live::new(),
        closed: AtomicBool::new(false),
    });
    for (level, line) in first_logs {
        sh.logf(level, "ConnectionWrapper", line);
    }
    let spawn_err = |e: std::io::Error| HubError::Resource(format!("cannot start a thread: {e}"));

    let s = sh.clone();
    let h = sh
        .spawn("okc-callbacks", move || callback_main(s, cb_rx))
        .map_err(spawn_err)?;
    *sh.cb_thread.lock() = Some(h.thread().id());

    let s = sh.clone();
    if let Err(e) = sh.spawn("okc-session", move || session_main(s, cmd_rx)) {
        let _ = sh.cb_tx.send(Job::Stop);
        return Err(spawn_err(e));
    }
    let s = sh.clone();
    if let Err(e) = sh.spawn("okc-discovery", move || discovery_main(s, connectors)) {
        let (tx, _rx) = channel();
        let _ = sh.cmd_tx.send(Cmd::Shutdown { reply: tx });
        let _ = sh.cb_tx.send(Job::Stop);
        return Err(spawn_err(e));
    }
    Ok(sh)
}

// ---------------------------------------------------------------------------------------
// Callback thread

fn callback_main(sh: Arc<Shared>, rx: Receiver<Job>) {
    let mut last_state: Option<(bool, String)> = None;
    // Generation of the state callback that has already received a state (no replay then).
    let mut delivered_gen: u64 = 0;
    while let Ok(job) = rx.recv() {
        match job {
            Job::Stop => break,
            Job::Barrier(f) => f(),
            Job::SerialIn(t, v) => {
                let cb = {
                    let mut g = sh.gate.lock();
                    match (&g.serial, g.closed) {
                        (Some(cb), false) => {
                            let cb = cb.clone();
                            g.running = true;
                            Some(cb)
                        }
                        _ => None,
                    }
                };
                if let Some(cb) = cb {
                    run_guarded(&sh, "serialIn", || cb(t, &v));
                }
            }
            Job::State(c, s) => {
                last_state = Some((c, s.clone()));
                if let Some((gen, cb)) = begin_state(&sh) {
                    delivered_gen = gen;
                    run_guarded(&sh, "deviceState", || cb(c, &s));
                }
            }
            Job::Replay(gen) => {
                if let Some((c, s)) = last_state.clone() {
                    if delivered_gen != gen {
                        if let Some((g, cb)) = begin_state(&sh) {
                            if g == gen {
                                delivered_gen = gen;
                                sh.logf(
                                    LogLevel::Debug,
                                    "ConnectionWrapper",
                                    "Device State Callback Invoking (replay)",
                                );
                                run_guarded(&sh, "deviceState", || cb(c, &s));
                            } else {
                                end_callback(&sh);
                            }
                        }
                    }
                }
            }
        }
    }
    // Drop pending jobs (and the reply senders inside barriers): waiting callers see the
    // channel closed and return.
    while let Ok(job) = rx.try_recv() {
        if let Job::Barrier(f) = job {
            f();
        }
    }
}

fn begin_state(sh: &Shared) -> Option<(u64, Arc<DeviceStateFn>)> {
    let mut g = sh.gate.lock();
    if g.closed {
        return None;
    }
    let r = g.state.clone();
    if r.is_some() {
        g.running = true;
    }
    r
}

fn end_callback(sh: &Shared) {
    let mut g = sh.gate.lock();
    g.running = false;
    sh.gate_cond.notify_all();
}

/// Run a user callback (gate already marked running), with no lock held; a panic is caught
/// and logged so the dispatcher lives on.
fn run_guarded(sh: &Shared, what: &str, f: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(f)).is_err() {
        sh.logf(
            LogLevel::Error,
            "ConnectionWrapper",
            format!("{what} callback panicked"),
        );
    }
    end_callback(sh);
}

// ---------------------------------------------------------------------------------------
// Discovery thread

fn discovery_main(sh: Arc<Shared>, connectors: Vec<Arc<dyn Connector>>) {
    let poll = connectors
        .iter()
        .map(|c| c.poll_interval())
        .min()
        .unwrap_or(Duration::from_millis(250))
        .max(Duration::from_millis(10));
    sh.disc.lock().poll = poll;
    let mut last_err: HashMap<String, String> = HashMap::new();
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
        let mut opened = false;
        for c in &connectors {
            match c.connect(CONNECT_BUDGET) {
                Ok(Some(link)) => {
                    last_err.remove(&c.name());
                    opened = open_link(&sh, link);
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
    let s = sh.clone();
    let st2 = stop.clone();
    let r1 = sh.spawn("okc-reader", move || reader_main(s, gen, reader, st2));
    let s = sh.clone();
    let r2 = sh.spawn("okc-writer", move || writer_main(s, gen, writer, wrx));
    if r1.is_err() || r2.is_err() {
        stop.store(true, Ordering::SeqCst);
        let _ = wtx.send(WriterMsg::Close);
        sh.logf(LogLevel::Error, "Hotplug", "cannot start the link threads");
        let mut st = sh.disc.lock();
        st.link_open = false;
        st.resume_at = Some(Instant::now() + MAX_BACKOFF);
        return false;
    }
    let _ = sh.cmd_tx.send(Cmd::Opened(OpenLink {
        gen,
        model,
        describe,
        writer_tx: wtx,
        reader_stop: stop,
    }));
    true
}

fn reader_main(sh: Arc<Shared>, gen: u64, mut reader: Box<dyn LinkReader>, stop: Arc<AtomicBool>) {
    let mut io_errors = 0u32;
    while !stop.load(Ordering::Relaxed) {
        match reader.recv(READ_SLICE) {
            Ok(Incoming::Idle) => {}
            Ok(inc) => {
                io_errors = 0;
                if sh.cmd_tx.send(Cmd::Incoming(gen, inc)).is_err() {
                    break;
                }
            }
            Err(LinkError::Gone(why)) => {
                let _ = sh.cmd_tx.send(Cmd::LinkDown(gen, why));
                break;
            }
            Err(e) => {
                io_errors += 1;
                if io_errors >= 50 {
                    let _ = sh
                        .cmd_tx
                        .send(Cmd::LinkDown(gen, format!("repeated read errors: {e}")));
                    break;
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn writer_main(
    sh: Arc<Shared>,
    gen: u64,
    mut writer: Box<dyn LinkWriter>,
    rx: Receiver<WriterMsg>,
) {
    let mut failures = 0u32;
    while let Ok(msg) = rx.recv() {
        match msg {
            WriterMsg::Close => break,
            WriterMsg::Data(m) => match writer.send(&m) {
                Ok(()) => failures = 0,
                Err(LinkError::Gone(why)) => {
                    let _ = sh.cmd_tx.send(Cmd::LinkDown(gen, why));
                    break;
                }
                Err(e) => {
                    failures += 1;
                    sh.logf(LogLevel::Error, "Transport", format!("write failed: {e}"));
                    if failures >= 3 {
                        let _ = sh
                            .cmd_tx
                            .send(Cmd::LinkDown(gen, format!("repeated write errors: {e}")));
                        break;
                    }
                }
            },
        }
    }
    writer.close();
}

// ---------------------------------------------------------------------------------------
// Session thread

struct Active {
    gen: u64,
    model: DeviceModel,
    session: HostSession,
    writer_tx: Sender<WriterMsg>,
    reader_stop: Arc<AtomicBool>,
    /// `(true, serial)` was reported or the session became active: loss reports `(false, "")`.
    announced: bool,
    became_active: bool,
    /// Since when the session has not been active (handshake running), if it is not.
    handshake_since: Option<Instant>,
}

struct SessionThread {
    sh: Arc<Shared>,
    link: Option<Active>,
    next_op: OpId,
    pending: HashMap<OpId, (SendReply, bool)>,
    fiscal_waiters: Vec<FiscalReply>,
    disconnect_waiters: Vec<(Sender<()>, bool)>,
    /// The last sale infos delivered (duplicate suppression across sessions).
    recent_sales: VecDeque<Vec<u8>>,
}

/// How many delivered sale infos are remembered for duplicate suppression.
const RECENT_SALES: usize = 64;

fn session_main(sh: Arc<Shared>, rx: Receiver<Cmd>) {
    let mut st = SessionThread {
        sh,
        link: None,
        next_op: 1,
        pending: HashMap::new(),
        fiscal_waiters: Vec::new(),
        disconnect_waiters: Vec::new(),
        recent_sales: VecDeque::new(),
    };
    let hs_timeout = st.sh.cfg.handshake_timeout;
    loop {
        let deadline = st.link.as_ref().and_then(|l| {
            let hs = l.handshake_since.map(|t| t + hs_timeout);
            [l.session.next_deadline(), hs].into_iter().flatten().min()
        });
        let cmd = match deadline {
            Some(d) => {
                let now = Instant::now();
                if d <= now {
                    Err(RecvTimeoutError::Timeout)
                } else {
                    rx.recv_timeout(d - now)
                }
            }
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match cmd {
            Ok(Cmd::Shutdown { reply }) => {
                st.shutdown();
                let _ = reply.send(());
                break;
            }
            Ok(c) => st.handle(c),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                st.shutdown();
                break;
            }
        }
        if let Some(l) = st.link.as_mut() {
            let now = Instant::now();
            if l.session.next_deadline().is_some_and(|d| d <= now) {
                l.session.on_tick(now);
            }
            if l.handshake_since.is_some_and(|t| now >= t + hs_timeout) {
                l.handshake_since = None;
                st.sh.logf(
                    LogLevel::Warn,
                    "Connection",
                    format!(
                        "handshake not completed within {} ms: closing the link",
                        hs_timeout.as_millis()
                    ),
                );
                l.session.link_lost();
            }
        }
        st.drain();
    }
}

impl SessionThread {
    fn host_config(&self, model: DeviceModel) -> HostConfig {
        let c = &self.sh.cfg;
        let mut h = HostConfig::new(&c.company_name, model);
        h.fiscal_timeout = c.fiscal_timeout;
        h.ack_timeout = c.ack_timeout;
        // Keep a margin inside the caller's bound for teardown and the state callback.
        h.disconnect_timeout = c
            .disconnect_timeout
            .saturating_sub(c.disconnect_timeout / 5)
            .max(Duration::from_millis(1));
        h.max_plaintext = c.max_receive;
        h
    }

    fn handle(&mut self, cmd: Cmd) {
        let now = Instant::now();
        match cmd {
            Cmd::Opened(o) => {
                let discovery_on = {
                    let st = self.sh.disc.lock();
                    st.enabled && !st.shutdown
                };
                if self.link.is_some() || !discovery_on {
                    o.reader_stop.store(true, Ordering::SeqCst);
                    let _ = o.writer_tx.send(WriterMsg::Close);
                    let mut st = self.sh.disc.lock();
                    if st.gen == o.gen {
                        st.link_open = self.link.is_some();
                    }
                    self.sh.disc_cond.notify_all();
                    return;
                }
                self.sh.logf(
                    LogLevel::Info,
                    "Connection",
                    format!("link open: {} ({:?}); sending Hello", o.describe, o.model),
                );
                let mut session = HostSession::new(self.host_config(o.model));
                session.start(now);
                self.link = Some(Active {
                    gen: o.gen,
                    model: o.model,
                    session,
                    writer_tx: o.writer_tx,
                    reader_stop: o.reader_stop,
                    announced: false,
                    became_active: false,
                    handshake_since: Some(now),
                });
            }
            Cmd::Incoming(gen, inc) => {
                if let Some(l) = self.link.as_mut().filter(|l| l.gen == gen) {
                    match inc {
                        Incoming::Message(m) => l.session.on_message(now, &m),
                        Incoming::Garbage(t) => l.session.garbage(t),
                        Incoming::Idle => {}
                    }
                }
            }
            Cmd::LinkDown(gen, why) => {
                if let Some(l) = self.link.as_mut().filter(|l| l.gen == gen) {
                    self.sh
                        .logf(LogLevel::Warn, "Connection", format!("device lost: {why}"));
                    l.session.link_lost();
                }
            }
            Cmd::Send {
                tag,
                payload,
                reply,
                from_cb,
            } => match self.link.as_mut().filter(|l| l.session.is_active()) {
                None => {
                    let _ = reply.send(Ok(SendOutcome::NoDevice));
                }
                Some(l) => {
                    let op = self.next_op;
                    self.next_op += 1;
                    self.pending.insert(op, (reply, from_cb));
                    l.session.send_data(now, op, tag, &payload);
                }
            },
            Cmd::Fiscal { reply } => match self.link.as_mut().filter(|l| l.session.is_active()) {
                None => {
                    let _ = reply.send(Err(HubError::NoDevice));
                }
                Some(l) => {
                    self.fiscal_waiters.push(reply);
                    l.session.request_fiscal_info(now);
                }
            },
            Cmd::Disconnect { reply, from_cb } => match self.link.as_mut() {
                None => {
                    self.sh.logf(
                        LogLevel::Info,
                        "ConnectionWrapper",
                        "disconnect: active_device : -1",
                    );
                    self.reply_after_callbacks(reply, from_cb);
                }
                Some(l) => {
                    self.disconnect_waiters.push((reply, from_cb));
                    l.session.disconnect(now);
                }
            },
            Cmd::Shutdown { .. } => unreachable!("handled by the loop"),
        }
    }

    /// Answer `reply` once every callback queued so far has run (directly when the caller
    /// is the callback thread itself, which would otherwise wait for itself).
    fn reply_after_callbacks(&self, reply: Sender<()>, from_cb: bool) {
        if from_cb {
            let _ = reply.send(());
        } else {
            let _ = self.sh.cb_tx.send(Job::Barrier(Box::new(move || {
                let _ = reply.send(());
            })));
        }
    }

    fn drain(&mut self) {
        let mut closed = false;
        while let Some(ev) = self.link.as_mut().and_then(|l| l.session.poll_event()) {
            match ev {
                HostEvent::Send(m) => {
                    if let Some(l) = &self.link {
                        let _ = l.writer_tx.send(WriterMsg::Data(m));
                    }
                }
                HostEvent::Active => {
                    if let Some(l) = self.link.as_mut() {
                        l.announced = true;
                        l.became_active = true;
                        self.sh
                            .active_index
                            .store(l.model.index(), Ordering::SeqCst);
                        let mut st = self.sh.disc.lock();
                        st.failures = 0;
                    }
                }
                HostEvent::Identified(raw) => {
                    let serial = decode_device_text(&raw);
                    if let Some(l) = self.link.as_mut() {
                        l.announced = true;
                    }
                    self.sh.logf(
                        LogLevel::Info,
                        "Connection",
                        format!("device identified: {serial}"),
                    );
                    {
                        let mut o = self.sh.observed.lock();
                        o.serial = Some(serial.clone());
                        self.sh.observed_cond.notify_all();
                    }
                    let _ = self.sh.cb_tx.send(Job::State(true, serial));
                }
                HostEvent::SerialIn(t, raw) => {
                    if t == tag::SALE_INFO {
                        // Devices re-send a sale info until acknowledged, also across
                        // reconnects (a new session): deliver each one once.
                        if self.recent_sales.iter().any(|s| *s == raw) {
                            self.sh.logf(
                                LogLevel::Debug,
                                "Connection",
                                "repeated sale info not delivered again",
                            );
                            continue;
                        }
                        if self.recent_sales.len() == RECENT_SALES {
                            self.recent_sales.pop_front();
                        }
                        self.recent_sales.push_back(raw.clone());
                    }
                    let _ = self
                        .sh
                        .cb_tx
                        .send(Job::SerialIn(i32::from(t), decode_device_text(&raw)));
                }
                HostEvent::FiscalInfo(r) => {
                    let waiters = std::mem::take(&mut self.fiscal_waiters);
                    match r {
                        Ok(raw) => {
                            let text = decode_device_text(&raw);
                            self.sh.logf(
                                LogLevel::Info,
                                "Connection",
                                format!("FISCAL_INFO fiscalReady: 1 ({} bytes)", raw.len()),
                            );
                            self.sh.observed.lock().last_fiscal = text.clone();
                            for w in waiters {
                                let _ = w.send(Ok(text.clone()));
                            }
                        }
                        Err(_) => {
                            let gone = self
                                .link
                                .as_ref()
                                .map_or(true, |l| l.session.phase() == HostPhase::Closed);
                            let e = if gone {
                                HubError::NoDevice
                            } else {
                                HubError::Timeout
                            };
                            for w in waiters {
                                let _ = w.send(Err(e.clone()));
                            }
                        }
                    }
                }
                HostEvent::SendDone(op, r) => {
                    if let Some((reply, from_cb)) = self.pending.remove(&op) {
                        match r {
                            SendResult::Sent => {
                                let _ = reply.send(Ok(SendOutcome::Accepted));
                            }
                            SendResult::NotActive => {
                                let _ = reply.send(Ok(SendOutcome::NoDevice));
                            }
                            SendResult::AckTimeout => {
                                // serialIn(9, …) is queued already: reply after it ran.
                                if from_cb {
                                    let _ = reply.send(Ok(SendOutcome::AckTimeout));
                                } else {
                                    let _ = self.sh.cb_tx.send(Job::Barrier(Box::new(move || {
                                        let _ = reply.send(Ok(SendOutcome::AckTimeout));
                                    })));
                                }
                            }
                        }
                    }
                }
                HostEvent::CertificateOk(info) => {
                    self.sh.logf(
                        LogLevel::Debug,
                        "Connection",
                        format!("certificate ok: {info:?}"),
                    );
                }
                HostEvent::Closed => closed = true,
                HostEvent::Log(level, msg) => {
                    if msg.ends_with(crate::proto::message::text::TOO_LARGE) {
                        self.refused_too_large();
                    }
                    let level = map_level(level);
                    if self.sh.log.enabled(level) {
                        self.sh.logf(level, "Connection", msg);
                    }
                }
            }
        }
        if let Some(l) = self.link.as_mut() {
            let active = l.session.is_active();
            match (active, l.handshake_since) {
                (true, Some(_)) => l.handshake_since = None,
                (false, None) if l.session.phase() != HostPhase::Closing => {
                    l.handshake_since = Some(Instant::now())
                }
                _ => {}
            }
            // An unsolicited type 2 updates the stored value too.
            let fresh = l.session.last_fiscal_info();
            if !fresh.is_empty() {
                let mut o = self.sh.observed.lock();
                if o.last_fiscal.len() != fresh.len() || o.last_fiscal.as_bytes() != fresh {
                    o.last_fiscal = decode_device_text(fresh);
                }
            }
        }
        if closed {
            self.teardown();
        }
    }

    /// The session refused a device message for its size: say so (instead of letting a
    /// waiting `fiscal_info` time out).
    fn refused_too_large(&mut self) {
        let max = self.sh.cfg.max_receive;
        self.sh.logf(
            LogLevel::Error,
            "Connection",
            format!("a device message over the receive limit ({max} bytes, max_receive_bytes) was refused"),
        );
        for w in self.fiscal_waiters.drain(..) {
            let _ = w.send(Err(HubError::ReceiveTooLarge { max }));
        }
    }

    /// The session ended: release the link, report `(false, "")`, wake discovery.
    fn teardown(&mut self) {
        let Some(l) = self.link.take() else { return };
        l.reader_stop.store(true, Ordering::SeqCst);
        let _ = l.writer_tx.send(WriterMsg::Close);
        self.sh.active_index.store(-1, Ordering::SeqCst);
        {
            let mut o = self.sh.observed.lock();
            o.serial = None;
            o.last_fiscal.clear();
            self.sh.observed_cond.notify_all();
        }
        // Pending API calls of this link.
        for (_, (reply, _)) in self.pending.drain() {
            let _ = reply.send(Ok(SendOutcome::NoDevice));
        }
        for w in self.fiscal_waiters.drain(..) {
            let _ = w.send(Err(HubError::NoDevice));
        }
        self.sh.logf(
            LogLevel::Info,
            "Connection",
            "ConnectionState is 0 (link closed)",
        );
        if l.announced {
            let _ = self.sh.cb_tx.send(Job::State(false, String::new()));
        }
        for (reply, from_cb) in std::mem::take(&mut self.disconnect_waiters) {
            self.reply_after_callbacks(reply, from_cb);
        }
        let mut st = self.sh.disc.lock();
        let poll = st.poll;
        if st.gen == l.gen {
            st.link_open = false;
        }
        if l.became_active {
            st.failures = 0;
            st.resume_at = Some(Instant::now() + poll);
        } else {
            st.failures = st.failures.saturating_add(1);
            let back = poll
                .saturating_mul(1u32 << st.failures.min(5))
                .min(MAX_BACKOFF);
            st.resume_at = Some(Instant::now() + back);
        }
        self.sh.disc_cond.notify_all();
    }

    fn shutdown(&mut self) {
        if let Some(l) = self.link.as_mut() {
            l.session.link_lost();
        }
        self.drain();
        for (reply, from_cb) in std::mem::take(&mut self.disconnect_waiters) {
            self.reply_after_callbacks(reply, from_cb);
        }
    }
}
