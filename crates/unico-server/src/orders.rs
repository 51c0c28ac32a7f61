//! Click-and-collect over HTTP: the shopper's catalogue, basket and orders under
//! `/api/v1/app/`, and the store staff's slots and orders under `/api/v1/slots` and
//! `/api/v1/orders` (an admin for any store, a store manager for their own: another
//! store's order is not found). Handlers parse and call `unico_app::App`'s orders
//! operations. See `docs/orders.md`.

use crate::auth::{Ctx, own_store};
use crate::error::{ApiError, ApiResult};
use crate::routes::{blocking, json};
use crate::shopper::ShopperCtx;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use unico_app::Code;
use unico_app::orders::{BasketIn, CatalogueQuery, OrderIn, PickIn};
use utoipa::{IntoParams, ToSchema};

type QueryIn<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

fn query<T>(q: QueryIn<T>) -> ApiResult<T> {
    q.map(|Query(q)| q).map_err(|e| ApiError::new(Code::InputInvalid, e.body_text()))
}

fn to_json<T: serde::Serialize>(t: T) -> Json<serde_json::Value> {
    Json(serde_json::to_value(t).unwrap_or_default())
}

/// Catalogue filters (the schema of [`CatalogueQuery`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct CatalogueParams {
    /// Words the name, brand, category or sku must all hold.
    q: Option<String>,
    department: Option<String>,
    category: Option<String>,
    brand: Option<String>,
    /// At most this list price, cents.
    max_price_cents: Option<i64>,
    /// Only the shopper's usual products.
    usual: Option<bool>,
    /// Default 50, at most 200.
    limit: Option<u32>,
    offset: Option<u32>,
}

/// `GET /api/v1/app/catalogue`: products to order, the shopper's usual ones first.
#[utoipa::path(get, path = "/api/v1/app/catalogue", tag = "orders", security(("shopper" = [])), params(CatalogueParams),
    responses((status = 200, body = Object, description = "`{items, total, departments, categories, brands}`")))]
pub async fn catalogue(
    Extension(ctx): Extension<ShopperCtx>,
    q: QueryIn<CatalogueQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let q = query(q)?;
    let (app, who) = (ctx.tenant.app.clone(), ctx.shopper.clone());
    Ok(to_json(blocking(move || app.app_catalogue(&who, &q)).await?))
}

/// A basket line.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ShopLineBody {
    sku: String,
    /// Units, 1–99.
    quantity: u32,
}

/// A basket to price.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct BasketBody {
    /// The pickup store (the favourite store when absent).
    store_id: Option<String>,
    lines: Vec<ShopLineBody>,
}

/// `POST /api/v1/app/basket`: the basket priced with the shopper's personal discounts, by
/// the tills' evaluate.
#[utoipa::path(post, path = "/api/v1/app/basket", tag = "orders", security(("shopper" = [])), request_body = BasketBody,
    responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody, description = "no such store")))]
pub async fn basket(
    Extension(ctx): Extension<ShopperCtx>,
    body: axum::body::Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let b: BasketIn = json(&body)?;
    let (app, who) = (ctx.tenant.app.clone(), ctx.shopper.clone());
    Ok(to_json(blocking(move || app.app_basket(&who, &b)).await?))
}

/// `GET /api/v1/app/stores/{store_id}/slots`: pickup slots open for orders, places left.
#[utoipa::path(get, path = "/api/v1/app/stores/{store_id}/slots", tag = "orders", security(("shopper" = [])),
    params(("store_id" = String, Path)), responses((status = 200, body = [Object])))]
pub async fn app_slots(
    Extension(ctx): Extension<ShopperCtx>,
    Path(store): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let app = ctx.tenant.app.clone();
    Ok(to_json(blocking(move || app.app_slots(&store)).await?))
}

/// An order to place.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct OrderBody {
    store_id: String,
    slot_id: i64,
    lines: Vec<ShopLineBody>,
}

/// `POST /api/v1/app/orders` with an `Idempotency-Key` header: places the order (201), or
/// answers the order that key placed (200, `replayed`).
#[utoipa::path(post, path = "/api/v1/app/orders", tag = "orders", security(("shopper" = [])), request_body = OrderBody,
    params(("Idempotency-Key" = String, Header, description = "new for each order, the same when retried")),
    responses((status = 201, body = Object), (status = 200, body = Object, description = "replayed"),
        (status = 404, body = crate::error::ErrorBody, description = "no such store, or no such slot open for orders"),
        (status = 409, body = crate::error::ErrorBody, description = "`slot.full`, or the key placed another order")))]
pub async fn place(
    Extension(ctx): Extension<ShopperCtx>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let o: OrderIn = json(&body)?;
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let (app, who) = (ctx.tenant.app.clone(), ctx.shopper.clone());
    let order = blocking(move || app.app_place(&who, &o, &key)).await?;
    let status = if order.replayed == Some(true) { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, to_json(order)).into_response())
}

/// `GET /api/v1/app/orders`: the shopper's orders.
#[utoipa::path(get, path = "/api/v1/app/orders", tag = "orders", security(("shopper" = [])),
    responses((status = 200, body = [Object])))]
pub async fn app_orders(Extension(ctx): Extension<ShopperCtx>) -> ApiResult<Json<serde_json::Value>> {
    let (app, who) = (ctx.tenant.app.clone(), ctx.shopper.clone());
    Ok(to_json(blocking(move || app.app_orders(&who)).await?))
}

/// `GET /api/v1/app/orders/{id}`: one of the shopper's orders, with the store's changes.
#[utoipa::path(get, path = "/api/v1/app/orders/{id}", tag = "orders", security(("shopper" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = Object)))]
pub async fn app_order(
    Extension(ctx): Extension<ShopperCtx>,
    Path(id): Path<i64>,
) -> ApiResult<Json<serde_json::Value>> {
    let (app, who) = (ctx.tenant.app.clone(), ctx.shopper.clone());
    Ok(to_json(blocking(move || app.app_order(&who, id)).await?))
}

/// `POST /api/v1/app/orders/{id}/cancel`: cancels it while the store has not started it.
#[utoipa::path(post, path = "/api/v1/app/orders/{id}/cancel", tag = "orders", security(("shopper" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = Object),
        (status = 409, body = crate::error::ErrorBody, description = "`order.state`")))]
pub async fn cancel(Extension(ctx): Extension<ShopperCtx>, Path(id): Path<i64>) -> ApiResult<Json<serde_json::Value>> {
    let (app, who) = (ctx.tenant.app.clone(), ctx.shopper.clone());
    Ok(to_json(blocking(move || app.app_cancel(&who, id)).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct StoreQuery {
    /// A store (a store manager sees their own only).
    store_id: Option<String>,
}

/// `GET /api/v1/slots`: pickup slots from today on.
#[utoipa::path(get, path = "/api/v1/slots", tag = "orders", security(("bearer" = [])), params(StoreQuery),
    responses((status = 200, body = [Object])))]
pub async fn slots(Extension(ctx): Extension<Ctx>, q: QueryIn<StoreQuery>) -> ApiResult<Json<serde_json::Value>> {
    let q = query(q)?;
    let store = own_store(&ctx, q.store_id.as_deref())?;
    let app = ctx.tenant.app.clone();
    Ok(to_json(blocking(move || app.store_slots(store.as_deref())).await?))
}

/// Slots to add: one every `minutes` from `from` to `to` (local times) on `day`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlotsBody {
    /// The store (a store manager's own when absent).
    pub store_id: Option<String>,
    /// The day, `YYYY-MM-DD`.
    pub day: String,
    /// First slot's start, `HH:MM`.
    pub from: String,
    /// Last slot's end, `HH:MM`.
    pub to: String,
    /// Each slot's length.
    pub minutes: i64,
    /// Orders each slot takes.
    pub capacity: i64,
}

/// `POST /api/v1/slots`: adds a day's slots to a store (those there already are kept).
#[utoipa::path(post, path = "/api/v1/slots", tag = "orders", security(("bearer" = [])), request_body = SlotsBody,
    responses((status = 201, body = [Object], description = "the slots added"),
        (status = 404, body = crate::error::ErrorBody, description = "no such store")))]
pub async fn add_slots(Extension(ctx): Extension<Ctx>, body: axum::body::Bytes) -> ApiResult<Response> {
    let b: SlotsBody = json(&body)?;
    let store = own_store(&ctx, b.store_id.as_deref())?
        .ok_or_else(|| ApiError::new(Code::InputInvalid, "store_id is required"))?;
    let app = ctx.tenant.app.clone();
    let added = blocking(move || app.add_slots(&store, &b.day, &b.from, &b.to, b.minutes, b.capacity)).await?;
    Ok((StatusCode::CREATED, to_json(added)).into_response())
}

/// A slot's new capacity.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CapacityBody {
    /// Orders it takes (not fewer than it holds).
    pub capacity: i64,
}

/// `PUT /api/v1/slots/{id}`: sets a slot's capacity.
#[utoipa::path(put, path = "/api/v1/slots/{id}", tag = "orders", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = CapacityBody, responses((status = 204, description = "set")))]
pub async fn set_capacity(
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    let b: CapacityBody = json(&body)?;
    let mine = own_store(&ctx, None)?;
    let app = ctx.tenant.app.clone();
    blocking(move || {
        let slot = app.store_slots(None)?.into_iter().find(|s| s.id == id);
        match slot {
            Some(s) if mine.as_deref().is_none_or(|m| m == s.store_id) => app.set_slot_capacity(id, b.capacity),
            _ => Err(unico_app::Error::new(Code::NotFound, format!("no slot {id} from today on"))),
        }
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct OrdersQuery {
    /// A store (a store manager sees their own only).
    store_id: Option<String>,
    /// One slot.
    slot_id: Option<i64>,
    /// One state.
    state: Option<String>,
}

/// `GET /api/v1/orders`: orders by slot.
#[utoipa::path(get, path = "/api/v1/orders", tag = "orders", security(("bearer" = [])), params(OrdersQuery),
    responses((status = 200, body = [Object])))]
pub async fn orders(Extension(ctx): Extension<Ctx>, q: QueryIn<OrdersQuery>) -> ApiResult<Json<serde_json::Value>> {
    let q = query(q)?;
    let store = own_store(&ctx, q.store_id.as_deref())?;
    let app = ctx.tenant.app.clone();
    Ok(to_json(
        blocking(move || {
            let states: Vec<&str> = q.state.as_deref().into_iter().collect();
            app.store_orders(store.as_deref(), q.slot_id, &states)
        })
        .await?,
    ))
}

/// The order, if the caller's store may see it.
async fn mine(ctx: &Ctx, id: i64) -> ApiResult<unico_app::orders::Order> {
    let app = ctx.tenant.app.clone();
    let o = blocking(move || app.store_order(id)).await?;
    match own_store(ctx, None)? {
        Some(s) if s != o.store_id => Err(ApiError::new(Code::NotFound, format!("no order {id}"))),
        _ => Ok(o),
    }
}

/// `GET /api/v1/orders/{id}`: an order with its lines to pick.
#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "orders", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = Object)))]
pub async fn order(Extension(ctx): Extension<Ctx>, Path(id): Path<i64>) -> ApiResult<Json<serde_json::Value>> {
    Ok(to_json(mine(&ctx, id).await?))
}

/// A picking mark.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PickBody {
    /// `missing`, `substituted` or `ordered` (undoes a mark).
    status: String,
    /// The substitute.
    sku: Option<String>,
    /// The substitute's units (the ordered units when absent).
    quantity: Option<u32>,
}

/// `POST /api/v1/orders/{id}/lines/{line_no}`: marks a line missing or substituted.
#[utoipa::path(post, path = "/api/v1/orders/{id}/lines/{line_no}", tag = "orders", security(("bearer" = [])),
    params(("id" = i64, Path), ("line_no" = u32, Path)), request_body = PickBody, responses((status = 200, body = Object)))]
pub async fn pick(
    Extension(ctx): Extension<Ctx>,
    Path((id, line)): Path<(i64, u32)>,
    body: axum::body::Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let mark: PickIn = json(&body)?;
    mine(&ctx, id).await?;
    let app = ctx.tenant.app.clone();
    Ok(to_json(blocking(move || app.order_pick(id, line, &mark)).await?))
}

/// `POST /api/v1/orders/{id}/ready`: picked, ready for collection (the shopper is told).
#[utoipa::path(post, path = "/api/v1/orders/{id}/ready", tag = "orders", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = Object)))]
pub async fn ready(Extension(ctx): Extension<Ctx>, Path(id): Path<i64>) -> ApiResult<Json<serde_json::Value>> {
    mine(&ctx, id).await?;
    let app = ctx.tenant.app.clone();
    Ok(to_json(blocking(move || app.order_ready(id)).await?))
}

/// `POST /api/v1/orders/{id}/collected`: handed over; the personal discounts are redeemed
/// as a till's confirm redeems them, once.
#[utoipa::path(post, path = "/api/v1/orders/{id}/collected", tag = "orders", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = Object)))]
pub async fn collected(Extension(ctx): Extension<Ctx>, Path(id): Path<i64>) -> ApiResult<Json<serde_json::Value>> {
    mine(&ctx, id).await?;
    let app = ctx.tenant.app.clone();
    Ok(to_json(blocking(move || app.order_collected(id)).await?))
}

/// `POST /api/v1/orders/{id}/not-collected`: the shopper did not come.
#[utoipa::path(post, path = "/api/v1/orders/{id}/not-collected", tag = "orders", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = Object)))]
pub async fn not_collected(Extension(ctx): Extension<Ctx>, Path(id): Path<i64>) -> ApiResult<Json<serde_json::Value>> {
    mine(&ctx, id).await?;
    let app = ctx.tenant.app.clone();
    Ok(to_json(blocking(move || app.order_not_collected(id)).await?))
}

/// The daily work, every `every` (the first time a minute after start): the day's triggered
/// offers (once a day), then collected orders to the lake.
pub(crate) async fn to_lake(tenant: std::sync::Arc<crate::Tenant>, every: std::time::Duration) {
    let mut wait = every.min(std::time::Duration::from_secs(60));
    loop {
        tokio::time::sleep(wait).await;
        wait = every;
        // The day's triggered offers, when the retailer has triggers (each day once).
        let app = tenant.app.clone();
        let has_triggers = app.root().join(unico_app::triggers::FILE).exists();
        if has_triggers {
            let name = tenant.name.clone();
            match blocking(move || app.run_triggers(None, &name, &unico_app::staff::Caller::cli())).await {
                Ok(run) => {
                    let issued: usize = run.triggers.iter().map(|t| t.issued).sum();
                    if issued > 0 {
                        tracing::info!(tenant = %tenant.name, day = %run.day, issued, "triggered offers issued");
                    }
                }
                Err(e) => {
                    tracing::warn!(tenant = %tenant.name, error = %e.message, "triggers not run; trying again later")
                }
            }
        }
        let app = tenant.app.clone();
        match blocking(move || app.orders_to_lake(&unico_app::Silent)).await {
            Ok(done) if done.orders > 0 => {
                tracing::info!(tenant = %tenant.name, orders = done.orders, lines = done.lines, "collected orders written to the lake")
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(tenant = %tenant.name, error = %e.message, "collected orders not written to the lake; trying again later")
            }
        }
    }
}

/// Sends the tenant's waiting e-mails every `every`, when `[mail] smtp_url` is set.
pub(crate) async fn mail(tenant: std::sync::Arc<crate::Tenant>, every: std::time::Duration) {
    loop {
        tokio::time::sleep(every).await;
        if tenant.app.settings().mail.smtp_url.is_empty() {
            continue;
        }
        let app = tenant.app.clone();
        match blocking(move || app.deliver_mail()).await {
            Ok(r) if r.sent + r.dropped + r.retry > 0 => {
                tracing::info!(tenant = %tenant.name, sent = r.sent, dropped = r.dropped, retry = r.retry, "e-mails delivered")
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(tenant = %tenant.name, error = %e.message, "e-mails not delivered; trying again later")
            }
        }
    }
}
