//! `okc sim --pty`: the simulated device on a pseudo-terminal, for programs that only speak
//! serial (the 300TR's FTDI port). The master side is served here; the slave side's path
//! ([`PtyServer::path`], e.g. `/dev/pts/5`) is what the program opens instead of
//! `/dev/ttyUSB0`. The byte stream is the same as on the real port (and on TCP): whole
//! messages, nothing added, re-assembled with [`MessageSplitter`].
//!
//! A host closing the port is seen as a read error on the master (no slave open): the
//! device session is reset then, as on a link drop; a host that re-opens it starts with a
//! hello anyway. The receipt state survives.

use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serialport::{SerialPort, TTYPort};

use super::{Received, SaleRecord, SimConfig, SimStats, Simulator};
use okclink::transport::mem::MAX_MESSAGE;
use okclink_wire::stream::MessageSplitter;

/// A simulator served on a pseudo-terminal.
pub struct PtyServer {
    path: PathBuf,
    sim: Arc<Mutex<Simulator>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Open a pseudo-terminal pair and serve `cfg` on its master side (background thread).
pub fn serve_pty(cfg: SimConfig) -> std::io::Result<PtyServer> {
    let (master, slave) = TTYPort::pair().map_err(std::io::Error::other)?;
    let path = PathBuf::from(
        slave
            .name()
            .ok_or_else(|| std::io::Error::other("the pty slave has no name"))?,
    );
    // Nobody holds the slave until the host opens it (reads then fail with EIO: idle).
    drop(slave);
    let sim = Arc::new(Mutex::new(Simulator::new(cfg)));
    let stop = Arc::new(AtomicBool::new(false));
    let (sim2, stop2) = (sim.clone(), stop.clone());
    let thread = std::thread::Builder::new()
        .name("okc-sim-pty".into())
        .spawn(move || serve(master, &sim2, &stop2))?;
    Ok(PtyServer {
        path,
        sim,
        stop,
        thread: Some(thread),
    })
}

fn serve(mut master: TTYPort, sim: &Mutex<Simulator>, stop: &AtomicBool) {
    let mut split = MessageSplitter::new(MAX_MESSAGE);
    let mut buf = vec![0u8; 64 * 1024];
    // Whether a host has the port open (we have read from it since the last error).
    let mut open = false;
    while !stop.load(Ordering::SeqCst) {
        let slice = sim
            .lock()
            .next_deadline()
            .map_or(Duration::from_millis(20), |d| {
                d.saturating_duration_since(Instant::now())
            })
            .clamp(Duration::from_millis(1), Duration::from_millis(20));
        let _ = master.set_timeout(slice);
        match master.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => {
                open = true;
                split.push(&buf[..n]);
            }
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => {
                // EIO: no host has the slave open (not yet, or it closed the port).
                if open {
                    open = false;
                    split.clear();
                    sim.lock().link_reset();
                }
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        }
        let mut s = sim.lock();
        while let Some(m) = split.next_message() {
            match m {
                Ok(m) => s.on_message(Instant::now(), &m),
                Err(t) => s.on_garbage(t),
            }
        }
        s.on_tick(Instant::now());
        while let Some(out) = s.poll_output() {
            if master.write_all(&out).is_err() {
                break;
            }
        }
        if s.vanished() {
            s.link_reset();
        }
    }
}

impl PtyServer {
    /// The slave side's path, to open as the serial port (`/dev/pts/N`).
    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn received(&self) -> Vec<Received> {
        self.sim.lock().received().to_vec()
    }
    pub fn received_types(&self) -> Vec<u16> {
        self.sim.lock().received_types()
    }
    pub fn sales(&self) -> Vec<SaleRecord> {
        self.sim.lock().sales().to_vec()
    }
    pub fn stats(&self) -> SimStats {
        self.sim.lock().stats().clone()
    }
    /// Run `f` on the simulator (under its lock).
    pub fn with<R>(&self, f: impl FnOnce(&mut Simulator) -> R) -> R {
        f(&mut self.sim.lock())
    }
    /// Serve until the process ends (`okc sim --pty`).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
    /// Stop serving and close the master side.
    pub fn shutdown(self) {}
}

impl Drop for PtyServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
