//! `okc` — the okclink command line: a self-contained demo, the device simulator, and
//! small tools that talk to a device (or a simulator) through the connection runtime.
//!
//! Exit codes (stable, for scripts):
//!   0 success · 1 usage error · 2 no device found in time · 3 the device rejected the
//!   request or the sale did not end with status 0 · 4 timed out waiting for an answer ·
//!   5 300TR ACK timeout ("Device is not connected") · 6 bad input (file, JSON) ·
//!   7 runtime/configuration error · 8 in doubt (`okc pay` / `okc refund`: the journal has the
//!   reference as sent and the terminal still cannot tell its outcome; nothing sent again).

#![forbid(unsafe_code)]

use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use okclink::hub::{Config, Hub, HubError, LogLevel, SendOutcome, TextEncoding, TransportSpec};
use okclink::transport::DeviceModel;
use okclink_sim::{self as sim, SimConfig};
use serde_json::{json, Value};

const EXIT_USAGE: u8 = 1;
const EXIT_NO_DEVICE: u8 = 2;
const EXIT_REJECTED: u8 = 3;
const EXIT_TIMEOUT: u8 = 4;
const EXIT_ACK_TIMEOUT: u8 = 5;
const EXIT_BAD_INPUT: u8 = 6;
const EXIT_RUNTIME: u8 = 7;
/// Sent before, outcome still unknown (the journal): not sent again.
const EXIT_IN_DOUBT: u8 = okc_cli::pay_cli::EXIT_IN_DOUBT;

const DEFAULT_TRANSPORTS: &str = "usb,serial,tcp://127.0.0.1:7700";

fn usage() -> String {
    format!(
        "okc — open Token Integration Hub replacement (okclink {})

USAGE:
  okc demo [--model x30tr|300tr] [--transport T] [--json]
      Start a simulated ÖKC in-process, connect, handshake, read the fiscal info,
      sell a sample basket and print the receipt the device returned, with timings.
      With --transport the demo talks to that device instead of its own simulator.
  okc sim [--listen ADDR | --pty] [--model x30tr|300tr] [faults…]   (okc sim --help)
      Serve a simulated ÖKC on TCP (default 127.0.0.1:7700) or on a pseudo-terminal.
  okc sim-cloud --listen HOST:PORT [options]   (okc sim-cloud --help)
      Serve a simulated TokenX Connect cloud (REST API, webhooks, devices).
  okc sim-terminal --nexo|--gptom --listen HOST:PORT [options]   (okc sim-terminal --help)
      Serve a simulated card terminal (Swedbank Pay PAX, nexo XML over HTTP) or the
      GP tom Cloud API with its devices (tasks over HTTP).
  okc fiscal-info [common options]
  okc send-basket FILE [common options] [--wait-ms N]
  okc send-payment FILE [common options] [--wait-ms N]
      Example files: examples/baskets/ (format: docs/BASKETS.md).
  okc watch [common options] [--duration-ms N]
      Print every event (state changes, device data) until interrupted.
  okc decode HEX|@FILE [--key default|KEY32] [--json]
      Decode captured bytes (hex, xxd, hexdump -C or log dumps): every TLV with tag,
      length, CRC ok/bad and plaintext.
  okc encode --type N [--key default|KEY32] [--payload TEXT|@FILE]
      Print the whole message (start, data, end TLV) as hex.
  okc tokenx COMMAND [--transport tokenx+https://…]   (okc tokenx --help)
      The TokenX Connect cloud's own operations: settings, get, delete, unlock,
      open-baskets, terminals… A sale through the cloud: okc send-basket FILE
      --transport tokenx+https://HOST/BASE?terminal-id=AV… (OKC_TOKENX_CLIENT_ID/_SECRET).
  okc pay AMOUNT | okc refund AMOUNT | okc terminal status|reverse-last|abort|…
      A card payment on a terminal (Swedbank Pay PAX over nexo:
      --terminal nexo+http://HOST:PORT or $OKC_TERMINAL; okc pay --help).
  okc energy sell --plate PLATE --terminal URL | list | get | lock | unlock | pay | recover
      Token X Energy fuel orders at the shop counter: find, lock, card payment, pay
      the order with the slip (OKC_ENERGY_URL, OKC_ENERGY_TERMINAL; okc energy --help).
  okc serve [--listen 127.0.0.1:8765] [--config FILE] [--transport T] [--terminal T]
      Run the fiscal device, card terminal and Energy client as a local HTTP service
      for web POS applications: REST/JSON, events, OpenAPI, console (okc serve --help).
  okc journal list|show ID|export --since DATE|verify [--journal PATH]
      The journal of operations that print receipts or move money (read-only;
      --journal PATH or $OKC_JOURNAL; okc journal --help).
  okc COMMAND --help   that command's help

{COMMON}

Progress goes to stderr, data (fiscal info, receipts, events) to stdout.

EXIT CODES:
  0 ok, 1 usage, 2 no device, 3 rejected / sale status ≠ 0, 4 timeout,
  5 ACK timeout, 6 bad input, 7 runtime error, 8 in doubt (sent before, outcome
  unknown: not sent again)",
        env!("CARGO_PKG_VERSION")
    )
}

const COMMON: &str = "COMMON OPTIONS:
  --transport T        usb | serial | serial:PATH | tcp://HOST:PORT[?model=300tr], comma-separated,
                       or the TokenX cloud: tokenx+https://HOST/BASE?terminal-id=AV…
                       (credentials: $OKC_TOKENX_CLIENT_ID, $OKC_TOKENX_CLIENT_SECRET)
                       (default: $OKC_TRANSPORT, else usb,serial,tcp://127.0.0.1:7700)
  --json               machine-readable output (one JSON object per line on stdout;
                       a failure is {\"error\":KIND,\"message\":…} there too)
  --company NAME       company name sent to the device (default okc)
  --connect-ms N       how long to wait for a device (default 10000); tcp:// addresses
                       that refuse the connection are known at once
  --timeout-ms N       fiscal-info wait (default 5000)
  --encoding cp1254|utf8   text encoding of outgoing JSON (default cp1254)
  --log-dir DIR        write the vendor-format log there (default: no log file)
  --journal PATH       the journal (default: $OKC_JOURNAL, else DIR/okclink-journal-COMPANY.sqlite
                       with --log-dir, else none): a basketID it knows is not sent again
  --log-level L        error|warn|info|debug (default info)";

/// `okc COMMAND --help`.
fn command_help(cmd: &str) -> Option<String> {
    let (synopsis, what) = match cmd {
        "demo" => (
            "okc demo [--model x30tr|300tr] [--transport T] [common options]",
            "Sell a sample basket end to end against an in-process simulator (or, with\n\
             --transport, against that device) and print every step with its duration.",
        ),
        "fiscal-info" => (
            "okc fiscal-info [common options]",
            "Connect and print the device's fiscal info (JSON) on stdout:\n\
             `okc fiscal-info > fiscal.json` writes exactly that JSON.",
        ),
        "send-basket" => (
            "okc send-basket FILE [common options] [--wait-ms N]",
            "Send the basket in FILE (JSON, format: docs/BASKETS.md, examples in\n\
             examples/baskets/) and wait up to --wait-ms (default 30000) for the receipt.\n\
             X30TR: the receipt follows the basket. 300TR: the device answers\n\
             {\"basketID\":…,\"status\":0} and waits for the payments (okc send-payment).\n\
             A void ({\"isVoid\":true}) succeeds with receipt status 99.",
        ),
        "send-payment" => (
            "okc send-payment FILE [common options] [--wait-ms N]",
            "Send one payment (300TR, type 10) from FILE, e.g.\n\
             {\"amount\":4250,\"description\":\"Nakit\",\"type\":1}, and wait for the receipt\n\
             once the sale is paid (a partial payment ends with the device's status reply).",
        ),
        "watch" => (
            "okc watch [common options] [--duration-ms N]",
            "Print every event (device state, data from the device) until interrupted or\n\
             for --duration-ms.",
        ),
        "decode" => (
            okc_cli::inspect::DECODE_USAGE,
            "Decode captured bytes (hex, xxd, hexdump -C or log dumps): every TLV with tag,\n\
             length, CRC ok/bad and plaintext. Messages after the key share need --key\n\
             (the 32-digit session key the host sent as type 6); without it they do not\n\
             open and the command fails (exit 6) after printing what it could read.",
        ),
        "encode" => (
            okc_cli::inspect::ENCODE_USAGE,
            "Print the whole message (start, data, end TLV) as hex.",
        ),
        "sim" => return Some(okc_cli::sim_cli::help()),
        "sim-cloud" => return Some(okc_cli::sim_cloud::help()),
        "sim-terminal" => return Some(okc_cli::sim_terminal::help()),
        #[cfg(feature = "tokenx")]
        "tokenx" => return Some(okc_cli::tokenx_cli::USAGE.into()),
        #[cfg(feature = "energy")]
        "energy" => return Some(okc_cli::energy_cli::USAGE.into()),
        "pay" | "refund" | "terminal" => return Some(okc_cli::pay_cli::USAGE.into()),
        #[cfg(feature = "journal")]
        "journal" => return Some(okc_cli::journal_cli::USAGE.into()),
        #[cfg(feature = "serve")]
        "serve" => return Some(okc_cli::serve_cli::USAGE.into()),
        "help" => return Some(usage()),
        "version" => return Some("okc version — print the version".into()),
        _ => return None,
    };
    let common = if matches!(cmd, "decode" | "encode") {
        String::new()
    } else {
        format!("\n\n{COMMON}")
    };
    Some(format!(
        "{synopsis}\n\n{what}{common}\n\nEXIT CODES: 0 ok, 1 usage, 2 no device, 3 rejected / sale status ≠ 0, 4 timeout,\n5 ACK timeout, 6 bad input, 7 runtime error, 8 in doubt"
    ))
}

/// Common options.
struct Opts {
    transport: Option<String>,
    json: bool,
    company: String,
    connect: Duration,
    timeout: Duration,
    wait: Duration,
    duration: Option<Duration>,
    encoding: TextEncoding,
    log_dir: Option<String>,
    journal: Option<String>,
    log_level: LogLevel,
    model: DeviceModel,
    positional: Vec<String>,
}

struct Fail {
    code: u8,
    msg: String,
    /// `okc … --json` on a failure: extra fields of the error object (e.g. `tried`).
    extra: serde_json::Map<String, Value>,
    /// Text for stdout before the failure (e.g. what `okc decode` could read).
    report: Option<String>,
    /// The command already printed its result as the last JSON line (`okc pay` declined):
    /// no error object after it.
    result_printed: bool,
}

fn fail(code: u8, msg: impl Into<String>) -> Fail {
    Fail {
        code,
        msg: msg.into(),
        extra: serde_json::Map::new(),
        report: None,
        result_printed: false,
    }
}

/// The `error` field of the `--json` error object.
fn error_kind(code: u8) -> &'static str {
    match code {
        EXIT_USAGE => "usage",
        EXIT_NO_DEVICE => "no_device",
        EXIT_REJECTED => "rejected",
        EXIT_TIMEOUT => "timeout",
        EXIT_ACK_TIMEOUT => "ack_timeout",
        EXIT_BAD_INPUT => "bad_input",
        EXIT_IN_DOUBT => "in_doubt",
        _ => "runtime",
    }
}

impl From<HubError> for Fail {
    fn from(e: HubError) -> Fail {
        let code = match e {
            HubError::InvalidJson(_)
            | HubError::TooLarge { .. }
            | HubError::ReceiveTooLarge { .. } => EXIT_BAD_INPUT,
            HubError::NoDevice => EXIT_NO_DEVICE,
            HubError::Timeout => EXIT_TIMEOUT,
            HubError::Rejected { .. } => EXIT_REJECTED,
            HubError::Unsupported(_) => EXIT_BAD_INPUT,
            HubError::InDoubt(_) => EXIT_IN_DOUBT,
            HubError::NotFound(_) => EXIT_BAD_INPUT,
            HubError::Closed
            | HubError::Config(_)
            | HubError::Resource(_)
            | HubError::Journal(_) => EXIT_RUNTIME,
        };
        fail(code, e.to_string())
    }
}

fn parse_opts(args: &[String]) -> Result<Opts, Fail> {
    let mut o = Opts {
        transport: None,
        json: false,
        company: "okc".into(),
        connect: Duration::from_secs(10),
        timeout: Duration::from_secs(5),
        wait: Duration::from_secs(30),
        duration: None,
        encoding: TextEncoding::Cp1254,
        log_dir: None,
        journal: None,
        log_level: LogLevel::Info,
        model: DeviceModel::X30tr,
        positional: vec![],
    };
    let mut it = args.iter();
    let usage_err = |m: String| fail(EXIT_USAGE, m);
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .ok_or_else(|| usage_err(format!("{a} needs a value")))
        };
        let ms = |v: String| -> Result<Duration, Fail> {
            v.parse::<u64>().map(Duration::from_millis).map_err(|_| {
                fail(
                    EXIT_USAGE,
                    format!("{a}: not a number of milliseconds: {v:?}"),
                )
            })
        };
        match a.as_str() {
            "--transport" | "-t" => o.transport = Some(val()?),
            "--json" => o.json = true,
            "--company" => o.company = val()?,
            "--connect-ms" => o.connect = ms(val()?)?,
            "--timeout-ms" => o.timeout = ms(val()?)?,
            "--wait-ms" => o.wait = ms(val()?)?,
            "--duration-ms" => o.duration = Some(ms(val()?)?),
            "--encoding" => {
                o.encoding = match val()?.to_ascii_lowercase().as_str() {
                    "cp1254" | "windows-1254" => TextEncoding::Cp1254,
                    "utf8" | "utf-8" => TextEncoding::Utf8,
                    e => return Err(usage_err(format!("unknown encoding {e:?}"))),
                }
            }
            "--log-dir" => o.log_dir = Some(val()?),
            "--journal" => o.journal = Some(val()?),
            "--log-level" => o.log_level = val()?.parse::<LogLevel>().map_err(usage_err)?,
            "--model" => {
                o.model = match val()?.to_ascii_lowercase().as_str() {
                    "x30tr" | "x30" => DeviceModel::X30tr,
                    "300tr" | "t300tr" | "300" => DeviceModel::T300tr,
                    m => return Err(usage_err(format!("unknown model {m:?} (x30tr or 300tr)"))),
                }
            }
            s if s.starts_with('-') && s.len() > 1 => {
                return Err(usage_err(format!("unknown option {s:?} (okc --help)")))
            }
            _ => o.positional.push(a.clone()),
        }
    }
    Ok(o)
}

/// The environment's settings (e.g. `OKC_TOKENX_*` credentials) under the command's options.
fn hub_config(o: &Opts, transports: Vec<TransportSpec>) -> Result<Config, Fail> {
    let mut c = Config::from_env(&o.company).map_err(|e| fail(EXIT_USAGE, e.0))?;
    c.transports = transports;
    c.fiscal_timeout = o.timeout;
    c.text_encoding = o.encoding;
    c.log_dir = o.log_dir.as_ref().map(Into::into);
    c.log_level = o.log_level;
    if let Some(j) = &o.journal {
        c.journal = okclink::config::JournalSetting::Path(j.into());
    }
    Ok(c)
}

fn transports_of(o: &Opts) -> Result<Vec<TransportSpec>, Fail> {
    let t = o
        .transport
        .clone()
        .or_else(|| {
            std::env::var("OKC_TRANSPORT")
                .ok()
                .filter(|s| !s.trim().is_empty())
        })
        .unwrap_or_else(|| DEFAULT_TRANSPORTS.to_string());
    TransportSpec::parse_list(&t).map_err(|e| fail(EXIT_USAGE, e))
}

/// Events from the callbacks, forwarded to the main thread.
#[derive(Debug, Clone)]
enum Event {
    State(bool, String),
    Data(i32, String),
}

fn attach(hub: &Hub) -> Receiver<(Instant, Event)> {
    let (tx, rx) = channel();
    let t2 = tx.clone();
    hub.set_serial_in_callback(Some(Box::new(move |t, v| {
        let _ = t2.send((Instant::now(), Event::Data(t, v.to_string())));
    })));
    hub.set_device_state_callback(Some(Box::new(move |c, s| {
        let _ = tx.send((Instant::now(), Event::State(c, s.to_string())));
    })));
    rx
}

struct Out {
    json: bool,
    t0: Instant,
    /// Human-readable progress (steps, events) goes to stderr, keeping stdout for the data
    /// (fiscal-info, send-*); the demo's and watch's steps and events are their data.
    progress_to_stderr: bool,
}

impl Out {
    fn ms(d: Duration) -> f64 {
        (d.as_secs_f64() * 1e6).round() / 1e3
    }
    fn new(json: bool, progress_to_stderr: bool) -> Out {
        Out {
            json,
            t0: Instant::now(),
            progress_to_stderr,
        }
    }
    fn human(&self, line: String) {
        if self.progress_to_stderr {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }
    /// A step with its duration (progress).
    fn step(&self, name: &str, took: Duration, text: &str, extra: Value) {
        self.step_to(false, name, took, text, extra)
    }
    /// A step whose line is the command's result: stdout.
    fn result(&self, name: &str, took: Duration, text: &str, extra: Value) {
        self.step_to(true, name, took, text, extra)
    }
    fn step_to(&self, data: bool, name: &str, took: Duration, text: &str, extra: Value) {
        if self.json {
            let mut v =
                json!({"step": name, "ms": Self::ms(took), "at_ms": Self::ms(self.t0.elapsed())});
            if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
                m.extend(e);
            }
            println!("{v}");
        } else {
            let line = format!("[{:>9.3} ms] {name:<12} {text}", Self::ms(took));
            if data {
                println!("{line}");
            } else {
                self.human(line);
            }
        }
    }
    fn event(&self, at: Instant, e: &Event) {
        let since = Self::ms(at.saturating_duration_since(self.t0));
        if self.json {
            let v = match e {
                Event::State(c, s) => {
                    json!({"event": "deviceState", "at_ms": since, "connected": c, "serial": s})
                }
                Event::Data(t, v) => {
                    let parsed: Option<Value> = serde_json::from_str(v).ok();
                    json!({"event": "serialIn", "at_ms": since, "type": t, "value": v, "json": parsed})
                }
            };
            println!("{v}");
        } else {
            self.human(match e {
                Event::State(c, s) => format!("[{since:>10.3} ms] deviceState({c}, {s:?})"),
                Event::Data(t, v) => format!("[{since:>10.3} ms] serialIn({t}, {v})"),
            })
        }
    }
}

/// The `host:port` of a `tcp://` transport (without `?model=`).
fn tcp_target(spec: &TransportSpec) -> Option<String> {
    match spec {
        TransportSpec::Tcp(a) => Some(a.split('?').next().unwrap_or(a).to_string()),
        _ => None,
    }
}

/// Try a TCP connection: `Err` says why it cannot work ("connection refused", …).
fn probe_tcp(addr: &str, budget: Duration) -> Result<TcpStream, String> {
    let addrs: Vec<SocketAddr> = match addr.to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(e) => return Err(format!("cannot resolve {addr}: {e}")),
    };
    let mut why = format!("{addr} resolves to no address");
    for a in addrs {
        match TcpStream::connect_timeout(&a, budget) {
            Ok(s) => return Ok(s),
            Err(e) => {
                why = match e.kind() {
                    ErrorKind::ConnectionRefused => {
                        "connection refused (nothing listens there: is `okc sim` running?)".into()
                    }
                    ErrorKind::TimedOut | ErrorKind::WouldBlock => {
                        format!("connect timed out after {} ms", budget.as_millis())
                    }
                    _ => format!("connect failed: {e}"),
                }
            }
        }
    }
    Err(why)
}

/// After a failed wait: what a fresh connection to a TCP target that accepted shows. The
/// simulator refuses a second host with a text line ("okc sim: busy …") and closes.
fn diagnose_tcp(addr: &str, waited: Duration) -> String {
    let mut s = match probe_tcp(addr, PROBE_BUDGET) {
        Ok(s) => s,
        Err(why) => return why,
    };
    let _ = s.set_read_timeout(Some(okclink_sim::BUSY_GRACE + Duration::from_millis(500)));
    let mut buf = [0u8; 512];
    match s.read(&mut buf) {
        Ok(0) => "connected, but the peer closed the connection at once".into(),
        Ok(n) if buf[..n].starts_with(b"okc sim: busy") => String::from_utf8_lossy(&buf[..n])
            .trim()
            .trim_start_matches("okc sim: ")
            .to_string(),
        _ => format!(
            "connected, but no handshake completed within {} ms: is the model right? \
             (tcp://HOST:PORT?model=300tr for a 300TR, no ?model= for an X30TR)",
            waited.as_millis()
        ),
    }
}

const PROBE_BUDGET: Duration = Duration::from_millis(500);

/// What became of each transport, for the "no device" error.
fn tried_entry(transport: String, result: String) -> Value {
    json!({"transport": transport, "result": result})
}

fn no_device(o: &Opts, waited: Duration, tried: Vec<Value>) -> Fail {
    let list: Vec<String> = tried
        .iter()
        .map(|t| {
            format!(
                "  {}: {}",
                t["transport"].as_str().unwrap_or("?"),
                t["result"].as_str().unwrap_or("?")
            )
        })
        .collect();
    let mut f = fail(
        EXIT_NO_DEVICE,
        format!(
            "no device found{}; tried:\n{}",
            if waited >= o.connect {
                format!(" within {} ms", o.connect.as_millis())
            } else {
                String::new()
            },
            list.join("\n")
        ),
    );
    f.extra.insert("tried".into(), Value::Array(tried));
    f
}

/// Why a non-TCP transport found nothing.
fn diagnose_other(spec: &TransportSpec, waited: Duration) -> String {
    match spec {
        #[cfg(feature = "serial")]
        TransportSpec::Serial => {
            let cfg = okclink::transport::serial::SerialConfig::default();
            match okclink::transport::serial::discover(&cfg) {
                Some(p) => format!(
                    "port {} found, but no handshake completed within {} ms",
                    p.display(),
                    waited.as_millis()
                ),
                None => format!(
                    "no FTDI {:04x}:{:04x} serial port found (a simulator on a pty is reached \
                     through its path: --transport serial:/dev/pts/N)",
                    cfg.vid, cfg.pid
                ),
            }
        }
        TransportSpec::SerialPort(p) if !p.exists() => format!("{} does not exist", p.display()),
        TransportSpec::SerialPort(p) => format!(
            "{} opened, but no handshake completed within {} ms",
            p.display(),
            waited.as_millis()
        ),
        TransportSpec::Usb => format!(
            "no ÖKC answered on USB within {} ms (docs/USB-SERIAL.md: permissions, driver)",
            waited.as_millis()
        ),
        TransportSpec::Tokenx(_) => format!(
            "the TokenX cloud did not authenticate and confirm the terminal within {} ms \
             (credentials OKC_TOKENX_CLIENT_ID/_SECRET, terminal-id; the log has the cloud's answer)",
            waited.as_millis()
        ),
        _ => format!("nothing within {} ms", waited.as_millis()),
    }
}

/// Wait for a device. `tcp://` targets are probed first: when every transport is TCP and
/// none accepts a connection, nothing can succeed and the wait is skipped.
fn connect(hub: &Hub, o: &Opts, specs: &[TransportSpec], out: &Out) -> Result<String, Fail> {
    let t = Instant::now();
    let mut probes: Vec<(String, Result<(), String>)> = Vec::new();
    for spec in specs {
        if let Some(addr) = tcp_target(spec) {
            probes.push((
                format!("{spec:?}"),
                probe_tcp(&addr, PROBE_BUDGET).map(drop),
            ));
        }
    }
    if !specs.is_empty() && probes.len() == specs.len() && probes.iter().all(|p| p.1.is_err()) {
        let tried = probes
            .into_iter()
            .map(|(t, r)| tried_entry(t, r.unwrap_err()))
            .collect();
        return Err(no_device(o, t.elapsed(), tried));
    }
    match hub.wait_connected(o.connect) {
        Some(serial) => {
            out.step(
                "connect",
                t.elapsed(),
                &format!("device {serial} (index {})", hub.active_device_index()),
                json!({"serial": serial, "index": hub.active_device_index()}),
            );
            Ok(serial)
        }
        None => {
            let waited = t.elapsed();
            // Our own connection attempts must not make the simulator look busy.
            hub.close();
            let tried = specs
                .iter()
                .map(|spec| {
                    let result = match tcp_target(spec) {
                        Some(addr) => diagnose_tcp(&addr, waited),
                        None => diagnose_other(spec, waited),
                    };
                    tried_entry(format!("{spec:?}"), result)
                })
                .collect();
            Err(no_device(o, waited, tried))
        }
    }
}

fn summarize_fiscal(fi: &str) -> String {
    match serde_json::from_str::<Value>(fi) {
        Ok(v) => {
            let plus = v["plus"].as_array().map(|a| a.len()).unwrap_or(0);
            let secs = v["sections"].as_array().map(|a| a.len()).unwrap_or(0);
            let names: Vec<String> = v["plus"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .take(3)
                        .filter_map(|p| p["name"].as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            format!(
                "{} bytes: {plus} PLUs ({}), {secs} sections, receipt limit {}",
                fi.len(),
                names.join(", "),
                v["receiptLimit"]
            )
        }
        Err(_) => format!("{} bytes (not JSON)", fi.len()),
    }
}

fn outcome(r: Result<SendOutcome, HubError>) -> Result<(), Fail> {
    match r? {
        SendOutcome::Accepted => Ok(()),
        SendOutcome::NoDevice => Err(fail(EXIT_NO_DEVICE, "no active device")),
        SendOutcome::AckTimeout => Err(fail(
            EXIT_ACK_TIMEOUT,
            "the device did not answer the ACK request (Device is not connected)",
        )),
    }
}

/// Wait for the sale info (type 3); a type-1/10 reply that is not JSON is a rejection.
fn wait_receipt(
    rx: &Receiver<(Instant, Event)>,
    wait: Duration,
    out: &Out,
    quiet_types: &[i32],
    mut expect: Option<String>,
) -> Result<(Instant, Value), Fail> {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((at, e @ Event::Data(3, _))) => {
                let Event::Data(_, v) = &e else {
                    unreachable!()
                };
                let j: Value = serde_json::from_str(v)
                    .map_err(|_| fail(EXIT_REJECTED, format!("sale info is not JSON: {v}")))?;
                // A receipt of an earlier sale the device is still re-sending: not ours.
                match (&expect, j["basketID"].as_str()) {
                    (Some(want), Some(got)) if want != got => out.event(at, &e),
                    _ => return Ok((at, j)),
                }
            }
            Ok((at, e @ Event::Data(t, _))) if quiet_types.contains(&t) => {
                if let Event::Data(_, v) = &e {
                    match serde_json::from_str::<Value>(v) {
                        Err(_) => {
                            out.event(at, &e);
                            return Err(fail(EXIT_REJECTED, format!("device rejected: {v}")));
                        }
                        // 300TR: {"basketID":…,"status":0} names the receipt to wait for.
                        Ok(j) => {
                            if let (None, Some(id)) = (&expect, j["basketID"].as_str()) {
                                expect = Some(id.to_string());
                            }
                            out.event(at, &e);
                        }
                    }
                }
            }
            Ok((at, e @ Event::State(false, _))) => {
                out.event(at, &e);
                return Err(fail(EXIT_NO_DEVICE, "device lost"));
            }
            Ok((at, e)) => out.event(at, &e),
            Err(RecvTimeoutError::Timeout) => {
                return Err(fail(EXIT_TIMEOUT, "no sale info in time"))
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(fail(EXIT_RUNTIME, "runtime stopped"))
            }
        }
    }
}

fn print_receipt(out: &Out, took: Duration, r: &Value) {
    let pays: Vec<String> = r["paymentItems"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    format!(
                        "{} {}",
                        p["description"].as_str().unwrap_or("?"),
                        p["amount"]
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.result(
        "receipt",
        took,
        &format!(
            "receipt {} Z {} status {} ({}) payments: {}",
            r["receiptNo"],
            r["zNo"],
            r["status"],
            r["message"].as_str().unwrap_or(""),
            pays.join(", ")
        ),
        json!({"receipt": r}),
    );
}

fn sample_basket(model: DeviceModel) -> Value {
    let items = json!([
        {"name": "ÇAY", "price": 1500, "quantity": 2000, "sectionNo": 1, "taxPercent": 2000, "type": 0},
        {"name": "SİMİT", "price": 1250, "quantity": 1000, "sectionNo": 1, "taxPercent": 2000, "type": 0}
    ]);
    let mut b = json!({
        "basketID": format!("okc-demo-{}", std::process::id()),
        "documentType": 9008,
        "items": items,
    });
    if model == DeviceModel::X30tr {
        b["paymentItems"] = json!([
            {"amount": 3000, "description": "Nakit", "type": 1},
            {"amount": 1250, "description": "Kredi Kartı", "type": 3}
        ]);
    }
    b
}

fn demo(o: Opts) -> Result<(), Fail> {
    let out = Out::new(o.json, false);
    let mut own_sim = None;
    let (transports, model) = match &o.transport {
        Some(_) => (transports_of(&o)?, None),
        None => {
            let t = Instant::now();
            let cfg = SimConfig::for_model(o.model);
            let serial = cfg.serial.clone();
            let (conn, ctl) = sim::mem_connector(cfg);
            out.step(
                "simulator",
                t.elapsed(),
                &format!("in-process {:?} {serial} (certificate generated)", o.model),
                json!({"model": format!("{:?}", o.model), "serial": serial}),
            );
            own_sim = Some(ctl);
            (vec![TransportSpec::Custom(conn)], Some(o.model))
        }
    };
    let t = Instant::now();
    let hub = Hub::new(hub_config(&o, transports.clone())?)?;
    let rx = attach(&hub);
    out.step(
        "create",
        t.elapsed(),
        "connection object created (connecting in the background)",
        json!({}),
    );
    connect(&hub, &o, &transports, &out)?;
    while let Ok((at, e)) = rx.try_recv() {
        out.event(at, &e);
    }
    let model = model.unwrap_or(if hub.active_device_index() == 1 {
        DeviceModel::T300tr
    } else {
        DeviceModel::X30tr
    });

    let t = Instant::now();
    let fi = hub.fiscal_info(Some(o.timeout))?;
    out.step(
        "fiscal-info",
        t.elapsed(),
        &summarize_fiscal(&fi),
        json!({"fiscal_info": serde_json::from_str::<Value>(&fi).ok()}),
    );

    let basket = sample_basket(model);
    let id = basket["basketID"].as_str().unwrap_or("").to_string();
    let t_sale = Instant::now();
    let t = Instant::now();
    outcome(hub.send_basket(&basket.to_string()))?;
    out.step(
        "sendBasket",
        t.elapsed(),
        &format!("accepted (1): {id}"),
        json!({"basket": basket, "result": 1}),
    );
    if model == DeviceModel::T300tr {
        let t = Instant::now();
        let pay = json!({"amount": 4250, "description": "Nakit", "type": 1});
        outcome(hub.send_payment(&pay.to_string()))?;
        out.step(
            "sendPayment",
            t.elapsed(),
            "accepted (1): cash 42.50",
            json!({"payment": pay, "result": 1}),
        );
    }
    let (at, receipt) = wait_receipt(&rx, o.wait, &out, &[1, 10], Some(id))?;
    print_receipt(&out, at.saturating_duration_since(t_sale), &receipt);

    let t = Instant::now();
    hub.close();
    out.step("close", t.elapsed(), "disconnected", json!({}));
    if let Some(ctl) = own_sim {
        let sales = ctl.sales();
        if !o.json {
            println!(
                "simulator printed {} receipt(s); acknowledged: {}",
                sales.len(),
                sales.iter().all(|s| s.acked)
            );
        }
    }
    if receipt["status"] == 0 {
        if !o.json {
            println!(
                "demo OK: sale completed with status 0 in {:.1} ms total",
                Out::ms(out.t0.elapsed())
            );
        }
        Ok(())
    } else {
        Err(fail(
            EXIT_REJECTED,
            format!("sale ended with status {}", receipt["status"]),
        ))
    }
}

fn open_hub(o: &Opts, out: &Out) -> Result<(Hub, Receiver<(Instant, Event)>), Fail> {
    let specs = transports_of(o)?;
    let hub = Hub::new(hub_config(o, specs.clone())?)?;
    let rx = attach(&hub);
    connect(&hub, o, &specs, out)?;
    Ok((hub, rx))
}

/// `okc fiscal-info`: the fiscal info alone on stdout (`okc fiscal-info > f.json`), or one
/// JSON line with it under `--json`; progress on stderr.
fn fiscal_info(o: Opts) -> Result<(), Fail> {
    let out = Out::new(o.json, true);
    let (hub, _rx) = open_hub(&o, &out)?;
    let t = Instant::now();
    let fi = hub.fiscal_info(Some(o.timeout))?;
    hub.close();
    if o.json {
        out.result(
            "fiscal-info",
            t.elapsed(),
            "",
            json!({"fiscal_info": serde_json::from_str::<Value>(&fi).ok(), "raw": fi}),
        );
    } else {
        out.step(
            "fiscal-info",
            t.elapsed(),
            &summarize_fiscal(&fi),
            json!({}),
        );
        println!("{fi}");
    }
    Ok(())
}

fn send_file(o: Opts, payment: bool) -> Result<(), Fail> {
    let out = Out::new(o.json, true);
    let [file] = &o.positional[..] else {
        return Err(fail(
            EXIT_USAGE,
            format!(
                "expected exactly one FILE (got {}); examples: examples/baskets/",
                o.positional.len()
            ),
        ));
    };
    let text = std::fs::read(file).map_err(|e| fail(EXIT_BAD_INPUT, format!("{file}: {e}")))?;
    let text = okclink::hub::text::decode_device_text(&text);
    let doc = serde_json::from_str::<Value>(&text)
        .map_err(|e| fail(EXIT_BAD_INPUT, format!("{file}: invalid JSON: {e}")))?;
    let is_void = doc["isVoid"] == true;
    let specs = transports_of(&o)?;
    let hub = Hub::new(hub_config(&o, specs.clone())?)?;
    let rx = attach(&hub);
    // A basketID the journal already has a receipt for is not sent again: its receipt is
    // the answer (exit 0, or 3 when its status says so).
    if let Some(sale) = (!payment)
        .then(|| doc["basketID"].as_str())
        .flatten()
        .and_then(|id| hub.recorded_sale(id))
    {
        out.step(
            "journal",
            Duration::ZERO,
            "basket known to the journal: not sent again",
            json!({"journal": "known"}),
        );
        let r: Value = serde_json::from_str(&sale).unwrap_or(Value::Null);
        print_receipt(&out, Duration::ZERO, &r);
        hub.close();
        let want = if is_void { 99 } else { 0 };
        return if r["status"] != want {
            Err(fail(
                EXIT_REJECTED,
                format!("sale ended with status {} (expected {want})", r["status"]),
            ))
        } else {
            Ok(())
        };
    }
    connect(&hub, &o, &specs, &out)?;
    let t = Instant::now();
    let r = if payment {
        hub.send_payment(&text)
    } else {
        hub.send_basket(&text)
    };
    let name = if payment { "sendPayment" } else { "sendBasket" };
    let code = r.clone().map(|x| x.vendor_code()).unwrap_or(0);
    outcome(r)?;
    out.step(
        name,
        t.elapsed(),
        &format!("accepted ({code})"),
        json!({"result": code}),
    );
    let t = Instant::now();
    let is_300 = hub.active_device_index() == 1;
    // The receipt of this basket (a payment or void learns the id from the device's reply).
    let expect = (!payment && !is_void)
        .then(|| doc["basketID"].as_str().map(String::from))
        .flatten();
    // 300TR: a basket is answered with a status (type 1); the receipt follows the payments.
    let res = if is_300 && !payment && !is_void {
        wait_reply(&rx, 1, o.wait, &out).map(|(at, v)| {
            out.result(
                "reply",
                at.saturating_duration_since(t),
                &v,
                json!({"type": 1, "value": v}),
            );
        })
    } else {
        let quiet: &[i32] = if payment { &[10] } else { &[1] };
        match wait_receipt(&rx, o.wait, &out, quiet, expect) {
            Ok((at, r)) => {
                print_receipt(&out, at.saturating_duration_since(t), &r);
                // A void ends the open receipt with status 99: that is its success.
                let want = if is_void { 99 } else { 0 };
                if r["status"] != want {
                    Err(fail(
                        EXIT_REJECTED,
                        format!("sale ended with status {} (expected {want})", r["status"]),
                    ))
                } else {
                    Ok(())
                }
            }
            // A 300TR payment that does not complete the sale is answered with a status only.
            Err(f) if f.code == EXIT_TIMEOUT && is_300 && payment && !is_void => Ok(()),
            Err(e) => Err(e),
        }
    };
    hub.close();
    res
}

fn wait_reply(
    rx: &Receiver<(Instant, Event)>,
    ty: i32,
    wait: Duration,
    out: &Out,
) -> Result<(Instant, String), Fail> {
    let deadline = Instant::now() + wait;
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok((at, Event::Data(t, v))) if t == ty => {
                return match serde_json::from_str::<Value>(&v) {
                    Ok(j) if j["status"] == 0 || j["status"].is_null() => Ok((at, v)),
                    _ => Err(fail(EXIT_REJECTED, format!("device rejected: {v}"))),
                }
            }
            Ok((at, e)) => out.event(at, &e),
            Err(_) => return Err(fail(EXIT_TIMEOUT, "no reply in time")),
        }
    }
}

/// `okc watch`: events on stdout, until `--duration-ms` or interrupted.
fn watch(o: Opts) -> Result<(), Fail> {
    let out = Out::new(o.json, false);
    let specs = transports_of(&o)?;
    let hub = Arc::new(Hub::new(hub_config(&o, specs.clone())?)?);
    let rx = attach(&hub);
    eprintln!("okc watch: watching {specs:?} (Ctrl-C to stop)");
    let end = o.duration.map(|d| Instant::now() + d);
    loop {
        let wait = end.map_or(Duration::from_secs(3600), |e| {
            e.saturating_duration_since(Instant::now())
        });
        match rx.recv_timeout(wait) {
            Ok((at, e)) => out.event(at, &e),
            Err(RecvTimeoutError::Timeout) if end.is_some_and(|e| Instant::now() >= e) => break,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    hub.close();
    Ok(())
}

fn run_sim(args: &[String]) -> Result<(), Fail> {
    let a = okc_cli::sim_cli::parse_args(args).map_err(|e| fail(EXIT_USAGE, e))?;
    okc_cli::sim_cli::serve(a).map_err(|e| fail(EXIT_RUNTIME, e))
}

/// `okc decode` / `okc encode`: print the report, or fail (usage 1, bad input 6).
fn inspect(r: Result<String, okc_cli::inspect::Failure>) -> Result<(), Fail> {
    use okc_cli::inspect::Failure;
    match r {
        Ok(text) => {
            print!("{text}");
            Ok(())
        }
        Err(Failure::Usage(t)) => Err(fail(EXIT_USAGE, t)),
        Err(Failure::Input { text, report }) => {
            let mut f = fail(EXIT_BAD_INPUT, text);
            f.report = report;
            Err(f)
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        eprintln!("{}", usage());
        return ExitCode::from(EXIT_USAGE);
    };
    let rest = &args[1..];
    let json = rest.iter().any(|a| a == "--json");
    if rest.iter().any(|a| a == "--help" || a == "-h") {
        if let Some(h) = command_help(cmd) {
            println!("{h}");
            return ExitCode::SUCCESS;
        }
    }
    let r = match cmd.as_str() {
        "sim" => run_sim(rest),
        "sim-cloud" => match okc_cli::sim_cloud::parse_args(rest) {
            Err(e) => Err(fail(EXIT_USAGE, e)),
            Ok(a) => okc_cli::sim_cloud::serve(a).map_err(|e| fail(EXIT_RUNTIME, e)),
        },
        "sim-terminal" => match okc_cli::sim_terminal::parse_args(rest) {
            Err(e) => Err(fail(EXIT_USAGE, e)),
            Ok(a) => okc_cli::sim_terminal::serve(a).map_err(|e| fail(EXIT_RUNTIME, e)),
        },
        "pay" | "refund" | "terminal" => {
            let r = if cmd == "terminal" {
                okc_cli::pay_cli::terminal(rest)
            } else {
                okc_cli::pay_cli::money(cmd == "refund", rest)
            };
            r.map_err(|(code, msg)| {
                let mut f = fail(code, msg);
                // A decline was printed as the result (the last JSON line).
                f.result_printed = code == okc_cli::pay_cli::EXIT_DECLINED
                    && f.msg.starts_with(okc_cli::pay_cli::DECLINED_PREFIX);
                f
            })
        }
        #[cfg(feature = "journal")]
        "journal" => okc_cli::journal_cli::run(rest).map_err(|(code, msg)| {
            let mut f = fail(code, msg);
            // verify printed its report (the last JSON line).
            f.result_printed = code == okc_cli::journal_cli::EXIT_FINDINGS
                && f.msg.starts_with(okc_cli::journal_cli::FINDINGS_PREFIX);
            f
        }),
        #[cfg(feature = "energy")]
        "energy" => okc_cli::energy_cli::run(rest).map_err(|(code, msg)| {
            let mut f = fail(code, msg);
            // The result or the error object was printed (the last JSON line).
            if let Some(m) = f.msg.strip_prefix(okc_cli::energy_cli::PRINTED_PREFIX) {
                f.msg = m.to_string();
                f.result_printed = true;
            }
            f
        }),
        #[cfg(feature = "serve")]
        "serve" => okc_cli::serve_cli::run(rest).map_err(|(code, msg)| fail(code, msg)),
        #[cfg(feature = "tokenx")]
        "tokenx" => match okc_cli::tokenx_cli::run(rest) {
            Ok(line) => {
                println!("{line}");
                Ok(())
            }
            Err((code, msg)) => Err(fail(code, msg)),
        },
        "decode" => inspect(okc_cli::inspect::decode_main(rest)),
        "encode" => inspect(okc_cli::inspect::encode_main(rest)),
        "help" | "--help" | "-h" => match rest.first().map(|c| (c, command_help(c))) {
            Some((_, Some(h))) => {
                println!("{h}");
                Ok(())
            }
            Some((c, None)) => Err(fail(
                EXIT_USAGE,
                format!("unknown command {c:?} (okc help)"),
            )),
            None => {
                println!("{}", usage());
                Ok(())
            }
        },
        "--version" | "version" => {
            println!("okc {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        "demo" | "fiscal-info" | "send-basket" | "send-payment" | "watch" => match parse_opts(rest)
        {
            Err(f) => Err(f),
            Ok(o) => match cmd.as_str() {
                "demo" => demo(o),
                "fiscal-info" => fiscal_info(o),
                "send-basket" => send_file(o, false),
                "send-payment" => send_file(o, true),
                _ => watch(o),
            },
        },
        other => Err(fail(
            EXIT_USAGE,
            format!("unknown command {other:?} (okc help lists them)"),
        )),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if let Some(rep) = &f.report {
                print!("{rep}");
            }
            if json && cmd != "sim" && !f.result_printed {
                let mut v = json!({"error": error_kind(f.code), "message": f.msg});
                if let Value::Object(m) = &mut v {
                    m.extend(f.extra);
                }
                println!("{v}");
            }
            eprintln!("okc {cmd}: {}", f.msg);
            ExitCode::from(f.code)
        }
    }
}
