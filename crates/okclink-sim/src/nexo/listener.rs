//! The terminal as a client of the POS listener (full integration): Display, Print and
//! Input requests during a payment, EventNotifications and the address push. The POS's
//! answers are checked against the listener contract and every call is recorded.

use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;

use super::assumptions as a;
use super::xml::{self, attrs, esc};
use super::{NexoListenerCall, Shared};

/// Where and as whom the terminal calls the POS.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub url: String,
    pub sale_id: String,
    pub poi_id: String,
}

/// The POS listener of the current session, if the POS is in full integration and a URL is
/// configured.
pub(crate) fn session_target(sh: &Shared) -> Option<Target> {
    let st = sh.state.lock();
    let s = st.session.as_ref()?;
    if !s.full_integration() {
        return None;
    }
    Some(Target {
        url: st.pos_listener.clone()?,
        sale_id: s.sale_id.clone(),
        poi_id: s.poi_id.clone(),
    })
}

/// The listener for events: the current or last session's ids (empty when none yet).
fn event_target(sh: &Shared) -> Option<Target> {
    let st = sh.state.lock();
    let url = st.pos_listener.clone()?;
    let s = st.session.as_ref().or(st.last_session.as_ref());
    if let Some(s) = s {
        if !s.full_integration() {
            return None;
        }
    }
    Some(Target {
        url,
        sale_id: s.map(|s| s.sale_id.clone()).unwrap_or_default(),
        poi_id: s.map(|s| s.poi_id.clone()).unwrap_or_default(),
    })
}

fn next_id(sh: &Shared) -> String {
    let mut st = sh.state.lock();
    let id = st.next_device_id;
    st.next_device_id += 1;
    id.to_string()
}

fn device_header(category: &str, id: &str, t: &Target) -> String {
    format!(
        "<MessageHeader ProtocolVersion=\"3.1\" MessageClass=\"Device\" MessageCategory=\"{category}\" MessageType=\"Request\" ServiceID=\"{id}\" DeviceID=\"{id}\" SaleID=\"{}\" POIID=\"{}\"/>",
        esc(&t.sale_id),
        esc(&t.poi_id)
    )
}

fn envelope(header: &str, body: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><SaleToPOIRequest>{header}{body}</SaleToPOIRequest>")
}

async fn post(sh: &Shared, url: &str, body: &str) -> (Option<u16>, String) {
    let r = sh
        .http
        .post(url)
        .header("Content-Type", "application/xml; charset=utf-8")
        .header("Accept", "*/*")
        .body(body.to_string())
        .send()
        .await;
    match r {
        Err(_) => (None, String::new()),
        Ok(r) => {
            let s = r.status().as_u16();
            (Some(s), r.text().await.unwrap_or_default())
        }
    }
}

fn record(
    sh: &Shared,
    category: &str,
    body: String,
    status: Option<u16>,
    response: String,
    violation: Option<String>,
) {
    sh.state.lock().listener_calls.push(NexoListenerCall {
        category: category.into(),
        body,
        http_status: status,
        response_body: response,
        violation,
        at: Instant::now(),
    });
}

/// Send a request the POS must answer with 204; record a violation otherwise.
async fn call_204(sh: &Shared, t: &Target, category: &str, body: String) {
    let (status, resp) = post(sh, &t.url, &body).await;
    let violation = match status {
        None => Some("no answer from the POS listener".to_string()),
        Some(204) if resp.is_empty() => None,
        Some(204) => Some("204 with a body".to_string()),
        Some(s) if resp.is_empty() => Some(format!("expected 204, got {s}")),
        Some(s) => Some(format!("expected 204, got {s} with a body")),
    };
    record(sh, category, body, status, resp, violation);
}

/// DisplayRequest with one line of text (no response required).
pub(crate) async fn display(sh: &Shared, t: &Target, text: &str) {
    let id = next_id(sh);
    let body = envelope(
        &device_header("Display", &id, t),
        &format!(
            "<DisplayRequest><DisplayOutput Device=\"{}\" InfoQualify=\"{}\"><OutputContent OutputFormat=\"Text\"><OutputText>{}</OutputText></OutputContent></DisplayOutput></DisplayRequest>",
            a::DISPLAY_DEVICE,
            a::DISPLAY_INFO_QUALIFY,
            esc(text)
        ),
    );
    call_204(sh, t, "Display", body).await;
}

/// PrintRequest of a receipt (Base64 JSON) for the cashier.
pub(crate) async fn print(sh: &Shared, t: &Target, qualifier: &str, receipt_b64: &str) {
    let id = next_id(sh);
    let body = envelope(
        &device_header("Print", &id, t),
        &format!(
            "<PrintRequest><PrintOutput DocumentQualifier=\"{qualifier}\" ResponseMode=\"{}\"><OutputContent OutputFormat=\"Text\"><OutputText>{receipt_b64}</OutputText></OutputContent></PrintOutput></PrintRequest>",
            a::PRINT_RESPONSE_MODE
        ),
    );
    call_204(sh, t, "Print", body).await;
}

/// InputRequest GetConfirmation; `Some(flag)` from a valid InputResponse.
pub(crate) async fn confirm(sh: &Shared, t: &Target, question: &str) -> Option<bool> {
    let id = next_id(sh);
    let body = envelope(
        &device_header("Input", &id, t),
        &format!(
            "<InputRequest><DisplayOutput Device=\"CashierDisplay\" InfoQualify=\"Display\"><OutputContent OutputFormat=\"Text\"><OutputText>{}</OutputText></OutputContent></DisplayOutput><InputData Device=\"CashierInput\" InfoQualify=\"Input\" InputCommand=\"GetConfirmation\"/></InputRequest>",
            esc(question)
        ),
    );
    let (status, resp) = post(sh, &t.url, &body).await;
    let (flag, violation) = match status {
        None => (None, Some("no answer from the POS listener".to_string())),
        Some(200) => match check_input_response(&resp, &id, t) {
            Ok(f) => (f, None),
            Err(e) => (None, Some(e)),
        },
        Some(s) => (None, Some(format!("expected 200 + InputResponse, got {s}"))),
    };
    record(sh, "Input", body, status, resp, violation);
    flag
}

/// The POS's answer to the signature InputRequest: `Ok(Some(flag))` when the
/// InputResult succeeded, `Ok(None)` when it is a (valid) Failure.
fn check_input_response(resp: &str, id: &str, t: &Target) -> Result<Option<bool>, String> {
    let root = xml::parse(resp).map_err(|e| format!("InputResponse: {e}"))?;
    if root.name != "SaleToPOIResponse" {
        return Err(format!("InputResponse: root <{}>", root.name));
    }
    let names: Vec<&str> = root.children.iter().map(|c| c.name.as_str()).collect();
    if names != ["MessageHeader", "InputResponse"] {
        return Err(format!(
            "InputResponse: expected MessageHeader, InputResponse; got {names:?}"
        ));
    }
    let h = &root.children[0];
    for (attr, want) in [
        ("MessageClass", "Device"),
        ("MessageCategory", "Input"),
        ("MessageType", "Response"),
        ("SaleID", t.sale_id.as_str()),
        ("POIID", t.poi_id.as_str()),
    ] {
        if h.attr(attr) != Some(want) {
            return Err(format!(
                "InputResponse header: {attr} {:?}, expected {want:?}",
                h.attr(attr)
            ));
        }
    }
    if h.attr("ServiceID") != Some(id) && h.attr("DeviceID") != Some(id) {
        return Err(format!(
            "InputResponse header: ServiceID/DeviceID is not {id:?}"
        ));
    }
    let body = &root.children[1];
    xml::check_order(body).map_err(|e| format!("InputResponse: {e}"))?;
    let result = body
        .at("InputResult/Response")
        .and_then(|r| r.attr("Result"));
    match result {
        Some("Success") => {}
        Some("Failure") => return Ok(None),
        other => return Err(format!("InputResult/Response@Result {other:?}")),
    }
    match body
        .at("InputResult/Input/ConfirmedFlag")
        .map(|f| f.text.as_str())
    {
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        other => Err(format!(
            "InputResult without a ConfirmedFlag true|false: {other:?}"
        )),
    }
}

/// EventNotification to the POS (204 expected).
pub(crate) async fn event(
    sh: &Shared,
    t: &Target,
    event: &str,
    maintenance_required: bool,
    details: Option<&str>,
) {
    let ts = chrono::Local::now()
        .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
        .to_string();
    let ids = if a::EVENT_HEADER_HAS_IDS {
        let id = next_id(sh);
        format!(" ServiceID=\"{id}\" DeviceID=\"{id}\"")
    } else {
        String::new()
    };
    let header = format!(
        "<MessageHeader ProtocolVersion=\"3.1\" MessageClass=\"Event\" MessageCategory=\"Event\" MessageType=\"Notification\"{ids} SaleID=\"{}\" POIID=\"{}\"/>",
        esc(&t.sale_id),
        esc(&t.poi_id)
    );
    let flag = maintenance_required.then_some("true");
    let mut b = format!(
        "<EventNotification{}>",
        attrs(&[
            ("TimeStamp", Some(&ts)),
            ("EventToNotify", Some(event)),
            ("MaintenanceRequiredFlag", flag),
        ])
    );
    if let Some(d) = details {
        b.push_str(&format!("<EventDetails>{}</EventDetails>", esc(d)));
    }
    b.push_str("</EventNotification>");
    call_204(sh, t, "Event", envelope(&header, &b)).await;
}

/// SaleAdmin with MaintenanceRequiredFlag (control call).
pub(crate) async fn send_maintenance_required(sh: Arc<Shared>) {
    if let Some(t) = event_target(&sh) {
        event(&sh, &t, "SaleAdmin", true, Some("Maintenance Required")).await;
    }
}

/// After a maintenance logout: BeginMaintenance, then EndMaintenance.
pub(crate) async fn maintenance_cycle(sh: Arc<Shared>) {
    if let Some(t) = event_target(&sh) {
        event(&sh, &t, "BeginMaintenance", false, None).await;
        tokio::time::sleep(a::MAINTENANCE_TIME).await;
        event(&sh, &t, "EndMaintenance", false, None).await;
    }
}

/// TransmitRequest: the terminal's address, pushed to the POS (control call).
pub(crate) async fn send_address(sh: Arc<Shared>) {
    let Some(url) = sh.state.lock().pos_listener.clone() else {
        return;
    };
    let poi_id = {
        let st = sh.state.lock();
        st.session
            .as_ref()
            .or(st.last_session.as_ref())
            .map(|s| s.poi_id.clone())
            .unwrap_or_default()
    };
    let cfg = serde_json::json!({"saleTerminalconfiguration": {
        "messageVersion": "1.0.0",
        "ipEndPoint": {"ipV4Address": sh.addr.ip().to_string(), "ipPort": sh.addr.port().to_string()},
    }});
    let msg = base64::engine::general_purpose::STANDARD.encode(cfg.to_string());
    let body = envelope(
        &format!(
            "<MessageHeader MessageCategory=\"Transmit\" MessageClass=\"Device\" MessageType=\"Request\" POIID=\"{}\" SaleID=\"\"/>",
            esc(&poi_id)
        ),
        &format!(
            "<TransmitRequest DestinationAddress=\"127.0.0.1:15022\" MaximumTransmitTime=\"30\"><Message>{msg}</Message></TransmitRequest>"
        ),
    );
    let (status, resp) = post(&sh, &url, &body).await;
    let want = a::TRANSMIT_EXPECTED_STATUS;
    let violation = match status {
        None => Some("no answer from the POS listener".to_string()),
        Some(s) if s == want && resp.is_empty() => None,
        Some(s) => Some(format!("expected {want}, got {s}")),
    };
    record(&sh, "Transmit", body, status, resp, violation);
}
