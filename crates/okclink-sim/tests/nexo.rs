//! The nexo terminal simulator over loopback: hand-written nexo Retailer 3.1 requests (as a
//! POS would send them) on raw HTTP/1.1, asserting on the XML answers and the simulator's
//! logs.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use okclink_sim::{NexoConfig, NexoFaults, NexoSim, PaymentOutcome};

const POI: &str = "POI-7";
const SALE: &str = "POS-1";

fn config() -> NexoConfig {
    NexoConfig {
        payment_time: Duration::from_millis(300),
        busy_after_payment: Duration::from_millis(300),
        ..NexoConfig::default()
    }
}

fn start(c: NexoConfig) -> NexoSim {
    NexoSim::start(c, "127.0.0.1:0").unwrap()
}

/// One POST on its own connection: `Ok((status, body))`, `Err` when the connection closed
/// without an answer.
fn post(addr: SocketAddr, body: &str) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!(
        "POST /EPASSaleToPOI/3.1 HTTP/1.1\r\nAccept: */*\r\nContent-type: application/xml; charset=utf-8\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("closed without an answer ({} bytes)", raw.len()))?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("bad status line")?;
    Ok((status, body.to_string()))
}

fn request(category: &str, sid: u32, poi: &str, body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><SaleToPOIRequest><MessageHeader ProtocolVersion=\"3.1\" MessageClass=\"Service\" MessageCategory=\"{category}\" MessageType=\"Request\" ServiceID=\"{sid}\" SaleID=\"{SALE}\" POIID=\"{poi}\"/>{body}</SaleToPOIRequest>"
    )
}

fn login_body(caps: &str) -> String {
    format!(
        "<LoginRequest OperatorLanguage=\"sv\"><DateTime>2024-05-02T10:00:00+02:00</DateTime><SaleSoftware ProviderIdentification=\"okclink\" ApplicationName=\"test\" SoftwareVersion=\"1\"/><SaleTerminalData TerminalEnvironment=\"Attended\"><SaleCapabilities>{caps}</SaleCapabilities></SaleTerminalData></LoginRequest>"
    )
}

fn payment_body(tx: &str, amount: &str) -> String {
    format!(
        "<PaymentRequest><SaleData><SaleTransactionID TransactionID=\"{tx}\" TimeStamp=\"2024-05-02T10:00:01+02:00\"/></SaleData><PaymentTransaction><AmountsReq Currency=\"SEK\" RequestedAmount=\"{amount}\"/></PaymentTransaction></PaymentRequest>"
    )
}

fn call(sim: &NexoSim, category: &str, sid: u32, body: &str) -> (u16, String) {
    post(sim.addr(), &request(category, sid, POI, body)).unwrap()
}

fn login(sim: &NexoSim, sid: u32, caps: &str) {
    let (st, body) = call(sim, "Login", sid, &login_body(caps));
    assert_eq!(st, 200, "{body}");
    assert_eq!(result(&body), ("Success".into(), None), "{body}");
}

fn pay(sim: &NexoSim, sid: u32, tx: &str, amount: &str) -> (u16, String) {
    call(sim, "Payment", sid, &payment_body(tx, amount))
}

/// The value of `attr` on the first `<element …>` in `xml`.
fn attr(xml: &str, element: &str, attr: &str) -> Option<String> {
    let start = xml.find(&format!("<{element} "))?;
    let tag = &xml[start..start + xml[start..].find('>')?];
    let i = tag.find(&format!(" {attr}=\""))? + attr.len() + 3;
    Some(tag[i..i + tag[i..].find('"')?].to_string())
}

/// The text of the first `<element>…</element>`.
fn text(xml: &str, element: &str) -> Option<String> {
    let open = format!("<{element}>");
    let start = xml.find(&open)? + open.len();
    Some(xml[start..start + xml[start..].find('<')?].to_string())
}

/// `(Result, ErrorCondition)` of the first `Response`.
fn result(xml: &str) -> (String, Option<String>) {
    (
        attr(xml, "Response", "Result").unwrap_or_default(),
        attr(xml, "Response", "ErrorCondition"),
    )
}

fn failure(cond: &str) -> (String, Option<String>) {
    ("Failure".into(), Some(cond.into()))
}

/// The decoded receipts `(merchant, cardholder)` of a response.
fn receipts(xml: &str) -> (serde_json::Value, serde_json::Value) {
    let mut out = Vec::new();
    for q in ["CashierReceipt", "CustomerReceipt"] {
        let i = xml
            .find(&format!("DocumentQualifier=\"{q}\""))
            .expect("receipt present");
        let b64 = text(&xml[i..], "OutputText").unwrap();
        let json = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        out.push(serde_json::from_slice::<serde_json::Value>(&json).unwrap());
    }
    (out.remove(0), out.remove(0))
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(5), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn login_payment_receipts_then_busy_window() {
    let sim = start(config());
    let (st, body) = call(&sim, "Login", 100, &login_body("PrinterReceipt"));
    assert_eq!(st, 200);
    assert!(body.contains("<SaleToPOIResponse><MessageHeader"), "{body}");
    assert_eq!(
        attr(&body, "MessageHeader", "MessageType").unwrap(),
        "Response"
    );
    assert_eq!(attr(&body, "MessageHeader", "ServiceID").unwrap(), "100");
    assert_eq!(
        attr(&body, "POITerminalData", "POISerialNumber").unwrap(),
        "1851234567"
    );
    assert_eq!(attr(&body, "POIStatus", "GlobalStatus").unwrap(), "OK");
    assert!(sim.logged_in());

    let (st, body) = pay(&sim, 101, "T-1", "56");
    assert_eq!(st, 200);
    assert_eq!(result(&body), ("Success".into(), None), "{body}");
    assert!(body.contains("<PaymentResponse>"));
    assert_eq!(
        attr(&body, "SaleTransactionID", "TransactionID").unwrap(),
        "T-1"
    );
    let poi_tx = attr(&body, "POITransactionID", "TransactionID").unwrap();
    assert!(attr(&body, "POITransactionID", "TimeStamp")
        .unwrap()
        .ends_with('Z'));
    assert_eq!(
        attr(&body, "CardData", "PaymentBrand").unwrap(),
        "01,Mastercard Debit"
    );
    assert_eq!(
        attr(&body, "AmountsResp", "AuthorizedAmount").unwrap(),
        "56"
    );
    assert_eq!(attr(&body, "AmountsResp", "Currency").unwrap(), "SEK");
    let code = text(&body, "ApprovalCode").unwrap();
    assert_eq!(code.len(), 6);
    let (m, c) = receipts(&body);
    let mm = &m["Merchant"]["Mandatory"];
    assert_eq!(mm["Outcome"]["AuthorisationResponseCode"], "00");
    assert_eq!(mm["Outcome"]["ApprovalCode"], code.as_str());
    assert_eq!(mm["Payment"]["TotalAmount"], "56,00");
    assert_eq!(mm["Payment"]["SignatureBlock"], false);
    assert_eq!(m["Merchant"]["Optional"]["Payment"]["Reference"], "T-1");
    let cm = &c["Cardholder"];
    assert_eq!(cm["Mandatory"]["Payment"]["Currency"], "SEK");
    let lines = cm["Optional"]["ReceiptString"].as_array().unwrap();
    assert_eq!(lines.last().unwrap(), "Kortinnehavarens kvitto");
    assert!(cm["Mandatory"]["CardDetails"]["PrimaryAccountNumber"]
        .as_str()
        .unwrap()
        .starts_with("****"));
    let ml = m["Merchant"]["Optional"]["ReceiptString"]
        .as_array()
        .unwrap();
    assert_eq!(ml.last().unwrap(), "Försäljarens kvitto");

    // Busy right after the PaymentResponse, fine after the window.
    let (_, body) = pay(&sim, 102, "T-2", "10.50");
    assert_eq!(result(&body), failure("Busy"));
    std::thread::sleep(Duration::from_millis(350));
    let (_, body) = pay(&sim, 103, "T-2", "10.50");
    assert_eq!(result(&body), ("Success".into(), None), "{body}");
    assert_eq!(
        attr(&body, "AmountsResp", "AuthorizedAmount").unwrap(),
        "10.50"
    );

    let tx = sim.transactions();
    assert_eq!(tx.len(), 2);
    assert_eq!(tx[0].poi_transaction_id, poi_tx);
    assert_eq!((tx[0].amount_minor, tx[0].approved), (5600, true));
    assert_eq!(tx[1].amount_minor, 1050);
    let log = sim.requests();
    assert_eq!(log.len(), 4);
    assert_eq!(log[2].error_condition.as_deref(), Some("Busy"));
    assert_eq!(log[1].service_id.as_deref(), Some("101"));

    std::thread::sleep(Duration::from_millis(350));
    let (_, body) = call(
        &sim,
        "Logout",
        104,
        "<LogoutRequest MaintenanceAllowed=\"true\"/>",
    );
    assert!(
        body.contains("<LogoutResponse><Response Result=\"Success\"/>"),
        "{body}"
    );
    assert!(!sim.logged_in());
    sim.stop();
}

#[test]
fn not_allowed_before_login_and_after_reboot_poiid_and_format() {
    let sim = start(config());
    let (st, body) = pay(&sim, 1, "T-1", "5");
    assert_eq!(st, 200);
    assert_eq!(result(&body), failure("NotAllowed"));
    assert!(body.contains("<PaymentResponse>"));

    // Busy after login (once), with Swedbank's text.
    sim.set_faults(NexoFaults {
        busy_after_login_once: true,
        ..NexoFaults::default()
    });
    let (_, body) = call(&sim, "Login", 2, &login_body("PrinterReceipt"));
    assert_eq!(result(&body), failure("Busy"));
    assert!(body.contains("New Poi ID detected, updating parameters"));
    assert!(!sim.logged_in());
    login(&sim, 3, "PrinterReceipt");

    // Another POIID inside the session.
    let (_, body) = post(
        sim.addr(),
        &request("Payment", 4, "OTHER", &payment_body("T", "1")),
    )
    .unwrap();
    assert_eq!(result(&body), failure("Refusal"));

    // Out of XSD order: PaymentTransaction before SaleData.
    let bad = "<PaymentRequest><PaymentTransaction><AmountsReq Currency=\"SEK\" RequestedAmount=\"1\"/></PaymentTransaction><SaleData><SaleTransactionID TransactionID=\"T\" TimeStamp=\"2024-05-02T10:00:01+02:00\"/></SaleData></PaymentRequest>";
    let (_, body) = call(&sim, "Payment", 5, bad);
    assert_eq!(result(&body), failure("MessageFormat"));
    // An unknown element, and a decimal comma.
    let (_, body) = call(&sim, "Logout", 6, "<LogoutRequest><Foo/></LogoutRequest>");
    assert_eq!(result(&body), failure("MessageFormat"));
    let (_, body) = pay(&sim, 7, "T", "5,00");
    assert_eq!(result(&body), failure("MessageFormat"));
    // Not XML at all.
    let (st, _) = post(sim.addr(), "hello").unwrap();
    assert_eq!(st, 400);
    assert!(sim.transactions().is_empty());

    sim.reboot();
    assert!(!sim.logged_in());
    let (_, body) = pay(&sim, 8, "T", "5");
    assert_eq!(result(&body), failure("NotAllowed"));
}

#[test]
fn overlap_busy_and_transaction_status() {
    let sim = start(config());
    login(&sim, 10, "PrinterReceipt");
    let (_, body) = call(&sim, "TransactionStatus", 11, "<TransactionStatusRequest/>");
    assert_eq!(result(&body), failure("NotFound"));

    let addr = sim.addr();
    let t = std::thread::spawn(move || {
        post(
            addr,
            &request("Payment", 12, POI, &payment_body("T-9", "20")),
        )
        .unwrap()
    });
    std::thread::sleep(Duration::from_millis(80));
    let (_, body) = pay(&sim, 13, "T-10", "1");
    assert_eq!(result(&body), failure("Busy"), "overlapping payment");
    let (_, body) = call(&sim, "TransactionStatus", 14, "<TransactionStatusRequest/>");
    assert_eq!(result(&body), failure("Busy"), "still running");
    let (_, pay_body) = t.join().unwrap();
    assert_eq!(result(&pay_body), ("Success".into(), None));
    std::thread::sleep(Duration::from_millis(350));

    // Empty body: the last payment response, header and body nested directly.
    let (_, body) = call(&sim, "TransactionStatus", 15, "<TransactionStatusRequest/>");
    assert_eq!(result(&body), ("Success".into(), None), "{body}");
    let nested = &body[body.find("<RepeatedMessageResponse>").unwrap()..];
    assert!(nested.starts_with("<RepeatedMessageResponse><MessageHeader "));
    assert_eq!(attr(nested, "MessageHeader", "ServiceID").unwrap(), "12");
    assert_eq!(
        attr(nested, "MessageHeader", "MessageCategory").unwrap(),
        "Payment"
    );
    assert!(nested.contains("<PaymentResponse><Response Result=\"Success\"/>"));
    assert_eq!(
        attr(nested, "SaleTransactionID", "TransactionID").unwrap(),
        "T-9"
    );

    // By reference, and an unknown reference.
    let by_ref = |sid: u32, r: &str| {
        call(
            &sim,
            "TransactionStatus",
            sid,
            &format!("<TransactionStatusRequest><MessageReference MessageCategory=\"Payment\" ServiceID=\"{r}\" SaleID=\"{SALE}\" POIID=\"{POI}\"/></TransactionStatusRequest>"),
        )
        .1
    };
    let body = by_ref(16, "12");
    assert_eq!(result(&body), ("Success".into(), None));
    assert_eq!(attr(&body, "MessageReference", "ServiceID").unwrap(), "12");
    assert_eq!(result(&by_ref(17, "999")), failure("NotFound"));
    assert_eq!(sim.transactions().len(), 1);
}

#[test]
fn abort_and_abort_racing_approval() {
    let sim = start(NexoConfig {
        payment_time: Duration::from_millis(600),
        ..config()
    });
    login(&sim, 20, "PrinterReceipt");
    let addr = sim.addr();
    let t = std::thread::spawn(move || {
        post(
            addr,
            &request("Payment", 21, POI, &payment_body("T-A", "30")),
        )
        .unwrap()
    });
    std::thread::sleep(Duration::from_millis(100));
    let abort = format!("<AbortRequest><MessageReference MessageCategory=\"Payment\" ServiceID=\"21\" SaleID=\"{SALE}\" POIID=\"{POI}\"/><AbortReason>Abort by Sale System</AbortReason></AbortRequest>");
    let (st, body) = call(&sim, "Abort", 22, &abort);
    assert_eq!((st, body.as_str()), (204, ""));
    let (st, body) = t.join().unwrap();
    assert_eq!(st, 200);
    assert_eq!(result(&body), failure("Aborted"));
    assert!(text(&body, "ApprovalCode").is_none());
    let tx = sim.transactions();
    assert_eq!(tx.len(), 1);
    assert!(tx[0].aborted && !tx[0].approved);

    // The abort arrives while the terminal is authorising: the approval wins.
    std::thread::sleep(Duration::from_millis(350));
    let t = std::thread::spawn(move || {
        post(
            addr,
            &request("Payment", 23, POI, &payment_body("T-B", "30")),
        )
        .unwrap()
    });
    std::thread::sleep(Duration::from_millis(520));
    let abort = abort.replace("ServiceID=\"21\"", "ServiceID=\"23\"");
    let (st, _) = call(&sim, "Abort", 24, &abort);
    assert_eq!(st, 204);
    let (_, body) = t.join().unwrap();
    assert_eq!(result(&body), ("Success".into(), None));
    assert!(sim.transactions()[1].approved);
}

#[test]
fn socket_dropped_mid_payment_then_transaction_status_recovers() {
    let sim = start(config());
    login(&sim, 30, "PrinterReceipt");
    sim.set_faults(NexoFaults {
        drop_socket_mid_payment: true,
        ..NexoFaults::default()
    });
    let r = post(
        sim.addr(),
        &request("Payment", 31, POI, &payment_body("T-D", "99.90")),
    );
    assert!(
        r.is_err(),
        "the connection is closed without an answer: {r:?}"
    );
    let mut answer = String::new();
    wait_until("TransactionStatus Success", || {
        let (_, body) = call(&sim, "TransactionStatus", 32, "<TransactionStatusRequest><MessageReference MessageCategory=\"Payment\" ServiceID=\"31\"/></TransactionStatusRequest>");
        let (res, cond) = result(&body);
        if res == "Success" {
            answer = body;
            return true;
        }
        assert_eq!(cond.as_deref(), Some("Busy"), "{body}");
        false
    });
    let nested = &answer[answer.find("<RepeatedMessageResponse>").unwrap()..];
    assert_eq!(
        attr(nested, "SaleTransactionID", "TransactionID").unwrap(),
        "T-D"
    );
    assert!(nested.contains("<PaymentResponse><Response Result=\"Success\"/>"));
    assert_eq!(
        attr(nested, "AmountsResp", "AuthorizedAmount").unwrap(),
        "99.90"
    );
    let tx = sim.transactions();
    assert_eq!(tx.len(), 1, "exactly one payment");
    assert!(tx[0].approved);
    assert_eq!(sim.requests()[1].http_status, 0);
    assert!(!sim.faults().drop_socket_mid_payment, "one-shot");
}

#[test]
fn reversal_rules_and_decline_with_receipt() {
    let sim = start(NexoConfig {
        busy_after_payment: Duration::from_millis(50),
        ..config()
    });
    login(&sim, 40, "PrinterReceipt");
    let (_, body) = pay(&sim, 41, "T-R", "56");
    let poi_tx = attr(&body, "POITransactionID", "TransactionID").unwrap();
    let ts = attr(&body, "POITransactionID", "TimeStamp").unwrap();
    std::thread::sleep(Duration::from_millis(80));
    let reversal = |sid: u32, id: &str| {
        call(
            &sim,
            "Reversal",
            sid,
            &format!("<ReversalRequest ReversalReason=\"MerchantCancel\"><OriginalPOITransaction SaleID=\"{SALE}\" POIID=\"{POI}\"><POITransactionID TransactionID=\"{id}\" TimeStamp=\"{ts}\"/></OriginalPOITransaction></ReversalRequest>"),
        )
        .1
    };
    let body = reversal(42, &poi_tx);
    assert_eq!(result(&body), ("Success".into(), None), "{body}");
    assert!(body.starts_with("<?xml") && body.contains("<ReversalResponse>"));
    let (m, c) = receipts(&body);
    assert_eq!(c["Cardholder"]["Mandatory"]["Outcome"]["DebitStatus"], "91");
    assert_eq!(
        m["Merchant"]["Mandatory"]["Payment"]["TransactionType"],
        "Makulering"
    );
    assert!(c["Cardholder"]["Optional"]["ReceiptString"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l.as_str().unwrap().contains("Makulering")));
    // Already reversed.
    assert_eq!(result(&reversal(43, &poi_tx)), failure("Refusal"));

    // Declined: Failure/Refusal with receipts carrying a response code other than "00".
    sim.set_outcome(PaymentOutcome::Decline);
    let (_, body) = pay(&sim, 44, "T-X", "12");
    assert_eq!(result(&body), failure("Refusal"));
    assert!(text(&body, "ApprovalCode").is_none());
    let (m, c) = receipts(&body);
    assert_eq!(
        m["Merchant"]["Mandatory"]["Outcome"]["AuthorisationResponseCode"],
        "05"
    );
    assert_eq!(
        c["Cardholder"]["Mandatory"]["Outcome"]["AuthorisationResponseCode"],
        "05"
    );
    let declined = attr(&body, "POITransactionID", "TransactionID").unwrap();
    std::thread::sleep(Duration::from_millis(80));
    assert_eq!(result(&reversal(45, &declined)), failure("Refusal"));
    // Not the last transaction any more.
    assert_eq!(result(&reversal(46, &poi_tx)), failure("Refusal"));

    let tx = sim.transactions();
    let kinds: Vec<_> = tx
        .iter()
        .map(|t| (t.kind.as_str(), t.approved, t.reversed))
        .collect();
    assert_eq!(
        kinds,
        [
            ("Payment", true, true),
            ("Reversal", true, false),
            ("Payment", false, false)
        ]
    );
}

/// A tiny POS listener: 204 for everything but the InputRequest, which it answers with
/// an InputResponse carrying `confirm`.
struct Pos {
    rt: tokio::runtime::Runtime,
    url: String,
    received: Arc<parking_lot::Mutex<Vec<String>>>,
}

fn pos_listener(confirm: bool, display_status: u16) -> Pos {
    use axum::response::IntoResponse;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let received = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let rec = received.clone();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/EPASSaleToPOI/3.1",
        axum::routing::post(move |body: String| {
            let rec = rec.clone();
            async move {
                rec.lock().push(body.clone());
                if body.contains("<InputRequest>") {
                    let sid = attr(&body, "MessageHeader", "ServiceID").unwrap();
                    let xml = format!(
                        "<SaleToPOIResponse><MessageHeader MessageClass=\"Device\" MessageCategory=\"Input\" MessageType=\"Response\" ServiceID=\"{sid}\" DeviceID=\"{sid}\" SaleID=\"{SALE}\" POIID=\"{POI}\"/><InputResponse><OutputResult Device=\"CashierDisplay\" InfoQualify=\"Display\"><Response Result=\"Success\"/></OutputResult><InputResult Device=\"CashierInput\" InfoQualify=\"Input\"><Response Result=\"Success\"/><Input InputCommand=\"GetConfirmation\"><ConfirmedFlag>{confirm}</ConfirmedFlag></Input></InputResult></InputResponse></SaleToPOIResponse>"
                    );
                    (axum::http::StatusCode::OK, xml).into_response()
                } else if body.contains("<DisplayRequest>") && display_status != 204 {
                    (
                        axum::http::StatusCode::from_u16(display_status).unwrap(),
                        "<SaleToPOIResponse/>",
                    )
                        .into_response()
                } else {
                    axum::http::StatusCode::NO_CONTENT.into_response()
                }
            }
        }),
    );
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Pos {
        rt,
        url: format!("http://{addr}/EPASSaleToPOI/3.1"),
        received,
    }
}

const FULL: &str = "CashierStatus CashierError CashierDisplay CashierInput PrinterReceipt";

#[test]
fn signature_flow_through_the_pos_listener() {
    for confirm in [true, false] {
        let pos = pos_listener(confirm, 204);
        let sim = start(NexoConfig {
            outcome: PaymentOutcome::Signature,
            pos_listener: Some(pos.url.clone()),
            ..config()
        });
        login(&sim, 50, FULL);
        let (_, body) = pay(&sim, 51, "T-S", "56");
        let calls = sim.listener_calls();
        let cats: Vec<_> = calls.iter().map(|c| c.category.as_str()).collect();
        assert_eq!(
            cats,
            ["Display", "Display", "Display", "Print", "Input", "Display"],
            "{calls:#?}"
        );
        assert!(calls.iter().all(|c| c.violation.is_none()), "{calls:#?}");
        assert_eq!(calls[4].http_status, Some(200));
        assert_eq!(calls[0].http_status, Some(204));
        assert!(calls[0]
            .body
            .contains("<OutputText>Present card</OutputText>"));
        // The printed merchant copy asks for a signature.
        let b64 = text(&calls[3].body, "OutputText").unwrap();
        let printed: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            printed["Merchant"]["Mandatory"]["Payment"]["SignatureBlock"],
            true
        );
        assert_eq!(
            attr(&calls[4].body, "InputData", "InputCommand").unwrap(),
            "GetConfirmation"
        );
        if confirm {
            assert_eq!(result(&body), ("Success".into(), None), "{body}");
            assert!(calls[5].body.contains(">Approved<"));
        } else {
            assert_eq!(result(&body), failure("Refusal"), "{body}");
            assert!(calls[5].body.contains(">Disapproved<"));
            assert!(!sim.transactions()[0].approved);
        }
        assert_eq!(pos.received.lock().len(), 6);
        drop(sim);
        pos.rt.shutdown_background();
    }
}

#[test]
fn client_only_mode_sends_nothing_and_signature_is_on_the_receipt() {
    let pos = pos_listener(true, 204);
    let sim = start(NexoConfig {
        outcome: PaymentOutcome::Signature,
        pos_listener: Some(pos.url.clone()),
        ..config()
    });
    login(&sim, 60, "PrinterReceipt");
    let (_, body) = pay(&sim, 61, "T-C", "56");
    assert_eq!(result(&body), ("Success".into(), None));
    let (m, _) = receipts(&body);
    assert_eq!(
        m["Merchant"]["Mandatory"]["Payment"]["SignatureBlock"],
        true
    );
    assert!(sim.listener_calls().is_empty());
    assert!(pos.received.lock().is_empty());
    drop(sim);
    pos.rt.shutdown_background();
}

#[test]
fn events_transmit_and_listener_violations() {
    let pos = pos_listener(true, 200);
    let sim = start(NexoConfig {
        pos_listener: Some(pos.url.clone()),
        ..config()
    });
    login(&sim, 70, FULL);
    // This POS answers Displays with 200 and a body: a violation.
    let (_, body) = pay(&sim, 71, "T-E", "5");
    assert_eq!(result(&body), ("Success".into(), None));
    let calls = sim.listener_calls();
    assert_eq!(calls.len(), 4);
    assert!(calls.iter().all(|c| c.category == "Display"
        && c.violation.as_deref() == Some("expected 204, got 200 with a body")));

    sim.request_maintenance();
    let calls = sim.listener_calls();
    let ev = calls.last().unwrap();
    assert_eq!(ev.category, "Event");
    assert_eq!(ev.http_status, Some(204));
    assert!(ev.violation.is_none());
    assert_eq!(
        attr(&ev.body, "EventNotification", "EventToNotify").unwrap(),
        "SaleAdmin"
    );
    assert_eq!(
        attr(&ev.body, "EventNotification", "MaintenanceRequiredFlag").unwrap(),
        "true"
    );
    assert_eq!(
        attr(&ev.body, "MessageHeader", "MessageClass").unwrap(),
        "Event"
    );
    assert_eq!(
        attr(&ev.body, "MessageHeader", "MessageType").unwrap(),
        "Notification"
    );

    std::thread::sleep(Duration::from_millis(350));
    let (_, body) = call(
        &sim,
        "Logout",
        72,
        "<LogoutRequest MaintenanceAllowed=\"true\"/>",
    );
    assert_eq!(result(&body), ("Success".into(), None));
    wait_until("Begin/EndMaintenance", || sim.listener_calls().len() == 7);
    let calls = sim.listener_calls();
    let events: Vec<_> = calls[5..]
        .iter()
        .map(|c| attr(&c.body, "EventNotification", "EventToNotify").unwrap())
        .collect();
    assert_eq!(events, ["BeginMaintenance", "EndMaintenance"]);

    sim.push_address();
    let calls = sim.listener_calls();
    let tr = calls.last().unwrap();
    assert_eq!(tr.category, "Transmit");
    assert_eq!((tr.http_status, tr.violation.clone()), (Some(204), None));
    assert_eq!(
        attr(&tr.body, "TransmitRequest", "DestinationAddress").unwrap(),
        "127.0.0.1:15022"
    );
    assert_eq!(attr(&tr.body, "MessageHeader", "SaleID").unwrap(), "");
    let msg = text(&tr.body, "Message").unwrap();
    let cfg: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(msg)
            .unwrap(),
    )
    .unwrap();
    let ep = &cfg["saleTerminalconfiguration"]["ipEndPoint"];
    assert_eq!(cfg["saleTerminalconfiguration"]["messageVersion"], "1.0.0");
    assert_eq!(ep["ipPort"], sim.addr().port().to_string());
    assert_eq!(ep["ipV4Address"], "127.0.0.1");
    drop(sim);
    pos.rt.shutdown_background();
}

#[test]
fn pos_dialog_requests_and_lenient_overlap() {
    let sim = start(NexoConfig {
        faults: NexoFaults {
            reject_overlapping: false,
            ..NexoFaults::default()
        },
        busy_after_payment: Duration::ZERO,
        ..config()
    });
    login(&sim, 80, "PrinterReceipt");
    let display = |sid: u32| {
        format!(
            "<?xml version=\"1.0\"?><SaleToPOIRequest><MessageHeader ProtocolVersion=\"3.1\" MessageClass=\"Device\" MessageCategory=\"Display\" MessageType=\"Request\" ServiceID=\"{sid}\" DeviceID=\"{sid}\" SaleID=\"{SALE}\" POIID=\"{POI}\"/><DisplayRequest><DisplayOutput Device=\"CustomerDisplay\" InfoQualify=\"Display\"><OutputContent OutputFormat=\"Text\"><OutputText>Hej</OutputText></OutputContent></DisplayOutput></DisplayRequest></SaleToPOIRequest>"
        )
    };
    let (_, body) = post(sim.addr(), &display(81)).unwrap();
    assert!(body.contains("<DisplayResponse><OutputResult Device=\"CustomerDisplay\" InfoQualify=\"Display\"><Response Result=\"Success\"/>"), "{body}");
    assert_eq!(attr(&body, "MessageHeader", "DeviceID").unwrap(), "81");
    let (_, body) = call(&sim, "Input", 82, "<InputRequest><DisplayOutput Device=\"CustomerDisplay\" InfoQualify=\"Display\"><OutputContent OutputFormat=\"Text\"><OutputText>OK?</OutputText></OutputContent></DisplayOutput><InputData Device=\"CustomerInput\" InfoQualify=\"Input\" InputCommand=\"GetConfirmation\"/></InputRequest>");
    assert!(
        body.contains("<ConfirmedFlag>true</ConfirmedFlag>"),
        "{body}"
    );

    // Lenient terminal: the overlapping Display waits for the payment instead of Busy.
    let addr = sim.addr();
    let t = std::thread::spawn(move || {
        post(
            addr,
            &request("Payment", 83, POI, &payment_body("T-L", "1")),
        )
        .unwrap()
    });
    std::thread::sleep(Duration::from_millis(60));
    let started = Instant::now();
    let (_, body) = post(sim.addr(), &display(84)).unwrap();
    assert_eq!(result(&body), ("Success".into(), None));
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(result(&t.join().unwrap().1), ("Success".into(), None));
}

#[test]
fn slow_terminal_holds_the_answer() {
    let sim = start(config());
    sim.set_faults(NexoFaults {
        slow_response: Duration::from_millis(300),
        ..NexoFaults::default()
    });
    let t = Instant::now();
    login(&sim, 90, "PrinterReceipt");
    assert!(t.elapsed() >= Duration::from_millis(300));
}
