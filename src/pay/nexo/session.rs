//! The nexo login session as a value (sans-IO): identifiers, the login state, the
//! one-outstanding-request rule and what an answer means. The HTTP driver (`backend.rs`)
//! asks it for each request and tells it each answer; time is passed in.
//!
//! Rules (Swedbank Pay's nexo guide):
//! - `SaleID` and `POIID` stay constant through a login session (a POIID change needs a
//!   logout or reboot).
//! - `ServiceID` is unique per Service message within a login session, at most 10 bytes:
//!   hhmmss at login, then +1 per message.
//! - One request outstanding at a time; `Abort`, `Login` and `TransactionStatus` may overlap.
//! - `NotAllowed` means "log in first"; `Busy` means "wait and retry" (the terminal is busy
//!   for about 3 s after every payment, and right after a login).

use std::time::Duration;

use super::msg::{
    ErrorCondition, MessageCategory, MessageClass, MessageHeader, MessageType, Request,
    ResponseBody, ResultCode, SaleToPoiRequest, SaleToPoiResponse,
};

/// Our choices where Swedbank's guide is silent (one place).
pub mod assumptions {
    use std::time::Duration;

    /// Busy → wait and retry: 1 s, 1 s, 2 s (about 5 s in all; Swedbank's SDK retries 3 times).
    pub const BUSY_RETRIES: [Duration; 3] = [
        Duration::from_secs(1),
        Duration::from_secs(1),
        Duration::from_secs(2),
    ];
    /// Read timeout of a payment / refund (the customer is at the terminal).
    pub const PAYMENT_TIMEOUT: Duration = Duration::from_secs(180);
    /// Read timeout of every other request.
    pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
    /// After a lost payment answer: ask TransactionStatus this often…
    pub const RECOVERY_INTERVAL: Duration = Duration::from_millis(1500);
    /// …for this long before the outcome is reported unknown.
    pub const RECOVERY_LIMIT: Duration = Duration::from_secs(300);
    /// How long the application's event callback may take to answer a signature question
    /// before the configured policy answers.
    pub const SIGNATURE_ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
    /// `LoginRequest@OperatorLanguage` (Swedbank supports sv, no, fi, da; others fall back to
    /// English on the terminal).
    pub const OPERATOR_LANGUAGE: &str = "en";
    /// The `AbortRequest/AbortReason` text.
    pub const ABORT_REASON: &str = "Abort by Sale System";
}

/// Who we are to the terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    pub sale_id: String,
    pub poi_id: String,
    /// Full integration (a POS listener receives display, print, signature and events) or
    /// client-only (`SaleCapabilities` = `PrinterReceipt` only).
    pub full_integration: bool,
}

/// What an answer means for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A final answer (success or failure) for the request.
    Final,
    /// `Busy`: not started; retry after a while.
    Busy,
    /// `NotAllowed` / `LoggedOut`: log in, then retry.
    LoginNeeded,
}

/// The session state.
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    logged_in: bool,
    next_service: u64,
    /// (category, ServiceID) of the request in flight that is not one of the exceptions.
    outstanding: Option<(MessageCategory, String)>,
}

/// Why a request cannot be sent now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionError {
    NotLoggedIn,
    /// Another request is outstanding (category, ServiceID).
    Outstanding(String),
}

impl Session {
    pub fn new(cfg: SessionConfig) -> Session {
        Session {
            cfg,
            logged_in: false,
            next_service: 1,
            outstanding: None,
        }
    }

    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    pub fn is_logged_in(&self) -> bool {
        self.logged_in
    }

    /// The `SaleCapabilities` of the LoginRequest for the configured mode.
    pub fn capabilities(&self) -> Vec<String> {
        let all: &[&str] = if self.cfg.full_integration {
            &[
                "CashierStatus",
                "CashierError",
                "CashierDisplay",
                "POIReplication",
                "CustomerAssistance",
                "CashierInput",
                "PrinterReceipt",
            ]
        } else {
            &["PrinterReceipt"]
        };
        all.iter().map(|s| s.to_string()).collect()
    }

    fn service_id(&mut self) -> String {
        let id = self.next_service % 10_000_000_000;
        self.next_service = id + 1;
        id.to_string()
    }

    fn header(&mut self, category: MessageCategory) -> MessageHeader {
        MessageHeader {
            protocol_version: Some("3.1".into()),
            message_class: MessageClass::Service,
            message_category: category,
            message_type: MessageType::Request,
            service_id: Some(self.service_id()),
            device_id: None,
            sale_id: self.cfg.sale_id.clone(),
            poi_id: self.cfg.poi_id.clone(),
        }
    }

    /// Start a login at local time `hhmmss` (seconds since midnight): the ServiceIDs of this
    /// session count up from it.
    pub fn begin_login(&mut self, seconds_of_day: u32) {
        let (h, m, s) = (
            seconds_of_day / 3600 % 24,
            seconds_of_day / 60 % 60,
            seconds_of_day % 60,
        );
        self.next_service = u64::from(h * 10_000 + m * 100 + s).max(1);
        self.logged_in = false;
        self.outstanding = None;
    }

    /// A request with a fresh header. Login, Abort and TransactionStatus may overlap the
    /// outstanding request; every other one needs a login and no outstanding request.
    pub fn request(&mut self, body: Request) -> Result<SaleToPoiRequest, SessionError> {
        let category = category_of(&body);
        let overlapping = matches!(
            category,
            MessageCategory::Login | MessageCategory::Abort | MessageCategory::TransactionStatus
        );
        if !self.logged_in && category != MessageCategory::Login {
            return Err(SessionError::NotLoggedIn);
        }
        if !overlapping {
            if let Some((c, id)) = &self.outstanding {
                return Err(SessionError::Outstanding(format!("{c:?} {id}")));
            }
        }
        let header = self.header(category.clone());
        if !overlapping {
            self.outstanding = Some((category, header.service_id.clone().unwrap_or_default()));
        }
        Ok(SaleToPoiRequest { header, body })
    }

    /// The request with this ServiceID is over (answered, or its connection gone and the
    /// outcome recovered).
    pub fn finished(&mut self, service_id: &str) {
        if self
            .outstanding
            .as_ref()
            .is_some_and(|(_, id)| id == service_id)
        {
            self.outstanding = None;
        }
    }

    /// The terminal answered `resp` to one of our requests.
    pub fn on_response(&mut self, resp: &SaleToPoiResponse) -> Verdict {
        let r = response_of(&resp.body);
        if let Some(id) = &resp.header.service_id {
            self.finished(id);
        }
        let Some(r) = r else {
            return Verdict::Final;
        };
        match (&r.result, &r.error_condition) {
            (ResultCode::Success, _) => {
                if resp.header.message_category == MessageCategory::Login {
                    self.logged_in = true;
                }
                if resp.header.message_category == MessageCategory::Logout {
                    self.logged_in = false;
                }
                Verdict::Final
            }
            (_, Some(ErrorCondition::Busy)) => Verdict::Busy,
            (_, Some(ErrorCondition::NotAllowed | ErrorCondition::LoggedOut)) => {
                self.logged_in = false;
                Verdict::LoginNeeded
            }
            _ => Verdict::Final,
        }
    }

    /// The terminal rebooted or the session was lost otherwise.
    pub fn logged_out(&mut self) {
        self.logged_in = false;
        self.outstanding = None;
    }
}

/// The `MessageCategory` of a request body.
pub fn category_of(body: &Request) -> MessageCategory {
    match body {
        Request::Login(_) => MessageCategory::Login,
        Request::Logout(_) => MessageCategory::Logout,
        Request::Payment(_) => MessageCategory::Payment,
        Request::Abort(_) => MessageCategory::Abort,
        Request::TransactionStatus(_) => MessageCategory::TransactionStatus,
        Request::Reversal(_) => MessageCategory::Reversal,
        Request::Display(_) => MessageCategory::Display,
        Request::Input(_) => MessageCategory::Input,
        Request::Print(_) => MessageCategory::Print,
        Request::Event(_) => MessageCategory::Event,
        Request::Transmit(_) => MessageCategory::Transmit,
        Request::Other(name) => MessageCategory::Other(name.clone()),
    }
}

/// The `Response` element of a response body, when it has one.
pub fn response_of(body: &ResponseBody) -> Option<&super::msg::Response> {
    Some(match body {
        ResponseBody::Login(l) => &l.response,
        ResponseBody::Logout(r)
        | ResponseBody::Abort(r)
        | ResponseBody::Display(r)
        | ResponseBody::Print(r)
        | ResponseBody::Admin(r) => r,
        ResponseBody::Payment(p) => &p.response,
        ResponseBody::TransactionStatus(t) => &t.response,
        ResponseBody::Reversal(r) => &r.response,
        ResponseBody::Input(i) => &i.result,
        ResponseBody::Other(_, r) => return r.as_ref(),
    })
}

/// Busy retries as a schedule (for the driver).
pub fn busy_delay(attempt: usize) -> Option<Duration> {
    assumptions::BUSY_RETRIES.get(attempt).copied()
}
