//! `okc sim-terminal`: argument parsing, help and the serving loop of the card-terminal
//! simulators (`--nexo`: a Swedbank Pay PAX terminal, [`okclink_sim::NexoSim`]; `--gptom`:
//! Global Payments' GP tom Cloud API with its devices, [`okclink_sim::GptomSim`]).

use std::io::Write as _;
use std::time::Duration;

use okclink_sim::{
    GptomAccount, GptomConfig, GptomSim, NexoConfig, NexoSim, PaymentOutcome, TaskMode, TaskOutcome,
};

/// Which terminal to simulate, with its configuration.
#[derive(Debug, Clone)]
pub enum Terminal {
    Nexo(NexoConfig),
    Gptom(GptomConfig),
}

/// Parsed `okc sim-terminal` command line.
#[derive(Debug, Clone)]
pub struct Args {
    pub listen: String,
    pub terminal: Terminal,
}

/// Help text for `okc sim-terminal`.
pub fn help() -> String {
    format!(
        "okc sim-terminal --nexo|--gptom --listen HOST:PORT [options] — a simulated card terminal

  --nexo                     a Swedbank Pay PAX terminal speaking nexo Retailer 3.1 XML over
                             HTTP (POST /EPASSaleToPOI/3.1)
  --gptom                    Global Payments' GP tom Cloud API (plain HTTP) with a simulated
                             GP tom device per TID; okclink reaches it as
                             gptom+http://HOST:PORT?tid=TID
  --listen HOST:PORT         address to listen on (required; port 0 = any free port);
                             prints `listening on HOST:PORT` on stdout once ready

Options of --nexo:
  --outcome approve|decline|signature
                             what happens to payments (default approve; signature = CVM
                             signature: the POS confirms it through its listener)
  --payment-ms N             time from PaymentRequest to PaymentResponse (default 300)
  --busy-ms N                Busy window after every PaymentResponse (default 3000)
  --pos-listener URL         the POS listener the terminal calls in full integration
                             (Display, Print, Input, events), e.g.
                             http://127.0.0.1:11000/EPASSaleToPOI/3.1

Options of --gptom:
  --user NAME:PASSWORD[:TID] the only logins accepted (repeatable; with TID: that TID only,
                             without: a master account). Default: any username / password
  --client-basic B64         the client's Basic credential, the base64 after \"Basic \"
                             (default: base64 of gptom-client:gptom-secret,
                             {basic})
  --mode automatic|assisted  automatic: tasks run when the device is idle (default);
                             assisted: a task waits for the user's tap (control API)
  --outcome approve|decline|cancel|fail|offline|stuck
                             what the devices do with tasks (default approve)
  --task-ms N                time a task is IN_PROGRESS on the device (default 2000)
  --token-ttl-s N            access token lifetime, expires_in (default 3600)

  GP tom API: POST /cloud/oauth/token (also /api/oauth/token; Basic; form grant_type=
  password&username&password[&tid] or grant_type=refresh_token&refresh_token),
  POST /v1/tasks/TRANSACTION, POST /v1/tasks/BATCH, GET /v1/tasks/{{id}}, GET /v1/tasks?tid=
  (Bearer). Control API (no auth): POST /_sim/tasks/{{id}}/tap,
  POST /_sim/tasks/{{id}}/finish?outcome=approve|decline|cancel|fail,
  POST /_sim/transactions/{{id}}/age?days=N,
  POST /_sim/config?mode=…&outcome=…&task_ms=N&token_ttl_s=N,
  POST /_sim/tokens/expire, POST /_sim/tokens/revoke-refresh,
  POST /_sim/faults?create_5xx=N&create_5xx_after_create=N&create_drop_after_create=N&
  slow_auth_ms=N&device_offline=BOOL&sic_transaction_id=BOOL, POST /_sim/faults/clear,
  GET /_sim/config|faults|requests|tasks|transactions

Examples:
  okc sim-terminal --nexo --listen 127.0.0.1:11000 --outcome signature \\
      --pos-listener http://127.0.0.1:11001/EPASSaleToPOI/3.1
  okc sim-terminal --gptom --listen 127.0.0.1:11080 --mode assisted --task-ms 500",
        basic = okclink_sim::gptom::assumptions::CLIENT_BASIC
    )
}

fn number(name: &str, v: &str) -> Result<u64, String> {
    v.parse()
        .map_err(|_| format!("{name}: {v:?} is not a non-negative integer"))
}

const NEXO_ONLY: [&str; 3] = ["--payment-ms", "--busy-ms", "--pos-listener"];
const GPTOM_ONLY: [&str; 5] = [
    "--user",
    "--client-basic",
    "--mode",
    "--task-ms",
    "--token-ttl-s",
];

/// Parse the `okc sim-terminal` arguments (after the command name).
pub fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut it = args.iter();
    let mut listen = None;
    let (mut nexo, mut gptom) = (false, false);
    // Options with their values, applied once the terminal is known.
    let mut opts: Vec<(String, String)> = Vec::new();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--nexo" => nexo = true,
            "--gptom" => gptom = true,
            "--listen" | "--outcome" => {
                let v = it
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("{a} needs a value"))?;
                if a == "--listen" {
                    listen = Some(v);
                } else {
                    opts.push((a.clone(), v));
                }
            }
            o if NEXO_ONLY.contains(&o) || GPTOM_ONLY.contains(&o) => {
                let v = it
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("{a} needs a value"))?;
                opts.push((a.clone(), v));
            }
            other => {
                return Err(format!(
                    "unknown option {other:?} (okc sim-terminal --help)"
                ))
            }
        }
    }
    let terminal = match (nexo, gptom) {
        (true, true) => return Err("choose one terminal: --nexo or --gptom".into()),
        (false, false) => {
            return Err("choose the terminal: --nexo or --gptom (okc sim-terminal --help)".into())
        }
        (true, false) => Terminal::Nexo(nexo_config(&opts)?),
        (false, true) => Terminal::Gptom(gptom_config(&opts)?),
    };
    let listen = listen.ok_or("--listen HOST:PORT is required")?;
    Ok(Args { listen, terminal })
}

fn nexo_config(opts: &[(String, String)]) -> Result<NexoConfig, String> {
    let mut config = NexoConfig::default();
    for (name, v) in opts {
        match name.as_str() {
            "--outcome" => {
                config.outcome = match v.as_str() {
                    "approve" => PaymentOutcome::Approve,
                    "decline" => PaymentOutcome::Decline,
                    "signature" => PaymentOutcome::Signature,
                    o => return Err(format!("--outcome: {o:?} (approve|decline|signature)")),
                }
            }
            "--payment-ms" => config.payment_time = Duration::from_millis(number(name, v)?),
            "--busy-ms" => config.busy_after_payment = Duration::from_millis(number(name, v)?),
            "--pos-listener" => {
                if !(v.starts_with("http://") || v.starts_with("https://")) {
                    return Err(format!("--pos-listener: {v:?} is not an http(s) URL"));
                }
                config.pos_listener = Some(v.clone());
            }
            other => return Err(format!("{other} is not an option of --nexo")),
        }
    }
    Ok(config)
}

fn gptom_config(opts: &[(String, String)]) -> Result<GptomConfig, String> {
    let mut config = GptomConfig::default();
    for (name, v) in opts {
        match name.as_str() {
            "--user" => {
                let mut parts = v.splitn(3, ':');
                let (Some(user), Some(password)) = (parts.next(), parts.next()) else {
                    return Err(format!("--user: {v:?} is not NAME:PASSWORD[:TID]"));
                };
                let tid = parts.next();
                if user.is_empty() || password.is_empty() || tid == Some("") {
                    return Err(format!("--user: {v:?} is not NAME:PASSWORD[:TID]"));
                }
                config.accept_any = false;
                config.accounts.push(GptomAccount {
                    username: user.to_string(),
                    password: password.to_string(),
                    tid: tid.map(str::to_string),
                });
            }
            "--client-basic" => {
                if v.is_empty() || v.contains(char::is_whitespace) {
                    return Err(format!(
                        "--client-basic: {v:?} (the base64 after \"Basic \")"
                    ));
                }
                config.client_basic = v.clone();
            }
            "--mode" => {
                config.mode = TaskMode::parse(v)
                    .ok_or_else(|| format!("--mode: {v:?} (automatic|assisted)"))?
            }
            "--outcome" => {
                config.outcome = TaskOutcome::parse(v).ok_or_else(|| {
                    format!("--outcome: {v:?} (approve|decline|cancel|fail|offline|stuck)")
                })?
            }
            "--task-ms" => config.task_time = Duration::from_millis(number(name, v)?),
            "--token-ttl-s" => {
                let n = number(name, v)?;
                if n == 0 {
                    return Err("--token-ttl-s must be at least 1".into());
                }
                config.token_ttl = Duration::from_secs(n);
            }
            other => return Err(format!("{other} is not an option of --gptom")),
        }
    }
    Ok(config)
}

/// Serve until the process ends; `Err` only when it cannot listen.
pub fn serve(a: Args) -> Result<(), String> {
    let cant = |e: std::io::Error| format!("{}: {e}", a.listen);
    // Keep the simulator alive while the thread is parked.
    let (_nexo, _gptom, addr) = match &a.terminal {
        Terminal::Nexo(c) => {
            let sim = NexoSim::start(c.clone(), &a.listen).map_err(cant)?;
            eprintln!(
                "okc sim-terminal: Swedbank Pay PAX (nexo) at {} (outcome {:?}, POS listener {})",
                sim.url(),
                c.outcome,
                c.pos_listener.as_deref().unwrap_or("none")
            );
            let addr = sim.addr();
            (Some(sim), None, addr)
        }
        Terminal::Gptom(c) => {
            let sim = GptomSim::start(c.clone(), &a.listen).map_err(cant)?;
            eprintln!(
                "okc sim-terminal: GP tom Cloud API at {} (mode {}, outcome {}, task {} ms, \
                 logins {}; control API under {}/_sim/)",
                sim.url(),
                c.mode.name(),
                c.outcome.name(),
                c.task_time.as_millis(),
                if c.accept_any { "any" } else { "--user only" },
                sim.url()
            );
            let addr = sim.addr();
            (None, Some(sim), addr)
        }
    };
    let mut out = std::io::stdout();
    let _ = writeln!(out, "listening on {addr}");
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

    fn nexo(a: Args) -> NexoConfig {
        match a.terminal {
            Terminal::Nexo(c) => c,
            t => panic!("{t:?}"),
        }
    }

    fn gptom(a: Args) -> GptomConfig {
        match a.terminal {
            Terminal::Gptom(c) => c,
            t => panic!("{t:?}"),
        }
    }

    #[test]
    fn parses_the_nexo_flags() {
        let a = parse_args(&args(
            "--nexo --listen 127.0.0.1:0 --outcome signature --payment-ms 5 --busy-ms 7 \
             --pos-listener http://127.0.0.1:11000/EPASSaleToPOI/3.1",
        ))
        .unwrap();
        assert_eq!(a.listen, "127.0.0.1:0");
        let c = nexo(a);
        assert_eq!(c.outcome, PaymentOutcome::Signature);
        assert_eq!(c.payment_time, Duration::from_millis(5));
        assert_eq!(c.busy_after_payment, Duration::from_millis(7));
        assert_eq!(
            c.pos_listener.as_deref(),
            Some("http://127.0.0.1:11000/EPASSaleToPOI/3.1")
        );
        let d = nexo(parse_args(&args("--listen 127.0.0.1:0 --nexo")).unwrap());
        assert_eq!(d.outcome, PaymentOutcome::Approve);
        assert_eq!(d.pos_listener, None);
    }

    #[test]
    fn parses_the_gptom_flags() {
        let c = gptom(
            parse_args(&args(
                "--outcome stuck --gptom --listen 127.0.0.1:0 --user shop:pw:999888 \
                 --user boss:pw2 --mode assisted --task-ms 40 --token-ttl-s 9 \
                 --client-basic YTpi",
            ))
            .unwrap(),
        );
        assert!(!c.accept_any);
        assert_eq!(
            c.accounts,
            [
                GptomAccount {
                    username: "shop".into(),
                    password: "pw".into(),
                    tid: Some("999888".into())
                },
                GptomAccount {
                    username: "boss".into(),
                    password: "pw2".into(),
                    tid: None
                }
            ]
        );
        assert_eq!(c.outcome, TaskOutcome::Stuck);
        assert_eq!(c.mode, TaskMode::Assisted);
        assert_eq!(c.task_time, Duration::from_millis(40));
        assert_eq!(c.token_ttl, Duration::from_secs(9));
        assert_eq!(c.client_basic, "YTpi");
        let d = gptom(parse_args(&args("--gptom --listen 127.0.0.1:0")).unwrap());
        assert!(d.accept_any);
        assert_eq!(d.mode, TaskMode::Automatic);
        assert_eq!(d.outcome, TaskOutcome::Approve);
        assert_eq!(
            d.client_basic,
            okclink_sim::gptom::assumptions::CLIENT_BASIC
        );
    }

    #[test]
    fn rejects_bad_flags() {
        for bad in [
            "",
            "--nexo",
            "--gptom",
            "--listen 127.0.0.1:0",
            "--nexo --listen",
            "--nexo --gptom --listen 127.0.0.1:0",
            "--nexo --listen 127.0.0.1:0 --outcome maybe",
            "--nexo --listen 127.0.0.1:0 --outcome stuck",
            "--nexo --listen 127.0.0.1:0 --payment-ms -1",
            "--nexo --listen 127.0.0.1:0 --pos-listener 127.0.0.1:11000",
            "--nexo --listen 127.0.0.1:0 --bogus",
            "--nexo --listen 127.0.0.1:0 --mode assisted",
            "--gptom --listen 127.0.0.1:0 --outcome signature",
            "--gptom --listen 127.0.0.1:0 --busy-ms 5",
            "--gptom --listen 127.0.0.1:0 --user nopassword",
            "--gptom --listen 127.0.0.1:0 --user a:b:",
            "--gptom --listen 127.0.0.1:0 --mode manual",
            "--gptom --listen 127.0.0.1:0 --token-ttl-s 0",
            "--gptom --listen 127.0.0.1:0 --task-ms",
        ] {
            assert!(parse_args(&args(bad)).is_err(), "{bad:?}");
        }
    }
}
