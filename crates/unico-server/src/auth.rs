//! Logins, sessions and the check every route passes through.
//!
//! A token is `<tenant>.<64 hex>`: the tenant part picks the data directory, whose store
//! holds the SHA-256 of the rest. API clients send `Authorization: Bearer <token>`; a page
//! in a browser gets the same token in an HttpOnly, SameSite=Strict cookie, and a request
//! that changes anything with that cookie must repeat the `unico_csrf` cookie's value in
//! an `X-CSRF-Token` header (a double-submit check: another site's page can make the
//! browser send the cookie, but cannot read it to copy it into the header).

use crate::access::{Access, access};
use crate::error::{ApiError, ApiResult};
use crate::{State, Tenant};
use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use unico_app::Code;
use unico_app::staff::{Caller, Role};
use utoipa::ToSchema;

/// The session cookie.
pub const SESSION_COOKIE: &str = "unico_session";
/// The CSRF cookie, readable by the page, to copy into `X-CSRF-Token`.
pub const CSRF_COOKIE: &str = "unico_csrf";

/// Login attempts allowed per e-mail and per client address.
pub struct Limiter {
    by_email: DefaultKeyedRateLimiter<String>,
    by_address: DefaultKeyedRateLimiter<String>,
}

impl Limiter {
    /// `per_minute` attempts per e-mail (a burst, refilled over a minute), four times as
    /// many per address (an office behind one address has several people).
    pub fn new(per_minute: u32) -> Limiter {
        let n = NonZeroU32::new(per_minute.max(1)).expect("at least one");
        let m = NonZeroU32::new(per_minute.max(1).saturating_mul(4)).expect("at least one");
        Limiter {
            by_email: RateLimiter::keyed(Quota::per_minute(n)),
            by_address: RateLimiter::keyed(Quota::per_minute(m)),
        }
    }

    /// Counts an attempt at `what` (a login, a code) for `key` (an e-mail, a card) from
    /// `address`; refuses with the seconds to wait once the budget is spent.
    pub(crate) fn attempt(&self, what: &str, email: &str, address: &str) -> ApiResult<()> {
        let clock = governor::clock::DefaultClock::default();
        for (limiter, key) in [(&self.by_email, email), (&self.by_address, address)] {
            if let Err(not_until) = limiter.check_key(&key.to_string()) {
                use governor::clock::Clock;
                let wait = not_until.wait_time_from(clock.now()).as_secs().max(1);
                let mut e =
                    ApiError::new(Code::RateLimited, format!("too many {what} attempts; try again in {wait} s"));
                e.retry_after = Some(wait);
                return Err(e);
            }
        }
        Ok(())
    }
}

/// A refused request's body up to this size is read and dropped rather than left unread.
const SMALL_BODY: usize = 64 * 1024;

/// A logged-in caller in one tenant, set by [`authorize`] for the handlers.
#[derive(Clone)]
pub struct Ctx {
    /// The tenant.
    pub tenant: Arc<Tenant>,
    /// Who calls.
    pub caller: Caller,
    /// Test hook: how long a job waits after starting.
    pub pause: Option<std::time::Duration>,
}

/// A login.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// The user's e-mail.
    pub email: String,
    /// Their password.
    pub password: String,
    /// The retailer, when the server serves several.
    pub tenant: Option<String>,
}

/// A session opened.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginAnswer {
    /// The bearer token: send `Authorization: Bearer <token>`.
    pub token: String,
    /// When it stops working (UTC).
    pub expires_at: String,
    /// The user's role.
    pub role: String,
    /// The tenant.
    pub tenant: String,
}

fn origin(req_addr: Option<&ConnectInfo<SocketAddr>>) -> String {
    req_addr.map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string())
}

/// `POST /api/v1/auth/login`.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body = Login,
    responses(
        (status = 200, body = LoginAnswer, description = "logged in; also sets the session and CSRF cookies"),
        (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
        (status = 429, body = crate::error::ErrorBody, description = "too many attempts; see Retry-After"),
    ))]
pub async fn login(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    addr: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let login: Login = crate::routes::json(&body)?;
    let address = origin(addr.as_ref().map(|a| &a.0));
    state.limiter.attempt("login", &login.email.trim().to_lowercase(), &address)?;
    let tenant = match (&login.tenant, state.single()) {
        (Some(name), _) => state.tenants.get(name).cloned(),
        (None, Some(t)) => Some(t.clone()),
        (None, None) => {
            return Err(ApiError::new(Code::InputInvalid, "this server serves several retailers: say which in tenant")
                .field("tenant"));
        }
    };
    // An unknown tenant answers like a wrong password.
    let Some(tenant) = tenant else {
        return Err(ApiError::new(Code::Unauthorized, "wrong e-mail or password"));
    };
    let hours = state.config.session_hours;
    let app = tenant.app.clone();
    let session = tokio::task::spawn_blocking(move || app.login(&login.email, &login.password, hours, Some(&address)))
        .await
        .map_err(|e| ApiError::new(Code::Internal, e.to_string()))?
        .inspect_err(|e| {
            if e.code() == Code::Unauthorized {
                // Counted, not logged: the e-mail typed may be anyone's.
                metrics::counter!("unico_login_failures_total").increment(1);
            }
        })?;
    let token = format!("{}.{}", tenant.name, session.token);
    let answer = LoginAnswer {
        token: token.clone(),
        expires_at: session.expires_at,
        role: session.user.role,
        tenant: tenant.name.clone(),
    };
    let mut response = axum::Json(answer).into_response();
    let headers = response.headers_mut();
    for cookie in session_cookies(&token, hours, state.config.secure_cookies) {
        headers.append(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("cookie text is ASCII"));
    }
    Ok(response)
}

/// The session cookie (HttpOnly) and a fresh CSRF cookie (readable by the page); `secure`
/// marks both for HTTPS only.
pub(crate) fn session_cookies(token: &str, hours: i64, secure: bool) -> [String; 2] {
    let csrf = hex::encode(rand::random::<[u8; 16]>());
    let max_age = hours * 3600;
    let secure = if secure { "; Secure" } else { "" };
    [
        format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"),
        format!("{CSRF_COOKIE}={csrf}; Path=/; SameSite=Strict; Max-Age={max_age}{secure}"),
    ]
}

/// `POST /api/v1/auth/logout`.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "the session is ended"), (status = 401, body = crate::error::ErrorBody)))]
pub async fn logout(axum::Extension(ctx): axum::Extension<Ctx>, headers: HeaderMap) -> ApiResult<Response> {
    let token = token_of(&headers).map(|(t, _)| t).ok_or_else(ApiError::unauthorized)?;
    let secret = token.split_once('.').map(|(_, s)| s.to_string()).unwrap_or_default();
    let app = ctx.tenant.app.clone();
    crate::routes::blocking(move || app.logout(&secret)).await?;
    let mut response = axum::http::StatusCode::NO_CONTENT.into_response();
    for name in [SESSION_COOKIE, CSRF_COOKIE] {
        let cookie = format!("{name}=; Path=/; Max-Age=0");
        response.headers_mut().append(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("ASCII"));
    }
    Ok(response)
}

/// The token of a request, and whether it came in the cookie.
fn token_of(headers: &HeaderMap) -> Option<(String, bool)> {
    if let Some(v) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        return v.strip_prefix("Bearer ").map(|t| (t.trim().to_string(), false));
    }
    cookie(headers, SESSION_COOKIE).map(|t| (t, true))
}

pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

/// The check every route passes through: the route's access in the matrix, the caller's
/// session (401 without a live one), the CSRF header for a cookie session that changes
/// something, and the caller's role (403).
pub async fn authorize(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    mut req: Request,
    next: Next,
) -> Response {
    let has_body =
        req.headers().contains_key(header::CONTENT_LENGTH) || req.headers().contains_key(header::TRANSFER_ENCODING);
    let small = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n <= SMALL_BODY);
    let page = req.uri().path().starts_with("/office");
    // Where a page sends the browser back to after logging in: the page asked for (a form's
    // target cannot be asked for again with GET: the home page then).
    let path = match req.method() {
        &Method::GET => req.uri().path_and_query().map_or("/office/", |p| p.as_str()).to_string(),
        _ => "/office/".to_string(),
    };
    match check(&state, &mut req).await {
        Ok(()) => next.run(req).await,
        // A back-office page: to the login page, or the error in the layout.
        Err(e) if page => {
            let headers = req.headers().clone();
            if small {
                let _ = axum::body::to_bytes(req.into_body(), SMALL_BODY).await;
            }
            let mut r = crate::office::error_page(e, None, &headers, &path);
            if has_body && !small {
                r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            r
        }
        Err(e) if small => {
            // A small body is read and dropped: the connection stays usable, and closing it
            // with unread bytes would reset it before the client reads the answer.
            let _ = axum::body::to_bytes(req.into_body(), SMALL_BODY).await;
            e.into_response()
        }
        Err(e) => {
            let mut response = e.into_response();
            // The body was not read: the connection cannot carry another request, and the
            // client is told so rather than finding it closed on its next request.
            if has_body {
                response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            response
        }
    }
}

async fn check(state: &Arc<State>, req: &mut Request) -> ApiResult<()> {
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_default();
    let method = req.method().clone();
    let Some(rule) = access(method.as_str(), &route) else {
        // A route missing from the matrix is refused, never open (a test keeps them equal).
        return Err(ApiError::forbidden("this route has no access rule"));
    };
    if rule == Access::Public {
        return Ok(());
    }
    if rule == Access::Till {
        return crate::pos::authenticate(state, req);
    }
    if rule == Access::Shopper {
        return crate::shopper::authenticate(state, req).await;
    }
    let (token, from_cookie) = token_of(req.headers()).ok_or_else(ApiError::unauthorized)?;
    if from_cookie && !matches!(method, Method::GET | Method::HEAD) {
        // The header (a script's request) or, for a back-office form, the `csrf` query
        // parameter: either must repeat the CSRF cookie.
        let header = req.headers().get("x-csrf-token").and_then(|v| v.to_str().ok()).map(str::to_string);
        let sent = header
            .or_else(|| req.uri().query()?.split('&').find_map(|kv| kv.strip_prefix("csrf=")).map(str::to_string));
        let expected = cookie(req.headers(), CSRF_COOKIE);
        if sent.is_none() || expected.is_none() || sent != expected {
            return Err(ApiError::forbidden("a change from a browser needs the X-CSRF-Token header"));
        }
    }
    let (tenant_name, secret) = token.split_once('.').ok_or_else(ApiError::unauthorized)?;
    let tenant = state.tenants.get(tenant_name).cloned().ok_or_else(ApiError::unauthorized)?;
    let address = origin(req.extensions().get::<ConnectInfo<SocketAddr>>());
    let app = tenant.app.clone();
    let secret = secret.to_string();
    let caller = crate::routes::blocking(move || app.session(&secret, Some(&address)))
        .await?
        .ok_or_else(|| ApiError::new(Code::Unauthorized, "the session has expired or ended: log in again"))?;
    if !rule.allows(caller.role) {
        return Err(ApiError::forbidden(format!("the {} role may not {} {route}", caller.role.as_str(), method)));
    }
    req.extensions_mut().insert(Ctx { tenant, caller, pause: state.config.job_pause });
    Ok(())
}

/// Who is logged in.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// E-mail.
    pub email: String,
    /// Role.
    pub role: String,
    /// A store manager's store.
    pub store_id: Option<String>,
    /// The tenant.
    pub tenant: String,
}

/// `GET /api/v1/me`.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = crate::error::ErrorBody)))]
pub async fn me(axum::Extension(ctx): axum::Extension<Ctx>) -> axum::Json<Me> {
    axum::Json(Me {
        email: ctx.caller.user.email.clone(),
        role: ctx.caller.role.as_str().to_string(),
        store_id: ctx.caller.user.store_id.clone(),
        tenant: ctx.tenant.name.clone(),
    })
}

/// A store manager may only ask about their store.
pub fn own_store(ctx: &Ctx, asked: Option<&str>) -> ApiResult<Option<String>> {
    if ctx.caller.role != Role::StoreManager {
        return Ok(asked.map(str::to_string));
    }
    let Some(mine) = ctx.caller.user.store_id.clone() else {
        // A store manager without a store sees no store, never the whole chain.
        return Err(ApiError::forbidden("this store manager has no store; an admin must set one"));
    };
    let mine = Some(mine);
    match asked {
        Some(s) if Some(s) != mine.as_deref() => Err(ApiError::forbidden("a store manager sees their own store only")),
        _ => Ok(mine),
    }
}
