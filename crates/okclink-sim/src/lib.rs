//! The ÖKC device simulator: the device side of the same protocol engine
//! ([`okclink_wire::device::DeviceSession`]) plus a fiscal "application" that behaves like
//! the real X30TR / 300TR (real logs: `tests/data/protocol/samples/`).
//!
//! API contract (the hub, the CLI and the tests build on it):
//! - [`SimConfig`]: model, serial, identity, processing delay, faults.
//! - [`Simulator::new`] + [`Simulator::on_message`] / [`Simulator::poll_output`] /
//!   [`Simulator::on_tick`]: a sans-IO device (bytes in → bytes out), for tests and benches.
//! - [`mem_connector`]: an in-process device reachable through a [`okclink::transport::Connector`]
//!   (in-memory link pair, device served by a background thread), with a [`SimControl`]
//!   handle to unplug/replug, inject faults and inspect what the device received.
//! - [`serve_tcp`]: `okc sim --listen ADDR`; the stream carries exactly the USB bytes.
//!
//! Behaviour per model (WIRE §16.1 and the real logs in `samples/`):
//!
//! | | X30TR | 300TR |
//! |---|---|---|
//! | hello "OK" (type 4) | yes | no |
//! | trailing "OK" after data (types 0, 2, 3) | yes | no |
//! | accepted basket (type 1) | `"OK"`, then the sale info when "paid" | `{"basketID":…,"status":0}`, receipt stays open |
//! | payments | inside the basket (none = cash at the device) | type 10 each, answered `{"basketID":…,"status":0}`; sale info once paid |
//! | ACK (type 11) | answered with an empty type 11 | answered with an empty type 11 |
//! | rejected basket/payment | cp1254 error text of the same type | same |
//!
//! A void (`{"isVoid":true}` as type 1 or 10) closes the open receipt with status 99.
//! The sale info (type 3) is re-sent every [`SimConfig::sale_resend_interval`] until the
//! host answers type 3 "OK", across reconnects too (receipt state survives a link drop).
//! Amounts in the sale info are floats of the same kuruş value the basket carried.
//!
//! Choices where the samples are silent (marked "ours" in [`fiscal::texts`]):
//! - Error texts other than the two real 300TR ones are the simulator's own Turkish texts,
//!   cp1254-encoded like the real ones; the X30TR answers rejected baskets the same way
//!   (the real X30TR was only seen accepting).
//! - The 300TR answers each accepted payment (type 10) with `{"basketID":…,"status":0}`
//!   (no real payment reply was ever captured); non-cash payments may not exceed what is
//!   left to pay, cash may (change).
//! - An X30TR basket without payment items is paid in cash at the device.
//! - Receipt `status`: 0 completed, -1 cancelled at the device ([`Faults::cancel_sales`]),
//!   99 voided (`isVoid`), following the customer code quoted in DROP-IN §5.3.
//! - X30TR payment `id`s: cash 1, card 0 (real), food card 2, open account 3 (ours).
//! - A basket or payment that arrived before the link dropped is still carried out (its
//!   reply is lost); the resulting sale info goes to the next host.

#![forbid(unsafe_code)]

use std::time::Duration;

mod engine;
pub mod fiscal;
pub mod identity;
mod mem;
mod tcp;

pub use engine::{Received, SaleRecord, SimStats, Simulator, JUNK};
pub use identity::DeviceIdentity;
pub use mem::{mem_connector, SimControl};
pub use tcp::{run_tcp_blocking, serve_tcp, SimServer};

use okclink_wire::DeviceModel;

/// Fault injection switches. All off by default.
///
/// The counted faults (`drop_every`, `duplicate_every`, `corrupt_every`) count the messages
/// the device sends after the key-share "OK" (the device-info serial is message 1, on the
/// X30TR its "OK" message 2, and so on); handshake messages are never touched. A count of
/// `Some(n)` hits messages n, 2n, 3n, …
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// The device never sends anything (not even its certificate).
    pub silent: bool,
    /// Drop every n-th message.
    pub drop_every: Option<u32>,
    /// Send every n-th message twice.
    pub duplicate_every: Option<u32>,
    /// Write 4 junk bytes ([`JUNK`], no `00 31`) before every n-th message.
    pub junk_every: Option<u32>,
    /// Write every n-th message in two pieces (a device splitting a message across USB
    /// transfers; stream readers must re-assemble it).
    pub split_every: Option<u32>,
    /// Lose every n-th message the host sends after the key share (the device never
    /// sees it; counted from the first host message after the key share).
    pub lose_incoming_every: Option<u32>,
    /// Flip a ciphertext byte of every n-th message's data TLV (the host sees a CRC error).
    pub corrupt_every: Option<u32>,
    /// X30TR: send the hello "OK" only after the key share arrived, so it reaches the host
    /// under the old (default) key after the switch (WIRE §6.1 race).
    pub hello_ok_after_keyshare: bool,
    /// Send a certificate whose signature does not verify.
    pub bad_certificate: bool,
    /// One-shot: the next fiscal info / basket reply / payment reply / sale info is cut in
    /// half and the device disappears (link dropped; in-process: unplugged).
    pub vanish_mid_message: bool,
    /// Never answer the 300TR ACK request (the host times out: "Device is not connected").
    pub ignore_ack: bool,
    /// Do not hear the host's sale-info "OK": the sale info is re-sent forever.
    pub ignore_sale_ok: bool,
    /// One-shot: the next basket is not processed; the device sends a RECONNECT (type 8).
    pub reconnect_on_basket: bool,
    /// The operator cancels every sale at the device: sale info with status -1.
    pub cancel_sales: bool,
}

/// Simulator configuration. Start from [`SimConfig::x30tr`] or [`SimConfig::t300tr`].
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub model: DeviceModel,
    /// Fiscal serial: `AV…` (X30TR) or `AT…` (300TR).
    pub serial: String,
    /// Certificate + signature; `None` = generate one (P-384 X30TR, RSA-2048 300TR).
    pub identity: Option<DeviceIdentity>,
    /// The fiscal-info (type 2) payload served; defaults to the model's real one.
    pub fiscal_info: Vec<u8>,
    /// Delay before the device answers a fiscal-info, basket or payment request.
    pub processing_delay: Duration,
    /// Delay between the sale being fully paid and its receipt (sale info) — the time the
    /// customer spends at the device. X30TR: after the basket "OK"; 300TR: after the last payment.
    pub sale_delay: Duration,
    /// Interval of sale-info re-sends until the host's "OK".
    pub sale_resend_interval: Duration,
    /// Z report number written into receipts.
    pub z_no: u32,
    /// Number of the first receipt (then increasing).
    pub first_receipt_no: u32,
    /// Batch number written for card payments.
    pub batch_no: u32,
    pub faults: Faults,
    /// In-process device ([`mem_connector`]): after the vanish fault unplugged it, plug it
    /// back in after this long (`None` = stay unplugged until [`SimControl::plug`]).
    pub replug_after: Option<Duration>,
    /// Print the device's log lines to stderr.
    pub verbose: bool,
}

impl SimConfig {
    /// An X30TR with the real X30TR fiscal info.
    pub fn x30tr() -> SimConfig {
        SimConfig {
            model: DeviceModel::X30tr,
            serial: "AV0000000001".into(),
            identity: None,
            fiscal_info: fiscal::FISCAL_X30TR.to_vec(),
            processing_delay: Duration::ZERO,
            sale_delay: Duration::ZERO,
            sale_resend_interval: Duration::from_secs(1),
            z_no: 39,
            first_receipt_no: 1,
            batch_no: 16,
            faults: Faults::default(),
            replug_after: None,
            verbose: false,
        }
    }

    /// A 300TR with the real 300TR fiscal info.
    pub fn t300tr() -> SimConfig {
        SimConfig {
            model: DeviceModel::T300tr,
            serial: "AT0000000001".into(),
            fiscal_info: fiscal::FISCAL_300TR.to_vec(),
            z_no: 105,
            ..SimConfig::x30tr()
        }
    }

    /// Defaults for `model`.
    pub fn for_model(model: DeviceModel) -> SimConfig {
        match model {
            DeviceModel::X30tr => SimConfig::x30tr(),
            DeviceModel::T300tr => SimConfig::t300tr(),
        }
    }

    /// Parse `okc sim` arguments (without the `sim` word). See [`sim_args_help`].
    pub fn from_args(args: &[String]) -> Result<SimArgs, String> {
        parse_args(args)
    }
}

/// Parsed `okc sim` command line.
#[derive(Debug, Clone)]
pub struct SimArgs {
    pub config: SimConfig,
    /// `--listen ADDR` (default `127.0.0.1:7700`).
    pub listen: String,
}

/// Help text for `okc sim`.
pub fn sim_args_help() -> &'static str {
    "okc sim [options] — simulated ÖKC on TCP (the stream carries the USB bulk bytes)
  --listen ADDR              address to listen on (default 127.0.0.1:7700)
  --model x30tr|300tr        device model (default x30tr)
  --serial SERIAL            fiscal serial (default AV0000000001 / AT0000000001)
  --cert-message FILE        type-5 payload {\"certificate\",\"sign\"} to present (default: generated)
  --real-cert                present the real device certificate of the model (from the logs)
  --fiscal-info FILE         fiscal-info JSON to serve (default: the model's real one)
  --delay-ms N               processing delay before answering requests
  --sale-delay-ms N          time between payment and receipt (sale info)
  --resend-ms N              sale-info re-send interval until the host's OK (default 1000)
  --z-no N / --receipt-no N  Z number / first receipt number
  --silent                   never send anything
  --drop-every N             drop every N-th message after the key share
  --duplicate-every N        send every N-th message twice
  --corrupt-every N          corrupt every N-th message (CRC error)
  --junk-every N             write junk bytes before every N-th message
  --split-every N            write every N-th message in two pieces
  --lose-incoming-every N    ignore every N-th host message after the key share
  --hello-ok-after-keyshare  X30TR hello OK arrives after the key switch (race)
  --bad-certificate          present a certificate whose signature fails
  --vanish-mid-message       cut the next data message in half and drop the connection
  --ignore-ack               never answer the 300TR ACK
  --ignore-sale-ok           re-send the sale info forever
  --reconnect-on-basket      answer the next basket with a RECONNECT (type 8)
  --cancel-sales             every sale ends cancelled (status -1)
  --verbose                  log to stderr"
}

/// The whole `okc sim` command: parse `args` (after the `sim` word), serve until killed.
/// Returns the process exit code (2 for bad arguments, 1 for I/O errors).
pub fn run_cli(args: &[String]) -> i32 {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", sim_args_help());
        return 0;
    }
    let a = match SimConfig::from_args(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("okc sim: {e}");
            return 2;
        }
    };
    match run_tcp_blocking(&a.listen, a.config) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("okc sim: {}: {e}", a.listen);
            1
        }
    }
}

fn parse_args(args: &[String]) -> Result<SimArgs, String> {
    let mut it = args.iter();
    let mut model = None;
    let mut listen = "127.0.0.1:7700".to_string();
    let mut serial = None;
    let mut cert_file = None;
    let mut real_cert = false;
    let mut fiscal_file = None;
    let mut nums: Vec<(&str, u64)> = Vec::new();
    let mut faults = Faults::default();
    let mut verbose = false;
    while let Some(a) = it.next() {
        let mut val = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match a.as_str() {
            "--model" => {
                model = Some(match val("--model")?.to_ascii_lowercase().as_str() {
                    "x30tr" | "x30" => DeviceModel::X30tr,
                    "300tr" | "t300tr" | "300" => DeviceModel::T300tr,
                    m => return Err(format!("unknown model {m:?} (x30tr or 300tr)")),
                })
            }
            "--listen" => listen = val("--listen")?,
            "--serial" => serial = Some(val("--serial")?),
            "--cert-message" => cert_file = Some(val("--cert-message")?),
            "--fiscal-info" => fiscal_file = Some(val("--fiscal-info")?),
            "--delay-ms"
            | "--sale-delay-ms"
            | "--resend-ms"
            | "--z-no"
            | "--receipt-no"
            | "--drop-every"
            | "--duplicate-every"
            | "--corrupt-every"
            | "--junk-every"
            | "--split-every"
            | "--lose-incoming-every" => {
                let v = val(a)?;
                let n: u64 = v.parse().map_err(|_| format!("{a}: not a number: {v:?}"))?;
                nums.push((a.as_str(), n));
            }
            "--real-cert" => real_cert = true,
            "--silent" => faults.silent = true,
            "--hello-ok-after-keyshare" => faults.hello_ok_after_keyshare = true,
            "--bad-certificate" => faults.bad_certificate = true,
            "--vanish-mid-message" => faults.vanish_mid_message = true,
            "--ignore-ack" => faults.ignore_ack = true,
            "--ignore-sale-ok" => faults.ignore_sale_ok = true,
            "--reconnect-on-basket" => faults.reconnect_on_basket = true,
            "--cancel-sales" => faults.cancel_sales = true,
            "--verbose" | "-v" => verbose = true,
            other => return Err(format!("unknown option {other:?}\n{}", sim_args_help())),
        }
    }
    let model = model.unwrap_or(DeviceModel::X30tr);
    let mut cfg = SimConfig::for_model(model);
    if let Some(s) = serial {
        cfg.serial = s;
    }
    if real_cert {
        cfg.identity = Some(DeviceIdentity::real(model));
    }
    if let Some(f) = cert_file {
        cfg.identity = Some(DeviceIdentity::from_message_file(
            model,
            std::path::Path::new(&f),
        )?);
    }
    if let Some(f) = fiscal_file {
        cfg.fiscal_info = std::fs::read(&f).map_err(|e| format!("{f}: {e}"))?;
    }
    let n32 = |n: u64| u32::try_from(n).map_err(|_| format!("{n} is too large"));
    for (k, n) in nums {
        match k {
            "--delay-ms" => cfg.processing_delay = Duration::from_millis(n),
            "--sale-delay-ms" => cfg.sale_delay = Duration::from_millis(n),
            "--resend-ms" => cfg.sale_resend_interval = Duration::from_millis(n.max(1)),
            "--z-no" => cfg.z_no = n32(n)?,
            "--receipt-no" => cfg.first_receipt_no = n32(n)?,
            "--drop-every" => faults.drop_every = Some(n32(n)?).filter(|&n| n > 0),
            "--duplicate-every" => faults.duplicate_every = Some(n32(n)?).filter(|&n| n > 0),
            "--corrupt-every" => faults.corrupt_every = Some(n32(n)?).filter(|&n| n > 0),
            "--junk-every" => faults.junk_every = Some(n32(n)?).filter(|&n| n > 0),
            "--split-every" => faults.split_every = Some(n32(n)?).filter(|&n| n > 0),
            "--lose-incoming-every" => {
                faults.lose_incoming_every = Some(n32(n)?).filter(|&n| n > 0)
            }
            _ => unreachable!(),
        }
    }
    cfg.faults = faults;
    cfg.verbose = verbose;
    Ok(SimArgs {
        config: cfg,
        listen,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_the_cli_flags() {
        let a = SimConfig::from_args(&args(
            "--model 300tr --listen 127.0.0.1:0 --serial AT123 --delay-ms 50 --drop-every 3 --ignore-ack --bad-certificate",
        ))
        .unwrap();
        assert_eq!(a.listen, "127.0.0.1:0");
        assert_eq!(a.config.model, DeviceModel::T300tr);
        assert_eq!(a.config.serial, "AT123");
        assert_eq!(a.config.processing_delay, Duration::from_millis(50));
        assert_eq!(a.config.faults.drop_every, Some(3));
        assert!(a.config.faults.ignore_ack && a.config.faults.bad_certificate);
        assert_eq!(a.config.fiscal_info, fiscal::FISCAL_300TR);
        assert!(SimConfig::from_args(&args("--model foo")).is_err());
        assert!(SimConfig::from_args(&args("--delay-ms")).is_err());
        assert!(SimConfig::from_args(&args("--bogus")).is_err());
        assert_eq!(run_cli(&args("--bogus")), 2);
        assert_eq!(run_cli(&args("--help")), 0);
        // A port that cannot be bound: I/O error, exit code 1.
        assert_eq!(run_cli(&args("--listen 256.0.0.1:1")), 1);
        let a = SimConfig::from_args(&args(
            "--model x30tr --real-cert --junk-every 2 --split-every 3 --lose-incoming-every 4 --resend-ms 250 --z-no 7 --receipt-no 40",
        ))
        .unwrap();
        let f = &a.config.faults;
        assert_eq!(
            (f.junk_every, f.split_every, f.lose_incoming_every),
            (Some(2), Some(3), Some(4))
        );
        assert_eq!(a.config.sale_resend_interval, Duration::from_millis(250));
        assert_eq!((a.config.z_no, a.config.first_receipt_no), (7, 40));
        assert_eq!(
            a.config.identity.unwrap().message,
            identity::REAL_X30TR_MESSAGE
        );
        let d = SimConfig::from_args(&[]).unwrap();
        assert_eq!(d.config.model, DeviceModel::X30tr);
        assert_eq!(d.listen, "127.0.0.1:7700");
    }
}
