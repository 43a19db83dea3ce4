//! `okc sim --listen ADDR`: the simulator on TCP. The stream carries exactly the bytes of
//! USB bulk transfers, message after message, nothing added; incoming bytes are split with
//! [`MessageSplitter`]. One device: a new connection replaces the previous one (like a
//! cable moved to another host); the receipt state survives.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{Faults, Received, SimConfig, Simulator};
use okclink::transport::mem::MAX_MESSAGE;
use okclink_wire::stream::MessageSplitter;

struct Shared {
    sim: Mutex<Simulator>,
    stop: AtomicBool,
    /// Generation of the current connection; older handlers exit.
    current: AtomicU64,
    connections: AtomicU64,
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
        sim: Mutex::new(Simulator::new(cfg)),
        stop: AtomicBool::new(false),
        current: AtomicU64::new(0),
        connections: AtomicU64::new(0),
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
    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::SeqCst)
    }
    pub fn set_faults(&self, faults: Faults) {
        self.shared.sim.lock().set_faults(faults);
    }
    pub fn faults(&self) -> Faults {
        self.shared.sim.lock().faults().clone()
    }
    pub fn request_reconnect(&self) {
        self.shared.sim.lock().request_reconnect();
    }
    pub fn received(&self) -> Vec<Received> {
        self.shared.sim.lock().received().to_vec()
    }
    pub fn received_types(&self) -> Vec<u16> {
        self.shared.sim.lock().received_types()
    }
    pub fn sales(&self) -> Vec<super::SaleRecord> {
        self.shared.sim.lock().sales().to_vec()
    }
    pub fn sales_count(&self) -> usize {
        self.shared.sim.lock().sales().len()
    }
    pub fn stats(&self) -> super::SimStats {
        self.shared.sim.lock().stats().clone()
    }
    /// Pull the cable: the current connection is closed, new ones are closed as soon as
    /// they are accepted (and not counted) until [`SimServer::plug`]. The receipt state stays.
    pub fn unplug(&self) {
        let mut sim = self.shared.sim.lock();
        self.shared.unplugged.store(true, Ordering::SeqCst);
        // No connection is current any more: its handler closes it.
        self.shared.current.fetch_add(1, Ordering::SeqCst);
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
            Ok((stream, _)) => {
                let gen = shared.current.fetch_add(1, Ordering::SeqCst) + 1;
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let s2 = shared.clone();
                if let Ok(h) = std::thread::Builder::new()
                    .name("okc-sim-conn".into())
                    .spawn(move || serve_conn(stream, s2, gen))
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

fn serve_conn(mut stream: TcpStream, shared: Arc<Shared>, gen: u64) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_nonblocking(false);
    let live =
        |s: &Shared| !s.stop.load(Ordering::SeqCst) && s.current.load(Ordering::SeqCst) == gen;
    {
        // Take the device over from the previous connection (if still current).
        let mut sim = shared.sim.lock();
        if !live(&shared) {
            return;
        }
        sim.link_reset();
    }
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
        // Every touch of the simulator happens under its lock and only while this
        // connection is the current one, so a replaced connection cannot disturb the next.
        let mut sim = shared.sim.lock();
        if !live(&shared) {
            break;
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
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
    }
    // Replaced by a newer connection or stopped.
    let _ = stream.shutdown(Shutdown::Both);
}
