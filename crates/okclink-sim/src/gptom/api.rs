//! The HTTP side: one fallback handler that routes by method and path itself (so unknown
//! paths, the request log and the faults are in one place), the token endpoint, the task
//! endpoints, and the control API under `/_sim/`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use serde::Serialize;
use serde_json::{json, Value};

use super::assumptions as a;
use super::engine::{self, RefreshRec, State, TokenRec};
use super::{GptomFaults, GptomRequest, Shared, TaskKind, TaskMode, TaskOutcome};
use crate::killable::ConnKill;

pub(crate) fn router(sh: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(sh)
}

/// A reply: HTTP status and JSON body; `drop` = close the connection instead.
struct Reply {
    http: u16,
    body: Value,
    drop: bool,
    www_authenticate: Option<&'static str>,
}

fn reply(http: u16, body: Value) -> Reply {
    Reply {
        http,
        body,
        drop: false,
        www_authenticate: None,
    }
}

/// An OAuth2-style error (`{"error", "error_description"}`).
fn oauth_err((http, error, description): (u16, &str, &str)) -> Reply {
    let mut r = reply(
        http,
        json!({"error": error, "error_description": description}),
    );
    if http == 401 {
        r.www_authenticate = Some(if error == "unauthorized" {
            "Basic realm=\"oauth2/client\""
        } else {
            "Bearer realm=\"oauth2-resource\", error=\"invalid_token\""
        });
    }
    r
}

/// An API error (`{"code", "message"}`).
fn api_err((http, code): (u16, &str), message: impl Into<String>) -> Reply {
    reply(http, json!({"code": code, "message": message.into()}))
}

async fn handle(
    AxState(sh): AxState<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnKill>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 4 << 20)
        .await
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    if let Some(r) = path.strip_prefix("/_sim/") {
        return control(&sh, &parts.method, r, &query);
    }
    let call = Call {
        method: parts.method.clone(),
        headers: parts.headers.clone(),
        query: query.clone(),
        body: bytes.to_vec(),
    };
    let rep = api(&sh, &call, &path).await;
    let error_code = rep
        .body
        .get("code")
        .or_else(|| rep.body.get("error"))
        .and_then(Value::as_str)
        .map(str::to_string);
    sh.state.lock().requests.push(GptomRequest {
        method: parts.method.to_string(),
        path,
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
        error_code: if rep.drop { None } else { error_code },
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
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    if let Some(w) = rep.www_authenticate {
        r.headers_mut()
            .insert("www-authenticate", HeaderValue::from_static(w));
    }
    r
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// `application/x-www-form-urlencoded` / query decoding (`+` = space, `%XX`).
fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `name=value` pairs of a query string or form body, decoded.
fn pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (url_decode(k), url_decode(v))
        })
        .collect()
}

fn param(list: &[(String, String)], name: &str) -> Option<String> {
    list.iter()
        .find(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v.clone())
}

struct Call {
    method: Method,
    headers: HeaderMap,
    query: String,
    body: Vec<u8>,
}

impl Call {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    }

    /// The credential after `scheme` in `Authorization` (scheme case-insensitive).
    fn authorization(&self, scheme: &str) -> Option<String> {
        let h = self.header("authorization")?;
        let (s, rest) = h.split_once(' ')?;
        s.eq_ignore_ascii_case(scheme)
            .then(|| rest.trim().to_string())
            .filter(|r| !r.is_empty())
    }

    fn query_param(&self, name: &str) -> Option<String> {
        param(&pairs(&self.query), name)
    }
}

async fn api(sh: &Arc<Shared>, c: &Call, path: &str) -> Reply {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    match (c.method.as_str(), segs.as_slice()) {
        ("POST", [root, "oauth", "token"])
            if a::REFRESH_PATHS.contains(&format!("/{root}/oauth/token").as_str()) =>
        {
            token(sh, c).await
        }
        ("POST", ["v1", "tasks", ty]) => create(sh, c, ty),
        ("GET", ["v1", "tasks"]) => list(sh, c),
        ("GET", ["v1", "tasks", id]) => detail(sh, c, id),
        _ => api_err(a::ERR_NO_ROUTE, format!("No route {} {path}", c.method)),
    }
}

// ---------------------------------------------------------------------------------------
// Tokens

#[derive(Serialize)]
struct Claims<'a> {
    user_name: &'a str,
    tid: Option<&'a str>,
    scope: [&'a str; 2],
    client_id: &'a str,
    jti: String,
    iat: u64,
    exp: u64,
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Issue an access token (and a refresh token unless `refresh` is reused) for
/// `username` on `tid` (`None` = master).
fn issue(
    sh: &Shared,
    st: &mut State,
    username: &str,
    tid: Option<String>,
    refresh: Option<String>,
) -> Reply {
    let now = SystemTime::now();
    let ttl = st.token_ttl.max(Duration::from_secs(1));
    let exp = now + ttl;
    let claims = Claims {
        user_name: username,
        tid: tid.as_deref(),
        scope: ["read", "write"],
        client_id: a::JWT_CLIENT_ID,
        jti: uuid::Uuid::new_v4().to_string(),
        iat: unix(now),
        exp: unix(exp),
    };
    let Ok(access) = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&sh.secret),
    ) else {
        return api_err(a::ERR_SERVER, "token signing failed");
    };
    st.tokens.insert(
        access.clone(),
        TokenRec {
            tid: tid.clone(),
            expires: exp,
            expired: false,
        },
    );
    let refresh = match refresh {
        Some(r) => r,
        None => {
            let r = uuid::Uuid::new_v4().to_string();
            st.refresh.insert(
                r.clone(),
                RefreshRec {
                    username: username.to_string(),
                    tid: tid.clone(),
                    expires: now + a::REFRESH_TTL,
                    revoked: false,
                },
            );
            r
        }
    };
    reply(
        200,
        json!({
            "access_token": access,
            "token_type": "bearer",
            "refresh_token": refresh,
            "expires_in": ttl.as_secs(),
            "scope": "read write",
            "tid": tid,
        }),
    )
}

async fn token(sh: &Arc<Shared>, c: &Call) -> Reply {
    let slow = sh.state.lock().faults.slow_auth;
    if !slow.is_zero() {
        tokio::time::sleep(slow).await;
    }
    let mut st = sh.state.lock();
    if c.authorization("basic").as_deref() != Some(st.client_basic.as_str()) {
        return oauth_err(a::BAD_CLIENT);
    }
    let form = pairs(&String::from_utf8_lossy(&c.body));
    match param(&form, "grant_type").as_deref() {
        Some("password") => {
            let (Some(user), Some(password)) = (param(&form, "username"), param(&form, "password"))
            else {
                return oauth_err(a::BAD_CREDENTIALS);
            };
            let mut tid = param(&form, "tid");
            if !st.accept_any {
                let Some(acc) = st
                    .accounts
                    .iter()
                    .find(|x| x.username == user && x.password == password)
                else {
                    return oauth_err(a::BAD_CREDENTIALS);
                };
                if let Some(own) = &acc.tid {
                    if tid.as_ref().is_some_and(|t| t != own) {
                        return oauth_err(a::BAD_CREDENTIALS);
                    }
                    tid = Some(own.clone());
                }
            }
            if tid.is_none() && !a::NO_TID_IS_MASTER {
                return oauth_err(a::BAD_CREDENTIALS);
            }
            issue(sh, &mut st, &user, tid, None)
        }
        Some("refresh_token") => {
            let Some(rt) = param(&form, "refresh_token") else {
                return oauth_err(a::BAD_REFRESH);
            };
            let (user, tid) = match st.refresh.get(&rt) {
                Some(r) if !r.revoked && SystemTime::now() < r.expires => {
                    (r.username.clone(), r.tid.clone())
                }
                _ => return oauth_err(a::BAD_REFRESH),
            };
            let reuse = (!a::REFRESH_ROTATES).then_some(rt);
            issue(sh, &mut st, &user, tid, reuse)
        }
        _ => oauth_err(a::BAD_GRANT),
    }
}

/// The TID of a valid bearer token (`None` = master account), or the 401 reply.
fn bearer(st: &State, c: &Call) -> Result<Option<String>, Reply> {
    let Some(token) = c.authorization("bearer") else {
        return Err(oauth_err(a::NO_BEARER));
    };
    match st.tokens.get(&token) {
        None => Err(oauth_err(a::UNKNOWN_TOKEN)),
        Some(t) if t.expired || SystemTime::now() >= t.expires => Err(oauth_err(a::EXPIRED_TOKEN)),
        Some(t) => Ok(t.tid.clone()),
    }
}

// ---------------------------------------------------------------------------------------
// Tasks

/// The TID a call is for: the token's, or for a master token the body's `tid` / `?tid=`.
fn resolve_tid(token_tid: Option<String>, body: &Value, c: &Call) -> Result<String, Reply> {
    let body_tid = match body.get("tid") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(_) => return Err(api_err(a::ERR_VALIDATION, "tid must be a non-empty string")),
    };
    let query_tid = c.query_param("tid");
    if let (Some(b), Some(q)) = (&body_tid, &query_tid) {
        if b != q {
            return Err(api_err(
                a::ERR_VALIDATION,
                format!("tid {b} in the body, {q} in the query"),
            ));
        }
    }
    let wanted = body_tid.or(query_tid);
    match token_tid {
        None => {
            wanted.ok_or_else(|| api_err(a::ERR_TID_REQUIRED, "A master account must name the TID"))
        }
        Some(own) => match wanted {
            Some(w) if w != own => Err(api_err(
                a::ERR_FORBIDDEN_TID,
                format!("TID {w} does not belong to this login"),
            )),
            _ => Ok(own),
        },
    }
}

type Invalid = ((u16, &'static str), String);

fn invalid(e: (u16, &'static str), m: impl Into<String>) -> Invalid {
    (e, m.into())
}

/// An optional field: absent or null → `None`.
fn opt<'v>(body: &'v Value, k: &str) -> Option<&'v Value> {
    body.get(k).filter(|v| !v.is_null())
}

fn check_bool(body: &Value, k: &str) -> Result<(), Invalid> {
    match opt(body, k) {
        Some(v) if !v.is_boolean() => {
            Err(invalid(a::ERR_VALIDATION, format!("{k} must be a boolean")))
        }
        _ => Ok(()),
    }
}

/// An integer (not a float) in JSON.
fn as_int(v: &Value) -> Option<i64> {
    if v.is_i64() || v.is_u64() {
        v.as_i64()
    } else {
        None
    }
}

/// `CreateCloudTaskTransactionApiRequest` checks (spec §4.1, §6). Returns the type.
fn validate_transaction(body: &Value) -> Result<String, Invalid> {
    let ty = match body.get("transactionType") {
        Some(Value::String(s)) if engine::type_number(s).is_some() => s.clone(),
        _ => {
            return Err(invalid(
                a::ERR_VALIDATION,
                "transactionType must be SALE, VOID or REFUND",
            ))
        }
    };
    match opt(body, "amount") {
        None if ty != "VOID" => {
            return Err(invalid(a::ERR_AMOUNT, "amount (minor units) is required"))
        }
        None => {}
        Some(v) => match as_int(v) {
            Some(n) if n > 0 => {}
            _ => {
                return Err(invalid(
                    a::ERR_AMOUNT,
                    "amount must be a positive integer in minor units",
                ))
            }
        },
    }
    if let Some(v) = opt(body, "tipAmount") {
        if !as_int(v).is_some_and(|n| n >= 0) {
            return Err(invalid(
                a::ERR_AMOUNT,
                "tipAmount must be a non-negative integer in minor units",
            ));
        }
    }
    if let Some(v) = opt(body, "currencyCode") {
        let ok = v
            .as_str()
            .is_some_and(|s| s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()));
        if !ok {
            return Err(invalid(
                a::ERR_VALIDATION,
                "currencyCode must be an ISO 4217 alphabetic code",
            ));
        }
    }
    if let Some(v) = opt(body, "originReferenceNum") {
        let ok = v.as_str().is_some_and(|s| {
            s.chars().count() <= a::REFERENCE_MAX_CHARS
                && s.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || a::REFERENCE_EXTRA_CHARS.contains(ch))
        });
        if !ok {
            return Err(invalid(
                a::ERR_REFERENCE,
                format!(
                    "originReferenceNum: at most {} letters, digits or spaces, no diacritics",
                    a::REFERENCE_MAX_CHARS
                ),
            ));
        }
    }
    check_bool(body, "printByPaymentApp")?;
    match opt(body, "originTransactionID") {
        Some(Value::String(s)) if !s.is_empty() => {}
        None if ty != "VOID" => {}
        _ => {
            return Err(invalid(
                a::ERR_VALIDATION,
                "originTransactionID (a string) is required for VOID",
            ))
        }
    }
    if let Some(v) = opt(body, "cancelMode") {
        if !as_int(v).is_some_and(|n| a::CANCEL_MODES.contains(&n)) {
            return Err(invalid(a::ERR_VALIDATION, "cancelMode must be 1 or 2"));
        }
    }
    if let Some(v) = opt(body, "clientID") {
        if !v.is_string() {
            return Err(invalid(a::ERR_VALIDATION, "clientID must be a string"));
        }
    }
    Ok(ty)
}

fn create(sh: &Arc<Shared>, c: &Call, ty: &str) -> Reply {
    let mut st = sh.state.lock();
    let token_tid = match bearer(&st, c) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let kind = match ty {
        "TRANSACTION" => TaskKind::Transaction,
        "BATCH" => TaskKind::Batch,
        _ => {
            return api_err(
                a::ERR_TASK_TYPE,
                format!("Task type {ty} (TRANSACTION or BATCH)"),
            )
        }
    };
    let body = if kind == TaskKind::Batch && c.body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice::<Value>(&c.body) {
            Ok(v) if v.is_object() => v,
            _ => return api_err(a::ERR_INVALID_JSON, "The body must be a JSON object"),
        }
    };
    let tid = match resolve_tid(token_tid, &body, c) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if st.faults.create_5xx > 0 {
        st.faults.create_5xx -= 1;
        return api_err(a::ERR_SERVER, "Internal server error");
    }
    let checked = match kind {
        TaskKind::Transaction => validate_transaction(&body).and_then(|ty| {
            if ty == "VOID" {
                let origin = body["originTransactionID"].as_str().unwrap_or_default();
                st.check_void(origin, &tid)
            } else {
                Ok(())
            }
        }),
        TaskKind::Batch => check_bool(&body, "printByPaymentApp"),
    };
    if let Err((e, m)) = checked {
        return api_err(e, m);
    }
    let (i, fresh) = st.create_task(kind, &tid, body);
    let detail = st.detail_json(i);
    let rep = if st.faults.create_drop_after_create > 0 {
        st.faults.create_drop_after_create -= 1;
        Reply {
            drop: true,
            ..reply(201, detail)
        }
    } else if st.faults.create_5xx_after_create > 0 {
        st.faults.create_5xx_after_create -= 1;
        api_err(a::ERR_SERVER, "Internal server error")
    } else {
        reply(201, detail)
    };
    drop(st);
    if let Some(n) = fresh {
        engine::spawn_device(sh, tid, n);
    }
    rep
}

fn detail(sh: &Shared, c: &Call, id: &str) -> Reply {
    let st = sh.state.lock();
    let token_tid = match bearer(&st, c) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Some(i) = st.find(id) else {
        return api_err(a::ERR_TASK_NOT_FOUND, format!("No task {id}"));
    };
    let tid = st.task(id).map(|t| t.tid.as_str()).unwrap_or_default();
    if token_tid.as_deref().is_some_and(|own| own != tid) {
        return api_err(
            a::ERR_FORBIDDEN_TID,
            format!("Task {id} belongs to another TID"),
        );
    }
    reply(200, st.detail_json(i))
}

fn list(sh: &Shared, c: &Call) -> Reply {
    let st = sh.state.lock();
    let token_tid = match bearer(&st, c) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let tid = match resolve_tid(token_tid, &json!({}), c) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let list: Vec<Value> = st
        .tasks_of(&tid)
        .into_iter()
        .take(a::LIST_LIMIT)
        .map(|i| st.detail_json(i))
        .collect();
    reply(200, Value::Array(list))
}

// ---------------------------------------------------------------------------------------
// Control API

fn config_json(st: &State) -> Value {
    json!({
        "mode": st.mode.name(),
        "outcome": st.outcome.name(),
        "taskMs": st.task_time.as_millis() as u64,
        "tokenTtlS": st.token_ttl.as_secs(),
        "acceptAny": st.accept_any,
    })
}

fn faults_json(f: &GptomFaults) -> Value {
    json!({
        "create_5xx": f.create_5xx,
        "create_5xx_after_create": f.create_5xx_after_create,
        "create_drop_after_create": f.create_drop_after_create,
        "slow_auth_ms": f.slow_auth.as_millis() as u64,
        "device_offline": f.device_offline,
        "sic_transaction_id": f.sic_transaction_id,
    })
}

/// Apply `name=value` fault settings; `Err` names the first bad one.
fn set_faults(f: &mut GptomFaults, q: &[(String, String)]) -> Result<(), String> {
    for (k, v) in q {
        let n = || {
            v.parse::<u64>()
                .map_err(|_| format!("{k}: {v:?} is not a number"))
        };
        let b = || match v.as_str() {
            "true" | "1" | "on" => Ok(true),
            "false" | "0" | "off" => Ok(false),
            _ => Err(format!("{k}: {v:?} is not a boolean")),
        };
        match k.as_str() {
            "create_5xx" => f.create_5xx = n()? as u32,
            "create_5xx_after_create" => f.create_5xx_after_create = n()? as u32,
            "create_drop_after_create" => f.create_drop_after_create = n()? as u32,
            "slow_auth_ms" => f.slow_auth = Duration::from_millis(n()?),
            "device_offline" => f.device_offline = b()?,
            "sic_transaction_id" => f.sic_transaction_id = b()?,
            _ => return Err(format!("unknown fault {k:?}")),
        }
    }
    Ok(())
}

/// Apply `mode`, `outcome`, `task_ms`, `token_ttl_s`; `Err` names the first bad one.
fn set_config(st: &mut State, q: &[(String, String)]) -> Result<(), String> {
    for (k, v) in q {
        let n = || {
            v.parse::<u64>()
                .map_err(|_| format!("{k}: {v:?} is not a number"))
        };
        match k.as_str() {
            "mode" => st.mode = TaskMode::parse(v).ok_or(format!("mode: {v:?}"))?,
            "outcome" => st.outcome = TaskOutcome::parse(v).ok_or(format!("outcome: {v:?}"))?,
            "task_ms" => st.task_time = Duration::from_millis(n()?),
            "token_ttl_s" => st.token_ttl = Duration::from_secs(n()?.max(1)),
            _ => return Err(format!("unknown setting {k:?}")),
        }
    }
    Ok(())
}

fn control(sh: &Arc<Shared>, method: &Method, path: &str, query: &str) -> Response {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let q = pairs(query);
    let ms = |t: std::time::Instant| t.saturating_duration_since(sh.started).as_millis() as u64;
    let bad = |e: String| status_json(400, json!({"ok": false, "error": e}));
    let mut st = sh.state.lock();
    let body = match (method.as_str(), segs.as_slice()) {
        ("POST", ["tasks", id, "tap"]) => json!({"ok": st.tap(id)}),
        ("POST", ["tasks", id, "finish"]) => {
            let o = param(&q, "outcome").unwrap_or_else(|| "approve".into());
            match TaskOutcome::parse(&o) {
                Some(o) => json!({"ok": st.finish(id, o)}),
                None => return bad(format!("outcome: {o:?} (approve|decline|cancel|fail)")),
            }
        }
        ("POST", ["transactions", id, "age"]) => {
            match param(&q, "days").and_then(|d| d.parse::<u32>().ok()) {
                Some(d) => json!({"ok": st.age(id, d)}),
                None => return bad("age needs ?days=N".into()),
            }
        }
        ("POST", ["tokens", "expire"]) => {
            st.expire_tokens();
            json!({"ok": true})
        }
        ("POST", ["tokens", "revoke-refresh"]) => {
            st.revoke_refresh_tokens();
            json!({"ok": true})
        }
        ("GET", ["config"]) => config_json(&st),
        ("POST", ["config"]) => {
            if let Err(e) = set_config(&mut st, &q) {
                return bad(e);
            }
            st.wake_all();
            config_json(&st)
        }
        ("GET", ["faults"]) => faults_json(&st.faults),
        ("POST", ["faults"]) => {
            let mut f = st.faults.clone();
            if let Err(e) = set_faults(&mut f, &q) {
                return bad(e);
            }
            st.faults = f;
            st.wake_all();
            faults_json(&st.faults)
        }
        ("POST", ["faults", "clear"]) => {
            st.faults = GptomFaults::default();
            st.wake_all();
            faults_json(&st.faults)
        }
        ("GET", ["requests"]) => Value::Array(
            st.requests
                .iter()
                .map(|r| {
                    json!({
                        "method": r.method, "path": r.path, "query": r.query,
                        "headers": r.headers.iter().map(|(n, v)| json!([n, v])).collect::<Vec<_>>(),
                        "body": r.body, "httpStatus": r.http_status, "errorCode": r.error_code,
                        "atMs": ms(r.at),
                    })
                })
                .collect(),
        ),
        ("GET", ["tasks"]) => Value::Array(
            st.tasks()
                .iter()
                .filter_map(|t| {
                    let mut v = st.detail_json(st.find(&t.id)?);
                    v["simTapped"] = json!(t.tapped);
                    v["simOutcome"] = json!(t.outcome.map(TaskOutcome::name));
                    Some(v)
                })
                .collect(),
        ),
        ("GET", ["transactions"]) => Value::Array(
            st.transactions
                .iter()
                .map(|t| {
                    json!({
                        "transactionID": t.id, "externalTransactionID": t.external_id,
                        "taskId": t.task_id, "tid": t.tid, "transactionType": t.kind,
                        "amount": t.amount, "tipAmount": t.tip_amount, "currencyCode": t.currency,
                        "result": t.result, "batchNumber": t.batch_number,
                        "originReferenceNum": t.reference, "originTransactionID": t.origin_id,
                        "voidedBy": t.voided_by, "at": engine::rfc3339(t.at),
                    })
                })
                .collect(),
        ),
        _ => return status_json(404, json!({"ok": false, "error": "unknown control path"})),
    };
    status_json(200, body)
}

fn status_json(code: u16, v: Value) -> Response {
    to_response(reply(code, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_forms() {
        assert_eq!(url_decode("a+b%20c%2Bd"), "a b c+d");
        assert_eq!(url_decode("100%"), "100%");
        assert_eq!(url_decode("%zz"), "%zz");
        assert_eq!(url_decode("%C5%A1"), "š");
        let p = pairs("grant_type=password&username=me%40x&tid=&password=p+w");
        assert_eq!(param(&p, "username").as_deref(), Some("me@x"));
        assert_eq!(param(&p, "password").as_deref(), Some("p w"));
        assert_eq!(param(&p, "tid"), None);
    }
}
