//! Pricing a basket at the till: which of a shopper's personal offers apply, for how much.
//!
//! A pure function of the basket, the shopper's offers, what the product master says of
//! the basket's products and how much of each budget is left: no clock, no database, no
//! randomness. The tills' API calls it twice with the same rules — from memory to answer
//! `evaluate`, and inside the transaction that redeems to answer `confirm` — so what the
//! till showed and what is recorded cannot differ by more than what changed in between.
//!
//! The rules (`docs/pos.md`, each a property test in `tests/till_rules.rs`):
//! - Lines are taken by `line_no`, offers in a fixed order: offers on a product, then on a
//!   category, then on the basket; within each, by offer code. The order of the request's
//!   lines and of the stored offers therefore changes nothing.
//! - A one-unit offer (percent or amount off) discounts one unit of the first line of its
//!   product (by `line_no`) that has room; weighed goods (a fraction of a unit) count as
//!   one unit of what was weighed.
//! - A multi-buy ("3 for 2") applies ⌊units / buy⌋ times up to its cap; the free units are
//!   the cheapest of the product's units (ties: lower `line_no`); no unit twice.
//! - A category offer discounts the dearest single item of the category in the basket (one
//!   unit, or what was weighed when less than one; ties: lower `line_no`).
//! - A spend reward's threshold counts the subtotal after every line discount; the reward is
//!   spread over the lines in proportion to what they still cost (largest remainders, ties by
//!   `line_no`), so a refund can take back each line's share.
//! - No line costs less than its floor: zero, or — where the campaign's policy keeps a
//!   margin — the unit cost grossed up by that margin, for every unit of the line.
//! - An offer is given only while every budget it counts against has room for it.

use std::collections::HashMap;

/// Why an offer of the shopper's did not apply to this basket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// None of its product or category is in the basket.
    NotInBasket,
    /// Too few units for the multi-buy, a basket below the spend, or a price already at
    /// its floor.
    BelowThreshold,
    /// Redeemed on another receipt.
    AlreadyUsed,
    /// Its campaign asks the shopper to activate it in the app first.
    NotActivated,
    /// Not valid on the receipt's day.
    NotValidToday,
    /// Its campaign runs in other stores.
    OtherStore,
    /// A budget of its campaign has no room left for it.
    BudgetSpent,
}

impl Reason {
    /// The name the API answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NotInBasket => "not_in_basket",
            Reason::BelowThreshold => "below_threshold",
            Reason::AlreadyUsed => "already_used",
            Reason::NotActivated => "not_activated",
            Reason::NotValidToday => "not_valid_today",
            Reason::OtherStore => "other_store",
            Reason::BudgetSpent => "budget_spent",
        }
    }
}

/// What an offer is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum On {
    /// A product, by sku.
    Product(String),
    /// One item of a category.
    Category(String),
    /// The whole basket.
    Basket,
}

/// How an offer gives its discount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Terms {
    /// Percent off one unit.
    PercentOff(u32),
    /// An amount off one unit, cents.
    AmountOff(i64),
    /// `buy` units for the price of `pay`, at most `max_times` times.
    MultiBuy {
        /// Units to buy.
        buy: u32,
        /// Units paid.
        pay: u32,
        /// Most times it applies on one receipt.
        max_times: u32,
    },
    /// `reward_cents` off a basket of at least `min_spend_cents` (after line discounts).
    SpendReward {
        /// Least basket, cents.
        min_spend_cents: i64,
        /// The reward, cents.
        reward_cents: i64,
    },
}

/// One of the shopper's offers as the till sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct TillOffer {
    /// Its code.
    pub code: String,
    /// Its campaign.
    pub campaign_id: String,
    /// What it is on.
    pub on: On,
    /// How it discounts.
    pub terms: Terms,
    /// Shown on the receipt.
    pub description: String,
    /// First day valid (chain's calendar, `YYYY-MM-DD`).
    pub valid_from: String,
    /// Last day valid, inclusive.
    pub valid_to: String,
    /// Stores it is valid in (all when empty).
    pub stores: Vec<String>,
    /// Needs activation in the app before it applies.
    pub activation_required: bool,
    /// Activated in the app.
    pub activated: bool,
    /// Redeemed on another receipt.
    pub used: bool,
    /// The margin its policy keeps after a discount, as a share of the discounted price
    /// (none: no floor above zero).
    pub min_margin: Option<f64>,
    /// The budgets it counts against (keys of the `budgets` map given to [`price`]).
    pub budgets: Vec<String>,
}

/// A basket line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The till's line number (unique in the basket).
    pub line_no: u32,
    /// The product.
    pub sku: String,
    /// Quantity in thousandths of a unit (2 units: 2000; 0.350 kg: 350).
    pub qty_milli: i64,
    /// Price of one unit, cents.
    pub unit_price_cents: i64,
}

impl Line {
    /// What the line costs before discounts: quantity × unit price, rounded half up.
    pub fn value_cents(&self) -> i64 {
        mul_div_round(self.qty_milli, self.unit_price_cents, 1000)
    }
}

/// What the product master says of a product.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Item {
    /// Its category.
    pub category: String,
    /// Its unit cost, cents, when known.
    pub unit_cost_cents: Option<i64>,
}

/// One discount given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discount {
    /// The offer.
    pub offer_code: String,
    /// Its campaign.
    pub campaign_id: String,
    /// The line it is on.
    pub line_no: u32,
    /// The line's product.
    pub sku: String,
    /// How much, cents.
    pub amount_cents: i64,
    /// Shown on the receipt.
    pub description: String,
}

/// A priced basket.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Priced {
    /// Discounts, by offer order then line.
    pub discounts: Vec<Discount>,
    /// Before discounts, cents.
    pub subtotal_cents: i64,
    /// All discounts, cents.
    pub discount_cents: i64,
    /// To pay, cents.
    pub total_cents: i64,
    /// The shopper's offers that did not apply, by offer code.
    pub not_applied: Vec<(String, Reason)>,
}

/// A quantity as the till sends it: a decimal string with at most three decimals ("2",
/// "0.350"), positive; in thousandths of a unit.
pub fn parse_quantity(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let bad =
        || format!("quantity {text:?} must be a positive decimal with at most three decimals, e.g. \"2\" or \"0.350\"");
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if whole.is_empty() && frac.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 3
        || whole.len() > 9
    {
        return Err(bad());
    }
    let w: i64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad())? };
    let f: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<3}").parse().map_err(|_| bad())? };
    let q = w * 1000 + f;
    if q <= 0 {
        return Err(bad());
    }
    Ok(q)
}

/// `a × b / c` rounded half up, for non-negative values (in 128 bits: no overflow).
pub fn mul_div_round(a: i64, b: i64, c: i64) -> i64 {
    ((i128::from(a) * i128::from(b) * 2 + i128::from(c)) / (i128::from(c) * 2)) as i64
}

/// `a × b / c` rounded up, for non-negative values.
pub fn mul_div_ceil(a: i64, b: i64, c: i64) -> i64 {
    ((i128::from(a) * i128::from(b) + i128::from(c) - 1) / i128::from(c)) as i64
}

fn order(o: &TillOffer) -> (u8, &str) {
    let rank = match o.on {
        On::Product(_) => 0,
        On::Category(_) => 1,
        On::Basket => 2,
    };
    (rank, o.code.as_str())
}

/// The lowest price of one unit of `line` under offer `o`'s policy, cents.
fn unit_floor(o: &TillOffer, item: Option<&Item>) -> i64 {
    match (o.min_margin, item.and_then(|i| i.unit_cost_cents)) {
        // price × (1 − m) ≥ cost.
        (Some(m), Some(cost)) if cost > 0 && m < 1.0 => (cost as f64 / (1.0 - m.max(0.0))).ceil() as i64,
        _ => 0,
    }
}

/// Prices `lines` (in any order; `line_no`s unique) for a shopper holding `offers` (in any
/// order), at `store` on `day` (`YYYY-MM-DD`). `items` says what the product master knows of
/// the basket's products; `budgets` how much each budget has left, cents (a budget missing
/// from it has no cap).
pub fn price(
    lines: &[Line],
    offers: &[TillOffer],
    items: &HashMap<String, Item>,
    budgets: &HashMap<String, i64>,
    store: &str,
    day: &str,
) -> Priced {
    let mut lines: Vec<&Line> = lines.iter().collect();
    lines.sort_by_key(|l| l.line_no);
    let subtotal: i64 = lines.iter().map(|l| l.value_cents()).sum();
    // What each line may still be discounted by (down to zero; each offer adds its floor).
    let mut given = vec![0i64; lines.len()];
    let mut budgets = budgets.clone();
    let mut offers: Vec<&TillOffer> = offers.iter().collect();
    offers.sort_by(|a, b| order(a).cmp(&order(b)));
    let mut out = Priced { subtotal_cents: subtotal, ..Priced::default() };
    for o in offers {
        let refused = if day < o.valid_from.as_str() || day > o.valid_to.as_str() {
            Some(Reason::NotValidToday)
        } else if !o.stores.is_empty() && !o.stores.iter().any(|s| s == store) {
            Some(Reason::OtherStore)
        } else if o.activation_required && !o.activated {
            Some(Reason::NotActivated)
        } else if o.used {
            Some(Reason::AlreadyUsed)
        } else {
            None
        };
        if let Some(r) = refused {
            out.not_applied.push((o.code.clone(), r));
            continue;
        }
        // (line index, amount) this offer would give.
        let proposed: Result<Vec<(usize, i64)>, Reason> = match (&o.on, o.terms) {
            (On::Basket, Terms::SpendReward { min_spend_cents, reward_cents }) => {
                spend_reward(&lines, &given, items, o, min_spend_cents, reward_cents)
            }
            (On::Basket, _) | (_, Terms::SpendReward { .. }) => Err(Reason::NotInBasket),
            (On::Product(sku), Terms::MultiBuy { buy, pay, max_times }) => {
                multi_buy(&lines, &given, items, o, sku, buy, pay, max_times)
            }
            (On::Category(_), Terms::MultiBuy { .. }) => Err(Reason::NotInBasket),
            (On::Product(sku), terms) => {
                let candidates: Vec<usize> = (0..lines.len()).filter(|&i| &lines[i].sku == sku).collect();
                one_unit(&lines, &given, items, o, terms, candidates)
            }
            (On::Category(cat), terms) => {
                let mut candidates: Vec<usize> = (0..lines.len())
                    .filter(|&i| items.get(&lines[i].sku).is_some_and(|it| &it.category == cat))
                    .collect();
                // The dearest item first (one unit, or what was weighed when less); ties by
                // line number (the sort is stable).
                candidates.sort_by_key(|&i| {
                    std::cmp::Reverse(mul_div_round(lines[i].qty_milli.min(1000), lines[i].unit_price_cents, 1000))
                });
                one_unit(&lines, &given, items, o, terms, candidates.into_iter().take(1).collect())
            }
        };
        let proposed = match proposed {
            Ok(p) if p.iter().map(|x| x.1).sum::<i64>() > 0 => p,
            Ok(_) => {
                out.not_applied.push((o.code.clone(), Reason::BelowThreshold));
                continue;
            }
            Err(r) => {
                out.not_applied.push((o.code.clone(), r));
                continue;
            }
        };
        let amount: i64 = proposed.iter().map(|x| x.1).sum();
        if o.budgets.iter().any(|b| budgets.get(b).is_some_and(|left| *left < amount)) {
            out.not_applied.push((o.code.clone(), Reason::BudgetSpent));
            continue;
        }
        for b in &o.budgets {
            if let Some(left) = budgets.get_mut(b) {
                *left -= amount;
            }
        }
        for (i, a) in proposed {
            given[i] += a;
            out.discounts.push(Discount {
                offer_code: o.code.clone(),
                campaign_id: o.campaign_id.clone(),
                line_no: lines[i].line_no,
                sku: lines[i].sku.clone(),
                amount_cents: a,
                description: o.description.clone(),
            });
        }
    }
    out.discount_cents = out.discounts.iter().map(|d| d.amount_cents).sum();
    out.total_cents = subtotal - out.discount_cents;
    out.not_applied.sort();
    out
}

/// What line `i` may still be discounted by under offer `o`: its value less what was given
/// and less the floor of every unit.
fn room(lines: &[&Line], given: &[i64], items: &HashMap<String, Item>, o: &TillOffer, i: usize) -> i64 {
    let l = lines[i];
    let floor = mul_div_ceil(l.qty_milli, unit_floor(o, items.get(&l.sku)), 1000);
    (l.value_cents() - given[i] - floor).max(0)
}

fn one_unit(
    lines: &[&Line],
    given: &[i64],
    items: &HashMap<String, Item>,
    o: &TillOffer,
    terms: Terms,
    candidates: Vec<usize>,
) -> Result<Vec<(usize, i64)>, Reason> {
    if candidates.is_empty() {
        return Err(Reason::NotInBasket);
    }
    for i in candidates {
        let l = lines[i];
        // One unit, or what was weighed when less than one.
        let units = l.qty_milli.min(1000);
        let base = mul_div_round(units, l.unit_price_cents, 1000);
        let floor = mul_div_ceil(units, unit_floor(o, items.get(&l.sku)), 1000);
        let wanted = match terms {
            Terms::PercentOff(p) => mul_div_round(base, i64::from(p.min(100)), 100),
            Terms::AmountOff(a) => a.max(0),
            _ => 0,
        };
        let amount = wanted.min(base - floor).min(room(lines, given, items, o, i)).max(0);
        if amount > 0 {
            return Ok(vec![(i, amount)]);
        }
    }
    Err(Reason::BelowThreshold)
}

#[allow(clippy::too_many_arguments)]
fn multi_buy(
    lines: &[&Line],
    given: &[i64],
    items: &HashMap<String, Item>,
    o: &TillOffer,
    sku: &str,
    buy: u32,
    pay: u32,
    max_times: u32,
) -> Result<Vec<(usize, i64)>, Reason> {
    let of_sku: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].sku == sku).collect();
    if of_sku.is_empty() {
        return Err(Reason::NotInBasket);
    }
    // Whole units only: weighed goods do not count towards a multi-buy.
    let units: i64 = of_sku.iter().map(|&i| lines[i].qty_milli / 1000).sum();
    let times = (units / i64::from(buy.max(1))).min(i64::from(max_times));
    let mut free = times * i64::from(buy.saturating_sub(pay));
    if free <= 0 {
        return Err(Reason::BelowThreshold);
    }
    // The cheapest units go free, each once; ties by line number.
    let mut by_price = of_sku;
    by_price.sort_by_key(|&i| lines[i].unit_price_cents);
    let mut out = Vec::new();
    for i in by_price {
        if free == 0 {
            break;
        }
        let l = lines[i];
        let n = (l.qty_milli / 1000).min(free);
        free -= n;
        let floor = unit_floor(o, items.get(&l.sku));
        let per_unit = (l.unit_price_cents - floor).max(0);
        let amount = (per_unit * n).min(room(lines, given, items, o, i));
        if amount > 0 {
            out.push((i, amount));
        }
    }
    Ok(out)
}

fn spend_reward(
    lines: &[&Line],
    given: &[i64],
    items: &HashMap<String, Item>,
    o: &TillOffer,
    min_spend: i64,
    reward: i64,
) -> Result<Vec<(usize, i64)>, Reason> {
    let net: i64 = lines.iter().zip(given).map(|(l, g)| l.value_cents() - g).sum();
    if lines.is_empty() || net < min_spend {
        return Err(Reason::BelowThreshold);
    }
    let rooms: Vec<i64> = (0..lines.len()).map(|i| room(lines, given, items, o, i)).collect();
    let total_room: i64 = rooms.iter().sum();
    let reward = reward.max(0).min(total_room);
    if reward == 0 {
        return Err(Reason::BelowThreshold);
    }
    // Largest remainders over the rooms: shares sum to the reward, none above its room.
    let mut shares: Vec<(usize, i64, i128)> = rooms
        .iter()
        .enumerate()
        .map(|(i, &r)| {
            let exact = i128::from(reward) * i128::from(r);
            (i, (exact / i128::from(total_room)) as i64, exact % i128::from(total_room))
        })
        .collect();
    let mut left = reward - shares.iter().map(|s| s.1).sum::<i64>();
    let mut by_remainder: Vec<usize> = (0..shares.len()).collect();
    by_remainder.sort_by(|&a, &b| shares[b].2.cmp(&shares[a].2).then(a.cmp(&b)));
    for k in by_remainder {
        if left == 0 {
            break;
        }
        if shares[k].1 < rooms[k] {
            shares[k].1 += 1;
            left -= 1;
        }
    }
    Ok(shares.into_iter().filter(|s| s.1 > 0).map(|s| (s.0, s.1)).collect())
}

/// How much of a line's discount a refund of part of it takes back, so that every
/// refund in a sequence takes back its share and refunding everything takes back all:
/// after `refunded_milli` of `qty_milli` are back, `⌈amount × refunded / qty⌉` was taken back
/// (rounded up: the units the shopper keeps never end up cheaper than their share).
pub fn taken_back(amount_cents: i64, qty_milli: i64, refunded_milli: i64) -> i64 {
    mul_div_ceil(amount_cents, refunded_milli.min(qty_milli), qty_milli.max(1))
}

/// What the returned units of a line were charged before discounts, after `refunded_milli`
/// of `qty_milli` are back (so that the whole line is its value, whatever the steps).
pub fn value_back(line_value_cents: i64, qty_milli: i64, refunded_milli: i64) -> i64 {
    mul_div_round(line_value_cents, refunded_milli.min(qty_milli), qty_milli.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(code: &str) -> TillOffer {
        TillOffer {
            code: code.into(),
            campaign_id: "c".into(),
            on: On::Product("A".into()),
            terms: Terms::PercentOff(20),
            description: String::new(),
            valid_from: "2026-03-02".into(),
            valid_to: "2026-03-15".into(),
            stores: Vec::new(),
            activation_required: false,
            activated: false,
            used: false,
            min_margin: None,
            budgets: vec!["total".into()],
        }
    }

    #[test]
    fn every_refusal_says_why() {
        let lines = [Line { line_no: 1, sku: "A".into(), qty_milli: 1000, unit_price_cents: 500 }];
        let offers = [
            TillOffer { valid_from: "2026-03-06".into(), ..offer("1-later") },
            TillOffer { stores: vec!["S2".into()], ..offer("2-elsewhere") },
            TillOffer { activation_required: true, ..offer("3-not-activated") },
            TillOffer { activation_required: true, activated: true, ..offer("4-activated") },
            TillOffer { used: true, ..offer("5-used") },
            TillOffer { on: On::Product("B".into()), ..offer("6-absent") },
            TillOffer {
                terms: Terms::SpendReward { min_spend_cents: 1000, reward_cents: 100 },
                on: On::Basket,
                ..offer("7-small")
            },
            TillOffer { budgets: vec!["tight".into()], ..offer("8-budget") },
        ];
        let budgets: HashMap<String, i64> = [("tight".to_string(), 50)].into_iter().collect();
        let p = price(&lines, &offers, &HashMap::new(), &budgets, "S1", "2026-03-05");
        assert_eq!(
            p.not_applied,
            vec![
                ("1-later".to_string(), Reason::NotValidToday),
                ("2-elsewhere".to_string(), Reason::OtherStore),
                ("3-not-activated".to_string(), Reason::NotActivated),
                ("5-used".to_string(), Reason::AlreadyUsed),
                ("6-absent".to_string(), Reason::NotInBasket),
                ("7-small".to_string(), Reason::BelowThreshold),
                ("8-budget".to_string(), Reason::BudgetSpent),
            ]
        );
        // The activated offer applies: 20 % of 5.00 €.
        assert_eq!((p.discounts.len(), p.discounts[0].offer_code.as_str(), p.discount_cents), (1, "4-activated", 100));
    }

    #[test]
    fn quantities_parse_to_thousandths() {
        assert_eq!(parse_quantity("2"), Ok(2000));
        assert_eq!(parse_quantity("0.350"), Ok(350));
        assert_eq!(parse_quantity("1.5"), Ok(1500));
        for bad in ["-1", "0", "0.000", "1.2345", "", "abc", "1e3", " . "] {
            assert!(parse_quantity(bad).is_err(), "{bad}");
        }
    }
}
