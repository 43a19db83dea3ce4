//! `okc sim-cloud`: argument parsing, help and the serving loop of the TokenX Connect cloud
//! simulator (the simulator itself is [`okclink_sim::CloudSim`]).

use std::io::Write as _;
use std::time::Duration;

use okclink_sim::{CloudConfig, CloudSim, CloudTerminal, DeviceOutcome};

/// Parsed `okc sim-cloud` command line.
#[derive(Debug, Clone)]
pub struct SimCloudArgs {
    pub listen: String,
    pub config: CloudConfig,
}

/// Help text for `okc sim-cloud`.
pub fn help() -> String {
    "okc sim-cloud --listen HOST:PORT [options] — a simulated TokenX Connect cloud (Token's
REST API for ÖKC devices: auth, client settings, baskets, webhooks) with one simulated
device per terminal

  --listen HOST:PORT         address to listen on (required; port 0 = any free port);
                             prints `listening on HOST:PORT` on stdout once ready
  --base PATH                base path of the API (default: the root), e.g.
                             /app-store/external
  --user ID:SECRET           the only client id / secret accepted (default: any)
  --token-ttl-s N            token lifetime, `expiresIn` (default 900)
  --device-delay-ms N        time before a device finishes an instant basket (default 200)
  --outcome complete|cancel|void|manual
                             what the device does with instant baskets (default complete;
                             manual = nothing until a control call)
  --terminal ID[:list]       a terminal (repeatable; branch BR-0001, merchant M-0001;
                             `:list` = list mode, else instant). Default: AV00000000001
  --legacy-headers           also accept the camelCase terminalId / branchId / merchantId

API (under the base; Authorization: Bearer <token> except for auth):
  POST /v1/auth/token (Basic ID:SECRET)   POST|GET /v1/client-settings
  POST /v1/instant-basket (terminal-id)   POST /v1/basket (branch-id)
  GET|PUT|DELETE /v1/basket/{id}          POST /v1/basket/unlock
  GET /v1/basket/open-basket              GET /v1/fiscal-parameters
  GET /v1/terminal                        GET /v1/terminal/{id}

Control API (under the base, no auth; what the cashier does at the device):
  POST /_sim/baskets/{id}/complete | cancel | void | unlock
  POST /_sim/baskets/{id}/lock?terminal=ID
  GET  /_sim/requests   GET /_sim/webhooks   GET /_sim/baskets
List-mode baskets (POST /v1/basket) are only taken through these calls.

Example:
  okc sim-cloud --listen 127.0.0.1:8080 --terminal AV00000000001 --terminal AT00000000002:list
  curl -s -u me:pw -X POST http://127.0.0.1:8080/v1/auth/token"
        .to_string()
}

fn number(name: &str, v: &str) -> Result<u64, String> {
    v.parse()
        .map_err(|_| format!("{name}: {v:?} is not a non-negative integer"))
}

/// Parse the `okc sim-cloud` arguments (after the command name).
pub fn parse_args(args: &[String]) -> Result<SimCloudArgs, String> {
    let mut it = args.iter();
    let mut listen = None;
    let mut config = CloudConfig::default();
    let mut terminals = Vec::new();
    while let Some(a) = it.next() {
        let mut val = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match a.as_str() {
            "--listen" => listen = Some(val("--listen")?),
            "--base" => config.base = val("--base")?,
            "--user" => {
                let v = val("--user")?;
                let (id, secret) = v
                    .split_once(':')
                    .ok_or_else(|| format!("--user: {v:?} is not ID:SECRET"))?;
                config.credentials = Some((id.to_string(), secret.to_string()));
            }
            "--token-ttl-s" => {
                let n = number("--token-ttl-s", &val("--token-ttl-s")?)?;
                if n == 0 {
                    return Err("--token-ttl-s must be at least 1".into());
                }
                config.token_ttl = Duration::from_secs(n);
            }
            "--device-delay-ms" => {
                config.device_delay =
                    Duration::from_millis(number("--device-delay-ms", &val("--device-delay-ms")?)?)
            }
            "--outcome" => {
                config.device_outcome = match val("--outcome")?.as_str() {
                    "complete" => DeviceOutcome::Complete,
                    "cancel" => DeviceOutcome::Cancel,
                    "void" => DeviceOutcome::Void,
                    "manual" => DeviceOutcome::Manual,
                    o => return Err(format!("--outcome: {o:?} (complete|cancel|void|manual)")),
                }
            }
            "--terminal" => {
                let v = val("--terminal")?;
                let (id, instant) = match v.split_once(':') {
                    None => (v.as_str(), true),
                    Some((id, "list")) => (id, false),
                    Some((id, "instant")) => (id, true),
                    Some(_) => return Err(format!("--terminal: {v:?} is not ID or ID:list")),
                };
                if id.is_empty() {
                    return Err("--terminal needs an id".into());
                }
                terminals.push(CloudTerminal {
                    id: id.to_string(),
                    branch_id: "BR-0001".into(),
                    merchant_id: "M-0001".into(),
                    instant,
                    client_id: None,
                });
            }
            "--legacy-headers" => config.legacy_headers = true,
            other => return Err(format!("unknown option {other:?} (okc sim-cloud --help)")),
        }
    }
    if !terminals.is_empty() {
        config.terminals = terminals;
    }
    let listen = listen.ok_or("--listen HOST:PORT is required")?;
    Ok(SimCloudArgs { listen, config })
}

/// Serve until the process ends; `Err` only when it cannot listen.
pub fn serve(a: SimCloudArgs) -> Result<(), String> {
    let sim =
        CloudSim::start(a.config.clone(), &a.listen).map_err(|e| format!("{}: {e}", a.listen))?;
    eprintln!(
        "okc sim-cloud: TokenX Connect at {} ({} terminal(s); control API under {}/_sim/)",
        sim.url(),
        a.config.terminals.len(),
        sim.url()
    );
    let mut out = std::io::stdout();
    let _ = writeln!(out, "listening on {}", sim.addr());
    let _ = out.flush();
    loop {
        std::thread::park();
    }
}

/// `okc sim-cloud ARGS`: parse, then serve until killed.
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
            "--listen 127.0.0.1:0 --base /app-store/external --user me:pw --token-ttl-s 60 \
             --device-delay-ms 5 --outcome manual --terminal AV1 --terminal AT2:list --legacy-headers",
        ))
        .unwrap();
        assert_eq!(a.listen, "127.0.0.1:0");
        let c = a.config;
        assert_eq!(c.base, "/app-store/external");
        assert_eq!(c.credentials, Some(("me".into(), "pw".into())));
        assert_eq!(c.token_ttl, Duration::from_secs(60));
        assert_eq!(c.device_delay, Duration::from_millis(5));
        assert_eq!(c.device_outcome, DeviceOutcome::Manual);
        assert!(c.legacy_headers);
        let t: Vec<_> = c
            .terminals
            .iter()
            .map(|t| (t.id.as_str(), t.instant))
            .collect();
        assert_eq!(t, [("AV1", true), ("AT2", false)]);

        let d = parse_args(&args("--listen 127.0.0.1:0")).unwrap().config;
        assert_eq!(d.terminals.len(), 1);
        assert_eq!(d.terminals[0].id, "AV00000000001");
    }

    #[test]
    fn rejects_bad_flags() {
        for bad in [
            "",
            "--listen",
            "--listen 127.0.0.1:0 --outcome maybe",
            "--listen 127.0.0.1:0 --terminal AV1:fast",
            "--listen 127.0.0.1:0 --user nosecret",
            "--listen 127.0.0.1:0 --token-ttl-s 0",
            "--listen 127.0.0.1:0 --bogus",
        ] {
            assert!(parse_args(&args(bad)).is_err(), "{bad:?}");
        }
    }
}
