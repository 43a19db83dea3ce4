//! The HTTP side: one fallback handler that routes by method and path itself (so unknown
//! paths, the envelope, the request log and the faults are all in one place), JWTs, and the
//! control API under `/_sim/`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::assumptions as a;
use super::device::{self, BasketRec, Settings};
use super::energy;
use super::{BasketState, CloudBasket, CloudRequest, Shared};
use crate::killable::ConnKill;

pub(crate) fn router(sh: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(sh)
}

/// A reply: HTTP status, envelope, extra headers; `drop` = cut the connection instead of
/// answering (whatever the handler did stays done).
pub(super) struct Reply {
    pub(super) http: u16,
    pub(super) body: Value,
    pub(super) retry_after: Option<u32>,
    pub(super) drop: bool,
}

pub(super) fn reply(http: u16, status: i64, description: &str, result: Option<Value>) -> Reply {
    let mut body = json!({"status": status, "description": description});
    if let Some(r) = result {
        body["result"] = r;
    }
    Reply {
        http,
        body,
        retry_after: None,
        drop: false,
    }
}

pub(super) fn err((http, status, description): (u16, i64, &str)) -> Reply {
    reply(http, status, description, None)
}

fn ok(description: &str, result: Value) -> Reply {
    reply(200, 0, description, Some(result))
}

const NO_CONTEXT: (u16, i64, &str) = (400, 6, "No context header provided.");
const FORBIDDEN: (u16, i64, &str) = (403, 403, "Forbidden resource");
const NO_BASKET: (u16, i64, &str) = (404, 404, "No basket record found for given id");
const NO_RECORD: (u16, i64, &str) = (404, 1006, "No record found");
const LOCKED: (u16, i64, &str) = (
    400,
    1018,
    "Error: Order locked! For this operation you must first unlock the order.",
);
const OPEN_BASKET_EXISTS: (u16, i64, &str) = (
    400,
    1100,
    "There is already an open basket assigned to this terminal",
);
const NOT_INSTANT: (u16, i64, &str) = (
    400,
    1104,
    "This terminals sale mode is not suitable for receive instant basket!",
);
const BAD_STATE: (u16, i64, &str) = (
    400,
    1105,
    "This baskets status is not suitable for this operation",
);

async fn handle(
    State(sh): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnKill>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 4 << 20)
        .await
        .unwrap_or_default();
    let full = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let rel = if sh.base.is_empty() {
        Some(full.clone())
    } else {
        full.strip_prefix(sh.base.as_str())
            .filter(|r| r.is_empty() || r.starts_with('/'))
            .map(str::to_string)
    };
    if let Some(r) = rel.as_deref().and_then(|r| r.strip_prefix("/_sim/")) {
        return control(&sh, &parts.method, r, &query, &bytes);
    }
    let call = Call {
        method: parts.method.clone(),
        headers: parts.headers.clone(),
        query: query.clone(),
        body: bytes.to_vec(),
    };
    let rep = match &rel {
        Some(r) => api(&sh, &call, r).await,
        None => err(a::NOT_FOUND_ROUTE),
    };
    sh.state.lock().requests.push(CloudRequest {
        method: parts.method.to_string(),
        path: rel.unwrap_or(full),
        query,
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&bytes).into_owned(),
        http_status: if rep.drop { 0 } else { rep.http },
        api_status: if rep.drop {
            None
        } else {
            rep.body.get("status").and_then(Value::as_i64)
        },
        at: std::time::Instant::now(),
    });
    if rep.drop {
        conn.kill();
    }
    to_response(rep)
}

fn to_response(rep: Reply) -> Response {
    let mut r = Response::new(Body::from(rep.body.to_string()));
    *r.status_mut() = StatusCode::from_u16(rep.http).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    if let Some(s) = rep.retry_after {
        r.headers_mut().insert("retry-after", HeaderValue::from(s));
    }
    r
}

pub(super) struct Call {
    pub(super) method: Method,
    pub(super) headers: HeaderMap,
    pub(super) query: String,
    pub(super) body: Vec<u8>,
}

impl Call {
    pub(super) fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    }

    pub(super) fn query_param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == name && !v.is_empty()).then(|| v.to_string())
        })
    }

    pub(super) fn json(&self) -> Option<Value> {
        serde_json::from_slice::<Value>(&self.body)
            .ok()
            .filter(Value::is_object)
    }
}

/// The context headers present: (terminal-id, branch-id, merchant-id).
pub(super) fn context(sh: &Shared, c: &Call) -> [Option<String>; 3] {
    let get = |kebab: &str, camel: &str| {
        c.header(kebab)
            .or_else(|| sh.legacy_headers.then(|| c.header(camel)).flatten())
    };
    [
        get("terminal-id", "terminalid"),
        get("branch-id", "branchid"),
        get("merchant-id", "merchantid"),
    ]
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Route {
    Auth,
    Settings,
    Basket,
    Unlock,
    OpenBaskets,
    BasketId,
    Instant,
    Fiscal,
    Terminals,
    TerminalId,
}

fn route(method: &Method, path: &str) -> Option<(Route, Option<String>)> {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let m = method.as_str();
    let r = match (m, segs.as_slice()) {
        ("POST", ["v1", "auth", "token"]) => Route::Auth,
        ("POST" | "GET", ["v1", "client-settings"]) => Route::Settings,
        ("POST", ["v1", "basket"]) => Route::Basket,
        ("POST", ["v1", "basket", "unlock"]) => Route::Unlock,
        ("GET", ["v1", "basket", "open-basket"]) => Route::OpenBaskets,
        ("GET" | "PUT" | "DELETE", ["v1", "basket", id]) if !id.is_empty() => {
            return Some((Route::BasketId, Some(id.to_string())))
        }
        ("POST", ["v1", "instant-basket"]) => Route::Instant,
        ("GET", ["v1", "fiscal-parameters"]) => Route::Fiscal,
        ("GET", ["v1", "terminal"]) => Route::Terminals,
        ("GET", ["v1", "terminal", id]) if !id.is_empty() => {
            return Some((Route::TerminalId, Some(id.to_string())))
        }
        _ => return None,
    };
    Some((r, None))
}

async fn api(sh: &Arc<Shared>, c: &Call, path: &str) -> Reply {
    // Throttling sits in front of everything (a gateway), auth included.
    {
        let mut st = sh.state.lock();
        if st.faults.throttle_next > 0 {
            st.faults.throttle_next -= 1;
            let mut r = err(a::THROTTLED);
            r.retry_after = Some(st.faults.retry_after_secs);
            return r;
        }
    }
    let Some((route, id)) = route(&c.method, path) else {
        // Token X Energy, on the same server, auth and envelope.
        if let Some(er) = energy::route(&c.method, path) {
            if let Some(r) = energy::throttled(sh, &er) {
                return r;
            }
            return match verify_bearer(sh, c) {
                Ok(client) => energy::api(sh, c, &client, er),
                Err(r) => r,
            };
        }
        return err(a::NOT_FOUND_ROUTE);
    };
    if route == Route::Auth {
        return auth(sh, c).await;
    }
    let client = match verify_bearer(sh, c) {
        Ok(cl) => cl,
        Err(r) => return r,
    };
    let id = id.unwrap_or_default();
    match route {
        Route::Auth => unreachable!("handled above"),
        Route::Settings => settings(sh, c, &client),
        Route::Basket => post_basket(sh, c, &client, false),
        Route::Instant => post_basket(sh, c, &client, true),
        Route::Unlock => api_unlock(sh, c, &client),
        Route::OpenBaskets => open_baskets(sh, c, &client),
        Route::BasketId => match c.method {
            Method::GET => get_basket(sh, &client, &id),
            Method::PUT => put_basket(sh, c, &client, &id),
            _ => delete_basket(sh, &client, &id),
        },
        Route::Fiscal => fiscal(sh, c, &client),
        Route::Terminals => terminals(sh, c, &client),
        Route::TerminalId => terminal_org(sh, c, &client, &id),
    }
}

// ---------------------------------------------------------------------------------------
// Auth

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    exp: u64,
    iat: u64,
    jti: String,
    iss: String,
    aud: String,
    sub: String,
    typ: String,
    azp: String,
    #[serde(rename = "clientId")]
    client_id: String,
    #[serde(rename = "merchantId")]
    merchant_id: String,
    scope: String,
    preferred_username: String,
}

async fn auth(sh: &Arc<Shared>, c: &Call) -> Reply {
    let slow = sh.state.lock().faults.slow_auth;
    if !slow.is_zero() {
        tokio::time::sleep(slow).await;
    }
    {
        let mut st = sh.state.lock();
        if st.faults.auth_5xx > 0 {
            st.faults.auth_5xx -= 1;
            return err(a::UNAVAILABLE);
        }
    }
    let basic = c
        .header("authorization")
        .and_then(|h| {
            let (scheme, rest) = h.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("basic")
                .then(|| rest.trim().to_string())
        })
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            let (u, p) = s.split_once(':')?;
            Some((u.to_string(), p.to_string()))
        });
    let Some((user, secret)) = basic.filter(|(u, _)| !u.is_empty()) else {
        return err(a::BAD_CREDENTIALS);
    };
    if let Some((cu, cs)) = &sh.credentials {
        if *cu != user || *cs != secret {
            return err(a::BAD_CREDENTIALS);
        }
    }
    let now = device::now_unix();
    let ttl = sh.token_ttl.as_secs().max(1);
    let jti = uuid::Uuid::new_v4().to_string();
    let merchant = {
        let st = sh.state.lock();
        st.terminals
            .iter()
            .find(|t| t.cfg.client_id.as_deref() == Some(user.as_str()))
            .or_else(|| st.terminals.first())
            .map(|t| t.cfg.merchant_id.clone())
            .unwrap_or_else(|| a::DEFAULT_MERCHANT.to_string())
    };
    let claims = Claims {
        exp: now + ttl,
        iat: now,
        jti: jti.clone(),
        iss: a::JWT_ISSUER.to_string(),
        aud: "account".into(),
        sub: stable_uuid(&user),
        typ: "Bearer".into(),
        azp: user.clone(),
        client_id: user.clone(),
        merchant_id: merchant,
        scope: "profile email".into(),
        preferred_username: format!("service-account-{user}"),
    };
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(sh.kid.clone());
    let token = match jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&sh.secret),
    ) {
        Ok(t) => t,
        Err(_) => return err(a::SERVER_ERROR),
    };
    sh.state.lock().issued_jti.push(jti);
    reply(
        200,
        201,
        "User authenticated successfully.",
        Some(json!({"accessToken": token, "expiresIn": ttl, "tokenType": "Bearer"})),
    )
}

/// A UUID derived from `s` (the service account's user id stays the same per client).
fn stable_uuid(s: &str) -> String {
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for b in s.bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    uuid::Builder::from_random_bytes(h.to_be_bytes())
        .into_uuid()
        .to_string()
}

/// The client id of a valid bearer token, or the 401 reply.
fn verify_bearer(sh: &Shared, c: &Call) -> Result<String, Reply> {
    let auth401 = |(status, d): (i64, &str)| reply(a::AUTH_ERROR_HTTP, status, d, None);
    let token = c
        .header("authorization")
        .and_then(|h| {
            let (scheme, rest) = h.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim().to_string())
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(|| auth401(a::JWT_MISSING))?;
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    v.validate_exp = false;
    v.leeway = 0;
    v.set_audience(&["account"]);
    v.set_issuer(&[a::JWT_ISSUER]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    let data = jsonwebtoken::decode::<Claims>(
        &token,
        &jsonwebtoken::DecodingKey::from_secret(&sh.secret),
        &v,
    )
    .map_err(|e| {
        use jsonwebtoken::errors::ErrorKind as K;
        auth401(match e.kind() {
            K::InvalidAlgorithm | K::InvalidAlgorithmName | K::MissingAlgorithm => a::JWT_ALGORITHM,
            K::MissingRequiredClaim(_)
            | K::InvalidIssuer
            | K::InvalidAudience
            | K::InvalidSubject
            | K::ImmatureSignature => a::JWT_CLAIM,
            _ => a::JWT_SIGNATURE,
        })
    })?;
    let cl = data.claims;
    if device::now_unix() >= cl.exp || sh.state.lock().expired_jti.contains(&cl.jti) {
        return Err(auth401(a::JWT_EXPIRED));
    }
    if cl.client_id.is_empty() {
        return Err(auth401(a::JWT_CLAIM));
    }
    Ok(cl.client_id)
}

// ---------------------------------------------------------------------------------------
// Client settings

fn settings(sh: &Shared, c: &Call, client: &str) -> Reply {
    if c.method == Method::GET {
        let st = sh.state.lock();
        let url = st.settings.get(client).map(|s| s.callback_url.clone());
        return ok(
            "Your client settings has been fetched successfully",
            json!({"callbackUrl": url}),
        );
    }
    let Some(body) = c.json() else {
        return err(a::WRONG_DATA_FORMAT);
    };
    let Some(url) = body.get("callbackUrl").and_then(Value::as_str) else {
        return err(a::WRONG_DATA_FORMAT);
    };
    let auth = body
        .get("callbackAuthHeader")
        .and_then(Value::as_str)
        .map(str::to_string);
    sh.state.lock().settings.insert(
        client.to_string(),
        Settings {
            callback_url: url.to_string(),
            callback_auth: auth,
        },
    );
    reply(
        200,
        0,
        "Your client settings has been set successfully",
        None,
    )
}

// ---------------------------------------------------------------------------------------
// Baskets

/// Exactly one context header, which must be `want` (index into [`context`]).
fn one_header(sh: &Shared, c: &Call, want: usize) -> Result<String, Reply> {
    let ctx = context(sh, c);
    if ctx.iter().flatten().count() > 1 {
        return Err(err(a::MANY_CONTEXT_HEADERS));
    }
    ctx[want].clone().ok_or_else(|| err(NO_CONTEXT))
}

/// Terminal `id` must exist (1106) and be usable by `client` (403).
fn check_terminal(st: &device::State, id: &str, client: &str) -> Result<(), Reply> {
    match st.terminal(id) {
        None => Err(err(a::NO_DEVICE)),
        Some(t) if !device::usable_by(&t.cfg, client) => Err(err(FORBIDDEN)),
        Some(_) => Ok(()),
    }
}

/// Branch `id` must have a terminal usable by `client` (else 403).
fn check_branch(st: &device::State, id: &str, client: &str) -> Result<(), Reply> {
    if st
        .terminals
        .iter()
        .any(|t| t.cfg.branch_id == id && device::usable_by(&t.cfg, client))
    {
        Ok(())
    } else {
        Err(err(FORBIDDEN))
    }
}

fn totals_match(b: &Value) -> bool {
    device::payments(b).is_empty() || device::payment_total(b) == device::basket_total(b)
}

fn post_basket(sh: &Arc<Shared>, c: &Call, client: &str, instant: bool) -> Reply {
    let ctx = match one_header(sh, c, if instant { 0 } else { 1 }) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (rep, schedule) = {
        let mut st = sh.state.lock();
        if st.faults.basket_post_5xx > 0 {
            st.faults.basket_post_5xx -= 1;
            return err(a::SERVER_ERROR);
        }
        let checked = if instant {
            check_terminal(&st, &ctx, client)
        } else {
            check_branch(&st, &ctx, client)
        };
        if let Err(r) = checked {
            return r;
        }
        let Some(body) = c.json() else {
            return err(a::WRONG_DATA_FORMAT);
        };
        let Some(id) = body
            .get("basketID")
            .and_then(Value::as_str)
            .map(str::to_string)
            .filter(|s| !s.is_empty())
        else {
            return err(a::WRONG_DATA_FORMAT);
        };
        if let Some(i) = st.find(&id) {
            st.baskets[i].public.creations += 1;
            return err(a::DUPLICATE_ID);
        }
        if instant {
            let t = st.terminal(&ctx).expect("checked above");
            if !t.cfg.instant {
                return err(NOT_INSTANT);
            }
            if st.open_instant(&ctx).is_some() {
                return err(OPEN_BASKET_EXISTS);
            }
        }
        if !totals_match(&body) {
            return err(a::TOTAL_MISMATCH);
        }
        let branch = if instant {
            st.terminal(&ctx).map(|t| t.cfg.branch_id.clone())
        } else {
            Some(ctx.clone())
        };
        let now = device::now_rfc3339();
        let rec = BasketRec {
            public: CloudBasket {
                id: id.clone(),
                terminal_id: instant.then(|| ctx.clone()),
                branch_id: branch,
                instant,
                state: BasketState::Open,
                locked_by: None,
                creations: 1,
                body,
            },
            client_id: client.to_string(),
            created_at: now.clone(),
            updated_at: now,
            deleted_at: None,
            sale: None,
        };
        let result = device::basket_json(&rec);
        st.insert(rec);
        let rep = if st.faults.basket_post_5xx_after_create > 0 {
            st.faults.basket_post_5xx_after_create -= 1;
            err(a::SERVER_ERROR)
        } else {
            let d = if instant {
                "Instant Basket Record Successfully Created"
            } else {
                "Basket Record Successfully Created"
            };
            reply(201, 0, d, Some(result))
        };
        (rep, instant.then(|| (id, st.device_delay)))
    };
    if let Some((id, delay)) = schedule {
        device::schedule_instant(sh, id, delay);
    }
    rep
}

/// Index of the basket `id` of `client` that is not deleted, or the 404 reply.
fn own_basket(st: &device::State, client: &str, id: &str) -> Result<usize, Reply> {
    match st.find(id) {
        Some(i)
            if st.baskets[i].public.state != BasketState::Deleted
                && (st.baskets[i].client_id == client || !a::FOREIGN_BASKET_IS_NOT_FOUND) =>
        {
            Ok(i)
        }
        _ => Err(err(NO_BASKET)),
    }
}

fn get_basket(sh: &Shared, client: &str, id: &str) -> Reply {
    let st = sh.state.lock();
    match own_basket(&st, client, id) {
        Ok(i) => ok(
            "Successfully Fetched the Basket",
            device::basket_json(&st.baskets[i]),
        ),
        Err(r) => r,
    }
}

/// PUT and unlock take `branch-id` (list mode); `terminal-id` is accepted as well.
fn any_one_header(sh: &Shared, c: &Call) -> Result<(), Reply> {
    let ctx = context(sh, c);
    match ctx.iter().flatten().count() {
        0 => Err(err(NO_CONTEXT)),
        1 => Ok(()),
        _ => Err(err(a::MANY_CONTEXT_HEADERS)),
    }
}

fn put_basket(sh: &Shared, c: &Call, client: &str, id: &str) -> Reply {
    if let Err(r) = any_one_header(sh, c) {
        return r;
    }
    let mut st = sh.state.lock();
    let i = match own_basket(&st, client, id) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let Some(mut body) = c.json() else {
        return err(a::WRONG_DATA_FORMAT);
    };
    let rec = &mut st.baskets[i];
    if rec.public.state != BasketState::Open {
        return err(BAD_STATE);
    }
    if rec.public.locked_by.is_some() {
        return err(LOCKED);
    }
    body["basketID"] = json!(id);
    if !totals_match(&body) {
        return err(a::TOTAL_MISMATCH);
    }
    rec.public.body = body;
    rec.updated_at = device::now_rfc3339();
    ok(
        "Basket Record Successfully Updated",
        device::basket_json(rec),
    )
}

fn delete_basket(sh: &Shared, client: &str, id: &str) -> Reply {
    let mut st = sh.state.lock();
    let i = match own_basket(&st, client, id) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let rec = &mut st.baskets[i];
    if rec.public.state != BasketState::Open {
        return err(BAD_STATE);
    }
    if rec.public.locked_by.is_some() {
        return err(LOCKED);
    }
    let now = device::now_rfc3339();
    rec.public.state = BasketState::Deleted;
    rec.deleted_at = Some(now.clone());
    rec.updated_at = now;
    reply(200, 0, "Basket has been deleted successfully", None)
}

fn api_unlock(sh: &Shared, c: &Call, client: &str) -> Reply {
    if let Err(r) = any_one_header(sh, c) {
        return r;
    }
    let Some(body) = c.json() else {
        return err(a::WRONG_DATA_FORMAT);
    };
    let id = body.get("basketID").and_then(Value::as_str).unwrap_or("");
    let mut st = sh.state.lock();
    // Unknown (or another client's) basket: 200 / 0 all the same, as the official sample.
    if let Ok(i) = own_basket(&st, client, id) {
        let rec = &mut st.baskets[i];
        if rec.public.locked_by.take().is_some() {
            rec.updated_at = device::now_rfc3339();
        }
    }
    reply(200, 0, "Unlock Operation Successfully Completed", None)
}

fn open_baskets(sh: &Shared, c: &Call, client: &str) -> Reply {
    let tid = match one_header(sh, c, 0) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let st = sh.state.lock();
    if let Err(r) = check_terminal(&st, &tid, client) {
        return r;
    }
    let branch = st.terminal(&tid).map(|t| t.cfg.branch_id.clone());
    // The terminal's own instant basket and the open list baskets of its branch.
    let list: Vec<Value> = st
        .baskets
        .iter()
        .filter(|b| b.public.state == BasketState::Open && b.client_id == client)
        .filter(|b| {
            if b.public.instant {
                b.public.terminal_id.as_deref() == Some(tid.as_str())
            } else {
                b.public.branch_id == branch
            }
        })
        .map(device::open_basket_json)
        .collect();
    ok("Successfully Fetched Open Baskets", Value::Array(list))
}

// ---------------------------------------------------------------------------------------
// Fiscal parameters, terminals

fn fiscal(sh: &Shared, c: &Call, client: &str) -> Reply {
    let tid = match one_header(sh, c, 0) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let st = sh.state.lock();
    if let Err(r) = check_terminal(&st, &tid, client) {
        return r;
    }
    ok(
        "Successfully Fetched Fiscal Parameters",
        device::fiscal_parameters(&tid),
    )
}

fn terminals(sh: &Shared, c: &Call, client: &str) -> Reply {
    let [t, mut b, mut m] = context(sh, c);
    // 0.2.0 took these as query parameters; accept both.
    if b.is_none() {
        b = c.query_param("branchId");
    }
    if m.is_none() {
        m = c.query_param("merchantId");
    }
    let n = [&t, &b, &m].iter().filter(|x| x.is_some()).count();
    if n == 0 {
        return err(NO_CONTEXT);
    }
    if n > 1 {
        return err(a::MANY_CONTEXT_HEADERS);
    }
    let st = sh.state.lock();
    if let Some(t) = &t {
        if let Err(r) = check_terminal(&st, t, client) {
            return r;
        }
    }
    let list: Vec<Value> = st
        .terminals
        .iter()
        .filter(|x| device::usable_by(&x.cfg, client))
        .filter(|x| {
            t.as_deref().map_or(true, |t| x.cfg.id == t)
                && b.as_deref().map_or(true, |b| x.cfg.branch_id == b)
                && m.as_deref().map_or(true, |m| x.cfg.merchant_id == m)
        })
        .map(|x| {
            json!({
                "id": x.cfg.id,
                "branchId": x.cfg.branch_id,
                "mode": if x.cfg.instant { a::MODE_INSTANT } else { a::MODE_LIST },
            })
        })
        .collect();
    ok("Terminal List Successfully Fetched", Value::Array(list))
}

fn terminal_org(sh: &Shared, c: &Call, client: &str, id: &str) -> Reply {
    if let Err(r) = one_header(sh, c, 0) {
        return r;
    }
    let st = sh.state.lock();
    match st.terminal(id) {
        None => err(NO_RECORD),
        Some(t) if !device::usable_by(&t.cfg, client) => err(FORBIDDEN),
        Some(t) => ok(
            "POS's organization returned successfully.",
            json!({
                "terminalId": t.cfg.id,
                "branchId": t.cfg.branch_id,
                "merchantId": t.cfg.merchant_id,
            }),
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Control API

fn control(sh: &Arc<Shared>, method: &Method, path: &str, query: &str, body: &[u8]) -> Response {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    if let Some((code, v)) = energy::control(sh, method, &segs, body) {
        return status_json(code, v);
    }
    let ms = |t: std::time::Instant| t.saturating_duration_since(sh.started).as_millis() as u64;
    let body = match (method.as_str(), segs.as_slice()) {
        ("POST", ["baskets", id, op]) => {
            let applied = match *op {
                "complete" => device::finish(sh, id, device::Finish::Complete),
                "cancel" => device::finish(sh, id, device::Finish::Cancel),
                "void" => device::finish(sh, id, device::Finish::Void),
                "unlock" => device::unlock(sh, id),
                "lock" => {
                    let term = query.split('&').find_map(|kv| kv.strip_prefix("terminal="));
                    match term {
                        Some(t) => device::lock(sh, id, t),
                        None => {
                            return status_json(
                                400,
                                json!({"ok": false, "error": "lock needs ?terminal=ID"}),
                            )
                        }
                    }
                }
                _ => return status_json(404, json!({"ok": false, "error": "unknown operation"})),
            };
            json!({"ok": applied})
        }
        ("GET", ["requests"]) => {
            let st = sh.state.lock();
            Value::Array(
                st.requests
                    .iter()
                    .map(|r| {
                        json!({
                            "method": r.method, "path": r.path, "query": r.query,
                            "headers": r.headers.iter().map(|(n, v)| json!([n, v])).collect::<Vec<_>>(),
                            "body": r.body, "httpStatus": r.http_status, "apiStatus": r.api_status,
                            "atMs": ms(r.at),
                        })
                    })
                    .collect(),
            )
        }
        ("GET", ["webhooks"]) => {
            let st = sh.state.lock();
            Value::Array(
                st.webhooks
                    .iter()
                    .map(|w| {
                        json!({
                            "url": w.url, "authorization": w.authorization, "operation": w.operation,
                            "basketId": w.basket_id, "body": w.body, "attempt": w.attempt,
                            "responseStatus": w.response_status, "atMs": ms(w.at),
                        })
                    })
                    .collect(),
            )
        }
        ("POST", ["tokens", "expire"]) => {
            expire_tokens(sh);
            json!({"ok": true})
        }
        ("GET", ["baskets"]) => {
            let st = sh.state.lock();
            Value::Array(
                st.baskets
                    .iter()
                    .map(|b| {
                        let mut v = device::basket_json(b);
                        v["simState"] = json!(format!("{:?}", b.public.state));
                        v
                    })
                    .collect(),
            )
        }
        _ => return status_json(404, json!({"ok": false, "error": "unknown control path"})),
    };
    status_json(200, body)
}

fn status_json(code: u16, v: Value) -> Response {
    to_response(Reply {
        http: code,
        body: v,
        retry_after: None,
        drop: false,
    })
}

/// Every token issued so far is expired from now on (401 / 2).
pub(super) fn expire_tokens(sh: &Shared) {
    let mut st = sh.state.lock();
    let issued = std::mem::take(&mut st.issued_jti);
    st.expired_jti.extend(issued);
}
