//! The tills' API: `POST /api/v1/pos/{evaluate,confirm,void,refund}` with a till's token.
//!
//! A till's token (`unico terminals add`) is looked up in memory in each tenant's wallets,
//! so it names its retailer by itself, and works only for the store it was issued for.
//! `evaluate` answers from memory on the request's own thread; the others are one store
//! transaction each on a blocking thread. See `docs/pos.md`.

use crate::error::{ApiError, ApiResult};
use crate::routes::{blocking, json};
use crate::{State, Tenant};
use axum::Extension;
use axum::Json;
use axum::extract::Request;
use serde::Deserialize;
use std::sync::Arc;
use unico_app::Code;
use unico_app::pos::{Basket, BasketLine, PosAnswer, RefundLine};
use unico_store::pos::ReceiptKey;
use utoipa::ToSchema;

/// A till, authenticated by its token.
#[derive(Clone)]
pub struct TillCtx {
    /// Its retailer.
    pub tenant: Arc<Tenant>,
    /// Its store (a till may send any till id of it: a web shop has several).
    pub store_id: String,
}

/// Finds the till a bearer token belongs to (in memory), or refuses with 401.
pub(crate) fn authenticate(state: &State, req: &mut Request) -> ApiResult<()> {
    let token = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| ApiError::new(Code::Unauthorized, "a till sends Authorization: Bearer <its token>"))?;
    for tenant in state.tenants.values() {
        if let Some((store_id, _till)) = tenant.app.pos_terminal(token)? {
            req.extensions_mut().insert(TillCtx { tenant: tenant.clone(), store_id });
            return Ok(());
        }
    }
    Err(ApiError::new(Code::Unauthorized, "this till's token is unknown or revoked"))
}

/// A basket (evaluate), or a basket with its receipt number (confirm).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BasketBody {
    /// The loyalty card shown, or null.
    pub card: Option<String>,
    /// The store: the till's own.
    pub store_id: String,
    /// The till.
    pub till_id: String,
    /// When (RFC 3339 with an offset, e.g. `2026-01-07T10:15:00+01:00`); now when absent.
    pub at: Option<String>,
    /// The lines (at most 1,000).
    pub lines: Vec<LineBody>,
    /// The receipt's number (confirm: required).
    pub receipt_no: Option<String>,
}

/// A basket line.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineBody {
    /// Unique in the basket.
    pub line_no: u32,
    /// The product.
    pub sku: String,
    /// A positive decimal string with at most three decimals: "2", "0.350".
    pub quantity: String,
    /// Price of one unit, cents.
    pub unit_price_cents: i64,
}

/// A receipt to void.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoidBody {
    /// The store.
    pub store_id: String,
    /// The till.
    pub till_id: String,
    /// The receipt's number.
    pub receipt_no: String,
}

/// Units returned.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    /// The store.
    pub store_id: String,
    /// The till the receipt was confirmed at.
    pub till_id: String,
    /// The receipt's number.
    pub receipt_no: String,
    /// The refund's own number: a retry with it changes nothing more.
    pub refund_no: String,
    /// The lines and units returned.
    pub lines: Vec<RefundLineBody>,
}

/// A line returned.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundLineBody {
    /// The receipt's line.
    pub line_no: u32,
    /// Units returned, decimal string.
    pub quantity: String,
}

/// The answer to evaluate and confirm (as `unico_app::pos::PosAnswer`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PosAnswerBody {
    /// confirm only.
    redemption_id: Option<String>,
    card_known: bool,
    discounts: Vec<DiscountBody>,
    subtotal_cents: i64,
    discount_cents: i64,
    total_cents: i64,
    offers_not_applied: Vec<NotAppliedBody>,
    /// confirm only: a retry answered as first, nothing more redeemed.
    replayed: Option<bool>,
}

/// A discount given.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DiscountBody {
    offer_code: String,
    line_no: u32,
    sku: String,
    amount_cents: i64,
    description: String,
}

/// An offer of the shopper's not applied.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct NotAppliedBody {
    offer_code: String,
    /// `not_in_basket`, `below_threshold`, `already_used`, `not_activated`, `not_valid_today`,
    /// `other_store` or `budget_spent`.
    reason: String,
}

fn own_store(t: &TillCtx, store_id: &str) -> ApiResult<()> {
    if store_id.trim() != t.store_id {
        return Err(ApiError::forbidden(format!("this till's token is for store {}, not {store_id:?}", t.store_id))
            .field("store_id"));
    }
    Ok(())
}

fn basket(b: BasketBody) -> Basket {
    Basket {
        card: b.card,
        store_id: b.store_id,
        till_id: b.till_id,
        at: b.at,
        lines: b
            .lines
            .into_iter()
            .map(|l| BasketLine {
                line_no: l.line_no,
                sku: l.sku,
                quantity: l.quantity,
                unit_price_cents: l.unit_price_cents,
            })
            .collect(),
    }
}

/// The SHA-256 of a body as sent (keys in order): the same request hashes the same.
fn request_hash(body: &[u8]) -> ApiResult<String> {
    let v: serde_json::Value = json(body)?;
    Ok(unico_store::pos::digest(&v.to_string()))
}

/// `POST /api/v1/pos/evaluate`: the card's personal discounts on the basket. Pure.
#[utoipa::path(post, path = "/api/v1/pos/evaluate", tag = "pos", security(("till" = [])),
    request_body = BasketBody, responses((status = 200, body = PosAnswerBody)))]
pub async fn evaluate(Extension(t): Extension<TillCtx>, body: axum::body::Bytes) -> ApiResult<Json<PosAnswer>> {
    let b: BasketBody = json(&body)?;
    own_store(&t, &b.store_id)?;
    Ok(Json(t.tenant.app.pos_evaluate(&basket(b))?))
}

/// `POST /api/v1/pos/confirm`: prices and redeems the basket as a paid receipt, once.
#[utoipa::path(post, path = "/api/v1/pos/confirm", tag = "pos", security(("till" = [])),
    request_body = BasketBody, responses((status = 200, body = PosAnswerBody)))]
pub async fn confirm(Extension(t): Extension<TillCtx>, body: axum::body::Bytes) -> ApiResult<Json<PosAnswer>> {
    let hash = request_hash(&body)?;
    let mut b: BasketBody = json(&body)?;
    own_store(&t, &b.store_id)?;
    let Some(receipt_no) = b.receipt_no.take() else {
        return Err(ApiError::new(Code::InputInvalid, "receipt_no is required").field("receipt_no"));
    };
    let app = t.tenant.app.clone();
    let basket = basket(b);
    let started = std::time::Instant::now();
    let a = blocking(move || app.pos_confirm(&basket, &receipt_no, &hash)).await?;
    metrics::histogram!("unico_pos_confirm_seconds").record(started.elapsed().as_secs_f64());
    Ok(Json(a))
}

/// `POST /api/v1/pos/void`: undoes a receipt's redemptions. Idempotent.
#[utoipa::path(post, path = "/api/v1/pos/void", tag = "pos", security(("till" = [])),
    request_body = VoidBody, responses((status = 200, body = Object)))]
pub async fn void(Extension(t): Extension<TillCtx>, body: axum::body::Bytes) -> ApiResult<Json<serde_json::Value>> {
    let v: VoidBody = json(&body)?;
    own_store(&t, &v.store_id)?;
    let key = ReceiptKey {
        store_id: v.store_id.trim().into(),
        till_id: v.till_id.trim().into(),
        receipt_no: v.receipt_no.trim().into(),
    };
    let app = t.tenant.app.clone();
    Ok(Json(blocking(move || app.pos_void(&key)).await?))
}

/// `POST /api/v1/pos/refund`: returned units take back their share of the discount.
/// Idempotent per `refund_no`.
#[utoipa::path(post, path = "/api/v1/pos/refund", tag = "pos", security(("till" = [])),
    request_body = RefundBody, responses((status = 200, body = Object)))]
pub async fn refund(Extension(t): Extension<TillCtx>, body: axum::body::Bytes) -> ApiResult<Json<serde_json::Value>> {
    let hash = request_hash(&body)?;
    let r: RefundBody = json(&body)?;
    own_store(&t, &r.store_id)?;
    let key = ReceiptKey {
        store_id: r.store_id.trim().into(),
        till_id: r.till_id.trim().into(),
        receipt_no: r.receipt_no.trim().into(),
    };
    let lines: Vec<RefundLine> =
        r.lines.into_iter().map(|l| RefundLine { line_no: l.line_no, quantity: l.quantity }).collect();
    let app = t.tenant.app.clone();
    let refund_no = r.refund_no;
    Ok(Json(blocking(move || app.pos_refund(&key, &refund_no, &lines, &hash)).await?))
}

/// Keeps a tenant's wallets current: applies the store's changes every `every`.
pub(crate) async fn refresher(tenant: Arc<Tenant>, every: std::time::Duration) {
    for round in 1u64.. {
        tokio::time::sleep(every).await;
        let app = tenant.app.clone();
        // Every ten minutes or so, the change log's old entries go.
        let prune = round % 600 == 0;
        match blocking(move || {
            if prune {
                app.pos_prune()?;
            }
            app.pos_refresh()
        })
        .await
        {
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(tenant = %tenant.name, error = %e.message, "the tills' wallets could not be refreshed")
            }
        }
    }
}
