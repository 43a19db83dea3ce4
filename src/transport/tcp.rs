//! TCP client link: the simulator (`okc sim --listen ADDR`) or a USB-over-TCP bridge.
//!
//! The stream carries exactly the bytes a USB bulk pipe would (whole messages back to
//! back) and is split into messages by TLV lengths ([`MessageSplitter`]). Address syntax:
//! `host:port`, optionally `host:port?model=300tr` (default X30TR).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::{Connector, DeviceModel, Incoming, Link, LinkError, LinkReader, LinkWriter};
use crate::proto::pipeline::DEFAULT_MAX_PLAINTEXT;
use crate::proto::stream::MessageSplitter;

/// Largest message accepted from the stream (a 1 MiB payload compressed badly, encrypted,
/// plus framing, fits comfortably).
pub const MAX_STREAM_MESSAGE: usize = 2 * DEFAULT_MAX_PLAINTEXT + 4096;

/// Parse `host:port[?model=x30tr|300tr]`.
pub fn parse_address(spec: &str) -> Result<(String, DeviceModel), String> {
    let spec = spec.strip_prefix("tcp://").unwrap_or(spec);
    let (addr, query) = match spec.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (spec, None),
    };
    let mut model = DeviceModel::X30tr;
    if let Some(q) = query {
        for kv in q.split('&').filter(|s| !s.is_empty()) {
            match kv.split_once('=') {
                Some(("model", v)) => {
                    model = match v.to_ascii_lowercase().as_str() {
                        "x30tr" | "x30" | "usb" => DeviceModel::X30tr,
                        "300tr" | "t300tr" | "serial" => DeviceModel::T300tr,
                        other => return Err(format!("unknown model {other:?} in {spec:?}")),
                    }
                }
                _ => return Err(format!("unknown option {kv:?} in {spec:?}")),
            }
        }
    }
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("expected host:port, got {addr:?}"))?;
    if host.is_empty() {
        return Err(format!("missing host in {addr:?}"));
    }
    port.parse::<u16>()
        .map_err(|_| format!("bad port {port:?} in {addr:?}"))?;
    Ok((addr.to_string(), model))
}

/// Connects to `addr` on every discovery poll until a link is open.
pub struct TcpConnector {
    addr: String,
    model: DeviceModel,
    /// No `?model=` was given: the certificate decides (ECDSA → X30TR, RSA → 300TR).
    detect: bool,
    poll: Duration,
}

impl TcpConnector {
    /// `spec` as in [`parse_address`].
    pub fn new(spec: &str) -> Result<TcpConnector, String> {
        let (addr, model) = parse_address(spec)?;
        let detect = !spec
            .split_once('?')
            .is_some_and(|(_, q)| q.contains("model="));
        Ok(TcpConnector {
            addr,
            model,
            detect,
            poll: Duration::from_millis(250),
        })
    }
    /// Fix the model (no detection from the certificate).
    pub fn with_model(mut self, model: DeviceModel) -> Self {
        self.model = model;
        self.detect = false;
        self
    }
    pub fn with_poll_interval(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }
    pub fn model(&self) -> DeviceModel {
        self.model
    }
    pub fn address(&self) -> &str {
        &self.addr
    }
}

impl Connector for TcpConnector {
    fn name(&self) -> String {
        format!("tcp://{}", self.addr)
    }

    fn connect(&self, budget: Duration) -> Result<Option<Box<dyn Link>>, LinkError> {
        let addrs: Vec<SocketAddr> = self
            .addr
            .to_socket_addrs()
            .map_err(|e| LinkError::Io(format!("resolve {}: {e}", self.addr)))?
            .collect();
        let budget = budget.max(Duration::from_millis(50));
        for a in addrs {
            match TcpStream::connect_timeout(&a, budget) {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    return Ok(Some(Box::new(TcpLink {
                        stream: s,
                        peer: a,
                        model: self.model,
                        detect: self.detect,
                    })));
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::ConnectionRefused
                            | ErrorKind::TimedOut
                            | ErrorKind::WouldBlock
                            | ErrorKind::ConnectionReset
                            | ErrorKind::ConnectionAborted
                    ) => {}
                Err(e) => return Err(LinkError::Io(format!("connect {a}: {e}"))),
            }
        }
        Ok(None)
    }

    fn poll_interval(&self) -> Duration {
        self.poll
    }
}

/// An open TCP connection.
pub struct TcpLink {
    stream: TcpStream,
    peer: SocketAddr,
    model: DeviceModel,
    detect: bool,
}

impl TcpLink {
    /// Wrap an already connected stream (tests, bridges).
    pub fn from_stream(stream: TcpStream, model: DeviceModel) -> std::io::Result<TcpLink> {
        let peer = stream.peer_addr()?;
        let _ = stream.set_nodelay(true);
        Ok(TcpLink {
            stream,
            peer,
            model,
            detect: false,
        })
    }
}

impl Link for TcpLink {
    fn model(&self) -> DeviceModel {
        self.model
    }
    fn describe(&self) -> String {
        format!("tcp {}", self.peer)
    }
    fn detect_model(&self) -> bool {
        self.detect
    }
    fn split(self: Box<Self>) -> (Box<dyn LinkReader>, Box<dyn LinkWriter>) {
        let reader: Box<dyn LinkReader> = match self.stream.try_clone() {
            Ok(s) => Box::new(TcpReader {
                stream: Some(s),
                splitter: MessageSplitter::new(MAX_STREAM_MESSAGE),
                timeout: None,
                buf: vec![0u8; 64 * 1024],
            }),
            // Cannot happen on a healthy socket; a reader that reports the link gone at once.
            Err(_) => Box::new(TcpReader {
                stream: None,
                splitter: MessageSplitter::new(MAX_STREAM_MESSAGE),
                timeout: None,
                buf: Vec::new(),
            }),
        };
        (
            reader,
            Box::new(TcpWriter {
                stream: self.stream,
                closed: false,
            }),
        )
    }
}

struct TcpReader {
    stream: Option<TcpStream>,
    splitter: MessageSplitter,
    timeout: Option<Duration>,
    buf: Vec<u8>,
}

impl TcpReader {
    fn take_message(&mut self) -> Option<Incoming> {
        match self.splitter.next_message()? {
            Ok(m) => Some(Incoming::Message(m)),
            Err(text) => Some(Incoming::Garbage(text)),
        }
    }
}

impl LinkReader for TcpReader {
    /// `TcpWriter::close` shuts the socket down, which ends a blocked read at once.
    fn wait_slice(&self) -> Duration {
        Duration::from_secs(3600)
    }

    fn recv(&mut self, timeout: Duration) -> Result<Incoming, LinkError> {
        if let Some(m) = self.take_message() {
            return Ok(m);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(LinkError::Gone("socket could not be cloned".into()));
        };
        let timeout = timeout.max(Duration::from_millis(1));
        if self.timeout != Some(timeout) {
            stream
                .set_read_timeout(Some(timeout))
                .map_err(|e| LinkError::Io(e.to_string()))?;
            self.timeout = Some(timeout);
        }
        match stream.read(&mut self.buf) {
            Ok(0) => Err(LinkError::Gone("peer closed the connection".into())),
            Ok(n) => {
                self.splitter.push(&self.buf[..n]);
                Ok(self.take_message().unwrap_or(Incoming::Idle))
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Ok(Incoming::Idle)
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(Incoming::Idle),
            Err(e) => Err(LinkError::Gone(e.to_string())),
        }
    }
}

struct TcpWriter {
    stream: TcpStream,
    closed: bool,
}

impl LinkWriter for TcpWriter {
    fn send(&mut self, message: &[u8]) -> Result<(), LinkError> {
        if self.closed {
            return Err(LinkError::Gone("link closed".into()));
        }
        self.stream.write_all(message).map_err(|e| match e.kind() {
            ErrorKind::TimedOut | ErrorKind::WouldBlock => LinkError::Timeout,
            _ => LinkError::Gone(e.to_string()),
        })
    }
    fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            // Also wakes the reader (EOF) so it ends without waiting for its timeout.
            let _ = self.stream.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for TcpWriter {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn parses_addresses() {
        assert_eq!(
            parse_address("tcp://127.0.0.1:7700").unwrap(),
            ("127.0.0.1:7700".into(), DeviceModel::X30tr)
        );
        assert_eq!(
            parse_address("localhost:1?model=300tr").unwrap(),
            ("localhost:1".into(), DeviceModel::T300tr)
        );
        assert!(parse_address("127.0.0.1").is_err());
        assert!(parse_address("127.0.0.1:x").is_err());
        assert!(parse_address("h:1?model=foo").is_err());
    }

    #[test]
    fn refused_is_no_device_and_stream_is_split() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let c = TcpConnector::new(&addr.to_string()).unwrap();
        let link = c.connect(Duration::from_secs(1)).unwrap().unwrap();
        let (mut srv, _) = l.accept().unwrap();
        let (mut r, mut w) = link.split();
        let key = crate::proto::pipeline::Key::DEFAULT;
        let m1 = crate::proto::message::build_message(&key, 4, b"OK");
        let m2 = crate::proto::message::build_message(&key, 3, b"{\"a\":1}");
        let mut both = m1.clone();
        both.extend_from_slice(&m2);
        // Deliver in awkward pieces.
        srv.write_all(&both[..5]).unwrap();
        srv.write_all(&both[5..m1.len() + 3]).unwrap();
        srv.write_all(&both[m1.len() + 3..]).unwrap();
        let mut got = vec![];
        while got.len() < 2 {
            match r.recv(Duration::from_millis(200)).unwrap() {
                Incoming::Message(m) => got.push(m),
                Incoming::Idle => {}
                Incoming::Garbage(g) => panic!("garbage {g}"),
            }
        }
        assert_eq!(got, vec![m1, m2.clone()]);
        w.send(&m2).unwrap();
        let mut back = vec![0u8; m2.len()];
        srv.read_exact(&mut back).unwrap();
        assert_eq!(back, m2);
        drop(srv);
        loop {
            match r.recv(Duration::from_millis(200)) {
                Ok(Incoming::Idle) => continue,
                Err(LinkError::Gone(_)) => break,
                other => panic!("{other:?}"),
            }
        }
        drop(l);
        // Nothing listening now: no device, not an error.
        assert!(c.connect(Duration::from_millis(200)).unwrap().is_none());
    }
}
