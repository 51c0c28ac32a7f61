//! The back office's click-and-collect pages for store staff: pickup slots and their
//! capacity, the orders of a slot with its pick list, an order's lines to mark missing or
//! substituted, and its way to ready, collected or not collected. A store manager sees
//! their own store (another store's order is not found); an admin any store.

use super::*;
use crate::auth::own_store;
use crate::routes::blocking;
use axum::extract::Path;
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;
use unico_app::orders::{Order, PickIn, SlotView};

const HERE: &str = "/office/orders";

fn state_words(state: &str) -> &'static str {
    match state {
        "placed" => "to prepare",
        "picking" => "being prepared",
        "ready" => "ready",
        "collected" => "collected",
        "not_collected" => "not collected",
        "cancelled" => "cancelled",
        _ => "unknown",
    }
}

/// A slot's time in words: `2026-12-02 10:00–11:00`.
fn slot_words(s: &SlotView) -> String {
    let day = s.starts_at.get(..10).unwrap_or("");
    let from = s.starts_at.get(11..16).unwrap_or("");
    let to = s.ends_at.get(11..16).unwrap_or("");
    format!("{day} {from}–{to}")
}

#[derive(Deserialize)]
pub(crate) struct OrdersPageQuery {
    store_id: Option<String>,
    slot_id: Option<i64>,
}

/// `GET /office/orders`: pickup slots from today on, a slot's orders and pick list, and the
/// form to add slots.
#[utoipa::path(get, path = "/office/orders", tag = "office", responses((status = 200, body = String, content_type = "text/html")))]
pub(crate) async fn orders(
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    q: QueryIn<OrdersPageQuery>,
) -> Response {
    let started = Instant::now();
    let r = async {
        let q = q.map(|q| q.0).unwrap_or(OrdersPageQuery { store_id: None, slot_id: None });
        let asked = q.store_id.filter(|s| !s.is_empty());
        let store = own_store(&ctx, asked.as_deref())?;
        let app = ctx.tenant.app.clone();
        let s = store.clone();
        let slot_id = q.slot_id;
        let (slots, list, stores) = blocking(move || {
            let slots = app.store_slots(s.as_deref())?;
            let list = match slot_id {
                Some(id) => app.store_orders(s.as_deref(), Some(id), &[])?,
                None => Vec::new(),
            };
            Ok((slots, list, app.app_stores()?))
        })
        .await?;
        let title = match &store {
            Some(s) => format!("Click-and-collect: store {s}"),
            None => "Click-and-collect".into(),
        };
        let mut p = page(&ctx, &headers, HERE, title);
        let cur = currency(&ctx);
        let manager = ctx.caller.role == Role::StoreManager;
        if !manager {
            let mut choices = vec![(String::new(), "Every store".to_string())];
            choices.extend(stores.iter().map(|s| (s.store_id.clone(), format!("{} ({})", s.name, s.store_id))));
            p.blocks.push(Block::Form(Form::get(HERE, "Show").inline().fields(vec![Field::select(
                "store_id",
                "Store",
                store.clone().unwrap_or_default(),
                choices,
            )])));
        }
        let mut t = Table::new("Pickup slots from today", &["slot", "store", "orders", "capacity", "places left"])
            .empty("No pickup slots: add some below.");
        for s in &slots {
            let mut href = format!("{HERE}?slot_id={}", s.id);
            if let Some(st) = &store {
                href.push_str(&format!("&store_id={}", url_encode(st)));
            }
            t.rows.push(vec![
                Cell::link(slot_words(s), href),
                Cell::text(s.store_id.clone()),
                Cell::num((s.capacity - s.left).to_string()),
                Cell::num(s.capacity.to_string()),
                Cell::num(s.left.to_string()),
            ]);
        }
        p.blocks.push(Block::Table(t));
        if let Some(slot) = slot_id.and_then(|id| slots.iter().find(|s| s.id == id)) {
            p.blocks.push(Block::heading(format!("Slot {} at store {}", slot_words(slot), slot.store_id)));
            let mut t = Table::new("Orders of this slot", &["order", "state", "lines", "total"])
                .empty("No orders in this slot.");
            for o in &list {
                t.rows.push(vec![
                    Cell::link(format!("#{}", o.id), format!("{HERE}/{}", o.id)),
                    Cell::text(state_words(&o.state)),
                    Cell::num(o.lines.len().to_string()),
                    Cell::num(pages::money(o.total_cents as f64, &cur)),
                ]);
            }
            p.blocks.push(Block::Table(t));
            // What to take from the shelves for the orders still to prepare.
            let mut pick: BTreeMap<(String, String), u32> = BTreeMap::new();
            for o in list.iter().filter(|o| o.state == "placed" || o.state == "picking") {
                for l in o.lines.iter().filter(|l| l.status == "ordered") {
                    *pick.entry((l.name.clone(), l.sku.clone())).or_default() += l.quantity;
                }
            }
            let mut t = Table::new("Pick list: orders still to prepare", &["product", "sku", "units"])
                .empty("Nothing left to pick.");
            for ((name, sku), units) in pick {
                t.rows.push(vec![Cell::text(name), Cell::text(sku), Cell::num(units.to_string())]);
            }
            p.blocks.push(Block::Table(t));
        }
        let store_field = if manager {
            Field::input("text", "store_id", "Store", store.clone().unwrap_or_default())
        } else {
            let choices = stores.iter().map(|s| (s.store_id.clone(), format!("{} ({})", s.name, s.store_id))).collect();
            Field::select("store_id", "Store", store.clone().unwrap_or_default(), choices)
        };
        let tomorrow = ctx.tenant.app.today().checked_add(jiff::Span::new().days(1)).map(|d| d.to_string());
        p.blocks.push(Block::Form(Form::post(format!("{HERE}/slots"), "Add slots").legend("Add pickup slots").fields(
            vec![
            store_field,
            Field::input("date", "day", "Day", tomorrow.unwrap_or_default()).required(),
            Field::input("time", "from", "First slot starts", "10:00").required(),
            Field::input("time", "to", "Last slot ends", "19:00").required(),
            Field::input("number", "minutes", "Each slot lasts (minutes)", "60").required(),
            Field::input("number", "capacity", "Orders per slot", "5")
                .required()
                .help("Slots already there at those times are kept as they are."),
        ],
        )));
        Ok(p)
    }
    .await;
    finish(r, &ctx, &headers, HERE, started)
}

#[derive(Deserialize)]
pub(crate) struct SlotsForm {
    store_id: Option<String>,
    day: Option<String>,
    from: Option<String>,
    to: Option<String>,
    minutes: Option<String>,
    capacity: Option<String>,
}

/// `POST /office/orders/slots`: adds a day's pickup slots.
#[utoipa::path(post, path = "/office/orders/slots", tag = "office",
    request_body(content_type = "application/x-www-form-urlencoded", content = Object),
    responses((status = 303, description = "back to the slots")))]
pub(crate) async fn add_slots(Extension(ctx): Extension<Ctx>, headers: HeaderMap, form: FormIn<SlotsForm>) -> Response {
    let r = async {
        let f = form.map(|f| f.0).map_err(|e| ApiError::new(Code::InputInvalid, e.body_text()))?;
        let store = own_store(&ctx, f.store_id.as_deref().filter(|s| !s.is_empty()))?
            .ok_or_else(|| ApiError::new(Code::InputInvalid, "choose a store"))?;
        let number = |v: Option<String>, what: &str| -> ApiResult<i64> {
            v.unwrap_or_default()
                .trim()
                .parse()
                .map_err(|_| ApiError::new(Code::InputInvalid, format!("{what} must be a whole number")))
        };
        let (minutes, capacity) = (number(f.minutes, "the slot's length")?, number(f.capacity, "orders per slot")?);
        let app = ctx.tenant.app.clone();
        let s = store.clone();
        blocking(move || {
            app.add_slots(
                &s,
                &f.day.unwrap_or_default(),
                &f.from.unwrap_or_default(),
                &f.to.unwrap_or_default(),
                minutes,
                capacity,
            )
        })
        .await?;
        Ok(store)
    }
    .await;
    match r {
        Ok(store) => see_other(&format!("{HERE}?store_id={}", url_encode(&store))),
        Err(e) => error_page(e, Some(&ctx), &headers, HERE),
    }
}

/// The order, if the caller's store may see it.
async fn order_of_mine(ctx: &Ctx, id: i64) -> ApiResult<Order> {
    let app = ctx.tenant.app.clone();
    let o = blocking(move || app.store_order(id)).await?;
    match own_store(ctx, None)? {
        Some(s) if s != o.store_id => Err(ApiError::new(Code::NotFound, format!("no order {id}"))),
        _ => Ok(o),
    }
}

/// `GET /office/orders/{id}`: an order's lines to pick, and its next step.
#[utoipa::path(get, path = "/office/orders/{id}", tag = "office", params(("id" = i64, Path)),
    responses((status = 200, body = String, content_type = "text/html")))]
pub(crate) async fn order(Extension(ctx): Extension<Ctx>, headers: HeaderMap, Path(id): Path<i64>) -> Response {
    let started = Instant::now();
    let r = async {
        let o = order_of_mine(&ctx, id).await?;
        let cur = currency(&ctx);
        let mut p = page(&ctx, &headers, HERE, format!("Order #{}: {}", o.id, state_words(&o.state)));
        p.blocks.push(Block::para(format!(
            "Store {}, pickup {}; placed {} (offers of {}); customer #{}.",
            o.store_id,
            slot_words(&o.slot),
            o.placed_at,
            o.day,
            o.customer_id
        )));
        let mut t = Table::new("Lines", &["line", "product", "units", "price", "status", "given instead"]);
        for l in &o.lines {
            t.rows.push(vec![
                Cell::num(l.line_no.to_string()),
                Cell::text(format!("{} ({})", l.name, l.sku)),
                Cell::num(l.quantity.to_string()),
                Cell::num(pages::money(l.unit_price_cents as f64, &cur)),
                Cell::text(l.status.clone()),
                Cell::text(
                    l.substitute
                        .as_ref()
                        .map(|s| {
                            format!(
                                "{} × {} ({}) at {}",
                                s.quantity,
                                s.name,
                                s.sku,
                                pages::money(s.unit_price_cents as f64, &cur)
                            )
                        })
                        .unwrap_or_default(),
                ),
            ]);
        }
        p.blocks.push(Block::Table(t));
        let mut d = Table::new("Personal discounts", &["offer", "line", "discount"]).empty("No personal discount.");
        for x in &o.discounts {
            d.rows.push(vec![
                Cell::text(x.description.clone()),
                Cell::num(x.line_no.to_string()),
                Cell::num(pages::money(x.amount_cents as f64, &cur)),
            ]);
        }
        p.blocks.push(Block::Table(d));
        p.blocks.push(Block::para(format!(
            "Subtotal {}, discounts {}, to pay {} (when placed: {}).",
            pages::money(o.subtotal_cents as f64, &cur),
            pages::money(o.discount_cents as f64, &cur),
            pages::money(o.total_cents as f64, &cur),
            pages::money(o.placed_total_cents as f64, &cur),
        )));
        if o.state == "placed" || o.state == "picking" {
            p.blocks.push(Block::heading("Picking"));
            for l in &o.lines {
                let n = l.line_no;
                let sub = l.substitute.as_ref();
                p.blocks.push(Block::Form(
                    Form::post(format!("{HERE}/{id}/lines/{n}"), &format!("Save line {n}"))
                        .legend(&format!("Line {n}: {} × {}", l.quantity, l.name))
                        .fields(vec![
                            Field::select(
                                &format!("status-{n}"),
                                "Status",
                                l.status.clone(),
                                vec![
                                    ("ordered".into(), "As ordered".into()),
                                    ("missing".into(), "Missing".into()),
                                    ("substituted".into(), "Substituted".into()),
                                ],
                            ),
                            Field::input(
                                "text",
                                &format!("sku-{n}"),
                                "Substitute (sku)",
                                sub.map(|s| s.sku.clone()).unwrap_or_default(),
                            ),
                            Field::input(
                                "number",
                                &format!("quantity-{n}"),
                                "Substitute units",
                                sub.map(|s| s.quantity).unwrap_or(l.quantity).to_string(),
                            ),
                        ]),
                ));
            }
            p.blocks.push(Block::Form(Form::post(format!("{HERE}/{id}/state"), "Ready for collection").buttons(&[(
                "Ready for collection",
                "to",
                "ready",
            )])));
        } else if o.state == "ready" {
            p.blocks.push(Block::Form(
                Form::post(format!("{HERE}/{id}/state"), "Collected")
                    .buttons(&[("Collected", "to", "collected"), ("Not collected", "to", "not_collected")]),
            ));
        } else if let Some(r) = &o.redemption_id {
            p.blocks.push(Block::para(format!("Redemption {r} (till {}).", unico_app::orders::TILL)));
        }
        p.blocks.push(Block::Links(vec![Link {
            href: format!("{HERE}?slot_id={}&store_id={}", o.slot.id, url_encode(&o.store_id)),
            label: "Back to the slot's orders".into(),
        }]));
        Ok(p)
    }
    .await;
    finish(r, &ctx, &headers, HERE, started)
}

/// `POST /office/orders/{id}/lines/{line_no}`: marks a line (fields `status-N`, `sku-N`,
/// `quantity-N`).
#[utoipa::path(post, path = "/office/orders/{id}/lines/{line_no}", tag = "office",
    params(("id" = i64, Path), ("line_no" = u32, Path)),
    request_body(content_type = "application/x-www-form-urlencoded", content = Object),
    responses((status = 303, description = "back to the order")))]
pub(crate) async fn pick(
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    Path((id, n)): Path<(i64, u32)>,
    form: FormIn<HashMap<String, String>>,
) -> Response {
    let r = async {
        let f = form.map(|f| f.0).map_err(|e| ApiError::new(Code::InputInvalid, e.body_text()))?;
        order_of_mine(&ctx, id).await?;
        let get = |k: &str| f.get(&format!("{k}-{n}")).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let quantity = match get("quantity") {
            Some(q) => Some(q.parse().map_err(|_| ApiError::new(Code::InputInvalid, "units must be a whole number"))?),
            None => None,
        };
        let status = get("status").unwrap_or_else(|| "ordered".into());
        let sku = if status == "substituted" { get("sku") } else { None };
        let mark = PickIn { status, sku, quantity };
        let app = ctx.tenant.app.clone();
        blocking(move || app.order_pick(id, n, &mark)).await
    }
    .await;
    match r {
        Ok(_) => see_other(&format!("{HERE}/{id}")),
        Err(e) => error_page(e, Some(&ctx), &headers, HERE),
    }
}

#[derive(Deserialize)]
pub(crate) struct StateForm {
    to: Option<String>,
}

/// `POST /office/orders/{id}/state`: `to` ready, collected or not_collected.
#[utoipa::path(post, path = "/office/orders/{id}/state", tag = "office", params(("id" = i64, Path)),
    request_body(content_type = "application/x-www-form-urlencoded", content = Object),
    responses((status = 303, description = "back to the order")))]
pub(crate) async fn set_state(
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    form: FormIn<StateForm>,
) -> Response {
    let r = async {
        let to = form.ok().and_then(|f| f.0.to).unwrap_or_default();
        order_of_mine(&ctx, id).await?;
        let app = ctx.tenant.app.clone();
        blocking(move || match to.as_str() {
            "ready" => app.order_ready(id),
            "collected" => app.order_collected(id),
            "not_collected" => app.order_not_collected(id),
            other => {
                Err(unico_app::Error::new(Code::InputInvalid, format!("{other:?}: ready, collected or not_collected")))
            }
        })
        .await
    }
    .await;
    match r {
        Ok(_) => see_other(&format!("{HERE}/{id}")),
        Err(e) => error_page(e, Some(&ctx), &headers, HERE),
    }
}
