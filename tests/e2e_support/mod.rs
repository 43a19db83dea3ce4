//! Test support for the end-to-end hub tests: a small fake ÖKC built on the device session
//! engine (`DeviceSession`), reachable over an in-memory link pair or TCP, with switches
//! for the faults the tests need, and a recorder for callbacks.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use okclink::hub::text::{decode_device_text, encode_outgoing_json};
use okclink::hub::{Config, Hub, TextEncoding, TransportSpec};
use okclink::proto::device::{DeviceConfig, DeviceEvent, DeviceSession};
use okclink::proto::message::{build_message, tag};
use okclink::proto::stream::MessageSplitter;
use okclink::transport::{
    Connector, DeviceModel, Incoming, Link, LinkError, LinkReader, LinkWriter,
};
use okclink_sim::identity::DeviceIdentity;

pub const FISCAL_JSON: &str = r#"{"businessMode":0,"pluCount":1,"plus":[{"name":"ÇAY","pluNo":1,"price":500}],"receiptLimit":525000}"#;
/// "Ödemeleri ayrı ayrı göndermelisiniz" as a 300TR sends it (cp1254).
pub const REJECT_CP1254: &[u8] = b"\xd6demeleri ayr\xfd ayr\xfd g\xf6ndermelisiniz";
pub const REJECT_UTF8: &str = "Ödemeleri ayrı ayrı göndermelisiniz";

/// Fault switches and what the device saw.
#[derive(Default)]
pub struct DevState {
    /// Drop everything the device would send (a device whose app is closed).
    pub mute: bool,
    /// Do not answer the 300TR ACK request.
    pub no_ack: bool,
    /// Present to the connector.
    pub plugged: bool,
    /// Every application request (tag, raw payload) in arrival order.
    pub requests: Vec<(u16, Vec<u8>)>,
    /// Raw messages to write to the host as they are (corrupted frames).
    pub inject: Vec<Vec<u8>>,
    /// Ask the host to redo the handshake (type 8).
    pub want_reconnect: bool,
    /// Kill the current link (unplug).
    pub kill: bool,
    pub receipt_no: u64,
    pub links_opened: u32,
    pub hello_race: bool,
    /// Send this many corrupted (bad CRC) sale-info messages under the session key.
    pub corrupt: u32,
}

pub struct FakeDevice {
    pub model: DeviceModel,
    pub serial: String,
    identity: DeviceIdentity,
    pub st: Arc<Mutex<DevState>>,
}

impl FakeDevice {
    pub fn new(model: DeviceModel) -> Arc<FakeDevice> {
        let serial = match model {
            DeviceModel::X30tr => "AV0000000121",
            DeviceModel::T300tr => "AT0000531911",
        };
        let identity = DeviceIdentity::generate(model, serial).unwrap();
        Arc::new(FakeDevice {
            model,
            serial: serial.to_string(),
            identity,
            st: Arc::new(Mutex::new(DevState {
                plugged: true,
                ..Default::default()
            })),
        })
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut DevState) -> R) -> R {
        f(&mut self.st.lock().unwrap())
    }

    pub fn requests_of(&self, t: u16) -> Vec<Vec<u8>> {
        self.with(|s| {
            s.requests
                .iter()
                .filter(|r| r.0 == t)
                .map(|r| r.1.clone())
                .collect()
        })
    }

    pub fn unplug(&self) {
        self.with(|s| {
            s.plugged = false;
            s.kill = true;
        });
    }

    pub fn plug(&self) {
        self.with(|s| s.plugged = true);
    }

    fn session(&self) -> DeviceSession {
        let mut dc = DeviceConfig::new(self.model, &self.serial, self.identity.message.clone());
        dc.hello_ok_after_keyshare = self.with(|s| s.hello_race);
        DeviceSession::new(dc)
    }

    /// Run the device over a message pipe until it is killed or the host goes away.
    fn run(self: Arc<Self>, mut io: Box<dyn DevIo>) {
        let mut dev = self.session();
        loop {
            let (kill, mut inject, reconnect) = self.with(|s| {
                let k = std::mem::take(&mut s.kill);
                (
                    k,
                    std::mem::take(&mut s.inject),
                    std::mem::take(&mut s.want_reconnect),
                )
            });
            for _ in 0..self.with(|s| std::mem::take(&mut s.corrupt)) {
                inject.push(corrupt_sale_info(dev.key()));
            }
            if kill {
                return;
            }
            for m in inject {
                if io.send(&m).is_err() {
                    return;
                }
            }
            if reconnect {
                dev.request_reconnect();
            }
            match io.recv(Duration::from_millis(10)) {
                Ok(Some(m)) => dev.on_message(&m),
                Ok(None) => {}
                Err(()) => return,
            }
            loop {
                let evs: Vec<DeviceEvent> = std::iter::from_fn(|| dev.poll_event()).collect();
                if evs.is_empty() {
                    break;
                }
                // Record a DISCONNECT before its reply goes out: the host returns from
                // disconnect() as soon as the reply arrives, and tests then look.
                if evs.iter().any(|e| matches!(e, DeviceEvent::Disconnected)) {
                    self.with(|s| s.requests.push((tag::DISCONNECT, vec![])));
                }
                for ev in evs {
                    match ev {
                        DeviceEvent::Send(m) if !self.with(|s| s.mute) && io.send(&m).is_err() => {
                            return;
                        }
                        DeviceEvent::Request(t, v) => {
                            self.with(|s| s.requests.push((t, v.clone())));
                            self.app(&mut dev, t, &v);
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// The fiscal application.
    fn app(&self, dev: &mut DeviceSession, t: u16, v: &[u8]) {
        let x30 = self.model == DeviceModel::X30tr;
        match t {
            tag::FISCAL_INFO => dev.answer(tag::FISCAL_INFO, FISCAL_JSON.as_bytes()),
            tag::ACK if !self.with(|s| s.no_ack) => dev.send(tag::ACK, b""),
            tag::BASKET => {
                // Devices read and write cp1254.
                let basket: serde_json::Value =
                    serde_json::from_str(&decode_device_text(v)).unwrap_or_default();
                if basket.get("reject").is_some() {
                    dev.send(tag::BASKET, REJECT_CP1254);
                    return;
                }
                let n = self.with(|s| {
                    s.receipt_no += 1;
                    s.receipt_no
                });
                if x30 {
                    dev.send(tag::BASKET, b"OK");
                    let pays = basket
                        .get("paymentItems")
                        .cloned()
                        .unwrap_or(serde_json::json!([]));
                    let sale = serde_json::json!({
                        "basketID": basket.get("basketID").cloned().unwrap_or_default(),
                        "message": "OK",
                        "paymentCount": pays.as_array().map(|a| a.len()).unwrap_or(0),
                        "paymentItems": pays,
                        "receiptNo": n,
                        "status": 0,
                        "zNo": 39,
                    });
                    dev.send(tag::SALE_INFO, &cp1254(&sale));
                } else {
                    let id = basket.get("basketID").cloned().unwrap_or_default();
                    let reply = serde_json::json!({"basketID": id, "status": 0});
                    dev.send(tag::BASKET, reply.to_string().as_bytes());
                }
            }
            tag::PAYMENT => {
                let p: serde_json::Value =
                    serde_json::from_str(&decode_device_text(v)).unwrap_or_default();
                let n = self.with(|s| {
                    s.receipt_no += 1;
                    s.receipt_no
                });
                let status = if p.get("isVoid").is_some() { -1 } else { 0 };
                let sale = serde_json::json!({
                    "basketID": "", "documentType": 9008, "message": "OK",
                    "paymentCount": 1, "receiptNo": n, "status": status, "zNo": 105
                });
                dev.send(tag::SALE_INFO, sale.to_string().as_bytes());
            }
            _ => {}
        }
    }

    /// A connector that opens an in-memory link to this device when it is plugged.
    pub fn mem_connector(self: &Arc<Self>) -> Arc<dyn Connector> {
        Arc::new(MemConnector { dev: self.clone() })
    }

    /// Serve the device over TCP on a loopback port; returns the address.
    pub fn serve_tcp(self: &Arc<Self>) -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let dev = self.clone();
        thread::spawn(move || {
            for s in l.incoming() {
                let Ok(s) = s else { continue };
                if !dev.with(|st| st.plugged) {
                    drop(s);
                    continue;
                }
                dev.with(|st| {
                    st.links_opened += 1;
                    st.kill = false;
                });
                let d = dev.clone();
                thread::spawn(move || {
                    let _ = s.set_nodelay(true);
                    d.run(Box::new(TcpDevIo {
                        s,
                        split: MessageSplitter::new(1 << 22),
                        buf: vec![0; 65536],
                    }))
                });
            }
        });
        addr
    }
}

fn cp1254(v: &serde_json::Value) -> Vec<u8> {
    encode_outgoing_json(&v.to_string(), TextEncoding::Cp1254)
}

/// The device's end of a pipe.
trait DevIo: Send {
    fn recv(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>, ()>;
    fn send(&mut self, m: &[u8]) -> Result<(), ()>;
}

struct MemDevIo {
    rx: Receiver<Vec<u8>>,
    tx: Sender<Vec<u8>>,
}

impl DevIo for MemDevIo {
    fn recv(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>, ()> {
        match self.rx.recv_timeout(timeout) {
            Ok(m) => Ok(Some(m)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(()),
        }
    }
    fn send(&mut self, m: &[u8]) -> Result<(), ()> {
        self.tx.send(m.to_vec()).map_err(|_| ())
    }
}

struct TcpDevIo {
    s: TcpStream,
    split: MessageSplitter,
    buf: Vec<u8>,
}

impl DevIo for TcpDevIo {
    fn recv(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>, ()> {
        if let Some(r) = self.split.next_message() {
            return Ok(r.ok());
        }
        self.s.set_read_timeout(Some(timeout)).map_err(|_| ())?;
        match self.s.read(&mut self.buf) {
            Ok(0) => Err(()),
            Ok(n) => {
                self.split.push(&self.buf[..n]);
                Ok(self.split.next_message().and_then(|r| r.ok()))
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(None),
            Err(_) => Err(()),
        }
    }
    fn send(&mut self, m: &[u8]) -> Result<(), ()> {
        self.s.write_all(m).map_err(|_| ())
    }
}

struct MemConnector {
    dev: Arc<FakeDevice>,
}

impl Connector for MemConnector {
    fn name(&self) -> String {
        "fake-mem".into()
    }
    fn connect(&self, _budget: Duration) -> Result<Option<Box<dyn Link>>, LinkError> {
        if !self.dev.with(|s| s.plugged) {
            return Ok(None);
        }
        let (to_dev_tx, to_dev_rx) = channel();
        let (to_host_tx, to_host_rx) = channel();
        self.dev.with(|s| {
            s.links_opened += 1;
            s.kill = false;
        });
        let d = self.dev.clone();
        thread::spawn(move || {
            d.run(Box::new(MemDevIo {
                rx: to_dev_rx,
                tx: to_host_tx,
            }))
        });
        Ok(Some(Box::new(MemLink {
            model: self.dev.model,
            rx: to_host_rx,
            tx: to_dev_tx,
        })))
    }
    fn poll_interval(&self) -> Duration {
        Duration::from_millis(20)
    }
}

struct MemLink {
    model: DeviceModel,
    rx: Receiver<Vec<u8>>,
    tx: Sender<Vec<u8>>,
}

impl Link for MemLink {
    fn model(&self) -> DeviceModel {
        self.model
    }
    fn describe(&self) -> String {
        "fake in-memory device".into()
    }
    fn split(self: Box<Self>) -> (Box<dyn LinkReader>, Box<dyn LinkWriter>) {
        (
            Box::new(MemReader { rx: self.rx }),
            Box::new(MemWriter { tx: Some(self.tx) }),
        )
    }
}

struct MemReader {
    rx: Receiver<Vec<u8>>,
}

impl LinkReader for MemReader {
    fn recv(&mut self, timeout: Duration) -> Result<Incoming, LinkError> {
        match self.rx.recv_timeout(timeout) {
            Ok(m) => Ok(Incoming::Message(m)),
            Err(RecvTimeoutError::Timeout) => Ok(Incoming::Idle),
            Err(RecvTimeoutError::Disconnected) => {
                Err(LinkError::Gone("device thread ended".into()))
            }
        }
    }
}

struct MemWriter {
    tx: Option<Sender<Vec<u8>>>,
}

impl LinkWriter for MemWriter {
    fn send(&mut self, message: &[u8]) -> Result<(), LinkError> {
        match &self.tx {
            Some(tx) => tx
                .send(message.to_vec())
                .map_err(|_| LinkError::Gone("device thread ended".into())),
            None => Err(LinkError::Gone("closed".into())),
        }
    }
    fn close(&mut self) {
        self.tx = None;
    }
}

// ------------------------------------------------------------------------------------------

/// Which transport a test runs over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Mem,
    Tcp,
}

/// A hub config for tests: short timeouts, no log file.
pub fn test_config(dev: &Arc<FakeDevice>, via: Via) -> Config {
    let mut c = Config::new("YourCompanyName");
    c.log_dir = None;
    c.fiscal_timeout = Duration::from_millis(500);
    c.ack_timeout = Duration::from_millis(300);
    c.disconnect_timeout = Duration::from_millis(500);
    c.transports = vec![match via {
        Via::Mem => TransportSpec::Custom(dev.mem_connector()),
        Via::Tcp => {
            let addr = dev.serve_tcp();
            let model = if dev.model == DeviceModel::T300tr {
                "?model=300tr"
            } else {
                ""
            };
            TransportSpec::Tcp(format!("{addr}{model}"))
        }
    }];
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

pub fn corrupt_sale_info(key: &okclink::proto::pipeline::Key) -> Vec<u8> {
    let mut m = build_message(key, tag::SALE_INFO, b"{\"receiptNo\":999}");
    let n = m.len();
    m[n - 30] ^= 0xff;
    m
}
