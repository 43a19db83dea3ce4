//! `okc sim-cloud`: argument parsing, help and the serving loop of the TokenX Connect cloud
//! simulator, Token X Energy included (the simulator itself is [`okclink_sim::CloudSim`]).

use std::io::Write as _;
use std::time::Duration;

use okclink_sim::{CloudConfig, CloudSim, CloudTerminal, DeviceOutcome, EnergyTerminal, Fuelling};

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
device per terminal, and Token X Energy (a forecourt's fuel orders) on the same server

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

Token X Energy (branch BR-0001):
  --fuel PLATE:AMOUNT_KURUS  a pump finished fuelling: an OPEN order on the next free pump
                             (repeatable; Motorin, nozzle 1, 39.65 TL/L, litres = amount /
                             unit price), e.g. --fuel 34ABC123:152340
  --pumps N                  pumps 1..N, each with its 1000TR PT000000000N (default 8)
  --energy-terminal ID       a virtual market terminal (repeatable; default VT00000000001
                             and VT00000000002)
  --lock-ttl-s N             lock TTL when the lock names none (default 120)
  --complete-delay-ms N|manual
                             time from an accepted payment to the 1000TR completing the
                             order (default 500; manual = only the control call)

API (under the base; Authorization: Bearer <token> except for auth):
  POST /v1/auth/token (Basic ID:SECRET)   POST|GET /v1/client-settings
  POST /v1/instant-basket (terminal-id)   POST /v1/basket (branch-id)
  GET|PUT|DELETE /v1/basket/{id}          POST /v1/basket/unlock
  GET /v1/basket/open-basket              GET /v1/fiscal-parameters
  GET /v1/terminal                        GET /v1/terminal/{id}
  GET /v1/energy/orders?status=&plate=&pumpNo=&lockedBy=me   (terminal-id: market terminal)
  GET /v1/energy/orders/{id}              POST /v1/energy/orders/{id}/lock | unlock | payment

Control API (under the base, no auth; what the cashier does at the device):
  POST /_sim/baskets/{id}/complete | cancel | void | unlock
  POST /_sim/baskets/{id}/lock?terminal=ID
  GET  /_sim/requests   GET /_sim/webhooks   GET /_sim/baskets
  POST /_sim/tokens/expire
List-mode baskets (POST /v1/basket) are only taken through these calls.
Energy (the forecourt):
  POST /_sim/pumps/{pumpNo}/fuel {plate, litres|quantity|amount, unitPrice?, nozzleNo?}
  POST /_sim/fuel {…}   (next free pump)
  POST /_sim/orders/{id}/pay-at-pump | expire-lock | complete
  GET  /_sim/orders   GET /_sim/orders/{id}
  GET|POST /_sim/energy/faults {pumpOffline, dropPaymentReply, expireLockOnPayment,
                                payAtPumpOnLock, throttleList, retryAfterSecs}
  GET|POST /_sim/energy/config {lockTtlSec, completeDelayMs (null = manual)}

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
    let mut energy_terminals = Vec::new();
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
            "--fuel" => {
                let v = val("--fuel")?;
                let bad = || format!("--fuel: {v:?} is not PLATE:AMOUNT_KURUS");
                let (plate, amount) = v.rsplit_once(':').ok_or_else(bad)?;
                let amount: i64 = amount.parse().map_err(|_| bad())?;
                if plate.trim().is_empty() || amount <= 0 {
                    return Err(bad());
                }
                config.energy.fuel.push(Fuelling::amount(plate, amount));
            }
            "--pumps" => {
                let n = number("--pumps", &val("--pumps")?)?;
                if !(1..=99).contains(&n) {
                    return Err("--pumps must be 1 to 99".into());
                }
                config.energy.pumps = n as u32;
            }
            "--energy-terminal" => {
                let id = val("--energy-terminal")?;
                if id.is_empty() {
                    return Err("--energy-terminal needs an id".into());
                }
                energy_terminals.push(EnergyTerminal {
                    id,
                    branch_id: config.energy.branch_id.clone(),
                    client_id: None,
                });
            }
            "--lock-ttl-s" => {
                let n = number("--lock-ttl-s", &val("--lock-ttl-s")?)?;
                if n == 0 {
                    return Err("--lock-ttl-s must be at least 1".into());
                }
                config.energy.lock_ttl = Duration::from_secs(n);
            }
            "--complete-delay-ms" => {
                let v = val("--complete-delay-ms")?;
                config.energy.complete_delay = if v == "manual" {
                    None
                } else {
                    Some(Duration::from_millis(number("--complete-delay-ms", &v)?))
                };
            }
            other => return Err(format!("unknown option {other:?} (okc sim-cloud --help)")),
        }
    }
    if !terminals.is_empty() {
        config.terminals = terminals;
    }
    if !energy_terminals.is_empty() {
        config.energy.terminals = energy_terminals;
    }
    if config.energy.fuel.len() > config.energy.pumps as usize {
        return Err(format!(
            "{} --fuel orders but {} pumps (--pumps N)",
            config.energy.fuel.len(),
            config.energy.pumps
        ));
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
    eprintln!(
        "okc sim-cloud: Token X Energy at {}/v1/energy/orders ({} pump(s), market terminal(s) {})",
        sim.url(),
        a.config.energy.pumps,
        a.config
            .energy
            .terminals
            .iter()
            .map(|t| t.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    for o in sim.orders() {
        eprintln!(
            "okc sim-cloud: order {} plate {} pump {} amount {} kuruş",
            o.id, o.plate, o.pump_no, o.amount
        );
    }
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
        assert!(d.energy.fuel.is_empty());
        assert_eq!(d.energy.terminals.len(), 2);
        assert_eq!(d.energy.lock_ttl, Duration::from_secs(120));
    }

    #[test]
    fn parses_the_energy_flags() {
        let c = parse_args(&args(
            "--listen 127.0.0.1:0 --fuel 34ABC123:152340 --fuel 06XYZ42:5000 --pumps 3 \
             --energy-terminal VT9 --lock-ttl-s 30 --complete-delay-ms manual",
        ))
        .unwrap()
        .config;
        assert_eq!(
            c.energy.fuel,
            [
                Fuelling::amount("34ABC123", 152_340),
                Fuelling::amount("06XYZ42", 5000)
            ]
        );
        assert_eq!(c.energy.pumps, 3);
        assert_eq!(c.energy.terminals.len(), 1);
        assert_eq!(c.energy.terminals[0].id, "VT9");
        assert_eq!(c.energy.lock_ttl, Duration::from_secs(30));
        assert_eq!(c.energy.complete_delay, None);
        let c = parse_args(&args("--listen 127.0.0.1:0 --complete-delay-ms 20"))
            .unwrap()
            .config;
        assert_eq!(c.energy.complete_delay, Some(Duration::from_millis(20)));
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
            "--listen 127.0.0.1:0 --fuel 34ABC123",
            "--listen 127.0.0.1:0 --fuel 34ABC123:12.50",
            "--listen 127.0.0.1:0 --fuel :100",
            "--listen 127.0.0.1:0 --fuel X:0",
            "--listen 127.0.0.1:0 --pumps 0",
            "--listen 127.0.0.1:0 --pumps 1 --fuel A:1 --fuel B:1",
            "--listen 127.0.0.1:0 --lock-ttl-s 0",
            "--listen 127.0.0.1:0 --complete-delay-ms soon",
        ] {
            assert!(parse_args(&args(bad)).is_err(), "{bad:?}");
        }
    }
}
