//! `okc tokenx …`: the TokenX Connect cloud's own operations for support staff (the sale
//! itself goes through `okc send-basket --transport tokenx+…` like on a cable). Credentials
//! come from `OKC_TOKENX_CLIENT_ID` / `OKC_TOKENX_CLIENT_SECRET` (never from the command line,
//! where `ps` would show them). Each command prints the cloud's `result` as one JSON line.

use okclink::config::{Config, TransportSpec};
use okclink::fiscal::tokenx::api::{Context, Op};
use okclink::fiscal::tokenx::{CallError, Cloud};

/// Exit codes shared with the rest of `okc`.
pub const EXIT_USAGE: u8 = 1;
pub const EXIT_NO_DEVICE: u8 = 2;
pub const EXIT_REJECTED: u8 = 3;
pub const EXIT_BAD_INPUT: u8 = 6;
pub const EXIT_RUNTIME: u8 = 7;

pub const USAGE: &str =
    "okc tokenx COMMAND [--transport tokenx+https://HOST/BASE?terminal-id=AV…] [options]

The TokenX Connect cloud's own operations (a sale: okc send-basket FILE --transport tokenx+…).
Credentials: OKC_TOKENX_CLIENT_ID and OKC_TOKENX_CLIENT_SECRET (environment only).
--transport defaults to $OKC_TRANSPORT; --terminal ID / --branch ID override its ids.

COMMANDS (each prints the cloud's result as one JSON line on stdout):
  auth                         check the credentials (a fresh token)
  settings                     the registered webhook (GET client settings)
  settings --set URL [--auth VALUE]
                               register URL as the webhook; VALUE = the Authorization
                               header Token will send (default: $OKC_TOKENX_CALLBACK_AUTH)
  fiscal-parameters            the terminal's fiscal parameters, as the cloud sends them
  get ID                       one basket (result.sale once it is finished)
  update ID FILE               replace an open list-mode basket (branch)
  delete ID                    delete a basket that is not paid yet
  unlock ID                    unlock a basket a terminal holds (branch)
  open-baskets                 the terminal's open baskets
  terminals [--merchant ID]    the terminals of the branch / terminal / merchant
  terminal [ID]                a terminal's organisation (branch, merchant)

EXIT CODES: 0 ok, 1 usage, 2 cloud unreachable, 3 refused by the cloud, 6 bad input,
7 configuration error";

/// A failure: exit code and message.
pub type Failure = (u8, String);

struct Args {
    cmd: String,
    positional: Vec<String>,
    transport: Option<String>,
    terminal: Option<String>,
    branch: Option<String>,
    merchant: Option<String>,
    set: Option<String>,
    auth: Option<String>,
}

fn parse(args: &[String]) -> Result<Args, Failure> {
    let usage = |m: String| (EXIT_USAGE, m);
    let mut it = args.iter();
    let cmd = it
        .next()
        .ok_or_else(|| usage("missing COMMAND (okc tokenx --help)".into()))?
        .clone();
    let mut a = Args {
        cmd,
        positional: Vec::new(),
        transport: None,
        terminal: None,
        branch: None,
        merchant: None,
        set: None,
        auth: None,
    };
    while let Some(x) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .ok_or_else(|| usage(format!("{x} needs a value")))
        };
        match x.as_str() {
            "--transport" | "-t" => a.transport = Some(val()?),
            "--terminal" => a.terminal = Some(val()?),
            "--branch" => a.branch = Some(val()?),
            "--merchant" => a.merchant = Some(val()?),
            "--set" => a.set = Some(val()?),
            "--auth" => a.auth = Some(val()?),
            "--json" => {}
            s if s.starts_with('-') && s.len() > 1 => {
                return Err(usage(format!("unknown option {s:?} (okc tokenx --help)")))
            }
            _ => a.positional.push(x.clone()),
        }
    }
    Ok(a)
}

fn call_error(e: CallError) -> Failure {
    match e {
        CallError::Network { .. } => (EXIT_NO_DEVICE, e.to_string()),
        CallError::Api(_) => (EXIT_REJECTED, e.to_string()),
    }
}

/// Run `okc tokenx ARGS…`; the line to print on success.
pub fn run(args: &[String]) -> Result<String, Failure> {
    let a = parse(args)?;
    let mut cfg = Config::from_env("okc").map_err(|e| (EXIT_RUNTIME, e.0))?;
    let t = a
        .transport
        .clone()
        .or_else(|| std::env::var("OKC_TRANSPORT").ok())
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| {
            (
                EXIT_USAGE,
                "no cloud given: --transport tokenx+https://HOST/BASE?terminal-id=… or $OKC_TRANSPORT"
                    .to_string(),
            )
        })?;
    cfg.transports = vec![t.parse::<TransportSpec>().map_err(|e| (EXIT_USAGE, e))?];
    let cloud = Cloud::from_config(&cfg).map_err(|e| (EXIT_RUNTIME, e.to_string()))?;
    let terminal = a.terminal.clone().or(cloud.target().terminal_id.clone());
    let branch = a.branch.clone().or(cloud.target().branch_id.clone());
    let need = |what: &str, v: &Option<String>| {
        v.clone().ok_or_else(|| {
            (
                EXIT_USAGE,
                format!(
                    "{} needs a {what} (?{what}-id=… in the transport, or --{what} ID)",
                    a.cmd
                ),
            )
        })
    };
    let id = |n: usize| {
        a.positional.get(n).cloned().ok_or_else(|| {
            (
                EXIT_USAGE,
                format!("{} needs a basket ID (okc tokenx --help)", a.cmd),
            )
        })
    };
    let op = match a.cmd.as_str() {
        "auth" => {
            cloud.authenticate().map_err(call_error)?;
            return Ok("{\"authenticated\":true}".into());
        }
        "settings" => match &a.set {
            None => Op::GetClientSettings,
            Some(url) => Op::SetClientSettings {
                callback_url: url.clone(),
                callback_auth: a
                    .auth
                    .clone()
                    .or_else(|| {
                        cfg.tokenx
                            .callback_auth
                            .as_ref()
                            .map(|s| s.expose().to_string())
                    })
                    .ok_or_else(|| {
                        (
                            EXIT_USAGE,
                            "settings --set needs --auth VALUE or $OKC_TOKENX_CALLBACK_AUTH".into(),
                        )
                    })?,
            },
        },
        "fiscal-parameters" => Op::FiscalParameters {
            terminal: need("terminal", &terminal)?,
        },
        "get" => Op::GetBasket {
            id: id(0)?,
            terminal: terminal.clone(),
        },
        "update" => {
            let file = a
                .positional
                .get(1)
                .ok_or_else(|| (EXIT_USAGE, "update needs ID FILE".to_string()))?;
            let text = std::fs::read_to_string(file)
                .map_err(|e| (EXIT_BAD_INPUT, format!("{file}: {e}")))?;
            let basket = okclink::fiscal::tokenx::api::without_basket_id(&text)
                .map_err(|e| (EXIT_BAD_INPUT, format!("{file}: {e}")))?;
            Op::UpdateBasket {
                id: id(0)?,
                branch: need("branch", &branch)?,
                basket,
            }
        }
        "delete" => Op::DeleteBasket { id: id(0)? },
        "unlock" => Op::UnlockBasket {
            id: id(0)?,
            branch: need("branch", &branch)?,
        },
        "open-baskets" => Op::OpenBaskets {
            terminal: need("terminal", &terminal)?,
        },
        "terminals" => Op::Terminals {
            context: match (&a.merchant, &a.branch, &terminal, &branch) {
                (Some(m), _, _, _) => Context::Merchant(m.clone()),
                (None, Some(b), _, _) => Context::Branch(b.clone()),
                (None, None, Some(t), _) => Context::Terminal(t.clone()),
                (None, None, None, Some(b)) => Context::Branch(b.clone()),
                _ => {
                    return Err((
                        EXIT_USAGE,
                        "terminals needs --merchant, --branch or --terminal".into(),
                    ))
                }
            },
        },
        "terminal" => Op::TerminalOrganisation {
            terminal: a
                .positional
                .first()
                .cloned()
                .map_or_else(|| need("terminal", &terminal), Ok)?,
        },
        other => {
            return Err((
                EXIT_USAGE,
                format!("unknown tokenx command {other:?} (okc tokenx --help)"),
            ))
        }
    };
    let env = cloud.call(&op).map_err(call_error)?;
    Ok(if env.result == "null" {
        serde_json::json!({"status": env.status, "description": env.description}).to_string()
    } else {
        env.result
    })
}
