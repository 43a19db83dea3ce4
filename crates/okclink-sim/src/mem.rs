//! The in-process device: a [`Connector`] yielding in-memory links to a [`Simulator`]
//! served by a background thread, and the [`SimControl`] handle.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{Faults, SimConfig, SimRecords, Simulator};
use okclink::transport::mem::{pair, MemLink, MemReader, MemWriter};
use okclink::transport::{Connector, Incoming, Link, LinkError, LinkReader, LinkWriter};

/// How often the device thread looks at its command channel while a link is open.
const POLL: Duration = Duration::from_millis(5);

enum Cmd {
    Link(MemLink),
    /// Unplug; plug back in after the duration if given.
    Unplug(Option<Duration>),
    Wake,
}

struct Shared {
    sim: SimRecords,
    plugged: AtomicBool,
    links: AtomicU64,
    name: String,
}

/// An in-process simulated device: `connect()` yields a fresh in-memory link while the
/// device is plugged in (a new link replaces the previous one, whose host side then sees
/// `Gone`), and `Ok(None)` while unplugged.
pub fn mem_connector(cfg: SimConfig) -> (Arc<dyn Connector>, SimControl) {
    let name = format!("sim {}", cfg.serial);
    let shared = Arc::new(Shared {
        sim: SimRecords::new(Simulator::new(cfg)),
        plugged: AtomicBool::new(true),
        links: AtomicU64::new(0),
        name,
    });
    let (tx, rx) = channel();
    let s2 = shared.clone();
    std::thread::Builder::new()
        .name("okc-sim-device".into())
        .spawn(move || device_thread(s2, rx))
        .expect("spawning the simulator thread");
    let conn = SimConnector {
        shared: shared.clone(),
        tx: Mutex::new(tx.clone()),
    };
    (
        Arc::new(conn),
        SimControl {
            shared,
            tx: Mutex::new(tx),
        },
    )
}

struct SimConnector {
    shared: Arc<Shared>,
    tx: Mutex<Sender<Cmd>>,
}

impl Connector for SimConnector {
    fn name(&self) -> String {
        format!("mem://{}", self.shared.name)
    }
    fn connect(&self, _budget: Duration) -> Result<Option<Box<dyn Link>>, LinkError> {
        if !self.shared.plugged.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let model = self.shared.sim.lock().model();
        let (host, dev) = pair(model, &self.shared.name);
        if self.tx.lock().send(Cmd::Link(dev)).is_err() {
            return Ok(None);
        }
        self.shared.links.fetch_add(1, Ordering::SeqCst);
        Ok(Some(Box::new(host)))
    }
    fn poll_interval(&self) -> Duration {
        Duration::from_millis(20)
    }
}

/// Control and inspection of an in-process simulated device (cheap to clone; the device
/// thread ends when the connector and every `SimControl` are dropped).
pub struct SimControl {
    shared: Arc<Shared>,
    tx: Mutex<Sender<Cmd>>,
}

impl Clone for SimControl {
    fn clone(&self) -> Self {
        SimControl {
            shared: self.shared.clone(),
            tx: Mutex::new(self.tx.lock().clone()),
        }
    }
}

impl SimControl {
    /// Pull the cable: the current link (if any) goes away, `connect()` yields nothing.
    pub fn unplug(&self) {
        self.shared.plugged.store(false, Ordering::SeqCst);
        let _ = self.tx.lock().send(Cmd::Unplug(None));
    }
    /// Pull the cable and plug it back in after `d` (by the device thread).
    pub fn unplug_for(&self, d: Duration) {
        self.shared.plugged.store(false, Ordering::SeqCst);
        let _ = self.tx.lock().send(Cmd::Unplug(Some(d)));
    }
    /// Plug the device back in: `connect()` yields links again.
    pub fn plug(&self) {
        self.shared.plugged.store(true, Ordering::SeqCst);
        let _ = self.tx.lock().send(Cmd::Wake);
    }
    pub fn is_plugged(&self) -> bool {
        self.shared.plugged.load(Ordering::SeqCst)
    }
    /// Replace the fault switches.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.sim.lock().set_faults(faults);
        self.wake();
    }
    /// Change the processing delay.
    pub fn set_processing_delay(&self, d: Duration) {
        self.shared.sim.lock().set_processing_delay(d);
    }
    /// Change the time between payment and receipt.
    pub fn set_sale_delay(&self, d: Duration) {
        self.shared.sim.lock().set_sale_delay(d);
    }
    /// Send a RECONNECT (type 8) on the current link.
    pub fn request_reconnect(&self) {
        self.shared.sim.lock().request_reconnect();
        self.wake();
    }
    /// Links handed out by the connector so far.
    pub fn links_opened(&self) -> u64 {
        self.shared.links.load(Ordering::SeqCst)
    }
    /// Whether the host completed the handshake on the current link.
    pub fn is_connected(&self) -> bool {
        self.shared.sim.lock().is_connected()
    }
    /// Run `f` on the simulator (under its lock; keep it short).
    pub fn with<R>(&self, f: impl FnOnce(&mut Simulator) -> R) -> R {
        let r = f(&mut self.shared.sim.lock());
        self.wake();
        r
    }
    fn wake(&self) {
        let _ = self.tx.lock().send(Cmd::Wake);
    }
}

type Io = (MemReader, MemWriter);

fn device_thread(shared: Arc<Shared>, rx: Receiver<Cmd>) {
    let mut link: Option<Io> = None;
    let mut replug_at: Option<Instant> = None;
    loop {
        if replug_at.is_some_and(|t| t <= Instant::now()) {
            replug_at = None;
            shared.plugged.store(true, Ordering::SeqCst);
        }
        // Commands.
        let wait = if link.is_some() {
            Duration::ZERO
        } else {
            let d = [shared.sim.lock().next_deadline(), replug_at]
                .into_iter()
                .flatten()
                .min();
            d.map_or(Duration::from_millis(500), |d| {
                d.saturating_duration_since(Instant::now())
            })
        };
        let cmd = if wait.is_zero() {
            match rx.try_recv() {
                Ok(c) => Some(c),
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => return,
            }
        } else {
            match rx.recv_timeout(wait) {
                Ok(c) => Some(c),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        };
        match cmd {
            Some(Cmd::Link(l)) => {
                if !shared.plugged.load(Ordering::SeqCst) {
                    // Unplugged between connect() and now: the link is dead on arrival.
                    continue;
                }
                if let Some((_, mut w)) = link.take() {
                    w.close();
                }
                shared.sim.lock().link_reset();
                link = Some(l.into_parts());
            }
            Some(Cmd::Unplug(again)) => {
                replug_at = again.map(|d| Instant::now() + d);
                if let Some((_, mut w)) = link.take() {
                    w.close();
                    shared.sim.lock().link_reset();
                }
            }
            Some(Cmd::Wake) | None => {}
        }
        // Link traffic.
        if let Some((r, _)) = link.as_mut() {
            let timeout = shared
                .sim
                .lock()
                .next_deadline()
                .map_or(POLL, |d| d.saturating_duration_since(Instant::now()))
                .min(POLL);
            match r.recv(timeout) {
                Ok(Incoming::Message(m)) => shared.sim.lock().on_message(Instant::now(), &m),
                Ok(Incoming::Garbage(t)) => shared.sim.lock().on_garbage(t),
                Ok(Incoming::Idle) => {}
                Err(_) => {
                    link = None;
                    shared.sim.lock().link_reset();
                    continue;
                }
            }
        }
        // Time and output.
        let mut sim = shared.sim.lock();
        sim.on_tick(Instant::now());
        let mut failed = false;
        while let Some(m) = sim.poll_output() {
            if let Some((_, w)) = link.as_mut() {
                if w.send(&m).is_err() {
                    failed = true;
                }
            }
        }
        if sim.vanished() {
            shared.plugged.store(false, Ordering::SeqCst);
            replug_at = sim.config().replug_after.map(|d| Instant::now() + d);
            failed = true;
        }
        if failed {
            if let Some((_, mut w)) = link.take() {
                w.close();
            }
            sim.link_reset();
        }
    }
}

impl std::ops::Deref for SimControl {
    type Target = SimRecords;
    /// The recorded state: `faults`, `received`, `received_types`, `sales`, `stats`, ….
    fn deref(&self) -> &SimRecords {
        &self.shared.sim
    }
}
