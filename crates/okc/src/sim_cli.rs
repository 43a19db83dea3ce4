//! `okc sim`: argument parsing, help and the serving loop of the simulator command (the
//! simulator itself is the `okclink-sim` library; reading files happens here).

use std::time::Duration;

use okclink_sim::{
    DeviceIdentity, Faults, SimConfig, T300TR_RESEND_INTERVAL, T300TR_SALE_DELAY,
    X30TR_RESEND_INTERVAL,
};
use okclink_wire::DeviceModel;

/// Where `okc sim` serves the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Serve {
    /// `--listen ADDR` (default `127.0.0.1:7700`).
    Tcp(String),
    /// `--pty`: a pseudo-terminal (unix).
    Pty,
}

/// Parsed `okc sim` command line.
#[derive(Debug, Clone)]
pub struct SimArgs {
    pub config: SimConfig,
    pub serve: Serve,
}

/// Help text for `okc sim`.
pub fn help() -> String {
    format!(
        "okc sim [options] — a simulated ÖKC on TCP (the stream carries the USB bulk bytes) or
on a pseudo-terminal (--pty: the 300TR's serial port)

  --listen ADDR              address to listen on (default 127.0.0.1:7700); one host at a
                             time: a second connection is refused, the first keeps the device
  --pty                      serve on a pseudo-terminal instead (unix; implies --model 300tr
                             unless --model is given): prints the port path (/dev/pts/N) on
                             stdout; open it as the 300TR's serial port
  --model x30tr|300tr        device model (default x30tr)
  --serial SERIAL            fiscal serial (default AV0000000001 / AT0000000001)
  --cert-message FILE        type-5 payload {{\"certificate\",\"sign\"}} to present (default: generated)
  --real-cert                present the real device certificate of the model (from the logs)
  --fiscal-info FILE         fiscal-info JSON to serve (default: the model's real one)
  --delay-ms N               processing delay before answering requests (default 0)
  --sale-delay-ms N          time between payment and receipt (sale info);
                             default: x30tr 0, 300tr {sd} (a real 300TR prints first; with 0
                             the payment reply and the sale info arrive in one serial read,
                             which the vendor's library mis-reads)
  --resend-ms N              sale-info re-send interval until the host's OK;
                             default: x30tr {rx}, 300tr {r3}
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
  --verbose                  log to stderr

Exit codes: 0 stopped, 1 usage error, 7 cannot listen / open the pty.",
        sd = T300TR_SALE_DELAY.as_millis(),
        rx = X30TR_RESEND_INTERVAL.as_millis(),
        r3 = T300TR_RESEND_INTERVAL.as_millis(),
    )
}

fn parse_model(m: &str) -> Result<DeviceModel, String> {
    match m.to_ascii_lowercase().as_str() {
        "x30tr" | "x30" => Ok(DeviceModel::X30tr),
        "300tr" | "t300tr" | "300" => Ok(DeviceModel::T300tr),
        m => Err(format!("unknown model {m:?} (x30tr or 300tr)")),
    }
}

/// Parse `okc sim` arguments (without the `sim` word). `Err` is a usage error's text.
pub fn parse_args(args: &[String]) -> Result<SimArgs, String> {
    let mut it = args.iter();
    let mut model = None;
    let mut listen = None;
    let mut pty = false;
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
            "--model" => model = Some(parse_model(&val("--model")?)?),
            "--listen" => listen = Some(val("--listen")?),
            "--pty" => pty = true,
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
            other => return Err(format!("unknown option {other:?} (okc sim --help)")),
        }
    }
    if pty && listen.is_some() {
        return Err("--pty and --listen exclude each other".into());
    }
    if pty && cfg!(not(unix)) {
        return Err("--pty needs a unix system (pseudo-terminals)".into());
    }
    let model = model.unwrap_or(if pty {
        DeviceModel::T300tr
    } else {
        DeviceModel::X30tr
    });
    let mut cfg = SimConfig::for_model(model);
    if let Some(s) = serial {
        cfg.serial = s;
    }
    if real_cert {
        cfg.identity = Some(DeviceIdentity::real(model));
    }
    if let Some(f) = cert_file {
        let bytes = std::fs::read(&f).map_err(|e| format!("{f}: {e}"))?;
        cfg.identity =
            Some(DeviceIdentity::from_message(model, bytes).map_err(|e| format!("{f}: {e}"))?);
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
            _ => unreachable!("every numeric option is listed above"),
        }
    }
    cfg.faults = faults;
    cfg.verbose = verbose;
    let serve = if pty {
        Serve::Pty
    } else {
        Serve::Tcp(listen.unwrap_or_else(|| "127.0.0.1:7700".into()))
    };
    Ok(SimArgs { config: cfg, serve })
}

/// Serve until the process ends. `Err` is an I/O error's text (cannot bind / open a pty).
pub fn serve(a: SimArgs) -> Result<(), String> {
    match a.serve {
        Serve::Tcp(addr) => {
            okclink_sim::run_tcp_blocking(&addr, a.config).map_err(|e| format!("{addr}: {e}"))
        }
        #[cfg(unix)]
        Serve::Pty => {
            let model = a.config.model;
            let serial = a.config.serial.clone();
            let p = okclink_sim::serve_pty(a.config).map_err(|e| format!("pty: {e}"))?;
            eprintln!(
                "okc sim: {model:?} {serial} on the serial port {} (open it at any baud, 8N1)",
                p.path().display()
            );
            // The path alone on stdout, for scripts: PORT=$(okc sim --pty | head -n1).
            println!("{}", p.path().display());
            p.wait();
            Ok(())
        }
        #[cfg(not(unix))]
        Serve::Pty => Err("--pty needs a unix system".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use okclink_sim::fiscal;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_the_cli_flags() {
        let a = parse_args(&args(
            "--model 300tr --listen 127.0.0.1:0 --serial AT123 --delay-ms 50 --drop-every 3 --ignore-ack --bad-certificate",
        ))
        .unwrap();
        assert_eq!(a.serve, Serve::Tcp("127.0.0.1:0".into()));
        assert_eq!(a.config.model, DeviceModel::T300tr);
        assert_eq!(a.config.serial, "AT123");
        assert_eq!(a.config.processing_delay, Duration::from_millis(50));
        assert_eq!(a.config.faults.drop_every, Some(3));
        assert!(a.config.faults.ignore_ack && a.config.faults.bad_certificate);
        assert_eq!(a.config.fiscal_info, fiscal::FISCAL_300TR);
        // The 300TR's paced defaults, the X30TR's immediate ones.
        assert_eq!(a.config.sale_delay, Duration::from_millis(1500));
        assert_eq!(a.config.sale_resend_interval, Duration::from_secs(3));
        assert!(parse_args(&args("--model foo")).is_err());
        assert!(parse_args(&args("--delay-ms")).is_err());
        assert!(parse_args(&args("--delay-ms x")).is_err());
        assert!(parse_args(&args("--bogus")).is_err());
        assert!(parse_args(&args("--pty --listen 127.0.0.1:1")).is_err());
        assert!(
            parse_args(&args("--cert-message /nonexistent/okc-cert.json"))
                .unwrap_err()
                .contains("/nonexistent/okc-cert.json")
        );
        let a = parse_args(&args(
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
            okclink_sim::identity::REAL_X30TR_MESSAGE
        );
        let d = parse_args(&[]).unwrap();
        assert_eq!(d.config.model, DeviceModel::X30tr);
        assert_eq!(d.config.sale_delay, Duration::ZERO);
        assert_eq!(d.config.sale_resend_interval, Duration::from_secs(1));
        assert_eq!(d.serve, Serve::Tcp("127.0.0.1:7700".into()));
        let p = parse_args(&args("--pty --sale-delay-ms 0")).unwrap();
        assert_eq!(p.serve, Serve::Pty);
        assert_eq!(p.config.model, DeviceModel::T300tr);
        assert_eq!(p.config.sale_delay, Duration::ZERO);
        assert!(help().contains("300tr 1500"));
    }
}
