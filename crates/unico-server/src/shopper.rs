//! The shoppers' app API under `/api/v1/app/`, and the back office's routes for what it
//! feeds (tickets, promotions, the privacy policy).
//!
//! A shopper's token is `<tenant>.<64 hex>` like a user's, but is looked up among the
//! shoppers' sessions only, so it opens `/api/v1/app/` and nothing else, and every handler
//! reaches the one customer the session names: no route takes another shopper's id.
//! Registration, login and link codes are rate limited per e-mail or card and per address.
//! See `docs/app.md`.

use crate::auth::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::routes::{blocking, json};
use crate::{State, Tenant};
use axum::extract::{ConnectInfo, Path, Query, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;
use unico_app::Code;
use unico_app::shopper::{ConsentSet, Registration, Shopper, SurveyIn};
use unico_store::shoppers::Promotion;
use utoipa::{IntoParams, ToSchema};

/// A logged-in shopper in one tenant, set by the access check.
#[derive(Clone)]
pub struct ShopperCtx {
    /// The tenant.
    pub tenant: Arc<Tenant>,
    /// The shopper.
    pub shopper: Shopper,
    /// The session's token (to end it).
    pub secret: String,
}

/// Checks a shopper's bearer token, or refuses with 401.
pub(crate) async fn authenticate(state: &State, req: &mut Request) -> ApiResult<()> {
    let token = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
        .ok_or_else(|| ApiError::new(Code::Unauthorized, "log in to the app first"))?;
    let (tenant_name, secret) = token.split_once('.').ok_or_else(ApiError::unauthorized)?;
    let tenant = state.tenants.get(tenant_name).cloned().ok_or_else(ApiError::unauthorized)?;
    let app = tenant.app.clone();
    let secret = secret.to_string();
    let lookup = secret.clone();
    let shopper = blocking(move || app.app_session(&lookup))
        .await?
        .ok_or_else(|| ApiError::new(Code::Unauthorized, "the session has expired or ended: log in again"))?;
    req.extensions_mut().insert(ShopperCtx { tenant, shopper, secret });
    Ok(())
}

fn address(addr: &Option<Extension<ConnectInfo<SocketAddr>>>) -> String {
    addr.as_ref().map_or_else(|| "unknown".to_string(), |c| c.0.0.ip().to_string())
}

/// The tenant a public request is for: named, or the only one.
fn tenant_of(state: &State, name: Option<&str>) -> ApiResult<Arc<Tenant>> {
    match (name, state.single()) {
        (Some(n), _) => state.tenants.get(n).cloned().ok_or_else(|| ApiError::new(Code::NotFound, "no such retailer")),
        (None, Some(t)) => Ok(t.clone()),
        (None, None) => {
            Err(ApiError::new(Code::InputInvalid, "this server serves several retailers: say which in tenant")
                .field("tenant"))
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct TenantQuery {
    /// The retailer, when the server serves several.
    tenant: Option<String>,
}

/// The consents (all unticked unless said).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ConsentsBody {
    marketing: bool,
    profiling: bool,
    email: bool,
    sms: bool,
    app: bool,
}

/// A registration.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RegisterBody {
    /// The e-mail to log in with.
    email: String,
    /// At least 12 characters.
    password: String,
    /// An existing card to link (a code goes to the contact on file), or null for a new
    /// digital card.
    card: Option<String>,
    /// The privacy policy version shown (the current one).
    policy_version: String,
    consents: ConsentsBody,
}

/// `POST /api/v1/app/register`: a new digital card at once, or an existing card once the
/// code sent to its contact on file is confirmed.
#[utoipa::path(post, path = "/api/v1/app/register", tag = "app", params(TenantQuery),
    request_body = RegisterBody,
    responses(
        (status = 201, body = Object, description = "`{\"card\", \"confirm_required\"}`"),
        (status = 404, body = crate::error::ErrorBody, description = "no such card"),
        (status = 429, body = crate::error::ErrorBody, description = "too many attempts; see Retry-After"),
    ))]
pub async fn register(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    addr: Option<Extension<ConnectInfo<SocketAddr>>>,
    q: Result<Query<TenantQuery>, axum::extract::rejection::QueryRejection>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let Query(q) = q.map_err(|e| ApiError::new(Code::InputInvalid, e.body_text()))?;
    let r: Registration = json(&body)?;
    let from = address(&addr);
    let key = r.card.clone().unwrap_or_else(|| r.email.trim().to_lowercase());
    state.codes.attempt("registration", &key, &from)?;
    let tenant = tenant_of(&state, q.tenant.as_deref())?;
    let app = tenant.app.clone();
    let done = blocking(move || app.app_register(&r)).await?;
    Ok((StatusCode::CREATED, Json(serde_json::to_value(done).unwrap_or_default())).into_response())
}

/// A code to confirm.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBody {
    /// The card being linked.
    card: String,
    /// The code sent to its contact on file.
    code: String,
}

/// `POST /api/v1/app/register/confirm`: links the card; then log in.
#[utoipa::path(post, path = "/api/v1/app/register/confirm", tag = "app", params(TenantQuery),
    request_body = ConfirmBody,
    responses(
        (status = 200, body = Object),
        (status = 404, body = crate::error::ErrorBody, description = "no such retailer"),
        (status = 429, body = crate::error::ErrorBody, description = "too many attempts; see Retry-After"),
    ))]
pub async fn confirm(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    addr: Option<Extension<ConnectInfo<SocketAddr>>>,
    q: Result<Query<TenantQuery>, axum::extract::rejection::QueryRejection>,
    body: axum::body::Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let Query(q) = q.map_err(|e| ApiError::new(Code::InputInvalid, e.body_text()))?;
    let b: ConfirmBody = json(&body)?;
    state.codes.attempt("code", b.card.trim(), &address(&addr))?;
    let tenant = tenant_of(&state, q.tenant.as_deref())?;
    let app = tenant.app.clone();
    blocking(move || app.app_confirm(&b.card, &b.code)).await?;
    Ok(Json(serde_json::json!({"linked": true})))
}

/// A shopper's login.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    email: String,
    password: String,
    /// The retailer, when the server serves several.
    tenant: Option<String>,
}

/// A shopper's session.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct LoginAnswerBody {
    /// Send `Authorization: Bearer <token>` to `/api/v1/app/`.
    token: String,
    expires_at: String,
}

/// `POST /api/v1/app/login`.
#[utoipa::path(post, path = "/api/v1/app/login", tag = "app",
    request_body = LoginBody,
    responses(
        (status = 200, body = LoginAnswerBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody, description = "the card's code is not confirmed yet"),
        (status = 429, body = crate::error::ErrorBody, description = "too many attempts; see Retry-After"),
    ))]
pub async fn login(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    addr: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: axum::body::Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let b: LoginBody = json(&body)?;
    state.limiter.attempt("login", &b.email.trim().to_lowercase(), &address(&addr))?;
    let tenant = match tenant_of(&state, b.tenant.as_deref()) {
        Err(e) if e.code == Code::NotFound => {
            return Err(ApiError::new(Code::Unauthorized, "wrong e-mail or password"));
        }
        other => other?,
    };
    let app = tenant.app.clone();
    let days = app.settings().app.session_days;
    let s = blocking(move || app.app_login(&b.email, &b.password, days)).await?;
    Ok(Json(serde_json::json!({"token": format!("{}.{}", tenant.name, s.token), "expires_at": s.expires_at})))
}

/// `GET /api/v1/app/privacy`: the retailer's current privacy policy.
#[utoipa::path(get, path = "/api/v1/app/privacy", tag = "app", params(TenantQuery),
    responses((status = 200, body = Object, description = "`{\"version\", \"text\", \"published_at\"}`"), (status = 404, body = crate::error::ErrorBody)))]
pub async fn privacy(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    q: Result<Query<TenantQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let Query(q) = q.map_err(|e| ApiError::new(Code::InputInvalid, e.body_text()))?;
    let tenant = tenant_of(&state, q.tenant.as_deref())?;
    let app = tenant.app.clone();
    let p = blocking(move || app.privacy_policy())
        .await?
        .ok_or_else(|| ApiError::new(Code::NotFound, "the retailer has not published a privacy policy yet"))?;
    Ok(Json(serde_json::json!({"version": p.0, "text": p.1, "published_at": p.2})))
}

/// `GET /api/v1/app/flyer/shared/{token}`: the flyer a signed link names, without a login.
#[utoipa::path(get, path = "/api/v1/app/flyer/shared/{token}", tag = "app",
    params(("token" = String, Path)), responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody)))]
pub async fn shared_flyer(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    Path(token): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let gone = || ApiError::new(Code::NotFound, "this flyer link is not valid or has expired");
    let (tenant, _) = token.split_once('.').ok_or_else(gone)?;
    let tenant = state.tenants.get(tenant).cloned().ok_or_else(gone)?;
    let app = tenant.app.clone();
    let flyer = blocking(move || app.flyer_by_token(&token)).await?;
    Ok(Json(serde_json::to_value(flyer).unwrap_or_default()))
}

fn shop(ctx: &ShopperCtx) -> (Arc<unico_app::App>, Shopper) {
    (ctx.tenant.app.clone(), ctx.shopper.clone())
}

fn to_json<T: serde::Serialize>(t: T) -> Json<serde_json::Value> {
    Json(serde_json::to_value(t).unwrap_or_default())
}

/// `POST /api/v1/app/logout`.
#[utoipa::path(post, path = "/api/v1/app/logout", tag = "app", security(("shopper" = [])),
    responses((status = 204, description = "the session is ended")))]
pub async fn logout(Extension(ctx): Extension<ShopperCtx>) -> ApiResult<StatusCode> {
    let app = ctx.tenant.app.clone();
    blocking(move || app.app_logout(&ctx.secret)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/app/me`: the card, how to draw it, consents, the privacy policy's state.
#[utoipa::path(get, path = "/api/v1/app/me", tag = "app", security(("shopper" = [])),
    responses((status = 200, body = Object)))]
pub async fn me(Extension(ctx): Extension<ShopperCtx>) -> ApiResult<Json<serde_json::Value>> {
    let (app, who) = shop(&ctx);
    Ok(to_json(blocking(move || app.app_me(&who)).await?))
}

/// An offer in the app.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct OfferBody {
    code: String,
    /// What it is, in words.
    title: String,
    /// Why the shopper gets it, in words.
    reason: String,
    /// The discount of one use, cents.
    value: i64,
    valid_from: String,
    valid_to: String,
    activation_required: bool,
    activated: bool,
}

/// The shopper's offers.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct OffersBody {
    offers: Vec<OfferBody>,
}

/// `GET /api/v1/app/offers`: the shopper's offers valid today.
#[utoipa::path(get, path = "/api/v1/app/offers", tag = "app", security(("shopper" = [])),
    responses((status = 200, body = OffersBody)))]
pub async fn offers(Extension(ctx): Extension<ShopperCtx>) -> ApiResult<Json<serde_json::Value>> {
    let (app, who) = shop(&ctx);
    let offers = blocking(move || app.app_offers(&who)).await?;
    Ok(Json(serde_json::json!({"offers": offers})))
}

/// `POST /api/v1/app/offers/{code}/activate`: books an offer (again: no change).
#[utoipa::path(post, path = "/api/v1/app/offers/{code}/activate", tag = "app", security(("shopper" = [])),
    params(("code" = String, Path)), responses((status = 200, body = OfferBody)))]
pub async fn activate(
    Extension(ctx): Extension<ShopperCtx>,
    Path(code): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let (app, who) = shop(&ctx);
    Ok(to_json(blocking(move || app.app_activate(&who, &code)).await?))
}

/// Consents, as at registration: `{"consents": {...}, "policy_version": "…"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentsIn {
    consents: ConsentSet,
    policy_version: Option<String>,
}

/// Consents to set (the schema of [`ConsentsIn`]).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ConsentsPutBody {
    /// Each consent as it stands from now (a missing one is withdrawn).
    consents: ConsentsBody,
    /// The privacy policy version they refer to (the accepted one when absent).
    policy_version: Option<String>,
}

/// `PUT /api/v1/app/consents`: each consent as the shopper sets it now; returns them.
#[utoipa::path(put, path = "/api/v1/app/consents", tag = "app", security(("shopper" = [])),
    request_body = ConsentsPutBody, responses((status = 200, body = ConsentsBody)))]
pub async fn consents(
    Extension(ctx): Extension<ShopperCtx>,
    body: axum::body::Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let b: ConsentsIn = json(&body)?;
    let (app, who) = shop(&ctx);
    let set = b.consents;
    let version = b.policy_version.unwrap_or_else(|| who.account.policy_version.clone());
    Ok(to_json(blocking(move || app.app_set_consents(&who, set, &version)).await?))
}

/// A policy version accepted.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptBody {
    version: String,
}

/// `POST /api/v1/app/privacy/accept`: the shopper accepts the current privacy policy.
#[utoipa::path(post, path = "/api/v1/app/privacy/accept", tag = "app", security(("shopper" = [])),
    request_body = AcceptBody, responses((status = 204, description = "accepted")))]
pub async fn accept(Extension(ctx): Extension<ShopperCtx>, body: axum::body::Bytes) -> ApiResult<StatusCode> {
    let b: AcceptBody = json(&body)?;
    let (app, who) = shop(&ctx);
    blocking(move || app.app_accept_policy(&who, &b.version)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/app/export`: everything held about the shopper, as the CLI exports it.
#[utoipa::path(get, path = "/api/v1/app/export", tag = "app", security(("shopper" = [])),
    responses((status = 200, body = Object)))]
pub async fn export(Extension(ctx): Extension<ShopperCtx>) -> ApiResult<Response> {
    let (app, who) = shop(&ctx);
    let v = blocking(move || app.app_export(&who)).await?;
    Ok(([(axum::http::header::CONTENT_DISPOSITION, "attachment; filename=\"my-data.json\"")], Json(v)).into_response())
}

/// `DELETE /api/v1/app/me`: deletes the account and erases the shopper (as the CLI does).
#[utoipa::path(delete, path = "/api/v1/app/me", tag = "app", security(("shopper" = [])),
    responses((status = 200, body = Object)))]
pub async fn delete_me(Extension(ctx): Extension<ShopperCtx>) -> ApiResult<Json<serde_json::Value>> {
    let (app, who) = shop(&ctx);
    Ok(to_json(blocking(move || app.app_delete(&who)).await?))
}

/// The favourite store.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreBody {
    /// A store of the chain, or null.
    store_id: Option<String>,
}

/// `PUT /api/v1/app/store`: the favourite store.
#[utoipa::path(put, path = "/api/v1/app/store", tag = "app", security(("shopper" = [])),
    request_body = StoreBody, responses((status = 204, description = "set"), (status = 404, body = crate::error::ErrorBody, description = "no such store")))]
pub async fn set_store(Extension(ctx): Extension<ShopperCtx>, body: axum::body::Bytes) -> ApiResult<StatusCode> {
    let b: StoreBody = json(&body)?;
    let (app, who) = shop(&ctx);
    blocking(move || app.app_set_store(&who, b.store_id.as_deref())).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/app/stores`: the chain's stores.
#[utoipa::path(get, path = "/api/v1/app/stores", tag = "app", security(("shopper" = [])),
    responses((status = 200, body = [Object])))]
pub async fn stores(Extension(ctx): Extension<ShopperCtx>) -> ApiResult<Json<serde_json::Value>> {
    let app = ctx.tenant.app.clone();
    Ok(to_json(blocking(move || app.app_stores()).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ProductQuery {
    /// Words of the name, brand or category.
    q: Option<String>,
    /// At most this many (default 50, at most 200).
    limit: Option<u32>,
}

/// `GET /api/v1/app/products`: product search, with the shopper's offers on each.
#[utoipa::path(get, path = "/api/v1/app/products", tag = "app", security(("shopper" = [])), params(ProductQuery),
    responses((status = 200, body = [Object])))]
pub async fn products(
    Extension(ctx): Extension<ShopperCtx>,
    q: Result<Query<ProductQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let Query(q) = q.map_err(|e| ApiError::new(Code::InputInvalid, e.body_text()))?;
    let limit = q.limit.unwrap_or(50).clamp(1, 200) as usize;
    let (app, who) = shop(&ctx);
    let text = q.q.unwrap_or_default();
    Ok(to_json(blocking(move || app.app_products(&who, &text, limit)).await?))
}

/// `GET /api/v1/app/flyer`: this week's promotions, the shopper's first, and their offers.
#[utoipa::path(get, path = "/api/v1/app/flyer", tag = "app", security(("shopper" = [])),
    responses((status = 200, body = Object)))]
pub async fn flyer(Extension(ctx): Extension<ShopperCtx>) -> ApiResult<Json<serde_json::Value>> {
    let (app, who) = shop(&ctx);
    Ok(to_json(blocking(move || app.app_flyer(&who)).await?))
}

/// How to send the flyer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    /// `email` or `sms`.
    channel: String,
}

/// `POST /api/v1/app/flyer/send`: the flyer's signed link by e-mail or SMS (if consented).
#[utoipa::path(post, path = "/api/v1/app/flyer/send", tag = "app", security(("shopper" = [])),
    request_body = SendBody, responses((status = 202, description = "queued")))]
pub async fn send_flyer(Extension(ctx): Extension<ShopperCtx>, body: axum::body::Bytes) -> ApiResult<StatusCode> {
    let b: SendBody = json(&body)?;
    let (app, who) = shop(&ctx);
    let tenant = ctx.tenant.name.clone();
    blocking(move || app.app_send_flyer(&who, &tenant, &b.channel)).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `POST /api/v1/app/flyer/link`: the flyer's signed link, to open or share.
#[utoipa::path(post, path = "/api/v1/app/flyer/link", tag = "app", security(("shopper" = [])),
    responses((status = 200, body = Object, description = "`{\"path\"}`: /app/flyer.html#<token>")))]
pub async fn flyer_link(Extension(ctx): Extension<ShopperCtx>) -> ApiResult<Json<serde_json::Value>> {
    let (app, who) = shop(&ctx);
    let tenant = ctx.tenant.name.clone();
    let token = blocking(move || app.flyer_token(&tenant, who.customer)).await?;
    Ok(Json(serde_json::json!({"path": format!("/app/flyer.html#{token}")})))
}

/// A new ticket.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketBody {
    /// The store (the favourite one when absent).
    store_id: Option<String>,
    subject: String,
    body: String,
}

/// A message on a ticket.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    body: String,
    /// Close the ticket after this message.
    #[serde(default)]
    close: bool,
}

/// `GET /api/v1/app/tickets`: the shopper's tickets.
#[utoipa::path(get, path = "/api/v1/app/tickets", tag = "app", security(("shopper" = [])),
    responses((status = 200, body = [Object])))]
pub async fn tickets(Extension(ctx): Extension<ShopperCtx>) -> ApiResult<Json<serde_json::Value>> {
    let (app, who) = shop(&ctx);
    Ok(to_json(blocking(move || app.app_tickets(&who)).await?))
}

/// `POST /api/v1/app/tickets`: opens a ticket with a store.
#[utoipa::path(post, path = "/api/v1/app/tickets", tag = "app", security(("shopper" = [])),
    request_body = TicketBody, responses((status = 201, body = Object), (status = 404, body = crate::error::ErrorBody, description = "no such store")))]
pub async fn open_ticket(Extension(ctx): Extension<ShopperCtx>, body: axum::body::Bytes) -> ApiResult<Response> {
    let b: TicketBody = json(&body)?;
    let (app, who) = shop(&ctx);
    let t = blocking(move || app.app_open_ticket(&who, b.store_id.as_deref(), &b.subject, &b.body)).await?;
    Ok((StatusCode::CREATED, to_json(t)).into_response())
}

/// `GET /api/v1/app/tickets/{id}`: one of the shopper's tickets with its messages.
#[utoipa::path(get, path = "/api/v1/app/tickets/{id}", tag = "app", security(("shopper" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = Object)))]
pub async fn ticket(Extension(ctx): Extension<ShopperCtx>, Path(id): Path<i64>) -> ApiResult<Json<serde_json::Value>> {
    let (app, who) = shop(&ctx);
    Ok(to_json(blocking(move || app.app_ticket(&who, id)).await?))
}

/// `POST /api/v1/app/tickets/{id}/messages`: the shopper replies (or closes it).
#[utoipa::path(post, path = "/api/v1/app/tickets/{id}/messages", tag = "app", security(("shopper" = [])),
    params(("id" = i64, Path)), request_body = MessageBody, responses((status = 200, body = Object)))]
pub async fn reply(
    Extension(ctx): Extension<ShopperCtx>,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let b: MessageBody = json(&body)?;
    let (app, who) = shop(&ctx);
    Ok(to_json(blocking(move || app.app_reply(&who, id, &b.body, b.close)).await?))
}

/// A survey answer.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SurveyBody {
    /// `csat` (1–5) or `nps` (0–10).
    question: String,
    score: i64,
    store_id: Option<String>,
    /// A ticket it rates (one answer per ticket and question).
    ticket_id: Option<i64>,
    /// A visit it rates (`visit_to_rate` of `GET /api/v1/app/me`; one answer per visit and
    /// question).
    visit_id: Option<String>,
    comment: Option<String>,
}

/// `POST /api/v1/app/surveys`: a CSAT or NPS answer, counted by the KPIs (channel `app`).
#[utoipa::path(post, path = "/api/v1/app/surveys", tag = "app", security(("shopper" = [])),
    request_body = SurveyBody, responses((status = 201, description = "recorded"), (status = 404, body = crate::error::ErrorBody, description = "no such ticket or visit of the shopper's")))]
pub async fn survey(Extension(ctx): Extension<ShopperCtx>, body: axum::body::Bytes) -> ApiResult<StatusCode> {
    let b: SurveyIn = json(&body)?;
    let (app, who) = shop(&ctx);
    blocking(move || app.app_survey(&who, &b)).await?;
    Ok(StatusCode::CREATED)
}

// ---- the back office's side ----

/// A privacy policy version.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    /// Its version (a change is a new version; shoppers are asked to accept it).
    version: String,
    /// Its text.
    text: String,
}

/// `POST /api/v1/privacy/policies`: publishes a privacy policy version.
#[utoipa::path(post, path = "/api/v1/privacy/policies", tag = "app", security(("bearer" = [])),
    request_body = PolicyBody, responses((status = 201, description = "published")))]
pub async fn publish_policy(Extension(ctx): Extension<Ctx>, body: axum::body::Bytes) -> ApiResult<StatusCode> {
    let b: PolicyBody = json(&body)?;
    let app = ctx.tenant.app.clone();
    blocking(move || app.publish_privacy_policy(&b.version, &b.text, &ctx.caller)).await?;
    Ok(StatusCode::CREATED)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DayQuery {
    /// The day (YYYY-MM-DD; today when absent).
    day: Option<String>,
}

/// `GET /api/v1/promotions`: the chain's promotions valid on a day.
#[utoipa::path(get, path = "/api/v1/promotions", tag = "app", security(("bearer" = [])), params(DayQuery),
    responses((status = 200, body = [Object])))]
pub async fn promotions(
    Extension(ctx): Extension<Ctx>,
    q: Result<Query<DayQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let Query(q) = q.map_err(|e| ApiError::new(Code::InputInvalid, e.body_text()))?;
    let app = ctx.tenant.app.clone();
    let day = match q.day {
        Some(d) => d
            .parse::<jiff::civil::Date>()
            .map_err(|_| ApiError::new(Code::InputInvalid, "day is a date (YYYY-MM-DD)").field("day"))?
            .to_string(),
        None => app.today().to_string(),
    };
    Ok(to_json(blocking(move || app.promotions_on(&day)).await?))
}

/// Promotions to add.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PromotionBody {
    sku: String,
    /// What the flyer says.
    title: String,
    /// Promotional price, cents.
    price_cents: i64,
    /// Regular price, cents.
    was_cents: Option<i64>,
    valid_from: String,
    valid_to: String,
}

/// `POST /api/v1/promotions`: adds the chain's promotions (one per product and first day).
#[utoipa::path(post, path = "/api/v1/promotions", tag = "app", security(("bearer" = [])),
    request_body = [PromotionBody], responses((status = 200, body = Object)))]
pub async fn add_promotions(
    Extension(ctx): Extension<Ctx>,
    body: axum::body::Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let list: Vec<Promotion> = json(&body)?;
    let app = ctx.tenant.app.clone();
    let n = blocking(move || app.add_promotions(&list, &ctx.caller)).await?;
    Ok(Json(serde_json::json!({"added": n})))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct TicketsQuery {
    /// A store (a store manager sees their own only).
    store_id: Option<String>,
}

/// `GET /api/v1/tickets`: shoppers' tickets, by store.
#[utoipa::path(get, path = "/api/v1/tickets", tag = "app", security(("bearer" = [])), params(TicketsQuery),
    responses((status = 200, body = [Object])))]
pub async fn store_tickets(
    Extension(ctx): Extension<Ctx>,
    q: Result<Query<TicketsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let Query(q) = q.map_err(|e| ApiError::new(Code::InputInvalid, e.body_text()))?;
    let store = crate::auth::own_store(&ctx, q.store_id.as_deref())?;
    let app = ctx.tenant.app.clone();
    Ok(to_json(blocking(move || app.store_tickets(store.as_deref())).await?))
}

/// `GET /api/v1/tickets/{id}`: a ticket with its messages.
#[utoipa::path(get, path = "/api/v1/tickets/{id}", tag = "app", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = Object)))]
pub async fn store_ticket(Extension(ctx): Extension<Ctx>, Path(id): Path<i64>) -> ApiResult<Json<serde_json::Value>> {
    let app = ctx.tenant.app.clone();
    let t = blocking(move || app.store_ticket(id)).await?;
    crate::auth::own_store(&ctx, Some(&t.store_id))
        .map_err(|_| ApiError::new(Code::NotFound, format!("no ticket {id}")))?;
    Ok(to_json(t))
}

/// `POST /api/v1/tickets/{id}/reply`: the store answers (and may close it).
#[utoipa::path(post, path = "/api/v1/tickets/{id}/reply", tag = "app", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = MessageBody, responses((status = 200, body = Object)))]
pub async fn store_reply(
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let b: MessageBody = json(&body)?;
    let app = ctx.tenant.app.clone();
    let t = {
        let app = app.clone();
        blocking(move || app.store_ticket(id)).await?
    };
    crate::auth::own_store(&ctx, Some(&t.store_id))
        .map_err(|_| ApiError::new(Code::NotFound, format!("no ticket {id}")))?;
    Ok(to_json(blocking(move || app.store_reply(id, &ctx.caller, &b.body, b.close)).await?))
}

/// `POST /api/v1/flyer/send`: every customer who agreed to marketing on the channel gets the
/// signed link to their own flyer, through the outbox.
#[utoipa::path(post, path = "/api/v1/flyer/send", tag = "app", security(("bearer" = [])),
    request_body = SendBody, responses((status = 200, body = Object, description = "`{\"queued\"}`")))]
pub async fn send_flyers(
    Extension(ctx): Extension<Ctx>,
    body: axum::body::Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let b: SendBody = json(&body)?;
    let app = ctx.tenant.app.clone();
    let tenant = ctx.tenant.name.clone();
    let n = blocking(move || app.send_flyers(&tenant, &b.channel, &ctx.caller)).await?;
    Ok(Json(serde_json::json!({"queued": n})))
}

/// `GET /u/{token}`: the unsubscribe link of a message — withdraws the channel's consent
/// the token names and says so, without a login. A forged link is a 404 page.
#[utoipa::path(get, path = "/u/{token}", tag = "app", params(("token" = String, Path)),
    responses((status = 200, body = String, content_type = "text/html"), (status = 404, body = String, content_type = "text/html")))]
pub async fn unsubscribe(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    Path(token): Path<String>,
) -> Response {
    let page = |status: StatusCode, title: &str, text: &str| {
        let html = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title}</title></head><body><main><h1>{title}</h1><p>{text}</p></main></body></html>"
        );
        let mut r = (status, axum::response::Html(html)).into_response();
        r.headers_mut().insert(
            axum::http::header::CONTENT_SECURITY_POLICY,
            axum::http::HeaderValue::from_static("default-src 'none'"),
        );
        r
    };
    let gone = || page(StatusCode::NOT_FOUND, "Link not valid", "This link is not valid. Nothing was changed.");
    let Some(tenant) = token.split_once('.').and_then(|(t, _)| state.tenants.get(t).cloned()) else { return gone() };
    let app = tenant.app.clone();
    match blocking(move || app.unsubscribe(&token)).await {
        Ok((_, channel)) => {
            let what = if channel == "sms" { "text messages" } else { "e-mails" };
            page(
                StatusCode::OK,
                "You are unsubscribed",
                &format!(
                    "You will receive no more offers by {what}. You can change this at any time in the app, under Privacy."
                ),
            )
        }
        Err(e) if e.code == Code::NotFound => gone(),
        Err(_) => {
            page(StatusCode::INTERNAL_SERVER_ERROR, "Please try again", "Something went wrong; nothing was changed.")
        }
    }
}
