//! Click-and-collect: shopping from home in the app, for pickup at a store.
//!
//! The shopper browses the tills' product master ("my usual products" first, from their
//! habits), fills a basket priced by the tills' own pricing ([`App::price_for`], the code
//! of `POST /pos/evaluate`, with the shopper's offers from memory), and places it for a
//! pickup slot with a place left (claimed in the store by one conditional update, so the
//! last place goes to exactly one shopper). Placing is idempotent per `Idempotency-Key`.
//! The order keeps the list prices and the day it was placed: its offers are those valid
//! then. Store staff mark lines missing or substituted while picking (the discounts are
//! evaluated again), then ready, then collected — which confirms the redemptions through
//! the tills' confirm transaction ([`App::confirm_checked`], till `click-collect`, receipt
//! `order-<id>`), once however often it is asked. A batch step ([`App::orders_to_lake`])
//! writes collected orders to the lake as receipts of channel `app` through the receipts'
//! import, which skips lines the lake holds, so an order is never written twice. See
//! `docs/orders.md`.

use crate::error::{Code, Error, Result};
use crate::pos::{Checked, NotApplied, PosAnswer, PosDiscount};
use crate::progress::Progress;
use crate::shopper::Shopper;
use crate::{App, bail};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use unico_lake::source::{Row, Source, Value};
use unico_offers::till::Line;
use unico_store::orders::{NewOrder, OrderFilter, Placed, StoredOrder};
use unico_store::pos::ReceiptKey;

/// The till a collected order is confirmed on (receipt `order-<id>` of the pickup store).
pub const TILL: &str = "click-collect";
/// Most lines an order may have.
pub const MAX_ORDER_LINES: usize = 200;
/// Most units of one line.
pub const MAX_UNITS: u32 = 99;
/// A product is "due again" when its habit says so within this many days.
pub const DUE_WITHIN_DAYS: i64 = 7;

/// A line as the shopper puts it in the basket.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopLine {
    /// The product.
    pub sku: String,
    /// Units (1–99).
    pub quantity: u32,
}

/// A basket to price.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasketIn {
    /// The pickup store (the shopper's favourite store when absent).
    pub store_id: Option<String>,
    /// The lines.
    pub lines: Vec<ShopLine>,
}

/// An order to place.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderIn {
    /// The pickup store.
    pub store_id: String,
    /// The slot (`GET /app/stores/{store}/slots`).
    pub slot_id: i64,
    /// The lines.
    pub lines: Vec<ShopLine>,
}

/// What store staff mark on a line while picking.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PickIn {
    /// `missing`, `substituted` (with `sku` and `quantity`) or `ordered` (undoes a mark).
    pub status: String,
    /// The substitute.
    pub sku: Option<String>,
    /// The substitute's units (the ordered units when absent).
    pub quantity: Option<u32>,
}

/// A product given in place of the one ordered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Substitute {
    /// The product.
    pub sku: String,
    /// Its name.
    pub name: String,
    /// Units.
    pub quantity: u32,
    /// Price of one unit, cents: its list price, never more than the ordered product's.
    pub unit_price_cents: i64,
}

/// A line of a basket or an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderLine {
    /// 1, 2, …
    pub line_no: u32,
    /// The product.
    pub sku: String,
    /// Its name.
    pub name: String,
    /// Units.
    pub quantity: u32,
    /// List price of one unit when the order was placed, cents.
    pub unit_price_cents: i64,
    /// `ordered`, `missing` or `substituted`.
    pub status: String,
    /// What is given in its place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub substitute: Option<Substitute>,
}

/// A basket priced.
#[derive(Debug, Clone, Serialize)]
pub struct BasketView {
    /// The store it is priced for.
    pub store_id: String,
    /// The day its offers are valid on.
    pub day: String,
    /// The lines with their list prices.
    pub lines: Vec<OrderLine>,
    /// Personal discounts given (the tills' evaluate).
    pub discounts: Vec<PosDiscount>,
    /// The shopper's offers that do not apply, and why.
    pub offers_not_applied: Vec<NotApplied>,
    /// Before discounts, cents.
    pub subtotal_cents: i64,
    /// Discounts, cents.
    pub discount_cents: i64,
    /// To pay, cents.
    pub total_cents: i64,
}

/// A pickup slot as the app and the back office show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlotView {
    /// Its number.
    pub id: i64,
    /// The store.
    pub store_id: String,
    /// Start, in the chain's time zone (RFC 3339 with the offset).
    pub starts_at: String,
    /// End, likewise.
    pub ends_at: String,
    /// Orders it takes.
    pub capacity: i64,
    /// Places left.
    pub left: i64,
}

/// An order as the shopper and the staff see it.
#[derive(Debug, Clone, Serialize)]
pub struct Order {
    /// Its number.
    pub id: i64,
    /// The shopper (the staff's view; the shopper sees their own orders only).
    pub customer_id: i64,
    /// The pickup store.
    pub store_id: String,
    /// The pickup slot.
    pub slot: SlotView,
    /// `placed`, `picking`, `ready`, `collected`, `not_collected` or `cancelled`.
    pub state: String,
    /// When placed (RFC 3339, UTC).
    pub placed_at: String,
    /// The day whose offers it keeps.
    pub day: String,
    /// The lines with the picking marks.
    pub lines: Vec<OrderLine>,
    /// Personal discounts, as last evaluated (at collection: as confirmed).
    pub discounts: Vec<PosDiscount>,
    /// Before discounts, cents.
    pub subtotal_cents: i64,
    /// Discounts, cents.
    pub discount_cents: i64,
    /// To pay, cents.
    pub total_cents: i64,
    /// To pay as placed, cents (differs once lines are missing or substituted).
    pub placed_total_cents: i64,
    /// The shopper may still cancel it.
    pub can_cancel: bool,
    /// When collected.
    pub collected_at: Option<String>,
    /// Its receipt is in the lake.
    pub in_lake: bool,
    /// The redemption of the collection (the tills' confirm).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redemption_id: Option<String>,
    /// A repeated placing answered with the order it placed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replayed: Option<bool>,
}

/// The pricing an order keeps (the `priced` column).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pricing {
    placed_total_cents: i64,
    answer: PosAnswer,
}

/// Catalogue filters.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogueQuery {
    /// Words that the name, brand, category or sku must all hold.
    pub q: Option<String>,
    /// One department.
    pub department: Option<String>,
    /// One category.
    pub category: Option<String>,
    /// One brand.
    pub brand: Option<String>,
    /// At most this list price, cents.
    pub max_price_cents: Option<i64>,
    /// Only the shopper's usual products.
    pub usual: Option<bool>,
    /// How many (default 50, at most 200).
    pub limit: Option<usize>,
    /// From which (paging).
    pub offset: Option<usize>,
}

/// A product of the catalogue.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogueItem {
    /// The product.
    pub sku: String,
    /// Name.
    pub name: String,
    /// Department.
    pub department: String,
    /// Category.
    pub category: String,
    /// Brand.
    pub brand: String,
    /// List price of one unit, cents.
    pub price_cents: i64,
    /// One of the shopper's usual products (their habits).
    pub usual: bool,
    /// When their habit says they buy it again (a date), for usual products.
    pub due_on: Option<String>,
    /// Due again within a week.
    pub due: bool,
    /// The shopper's offers on it (codes).
    pub offers: Vec<String>,
}

/// A page of the catalogue, with what can narrow it.
#[derive(Debug, Clone, Serialize)]
pub struct Catalogue {
    /// The products, usual ones first (soonest due first), then by name.
    pub items: Vec<CatalogueItem>,
    /// How many match in all.
    pub total: usize,
    /// Departments of the whole catalogue.
    pub departments: Vec<String>,
    /// Categories within the department asked (all otherwise).
    pub categories: Vec<String>,
    /// Brands within the department and category asked.
    pub brands: Vec<String>,
}

/// What one batch step wrote to the lake.
#[derive(Debug, Clone, Serialize)]
pub struct OrdersToLake {
    /// Orders written.
    pub orders: usize,
    /// Receipt lines read from them.
    pub lines: u64,
    /// Lines new to the lake (the rest were there from an earlier run cut short).
    pub lines_imported: u64,
}

fn digest(text: &str) -> String {
    unico_store::pos::digest(text)
}

impl App {
    fn local(&self, stamp: &str) -> String {
        match stamp.parse::<jiff::Timestamp>() {
            Ok(t) => t.to_zoned_datetime(self.chain_tz()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
            Err(_) => stamp.to_string(),
        }
    }

    fn slot_view(&self, s: &unico_store::orders::Slot) -> SlotView {
        SlotView {
            id: s.id,
            store_id: s.store_id.clone(),
            starts_at: self.local(&s.starts_at),
            ends_at: self.local(&s.ends_at),
            capacity: s.capacity,
            left: (s.capacity - s.taken).max(0),
        }
    }

    fn money(&self, cents: i64) -> String {
        format!(
            "{}{}.{:02} {}",
            if cents < 0 { "-" } else { "" },
            cents.abs() / 100,
            cents.abs() % 100,
            self.settings().currency
        )
    }

    /// Checks a basket's lines and prices them from the product master (list prices now).
    fn order_lines(&self, lines: &[ShopLine]) -> Result<Vec<OrderLine>> {
        if lines.is_empty() {
            bail!(Code::InputInvalid, "the basket is empty");
        }
        if lines.len() > MAX_ORDER_LINES {
            bail!(Code::InputInvalid, "an order has at most {MAX_ORDER_LINES} lines, this one {}", lines.len());
        }
        let mut out = Vec::with_capacity(lines.len());
        for (i, l) in lines.iter().enumerate() {
            if !(1..=MAX_UNITS).contains(&l.quantity) {
                bail!(Code::InputInvalid, "lines[{i}]: quantity {} is not between 1 and {MAX_UNITS}", l.quantity);
            }
            let p = self.product_of(l.sku.trim())?.ok_or_else(|| {
                Error::new(Code::SkuUnknown, format!("lines[{i}]: sku {:?} is not in the product master", l.sku))
            })?;
            let Some(price) = p.list_price_cents.filter(|p| *p > 0) else {
                bail!(Code::InputInvalid, "lines[{i}]: {} has no list price and cannot be ordered", p.name);
            };
            out.push(OrderLine {
                line_no: i as u32 + 1,
                sku: p.sku,
                name: p.name,
                quantity: l.quantity,
                unit_price_cents: price,
                status: "ordered".into(),
                substitute: None,
            });
        }
        Ok(out)
    }

    /// The catalogue: products with a list price, filtered, the shopper's usual products
    /// first (those due soonest first), then by name; their offers marked.
    pub fn app_catalogue(&self, who: &Shopper, q: &CatalogueQuery) -> Result<Catalogue> {
        let words: Vec<String> = q.q.as_deref().unwrap_or("").split_whitespace().map(str::to_lowercase).collect();
        let habits = self.with_store(async |s| Ok(s.habits_of(who.customer).await?))?;
        let due_on: HashMap<&str, &str> = habits.iter().map(|(sku, _, d)| (sku.as_str(), d.as_str())).collect();
        let soon = self
            .today()
            .checked_add(jiff::Span::new().days(DUE_WITHIN_DAYS))
            .map(|d| d.to_string())
            .unwrap_or_default();
        let offers = self.app_offers(who)?;
        let catalogue = self.catalogue()?;
        let eq = |a: &Option<String>, b: &str| a.as_deref().is_none_or(|a| a.is_empty() || a == b);
        let mut departments = BTreeSet::new();
        let mut categories = BTreeSet::new();
        let mut brands = BTreeSet::new();
        // The matches by reference; only the page asked for is copied out.
        let mut hits: Vec<(Option<&str>, &unico_offers::policy::Product, i64)> = Vec::new();
        for p in catalogue.iter() {
            let Some(price) = p.list_price_cents.filter(|p| *p > 0) else { continue };
            if !p.department.is_empty() {
                departments.insert(p.department.as_str());
            }
            if !eq(&q.department, &p.department) {
                continue;
            }
            if !p.category.is_empty() {
                categories.insert(p.category.as_str());
            }
            if !eq(&q.category, &p.category) {
                continue;
            }
            if !p.brand.is_empty() {
                brands.insert(p.brand.as_str());
            }
            if !eq(&q.brand, &p.brand) || q.max_price_cents.is_some_and(|m| price > m) {
                continue;
            }
            let usual = due_on.get(p.sku.as_str()).copied();
            if q.usual == Some(true) && usual.is_none() {
                continue;
            }
            if !words.is_empty() {
                let hay = format!("{} {} {} {} {}", p.name, p.brand, p.category, p.department, p.sku).to_lowercase();
                if !words.iter().all(|w| hay.contains(w)) {
                    continue;
                }
            }
            hits.push((usual, p, price));
        }
        // Usual products first, soonest due first; then by name.
        hits.sort_by(|a, b| {
            (a.0.is_none(), a.0.unwrap_or(""), &a.1.name, &a.1.sku).cmp(&(
                b.0.is_none(),
                b.0.unwrap_or(""),
                &b.1.name,
                &b.1.sku,
            ))
        });
        let total = hits.len();
        let limit = q.limit.unwrap_or(50).clamp(1, 200);
        let items = hits
            .into_iter()
            .skip(q.offset.unwrap_or(0))
            .take(limit)
            .map(|(usual, p, price)| CatalogueItem {
                sku: p.sku.clone(),
                name: p.name.clone(),
                department: p.department.clone(),
                category: p.category.clone(),
                brand: p.brand.clone(),
                price_cents: price,
                usual: usual.is_some(),
                due_on: usual.map(str::to_string),
                due: usual.is_some_and(|d| d <= soon.as_str()),
                offers: offers
                    .iter()
                    .filter(|o| o.sku == p.sku || o.category.as_deref() == Some(p.category.as_str()))
                    .map(|o| o.code.clone())
                    .collect(),
            })
            .collect();
        Ok(Catalogue {
            items,
            total,
            departments: departments.into_iter().map(str::to_string).collect(),
            categories: categories.into_iter().map(str::to_string).collect(),
            brands: brands.into_iter().take(200).map(str::to_string).collect(),
        })
    }

    /// The basket priced for the shopper today at the store: list prices and the personal
    /// discounts the tills would give (their evaluate, the same code).
    pub fn app_basket(&self, who: &Shopper, b: &BasketIn) -> Result<BasketView> {
        let store_id = match b.store_id.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(s) => s.trim().to_string(),
            None => who.account.store_id.clone().unwrap_or_default(),
        };
        if !store_id.is_empty() {
            self.known_store(&store_id)?;
        }
        let lines = self.order_lines(&b.lines)?;
        let day = self.today().to_string();
        let a = self.price_for(who.customer, &effective(&lines), &store_id, &day)?;
        Ok(BasketView {
            store_id,
            day,
            lines,
            discounts: a.discounts,
            offers_not_applied: a.offers_not_applied,
            subtotal_cents: a.subtotal_cents,
            discount_cents: a.discount_cents,
            total_cents: a.total_cents,
        })
    }

    /// The first start a slot may have to take an order now: now plus the cut-off.
    fn open_after(&self, now: jiff::Timestamp) -> String {
        let cutoff = jiff::SignedDuration::from_mins(self.settings().app.order_cutoff_minutes);
        unico_store::stamp(now.checked_add(cutoff).unwrap_or(now))
    }

    /// A store's slots open for orders (starting after the cut-off), with places left.
    pub fn app_slots(&self, store_id: &str) -> Result<Vec<SlotView>> {
        self.known_store(store_id)?;
        let open = self.open_after(jiff::Timestamp::now());
        let slots = self.with_store(async |s| Ok(s.slots(Some(store_id), &open).await?))?;
        Ok(slots.iter().filter(|s| s.starts_at > open).map(|s| self.slot_view(s)).collect())
    }

    /// Places the shopper's order; the same `idempotency_key` again answers the order it
    /// placed (`replayed`), another body under it is `conflict`.
    pub fn app_place(&self, who: &Shopper, o: &OrderIn, idempotency_key: &str) -> Result<Order> {
        self.place_for(who.customer, o, idempotency_key)
    }

    /// Places an order for a customer (the app's shopper; the demo's).
    pub fn place_for(&self, customer: i64, o: &OrderIn, idempotency_key: &str) -> Result<Order> {
        let key = idempotency_key.trim();
        if key.is_empty() || key.len() > 128 {
            bail!(
                Code::InputInvalid,
                "the Idempotency-Key header is required: 1 to 128 characters, new for each order"
            );
        }
        let request_hash = digest(&serde_json::to_string(o)?);
        self.known_store(&o.store_id)?;
        let lines = self.order_lines(&o.lines)?;
        let now = jiff::Timestamp::now();
        let placed_at = unico_store::stamp(now);
        let day = self.chain_tz().to_datetime(now).date().to_string();
        let answer = self.price_for(customer, &effective(&lines), &o.store_id, &day)?;
        let pricing = Pricing { placed_total_cents: answer.total_cents, answer };
        let lines_json = serde_json::to_string(&lines)?;
        let priced_json = serde_json::to_string(&pricing)?;
        let slot = self
            .with_store(async |s| Ok(s.slots(Some(&o.store_id), &placed_at).await?))?
            .into_iter()
            .find(|s| s.id == o.slot_id);
        let when = slot.as_ref().map(|s| self.local(&s.starts_at)).unwrap_or_default();
        let body = format!(
            "We have your order for store {} ({} lines, {} with your personal discounts). Pick it up from {}.",
            o.store_id,
            lines.len(),
            self.money(pricing.answer.total_cents),
            when
        );
        let new = NewOrder {
            customer_id: customer,
            store_id: &o.store_id,
            slot_id: o.slot_id,
            idempotency_key: key,
            request_hash: &request_hash,
            placed_at: &placed_at,
            open_after: &self.open_after(now),
            day: &day,
            lines: &lines_json,
            priced: &priced_json,
            total_cents: pricing.answer.total_cents,
            message: ("Your order is confirmed", &body),
        };
        let placed = self.with_store(async |s| Ok(s.place_order(&new).await?))?;
        match placed {
            Placed::New(o) => self.order_view(&o, Some(false)),
            Placed::Replayed(o) => self.order_view(&o, Some(true)),
            Placed::SlotFull => Err(Error::new(
                Code::SlotFull,
                format!("slot {} of store {} has no place left: choose another", o.slot_id, o.store_id),
            )),
            Placed::SlotClosed => Err(Error::new(
                Code::NotFound,
                format!("store {} has no slot {} open for orders", o.store_id, o.slot_id),
            )),
        }
    }

    fn order_view(&self, o: &StoredOrder, replayed: Option<bool>) -> Result<Order> {
        let lines: Vec<OrderLine> = serde_json::from_str(&o.lines)?;
        let pricing: Pricing = serde_json::from_str(&o.priced)?;
        let now = unico_store::stamp(jiff::Timestamp::now());
        Ok(Order {
            id: o.id,
            customer_id: o.customer_id,
            store_id: o.store_id.clone(),
            slot: self.slot_view(&o.slot),
            state: o.state.clone(),
            placed_at: o.placed_at.clone(),
            day: o.day.clone(),
            lines,
            discounts: pricing.answer.discounts,
            subtotal_cents: pricing.answer.subtotal_cents,
            discount_cents: pricing.answer.discount_cents,
            total_cents: pricing.answer.total_cents,
            placed_total_cents: pricing.placed_total_cents,
            can_cancel: o.state == "placed" && o.slot.starts_at > now,
            collected_at: o.collected_at.clone(),
            in_lake: o.in_lake_at.is_some(),
            redemption_id: pricing.answer.redemption_id,
            replayed,
        })
    }

    /// The shopper's orders, newest slot first.
    pub fn app_orders(&self, who: &Shopper) -> Result<Vec<Order>> {
        self.customer_orders(who.customer)
    }

    /// A customer's orders (the back office's single view), newest slot first.
    pub fn customer_orders(&self, customer: i64) -> Result<Vec<Order>> {
        let f = OrderFilter { customer_id: Some(customer), ..OrderFilter::default() };
        let mut list = self.with_store(async |s| Ok(s.orders(&f).await?))?;
        list.reverse();
        list.iter().map(|o| self.order_view(o, None)).collect()
    }

    fn stored_order(&self, id: i64) -> Result<StoredOrder> {
        self.with_store(async |s| {
            s.order(id).await.map_err(|e| match e.kind() {
                unico_store::ErrorKind::NotFound => Error::new(Code::NotFound, format!("no order {id}")),
                _ => e.into(),
            })
        })
    }

    /// One of the shopper's orders (another's is not found).
    pub fn app_order(&self, who: &Shopper, id: i64) -> Result<Order> {
        let o = self.stored_order(id)?;
        if o.customer_id != who.customer {
            bail!(Code::NotFound, "no order {id}");
        }
        self.order_view(&o, None)
    }

    /// Cancels one of the shopper's orders, while the store has not started it and its
    /// slot has not begun; its place is given back. Cancelling again changes nothing.
    pub fn app_cancel(&self, who: &Shopper, id: i64) -> Result<Order> {
        let o = self.stored_order(id)?;
        if o.customer_id != who.customer {
            bail!(Code::NotFound, "no order {id}");
        }
        if o.state == "cancelled" {
            return self.order_view(&o, None);
        }
        if !self.order_view(&o, None)?.can_cancel {
            bail!(Code::OrderState, "order {id} is {} and can no longer be cancelled", o.state);
        }
        let msg = format!("Your order {id} is cancelled; nothing will be charged.");
        let changed = self.with_store(async |s| {
            Ok(s.order_change(id, &["placed"], "cancelled", None, Some(("Your order is cancelled", &msg))).await?)
        })?;
        match changed {
            Some(o) => self.order_view(&o, None),
            None => bail!(Code::OrderState, "order {id} changed meanwhile and can no longer be cancelled"),
        }
    }

    /// Adds pickup slots to a store: one every `minutes` from `from` to `to` (local times)
    /// on `day`, each taking `capacity` orders. Slots already there are kept as they are.
    /// Returns the slots added.
    pub fn add_slots(
        &self,
        store_id: &str,
        day: &str,
        from: &str,
        to: &str,
        minutes: i64,
        capacity: i64,
    ) -> Result<Vec<SlotView>> {
        self.known_store(store_id)?;
        if store_id.trim().is_empty() {
            bail!(Code::InputInvalid, "a slot needs a store");
        }
        let day: jiff::civil::Date =
            day.trim().parse().map_err(|e| Error::new(Code::InputInvalid, format!("day {day:?}: {e}")))?;
        let time = |t: &str| -> Result<jiff::civil::Time> {
            t.trim().parse().map_err(|e| Error::new(Code::InputInvalid, format!("time {t:?} (HH:MM): {e}")))
        };
        let (from, to) = (time(from)?, time(to)?);
        if !(15..=24 * 60).contains(&minutes) {
            bail!(Code::InputInvalid, "a slot lasts 15 minutes to a day, not {minutes} minutes");
        }
        if !(1..=10_000).contains(&capacity) {
            bail!(Code::InputInvalid, "a slot takes 1 to 10000 orders, not {capacity}");
        }
        if to <= from {
            bail!(Code::InputInvalid, "the last slot ends after the first starts");
        }
        let tz = self.chain_tz();
        let mut start = day.to_datetime(from);
        let end = day.to_datetime(to);
        let mut added = Vec::new();
        let step = jiff::Span::new().minutes(minutes);
        while let Ok(next) = start.checked_add(step) {
            if next > end {
                break;
            }
            let stamp = |d: jiff::civil::DateTime| -> Result<String> {
                Ok(unico_store::stamp(
                    tz.to_ambiguous_timestamp(d)
                        .compatible()
                        .map_err(|e| Error::new(Code::InputInvalid, e.to_string()))?,
                ))
            };
            let (a, b) = (stamp(start)?, stamp(next)?);
            let r = self.with_store(async |s| Ok(s.add_slot(store_id.trim(), &a, &b, capacity).await?));
            match r {
                Ok(slot) => added.push(self.slot_view(&slot)),
                Err(e) if e.code() == Code::Conflict => {}
                Err(e) => return Err(e),
            }
            start = next;
        }
        Ok(added)
    }

    /// A store's slots (every store's for `None`) from the start of today on, earliest first.
    pub fn store_slots(&self, store_id: Option<&str>) -> Result<Vec<SlotView>> {
        let start = self
            .chain_tz()
            .to_ambiguous_timestamp(self.today().to_datetime(jiff::civil::Time::midnight()))
            .compatible()
            .map(unico_store::stamp)
            .map_err(|e| Error::new(Code::Internal, e.to_string()))?;
        let slots = self.with_store(async |s| Ok(s.slots(store_id, &start).await?))?;
        Ok(slots.iter().map(|s| self.slot_view(s)).collect())
    }

    /// Sets a slot's capacity (not below the orders it holds).
    pub fn set_slot_capacity(&self, id: i64, capacity: i64) -> Result<()> {
        if !(0..=10_000).contains(&capacity) {
            bail!(Code::InputInvalid, "a slot takes 0 to 10000 orders, not {capacity}");
        }
        if !self.with_store(async |s| Ok(s.set_slot_capacity(id, capacity).await?))? {
            bail!(Code::Conflict, "slot {id} holds more orders than {capacity} (or does not exist)");
        }
        Ok(())
    }

    /// Orders of a store (every store's for `None`), of one slot when given, in these
    /// states (any when empty), by slot then number.
    pub fn store_orders(&self, store_id: Option<&str>, slot_id: Option<i64>, states: &[&str]) -> Result<Vec<Order>> {
        let f = OrderFilter { store_id, slot_id, states, customer_id: None };
        let list = self.with_store(async |s| Ok(s.orders(&f).await?))?;
        list.iter().map(|o| self.order_view(o, None)).collect()
    }

    /// One order (the staff's view).
    pub fn store_order(&self, id: i64) -> Result<Order> {
        let o = self.stored_order(id)?;
        self.order_view(&o, None)
    }

    /// Prices an order's lines as they stand, for its store and the day it was placed.
    fn reprice(&self, o: &StoredOrder, lines: &[OrderLine]) -> Result<(String, String, i64)> {
        let old: Pricing = serde_json::from_str(&o.priced)?;
        let answer = self.price_for(o.customer_id, &effective(lines), &o.store_id, &o.day)?;
        let total = answer.total_cents;
        let pricing = Pricing { placed_total_cents: old.placed_total_cents, answer };
        Ok((serde_json::to_string(lines)?, serde_json::to_string(&pricing)?, total))
    }

    /// Marks a line while picking: `missing`, `substituted` by another product, or back to
    /// `ordered`. The discounts are evaluated again; the shopper is told.
    pub fn order_pick(&self, id: i64, line_no: u32, mark: &PickIn) -> Result<Order> {
        let o = self.stored_order(id)?;
        if !["placed", "picking"].contains(&o.state.as_str()) {
            bail!(Code::OrderState, "order {id} is {}: its lines can no longer change", o.state);
        }
        let mut lines: Vec<OrderLine> = serde_json::from_str(&o.lines)?;
        let Some(line) = lines.iter_mut().find(|l| l.line_no == line_no) else {
            bail!(Code::NotFound, "order {id} has no line {line_no}");
        };
        match mark.status.as_str() {
            "ordered" => {
                line.status = "ordered".into();
                line.substitute = None;
            }
            "missing" => {
                line.status = "missing".into();
                line.substitute = None;
            }
            "substituted" => {
                let sku =
                    mark.sku.as_deref().map(str::trim).filter(|s| !s.is_empty()).ok_or_else(|| {
                        Error::new(Code::InputInvalid, "a substitution names the product given (sku)")
                    })?;
                let quantity = mark.quantity.unwrap_or(line.quantity);
                if !(1..=MAX_UNITS).contains(&quantity) {
                    bail!(Code::InputInvalid, "quantity {quantity} is not between 1 and {MAX_UNITS}");
                }
                let p = self
                    .product_of(sku)?
                    .ok_or_else(|| Error::new(Code::SkuUnknown, format!("sku {sku:?} is not in the product master")))?;
                let price = p.list_price_cents.unwrap_or(line.unit_price_cents).min(line.unit_price_cents);
                line.status = "substituted".into();
                line.substitute = Some(Substitute { sku: p.sku, name: p.name, quantity, unit_price_cents: price });
            }
            other => bail!(Code::InputInvalid, "status {other:?}: ordered, missing or substituted"),
        }
        let what = match &line.substitute {
            Some(s) => format!("{} is replaced by {} × {}", line.name, s.quantity, s.name),
            None if line.status == "missing" => format!("{} is not available", line.name),
            None => format!("{} is back in your order", line.name),
        };
        let repriced = self.reprice(&o, &lines)?;
        let msg = format!("{what}. Your order {id} now comes to {}.", self.money(repriced.2));
        let changed = self.with_store(async |s| {
            Ok(s.order_change(
                id,
                &["placed", "picking"],
                "picking",
                Some((&repriced.0, &repriced.1, repriced.2)),
                Some(("Your order has changed", &msg)),
            )
            .await?)
        })?;
        match changed {
            Some(o) => self.order_view(&o, None),
            None => bail!(Code::OrderState, "order {id} changed meanwhile: look again"),
        }
    }

    /// Marks an order ready for collection (discounts evaluated again); the shopper is told.
    pub fn order_ready(&self, id: i64) -> Result<Order> {
        let o = self.stored_order(id)?;
        if o.state == "ready" {
            return self.order_view(&o, None);
        }
        if !["placed", "picking"].contains(&o.state.as_str()) {
            bail!(Code::OrderState, "order {id} is {} and cannot be made ready", o.state);
        }
        let lines: Vec<OrderLine> = serde_json::from_str(&o.lines)?;
        let repriced = self.reprice(&o, &lines)?;
        let msg = format!(
            "Your order {id} is ready at store {} from {}: {} to pay.",
            o.store_id,
            self.local(&o.slot.starts_at),
            self.money(repriced.2)
        );
        let changed = self.with_store(async |s| {
            Ok(s.order_change(
                id,
                &["placed", "picking"],
                "ready",
                Some((&repriced.0, &repriced.1, repriced.2)),
                Some(("Your order is ready", &msg)),
            )
            .await?)
        })?;
        match changed {
            Some(o) => self.order_view(&o, None),
            None => bail!(Code::OrderState, "order {id} changed meanwhile: look again"),
        }
    }

    /// Marks a ready order collected: its personal discounts are redeemed by the tills'
    /// confirm (receipt `order-<id>` of till `click-collect` at its store, priced on the day
    /// it was placed), exactly once however often this is asked.
    pub fn order_collected(&self, id: i64) -> Result<Order> {
        let o = self.stored_order(id)?;
        if o.state == "collected" {
            return self.order_view(&o, None);
        }
        if o.state != "ready" {
            bail!(Code::OrderState, "order {id} is {}: only a ready order is collected", o.state);
        }
        let lines: Vec<OrderLine> = serde_json::from_str(&o.lines)?;
        let checked = Checked { lines: effective(&lines), at: o.placed_at.clone(), day: o.day.clone() };
        let request_hash = digest(&serde_json::to_string(&lines)?);
        let card_hash = self.with_store(async |s| Ok(s.card_hash_of(o.customer_id).await?))?;
        let key = ReceiptKey { store_id: o.store_id.clone(), till_id: TILL.into(), receipt_no: format!("order-{id}") };
        let mut answer = self.confirm_checked(&key, card_hash, &checked, &request_hash)?;
        answer.replayed = None;
        let old: Pricing = serde_json::from_str(&o.priced)?;
        let total = answer.total_cents;
        let pricing = serde_json::to_string(&Pricing { placed_total_cents: old.placed_total_cents, answer })?;
        let changed = self.with_store(async |s| {
            Ok(s.order_change(id, &["ready"], "collected", Some((&o.lines, &pricing, total)), None).await?)
        })?;
        match changed {
            Some(o) => self.order_view(&o, None),
            // Collected at this moment by another request: the same receipt, confirmed once.
            None => self.store_order(id),
        }
    }

    /// Marks a ready order not collected (nothing is redeemed).
    pub fn order_not_collected(&self, id: i64) -> Result<Order> {
        let o = self.stored_order(id)?;
        if o.state == "not_collected" {
            return self.order_view(&o, None);
        }
        let changed =
            self.with_store(async |s| Ok(s.order_change(id, &["ready"], "not_collected", None, None).await?))?;
        match changed {
            Some(o) => self.order_view(&o, None),
            None => bail!(Code::OrderState, "order {id} is {}: only a ready order can be not collected", o.state),
        }
    }

    /// The batch step: writes every collected order not yet in the lake as a receipt of
    /// channel `app` (ts the collection, the pickup store, the customer's card
    /// pseudonymised by the import, the lines given with their discounts), through the
    /// receipts' import, then marks them written. An order cut short between the two is
    /// written again next run and the import finds its lines in the lake: never twice.
    pub fn orders_to_lake(&self, progress: &dyn Progress) -> Result<OrdersToLake> {
        let mut done = OrdersToLake { orders: 0, lines: 0, lines_imported: 0 };
        loop {
            let batch = self.with_store(async |s| Ok(s.orders_for_lake(10_000).await?))?;
            if batch.is_empty() {
                return Ok(done);
            }
            let mut rows: Vec<ReceiptRow> = Vec::new();
            for o in &batch {
                let card = self.with_store(async |s| Ok(s.cards_of(o.customer_id).await?))?.into_iter().next();
                let lines: Vec<OrderLine> = serde_json::from_str(&o.lines)?;
                let pricing: Pricing = serde_json::from_str(&o.priced)?;
                let mut discount: HashMap<u32, i64> = HashMap::new();
                for d in &pricing.answer.discounts {
                    *discount.entry(d.line_no).or_default() += d.amount_cents;
                }
                let ts: jiff::Timestamp = o
                    .collected_at
                    .as_deref()
                    .unwrap_or(&o.updated_at)
                    .parse()
                    .map_err(|e| Error::new(Code::Internal, format!("order {}: collected_at: {e}", o.id)))?;
                for l in effective(&lines) {
                    let units = l.qty_milli / 1000;
                    let off = discount.get(&l.line_no).copied().unwrap_or(0);
                    rows.push(ReceiptRow {
                        receipt_id: format!("order-{}", o.id),
                        line_no: i64::from(l.line_no),
                        ts,
                        store_id: o.store_id.clone(),
                        card: card.clone(),
                        sku: l.sku.clone(),
                        quantity: units,
                        unit_price_cents: l.unit_price_cents,
                        discount_cents: off,
                        net_cents: units * l.unit_price_cents - off,
                    });
                }
            }
            let n = rows.len() as u64;
            let summary = if rows.is_empty() {
                None
            } else {
                self.finish_pending_erasures()?;
                let lake = self.lake()?;
                progress.begin("writing collected orders to the lake", crate::progress::Unit::Lines, n);
                let report = |p: unico_lake::import::Progress| {
                    if p.phase == unico_lake::import::Phase::Reading {
                        progress.update(p.done, p.total)
                    }
                };
                let options = self.import_options(&unico_lake::Mapping::default(), None, &report)?;
                let source = OrdersSource::new(rows);
                let s = unico_lake::import::import_receipts_from(
                    &lake,
                    Box::new(source),
                    "click-and-collect orders",
                    &options,
                );
                progress.finish();
                Some(s?)
            };
            let ids: Vec<i64> = batch.iter().map(|o| o.id).collect();
            self.with_store(async |s| Ok(s.orders_in_lake(&ids).await?))?;
            done.orders += ids.len();
            done.lines += n;
            done.lines_imported += summary.map_or(0, |s| s.rows_imported);
        }
    }
}

/// The lines a shopper is given: missing ones dropped, substitutes in place of theirs.
fn effective(lines: &[OrderLine]) -> Vec<Line> {
    lines
        .iter()
        .filter(|l| l.status != "missing")
        .map(|l| match &l.substitute {
            Some(s) => Line {
                line_no: l.line_no,
                sku: s.sku.clone(),
                qty_milli: i64::from(s.quantity) * 1000,
                unit_price_cents: s.unit_price_cents,
            },
            None => Line {
                line_no: l.line_no,
                sku: l.sku.clone(),
                qty_milli: i64::from(l.quantity) * 1000,
                unit_price_cents: l.unit_price_cents,
            },
        })
        .collect()
}

/// A receipt line of a collected order.
struct ReceiptRow {
    receipt_id: String,
    line_no: i64,
    ts: jiff::Timestamp,
    store_id: String,
    card: Option<String>,
    sku: String,
    quantity: i64,
    unit_price_cents: i64,
    discount_cents: i64,
    net_cents: i64,
}

/// Collected orders as a [`Source`] of canonical receipt lines (in memory: no file holds
/// the cards in clear).
struct OrdersSource {
    rows: Vec<ReceiptRow>,
    columns: Vec<String>,
}

impl OrdersSource {
    fn new(rows: Vec<ReceiptRow>) -> Self {
        OrdersSource { rows, columns: crate::simlake::COLUMNS.iter().map(|c| c.to_string()).collect() }
    }
}

impl Source for OrdersSource {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn for_each(
        &mut self,
        f: &mut dyn FnMut(&dyn Row) -> Result<(), unico_lake::Error>,
    ) -> Result<(), unico_lake::Error> {
        let cents = |c: i64| Value::Decimal { units: c, scale: 2 };
        for (i, r) in self.rows.iter().enumerate() {
            let row = crate::simlake::CanonicalRow {
                hidden: Some(4),
                line: i as u64 + 1,
                values: [
                    Value::Text(Cow::Borrowed(&r.receipt_id)),
                    Value::Int(r.line_no),
                    Value::Instant(r.ts),
                    Value::Text(Cow::Borrowed(&r.store_id)),
                    r.card.as_deref().map_or(Value::Null, |c| Value::Text(Cow::Borrowed(c))),
                    Value::Text(Cow::Borrowed(&r.sku)),
                    Value::Int(r.quantity),
                    cents(r.unit_price_cents),
                    cents(r.discount_cents),
                    cents(r.net_cents),
                    Value::Text(Cow::Borrowed("app")),
                ],
            };
            f(&row)?;
        }
        Ok(())
    }
}
