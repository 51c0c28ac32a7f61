//! The tills' API in the service layer: terminals, and a shopper's personal discounts on a
//! basket — priced from memory, redeemed exactly once.
//!
//! `evaluate` never queries the database: every card's offers of published campaigns (with
//! their activations and whether they were used), the budgets left, the live terminals and
//! the product master are held in memory ([`Wallets`]), one small vector of offers per
//! customer, so an answer costs a hash of the card and the pricing of that customer's few
//! offers. The wallets follow the store through its change log (`pos_changes`), written in
//! the same transaction as every change a till must see (a campaign published or stopped,
//! an offer activated or redeemed, a receipt voided, cards imported, merged or erased):
//! [`App::pos_refresh`] reloads the customers named there. `confirm`, `void` and `refund`
//! are one transaction each in the store (`unico_store::pos`), which re-prices from the
//! stored state, so an answer from memory a moment stale can never give a stale discount.
//! See `docs/pos.md`.

use crate::error::{Code, Error, Result};
use crate::{App, bail};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::RwLock;
use unico_offers::till::{self, Item, Line, On, Priced, Terms, TillOffer};
use unico_store::pos::{ReceiptKey, Terminal};

/// Most lines a basket may have.
pub const MAX_LINES: usize = 1000;

/// The in-memory state `evaluate` reads.
#[derive(Default)]
pub struct Wallets {
    /// Card lookup hash → customer.
    cards: HashMap<String, i64>,
    /// Lake key → customer.
    keys: HashMap<String, i64>,
    /// Customer → their offers of published campaigns (described).
    offers: HashMap<i64, Vec<TillOffer>>,
    /// What each capped budget has left.
    budgets: HashMap<String, i64>,
    /// Live terminals: token hash → (store, till).
    terminals: HashMap<String, (String, String)>,
    /// The product master.
    items: HashMap<String, Item>,
    /// Product names, for descriptions.
    names: HashMap<String, String>,
    /// The product master whole (the app's product search).
    catalogue: std::sync::Arc<Vec<unico_offers::policy::Product>>,
    /// Sku → its place in the catalogue.
    index: HashMap<String, usize>,
    /// The chain's stores, by name.
    stores: std::sync::Arc<Vec<crate::shopper::StoreEntry>>,
    /// The last change applied.
    last_change: i64,
    /// The store (for the cards' keyed hashes, computed in memory).
    store: Option<unico_store::Store>,
}

/// The tills' state of one data directory.
#[derive(Default)]
pub struct Pos {
    wallets: RwLock<Option<Wallets>>,
    /// One refresh at a time: concurrent ones would each reload the same customers.
    refreshing: std::sync::Mutex<()>,
}

/// A basket as the till sends it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Basket {
    /// The loyalty card, if one was shown.
    pub card: Option<String>,
    /// The store.
    pub store_id: String,
    /// The till.
    pub till_id: String,
    /// When (RFC 3339 with an offset); now when absent.
    pub at: Option<String>,
    /// The lines.
    pub lines: Vec<BasketLine>,
}

/// A basket line as the till sends it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BasketLine {
    /// Unique in the basket.
    pub line_no: u32,
    /// The product.
    pub sku: String,
    /// Decimal string, e.g. "2" or "0.350".
    pub quantity: String,
    /// Price of one unit, cents.
    pub unit_price_cents: i64,
}

/// A discount on the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PosDiscount {
    /// The offer.
    pub offer_code: String,
    /// The line.
    pub line_no: u32,
    /// The line's product.
    pub sku: String,
    /// Cents.
    pub amount_cents: i64,
    /// For the receipt.
    pub description: String,
}

/// An offer of the shopper's that did not apply, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotApplied {
    /// The offer.
    pub offer_code: String,
    /// `not_in_basket`, `below_threshold`, `already_used`, `not_activated`,
    /// `not_valid_today`, `other_store` or `budget_spent`.
    pub reason: String,
}

/// The answer to evaluate and confirm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PosAnswer {
    /// The redemption (confirm only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub redemption_id: Option<String>,
    /// The card is a known cardholder's.
    pub card_known: bool,
    /// Discounts given.
    pub discounts: Vec<PosDiscount>,
    /// Before discounts, cents.
    pub subtotal_cents: i64,
    /// Discounts, cents.
    pub discount_cents: i64,
    /// To pay, cents.
    pub total_cents: i64,
    /// The shopper's offers that did not apply.
    pub offers_not_applied: Vec<NotApplied>,
    /// A retried confirm answered as first (confirm only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub replayed: Option<bool>,
}

/// A refund line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefundLine {
    /// The receipt's line.
    pub line_no: u32,
    /// Units returned, decimal string.
    pub quantity: String,
}

/// A basket checked: lines in thousandths, the receipt's instant and day.
pub(crate) struct Checked {
    pub lines: Vec<Line>,
    pub at: String,
    pub day: String,
}

fn describe(o: &TillOffer, names: &HashMap<String, String>) -> String {
    let what = match &o.on {
        On::Product(sku) => names.get(sku).cloned().unwrap_or_else(|| sku.clone()),
        On::Category(c) => format!("one item of {c}"),
        On::Basket => "your shopping".to_string(),
    };
    let euros = |c: i64| format!("{}.{:02}", c / 100, c % 100);
    match o.terms {
        Terms::PercentOff(p) => format!("{p}% off {what}"),
        Terms::AmountOff(a) => format!("{} off {what}", euros(a)),
        Terms::MultiBuy { buy, pay, .. } => format!("{buy} for {pay}: {what}"),
        Terms::SpendReward { min_spend_cents, reward_cents } => {
            format!("{} off {what} from {}", euros(reward_cents), euros(min_spend_cents))
        }
    }
}

pub(crate) fn answer(priced: &Priced, card_known: bool, redemption: Option<&str>) -> PosAnswer {
    PosAnswer {
        redemption_id: redemption.map(str::to_string),
        card_known,
        discounts: priced
            .discounts
            .iter()
            .map(|d| PosDiscount {
                offer_code: d.offer_code.clone(),
                line_no: d.line_no,
                sku: d.sku.clone(),
                amount_cents: d.amount_cents,
                description: d.description.clone(),
            })
            .collect(),
        subtotal_cents: priced.subtotal_cents,
        discount_cents: priced.discount_cents,
        total_cents: priced.total_cents,
        offers_not_applied: priced
            .not_applied
            .iter()
            .map(|(c, r)| NotApplied { offer_code: c.clone(), reason: r.as_str().to_string() })
            .collect(),
        replayed: redemption.map(|_| false),
    }
}

/// The SHA-256 (hex) of a token.
pub fn token_hash(token: &str) -> String {
    unico_store::pos::digest(token.trim())
}

impl Wallets {
    /// Prices lines for a customer's offers (none for an unknown card).
    fn price(&self, customer: Option<i64>, lines: &[Line], store_id: &str, day: &str) -> Priced {
        let no_offers = Vec::new();
        let offers = customer.and_then(|c| self.offers.get(&c)).unwrap_or(&no_offers);
        till::price(lines, offers, &self.items, &self.budgets, store_id, day)
    }

    /// The customer a card (if any) names, from memory.
    fn customer(&self, card: Option<&str>) -> Option<&i64> {
        let store = self.store.as_ref().expect("set when loaded");
        card.filter(|c| !c.trim().is_empty()).and_then(|c| self.cards.get(&store.card_lookup(c)))
    }

    fn put_customer(&mut self, customer: i64, offers: Vec<TillOffer>) {
        if offers.is_empty() {
            self.offers.remove(&customer);
        } else {
            self.offers.insert(customer, offers);
        }
    }
}

impl App {
    fn pos(&self) -> &Pos {
        &self.pos
    }

    /// Registers a till of `store_id`: returns it and its token, shown this once (the
    /// store keeps only its SHA-256).
    pub fn terminal_add(&self, store_id: &str, till_id: &str) -> Result<(Terminal, String)> {
        for (name, v) in [("--store", store_id), ("--till", till_id)] {
            if v.trim().is_empty() || v.len() > 64 {
                bail!(Code::InputInvalid, "{name} must be 1 to 64 characters");
            }
        }
        let token = format!("till_{}", hex::encode(rand::random::<[u8; 32]>()));
        let hash = token_hash(&token);
        let t = self.with_store(async |s| Ok(s.add_terminal(store_id.trim(), till_id.trim(), &hash).await?))?;
        Ok((t, token))
    }

    /// Every till registered.
    pub fn terminals(&self) -> Result<Vec<Terminal>> {
        self.with_store(async |s| Ok(s.terminals().await?))
    }

    /// Revokes a till's token (its requests are refused from the next refresh, within a
    /// second on a running server). False when it was revoked already.
    pub fn terminal_revoke(&self, id: i64) -> Result<bool> {
        self.with_store(async |s| {
            s.revoke_terminal(id).await.map_err(|e| match e.kind() {
                unico_store::ErrorKind::NotFound => Error::new(Code::NotFound, e.to_string()),
                _ => e.into(),
            })
        })
    }

    /// Loads the wallets whole: every card, every offer of a published campaign (until the
    /// campaign is stopped: a till may price a receipt of any day), the budgets, the live
    /// terminals and the product master.
    pub fn pos_load(&self) -> Result<()> {
        let (products, stores) = match self.lake_view() {
            Ok(lake) => (
                crate::plan::prepare::products(&lake).unwrap_or_default(),
                crate::shopper::read_stores(&lake).unwrap_or_default(),
            ),
            Err(_) => (Vec::new(), Vec::new()),
        };
        let (last, cards, rows, budgets, terminals) = self.with_store(async |s| {
            // The change id first: a change made while loading is applied again next refresh.
            let last = s.pos_last_change().await?;
            Ok((
                last,
                s.pos_cards().await?,
                s.pos_offers(None).await?,
                s.pos_budgets().await?,
                s.live_terminals().await?,
            ))
        })?;
        let mut w = Wallets {
            store: Some(self.store()?),
            last_change: last,
            budgets,
            terminals: terminals.into_iter().map(|(h, s, t)| (h, (s, t))).collect(),
            ..Wallets::default()
        };
        for p in &products {
            w.names.insert(p.sku.clone(), p.name.clone());
            w.items.insert(p.sku.clone(), Item { category: p.category.clone(), unit_cost_cents: p.unit_cost_cents });
        }
        w.index = products.iter().enumerate().map(|(i, p)| (p.sku.clone(), i)).collect();
        w.stores = std::sync::Arc::new(stores);
        w.catalogue = std::sync::Arc::new(products);
        for (hash, customer, key) in cards {
            w.cards.insert(hash, customer);
            w.keys.insert(key, customer);
        }
        let mut by_customer: HashMap<i64, Vec<TillOffer>> = HashMap::new();
        for r in rows {
            if let Some(c) = w.keys.get(&r.customer_key) {
                let mut o = r.offer;
                o.description = describe(&o, &w.names);
                by_customer.entry(*c).or_default().push(o);
            }
        }
        w.offers = by_customer;
        *self.pos().wallets.write().unwrap_or_else(|p| p.into_inner()) = Some(w);
        Ok(())
    }

    /// Applies the store's changes since the last refresh (loading whole the first time):
    /// the customers they name, or everything. Returns how many changes it applied.
    pub fn pos_refresh(&self) -> Result<usize> {
        let _one = self.pos().refreshing.lock().unwrap_or_else(|p| p.into_inner());
        let last = self.pos().wallets.read().unwrap_or_else(|p| p.into_inner()).as_ref().map(|w| w.last_change);
        let Some(last) = last else {
            self.pos_load()?;
            return Ok(0);
        };
        let changes = self.with_store(async |s| Ok(s.pos_changes(last).await?))?;
        let Some(newest) = changes.last().map(|c| c.0) else {
            return Ok(0);
        };
        if changes.iter().any(|c| c.1 == "all" || c.1 == "products") {
            self.pos_load()?;
            return Ok(changes.len());
        }
        let mut keys: Vec<String> = changes.iter().filter(|c| c.1 == "customer").filter_map(|c| c.2.clone()).collect();
        keys.sort();
        keys.dedup();
        let terminals = changes.iter().any(|c| c.1 == "terminals");
        let (budgets, live, customers) = self.with_store(async |s| {
            let mut customers = Vec::new();
            for k in &keys {
                let cards = s.pos_cards_of_key(k).await?;
                let all_keys: Vec<String> = cards.iter().map(|c| c.2.clone()).collect();
                let rows = s.pos_offers(Some(&all_keys)).await?;
                customers.push((cards, rows));
            }
            let live = if terminals { Some(s.live_terminals().await?) } else { None };
            Ok((s.pos_budgets().await?, live, customers))
        })?;
        let mut guard = self.pos().wallets.write().unwrap_or_else(|p| p.into_inner());
        let w = guard.as_mut().expect("loaded above");
        for (cards, rows) in customers {
            let Some(customer) = cards.first().map(|c| c.1) else { continue };
            for (hash, c, key) in cards {
                w.cards.insert(hash, c);
                w.keys.insert(key, c);
            }
            let offers = rows
                .into_iter()
                .map(|r| {
                    let mut o = r.offer;
                    o.description = describe(&o, &w.names);
                    o
                })
                .collect();
            w.put_customer(customer, offers);
        }
        w.budgets = budgets;
        if let Some(live) = live {
            w.terminals = live.into_iter().map(|(h, s, t)| (h, (s, t))).collect();
        }
        w.last_change = newest;
        Ok(changes.len())
    }

    /// The product master as the tills see it.
    pub(crate) fn catalogue(&self) -> Result<std::sync::Arc<Vec<unico_offers::policy::Product>>> {
        self.pos_loaded()?;
        let guard = self.pos().wallets.read().unwrap_or_else(|p| p.into_inner());
        Ok(guard.as_ref().map(|w| w.catalogue.clone()).unwrap_or_default())
    }

    /// The chain's stores, from memory.
    pub(crate) fn stores_in_memory(&self) -> Result<std::sync::Arc<Vec<crate::shopper::StoreEntry>>> {
        self.pos_loaded()?;
        let guard = self.pos().wallets.read().unwrap_or_else(|p| p.into_inner());
        Ok(guard.as_ref().map(|w| w.stores.clone()).unwrap_or_default())
    }

    /// Reloads the wallets if this process holds them (after an import of products or
    /// stores; other processes follow the change log).
    pub(crate) fn pos_reload_if_loaded(&self) -> Result<()> {
        if self.pos().wallets.read().unwrap_or_else(|p| p.into_inner()).is_some() {
            self.pos_load()?;
        }
        Ok(())
    }

    /// The names of these products (from the wallets' product master).
    pub fn product_names(&self, skus: &[&str]) -> Result<HashMap<String, String>> {
        self.pos_loaded()?;
        let guard = self.pos().wallets.read().unwrap_or_else(|p| p.into_inner());
        let Some(w) = guard.as_ref() else { return Ok(HashMap::new()) };
        Ok(skus.iter().filter_map(|s| w.names.get(*s).map(|n| (s.to_string(), n.clone()))).collect())
    }

    /// Marks an offer activated in memory at once (the change log confirms it within a
    /// refresh): a till asked right after the app sees it.
    pub(crate) fn pos_activated(&self, customer: i64, code: &str) {
        let mut guard = self.pos().wallets.write().unwrap_or_else(|p| p.into_inner());
        if let Some(o) = guard
            .as_mut()
            .and_then(|w| w.offers.get_mut(&customer))
            .and_then(|os| os.iter_mut().find(|o| o.code == code))
        {
            o.activated = true;
        }
    }

    /// Loads the wallets if this is their first use.
    fn pos_loaded(&self) -> Result<()> {
        if self.pos().wallets.read().unwrap_or_else(|p| p.into_inner()).is_none() {
            self.pos_load()?;
        }
        Ok(())
    }

    /// Forgets the wallets' changes older than an hour (servers apply them every second; one
    /// that starts loads whole). Returns how many.
    pub fn pos_prune(&self) -> Result<u64> {
        let before = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
        self.with_store(async |s| Ok(s.pos_prune_changes(&unico_store::stamp(before)).await?))
    }

    /// The till a token belongs to: (store, till), from memory.
    pub fn pos_terminal(&self, token: &str) -> Result<Option<(String, String)>> {
        self.pos_loaded()?;
        let guard = self.pos().wallets.read().unwrap_or_else(|p| p.into_inner());
        Ok(guard.as_ref().and_then(|w| w.terminals.get(&token_hash(token)).cloned()))
    }

    /// Checks a basket: lines, quantities, prices, products, the instant.
    fn check_basket(&self, b: &Basket, items: &HashMap<String, Item>) -> Result<Checked> {
        if b.store_id.trim().is_empty() || b.till_id.trim().is_empty() {
            bail!(Code::InputInvalid, "store_id and till_id are required");
        }
        if b.lines.len() > MAX_LINES {
            bail!(Code::InputInvalid, "a basket has at most {MAX_LINES} lines, this one {}", b.lines.len());
        }
        let mut seen = std::collections::HashSet::new();
        let mut lines = Vec::with_capacity(b.lines.len());
        for (i, l) in b.lines.iter().enumerate() {
            let at = |m: String| Error::new(Code::InputInvalid, format!("lines[{i}] (line_no {}): {m}", l.line_no));
            if !seen.insert(l.line_no) {
                return Err(at("line_no appears twice".into()));
            }
            if l.sku.trim().is_empty() {
                return Err(at("sku is empty".into()));
            }
            if !(0..=100_000_000).contains(&l.unit_price_cents) {
                return Err(at(format!("unit_price_cents {} is not between 0 and 100000000", l.unit_price_cents)));
            }
            let qty_milli = till::parse_quantity(&l.quantity).map_err(at)?;
            if qty_milli > 100_000_000 {
                return Err(at(format!("quantity {} is more than 100000", l.quantity)));
            }
            if !items.is_empty() && !items.contains_key(l.sku.trim()) {
                return Err(Error::new(
                    Code::SkuUnknown,
                    format!("lines[{i}] (line_no {}): sku {:?} is not in the product master", l.line_no, l.sku),
                ));
            }
            lines.push(Line {
                line_no: l.line_no,
                sku: l.sku.trim().to_string(),
                qty_milli,
                unit_price_cents: l.unit_price_cents,
            });
        }
        let instant = match b.at.as_deref() {
            None => jiff::Timestamp::now(),
            Some(t) => t.parse::<jiff::Timestamp>().map_err(|e| {
                Error::new(Code::InputInvalid, format!("at {t:?} is not an RFC 3339 instant with an offset: {e}"))
            })?,
        };
        let day = self.chain_tz().to_datetime(instant).date().to_string();
        Ok(Checked { lines, at: unico_store::stamp(instant), day })
    }

    /// Prices a basket for the card's offers, from memory: changes nothing.
    pub fn pos_evaluate(&self, b: &Basket) -> Result<PosAnswer> {
        self.pos_loaded()?;
        let guard = self.pos().wallets.read().unwrap_or_else(|p| p.into_inner());
        let w = guard.as_ref().expect("loaded above");
        let checked = self.check_basket(b, &w.items)?;
        let customer = w.customer(b.card.as_deref()).copied();
        let priced = w.price(customer, &checked.lines, b.store_id.trim(), &checked.day);
        Ok(answer(&priced, customer.is_some(), None))
    }

    /// Prices lines for a customer's offers from memory, as [`App::pos_evaluate`] does for
    /// the card they show (the app's basket and orders): changes nothing.
    pub(crate) fn price_for(&self, customer: i64, lines: &[Line], store_id: &str, day: &str) -> Result<PosAnswer> {
        self.pos_loaded()?;
        let guard = self.pos().wallets.read().unwrap_or_else(|p| p.into_inner());
        let w = guard.as_ref().expect("loaded above");
        let priced = w.price(Some(customer), lines, store_id, day);
        Ok(answer(&priced, true, None))
    }

    /// What the product master says of a product: (name, category, list price), from memory.
    pub(crate) fn product_of(&self, sku: &str) -> Result<Option<unico_offers::policy::Product>> {
        self.pos_loaded()?;
        let guard = self.pos().wallets.read().unwrap_or_else(|p| p.into_inner());
        Ok(guard.as_ref().and_then(|w| w.index.get(sku).map(|i| w.catalogue[*i].clone())))
    }

    /// Confirms a basket as receipt `receipt_no`: prices it against the stored state and
    /// redeems what it gives, in one transaction; a retry answers the same, `replayed`.
    /// `request_hash` identifies the body as sent (another body on the same receipt is
    /// refused with `receipt.conflict`).
    pub fn pos_confirm(&self, b: &Basket, receipt_no: &str, request_hash: &str) -> Result<PosAnswer> {
        if receipt_no.trim().is_empty() || receipt_no.len() > 64 {
            bail!(Code::InputInvalid, "receipt_no must be 1 to 64 characters");
        }
        self.pos_loaded()?;
        let checked = {
            let guard = self.pos().wallets.read().unwrap_or_else(|p| p.into_inner());
            self.check_basket(b, &guard.as_ref().expect("loaded above").items)?
        };
        let key = ReceiptKey {
            store_id: b.store_id.trim().to_string(),
            till_id: b.till_id.trim().to_string(),
            receipt_no: receipt_no.trim().to_string(),
        };
        let store = self.store()?;
        let card_hash = b.card.as_deref().filter(|c| !c.trim().is_empty()).map(|c| store.card_lookup(c));
        self.confirm_checked(&key, card_hash, &checked, request_hash)
    }

    /// Confirms checked lines as receipt `key` for the card whose lookup hash is given: the
    /// one transaction of [`App::pos_confirm`] (a collected order goes through it too).
    pub(crate) fn confirm_checked(
        &self,
        key: &ReceiptKey,
        card_hash: Option<String>,
        checked: &Checked,
        request_hash: &str,
    ) -> Result<PosAnswer> {
        self.pos_loaded()?;
        let (items, descriptions) = {
            let guard = self.pos().wallets.read().unwrap_or_else(|p| p.into_inner());
            let w = guard.as_ref().expect("loaded above");
            // The receipt's words for the card's offers (the store prices from its rows).
            let customer = card_hash.as_ref().and_then(|h| w.cards.get(h));
            let descriptions: HashMap<String, String> = customer
                .and_then(|c| w.offers.get(c))
                .map(|os| os.iter().map(|o| (o.code.clone(), o.description.clone())).collect())
                .unwrap_or_default();
            // Only the basket's products: the transaction prices with these.
            let items: HashMap<String, Item> =
                checked.lines.iter().filter_map(|l| w.items.get(&l.sku).map(|i| (l.sku.clone(), i.clone()))).collect();
            (items, descriptions)
        };
        let k = key;
        let describe_and_answer = |priced: &Priced, id: &str, known: bool| {
            let mut a = answer(priced, known, Some(id));
            for d in &mut a.discounts {
                d.description = descriptions.get(&d.offer_code).cloned().unwrap_or_else(|| d.offer_code.clone());
            }
            serde_json::to_string(&a).expect("the answer serialises")
        };
        let confirmed = self
            .with_store(async |s| {
                let req = unico_store::pos::ConfirmRequest {
                    key: k,
                    request_hash,
                    card_hash: card_hash.as_deref(),
                    at: &checked.at,
                    day: &checked.day,
                    lines: &checked.lines,
                    items: &items,
                };
                Ok(s.pos_confirm(&req, &describe_and_answer).await?)
            })
            .map_err(receipt_error)?;
        let mut a: PosAnswer = serde_json::from_str(&confirmed.response)?;
        a.replayed = Some(confirmed.replayed);
        // This server's wallets see the redemption at once, without a query (others, and the
        // budgets, at their next refresh).
        if !confirmed.replayed && !a.discounts.is_empty() {
            let mut guard = self.pos().wallets.write().unwrap_or_else(|p| p.into_inner());
            if let Some(w) = guard.as_mut()
                && let Some(card) = card_hash.as_ref().and_then(|h| w.cards.get(h).copied())
                && let Some(offers) = w.offers.get_mut(&card)
            {
                for o in offers.iter_mut().filter(|o| a.discounts.iter().any(|d| d.offer_code == o.code)) {
                    o.used = true;
                }
            }
        }
        Ok(a)
    }

    /// Voids a receipt: its offers can be used again. Idempotent.
    pub fn pos_void(&self, key: &ReceiptKey) -> Result<serde_json::Value> {
        let (id, changed) = self.with_store(async |s| Ok(s.pos_void(key).await?)).map_err(receipt_error)?;
        if changed {
            self.pos_refresh()?;
        }
        Ok(
            serde_json::json!({"redemption_id": id, "receipt_no": key.receipt_no, "state": "voided", "replayed": !changed}),
        )
    }

    /// Refunds units of a receipt's lines, once per `refund_no`.
    pub fn pos_refund(
        &self,
        key: &ReceiptKey,
        refund_no: &str,
        lines: &[RefundLine],
        request_hash: &str,
    ) -> Result<serde_json::Value> {
        if refund_no.trim().is_empty() || refund_no.len() > 64 {
            bail!(Code::InputInvalid, "refund_no must be 1 to 64 characters");
        }
        if lines.is_empty() || lines.len() > MAX_LINES {
            bail!(Code::InputInvalid, "a refund has 1 to {MAX_LINES} lines");
        }
        let mut parsed = Vec::with_capacity(lines.len());
        for (i, l) in lines.iter().enumerate() {
            let q = till::parse_quantity(&l.quantity)
                .map_err(|m| Error::new(Code::InputInvalid, format!("lines[{i}] (line_no {}): {m}", l.line_no)))?;
            parsed.push((l.line_no, q));
        }
        let (response, replayed) = self
            .with_store(async |s| Ok(s.pos_refund(key, refund_no.trim(), request_hash, &parsed).await?))
            .map_err(receipt_error)?;
        let mut v: serde_json::Value = serde_json::from_str(&response)?;
        v["replayed"] = serde_json::Value::Bool(replayed);
        if !replayed {
            self.pos_refresh()?;
        }
        Ok(v)
    }

    /// A receipt's state and discounts: (state, [(offer, line, given, taken back)]).
    pub fn pos_receipt(&self, key: &ReceiptKey) -> Result<unico_store::pos::ReceiptView> {
        self.with_store(async |s| Ok(s.pos_receipt(key).await?)).map_err(receipt_error)
    }
}

/// The store's conflict and not-found on a receipt, as the API's codes.
fn receipt_error(e: Error) -> Error {
    match e.code() {
        Code::Conflict => Error::new(Code::ReceiptConflict, e.to_string()),
        Code::CustomerNotFound => Error::new(Code::ReceiptNotFound, e.to_string()),
        _ => e,
    }
}
