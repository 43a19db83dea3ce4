//! `okc serve`: argument parsing; the service itself is `okclink_serve` (docs/SERVE.md).

use okclink_serve::config::{FiscalSettings, PaymentSettings, TOKEN_ENV};
use okclink_serve::{ServeConfig, Server};
use serde_json::{json, Map, Value};

pub const EXIT_USAGE: u8 = 1;
/// Configuration or start-up failure (e.g. a non-loopback address without a token).
pub const EXIT_CONFIG: u8 = 7;

pub type Failure = (u8, String);

pub const USAGE: &str = "okc serve [--listen HOST:PORT] [--config FILE] [options]

Run okclink as a local HTTP service for web POS applications: one process owns the
fiscal device, the card terminal and the Energy client and offers them as REST/JSON,
Server-sent events (/events, resumable with Last-Event-ID), an OpenAPI document
(/openapi.json) and a support console (/). docs/SERVE.md has the whole API.

OPTIONS (flags override the configuration file):
  --listen HOST:PORT   where to listen (default 127.0.0.1:8765); any address other than
                       loopback needs an API token
  --config FILE        the configuration (JSON: listen, token, cors_origins, max_body_bytes,
                       fiscal {transport, company, journal, …}, payment {terminal, …},
                       energy {…})
  --transport T        the fiscal device: sim | sim:x30tr | sim:300tr (an in-process
                       simulator, as okc demo starts it) or the OKC_TRANSPORT syntax:
                       usb, serial, tcp://HOST:PORT, tokenx+https://HOST/BASE?terminal-id=…
                       (default: $OKC_TRANSPORT, else usb,serial,tcp://127.0.0.1:7700)
  --no-fiscal          no fiscal device
  --company NAME       company name sent to the device (default okc)
  --journal PATH|off   the journal (default $OKC_JOURNAL, else none): idempotency by
                       basketID / reference across restarts and the event log that
                       /events resumes from. Without one both last only as long as the process
  --terminal T         the card terminal: nexo+http://HOST:PORT, gptom+https://HOST?tid=TID,
                       or sim (an in-process nexo terminal simulator)
  --terminal-listener HOST:PORT
                       the nexo POS listener (terminal display, print and events)
  --currency CODE      the currency of payments without one (default TRY)
  --energy             open the Token X Energy client ($OKC_ENERGY_URL, … docs/ENERGY.md)
  --token TOKEN        the API token (better: $OKC_SERVE_TOKEN, not visible in ps)
  --cors-origin ORIGIN allow this browser origin (repeatable; exact, e.g. http://localhost:3000)
  --max-body-bytes N   request body limit (default 1048576)

Stop with SIGINT / SIGTERM: requests in progress finish, event streams end, the
fronts close; what is still unanswered stays in the journal for the next start.

EXIT CODES: 0 stopped cleanly, 1 usage, 7 configuration or start-up error";

const DEFAULT_TRANSPORTS: &str = "usb,serial,tcp://127.0.0.1:7700";

/// The configuration the command line asks for.
pub fn parse_args(args: &[String]) -> Result<ServeConfig, Failure> {
    let mut cfg_file = None;
    let mut listen = None;
    let mut transport = None;
    let mut no_fiscal = false;
    let mut company = None;
    let mut journal = None;
    let mut terminal = None;
    let mut terminal_listener = None;
    let mut currency = None;
    let mut energy = false;
    let mut token = None;
    let mut origins = Vec::new();
    let mut max_body = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .ok_or_else(|| (EXIT_USAGE, format!("{a} needs a value")))
        };
        match a.as_str() {
            "--config" => cfg_file = Some(val()?),
            "--listen" => listen = Some(val()?),
            "--transport" | "-t" => transport = Some(val()?),
            "--no-fiscal" => no_fiscal = true,
            "--company" => company = Some(val()?),
            "--journal" => journal = Some(val()?),
            "--terminal" => terminal = Some(val()?),
            "--terminal-listener" => terminal_listener = Some(val()?),
            "--currency" => currency = Some(val()?),
            "--energy" => energy = true,
            "--token" => token = Some(val()?),
            "--cors-origin" => origins.push(val()?),
            "--max-body-bytes" => {
                let v = val()?;
                max_body =
                    Some(v.parse::<usize>().map_err(|_| {
                        (EXIT_USAGE, format!("--max-body-bytes: not a number: {v:?}"))
                    })?)
            }
            s => {
                return Err((
                    EXIT_USAGE,
                    format!("unknown option {s:?} (okc serve --help)"),
                ))
            }
        }
    }
    let mut cfg = match &cfg_file {
        Some(f) => {
            let text =
                std::fs::read_to_string(f).map_err(|e| (EXIT_CONFIG, format!("{f}: {e}")))?;
            ServeConfig::from_json(&text).map_err(|e| (EXIT_CONFIG, format!("{f}: {e}")))?
        }
        None => ServeConfig::default(),
    };
    if listen.is_some() {
        cfg.listen = listen;
    }
    if let Some(t) = token.or_else(|| std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty())) {
        cfg.token = Some(t);
    }
    cfg.cors_origins.extend(origins);
    if max_body.is_some() {
        cfg.max_body_bytes = max_body;
    }
    if no_fiscal {
        cfg.fiscal = None;
    } else {
        if cfg.fiscal.is_none() || transport.is_some() {
            let f = cfg.fiscal.get_or_insert_with(FiscalSettings::default);
            f.transport = transport
                .or_else(|| std::env::var("OKC_TRANSPORT").ok())
                .filter(|t| !t.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_TRANSPORTS.into());
        }
        let f = cfg.fiscal.get_or_insert_with(FiscalSettings::default);
        if company.is_some() {
            f.company = company;
        }
        if let Some(j) = &journal {
            f.library.insert("journal".into(), json!(j));
        }
        if f.company.is_none() && !f.library.contains_key("company_name") {
            f.company = Some("okc".into());
        }
    }
    if let Some(t) = terminal {
        let p = cfg.payment.get_or_insert_with(PaymentSettings::default);
        p.terminal = t;
    }
    if let Some(p) = &mut cfg.payment {
        if terminal_listener.is_some() {
            p.listener = terminal_listener;
        }
        if currency.is_some() {
            p.currency = currency;
        }
        if let (Some(j), None) = (&journal, &p.journal) {
            p.journal = Some(j.clone());
        }
    }
    if energy && cfg.energy.is_none() {
        let mut m = Map::new();
        if let Some(j) = &journal {
            m.insert("journal".into(), Value::String(j.clone()));
        }
        cfg.energy = Some(m);
    }
    cfg.handle_signals = true;
    Ok(cfg)
}

/// `okc serve`: start, say where, serve until SIGINT / SIGTERM.
pub fn run(args: &[String]) -> Result<(), Failure> {
    let cfg = parse_args(args)?;
    let server = Server::start(cfg).map_err(|e| (EXIT_CONFIG, e))?;
    let app = server.app().clone();
    if app.journal.is_none() {
        eprintln!(
            "okc serve: no journal (--journal PATH): a basketID or payment reference is known \
             only within this process, and /events cannot resume across a restart"
        );
    }
    if let Some(f) = &app.fiscal {
        eprintln!("okc serve: fiscal device {}", f.label);
    }
    if let Some(p) = &app.payment {
        eprintln!("okc serve: payment terminal {}", p.label);
    }
    if app.token_digest.is_some() {
        eprintln!("okc serve: API token required (Authorization: Bearer …)");
    }
    println!("okc serve: listening on http://{}", server.addr());
    server.wait().map_err(|e| (EXIT_CONFIG, e))
}
