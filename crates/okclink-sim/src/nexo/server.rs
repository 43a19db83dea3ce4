//! The terminal's HTTP side: request reading (strict), the state machine, the services and
//! the payment run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State as AxState};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::Router;

use super::assumptions as a;
use super::listener;
use super::receipt::{self, ReceiptData};
use super::xml::{self, attrs, esc, El};
use super::{
    ConnKill, InProgress, NexoRequestLog, NexoTransaction, PaymentOutcome, Session, Shared, State,
    Stored,
};

/// The terminal's path (LAN mode).
pub(crate) const PATH: &str = "/EPASSaleToPOI/3.1";

/// The LoginResponse text of the "busy after login" fault (Swedbank's, N-FMT).
const NEW_POI_ID_TEXT: &str =
    "POI Terminal Temporarily Unavailable: New Poi ID detected, updating parameters";

const CATEGORIES: &[&str] = &[
    "Login",
    "Logout",
    "Payment",
    "Abort",
    "EnableService",
    "CardAcquisition",
    "TransactionStatus",
    "Reversal",
    "Input",
    "Display",
    "Print",
    "Admin",
];

pub(crate) fn router(sh: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(sh)
}

/// The request header as received.
#[derive(Debug, Clone, Default)]
pub(crate) struct Hdr {
    class: String,
    category: String,
    mtype: String,
    service_id: Option<String>,
    device_id: Option<String>,
    sale_id: String,
    poi_id: String,
}

impl Hdr {
    /// The echoed header of the response (no ProtocolVersion, like the terminal's samples).
    fn response_xml(&self) -> String {
        format!(
            "<MessageHeader{}/>",
            attrs(&[
                ("MessageClass", Some(&self.class)),
                ("MessageCategory", Some(&self.category)),
                ("MessageType", Some("Response")),
                ("ServiceID", self.service_id.as_deref()),
                ("DeviceID", self.device_id.as_deref()),
                ("SaleID", Some(&self.sale_id)),
                ("POIID", Some(&self.poi_id)),
            ])
        )
    }
}

/// What the handler answers.
struct Out {
    /// 200, 204, 400, or 0 = close the connection without an answer.
    status: u16,
    body: String,
}

fn envelope(hdr: &Hdr, body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><SaleToPOIResponse>{}{body}</SaleToPOIResponse>",
        hdr.response_xml()
    )
}

fn ok200(hdr: &Hdr, body: &str) -> Out {
    Out {
        status: 200,
        body: envelope(hdr, body),
    }
}

fn response_el(result: &str, cond: Option<&str>, text: Option<&str>) -> String {
    let a = attrs(&[("Result", Some(result)), ("ErrorCondition", cond)]);
    match text {
        Some(t) => format!(
            "<Response{a}><AdditionalResponse>{}</AdditionalResponse></Response>",
            esc(t)
        ),
        None => format!("<Response{a}/>"),
    }
}

const SUCCESS: &str = "<Response Result=\"Success\"/>";

/// A rejection: `{Category}Response` carrying only `Response` (assumption
/// [`a::REJECTION_BODY_RESPONSE_ONLY`]).
fn reject(hdr: &Hdr, cond: &str, text: &str) -> Out {
    let _ = a::REJECTION_BODY_RESPONSE_ONLY;
    ok200(
        hdr,
        &format!(
            "<{c}Response>{}</{c}Response>",
            response_el("Failure", Some(cond), Some(text)),
            c = hdr.category
        ),
    )
}

async fn handle(
    AxState(sh): AxState<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnKill>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    if parts.uri.path().trim_end_matches('/') != PATH {
        return plain(404, "");
    }
    if parts.method != Method::POST {
        return plain(405, "");
    }
    let bytes = axum::body::to_bytes(body, 4 << 20)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (hdr, out) = process(&sh, &conn, &text).await;
    let slow = sh.state.lock().faults.slow_response;
    if out.status != 0 && !slow.is_zero() {
        tokio::time::sleep(slow).await;
    }
    log(&sh, &hdr, &text, &out);
    if out.status == 0 {
        conn.kill();
    }
    plain(out.status.max(200), &out.body)
}

fn plain(status: u16, body: &str) -> Response {
    let mut r = Response::builder().status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
    if !body.is_empty() {
        r = r.header("Content-Type", "application/xml; charset=utf-8");
    }
    r.body(Body::from(body.to_string()))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

fn log(sh: &Shared, hdr: &Option<Hdr>, text: &str, out: &Out) {
    let (mut result, mut cond) = (None, None);
    if out.status == 200 {
        if let Ok(root) = xml::parse(&out.body) {
            if let Some(r) = root.children.get(1).and_then(|b| b.child("Response")) {
                result = r.attr("Result").map(String::from);
                cond = r.attr("ErrorCondition").map(String::from);
            }
        }
    }
    let h = hdr.clone().unwrap_or_default();
    sh.state.lock().requests.push(NexoRequestLog {
        category: h.category,
        message_type: h.mtype,
        service_id: h.service_id,
        body: text.to_string(),
        http_status: out.status,
        result,
        error_condition: cond,
        at: Instant::now(),
    });
}

fn unparsable() -> (Option<Hdr>, Out) {
    (
        None,
        Out {
            status: a::UNPARSABLE_HTTP_STATUS,
            body: String::new(),
        },
    )
}

async fn process(sh: &Arc<Shared>, conn: &ConnKill, text: &str) -> (Option<Hdr>, Out) {
    let Ok(root) = xml::parse(text) else {
        return unparsable();
    };
    if root.name != "SaleToPOIRequest" {
        return unparsable();
    }
    let Some(h) = root.children.first().filter(|c| c.name == "MessageHeader") else {
        return unparsable();
    };
    let Some(category) = h.attr("MessageCategory").filter(|c| CATEGORIES.contains(c)) else {
        return unparsable();
    };
    let hdr = Hdr {
        class: h.attr("MessageClass").unwrap_or_default().to_string(),
        category: category.to_string(),
        mtype: h.attr("MessageType").unwrap_or_default().to_string(),
        service_id: h.attr("ServiceID").map(String::from),
        device_id: h.attr("DeviceID").map(String::from),
        sale_id: h.attr("SaleID").unwrap_or_default().to_string(),
        poi_id: h.attr("POIID").unwrap_or_default().to_string(),
    };
    let out = match validate(&root, h) {
        Err(e) => reject(&hdr, "MessageFormat", &e),
        Ok(()) => dispatch(sh, conn, &hdr, &root.children[1]).await,
    };
    (Some(hdr), out)
}

/// The format rules: header attributes, exactly header + `{Category}Request`, XSD order,
/// required attributes and decimal amounts.
fn validate(root: &El, h: &El) -> Result<(), String> {
    for attr in [
        "MessageClass",
        "MessageCategory",
        "MessageType",
        "SaleID",
        "POIID",
    ] {
        if h.attr(attr).is_none() {
            return Err(format!("MessageHeader without {attr}"));
        }
    }
    let class = h.attr("MessageClass").unwrap_or_default();
    if !["Service", "Device"].contains(&class) {
        return Err(format!("MessageClass {class:?} not accepted here"));
    }
    if h.attr("MessageType") != Some("Request") {
        return Err("MessageType must be Request".into());
    }
    if h.attr("ServiceID").is_none() && (class == "Service" || h.attr("DeviceID").is_none()) {
        return Err("MessageHeader without ServiceID".into());
    }
    if let Some(id) = h.attr("ServiceID") {
        if id.is_empty() || id.len() > 10 {
            return Err("ServiceID must be 1 to 10 bytes".into());
        }
    }
    let want = format!("{}Request", h.attr("MessageCategory").unwrap_or_default());
    match root.children.get(1) {
        Some(b) if b.name == want => {}
        Some(b) => return Err(format!("expected <{want}>, got <{}>", b.name)),
        None => return Err(format!("missing <{want}>")),
    }
    if let Some(extra) = root.children.get(2) {
        return Err(format!("unexpected <{}> after <{want}>", extra.name));
    }
    let body = &root.children[1];
    xml::check_order(body)?;
    let need = |el: Option<&El>, path: &str, attr: &str| -> Result<String, String> {
        el.and_then(|e| e.attr(attr))
            .map(String::from)
            .ok_or_else(|| format!("{path} without {attr}"))
    };
    match body.name.as_str() {
        "PaymentRequest" => {
            let st = body.at("SaleData/SaleTransactionID");
            need(st, "SaleTransactionID", "TransactionID")?;
            need(st, "SaleTransactionID", "TimeStamp")?;
            let am = body.at("PaymentTransaction/AmountsReq");
            need(am, "AmountsReq", "Currency")?;
            parse_amount(&need(am, "AmountsReq", "RequestedAmount")?)?;
            if let Some(pt) = body
                .child("PaymentData")
                .and_then(|p| p.attr("PaymentType"))
            {
                if pt != "Normal" && pt != "Refund" {
                    return Err(format!("PaymentType {pt:?} not supported"));
                }
            }
        }
        "ReversalRequest" => {
            need(
                body.at("OriginalPOITransaction/POITransactionID"),
                "POITransactionID",
                "TransactionID",
            )?;
        }
        "AbortRequest" => {
            need(
                body.child("MessageReference"),
                "MessageReference",
                "ServiceID",
            )?;
        }
        "LogoutRequest" => {
            if let Some(m) = body.attr("MaintenanceAllowed") {
                if m != "true" && m != "false" {
                    return Err("MaintenanceAllowed must be true or false".into());
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// A nexo decimal ("38", "38.5", "38.50") in minor units.
fn parse_amount(s: &str) -> Result<i64, String> {
    let bad = || format!("bad amount {s:?}");
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) || int.len() > 12 {
        return Err(bad());
    }
    if frac.len() > 2
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || (s.contains('.') && frac.is_empty())
    {
        return Err(bad());
    }
    let f: i64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
    Ok(int.parse::<i64>().map_err(|_| bad())? * 100 + f)
}

/// Minor units as a nexo decimal: "56" when whole (as Swedbank's samples), else "56.50".
fn xml_amount(minor: i64) -> String {
    if minor % 100 == 0 {
        format!("{}", minor / 100)
    } else {
        format!("{}.{:02}", minor / 100, minor % 100)
    }
}

fn utc_now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

enum Gate {
    Go,
    Wait,
    Reject(&'static str, String),
}

/// The state rules for everything but Login and Abort.
fn gate(st: &State, hdr: &Hdr) -> Gate {
    let Some(s) = st.session.as_ref() else {
        return Gate::Reject("NotAllowed", a::TEXT_NOT_ALLOWED.into());
    };
    if s.poi_id != hdr.poi_id {
        return Gate::Reject("Refusal", a::TEXT_POIID.into());
    }
    if st.busy_until.is_some_and(|t| Instant::now() < t) {
        return Gate::Reject("Busy", a::TEXT_BUSY.into());
    }
    if st.in_progress.is_some() && hdr.category != "TransactionStatus" {
        if st.faults.reject_overlapping {
            return Gate::Reject("Busy", a::TEXT_BUSY.into());
        }
        return Gate::Wait;
    }
    Gate::Go
}

async fn dispatch(sh: &Arc<Shared>, conn: &ConnKill, hdr: &Hdr, body: &El) -> Out {
    match hdr.category.as_str() {
        "Login" => return login(sh, hdr, body),
        "Abort" => return abort(sh, hdr, body),
        _ => {}
    }
    loop {
        let run = {
            let mut st = sh.state.lock();
            match gate(&st, hdr) {
                Gate::Reject(c, t) => return reject(hdr, c, &t),
                Gate::Wait => None,
                Gate::Go if hdr.category == "Payment" => Some(start_payment(&mut st, hdr, body)),
                Gate::Go => return service(sh, &mut st, hdr, body),
            }
        };
        match run {
            Some(run) => return payment(sh, conn, run).await,
            None => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// The services answered at once (under the state lock).
fn service(sh: &Arc<Shared>, st: &mut State, hdr: &Hdr, body: &El) -> Out {
    match hdr.category.as_str() {
        "Logout" => logout(sh, st, hdr, body),
        "TransactionStatus" => transaction_status(st, hdr, body),
        "Reversal" => reversal(st, hdr, body),
        "Display" => {
            let d = body.child("DisplayOutput");
            ok200(
                hdr,
                &format!(
                    "<DisplayResponse><OutputResult{}>{SUCCESS}</OutputResult></DisplayResponse>",
                    device_attrs(d)
                ),
            )
        }
        "Input" => {
            let d = body.child("InputData");
            let input = match d.and_then(|d| d.attr("InputCommand")) {
                Some("DigitString") => format!(
                    "<Input InputCommand=\"DigitString\"><DigitInput>{}</DigitInput></Input>",
                    a::CUSTOMER_DIGITS
                ),
                Some(c) => format!(
                    "<Input InputCommand=\"{}\"><ConfirmedFlag>true</ConfirmedFlag></Input>",
                    esc(c)
                ),
                None => String::new(),
            };
            let output = body
                .child("DisplayOutput")
                .map(|o| {
                    format!(
                        "<OutputResult{}>{SUCCESS}</OutputResult>",
                        device_attrs(Some(o))
                    )
                })
                .unwrap_or_default();
            ok200(
                hdr,
                &format!(
                    "<InputResponse>{output}<InputResult{}>{SUCCESS}{input}</InputResult></InputResponse>",
                    device_attrs(d)
                ),
            )
        }
        "Print" => {
            let q = body
                .child("PrintOutput")
                .and_then(|p| p.attr("DocumentQualifier"));
            ok200(
                hdr,
                &format!(
                    "<PrintResponse{}>{SUCCESS}</PrintResponse>",
                    attrs(&[("DocumentQualifier", q)])
                ),
            )
        }
        "Admin" => ok200(hdr, &format!("<AdminResponse>{SUCCESS}</AdminResponse>")),
        _ => reject(hdr, a::UNIMPLEMENTED_CONDITION, "Service not available"),
    }
}

fn device_attrs(el: Option<&El>) -> String {
    attrs(&[
        ("Device", el.and_then(|e| e.attr("Device"))),
        ("InfoQualify", el.and_then(|e| e.attr("InfoQualify"))),
    ])
}

fn login(sh: &Arc<Shared>, hdr: &Hdr, body: &El) -> Out {
    let mut st = sh.state.lock();
    // A new Login resets the terminal: an unfinished payment is aborted (unless the
    // authorisation is under way), the Busy window ends.
    if let Some(p) = st.in_progress.as_mut() {
        if !p.committed {
            p.aborted = true;
            p.wake.notify_one();
        }
    }
    st.busy_until = None;
    if st.faults.busy_after_login_once {
        st.faults.busy_after_login_once = false;
        st.session = None;
        return reject(hdr, "Busy", NEW_POI_ID_TEXT);
    }
    let caps = body
        .at("SaleTerminalData/SaleCapabilities")
        .map(|c| c.text.split_whitespace().map(String::from).collect())
        .unwrap_or_default();
    let s = Session {
        poi_id: hdr.poi_id.clone(),
        sale_id: hdr.sale_id.clone(),
        capabilities: caps,
    };
    st.session = Some(s.clone());
    st.last_session = Some(s);
    let now = chrono::Local::now()
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string();
    ok200(
        hdr,
        &format!(
            "<LoginResponse>{SUCCESS}<POISystemData><DateTime>{now}</DateTime><POISoftware ProviderIdentification=\"Swedbank Pay\" ApplicationName=\"okclink-sim nexo\" SoftwareVersion=\"{}\"/><POITerminalData TerminalEnvironment=\"Attended\" POISerialNumber=\"{}\"><POICapabilities>CustomerDisplay CustomerError CustomerInput MagStripe ICC EMVContactless</POICapabilities></POITerminalData><POIStatus GlobalStatus=\"OK\" SecurityOKFlag=\"true\" PEDOKFlag=\"true\" CardReaderOKFlag=\"true\" CommunicationOKFlag=\"true\"/></POISystemData></LoginResponse>",
            env!("CARGO_PKG_VERSION"),
            esc(&st.poi_serial)
        ),
    )
}

fn logout(sh: &Arc<Shared>, st: &mut State, hdr: &Hdr, body: &El) -> Out {
    st.session = None;
    if body.attr("MaintenanceAllowed") == Some("true") && st.maintenance_requested {
        st.maintenance_requested = false;
        tokio::spawn(listener::maintenance_cycle(sh.clone()));
    }
    ok200(hdr, &format!("<LogoutResponse>{SUCCESS}</LogoutResponse>"))
}

fn abort(sh: &Arc<Shared>, hdr: &Hdr, body: &El) -> Out {
    let _ = a::ABORT_ALWAYS_204;
    let mut st = sh.state.lock();
    let session_ok = st.session.as_ref().is_some_and(|s| s.poi_id == hdr.poi_id);
    let mr = body.child("MessageReference");
    let sid = mr.and_then(|m| m.attr("ServiceID"));
    let cat = mr.and_then(|m| m.attr("MessageCategory"));
    if session_ok {
        if let Some(p) = st.in_progress.as_mut() {
            let matches = Some(p.service_id.as_str()) == sid
                && cat.map_or(true, |c| c == p.category)
                && mr
                    .and_then(|m| m.attr("SaleID"))
                    .map_or(true, |s| s.is_empty() || s == p.sale_id);
            // Approval wins: once the authorisation is under way the abort is too late.
            if matches && !p.committed {
                p.aborted = true;
                p.wake.notify_one();
            }
        }
    }
    Out {
        status: 204,
        body: String::new(),
    }
}

/// A payment as started.
struct Run {
    id: u64,
    hdr: Hdr,
    sale_tx_id: String,
    sale_ts: String,
    token_requested: bool,
    amount_minor: i64,
    currency: String,
    refund: bool,
    outcome: PaymentOutcome,
    time: Duration,
    drop_socket: bool,
    poi_tx_id: String,
    poi_ts: String,
    wake: Arc<tokio::sync::Notify>,
}

fn start_payment(st: &mut State, hdr: &Hdr, body: &El) -> Run {
    let sale = body.at("SaleData/SaleTransactionID");
    let am = body.at("PaymentTransaction/AmountsReq");
    let get = |e: Option<&El>, n: &str| e.and_then(|e| e.attr(n)).unwrap_or_default().to_string();
    let id = st.next_run;
    st.next_run += 1;
    let poi_tx = st.next_poi_tx;
    st.next_poi_tx += 1;
    let drop_socket = std::mem::take(&mut st.faults.drop_socket_mid_payment);
    let wake = Arc::new(tokio::sync::Notify::new());
    let service_id = hdr.service_id.clone().unwrap_or_default();
    st.in_progress = Some(InProgress {
        id,
        category: "Payment".into(),
        service_id,
        sale_id: hdr.sale_id.clone(),
        poi_id: hdr.poi_id.clone(),
        committed: false,
        aborted: false,
        rebooted: false,
        wake: wake.clone(),
    });
    Run {
        id,
        hdr: hdr.clone(),
        sale_tx_id: get(sale, "TransactionID"),
        sale_ts: get(sale, "TimeStamp"),
        token_requested: body
            .child("SaleData")
            .and_then(|s| s.attr("TokenRequestedType"))
            == Some("Customer"),
        amount_minor: parse_amount(&get(am, "RequestedAmount")).unwrap_or(0),
        currency: get(am, "Currency"),
        refund: body
            .child("PaymentData")
            .and_then(|p| p.attr("PaymentType"))
            == Some("Refund"),
        outcome: st.outcome,
        time: st.payment_time,
        drop_socket,
        poi_tx_id: poi_tx.to_string(),
        poi_ts: utc_now(),
        wake,
    }
}

async fn payment(sh: &Arc<Shared>, _conn: &ConnKill, run: Run) -> Out {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let hdr = run.hdr.clone();
    let drop_at = run.drop_socket.then(|| run.time / a::DROP_SOCKET_AT_SHARE);
    // The payment runs on its own: a closed connection does not stop it.
    tokio::spawn(run_payment(sh.clone(), run, tx));
    let body = match drop_at {
        Some(d) => {
            tokio::time::sleep(d).await;
            None
        }
        None => rx.await.ok().flatten(),
    };
    match body {
        Some(b) => ok200(&hdr, &b),
        None => Out {
            status: 0,
            body: String::new(),
        },
    }
}

enum End {
    Aborted,
    Lost,
}

/// Sleep `d` unless woken by an abort or a reboot.
async fn wait(sh: &Shared, run: &Run, d: Duration) -> Option<End> {
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        _ = run.wake.notified() => {}
    }
    flags(sh, run)
}

fn flags(sh: &Shared, run: &Run) -> Option<End> {
    let st = sh.state.lock();
    let p = st.in_progress.as_ref().filter(|p| p.id == run.id)?;
    if p.rebooted {
        Some(End::Lost)
    } else if p.aborted {
        Some(End::Aborted)
    } else {
        None
    }
}

async fn show(sh: &Shared, t: &Option<listener::Target>, text: &str) {
    if let Some(t) = t {
        listener::display(sh, t, text).await;
    }
}

/// How a payment ended.
struct Result_ {
    approved: bool,
    signature: bool,
    signature_refused: bool,
}

async fn run_payment(sh: Arc<Shared>, run: Run, tx: tokio::sync::oneshot::Sender<Option<String>>) {
    let target = listener::session_target(&sh);
    let cashier_input = sh
        .state
        .lock()
        .session
        .as_ref()
        .is_some_and(Session::cashier_input);
    let authorizing = run.time / a::AUTHORIZING_SHARE;
    let before = run.time - authorizing;
    show(&sh, &target, a::DISPLAY_PRESENT_CARD).await;
    let mut end = wait(&sh, &run, before / 2).await;
    if end.is_none() {
        show(&sh, &target, a::DISPLAY_ENTER_PIN).await;
        end = wait(&sh, &run, before - before / 2).await;
    }
    if end.is_none() {
        // The point of no return: the authorisation goes to the host.
        let mut st = sh.state.lock();
        end = match st.in_progress.as_mut().filter(|p| p.id == run.id) {
            Some(p) if p.rebooted => Some(End::Lost),
            Some(p) if p.aborted => Some(End::Aborted),
            Some(p) => {
                p.committed = true;
                None
            }
            None => Some(End::Lost),
        };
    }
    let result = match end {
        Some(End::Lost) => {
            finish_lost(&sh, &run);
            let _ = tx.send(None);
            return;
        }
        Some(End::Aborted) => None,
        None => {
            show(&sh, &target, a::DISPLAY_AUTHORIZING).await;
            tokio::time::sleep(authorizing).await;
            if matches!(flags(&sh, &run), Some(End::Lost)) {
                finish_lost(&sh, &run);
                let _ = tx.send(None);
                return;
            }
            Some(match run.outcome {
                PaymentOutcome::Approve => Result_ {
                    approved: true,
                    signature: false,
                    signature_refused: false,
                },
                PaymentOutcome::Decline => Result_ {
                    approved: false,
                    signature: false,
                    signature_refused: false,
                },
                PaymentOutcome::Signature => Result_ {
                    approved: true,
                    signature: true,
                    signature_refused: false,
                },
            })
        }
    };
    let (approval, receipt_no) = {
        let mut st = sh.state.lock();
        let code = st.next_approval;
        st.next_approval += 1;
        let r = st.next_receipt;
        st.next_receipt += 1;
        (format!("{code:06}"), r)
    };
    let mut result = result;
    if let (Some(r), Some(t)) = (result.as_mut(), target.as_ref()) {
        if r.signature && cashier_input {
            // Full integration: the merchant copy to sign, then the cashier's confirmation.
            let data = receipt_data(&run, r, &approval, receipt_no);
            listener::print(&sh, t, "CashierReceipt", &receipt::encoded(&data, true)).await;
            let confirmed = listener::confirm(&sh, t, a::SIGNATURE_QUESTION)
                .await
                .unwrap_or(a::SIGNATURE_NO_ANSWER_CONFIRMED);
            if !confirmed {
                r.approved = false;
                r.signature_refused = true;
            }
        }
    }
    let final_text = match &result {
        None => a::DISPLAY_ABORTED,
        Some(r) if r.approved => a::DISPLAY_APPROVED,
        Some(r) if r.signature_refused => a::DISPLAY_DISAPPROVED,
        Some(_) => a::DISPLAY_DECLINED,
    };
    show(&sh, &target, final_text).await;
    let body = payment_response(&run, result.as_ref(), &approval, receipt_no);
    {
        let mut st = sh.state.lock();
        store(
            &mut st,
            Stored {
                poi_id: run.hdr.poi_id.clone(),
                sale_id: run.hdr.sale_id.clone(),
                service_id: run.hdr.service_id.clone().unwrap_or_default(),
                category: "Payment".into(),
                header: run.hdr.response_xml(),
                body: body.clone(),
            },
        );
        st.transactions.push(NexoTransaction {
            service_id: run.hdr.service_id.clone().unwrap_or_default(),
            sale_transaction_id: run.sale_tx_id.clone(),
            poi_transaction_id: run.poi_tx_id.clone(),
            kind: if run.refund { "Refund" } else { "Payment" }.into(),
            amount_minor: run.amount_minor,
            currency: run.currency.clone(),
            approved: result.as_ref().is_some_and(|r| r.approved),
            reversed: false,
            aborted: result.is_none(),
        });
        st.last_tx = Some(st.transactions.len() - 1);
        st.busy_until = Some(Instant::now() + st.busy_after_payment);
        if st.in_progress.as_ref().is_some_and(|p| p.id == run.id) {
            st.in_progress = None;
        }
    }
    let _ = tx.send(Some(body));
}

/// A payment lost to a reboot: no response, kept as aborted.
fn finish_lost(sh: &Shared, run: &Run) {
    let mut st = sh.state.lock();
    st.transactions.push(NexoTransaction {
        service_id: run.hdr.service_id.clone().unwrap_or_default(),
        sale_transaction_id: run.sale_tx_id.clone(),
        poi_transaction_id: run.poi_tx_id.clone(),
        kind: if run.refund { "Refund" } else { "Payment" }.into(),
        amount_minor: run.amount_minor,
        currency: run.currency.clone(),
        approved: false,
        reversed: false,
        aborted: true,
    });
    if st.in_progress.as_ref().is_some_and(|p| p.id == run.id) {
        st.in_progress = None;
    }
}

fn store(st: &mut State, s: Stored) {
    st.stored.push_back(s);
    while st.stored.len() > a::STORED_RESPONSES {
        st.stored.pop_front();
    }
}

fn local_date_time() -> (String, String) {
    let now = chrono::Local::now();
    (
        now.format("%Y-%m-%d").to_string(),
        now.format("%H:%M").to_string(),
    )
}

fn receipt_data(run: &Run, r: &Result_, approval: &str, receipt_no: u32) -> ReceiptData {
    let (date, time) = local_date_time();
    let (response_code, debit_status, headline) = if r.signature_refused {
        (
            a::RESPONSE_CODE_APPROVED,
            a::DEBIT_STATUS_REVERSED,
            "AVBRUTEN",
        )
    } else if r.approved {
        (
            a::RESPONSE_CODE_APPROVED,
            a::DEBIT_STATUS_APPROVED,
            "GODKÄNT",
        )
    } else {
        (a::RESPONSE_CODE_DECLINED, a::DEBIT_STATUS_DECLINED, "NEKAT")
    };
    ReceiptData {
        amount_minor: run.amount_minor,
        currency: run.currency.clone(),
        approval_code: r.approved.then(|| approval.to_string()),
        response_code,
        debit_status,
        transaction_type: if run.refund {
            a::TRANSACTION_TYPE_REFUND
        } else {
            a::TRANSACTION_TYPE_PURCHASE
        },
        signature: r.signature,
        receipt_number: receipt_no,
        reference: run.sale_tx_id.clone(),
        date,
        time,
        headline,
    }
}

const CNA: &str = "9F3A0C2B7E51D64A88C1F0E2B3D4A5968778695A4B3C2D1E0F1A2B3C4D5E6F708192A3";

fn payment_response(run: &Run, r: Option<&Result_>, approval: &str, receipt_no: u32) -> String {
    let response = match r {
        None => response_el("Failure", Some(a::ABORTED_CONDITION), Some(a::TEXT_ABORTED)),
        Some(r) if r.approved => SUCCESS.to_string(),
        Some(r) if r.signature_refused => response_el(
            "Failure",
            Some(a::SIGNATURE_REFUSED_CONDITION),
            Some(a::TEXT_SIGNATURE_REFUSED),
        ),
        Some(_) => response_el("Failure", Some("Refusal"), Some(a::TEXT_DECLINED)),
    };
    let mut b = format!(
        "<PaymentResponse>{response}<SaleData><SaleTransactionID TransactionID=\"{}\" TimeStamp=\"{}\"/></SaleData><POIData><POITransactionID TransactionID=\"{}\" TimeStamp=\"{}\"/></POIData>",
        esc(&run.sale_tx_id),
        esc(&run.sale_ts),
        run.poi_tx_id,
        run.poi_ts
    );
    if let Some(r) = r {
        let token = if run.token_requested {
            format!("<PaymentToken TokenRequestedType=\"Customer\" TokenValue=\"{CNA}\"/>")
        } else {
            String::new()
        };
        let authorized = if r.approved { run.amount_minor } else { 0 };
        let code = if r.approved {
            format!("<ApprovalCode>{approval}</ApprovalCode>")
        } else {
            String::new()
        };
        b.push_str(&format!(
            "<PaymentResult PaymentType=\"{}\"><PaymentInstrumentData PaymentInstrumentType=\"Card\"><CardData PaymentBrand=\"{}\" MaskedPAN=\"{}******{}\" EntryMode=\"{}\">{token}</CardData></PaymentInstrumentData><AmountsResp Currency=\"{}\" AuthorizedAmount=\"{}\"/><PaymentAcquirerData MerchantID=\"{}\" AcquirerPOIID=\"{}\">{code}</PaymentAcquirerData></PaymentResult>",
            if run.refund { "Refund" } else { "Normal" },
            a::CARD_BRAND,
            a::CARD_PAN_FIRST6,
            a::CARD_PAN_LAST4,
            a::CARD_ENTRY_MODE,
            esc(&run.currency),
            xml_amount(authorized),
            a::MERCHANT_ID,
            a::ACQUIRER_POI_ID,
        ));
        let data = receipt_data(run, r, approval, receipt_no);
        b.push_str(&receipt::element(&data, true));
        b.push_str(&receipt::element(&data, false));
    }
    b.push_str("</PaymentResponse>");
    b
}

fn transaction_status(st: &State, hdr: &Hdr, body: &El) -> Out {
    let mr = body.child("MessageReference");
    let sale = mr
        .and_then(|m| m.attr("SaleID"))
        .filter(|s| !s.is_empty())
        .unwrap_or(&hdr.sale_id);
    let poi = mr
        .and_then(|m| m.attr("POIID"))
        .filter(|s| !s.is_empty())
        .unwrap_or(&hdr.poi_id);
    let sid = mr.and_then(|m| m.attr("ServiceID"));
    let cat = mr.and_then(|m| m.attr("MessageCategory"));
    let cat_ok = |c: &str| match cat {
        Some(want) => c == want,
        None => ["Payment", "CardAcquisition", "Reversal"].contains(&c),
    };
    if let Some(p) = &st.in_progress {
        let same = p.sale_id == sale && p.poi_id == poi && cat_ok(&p.category);
        if same && sid.map_or(true, |s| s == p.service_id) {
            return reject(hdr, "Busy", "Transaction in progress");
        }
    }
    let found = st.stored.iter().rev().find(|s| {
        s.sale_id == sale
            && s.poi_id == poi
            && cat_ok(&s.category)
            && sid.map_or(true, |id| id == s.service_id)
    });
    let Some(s) = found else {
        return reject(hdr, a::NOT_FOUND_CONDITION, "No transaction found");
    };
    ok200(
        hdr,
        &format!(
            "<TransactionStatusResponse>{SUCCESS}<MessageReference MessageCategory=\"{}\" ServiceID=\"{}\" SaleID=\"{}\" POIID=\"{}\"/><RepeatedMessageResponse>{}{}</RepeatedMessageResponse></TransactionStatusResponse>",
            esc(&s.category),
            esc(&s.service_id),
            esc(&s.sale_id),
            esc(&s.poi_id),
            s.header,
            s.body
        ),
    )
}

fn reversal(st: &mut State, hdr: &Hdr, body: &El) -> Out {
    let _ = a::REVERSAL_TIME;
    let tid = body
        .at("OriginalPOITransaction/POITransactionID")
        .and_then(|p| p.attr("TransactionID"))
        .unwrap_or_default();
    let idx = st.last_tx.filter(|&i| {
        let t = &st.transactions[i];
        t.poi_transaction_id == tid && t.approved && !t.reversed && !t.aborted
    });
    let Some(i) = idx else {
        return reject(
            hdr,
            a::REVERSAL_REFUSED_CONDITION,
            "Only the last successful transaction can be reversed",
        );
    };
    st.transactions[i].reversed = true;
    let orig = st.transactions[i].clone();
    let poi_tx = st.next_poi_tx;
    st.next_poi_tx += 1;
    let receipt_no = st.next_receipt;
    st.next_receipt += 1;
    let (date, time) = local_date_time();
    let data = ReceiptData {
        amount_minor: orig.amount_minor,
        currency: orig.currency.clone(),
        approval_code: None,
        response_code: a::RESPONSE_CODE_APPROVED,
        debit_status: a::DEBIT_STATUS_REVERSED,
        transaction_type: a::TRANSACTION_TYPE_REVERSAL,
        signature: false,
        receipt_number: receipt_no,
        reference: orig.sale_transaction_id.clone(),
        date,
        time,
        headline: "MAKULERING",
    };
    let b = format!(
        "<ReversalResponse>{SUCCESS}<POIData><POITransactionID TransactionID=\"{poi_tx}\" TimeStamp=\"{}\"/></POIData>{}{}</ReversalResponse>",
        utc_now(),
        receipt::element(&data, false),
        receipt::element(&data, true)
    );
    let service_id = hdr.service_id.clone().unwrap_or_default();
    store(
        st,
        Stored {
            poi_id: hdr.poi_id.clone(),
            sale_id: hdr.sale_id.clone(),
            service_id: service_id.clone(),
            category: "Reversal".into(),
            header: hdr.response_xml(),
            body: b.clone(),
        },
    );
    st.transactions.push(NexoTransaction {
        service_id,
        sale_transaction_id: orig.sale_transaction_id,
        poi_transaction_id: poi_tx.to_string(),
        kind: "Reversal".into(),
        amount_minor: orig.amount_minor,
        currency: orig.currency,
        approved: true,
        reversed: false,
        aborted: false,
    });
    ok200(hdr, &b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts() {
        assert_eq!(parse_amount("38"), Ok(3800));
        assert_eq!(parse_amount("38.5"), Ok(3850));
        assert_eq!(parse_amount("0.05"), Ok(5));
        assert!(parse_amount("38,50").is_err());
        assert!(parse_amount("38.").is_err());
        assert!(parse_amount("1.234").is_err());
        assert_eq!(xml_amount(5600), "56");
        assert_eq!(xml_amount(5650), "56.50");
    }
}
