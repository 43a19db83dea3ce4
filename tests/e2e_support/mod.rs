//! Test support for the end-to-end hub tests: the simulator (`okclink_sim`) reachable over
//! the in-memory connector or TCP (`serve_tcp`) with one handle for both, a hub config with
//! short timeouts, and a recorder for callbacks.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use okclink::hub::{Config, Hub, TransportSpec};
use okclink::transport::DeviceModel;
use okclink_sim::{self as sim, Faults, Received, SaleRecord, SimConfig, SimControl, SimServer};

/// Which transport a test runs over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Mem,
    Tcp,
}

/// A simulated device behind the in-memory connector or on TCP.
pub enum Dev {
    Mem(SimControl),
    Tcp(SimServer),
}

impl Dev {
    /// Start the simulator for `via`; returns it and the transport the hub uses to reach it.
    pub fn start(cfg: SimConfig, via: Via) -> (Dev, TransportSpec) {
        match via {
            Via::Mem => {
                let (conn, ctl) = sim::mem_connector(cfg);
                (Dev::Mem(ctl), TransportSpec::Custom(conn))
            }
            Via::Tcp => {
                let model = cfg.model;
                let s = sim::serve_tcp("127.0.0.1:0", cfg).unwrap();
                let q = if model == DeviceModel::T300tr {
                    "?model=300tr"
                } else {
                    ""
                };
                let spec = TransportSpec::Tcp(format!("{}{q}", s.local_addr()));
                (Dev::Tcp(s), spec)
            }
        }
    }
    pub fn set_faults(&self, f: Faults) {
        match self {
            Dev::Mem(c) => c.set_faults(f),
            Dev::Tcp(s) => s.set_faults(f),
        }
    }
    pub fn faults(&self) -> Faults {
        match self {
            Dev::Mem(c) => c.faults(),
            Dev::Tcp(s) => s.faults(),
        }
    }
    /// Change some fault switches.
    pub fn fault(&self, f: impl FnOnce(&mut Faults)) {
        let mut x = self.faults();
        f(&mut x);
        self.set_faults(x);
    }
    /// Everything the device received (decoded), in order.
    pub fn received(&self) -> Vec<Received> {
        match self {
            Dev::Mem(c) => c.received(),
            Dev::Tcp(s) => s.received(),
        }
    }
    pub fn received_types(&self) -> Vec<u16> {
        self.received().iter().map(|r| r.tag).collect()
    }
    /// The payloads of type `t` the device received, in order.
    pub fn requests_of(&self, t: u16) -> Vec<Vec<u8>> {
        self.received()
            .into_iter()
            .filter(|r| r.tag == t)
            .map(|r| r.payload)
            .collect()
    }
    pub fn sales(&self) -> Vec<SaleRecord> {
        match self {
            Dev::Mem(c) => c.sales(),
            Dev::Tcp(s) => s.sales(),
        }
    }
    pub fn request_reconnect(&self) {
        match self {
            Dev::Mem(c) => c.request_reconnect(),
            Dev::Tcp(s) => s.request_reconnect(),
        }
    }
    /// Pull the cable (TCP: connections are closed at once until `plug`).
    pub fn unplug(&self) {
        match self {
            Dev::Mem(c) => c.unplug(),
            Dev::Tcp(s) => s.unplug(),
        }
    }
    /// Plug the device back in (also after the vanish fault unplugged it).
    pub fn plug(&self) {
        match self {
            Dev::Mem(c) => c.plug(),
            Dev::Tcp(s) => s.plug(),
        }
    }
    /// Links the device accepted: connector links / TCP connections.
    pub fn links_opened(&self) -> u64 {
        match self {
            Dev::Mem(c) => c.links_opened(),
            Dev::Tcp(s) => s.connections(),
        }
    }
}

/// A hub config for tests: `spec` only, short timeouts, no log file.
pub fn test_config(spec: TransportSpec) -> Config {
    let mut c = Config::new("YourCompanyName");
    c.transports = vec![spec];
    c.log_dir = None;
    c.fiscal_timeout = Duration::from_millis(500);
    c.ack_timeout = Duration::from_millis(300);
    c.disconnect_timeout = Duration::from_millis(500);
    c
}

/// One callback invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Serial(i32, String),
    State(bool, String),
}

#[derive(Clone, Default)]
pub struct Recorder {
    inner: Arc<(Mutex<Vec<Ev>>, Condvar)>,
    pub threads: Arc<Mutex<Vec<thread::ThreadId>>>,
}

impl Recorder {
    pub fn attach(&self, hub: &Hub) {
        let r = self.clone();
        hub.set_serial_in_callback(Some(Box::new(move |t, v| {
            r.push(Ev::Serial(t, v.to_string()))
        })));
        let r = self.clone();
        hub.set_device_state_callback(Some(Box::new(move |c, s| {
            r.push(Ev::State(c, s.to_string()))
        })));
    }
    pub fn push(&self, e: Ev) {
        self.threads.lock().unwrap().push(thread::current().id());
        let (m, c) = &*self.inner;
        m.lock().unwrap().push(e);
        c.notify_all();
    }
    pub fn events(&self) -> Vec<Ev> {
        self.inner.0.lock().unwrap().clone()
    }
    pub fn clear(&self) {
        self.inner.0.lock().unwrap().clear();
    }
    /// Wait until `pred` holds for the event list (panics after 10 s).
    pub fn wait_for(&self, what: &str, pred: impl Fn(&[Ev]) -> bool) -> Vec<Ev> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let (m, c) = &*self.inner;
        let mut g = m.lock().unwrap();
        loop {
            if pred(&g) {
                return g.clone();
            }
            let now = Instant::now();
            if now >= deadline {
                let n = g.len();
                let tail: Vec<String> = g
                    .iter()
                    .skip(n.saturating_sub(5))
                    .map(|e| format!("{e:?}").chars().take(160).collect())
                    .collect();
                panic!("timed out waiting for {what}; {n} events, last: {tail:?}");
            }
            g = c.wait_timeout(g, deadline - now).unwrap().0;
        }
    }
    pub fn count(&self, e: &Ev) -> usize {
        self.events().iter().filter(|x| *x == e).count()
    }
}

/// Wait until `f` is true (panics after 10 s).
pub fn wait_until(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        thread::sleep(Duration::from_millis(2));
    }
}

pub fn flag() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

pub fn set(f: &AtomicBool) {
    f.store(true, Ordering::SeqCst)
}

/// A fresh directory for a hub's log file.
pub fn log_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("okc-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// The text of the one log file the hub wrote into `dir` (the journal lives beside it).
pub fn log_text(dir: &std::path::Path) -> String {
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|f| f.file_name().to_string_lossy().ends_with(".log"))
        .collect();
    assert_eq!(files.len(), 1, "one log file");
    std::fs::read_to_string(files[0].path()).unwrap()
}

/// What the hub's stream reader rejected (its "rejected incoming data: …" log lines).
pub fn garbage_in_log(dir: &std::path::Path) -> Vec<String> {
    log_text(dir)
        .lines()
        .filter_map(|l| {
            l.split_once("rejected incoming data: ")
                .map(|x| x.1.to_string())
        })
        .collect()
}

/// A hub on `spec` (test timeouts, no log file) with a recorder attached.
pub fn hub_on(spec: TransportSpec) -> (Hub, Recorder) {
    hub_with(test_config(spec))
}

/// A hub with `config` and a recorder attached.
pub fn hub_with(config: Config) -> (Hub, Recorder) {
    let hub = Hub::new(config).unwrap();
    let rec = Recorder::default();
    rec.attach(&hub);
    (hub, rec)
}

/// The sale infos (serialIn type 3) delivered so far, parsed.
pub fn sale_infos(ev: &[Ev]) -> Vec<serde_json::Value> {
    ev.iter()
        .filter_map(|e| match e {
            Ev::Serial(3, v) => Some(serde_json::from_str(v).expect("sale info is JSON")),
            _ => None,
        })
        .collect()
}

/// How many `(true, …)` state callbacks were delivered.
pub fn trues(ev: &[Ev]) -> usize {
    ev.iter()
        .filter(|e| matches!(e, Ev::State(true, _)))
        .count()
}

/// How many `(false, "")` state callbacks were delivered.
pub fn falses(ev: &[Ev]) -> usize {
    ev.iter()
        .filter(|e| matches!(e, Ev::State(false, _)))
        .count()
}
