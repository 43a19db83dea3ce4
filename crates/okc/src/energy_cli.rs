//! `okc energy list|get|lock|unlock|pay|sell|recover`: Token X Energy fuel orders at the
//! in-store POS. `sell` is the forecourt flow in one command (find by plate → lock → card
//! payment → pay the order with the slip → wait for the 1000TR, or unlock with the reason);
//! the others are for support staff. Settings from the environment (`OKC_ENERGY_URL`,
//! `OKC_ENERGY_TERMINAL`, `OKC_TOKENX_CLIENT_ID` / `_SECRET`, `OKC_JOURNAL`, …; never
//! credentials on the command line).

use std::sync::Arc;

use okclink::energy::{
    card_result_from_json, EnergyConfig, EnergyError, Lock, OrderFilter, OrderState, Orders, Pick,
    SellState, Tender, UnlockReason,
};
use okclink::pay::{self, PayError, Terminal, TerminalConfig, TerminalEvent};
use serde_json::{json, Value};

/// Exit codes (the same meanings as the rest of `okc`).
pub const EXIT_USAGE: u8 = 1;
pub const EXIT_UNREACHABLE: u8 = 2;
pub const EXIT_REFUSED: u8 = 3;
pub const EXIT_NOT_COMPLETED: u8 = 4;
pub const EXIT_BAD_INPUT: u8 = 6;
pub const EXIT_CONFIG: u8 = 7;
pub const EXIT_IN_DOUBT: u8 = 8;

/// A failure whose result (or error object) was printed already.
pub const PRINTED_PREFIX: &str = "printed: ";

pub type Failure = (u8, String);

pub const USAGE: &str =
    "okc energy COMMAND [options]      Token X Energy fuel orders (in-store POS)

COMMANDS:
  sell (--plate PLATE | --order ID) --terminal URL [--payment-id ID]
                  the forecourt flow: find the open order → lock → card payment on the
                  terminal → pay the order with the slip → wait for the pump's 1000TR;
                  or unlock with the reason. Ends with one result: state completed, paid
                  (the 1000TR has not completed it yet) or unlocked
  list [--plate P] [--pump N] [--status OPEN,LOCKED,PAID,COMPLETED] [--mine]
                  the order summaries (default: every state)
  get ID          one order
  lock ID [--payment-id ID]
                  lock an order for this terminal (journalled)
  unlock ID [--reason PAYMENT_FAILED|CANCELLED|TIMEOUT]
                  release an order this terminal holds (default CANCELLED)
  pay ID --payment-id ID (--cash | --card-result FILE)
                  lock (or re-take this terminal's lock) and pay: cash, or the card result
                  JSON `okc pay --json` printed (its last line)
  recover [--terminal URL]
                  resolve locks a crash left (journal): the card payment approved → paid,
                  else unlocked; without --terminal card sales stay pending

OPTIONS:
  --terminal URL  the card terminal: nexo+http://HOST:PORT[?poiid=…&saleid=…] or
                  gptom+https://HOST?tid=TID (default $OKC_TERMINAL)
  --json          one JSON object per line; the last is the result (sell: {\"state\": …})
                  or {\"error\": …, \"message\": …, \"code\": …}

ENVIRONMENT:
  OKC_ENERGY_URL=http(s)://HOST/BASE   the order API
  OKC_ENERGY_TERMINAL                  the virtual terminal id Token issued
  OKC_TOKENX_CLIENT_ID, OKC_TOKENX_CLIENT_SECRET   the TokenX credentials
  OKC_JOURNAL                          the journal (default ./logs/okclink-journal-….sqlite;
                                       OKC_LOG_DIR=none and no OKC_JOURNAL: no journal)
  OKC_ENERGY_LOCK_TTL_S (120), OKC_ENERGY_CURRENCY (TRY), OKC_ENERGY_COMPLETE_WAIT_MS (10000)

EXIT CODES: 0 ok / completed, 1 usage, 2 cloud or terminal unreachable, 3 refused by the
cloud (e.g. 1018 locked by another terminal) or sale ended unlocked, 4 paid but not
completed yet, 6 bad input / no such order / several orders for the plate,
7 configuration or journal error, 8 in doubt (the journal resolves it: okc energy recover)";

struct Opts {
    json: bool,
    plate: Option<String>,
    order: Option<String>,
    terminal: Option<String>,
    payment_id: Option<String>,
    pump: Option<u32>,
    status: Option<String>,
    mine: bool,
    reason: Option<String>,
    cash: bool,
    card_result: Option<String>,
    positional: Vec<String>,
}

fn parse(args: &[String]) -> Result<Opts, Failure> {
    let mut o = Opts {
        json: false,
        plate: None,
        order: None,
        terminal: None,
        payment_id: None,
        pump: None,
        status: None,
        mine: false,
        reason: None,
        cash: false,
        card_result: None,
        positional: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .ok_or_else(|| (EXIT_USAGE, format!("{a} needs a value")))
        };
        match a.as_str() {
            "--json" => o.json = true,
            "--plate" => o.plate = Some(val()?),
            "--order" => o.order = Some(val()?),
            "--terminal" => o.terminal = Some(val()?),
            "--payment-id" => o.payment_id = Some(val()?),
            "--pump" => {
                let v = val()?;
                o.pump = Some(
                    v.parse()
                        .map_err(|_| (EXIT_USAGE, format!("--pump {v:?}: a number")))?,
                )
            }
            "--status" => o.status = Some(val()?),
            "--mine" => o.mine = true,
            "--reason" => o.reason = Some(val()?),
            "--cash" => o.cash = true,
            "--card-result" => o.card_result = Some(val()?),
            s if s.starts_with("--") => {
                return Err((
                    EXIT_USAGE,
                    format!("unknown option {s:?} (okc energy --help)"),
                ))
            }
            _ => o.positional.push(a.clone()),
        }
    }
    Ok(o)
}

/// The exit code of an error.
pub fn code_of(e: &EnergyError) -> u8 {
    match e {
        EnergyError::Config(_) | EnergyError::Journal(_) | EnergyError::Closed => EXIT_CONFIG,
        EnergyError::InvalidInput(_) | EnergyError::NotFound(_) | EnergyError::Ambiguous(_) => {
            EXIT_BAD_INPUT
        }
        EnergyError::Cloud { code, .. } if *code == 1006 => EXIT_BAD_INPUT,
        EnergyError::Cloud { .. } | EnergyError::LockExpired(_) => EXIT_REFUSED,
        EnergyError::Unreachable(_) => EXIT_UNREACHABLE,
        EnergyError::InDoubt(_) | EnergyError::Protocol(_) => EXIT_IN_DOUBT,
    }
}

/// The error object `--json` prints.
pub fn error_json(e: &EnergyError) -> Value {
    let kind = match e {
        EnergyError::Config(_) => "config",
        EnergyError::InvalidInput(_) => "bad_input",
        EnergyError::Cloud { .. } => "cloud",
        EnergyError::NotFound(_) => "not_found",
        EnergyError::Ambiguous(_) => "ambiguous",
        EnergyError::LockExpired(_) => "lock_expired",
        EnergyError::Unreachable(_) => "unreachable",
        EnergyError::InDoubt(_) => "in_doubt",
        EnergyError::Protocol(_) => "protocol",
        EnergyError::Journal(_) => "journal",
        EnergyError::Closed => "closed",
    };
    let mut v = json!({"error": kind, "message": e.to_string()});
    if let EnergyError::Cloud {
        http,
        code,
        description,
    } = e
    {
        v["http"] = json!(http);
        v["code"] = json!(code);
        v["description"] = json!(description);
    }
    v
}

fn out(o: &Opts, v: &Value, text: impl FnOnce() -> String) {
    if o.json {
        println!("{v}");
    } else {
        println!("{}", text());
    }
}

fn fail(o: &Opts, e: EnergyError) -> Failure {
    if o.json {
        println!("{}", error_json(&e));
        (code_of(&e), format!("{PRINTED_PREFIX}{e}"))
    } else {
        (code_of(&e), e.to_string())
    }
}

fn open_terminal(o: &Opts) -> Result<Terminal, Failure> {
    let url = o
        .terminal
        .clone()
        .or_else(|| std::env::var("OKC_TERMINAL").ok())
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            (
                EXIT_USAGE,
                "no card terminal: --terminal nexo+http://HOST:PORT or $OKC_TERMINAL".to_string(),
            )
        })?;
    let mut cfg = TerminalConfig::new(&url);
    cfg.gptom = pay::gptom::GptomConfig::from_env().map_err(|e| (EXIT_CONFIG, e))?;
    cfg.application_name = "okc".into();
    let json = o.json;
    cfg.events = Some(Arc::new(move |e: &TerminalEvent| {
        // Terminal events go to stderr: the result stays the last stdout line.
        if !json {
            eprintln!("terminal: {}", e.to_json());
        }
        None
    }));
    pay::open(cfg).map_err(|e| {
        let code = match e {
            PayError::Config(_) => EXIT_CONFIG,
            PayError::Unreachable(_) => EXIT_UNREACHABLE,
            _ => EXIT_BAD_INPUT,
        };
        (code, e.to_string())
    })
}

fn order_line(o: &okclink::energy::Order) -> String {
    format!(
        "{}  {:<10} pump {:>2}  {:>8}.{:02} TL  {:<9} {}",
        o.id,
        o.plate,
        o.pump_no.map_or("?".into(), |n| n.to_string()),
        o.amount / 100,
        o.amount % 100,
        o.state.as_str(),
        o.locked_by
            .as_deref()
            .map(|l| format!("locked by {l}"))
            .unwrap_or_default()
    )
}

fn one_id(o: &Opts, what: &str) -> Result<String, Failure> {
    match &o.positional[..] {
        [id] => Ok(id.clone()),
        _ => Err((EXIT_USAGE, format!("okc energy {what} ORDER_ID"))),
    }
}

/// `okc energy …`.
pub fn run(args: &[String]) -> Result<(), Failure> {
    let Some((cmd, rest)) = args.split_first() else {
        return Err((
            EXIT_USAGE,
            "okc energy sell|list|get|lock|unlock|pay|recover".into(),
        ));
    };
    let o = parse(rest)?;
    if !matches!(
        cmd.as_str(),
        "sell" | "list" | "get" | "lock" | "unlock" | "pay" | "recover"
    ) {
        return Err((
            EXIT_USAGE,
            format!("unknown energy command {cmd:?} (okc energy --help)"),
        ));
    }
    let cfg = EnergyConfig::from_env().map_err(|e| fail(&o, e))?;
    let orders = Orders::open(cfg).map_err(|e| fail(&o, e))?;
    match cmd.as_str() {
        "list" => {
            let mut f = OrderFilter {
                plate: o.plate.clone(),
                pump_no: o.pump,
                locked_by_me: o.mine,
                ..OrderFilter::default()
            };
            if let Some(s) = &o.status {
                for part in s.split(',').filter(|p| !p.trim().is_empty()) {
                    f.states.push(OrderState::parse(part).ok_or_else(|| {
                        (
                            EXIT_USAGE,
                            format!("--status {part:?}: OPEN, LOCKED, PAID or COMPLETED"),
                        )
                    })?);
                }
            }
            let l = orders.list(&f).map_err(|e| fail(&o, e))?;
            let v = json!({"orders": l.iter().map(|x| x.to_json()).collect::<Vec<_>>()});
            out(&o, &v, || {
                if l.is_empty() {
                    "no orders".into()
                } else {
                    l.iter().map(order_line).collect::<Vec<_>>().join("\n")
                }
            });
            Ok(())
        }
        "get" => {
            let id = one_id(&o, "get")?;
            let ord = orders.get(&id).map_err(|e| fail(&o, e))?;
            out(&o, &ord.to_json(), || {
                serde_json::to_string_pretty(&ord.to_json()).unwrap_or_default()
            });
            Ok(())
        }
        "lock" => {
            let id = one_id(&o, "lock")?;
            let l: Lock = match &o.payment_id {
                Some(p) => orders.lock_sale(&id, p),
                None => orders.lock(&id),
            }
            .map_err(|e| fail(&o, e))?;
            out(&o, &l.to_json(), || {
                format!(
                    "locked {} for {} s (token {})",
                    l.grant.order_id,
                    l.remaining().as_secs(),
                    l.grant.lock_token
                )
            });
            Ok(())
        }
        "unlock" => {
            let id = one_id(&o, "unlock")?;
            let reason = match &o.reason {
                None => UnlockReason::Cancelled,
                Some(r) => UnlockReason::parse(r).ok_or_else(|| {
                    (
                        EXIT_USAGE,
                        format!("--reason {r:?}: PAYMENT_FAILED, CANCELLED or TIMEOUT"),
                    )
                })?,
            };
            let ord = orders.unlock_id(&id, reason).map_err(|e| fail(&o, e))?;
            out(&o, &ord.to_json(), || order_line(&ord));
            Ok(())
        }
        "pay" => {
            let id = one_id(&o, "pay")?;
            let pid = o.payment_id.clone().ok_or((
                EXIT_USAGE,
                "pay needs --payment-id ID (the idempotency key)".into(),
            ))?;
            let tender = match (o.cash, &o.card_result) {
                (true, None) => Tender::Cash,
                (false, Some(file)) => {
                    let text = std::fs::read_to_string(file)
                        .map_err(|e| (EXIT_BAD_INPUT, format!("{file}: {e}")))?;
                    let last = text
                        .lines()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("");
                    let v: Value = serde_json::from_str(last)
                        .map_err(|e| (EXIT_BAD_INPUT, format!("{file}: not JSON: {e}")))?;
                    Tender::Card(Box::new(
                        card_result_from_json(&v).map_err(|e| (EXIT_BAD_INPUT, e))?,
                    ))
                }
                _ => return Err((EXIT_USAGE, "pay needs --cash or --card-result FILE".into())),
            };
            let p = orders
                .lock_and_pay(&id, &pid, &tender)
                .map_err(|e| fail(&o, e))?;
            let v = json!({"paymentId": p.payment_id, "replayed": p.replayed,
                           "order": p.order.to_json()});
            out(&o, &v, || format!("paid: {}", order_line(&p.order)));
            Ok(())
        }
        "recover" => {
            let t = match &o.terminal {
                Some(_) => Some(open_terminal(&o)?),
                None => None,
            };
            let r = orders.recover(t.as_ref()).map_err(|e| fail(&o, e))?;
            let v = json!({"recovered": r.iter().map(|x| x.to_json()).collect::<Vec<_>>()});
            out(&o, &v, || {
                if r.is_empty() {
                    "nothing to recover".into()
                } else {
                    r.iter()
                        .map(|x| format!("{} {}: {}", x.order_id, x.action, x.detail))
                        .collect::<Vec<_>>()
                        .join("\n")
                }
            });
            if r.iter().any(|x| x.action == "pending") {
                return Err((
                    EXIT_IN_DOUBT,
                    format!("{PRINTED_PREFIX}some locks are pending"),
                ));
            }
            Ok(())
        }
        _ => {
            let pick = match (&o.plate, &o.order) {
                (Some(p), None) => Pick::Plate(p.clone()),
                (None, Some(id)) => Pick::Order(id.clone()),
                _ => return Err((EXIT_USAGE, "sell needs --plate PLATE or --order ID".into())),
            };
            let t = open_terminal(&o)?;
            let r = orders.sell(&pick, &t, o.payment_id.as_deref());
            t.close();
            let s = r.map_err(|e| fail(&o, e))?;
            out(&o, &s.to_json(), || {
                let mut line = format!(
                    "{} order {} ({}, {}.{:02} TL)",
                    s.state.as_str().to_uppercase(),
                    s.order.id,
                    s.order.plate,
                    s.order.amount / 100,
                    s.order.amount % 100
                );
                if let Some(r) = &s.reason {
                    line.push_str(&format!(": {r}"));
                }
                if let Some(c) = s.card {
                    line.push_str(&format!(" [card {}]", c.as_str()));
                }
                line
            });
            match s.state {
                SellState::Completed => Ok(()),
                SellState::Paid => Err((
                    EXIT_NOT_COMPLETED,
                    format!("{PRINTED_PREFIX}paid, not completed by the 1000TR yet"),
                )),
                SellState::Unlocked => Err((
                    EXIT_REFUSED,
                    format!(
                        "{PRINTED_PREFIX}unlocked: {}",
                        s.reason.clone().unwrap_or_default()
                    ),
                )),
            }
        }
    }
}
