//! Client side of tests/umockdev/fixture.py: the control socket and a TCP peer standing in
//! for the device end of an emulated bulk pipe or tty.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

pub struct Ctl {
    r: BufReader<UnixStream>,
    w: UnixStream,
}

impl Ctl {
    /// Connect to the fixture and remove every device left by an earlier test.
    pub fn new() -> Ctl {
        let path = std::env::var("OKC_UMOCKDEV_CTL").expect(
            "OKC_UMOCKDEV_CTL unset: run under tests/umockdev/fixture.py (.ci/test-usb.sh)",
        );
        let w = UnixStream::connect(path).expect("connect to fixture");
        let r = BufReader::new(w.try_clone().unwrap());
        let mut c = Ctl { r, w };
        c.call(json!({"op": "reset"}));
        c
    }

    pub fn call(&mut self, req: Value) -> Value {
        let mut line = serde_json::to_string(&req).unwrap();
        line.push('\n');
        self.w.write_all(line.as_bytes()).unwrap();
        let mut resp = String::new();
        self.r.read_line(&mut resp).unwrap();
        let v: Value = serde_json::from_str(&resp).unwrap();
        assert_eq!(v["ok"], json!(true), "fixture refused {req}: {v}");
        v
    }

    pub fn log(&mut self, name: &str) -> Value {
        self.call(json!({"op": "log", "name": name}))
    }

    pub fn control(&mut self, name: &str) -> Vec<String> {
        let v = self.log(name);
        v["control"]
            .as_array()
            .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    }

    pub fn now(&mut self) -> f64 {
        self.call(json!({"op": "now"}))["now"].as_f64().unwrap()
    }
}

/// The device side of the bulk pipe: the fixture connects here when an accessory appears.
pub struct Peer {
    pub addr: String,
    rx: mpsc::Receiver<TcpStream>,
}

impl Peer {
    pub fn new() -> Peer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                if tx.send(s).is_err() {
                    return;
                }
            }
        });
        Peer { addr, rx }
    }

    pub fn stream(&self) -> TcpStream {
        let s = self
            .rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the emulated accessory never connected its bulk pipe");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }
}

pub fn shared() -> PathBuf {
    // The repository's copy of the protocol vectors and samples (tests/data/README.md).
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}
