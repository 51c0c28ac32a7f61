//! One person's shopping over the simulated period, with or without offers.
//!
//! The baseline draws (visit times, baskets, lapsing) come from the person's shopping stream
//! whatever the offers; reactions to offers come from a separate stream. So a replay with
//! offers differs from the one without only where the person reacted to an offer, and a
//! replay with no offers is the baseline itself.
//!
//! How a simulated shopper reacts to an offer on a product or category, when visiting in
//! its window and channel (each offer is used at most once):
//! - the basket already holds a target item: the offer is redeemed with probability
//!   0.75 + 0.25·s (s = price sensitivity) — a discount on a purchase that would have
//!   happened anyway (cannibalisation); with probability min(1, s·depth/0.6) they take one
//!   more unit (buying more);
//! - otherwise they buy a target item they would not have bought with probability
//!   affinity · (1 − e^(−6·s·depth)) (incremental), where affinity grows with their
//!   preference for the category and depth is the discount as a share of the price;
//! - while any offer is active, the probability of lapsing after a visit falls by
//!   0.6·s·min(1, depth/0.3) (retention), using the same uniform draw as the baseline.
//!
//! A multi-buy ("buy 3, pay 2") is redeemed by taking `buy` units at once: a shopper with
//! the product in the basket does so with probability 0.75 + 0.25·s; one without buys
//! `buy` units with probability 0.8 · affinity · (1 − e^(−6·s·depth)), depth being
//! (buy − pay) / buy. Units of a staple bought beyond the usual push its next purchase
//! back by a cycle each (pantry loading: later purchases are displaced, as in a real
//! store).
//!
//! A spend reward ("spend 40 €, get 4 € off") applies to the whole basket: a basket that
//! reaches the threshold redeems it with probability 0.75 + 0.25·s; one that falls short by
//! a gap is topped up (more items from the shopper's usual categories) with probability
//! (basket / threshold)² · (1 − e^(−6·s·depth)), depth being reward / threshold.

/// The planted response to a discount: the share of people of price sensitivity `s`
/// (0–1) that a discount of `depth` (a share of the price, 0–1) moves to buy, before their
/// affinity to the category: 1 − e^(−6·s·depth). The oracle of `simulate-campaign` reads it
/// from here.
pub fn moved_share(s: f64, depth: f64) -> f64 {
    1.0 - (-RESPONSE_STEEPNESS * s * depth).exp()
}

/// How steeply the planted response rises with sensitivity × depth.
pub const RESPONSE_STEEPNESS: f64 = 6.0;

/// A multi-buy reaches this share of those a one-unit discount of the same depth would
/// move (buying several units at once asks more of a shopper).
pub const MULTI_BUY_REACH: f64 = 0.8;

use crate::people::{self, Person};
use crate::world::{Stream, World};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Weekly shape (Monday first): Saturday busiest, Sunday quiet.
pub(crate) const WEEKDAY: [f64; 7] = [0.92, 0.85, 0.9, 0.95, 1.12, 1.38, 0.55];
pub(crate) const SEASON_MAX: f64 = 1.38 * 1.36;

/// Seasonality factor of a date (mean about 1): weekday, a Christmas rush, an August lull.
pub(crate) fn season(date: jiff::civil::Date) -> f64 {
    let wd = WEEKDAY[date.weekday().to_monday_zero_offset() as usize];
    let doy = date.day_of_year() as f64;
    let christmas = 0.35 * (-((doy - 355.0) / 10.0).powi(2)).exp();
    let august = -0.25 * (-((doy - 225.0) / 12.0).powi(2)).exp();
    wd * (1.0 + christmas + august)
}

/// Whether product `index` is on the chain's own promotion in `week`, and at what percent.
pub(crate) fn on_promo(index: usize, week: i64, seed: u64) -> Option<u32> {
    let h =
        (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (week as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F) ^ seed;
    let h = h ^ (h >> 31);
    let h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let x = (h >> 11) as f64 / (1u64 << 53) as f64;
    (x < 0.10).then(|| 20 + ((h & 3) as u32) * 5)
}

/// What an offer is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One product, by sku.
    Product(String),
    /// Every product of a category, by name.
    Category(String),
    /// The whole basket (a spend reward).
    Basket,
}

/// What an offer gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferValue {
    /// Percent off the line.
    PercentOff(u32),
    /// A fixed amount off the line, in cents (never more than the line).
    AmountOffCents(i64),
    /// `buy` units for the price of `pay` (once).
    MultiBuy {
        /// Units to buy.
        buy: u32,
        /// Units paid.
        pay: u32,
    },
    /// `reward_cents` off a basket of at least `min_spend_cents` (target [`Target::Basket`]).
    SpendReward {
        /// Least basket, cents.
        min_spend_cents: i64,
        /// Reward, cents.
        reward_cents: i64,
    },
}

/// A personal offer, as the offer engine would hand it to a shopper.
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    /// The offer's unique code.
    pub code: String,
    /// The card it was sent to.
    pub card: String,
    /// What it is on.
    pub target: Target,
    /// What it gives.
    pub value: OfferValue,
    /// Channel it is valid in (`store`, `ecommerce`, `app`); `None` for all.
    pub channel: Option<String>,
    /// First day of validity (chain's local calendar).
    pub valid_from: jiff::civil::Date,
    /// Last day of validity, inclusive.
    pub valid_to: jiff::civil::Date,
}

/// One simulated receipt line.
#[derive(Debug, Clone, PartialEq)]
pub struct SimLine {
    /// Product index in the world's catalogue.
    pub product: usize,
    /// Units.
    pub quantity: i64,
    /// List price of one unit, cents.
    pub unit_price_cents: i64,
    /// Discount on the line (chain promotion or offer), cents.
    pub discount_cents: i64,
    /// What was paid, cents.
    pub net_cents: i64,
    /// The offer redeemed on this line (index into the offers given to `shop`).
    pub offer: Option<usize>,
}

/// One simulated receipt.
#[derive(Debug, Clone, PartialEq)]
pub struct SimReceipt {
    /// Receipt id, unique in the chain.
    pub receipt_id: String,
    /// Simulated day (fractional) since the start.
    pub day: f64,
    /// Local date.
    pub date: jiff::civil::Date,
    /// Local time of day (hour, minute, second).
    pub time: (u32, u32, u32),
    /// Store index in the world.
    pub store: usize,
    /// The card shown, if any.
    pub card: Option<String>,
    /// `store` or `ecommerce`.
    pub channel: &'static str,
    /// The lines.
    pub lines: Vec<SimLine>,
}

/// What a person did over the whole period.
#[derive(Debug, Clone, Default)]
pub(crate) struct PersonRun {
    pub visits: u64,
    pub last_visit: Option<f64>,
    pub dropped: bool,
    /// Brand switches (rich shoppers).
    pub switches: Vec<crate::rich::Switch>,
}

fn hour(rng: &mut ChaCha8Rng) -> (u32, u32, u32) {
    const HOURS: [f64; 13] = [0.4, 0.8, 1.2, 1.4, 1.2, 0.8, 0.6, 0.7, 0.9, 1.3, 1.5, 1.1, 0.5];
    let h = 8 + people::weighted(&HOURS, rng) as u32;
    (h, rng.random_range(0..60), rng.random_range(0..60))
}

struct Active<'o> {
    offer: &'o Offer,
    targets: Vec<usize>,
    /// Discount as a share of the target's list price.
    depth: f64,
    category: usize,
    used: bool,
}

fn discount_of(value: OfferValue, gross: i64) -> i64 {
    match value {
        OfferValue::PercentOff(p) => (gross * p as i64 + 50) / 100,
        OfferValue::AmountOffCents(c) => c.min(gross),
        OfferValue::MultiBuy { .. } | OfferValue::SpendReward { .. } => 0,
    }
}

/// Simulates person `pid` over the whole period, calling `sink` with each receipt in time
/// order. `offers` are this person's offers (any card of theirs).
pub(crate) fn shop(
    world: &World,
    pid: u64,
    offers: &[Offer],
    sink: &mut dyn FnMut(SimReceipt) -> std::io::Result<()>,
) -> std::io::Result<(Person, PersonRun)> {
    shop_as(world, pid, world.person(pid), offers, sink)
}

/// [`shop`] for a person already drawn (`world.person(pid)`).
pub(crate) fn shop_as(
    world: &World,
    pid: u64,
    mut person: Person,
    offers: &[Offer],
    sink: &mut dyn FnMut(SimReceipt) -> std::io::Result<()>,
) -> std::io::Result<(Person, PersonRun)> {
    let mut rng = world.rng(pid, Stream::Shopping);
    let mut offer_rng = world.rng(pid, Stream::Offers);
    let n_cat = world.by_category.len() as f64;
    let mut active: Vec<Active<'_>> = offers
        .iter()
        .map(|o| {
            let (targets, category) = match &o.target {
                Target::Product(sku) => {
                    let i = world.product_index(sku);
                    (i.into_iter().collect::<Vec<_>>(), i.map_or(0, |i| world.products[i].category_index()))
                }
                Target::Category(name) => {
                    let ci = crate::catalogue::categories().iter().position(|c| c.1 == name);
                    (ci.map(|c| world.by_category[c].clone()).unwrap_or_default(), ci.unwrap_or(0))
                }
                Target::Basket => (Vec::new(), 0),
            };
            let avg_price = if targets.is_empty() {
                1.0
            } else {
                targets.iter().map(|&t| world.products[t].list_price_cents as f64).sum::<f64>() / targets.len() as f64
            };
            let depth = match o.value {
                OfferValue::PercentOff(p) => p as f64 / 100.0,
                OfferValue::AmountOffCents(c) => (c as f64 / avg_price).min(1.0),
                OfferValue::MultiBuy { buy, pay } => f64::from(buy.saturating_sub(pay)) / f64::from(buy.max(1)),
                OfferValue::SpendReward { min_spend_cents, reward_cents } => {
                    (reward_cents as f64 / min_spend_cents.max(1) as f64).min(1.0)
                }
            };
            Active { offer: o, targets, depth, category, used: false }
        })
        .collect();

    let days = f64::from(world.config.days + world.tail_days);
    let mut run = PersonRun::default();
    let mut t = person.birth_day;
    let mut first = true;
    while t < days {
        if !first {
            let gap = -(1.0 - rng.random::<f64>()).ln() / (person.rate_per_day * SEASON_MAX);
            t += gap;
            if t >= days {
                break;
            }
            if rng.random::<f64>() > season(world.date_of(t)) / SEASON_MAX {
                continue;
            }
        }
        first = false;
        run.visits += 1;
        run.last_visit = Some(t);
        let receipt = basket(world, pid, &mut person, t, run.visits, &mut run.switches, &mut rng);
        let receipt = if active.is_empty() {
            receipt
        } else {
            react(world, &mut person, receipt, &mut active, &mut offer_rng, n_cat)
        };
        let date = receipt.date;
        sink(receipt)?;
        let u = rng.random::<f64>();
        let retention = active
            .iter()
            .filter(|a| a.offer.valid_from <= date && date <= a.offer.valid_to)
            .map(|a| 0.6 * person.price_sensitivity * (a.depth / 0.3).min(1.0))
            .fold(0.0, f64::max);
        if u < person.p_drop * (1.0 - retention) {
            run.dropped = true;
            break;
        }
    }
    Ok((person, run))
}

/// The baseline basket of a visit at day `t`.
fn basket(
    world: &World,
    pid: u64,
    person: &mut Person,
    t: f64,
    visit: u64,
    switches: &mut Vec<crate::rich::Switch>,
    rng: &mut ChaCha8Rng,
) -> SimReceipt {
    let cfg = &world.config;
    let day = t.floor();
    let date = world.date_of(t);
    let week = day as i64 / 7;
    let channel = if rng.random::<f64>() < person.ecommerce_share { "ecommerce" } else { "store" };
    let store = if channel == "ecommerce" {
        world.online
    } else if rng.random::<f64>() < 0.9 {
        person.store
    } else {
        rng.random_range(0..world.online)
    };
    let card_draw = rng.random::<f64>();
    let card_pick = rng.random_range(0..2usize);
    let card = if person.cards.is_empty() || card_draw >= person.card_use {
        None
    } else {
        Some(person.cards[card_pick % person.cards.len()].clone())
    };
    let time = hour(rng);
    let receipt_id = format!("{}-{}-{:012x}", world.stores[store].id, date.strftime("%Y%m%d"), {
        let x = (pid << 20 ^ visit).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ cfg.seed.rotate_left(17);
        x >> 16
    });
    let mut items: Vec<usize> = Vec::new();
    for s in person.staples.iter_mut() {
        if s.next_due <= t + 1.0 {
            items.push(s.product);
            s.next_due = t + s.cycle_days * rng.random_range(0.85..1.15);
        }
    }
    let mut event = None;
    if let Some(st) = &world.structure {
        let doy = f64::from(date.day_of_year());
        event = st.fill(
            &world.products,
            &world.by_category,
            pid,
            person,
            t,
            doy,
            week,
            cfg.seed,
            &mut items,
            switches,
            rng,
        );
    } else {
        // Poisson(basket_mean - 1) by inversion (small means).
        let extra = crate::rich::poisson((person.basket_mean - 1.0).max(0.0), rng);
        for _ in 0..extra {
            let ci = people::weighted(&person.category_prefs, rng);
            let cands = &world.by_category[ci];
            // Price-sensitive people lean towards what is on promotion this week.
            let weights: Vec<f64> = cands
                .iter()
                .map(|&p| {
                    world.products[p].weight
                        * if on_promo(p, week, cfg.seed).is_some() { 1.0 + 6.0 * person.price_sensitivity } else { 1.0 }
                })
                .collect();
            let product = cands[people::weighted(&weights, rng)];
            if !items.contains(&product) {
                items.push(product);
            }
        }
    }
    if items.is_empty() {
        items.push(world.by_category[people::weighted(&person.category_prefs, rng)][0]);
    }
    let lines = items
        .iter()
        .map(|&p| {
            let pr = &world.products[p];
            let quantity: i64 = match rng.random::<f64>() {
                x if x < 0.78 => 1,
                x if x < 0.95 => 2,
                _ => 3,
            };
            let gross = pr.list_price_cents * quantity;
            let promo = on_promo(p, week, cfg.seed);
            let mass = event.filter(|(c, _)| *c == pr.category_index()).map(|(_, pct)| pct);
            let discount = promo.max(mass).map_or(0, |pct| (gross * pct as i64 + 50) / 100);
            SimLine {
                product: p,
                quantity,
                unit_price_cents: pr.list_price_cents,
                discount_cents: discount,
                net_cents: gross - discount,
                offer: None,
            }
        })
        .collect();
    SimReceipt { receipt_id, day: t, date, time, store, card, channel, lines }
}

/// Applies the person's reactions to the offers active at this visit.
fn react(
    world: &World,
    person: &mut Person,
    mut receipt: SimReceipt,
    active: &mut [Active<'_>],
    rng: &mut ChaCha8Rng,
    n_cat: f64,
) -> SimReceipt {
    let s = person.price_sensitivity;
    for (i, a) in active.iter_mut().enumerate() {
        let o = a.offer;
        if a.used || receipt.date < o.valid_from || receipt.date > o.valid_to {
            continue;
        }
        if o.channel.as_deref().is_some_and(|c| c != receipt.channel) {
            continue;
        }
        if let OfferValue::SpendReward { min_spend_cents, reward_cents } = o.value {
            a.used = spend_reward(world, person, &mut receipt, i, min_spend_cents, reward_cents, a.depth, rng);
            continue;
        }
        if a.targets.is_empty() {
            continue;
        }
        if let OfferValue::MultiBuy { buy, pay } = o.value {
            a.used = multi_buy(world, person, &mut receipt, a, i, i64::from(buy), i64::from(pay), n_cat, rng);
            continue;
        }
        let held = receipt.lines.iter().position(|l| l.offer.is_none() && a.targets.contains(&l.product));
        match held {
            Some(li) => {
                if rng.random::<f64>() < 0.75 + 0.25 * s {
                    let line = &mut receipt.lines[li];
                    if rng.random::<f64>() < (s * a.depth / 0.6).min(1.0) {
                        line.quantity += 1;
                    }
                    let gross = line.unit_price_cents * line.quantity;
                    // An offer is good for one unit, as at a till.
                    line.discount_cents = discount_of(o.value, line.unit_price_cents);
                    line.net_cents = gross - line.discount_cents;
                    line.offer = Some(i);
                    a.used = true;
                }
            }
            None => {
                let affinity = (person.category_prefs[a.category] * n_cat * 0.5).clamp(0.05, 1.0);
                if rng.random::<f64>() < affinity * moved_share(s, a.depth) {
                    let weights: Vec<f64> = a.targets.iter().map(|&p| world.products[p].weight).collect();
                    let product = a.targets[people::weighted(&weights, rng)];
                    let price = world.products[product].list_price_cents;
                    let discount = discount_of(o.value, price);
                    receipt.lines.push(SimLine {
                        product,
                        quantity: 1,
                        unit_price_cents: price,
                        discount_cents: discount,
                        net_cents: price - discount,
                        offer: Some(i),
                    });
                    a.used = true;
                }
            }
        }
    }
    receipt
}

/// Pushes a staple's next purchase back by a cycle per unit bought beyond the usual one.
fn displace(person: &mut Person, product: usize, extra_units: i64) {
    if extra_units <= 0 {
        return;
    }
    if let Some(s) = person.staples.iter_mut().find(|s| s.product == product) {
        s.next_due += s.cycle_days * extra_units as f64;
    }
}

/// A multi-buy offer at a visit; whether it was redeemed.
#[allow(clippy::too_many_arguments)]
fn multi_buy(
    world: &World,
    person: &mut Person,
    receipt: &mut SimReceipt,
    a: &Active<'_>,
    i: usize,
    buy: i64,
    pay: i64,
    n_cat: f64,
    rng: &mut ChaCha8Rng,
) -> bool {
    let s = person.price_sensitivity;
    let held = receipt.lines.iter().position(|l| l.offer.is_none() && a.targets.contains(&l.product));
    let (line, before) = match held {
        Some(li) => {
            if rng.random::<f64>() >= 0.75 + 0.25 * s {
                return false;
            }
            (li, receipt.lines[li].quantity)
        }
        None => {
            let affinity = (person.category_prefs[a.category] * n_cat * 0.5).clamp(0.05, 1.0);
            if rng.random::<f64>() >= MULTI_BUY_REACH * affinity * moved_share(s, a.depth) {
                return false;
            }
            let weights: Vec<f64> = a.targets.iter().map(|&p| world.products[p].weight).collect();
            let product = a.targets[people::weighted(&weights, rng)];
            let price = world.products[product].list_price_cents;
            receipt.lines.push(SimLine {
                product,
                quantity: 0,
                unit_price_cents: price,
                discount_cents: 0,
                net_cents: 0,
                offer: None,
            });
            (receipt.lines.len() - 1, 1)
        }
    };
    let l = &mut receipt.lines[line];
    l.quantity = l.quantity.max(buy);
    let gross = l.unit_price_cents * l.quantity;
    l.discount_cents = (l.unit_price_cents * (buy - pay).max(0)).min(gross);
    l.net_cents = gross - l.discount_cents;
    l.offer = Some(i);
    let (product, extra) = (l.product, l.quantity - before);
    displace(person, product, extra);
    true
}

/// A spend reward at a visit; whether it was redeemed.
#[allow(clippy::too_many_arguments)]
fn spend_reward(
    world: &World,
    person: &Person,
    receipt: &mut SimReceipt,
    i: usize,
    min_spend: i64,
    reward: i64,
    depth: f64,
    rng: &mut ChaCha8Rng,
) -> bool {
    let s = person.price_sensitivity;
    let total = |r: &SimReceipt| r.lines.iter().map(|l| l.net_cents).sum::<i64>();
    let spent = total(receipt);
    if spent >= min_spend {
        if rng.random::<f64>() >= 0.75 + 0.25 * s {
            return false;
        }
    } else {
        let reach = (spent as f64 / min_spend.max(1) as f64).powi(2);
        if rng.random::<f64>() >= reach * moved_share(s, depth) {
            return false;
        }
        // Topped up from the shopper's usual categories.
        let mut added = 0;
        while total(receipt) < min_spend && added < 40 {
            let ci = people::weighted(&person.category_prefs, rng);
            let cands = &world.by_category[ci];
            let weights: Vec<f64> = cands.iter().map(|&p| world.products[p].weight).collect();
            let product = cands[people::weighted(&weights, rng)];
            let price = world.products[product].list_price_cents;
            receipt.lines.push(SimLine {
                product,
                quantity: 1,
                unit_price_cents: price,
                discount_cents: 0,
                net_cents: price,
                offer: None,
            });
            added += 1;
        }
        if total(receipt) < min_spend {
            return false;
        }
    }
    // The reward comes off the lines in order, as a till prorates it (never below zero on
    // a line; lines on the chain's promotion keep their own discount only).
    let mut left = reward;
    for l in receipt.lines.iter_mut().filter(|l| l.offer.is_none() && l.discount_cents == 0) {
        if left <= 0 {
            break;
        }
        let off = left.min(l.net_cents);
        if off > 0 {
            l.discount_cents += off;
            l.net_cents -= off;
            l.offer = Some(i);
            left -= off;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seasonality_has_a_saturday_peak_a_christmas_rush_and_an_august_lull() {
        let d = jiff::civil::date;
        assert!(season(d(2025, 1, 4)) > 2.0 * season(d(2025, 1, 5)), "Saturday vs Sunday");
        let friday = WEEKDAY[4];
        assert!(season(d(2025, 12, 19)) > 1.2 * friday, "a Friday before Christmas");
        assert!(season(d(2025, 8, 15)) < 0.8 * friday, "Ferragosto, a Friday");
        let mut day = d(2025, 1, 1);
        for _ in 0..365 {
            assert!(season(day) <= SEASON_MAX + 1e-9);
            day = day.tomorrow().unwrap();
        }
    }

    #[test]
    fn promotions_are_a_tenth_of_products_each_week() {
        let on: usize = (0..10_000).filter(|&i| on_promo(i, 7, 42).is_some()).count();
        assert!((800..1200).contains(&on), "{on} of 10000 on promotion");
        assert!((0..10_000).filter_map(|i| on_promo(i, 7, 42)).all(|p| (20..=35).contains(&p)));
    }
}
