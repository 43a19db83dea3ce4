//! `okc pay AMOUNT`, `okc refund AMOUNT`, `okc terminal status|reverse-last|abort|
//! batch-close|login|logout`: the payment front from the command line.
//!
//! With `--json` every line on stdout is one JSON object: terminal events as they happen
//! (`{"event":"display",…}`), then the normalised result (`approved`, `amount`, `currency`,
//! `transactionId`, `receipts`, …). Exit codes: 0 approved / done, 3 declined or refused,
//! 4 outcome unknown after recovery gave up, 1 usage, 2 unreachable, 6 bad input,
//! 7 configuration, 8 in doubt (a reference the journal has as sent, whose outcome the
//! terminal still cannot tell: nothing was sent again).
//!
//! The journal (docs/PAYMENTS.md § Journal): `--journal PATH|off`, else `$OKC_JOURNAL`, else
//! `LOG_DIR/okclink-journal-okc.sqlite` (`$OKC_LOG_DIR`, else `./logs`). A reference the
//! journal already has prints its recorded result without sending anything.

use std::io::Write;
use std::sync::Arc;

use okclink::pay::{self, PayError, PaymentRequest, PaymentResult, TerminalConfig, TerminalEvent};

pub const EXIT_USAGE: u8 = 1;
pub const EXIT_UNREACHABLE: u8 = 2;
pub const EXIT_DECLINED: u8 = 3;
pub const EXIT_UNKNOWN: u8 = 4;
pub const EXIT_BAD_INPUT: u8 = 6;
pub const EXIT_CONFIG: u8 = 7;
/// A reference the journal has as sent, whose outcome the terminal still cannot tell.
pub const EXIT_IN_DOUBT: u8 = 8;

pub const USAGE: &str =
    "okc pay AMOUNT [options]       take a card payment (AMOUNT in major units: 12.50)
okc refund AMOUNT [options]    refund to a card
okc terminal status|reverse-last|abort|batch-close|login|logout [options]

OPTIONS:
  --terminal URL       nexo+http://HOST:PORT[?poiid=…&saleid=…] or
                       gptom+https://HOST?tid=TID[&master=1] (default $OKC_TERMINAL); GP tom
                       credentials from $OKC_GPTOM_USERNAME, $OKC_GPTOM_PASSWORD, $OKC_GPTOM_BASIC
  --listener HOST:PORT run the POS listener there (full integration: display texts, signature
                       question, events); without it: client-only
  --currency CODE      ISO 4217 code (default $OKC_CURRENCY, else EUR)
  --reference ID       the payment's reference = idempotency key (default: a fresh one);
                       status: the payment to ask about
  --refuse-signature   answer the signature question with \"refused\" (default: confirm)
  --journal PATH|off   the journal (default $OKC_JOURNAL, else
                       $OKC_LOG_DIR/okclink-journal-okc.sqlite, else ./logs/…): a reference
                       it already has prints the recorded result, nothing is sent again;
                       off: no journal (tests only)
  --gptom-in-progress-limit-ms N
                       GP tom: how long a task may run before the outcome is unknown
                       (default 300000; for tests against the simulator)
  --maintenance        logout: allow the terminal's maintenance (default for logout)
  --json               one JSON object per line: events, then the result

EXIT CODES: 0 approved / done, 1 usage, 2 terminal unreachable, 3 declined or refused,
4 outcome unknown after recovery gave up, 6 bad input, 7 configuration, 8 in doubt (the
journal has the reference as sent and the terminal still cannot tell its outcome: nothing
was sent again; ask later with the same command)";

/// A failure: exit code and message.
pub type Failure = (u8, String);

/// The message of a decline whose result was already printed.
pub const DECLINED_PREFIX: &str = "declined: ";

/// `12.50` → 1250 (two decimals; no floating point).
pub fn parse_amount(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || int.len() > 12
    {
        return Err(format!(
            "amount {s:?}: expected major units with '.' and at most 2 decimals, e.g. 12.50"
        ));
    }
    let frac_val: i64 = format!("{frac:0<2}").parse().unwrap_or(0);
    let v = int.parse::<i64>().map_err(|e| e.to_string())? * 100 + frac_val;
    if v == 0 {
        return Err("amount must be > 0".into());
    }
    Ok(v)
}

fn code_of(e: &PayError) -> u8 {
    match e {
        PayError::Config(_) => EXIT_CONFIG,
        PayError::InvalidInput(_) => EXIT_BAD_INPUT,
        PayError::Unreachable(_) => EXIT_UNREACHABLE,
        PayError::Refused { .. } | PayError::Unsupported(_) => EXIT_DECLINED,
        PayError::OutcomeUnknown(_) => EXIT_UNKNOWN,
        PayError::Protocol(_) | PayError::Closed => EXIT_UNKNOWN,
    }
}

struct Opts {
    terminal: Option<String>,
    listener: Option<String>,
    currency: Option<String>,
    reference: Option<String>,
    refuse_signature: bool,
    json: bool,
    journal: Option<String>,
    in_progress_limit_ms: Option<String>,
    positional: Vec<String>,
}

fn parse(args: &[String]) -> Result<Opts, Failure> {
    let mut o = Opts {
        terminal: None,
        listener: None,
        currency: None,
        reference: None,
        refuse_signature: false,
        json: false,
        journal: None,
        in_progress_limit_ms: None,
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
            "--terminal" => o.terminal = Some(val()?),
            "--listener" => o.listener = Some(val()?),
            "--currency" => o.currency = Some(val()?),
            "--reference" => o.reference = Some(val()?),
            "--refuse-signature" => o.refuse_signature = true,
            "--journal" => o.journal = Some(val()?),
            "--gptom-in-progress-limit-ms" => o.in_progress_limit_ms = Some(val()?),
            "--maintenance" => {}
            "--json" => o.json = true,
            s if s.starts_with("--") => {
                return Err((EXIT_USAGE, format!("unknown option {s:?} (okc pay --help)")))
            }
            _ => o.positional.push(a.clone()),
        }
    }
    Ok(o)
}

fn open(o: &Opts) -> Result<pay::Terminal, Failure> {
    let url = o
        .terminal
        .clone()
        .or_else(|| std::env::var("OKC_TERMINAL").ok())
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            (
                EXIT_USAGE,
                "no terminal: --terminal nexo+http://HOST:PORT or $OKC_TERMINAL".to_string(),
            )
        })?;
    let mut cfg = TerminalConfig::new(&url);
    cfg.gptom = pay::gptom::GptomConfig::from_env().map_err(|e| (EXIT_CONFIG, e))?;
    if let Some(ms) = &o.in_progress_limit_ms {
        cfg.gptom
            .set("gptom_in_progress_limit_ms", ms)
            .map_err(|e| (EXIT_USAGE, format!("--gptom-in-progress-limit-ms: {e}")))?;
    }
    cfg.journal = journal_path(o);
    cfg.listener = o.listener.clone();
    cfg.signature_confirm = !o.refuse_signature;
    cfg.application_name = "okc".into();
    let json = o.json;
    cfg.events = Some(Arc::new(move |e: &TerminalEvent| {
        // An event that arrives after the result (the event thread runs beside the call) is
        // not printed: the result stays the last line.
        let done = RESULT_PRINTED.lock().unwrap_or_else(|p| p.into_inner());
        if *done {
            return None;
        }
        if json {
            println!("{}", e.to_json());
            let _ = std::io::stdout().flush();
        } else {
            eprintln!("terminal: {}", e.to_json());
        }
        None
    }));
    pay::open(cfg).map_err(|e| (code_of(&e), e.to_string()))
}

/// The journal file: `--journal`, else `$OKC_JOURNAL`, else beside the logs (`off`: none).
fn journal_path(o: &Opts) -> Option<std::path::PathBuf> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    match o.journal.clone().or_else(|| env("OKC_JOURNAL")) {
        Some(v) => pay::parse_journal_setting(&v),
        None => {
            let dir = env("OKC_LOG_DIR")
                .filter(|d| !d.trim().eq_ignore_ascii_case("none"))
                .unwrap_or_else(|| "./logs".into());
            pay::default_journal(std::path::Path::new(&dir), "okc")
        }
    }
}

/// Whether the journal has `reference` already, and whether without an answer.
#[cfg(feature = "journal")]
fn known(path: Option<&std::path::Path>, reference: &str) -> (bool, bool) {
    use okclink::journal::{Journal, Kind};
    let Some(e) = path
        .and_then(|p| Journal::shared(p).ok())
        .and_then(|j| j.get(Kind::Payment, reference).ok().flatten())
    else {
        return (false, false);
    };
    (true, e.state.is_unfinished())
}

#[cfg(not(feature = "journal"))]
fn known(_: Option<&std::path::Path>, _: &str) -> (bool, bool) {
    (false, false)
}

/// Set when the result is printed (under this lock, so no event line follows it).
static RESULT_PRINTED: std::sync::Mutex<bool> = std::sync::Mutex::new(false);

fn print_result(o: &Opts, r: &PaymentResult) {
    let mut done = RESULT_PRINTED.lock().unwrap_or_else(|p| p.into_inner());
    *done = true;
    if o.json {
        println!("{}", r.to_json());
    } else {
        println!(
            "{} {} {}.{:02} {}{}",
            r.kind,
            if r.approved { "APPROVED" } else { "DECLINED" },
            r.amount / 100,
            r.amount % 100,
            r.currency,
            r.reason
                .as_ref()
                .map(|x| format!(" ({x})"))
                .unwrap_or_default()
        );
        for l in &r.customer_receipt {
            println!("  {l}");
        }
    }
}

fn finish(o: &Opts, r: Result<PaymentResult, PayError>) -> Result<(), Failure> {
    match r {
        Ok(res) => {
            print_result(o, &res);
            if res.approved {
                Ok(())
            } else {
                Err((
                    EXIT_DECLINED,
                    format!(
                        "{DECLINED_PREFIX}{}",
                        res.reason.unwrap_or_else(|| "no reason given".into())
                    ),
                ))
            }
        }
        Err(e) => Err((code_of(&e), e.to_string())),
    }
}

/// `okc pay` / `okc refund`.
pub fn money(refund: bool, args: &[String]) -> Result<(), Failure> {
    let o = parse(args)?;
    let [amount] = &o.positional[..] else {
        return Err((EXIT_USAGE, "expected one AMOUNT, e.g. okc pay 12.50".into()));
    };
    let amount = parse_amount(amount).map_err(|e| (EXIT_BAD_INPUT, e))?;
    let currency = o
        .currency
        .clone()
        .or_else(|| std::env::var("OKC_CURRENCY").ok())
        .filter(|c| !c.trim().is_empty())
        .unwrap_or_else(|| "EUR".into())
        .to_ascii_uppercase();
    let reference = o.reference.clone().unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        // Letters and digits only: valid for every back end (GP tom allows no '-').
        format!("okc{t}")
    });
    let req = PaymentRequest {
        amount,
        currency,
        reference,
    };
    pay::check_request(&req).map_err(|e| (EXIT_BAD_INPUT, e.to_string()))?;
    let t = open(&o)?;
    #[cfg(feature = "journal")]
    let path = t.journal_path();
    #[cfg(not(feature = "journal"))]
    let path: Option<std::path::PathBuf> = None;
    let (was_known, unfinished) = known(path.as_deref(), &req.reference);
    let r = if refund { t.refund(&req) } else { t.pay(&req) };
    t.close();
    match r {
        Err(PayError::OutcomeUnknown(e)) if unfinished => {
            Err((EXIT_IN_DOUBT, format!("in doubt: {e}")))
        }
        r => {
            if was_known && !unfinished && r.is_ok() {
                eprintln!(
                    "reference {:?}: the recorded result from the journal (nothing was sent)",
                    req.reference
                );
            }
            finish(&o, r)
        }
    }
}

/// `okc terminal …`.
pub fn terminal(args: &[String]) -> Result<(), Failure> {
    let Some((cmd, rest)) = args.split_first() else {
        return Err((
            EXIT_USAGE,
            "okc terminal status|reverse-last|abort|batch-close|login|logout".into(),
        ));
    };
    let o = parse(rest)?;
    let maintenance = !rest.iter().any(|a| a == "--no-maintenance");
    let t = open(&o)?;
    let r = match cmd.as_str() {
        "status" => finish(&o, t.status(o.reference.as_deref())),
        "reverse-last" => finish(&o, t.reverse_last()),
        "abort" => t.abort().map_err(|e| (code_of(&e), e.to_string())),
        "batch-close" => t
            .batch_close()
            .map(|s| println!("{s}"))
            .map_err(|e| (code_of(&e), e.to_string())),
        "login" => t.login().map_err(|e| (code_of(&e), e.to_string())),
        "logout" => t
            .logout(maintenance)
            .map_err(|e| (code_of(&e), e.to_string())),
        other => Err((
            EXIT_USAGE,
            format!("unknown terminal command {other:?} (okc pay --help)"),
        )),
    };
    t.close();
    r
}

#[cfg(test)]
mod tests {
    use super::parse_amount;

    #[test]
    fn amounts() {
        assert_eq!(parse_amount("12.50"), Ok(1250));
        assert_eq!(parse_amount("12.5"), Ok(1250));
        assert_eq!(parse_amount("7"), Ok(700));
        assert_eq!(parse_amount("0.01"), Ok(1));
        for bad in ["", "0", "1,50", "1.234", "-1", "1e3", ".5", "abc"] {
            assert!(parse_amount(bad).is_err(), "{bad}");
        }
    }
}
