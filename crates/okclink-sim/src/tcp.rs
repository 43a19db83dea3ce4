//! `okc sim --listen ADDR`: the simulator on TCP. The stream carries exactly the bytes of
//! USB bulk transfers, message after message, nothing added; incoming bytes are split with
//! [`MessageSplitter`].
//!
//! One device, one host at a time, and the active host is never knocked off: a connection
//! that arrives while another host is connected waits up to [`BUSY_GRACE`] for the device to
//! become free (a host reconnecting closes its old connection just before, and the server
//! notices that within a read slice), then is refused: the server writes one text line
//! (`okc sim: busy …`, no `00 31` start, so a host's stream reader discards it as junk),
//! closes it, and counts it in [`SimServer::refused`]. `okc watch` started beside a POS
//! therefore cannot break the POS's sale. The receipt state survives every link change.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{Faults, SimConfig, SimRecords, Simulator};
use okclink::transport::mem::MAX_MESSAGE;
use okclink_wire::stream::MessageSplitter;

/// How long a newcomer waits for the active host to go before it is refused.
pub const BUSY_GRACE: Duration = Duration::from_millis(1000);

struct Shared {
    sim: SimRecords,
    stop: AtomicBool,
    /// Id of the connection that owns the device (0: none).
    current: AtomicU64,
    /// Peer address of the owner (for the refusal text).
    owner: Mutex<Option<SocketAddr>>,
    next_id: AtomicU64,
    connections: AtomicU64,
    refused: AtomicU64,
    /// Print refusals to stderr (`okc sim`).
    announce: AtomicBool,
    /// Unplugged: connections are closed as soon as they are accepted.
    unplugged: AtomicBool,
}

/// A running TCP simulator.
pub struct SimServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

/// Bind `addr` and serve a simulated device on a background thread. Returns at once.
pub fn serve_tcp(addr: &str, cfg: SimConfig) -> std::io::Result<SimServer> {
    let listener = TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let shared = Arc::new(Shared {
        sim: SimRecords::new(Simulator::new(cfg)),
        stop: AtomicBool::new(false),
        current: AtomicU64::new(0),
        owner: Mutex::new(None),
        next_id: AtomicU64::new(0),
        connections: AtomicU64::new(0),
        refused: AtomicU64::new(0),
        announce: AtomicBool::new(false),
        unplugged: AtomicBool::new(false),
    });
    let s2 = shared.clone();
    let accept = std::thread::Builder::new()
        .name("okc-sim-accept".into())
        .spawn(move || accept_loop(listener, s2))?;
    Ok(SimServer {
        addr: local,
        shared,
        accept: Some(accept),
    })
}

/// `okc sim`: serve until the process ends.
pub fn run_tcp_blocking(addr: &str, cfg: SimConfig) -> std::io::Result<()> {
    let model = cfg.model;
    let serial = cfg.serial.clone();
    let mut server = serve_tcp(addr, cfg)?;
    server.shared.announce.store(true, Ordering::SeqCst);
    eprintln!(
        "okc sim: {model:?} {serial} listening on {}",
        server.local_addr()
    );
    if let Some(h) = server.accept.take() {
        let _ = h.join();
    }
    Ok(())
}

impl SimServer {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
    /// Stop accepting, drop the current connection, join the threads.
    pub fn shutdown(mut self) {
        self.stop_now();
    }
    fn stop_now(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
    /// Connections that got the device so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::SeqCst)
    }
    /// Connections refused because another host had the device.
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::SeqCst)
    }
    /// Whether a host owns the device now.
    pub fn busy(&self) -> bool {
        self.shared.current.load(Ordering::SeqCst) != 0
    }
    pub fn set_faults(&self, faults: Faults) {
        self.shared.sim.lock().set_faults(faults);
    }
    pub fn request_reconnect(&self) {
        self.shared.sim.lock().request_reconnect();
    }
    /// Pull the cable: the current connection is closed, new ones are closed as soon as
    /// they are accepted (and not counted) until [`SimServer::plug`]. The receipt state stays.
    pub fn unplug(&self) {
        let mut sim = self.shared.sim.lock();
        // The owner's handler sees it at its next turn, closes its connection and lets go.
        self.shared.unplugged.store(true, Ordering::SeqCst);
        sim.link_reset();
    }
    /// Plug the device back in: connections are served again.
    pub fn plug(&self) {
        self.shared.unplugged.store(false, Ordering::SeqCst);
    }
    pub fn is_plugged(&self) -> bool {
        !self.shared.unplugged.load(Ordering::SeqCst)
    }
    /// Run `f` on the simulator (under its lock).
    pub fn with<R>(&self, f: impl FnOnce(&mut Simulator) -> R) -> R {
        f(&mut self.shared.sim.lock())
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.stop_now();
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut handlers: Vec<JoinHandle<()>> = Vec::new();
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) if shared.unplugged.load(Ordering::SeqCst) => {
                let _ = stream.shutdown(Shutdown::Both);
            }
            Ok((stream, peer)) => {
                let id = shared.next_id.fetch_add(1, Ordering::SeqCst) + 1;
                let s2 = shared.clone();
                if let Ok(h) = std::thread::Builder::new()
                    .name("okc-sim-conn".into())
                    .spawn(move || serve_conn(stream, peer, s2, id))
                {
                    handlers.push(h);
                }
                handlers.retain(|h| !h.is_finished());
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    for h in handlers {
        let _ = h.join();
    }
}

/// Take the device for connection `id`, waiting up to [`BUSY_GRACE`] for the owner to go.
fn claim(shared: &Shared, id: u64, peer: SocketAddr) -> Result<(), Option<SocketAddr>> {
    let end = Instant::now() + BUSY_GRACE;
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return Err(None);
        }
        {
            let mut owner = shared.owner.lock();
            if shared
                .current
                .compare_exchange(0, id, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                *owner = Some(peer);
                return Ok(());
            }
            if Instant::now() >= end {
                return Err(*owner);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn release(shared: &Shared, id: u64) {
    let mut owner = shared.owner.lock();
    if shared
        .current
        .compare_exchange(id, 0, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
    {
        *owner = None;
    }
}

fn serve_conn(mut stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>, id: u64) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_nonblocking(false);
    if let Err(owner) = claim(&shared, id, peer) {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        shared.refused.fetch_add(1, Ordering::SeqCst);
        let by = owner.map_or_else(|| "another host".to_string(), |o| o.to_string());
        let text = format!(
            "okc sim: busy: the simulated device is in use by {by} (one host at a time); connection from {peer} refused\n"
        );
        if shared.announce.load(Ordering::SeqCst) {
            eprint!("{text}");
        }
        let _ = stream.write_all(text.as_bytes());
        let _ = stream.shutdown(Shutdown::Both);
        return;
    }
    shared.connections.fetch_add(1, Ordering::SeqCst);
    serve_owned(&mut stream, &shared);
    let _ = stream.shutdown(Shutdown::Both);
    release(&shared, id);
}

/// Serve the device to the connection that owns it until it closes or the server stops.
fn serve_owned(stream: &mut TcpStream, shared: &Shared) {
    shared.sim.lock().link_reset();
    let mut splitter = MessageSplitter::new(MAX_MESSAGE);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let timeout = shared
            .sim
            .lock()
            .next_deadline()
            .map_or(Duration::from_millis(20), |d| {
                d.saturating_duration_since(Instant::now())
            })
            .clamp(Duration::from_millis(1), Duration::from_millis(20));
        let _ = stream.set_read_timeout(Some(timeout));
        let mut closed = false;
        match stream.read(&mut buf) {
            Ok(0) => closed = true,
            Ok(n) => splitter.push(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => closed = true,
        }
        let mut sim = shared.sim.lock();
        if shared.stop.load(Ordering::SeqCst) || shared.unplugged.load(Ordering::SeqCst) {
            return;
        }
        if closed {
            sim.link_reset();
            return;
        }
        while let Some(m) = splitter.next_message() {
            match m {
                Ok(m) => sim.on_message(Instant::now(), &m),
                Err(t) => sim.on_garbage(t),
            }
        }
        sim.on_tick(Instant::now());
        while let Some(m) = sim.poll_output() {
            if stream.write_all(&m).is_err() {
                closed = true;
                break;
            }
        }
        if sim.vanished() || closed {
            sim.link_reset();
            return;
        }
    }
}

impl std::ops::Deref for SimServer {
    type Target = SimRecords;
    /// The recorded state: `faults`, `received`, `received_types`, `sales`, `stats`, ….
    fn deref(&self) -> &SimRecords {
        &self.shared.sim
    }
}
