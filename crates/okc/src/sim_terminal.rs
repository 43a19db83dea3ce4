//! `okc sim-terminal`: argument parsing, help and the serving loop of the card-terminal
//! simulators (`--nexo`: a Swedbank Pay PAX terminal, [`okclink_sim::NexoSim`]).

use std::io::Write as _;
use std::time::Duration;

use okclink_sim::{NexoConfig, NexoSim, PaymentOutcome};

/// Parsed `okc sim-terminal` command line.
#[derive(Debug, Clone)]
pub struct Args {
    pub listen: String,
    pub config: NexoConfig,
}

/// Help text for `okc sim-terminal`.
pub fn help() -> String {
    "okc sim-terminal --nexo --listen HOST:PORT [options] — a simulated Swedbank Pay PAX card
terminal speaking nexo Retailer 3.1 XML over HTTP (POST /EPASSaleToPOI/3.1)

  --nexo                     the Swedbank Pay PAX terminal (required; --gptom: not yet)
  --listen HOST:PORT         address to listen on (required; port 0 = any free port);
                             prints `listening on HOST:PORT` on stdout once ready
  --outcome approve|decline|signature
                             what happens to payments (default approve; signature = CVM
                             signature: the POS confirms it through its listener)
  --payment-ms N             time from PaymentRequest to PaymentResponse (default 300)
  --busy-ms N                Busy window after every PaymentResponse (default 3000)
  --pos-listener URL         the POS listener the terminal calls in full integration
                             (Display, Print, Input, events), e.g.
                             http://127.0.0.1:11000/EPASSaleToPOI/3.1

Example:
  okc sim-terminal --nexo --listen 127.0.0.1:11000 --outcome signature \\
      --pos-listener http://127.0.0.1:11001/EPASSaleToPOI/3.1"
        .to_string()
}

fn number(name: &str, v: &str) -> Result<u64, String> {
    v.parse()
        .map_err(|_| format!("{name}: {v:?} is not a non-negative integer"))
}

/// Parse the `okc sim-terminal` arguments (after the command name).
pub fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut it = args.iter();
    let mut listen = None;
    let mut nexo = false;
    let mut config = NexoConfig::default();
    while let Some(a) = it.next() {
        let mut val = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match a.as_str() {
            "--nexo" => nexo = true,
            "--gptom" => {
                return Err("--gptom: the GP TOM terminal simulator is not available yet".into())
            }
            "--listen" => listen = Some(val("--listen")?),
            "--outcome" => {
                config.outcome = match val("--outcome")?.as_str() {
                    "approve" => PaymentOutcome::Approve,
                    "decline" => PaymentOutcome::Decline,
                    "signature" => PaymentOutcome::Signature,
                    o => return Err(format!("--outcome: {o:?} (approve|decline|signature)")),
                }
            }
            "--payment-ms" => {
                config.payment_time =
                    Duration::from_millis(number("--payment-ms", &val("--payment-ms")?)?)
            }
            "--busy-ms" => {
                config.busy_after_payment =
                    Duration::from_millis(number("--busy-ms", &val("--busy-ms")?)?)
            }
            "--pos-listener" => {
                let v = val("--pos-listener")?;
                if !(v.starts_with("http://") || v.starts_with("https://")) {
                    return Err(format!("--pos-listener: {v:?} is not an http(s) URL"));
                }
                config.pos_listener = Some(v);
            }
            other => {
                return Err(format!(
                    "unknown option {other:?} (okc sim-terminal --help)"
                ))
            }
        }
    }
    if !nexo {
        return Err("choose the terminal: --nexo (okc sim-terminal --help)".into());
    }
    let listen = listen.ok_or("--listen HOST:PORT is required")?;
    Ok(Args { listen, config })
}

/// Serve until the process ends; `Err` only when it cannot listen.
pub fn serve(a: Args) -> Result<(), String> {
    let sim =
        NexoSim::start(a.config.clone(), &a.listen).map_err(|e| format!("{}: {e}", a.listen))?;
    eprintln!(
        "okc sim-terminal: Swedbank Pay PAX (nexo) at {} (outcome {:?}, POS listener {})",
        sim.url(),
        a.config.outcome,
        a.config.pos_listener.as_deref().unwrap_or("none")
    );
    let mut out = std::io::stdout();
    let _ = writeln!(out, "listening on {}", sim.addr());
    let _ = out.flush();
    loop {
        std::thread::park();
    }
}

/// `okc sim-terminal ARGS`: parse, then serve until killed.
pub fn run(args: &[String]) -> Result<(), String> {
    serve(parse_args(args)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_the_flags() {
        let a = parse_args(&args(
            "--nexo --listen 127.0.0.1:0 --outcome signature --payment-ms 5 --busy-ms 7 \
             --pos-listener http://127.0.0.1:11000/EPASSaleToPOI/3.1",
        ))
        .unwrap();
        assert_eq!(a.listen, "127.0.0.1:0");
        let c = a.config;
        assert_eq!(c.outcome, PaymentOutcome::Signature);
        assert_eq!(c.payment_time, Duration::from_millis(5));
        assert_eq!(c.busy_after_payment, Duration::from_millis(7));
        assert_eq!(
            c.pos_listener.as_deref(),
            Some("http://127.0.0.1:11000/EPASSaleToPOI/3.1")
        );
        let d = parse_args(&args("--listen 127.0.0.1:0 --nexo"))
            .unwrap()
            .config;
        assert_eq!(d.outcome, PaymentOutcome::Approve);
        assert_eq!(d.pos_listener, None);
    }

    #[test]
    fn rejects_bad_flags() {
        for bad in [
            "",
            "--nexo",
            "--listen 127.0.0.1:0",
            "--nexo --listen",
            "--nexo --listen 127.0.0.1:0 --outcome maybe",
            "--nexo --listen 127.0.0.1:0 --payment-ms -1",
            "--nexo --listen 127.0.0.1:0 --pos-listener 127.0.0.1:11000",
            "--nexo --listen 127.0.0.1:0 --bogus",
        ] {
            assert!(parse_args(&args(bad)).is_err(), "{bad:?}");
        }
        let e = parse_args(&args("--gptom --listen 127.0.0.1:0")).unwrap_err();
        assert!(e.contains("not available yet"), "{e}");
    }
}
