//! `okc` — the okclink command line: a self-contained demo, the device simulator, and
//! small tools that talk to a device (or a simulator) through the connection runtime.
//!
//! Exit codes (stable, for scripts):
//!   0 success · 1 usage error · 2 no device found in time · 3 the device rejected the
//!   request or the sale did not end with status 0 · 4 timed out waiting for an answer ·
//!   5 300TR ACK timeout ("Device is not connected") · 6 bad input (file, JSON) ·
//!   7 runtime/configuration error.

#![forbid(unsafe_code)]

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

const DEFAULT_TRANSPORTS: &str = "usb,serial,tcp://127.0.0.1:7700";

fn usage() -> String {
    format!(
        "okc — open Token Integration Hub replacement (okclink {})

USAGE:
  okc demo [--model x30tr|300tr] [--transport T] [--json]
      Start a simulated ÖKC in-process, connect, handshake, read the fiscal info,
      sell a sample basket and print the receipt the device returned, with timings.
      With --transport the demo talks to that device instead of its own simulator.
  okc sim [--listen ADDR] [--model x30tr|300tr] [faults…]   (okc sim --help)
      Serve a simulated ÖKC on TCP (default 127.0.0.1:7700).
  okc fiscal-info [common options]
  okc send-basket FILE [common options] [--wait-ms N]
  okc send-payment FILE [common options] [--wait-ms N]
  okc watch [common options] [--duration-ms N]
      Print every event (state changes, device data) until interrupted.
  okc decode HEX|@FILE [--key default|KEY32] [--json]
      Decode captured bytes (hex, xxd, hexdump -C or log dumps): every TLV with tag,
      length, CRC ok/bad and plaintext.
  okc encode --type N [--key default|KEY32] [--payload TEXT|@FILE]
      Print the whole message (start, data, end TLV) as hex.

COMMON OPTIONS:
  --transport T        usb | serial | tcp://HOST:PORT[?model=300tr], comma-separated
                       (default: $OKC_TRANSPORT, else {DEFAULT_TRANSPORTS})
  --json               machine-readable output (one JSON object per line)
  --company NAME       company name sent to the device (default okc)
  --connect-ms N       how long to wait for a device (default 10000)
  --timeout-ms N       fiscal-info wait (default 5000)
  --encoding cp1254|utf8   text encoding of outgoing JSON (default cp1254)
  --log-dir DIR        write the vendor-format log there (default: no log file)
  --log-level L        error|warn|info|debug (default info)

EXIT CODES:
  0 ok, 1 usage, 2 no device, 3 rejected / sale status ≠ 0, 4 timeout,
  5 ACK timeout, 6 bad input, 7 runtime error",
        env!("CARGO_PKG_VERSION")
    )
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
    log_level: LogLevel,
    model: DeviceModel,
    positional: Vec<String>,
}

struct Fail(u8, String);

impl From<HubError> for Fail {
    fn from(e: HubError) -> Fail {
        let code = match e {
            HubError::InvalidJson(_)
            | HubError::TooLarge { .. }
            | HubError::ReceiveTooLarge { .. } => EXIT_BAD_INPUT,
            HubError::NoDevice => EXIT_NO_DEVICE,
            HubError::Timeout => EXIT_TIMEOUT,
            HubError::Closed | HubError::Config(_) | HubError::Resource(_) => EXIT_RUNTIME,
        };
        Fail(code, e.to_string())
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
        log_level: LogLevel::Info,
        model: DeviceModel::X30tr,
        positional: vec![],
    };
    let mut it = args.iter();
    let usage_err = |m: String| Fail(EXIT_USAGE, m);
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .ok_or_else(|| usage_err(format!("{a} needs a value")))
        };
        let ms = |v: String| -> Result<Duration, Fail> {
            v.parse::<u64>().map(Duration::from_millis).map_err(|_| {
                Fail(
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
            "--log-level" => o.log_level = val()?.parse::<LogLevel>().map_err(usage_err)?,
            "--model" => {
                o.model = match val()?.to_ascii_lowercase().as_str() {
                    "x30tr" | "x30" => DeviceModel::X30tr,
                    "300tr" | "t300tr" | "300" => DeviceModel::T300tr,
                    m => return Err(usage_err(format!("unknown model {m:?} (x30tr or 300tr)"))),
                }
            }
            "--help" | "-h" => return Err(Fail(0, usage())),
            s if s.starts_with('-') && s.len() > 1 => {
                return Err(usage_err(format!("unknown option {s:?} (okc --help)")))
            }
            _ => o.positional.push(a.clone()),
        }
    }
    Ok(o)
}

fn hub_config(o: &Opts, transports: Vec<TransportSpec>) -> Config {
    let mut c = Config::new(&o.company);
    c.transports = transports;
    c.fiscal_timeout = o.timeout;
    c.text_encoding = o.encoding;
    c.log_dir = o.log_dir.as_ref().map(Into::into);
    c.log_level = o.log_level;
    c
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
    TransportSpec::parse_list(&t).map_err(|e| Fail(EXIT_USAGE, e.to_string()))
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
}

impl Out {
    fn ms(d: Duration) -> f64 {
        (d.as_secs_f64() * 1e6).round() / 1e3
    }
    /// A step with its duration.
    fn step(&self, name: &str, took: Duration, text: &str, extra: Value) {
        if self.json {
            let mut v =
                json!({"step": name, "ms": Self::ms(took), "at_ms": Self::ms(self.t0.elapsed())});
            if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
                m.extend(e);
            }
            println!("{v}");
        } else {
            println!("[{:>9.3} ms] {name:<12} {text}", Self::ms(took));
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
            match e {
                Event::State(c, s) => println!("[{since:>10.3} ms] deviceState({c}, {s:?})"),
                Event::Data(t, v) => println!("[{since:>10.3} ms] serialIn({t}, {v})"),
            }
        }
    }
}

fn connect(hub: &Hub, o: &Opts, out: &Out) -> Result<String, Fail> {
    let t = Instant::now();
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
        None => Err(Fail(
            EXIT_NO_DEVICE,
            format!("no device found within {} ms", o.connect.as_millis()),
        )),
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
        SendOutcome::NoDevice => Err(Fail(EXIT_NO_DEVICE, "no active device".into())),
        SendOutcome::AckTimeout => Err(Fail(
            EXIT_ACK_TIMEOUT,
            "the device did not answer the ACK request (Device is not connected)".into(),
        )),
    }
}

/// Wait for the sale info (type 3); a type-1/10 reply that is not JSON is a rejection.
fn wait_receipt(
    rx: &Receiver<(Instant, Event)>,
    wait: Duration,
    out: &Out,
    quiet_types: &[i32],
) -> Result<(Instant, Value), Fail> {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((at, Event::Data(3, v))) => {
                let j: Value = serde_json::from_str(&v)
                    .map_err(|_| Fail(EXIT_REJECTED, format!("sale info is not JSON: {v}")))?;
                return Ok((at, j));
            }
            Ok((at, e @ Event::Data(t, _))) if quiet_types.contains(&t) => {
                if let Event::Data(_, v) = &e {
                    if serde_json::from_str::<Value>(v).is_err() {
                        out.event(at, &e);
                        return Err(Fail(EXIT_REJECTED, format!("device rejected: {v}")));
                    }
                }
            }
            Ok((at, e @ Event::State(false, _))) => {
                out.event(at, &e);
                return Err(Fail(EXIT_NO_DEVICE, "device lost".into()));
            }
            Ok((at, e)) => out.event(at, &e),
            Err(RecvTimeoutError::Timeout) => {
                return Err(Fail(EXIT_TIMEOUT, "no sale info in time".into()))
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(Fail(EXIT_RUNTIME, "runtime stopped".into()))
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
    out.step(
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
    let out = Out {
        json: o.json,
        t0: Instant::now(),
    };
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
    let hub = Hub::new(hub_config(&o, transports))?;
    let rx = attach(&hub);
    out.step(
        "create",
        t.elapsed(),
        "connection object created (connecting in the background)",
        json!({}),
    );
    connect(&hub, &o, &out)?;
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
    let t_sale = Instant::now();
    let t = Instant::now();
    outcome(hub.send_basket(&basket.to_string()))?;
    out.step(
        "sendBasket",
        t.elapsed(),
        &format!(
            "accepted (1): {}",
            basket["basketID"].as_str().unwrap_or("")
        ),
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
    let (at, receipt) = wait_receipt(&rx, o.wait, &out, &[1, 10])?;
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
        Err(Fail(
            EXIT_REJECTED,
            format!("sale ended with status {}", receipt["status"]),
        ))
    }
}

fn open_hub(o: &Opts, out: &Out) -> Result<(Hub, Receiver<(Instant, Event)>), Fail> {
    let hub = Hub::new(hub_config(o, transports_of(o)?))?;
    let rx = attach(&hub);
    connect(&hub, o, out)?;
    Ok((hub, rx))
}

fn fiscal_info(o: Opts) -> Result<(), Fail> {
    let out = Out {
        json: o.json,
        t0: Instant::now(),
    };
    let (hub, _rx) = open_hub(&o, &out)?;
    let t = Instant::now();
    let fi = hub.fiscal_info(Some(o.timeout))?;
    if o.json {
        out.step(
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
    hub.close();
    Ok(())
}

fn send_file(o: Opts, payment: bool) -> Result<(), Fail> {
    let out = Out {
        json: o.json,
        t0: Instant::now(),
    };
    let [file] = &o.positional[..] else {
        return Err(Fail(EXIT_USAGE, "expected exactly one FILE".into()));
    };
    let text = std::fs::read(file).map_err(|e| Fail(EXIT_BAD_INPUT, format!("{file}: {e}")))?;
    let text = okclink::hub::text::decode_device_text(&text);
    serde_json::from_str::<Value>(&text)
        .map_err(|e| Fail(EXIT_BAD_INPUT, format!("{file}: invalid JSON: {e}")))?;
    let (hub, rx) = open_hub(&o, &out)?;
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
    // 300TR: a basket is answered with a status (type 1); the receipt follows the payments.
    let res = if is_300 && !payment {
        wait_reply(&rx, 1, o.wait, &out).map(|(at, v)| {
            out.step(
                "reply",
                at.saturating_duration_since(t),
                &v,
                json!({"type": 1, "value": v}),
            );
        })
    } else {
        let quiet: &[i32] = if payment { &[10] } else { &[1] };
        match wait_receipt(&rx, o.wait, &out, quiet) {
            Ok((at, r)) => {
                print_receipt(&out, at.saturating_duration_since(t), &r);
                if r["status"] != 0 {
                    Err(Fail(
                        EXIT_REJECTED,
                        format!("sale ended with status {}", r["status"]),
                    ))
                } else {
                    Ok(())
                }
            }
            // A 300TR payment that does not complete the sale is answered with a status only.
            Err(Fail(EXIT_TIMEOUT, _)) if is_300 => Ok(()),
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
                    _ => Err(Fail(EXIT_REJECTED, format!("device rejected: {v}"))),
                }
            }
            Ok((at, e)) => out.event(at, &e),
            Err(_) => return Err(Fail(EXIT_TIMEOUT, "no reply in time".into())),
        }
    }
}

fn watch(o: Opts) -> Result<(), Fail> {
    let out = Out {
        json: o.json,
        t0: Instant::now(),
    };
    let hub = Arc::new(Hub::new(hub_config(&o, transports_of(&o)?))?);
    let rx = attach(&hub);
    if !o.json {
        println!("watching {:?} (Ctrl-C to stop)", transports_of(&o)?);
    }
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
    if args.iter().any(|a| a == "--help" || a == "-h") {
        return Err(Fail(0, sim::sim_args_help().to_string()));
    }
    let a = SimConfig::from_args(args).map_err(|e| Fail(EXIT_USAGE, e))?;
    sim::run_tcp_blocking(&a.listen, a.config)
        .map_err(|e| Fail(EXIT_RUNTIME, format!("{}: {e}", a.listen)))
}

/// `okc decode` / `okc encode`: print the report, or fail with "bad input".
fn inspect(r: Result<String, String>) -> Result<(), Fail> {
    let text = r.map_err(|e| Fail(EXIT_BAD_INPUT, e))?;
    print!("{text}");
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        eprintln!("{}", usage());
        return ExitCode::from(EXIT_USAGE);
    };
    let rest = &args[1..];
    let r = match cmd.as_str() {
        "sim" => run_sim(rest),
        "decode" => inspect(okc_cli::inspect::decode_command(rest)),
        "encode" => inspect(okc_cli::inspect::encode_command(rest)),
        "help" | "--help" | "-h" => Err(Fail(0, usage())),
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
        other => Err(Fail(
            EXIT_USAGE,
            format!("unknown command {other:?}\n\n{}", usage()),
        )),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail(0, text)) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(Fail(code, text)) => {
            eprintln!("okc {cmd}: {text}");
            ExitCode::from(code)
        }
    }
}
