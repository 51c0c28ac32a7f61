//! A campaign plan from the policy, the customers and their candidates.
//!
//! Who gets what:
//! - without the `marketing` consent, nothing (and they are not in the holdout either: they
//!   are outside the campaign);
//! - policy-excluded customers (segment, minimum CLV) get no personal spend;
//! - a stratified random share of the rest is held out and gets nothing;
//! - customers without the `profiling` consent get only the campaign's non-personal offers
//!   (the same candidates for all of them, valued with population averages, never with
//!   their own purchases);
//! - everyone else gets their own candidates, valued by the response model, and the
//!   assignment picks every customer's offers under all budgets.

use crate::assign::{Budgets, Candidate, Kind, Mechanic, Option_, Target, capacities};
use crate::code::offer_code;
use crate::holdout;
use crate::policy::{Basis, Objective, Policy, Product};
use crate::response::{self, Response};
use crate::stream::{BLOCK, Combos, Diversifier, Part, Parts, Streaming};
use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::BuildHasher;
use std::io;

/// One candidate of one customer, before valuation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CandidateInput {
    /// Index into the campaign's products.
    pub product: u32,
    /// Why.
    pub kind: Kind,
    /// Probability they buy it in the window anyway.
    pub p0: f64,
    /// Their affinity for it (0–1).
    pub affinity: f64,
    /// Why, in words ("buys Fiore coffee about every 12 days").
    pub reason: String,
}

/// A category's typical item, for offers on any item of it.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryInput {
    /// The category's name (as in the product master).
    pub name: String,
    /// List price of its typical item (weighted by units sold), cents.
    pub price_cents: i64,
    /// Unit cost of its typical item, cents.
    pub cost_cents: i64,
}

/// One of a customer's categories as a candidate for a category-wide offer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CategoryCandidate {
    /// Index into the campaign's categories.
    pub category: u32,
    /// Probability they buy in the category in the window anyway.
    pub p0: f64,
    /// Their affinity for the category (0–1).
    pub affinity: f64,
    /// Why, in words.
    pub reason: String,
}

/// A customer's outlook for one spend reward of the policy.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct SpendInput {
    /// Probability they spend the threshold on one visit in the window anyway.
    pub p0: f64,
    /// Probability that, otherwise, they visit with a basket near enough to top it up.
    pub reach: f64,
    /// What they add when they top up, cents.
    pub top_up_cents: f64,
    /// Why, in words ("your shopping is usually about 32 €").
    pub reason: String,
}

/// A customer as the plan needs them.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct CustomerInput {
    /// Pseudonymous key.
    pub key: String,
    /// RFM segment.
    pub segment: String,
    /// Preferred store.
    pub store: Option<String>,
    /// CLV, cents.
    pub clv_cents: i64,
    /// Probability they are still active.
    pub p_alive: f64,
    /// Price sensitivity, 0–1 (rank of their discount share).
    pub sensitivity: f64,
    /// Consent to marketing at all.
    pub marketing: bool,
    /// Consent to profiling (personal offers).
    pub profiling: bool,
    /// Their own candidates (used only with profiling consent).
    pub candidates: Vec<CandidateInput>,
    /// Products not to offer them, personal or not (the policy's cool-down), sorted.
    pub blocked: Vec<u32>,
    /// Offers other campaigns gave them within the policy's frequency-cap window.
    pub recent_offers: u32,
    /// Their categories, for category-wide offers (with profiling consent).
    pub categories: Vec<CategoryCandidate>,
    /// Per spend reward of the policy, in its order (with profiling consent).
    pub spend: Vec<SpendInput>,
    /// For one of several cards of one person, a key all of that person's cards share
    /// (empty for a person with one card): the holdout is drawn per person, so a person's
    /// cards are all treated or all held out.
    pub person: String,
}

/// What happened to a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// Personal offers.
    Personal,
    /// Non-personal offers only (no profiling consent).
    Generic,
    /// Held out: nothing, measured against.
    Holdout,
    /// Outside the policy (segment, CLV): nothing.
    Excluded,
    /// No marketing consent: nothing.
    NoConsent,
    /// Eligible, but no offer was worth its cost under the budgets.
    NoOffer,
}

impl Status {
    /// Name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Personal => "personal",
            Status::Generic => "generic",
            Status::Holdout => "holdout",
            Status::Excluded => "excluded",
            Status::NoConsent => "no_consent",
            Status::NoOffer => "no_offer",
        }
    }
}

/// One planned offer.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedOffer {
    /// Index into the customers.
    pub customer: u32,
    /// Rank among the customer's offers (1 first).
    pub rank: u32,
    /// What it is on: a product, a category (indices into the campaign's lists) or the basket.
    pub target: Target,
    /// How it gives its discount.
    pub mechanic: Mechanic,
    /// Why it was a candidate.
    pub kind: Kind,
    /// Percent off (0 for an amount off, a multi-buy or a spend reward).
    pub percent: u32,
    /// Discount when redeemed, cents: on one unit (for a category, its typical item), the
    /// free units of a multi-buy, or a spend reward.
    pub discount_cents: i64,
    /// Unique, unguessable code.
    pub code: String,
    /// Probability of redemption.
    pub p_redeem: f64,
    /// Expected cost, cents.
    pub expected_cost: f64,
    /// Cost if redeemed, cents.
    pub worst_cost: i64,
    /// Expected incremental margin, cents.
    pub incremental_margin: f64,
    /// The objective's value, cents.
    pub value: f64,
    /// The candidate's `p0` and affinity, recorded for learning.
    pub p0: f64,
    /// Affinity at planning time.
    pub affinity: f64,
    /// Sensitivity band at planning time.
    pub band: usize,
    /// Personal (else non-personal, for customers without profiling consent).
    pub personal: bool,
    /// Plain-words reason.
    pub reason: String,
}

/// The plan.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// Offers, by customer then rank.
    pub offers: Vec<PlannedOffer>,
    /// Each customer's status.
    pub status: Vec<Status>,
    /// Expected cost counted against the total budget, cents.
    pub expected_cost: f64,
    /// Worst case counted against the total, cents.
    pub worst_cost: f64,
    /// Use of each budget limit on the policy's basis, cents.
    pub limit_usage: Vec<f64>,
    /// Expected incremental margin, cents.
    pub incremental_margin: f64,
    /// The objective's total, cents.
    pub value: f64,
    /// Budget multipliers (total, worst-case ceiling, limits).
    pub multipliers: Vec<f64>,
    /// No plan under these budgets can reach more than this objective, cents.
    pub upper_bound: f64,
    /// Customers whose repeated offer set was changed into one of their own.
    pub diversified: usize,
}

/// At most this share of a customer's expected value is given up to make their personal
/// offer set different from every other customer's.
pub const ONE_TO_ONE_MAX_LOSS: f64 = 0.25;

/// Share of every budget the assignment leaves for the one-is-one pass.
pub const ONE_TO_ONE_RESERVE: f64 = 0.03;

/// Share of an at-risk customer's CLV an offer they redeem is assumed to keep (retention
/// objective).
pub const RETENTION_SHARE: f64 = 0.1;

/// Everything the plan reads.
pub struct Inputs<'a> {
    /// The policy.
    pub policy: &'a Policy,
    /// The products candidates point into.
    pub products: &'a [Product],
    /// The categories category candidates point into.
    pub categories: &'a [CategoryInput],
    /// The chain's margin on what customers add to a basket (share of net revenue), for
    /// spend rewards.
    pub margin_rate: f64,
    /// The customers.
    pub customers: &'a dyn Customers,
    /// Non-personal candidates (for customers without profiling consent), with
    /// population-average `p0` and affinity.
    pub generic: &'a [CandidateInput],
    /// The response (`g` per band and depth) to value offers with.
    pub response: &'a Response,
    /// The secret offer codes are keyed with.
    pub secret: &'a [u8],
    /// Renders the reason of a personal product candidate left without one (customer
    /// index, candidate index): the caller keeps a compact reason per candidate and only
    /// the chosen offers' are written out in words.
    pub explain: Option<&'a (dyn Fn(usize, usize) -> String + Sync)>,
}

/// The customers a plan reads, read again for each of its passes (so a caller may keep
/// them on disk, or make them on the fly).
pub trait Customers: Sync {
    /// How many.
    fn len(&self) -> usize;
    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Calls `f` with every customer of `from..to` and their index, in order; an error
    /// (customers kept in a file that cannot be read) ends the plan with it.
    fn read(&self, from: usize, to: usize, f: &mut dyn FnMut(usize, &CustomerInput)) -> io::Result<()>;
}

impl Customers for &[CustomerInput] {
    fn len(&self) -> usize {
        <[CustomerInput]>::len(self)
    }
    fn read(&self, from: usize, to: usize, f: &mut dyn FnMut(usize, &CustomerInput)) -> io::Result<()> {
        for (i, c) in self[from..to].iter().enumerate() {
            f(from + i, c);
        }
        Ok(())
    }
}

impl Customers for Vec<CustomerInput> {
    fn len(&self) -> usize {
        self.as_slice().len()
    }
    fn read(&self, from: usize, to: usize, f: &mut dyn FnMut(usize, &CustomerInput)) -> io::Result<()> {
        self.as_slice().read(from, to, f)
    }
}

/// How far a plan is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Customers whose options are valued, of all.
    Options,
    /// Passes over the options made to price the budgets (how many is not known before).
    Prices,
    /// Customers whose offers are written, of all.
    Offers,
}

/// Plans the campaign in memory.
pub fn plan(inputs: &Inputs<'_>) -> Plan {
    let mut offers = Vec::new();
    let mut plan = plan_with(inputs, &Streaming::in_memory(), &mut |o| offers.push(o), &|_, _, _| {})
        .expect("a plan in memory does not use the disk");
    plan.offers = offers;
    plan
}

/// What the passes of a plan share.
struct Context<'a> {
    inputs: &'a Inputs<'a>,
    status: Vec<Status>,
    limit_bits: Vec<u64>,
    in_total: Vec<bool>,
    categories: Vec<Option<CategoryRule>>,
    /// Per product: whether the policy allows offers on it, and its deepest discount.
    allowed: Vec<bool>,
    max_percent: Vec<u32>,
}

/// One part's customers, candidates and options (indices local to the part).
#[derive(Default)]
struct Built {
    /// Input index of each customer in the campaign.
    customers_in: Vec<u32>,
    block_starts: Vec<u32>,
    customer_starts: Vec<u32>,
    option_starts: Vec<u32>,
    candidates: Vec<(Candidate, Source)>,
    options: Vec<Option_>,
    caps: Vec<u8>,
    /// Whether each customer gave the profiling consent.
    profiling: Vec<bool>,
    /// Scratch, kept between customers and parts: products and categories seen, the last
    /// customer's options, candidates and their order.
    seen: Seen,
    scratch_options: Vec<Option_>,
    scratch_candidates: Vec<(Candidate, Source)>,
    scratch_starts: Vec<u32>,
    order: Vec<usize>,
}

impl Built {
    /// Empty, keeping what it has allocated.
    fn clear(&mut self) {
        self.customers_in.clear();
        self.block_starts.clear();
        self.customer_starts.clear();
        self.customer_starts.push(0);
        self.option_starts.clear();
        self.option_starts.push(0);
        self.candidates.clear();
        self.options.clear();
        self.caps.clear();
        self.profiling.clear();
    }
}

/// Which of a customer's products (or categories) were seen: a stamp per index, the
/// stamp moved on for every customer (a set per customer cleared in no time; a hash set
/// here was 3 % of a plan).
#[derive(Default)]
struct Seen {
    marks: Vec<u32>,
    stamp: u32,
}

impl Seen {
    /// A new empty set of indices below `n`.
    fn next(&mut self, n: usize) {
        if self.marks.len() < n {
            self.marks.resize(n, 0);
        }
        if self.stamp == u32::MAX {
            self.marks.iter_mut().for_each(|m| *m = 0);
            self.stamp = 0;
        }
        self.stamp += 1;
    }

    /// Adds `i` (below the set's `n`); whether it was new.
    fn insert(&mut self, i: u32) -> bool {
        let m = &mut self.marks[i as usize];
        let new = *m != self.stamp;
        *m = self.stamp;
        new
    }
}

/// Adds customer `i` (in the campaign, not held out) with their candidates and options.
fn build_customer(x: &Context<'_>, i: usize, c: &CustomerInput, b: &mut Built) {
    let personal = c.profiling;
    let list: &[CandidateInput] = if personal { &c.candidates } else { x.inputs.generic };
    let band = if personal { response::band(c.sensitivity) } else { response::BANDS / 2 };
    let value_of = |e: &response::Effect| match x.inputs.policy.objective {
        Objective::IncrementalMargin => e.incremental_margin,
        Objective::IncrementalRevenue => e.incremental_revenue,
        Objective::Retention => {
            e.incremental_margin
                + (1.0 - c.p_alive.clamp(0.0, 1.0)) * e.p_redeem * RETENTION_SHARE * c.clv_cents.max(0) as f64
        }
    };
    // An option worth nothing is never chosen at any budget price: not kept.
    let push = |options: &mut Vec<Option_>, candidate: u32, o: Opt, e: response::Effect| {
        let value = value_of(&e);
        if value > 0.0 {
            options.push(Option_ {
                candidate,
                discount_cents: o.discount,
                percent: o.percent,
                mechanic: o.mechanic,
                value,
                expected_cost: e.expected_cost,
                worst_cost: o.worst,
                incremental_margin: e.incremental_margin,
                p_redeem: e.p_redeem,
                limits: o.limits,
                in_total: o.in_total,
            });
        }
    };
    b.seen.next(x.inputs.products.len());
    for (ci, cand) in list.iter().enumerate() {
        let Some(product) = x.inputs.products.get(cand.product as usize) else { continue };
        if !x.allowed[cand.product as usize]
            || c.blocked.binary_search(&cand.product).is_ok()
            || !b.seen.insert(cand.product)
        {
            continue;
        }
        let (Some(price), Some(cost)) = (product.list_price_cents, product.unit_cost_cents) else { continue };
        let index = b.candidates.len() as u32;
        let before = b.options.len();
        let (limits, total) = (x.limit_bits[cand.product as usize], x.in_total[cand.product as usize]);
        let unit = |percent: u32, discount: i64| Opt {
            percent,
            discount,
            worst: discount,
            mechanic: Mechanic::Unit,
            limits,
            in_total: total,
        };
        for &pct in &x.inputs.policy.percent_off {
            let discount = (price * i64::from(pct) + 50) / 100;
            if x.inputs.policy.discount_allowed_up_to(product, discount, x.max_percent[cand.product as usize]) {
                let e = response::effect(cand.p0, cand.affinity, x.inputs.response.g(band, pct), price, cost, discount);
                push(&mut b.options, index, unit(pct, discount), e);
            }
        }
        for &discount in &x.inputs.policy.amount_off_cents {
            if x.inputs.policy.discount_allowed_up_to(product, discount, x.max_percent[cand.product as usize]) {
                let g = x.inputs.response.g_at(band, discount as f64 / price as f64);
                let e = response::effect(cand.p0, cand.affinity, g, price, cost, discount);
                push(&mut b.options, index, unit(0, discount), e);
            }
        }
        // A product bought on a cycle: extra units taken now replace later purchases.
        let displaced = match cand.kind {
            Kind::Due | Kind::WinBack => 1.0,
            Kind::Usual => 0.5,
            _ => 0.0,
        };
        for &(buy, pay) in &x.inputs.policy.multi_buy {
            if x.inputs.policy.multi_buy_allowed_up_to(product, buy, pay, x.max_percent[cand.product as usize]) {
                let discount = price * i64::from(buy - pay);
                let arm = response::Arm::MultiBuy { buy, pay };
                let g = x.inputs.response.g_arm(band, arm, multi_buy_depth(buy, pay));
                let e = response::multi_buy_effect(cand.p0, cand.affinity, g, price, cost, buy, pay, displaced);
                push(&mut b.options, index, Opt { mechanic: Mechanic::MultiBuy { buy, pay }, ..unit(0, discount) }, e);
            }
        }
        if b.options.len() > before {
            let target = Target::Product(cand.product);
            b.candidates.push((
                Candidate {
                    customer: b.customers_in.len() as u32,
                    target,
                    kind: cand.kind,
                    p0: cand.p0,
                    affinity: cand.affinity,
                },
                Source::Product(ci),
            ));
            b.option_starts.push(b.options.len() as u32);
        }
    }
    if personal {
        b.seen.next(x.inputs.categories.len());
        for (ci, cand) in c.categories.iter().enumerate() {
            if (cand.category as usize) < x.inputs.categories.len() && !b.seen.insert(cand.category) {
                continue;
            }
            let (Some(rule), Some(cat)) = (
                x.categories.get(cand.category as usize).and_then(|r| r.as_ref()),
                x.inputs.categories.get(cand.category as usize),
            ) else {
                continue;
            };
            let index = b.candidates.len() as u32;
            let before = b.options.len();
            for &pct in &x.inputs.policy.category_percent_off {
                if pct > rule.max_percent {
                    continue;
                }
                let discount = (cat.price_cents * i64::from(pct) + 50) / 100;
                let g = x.inputs.response.g(band, pct);
                let e = response::effect(cand.p0, cand.affinity, g, cat.price_cents, cat.cost_cents, discount);
                let o = Opt {
                    percent: pct,
                    discount,
                    worst: (rule.max_price * i64::from(pct) + 50) / 100,
                    mechanic: Mechanic::Unit,
                    limits: rule.limits,
                    in_total: rule.in_total,
                };
                push(&mut b.options, index, o, e);
            }
            if b.options.len() > before {
                let target = Target::Category(cand.category);
                b.candidates.push((
                    Candidate {
                        customer: b.customers_in.len() as u32,
                        target,
                        kind: Kind::Category,
                        p0: cand.p0,
                        affinity: cand.affinity,
                    },
                    Source::Category(ci),
                ));
                b.option_starts.push(b.options.len() as u32);
            }
        }
        // Spend rewards: one candidate, the thresholds its options.
        let index = b.candidates.len() as u32;
        let before = b.options.len();
        for (k, &(min_spend, reward)) in x.inputs.policy.spend_reward.iter().enumerate() {
            let Some(s) = c.spend.get(k) else { continue };
            let g = x.inputs.response.g_arm(band, response::Arm::Spend, spend_depth(min_spend, reward));
            let e = response::spend_reward_effect(s.p0, s.reach, g, reward, s.top_up_cents, x.inputs.margin_rate);
            let o = Opt {
                percent: 0,
                discount: reward,
                worst: reward,
                mechanic: Mechanic::SpendReward { min_spend_cents: min_spend },
                limits: 0,
                in_total: true,
            };
            push(&mut b.options, index, o, e);
        }
        if b.options.len() > before {
            let p0 = c.spend.first().map_or(0.0, |s| s.p0);
            b.candidates.push((
                Candidate {
                    customer: b.customers_in.len() as u32,
                    target: Target::Basket,
                    kind: Kind::Spend,
                    p0,
                    affinity: 1.0,
                },
                Source::Spend,
            ));
            b.option_starts.push(b.options.len() as u32);
        }
    }
    order_best_first(b);
    b.customers_in.push(i as u32);
    b.customer_starts.push(b.candidates.len() as u32);
    let per = x.inputs.policy.offers_per_customer;
    let cap = match x.inputs.policy.frequency_cap_offers {
        None => per,
        Some(cap) => per.min(cap.saturating_sub(c.recent_offers).min(u32::from(u8::MAX)) as usize),
    };
    b.caps.push(cap.min(usize::from(u8::MAX)) as u8);
    b.profiling.push(c.profiling);
}

/// Puts the last customer's options best first within each candidate, and their
/// candidates in order of their best option (stable): the assignment then stops reading a
/// customer's candidates at the first whose best value cannot beat the offers it holds.
fn order_best_first(b: &mut Built) {
    let first = *b.customer_starts.last().expect("starts") as usize;
    let last = b.candidates.len();
    if last == first {
        return;
    }
    let starts = &b.option_starts;
    for j in first..last {
        b.options[starts[j] as usize..starts[j + 1] as usize].sort_by(|p, q| q.value.total_cmp(&p.value));
    }
    let best = |j: usize| b.options[starts[j] as usize].value;
    b.order.clear();
    b.order.extend(first..last);
    b.order.sort_by(|p, q| best(*q).total_cmp(&best(*p)));
    if b.order.iter().enumerate().all(|(k, j)| *j == first + k) {
        return;
    }
    let o0 = starts[first] as usize;
    b.scratch_options.clear();
    b.scratch_options.extend(b.options.drain(o0..));
    b.scratch_candidates.clear();
    b.scratch_candidates.extend(b.candidates.drain(first..));
    b.scratch_starts.clear();
    b.scratch_starts.push(o0 as u32);
    b.scratch_starts.extend(b.option_starts.drain(first + 1..));
    for k in 0..b.order.len() {
        let j = b.order[k] - first;
        let index = b.candidates.len() as u32;
        b.candidates.push(b.scratch_candidates[j]);
        let (lo, hi) = (b.scratch_starts[j] as usize - o0, b.scratch_starts[j + 1] as usize - o0);
        for o in &b.scratch_options[lo..hi] {
            b.options.push(Option_ { candidate: index, ..*o });
        }
        b.option_starts.push(b.options.len() as u32);
    }
}

/// The part of customers `from..to` (whole blocks).
fn build_part(x: &Context<'_>, from: usize, to: usize, b: &mut Built) -> io::Result<()> {
    b.clear();
    x.inputs.customers.read(from, to, &mut |i, c| {
        if (i - from).is_multiple_of(BLOCK) {
            b.block_starts.push(b.customers_in.len() as u32);
        }
        if x.status[i] == Status::NoOffer {
            build_customer(x, i, c, b);
        }
    })?;
    b.block_starts.push(b.customers_in.len() as u32);
    Ok(())
}

/// Builds the parts `group` (a part per core at once) into `pool`.
fn build_parts(x: &Context<'_>, group: &[(usize, usize)], pool: &mut [Built]) -> io::Result<()> {
    std::thread::scope(|s| {
        let handles: Vec<_> =
            group.iter().zip(pool.iter_mut()).map(|(&(lo, hi), b)| s.spawn(move || build_part(x, lo, hi, b))).collect();
        handles.into_iter().try_for_each(|h| h.join().expect("plan worker"))
    })
}

/// Plans the campaign part by part (see [`crate::stream`]): the options of every part in
/// memory while `streaming` allows, in temporary files after, and the offers handed to
/// `sink` customer by customer, in order (the returned plan has none of its own);
/// `report(step, done, total)` hears how far it is.
pub fn plan_with(
    inputs: &Inputs<'_>,
    streaming: &Streaming,
    sink: &mut dyn FnMut(PlannedOffer),
    report: &dyn Fn(Step, u64, u64),
) -> io::Result<Plan> {
    let policy = inputs.policy;
    let n = inputs.customers.len();
    let mut status = vec![Status::NoOffer; n];
    // Who is in, and the holdout among them (strata by number, keys in one string).
    let mut eligible: Vec<u32> = Vec::new();
    let mut keys = String::new();
    let mut key_ends: Vec<usize> = Vec::new();
    let mut strata: Vec<u32> = Vec::new();
    let mut stratum_names: Vec<String> = Vec::new();
    let mut stratum_ids: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    // People with several cards: the first eligible card's index by person, and the other
    // cards with the card they follow (a few per cent of the customers).
    let mut people: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    let mut follows: Vec<(u32, u32)> = Vec::new();
    inputs.customers.read(0, n, &mut |i, c| {
        status[i] = if !c.marketing {
            Status::NoConsent
        } else if !policy.includes(&c.segment, c.clv_cents) {
            Status::Excluded
        } else if let Some(&first) = (!c.person.is_empty()).then(|| people.get(c.person.as_str())).flatten() {
            // Another card of a person already drawn: it follows that card.
            follows.push((i as u32, first));
            Status::NoOffer
        } else {
            if !c.person.is_empty() {
                people.insert(c.person.clone(), i as u32);
            }
            eligible.push(i as u32);
            keys.push_str(if c.person.is_empty() { &c.key } else { &c.person });
            key_ends.push(keys.len());
            let name = holdout::stratum(&c.segment, c.store.as_deref());
            let next = stratum_names.len() as u32;
            let id = *stratum_ids.entry(name.clone()).or_insert_with(|| {
                stratum_names.push(name);
                next
            });
            strata.push(id);
            Status::NoOffer
        };
    })?;
    let key = |k: usize| &keys[if k == 0 { 0 } else { key_ends[k - 1] }..key_ends[k]];
    let held = holdout::draw_by(
        eligible.len(),
        key,
        |k| stratum_names[strata[k] as usize].as_str(),
        policy.holdout_share,
        policy.seed,
    );
    for (i, h) in eligible.iter().zip(&held) {
        if *h {
            status[*i as usize] = Status::Holdout;
        }
    }
    for (i, first) in follows {
        if status[first as usize] == Status::Holdout {
            status[i as usize] = Status::Holdout;
        }
    }
    drop((eligible, keys, key_ends, strata, held, people));

    // Which budgets each product and category uses.
    let limit_bits_of = |p: &Product| {
        policy.limits.iter().enumerate().filter(|(_, l)| l.scope.contains(p)).fold(0u64, |acc, (j, _)| acc | (1 << j))
    };
    let limit_bits: Vec<u64> = inputs.products.iter().map(limit_bits_of).collect();
    let in_total: Vec<bool> = inputs
        .products
        .iter()
        .map(|p| !policy.limits.iter().any(|l| l.supplier_funded && l.scope.contains(p)))
        .collect();
    let categories = category_rules(inputs, &limit_bits_of);
    let mut combos = Combos::default();
    combos.id(0, true);
    for (l, t) in limit_bits.iter().zip(&in_total) {
        combos.id(*l, *t);
    }
    for r in categories.iter().flatten() {
        combos.id(r.limits, r.in_total);
    }
    let allowed = inputs.products.iter().map(|p| policy.allows(p)).collect();
    let max_percent = inputs.products.iter().map(|p| policy.max_discount_for(p)).collect();
    let x = Context { inputs, status, limit_bits, in_total, categories, allowed, max_percent };

    let budgets = Budgets {
        expected_basis: policy.basis == Basis::Expected,
        total: policy.total_cents as f64,
        worst_case: policy.worst_case_cents.map(|w| w as f64),
        limits: policy.limits.iter().map(|l| l.cents as f64).collect(),
        per_customer: policy.offers_per_customer,
    };
    // One is one needs room: the assignment leaves a reserve of every budget that the
    // one-is-one pass may spend on giving repeated sets an offer of their own (measured in
    // docs/benchmarks.md: without it, a binding budget leaves no room to add or swap).
    let reserve = ONE_TO_ONE_RESERVE;
    let scaled = Budgets {
        total: budgets.total * (1.0 - reserve),
        worst_case: budgets.worst_case.map(|w| w * (1.0 - reserve)),
        limits: budgets.limits.iter().map(|l| l * (1.0 - reserve)).collect(),
        ..budgets.clone()
    };

    // The parts: built a part per core at once, kept in order.
    let size = streaming.part_size();
    let ranges: Vec<(usize, usize)> = (0..n).step_by(size).map(|lo| (lo, (lo + size).min(n))).collect();
    let mut parts = Parts::new(scaled.clone(), &combos, streaming.clone());
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get()).min(16);
    let mut pool: Vec<Built> = (0..threads).map(|_| Built::default()).collect();
    for group in ranges.chunks(threads) {
        // Each part built and made compact on its own core.
        let made: Vec<io::Result<Part>> = std::thread::scope(|s| {
            let handles: Vec<_> = group
                .iter()
                .zip(pool.iter_mut())
                .map(|(&(lo, hi), b)| {
                    let (x, scaled, combos) = (&x, &scaled, &combos);
                    s.spawn(move || {
                        build_part(x, lo, hi, b)?;
                        Part::new(
                            b.block_starts.clone(),
                            b.customer_starts.clone(),
                            b.option_starts.clone(),
                            b.caps.clone(),
                            &b.options,
                            scaled,
                            combos,
                            true,
                        )
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("plan worker")).collect()
        });
        report(Step::Options, group.last().map_or(0, |g| g.1) as u64, n as u64);
        for part in made {
            parts.push(part?)?;
        }
    }
    // The valuation's buffers are not needed while the budgets are priced.
    drop(pool);
    let (chosen, assignment) = parts.solve(&|pass| report(Step::Prices, pass, 0))?;
    drop(parts);

    // Last pass, a part per core at once: the parts built again; one is one, customer by
    // customer in order (customers with personal offers get a set no one else has, when
    // that costs little of their value); the offers in words, each part on its own core;
    // their codes made unique in order.
    // The assignment's dual bounds the plans within the budgets less one-is-one's reserve;
    // one-is-one may spend the reserve, so the bound reported is the dual on the whole
    // budgets: the same prices, each budget's price times the reserve added.
    let upper_bound = assignment.upper_bound
        + assignment
            .multipliers
            .iter()
            .zip(capacities(&budgets).iter().zip(capacities(&scaled)))
            .filter(|(mu, (whole, _))| **mu > 0.0 && whole.is_finite())
            .map(|(mu, (whole, less))| mu * (whole - less))
            .sum::<f64>();
    let mut plan = Plan { multipliers: assignment.multipliers.clone(), upper_bound, ..Default::default() };
    let mut one = Diversifier::new(&budgets, assignment.usage.clone(), ONE_TO_ONE_MAX_LOSS);
    let mut codes: HashSet<u64, foldhash::fast::FixedState> =
        HashSet::with_hasher(foldhash::fast::FixedState::with_seed(7));
    let mut status = x.status.clone();
    let indexed: Vec<(usize, (usize, usize))> = ranges.iter().copied().enumerate().collect();
    let groups: Vec<&[(usize, (usize, usize))]> = indexed.chunks(threads).collect();
    // The next group's parts are built while this one's are made one and written (one is
    // one and the codes go customer by customer on one core): two pools, taking turns.
    let mut spare: Vec<Built> = (0..threads).map(|_| Built::default()).collect();
    std::thread::scope(|scope| -> io::Result<()> {
        let x = &x;
        let build = |group: &[(usize, (usize, usize))], mut pool: Vec<Built>| {
            let ranges: Vec<(usize, usize)> = group.iter().map(|g| g.1).collect();
            scope.spawn(move || build_parts(x, &ranges, &mut pool).map(|()| pool))
        };
        let first: Vec<Built> = (0..threads).map(|_| Built::default()).collect();
        let mut pending = groups.first().map(|g| build(g, first));
        for (k, &group) in groups.iter().enumerate() {
            let current = pending.take().expect("a group being built").join().expect("plan worker")?;
            pending = groups.get(k + 1).map(|g| build(g, std::mem::take(&mut spare)));
            let built = &current[..group.len()];
            // One is one, in order: each customer's final set, best first.
            let mut sets: Vec<Vec<Vec<u32>>> = Vec::with_capacity(built.len());
            for (b, &(part, _)) in built.iter().zip(group) {
                let list = &chosen[part];
                let mut at = 0;
                let key = |o: &Option_| {
                    let tag: u64 = match o.mechanic {
                        Mechanic::Unit => 0,
                        Mechanic::MultiBuy { buy, pay } => 1 + u64::from(buy) * 16 + u64::from(pay),
                        Mechanic::SpendReward { .. } => 2,
                    };
                    (b.candidates[o.candidate as usize].0.target.id() ^ (tag << 40), o.discount_cents)
                };
                let mut part_sets = Vec::with_capacity(b.customers_in.len());
                for c in 0..b.customers_in.len() {
                    let (first, last) = (b.customer_starts[c], b.customer_starts[c + 1]);
                    let end = b.option_starts[last as usize];
                    let mut set: Vec<u32> = Vec::new();
                    while at < list.len() && list[at] < end {
                        set.push(list[at]);
                        at += 1;
                    }
                    let profiling = b.profiling[c];
                    one.customer(
                        &b.options,
                        &b.option_starts,
                        first..last,
                        &budgets,
                        usize::from(b.caps[c]),
                        &mut set,
                        &key,
                        profiling,
                    );
                    set.sort_by(|p, q| b.options[*q as usize].value.total_cmp(&b.options[*p as usize].value));
                    part_sets.push(set);
                }
                sets.push(part_sets);
            }
            // The offers in words, a part per core.
            let offers: Vec<io::Result<Vec<(PlannedOffer, bool)>>> = std::thread::scope(|s| {
                let handles: Vec<_> = built
                    .iter()
                    .zip(&sets)
                    .zip(group)
                    .map(|((b, part_sets), &(_, (lo, hi)))| {
                        s.spawn(move || {
                            let mut out = Vec::new();
                            let mut c = 0;
                            x.inputs.customers.read(lo, hi, &mut |ci, customer| {
                                if c >= b.customers_in.len() || b.customers_in[c] as usize != ci {
                                    return;
                                }
                                for (r, &o) in part_sets[c].iter().enumerate() {
                                    out.push((
                                        offer(x, b, ci, customer, o, r as u32 + 1),
                                        b.options[o as usize].in_total,
                                    ));
                                }
                                c += 1;
                            })?;
                            Ok(out)
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().expect("plan worker")).collect()
            });
            for part_offers in offers {
                for (mut offer, in_total) in part_offers? {
                    // A code another offer has already (about one in 2^60 pairs): the next attempt.
                    let mut attempt = 0;
                    while !codes.insert(codes.hasher().hash_one(&offer.code)) {
                        attempt += 1;
                        let subject = subject_of(inputs, &offer);
                        inputs.customers.read(offer.customer as usize, offer.customer as usize + 1, &mut |_, c| {
                            offer.code = offer_code(inputs.secret, &policy.name, &c.key, &subject, attempt);
                        })?;
                    }
                    status[offer.customer as usize] = if offer.personal { Status::Personal } else { Status::Generic };
                    if in_total {
                        plan.expected_cost += offer.expected_cost;
                        plan.worst_cost += offer.worst_cost as f64;
                    }
                    plan.incremental_margin += offer.incremental_margin;
                    plan.value += offer.value;
                    sink(offer);
                }
            }
            report(Step::Offers, group.last().map_or(0, |g| g.1.1) as u64, n as u64);
            spare = current;
        }
        Ok(())
    })?;
    plan.status = status;
    plan.diversified = one.changed;
    plan.limit_usage = one.usage[2..].to_vec();
    Ok(plan)
}

/// What an offer's code is made from besides the campaign and the customer: the product's
/// SKU, the category or the basket reward.
fn subject_of(inputs: &Inputs<'_>, o: &PlannedOffer) -> String {
    match o.target {
        Target::Product(p) => inputs.products[p as usize].sku.clone(),
        Target::Category(c) => format!("category:{}", inputs.categories[c as usize].name),
        Target::Basket => format!("basket:{}", o.discount_cents),
    }
}

/// Customer `ci`'s option `o` (of their part `b`) as an offer, its code the first attempt
/// (the caller makes it unique).
fn offer(x: &Context<'_>, b: &Built, ci: usize, customer: &CustomerInput, o: u32, rank: u32) -> PlannedOffer {
    let inputs = x.inputs;
    let policy = inputs.policy;
    let opt = &b.options[o as usize];
    let (cand, source) = &b.candidates[opt.candidate as usize];
    let personal = customer.profiling;
    // What learning needs: the candidate's p0 and affinity; a spend reward's own
    // threshold's p0 and reach.
    let (mut p0, mut affinity) = (cand.p0, cand.affinity);
    let (subject, why) = match *source {
        Source::Product(k) => {
            let input = if personal { &customer.candidates[k] } else { &inputs.generic[k] };
            let Target::Product(pi) = cand.target else { unreachable!("a product source has a product target") };
            let why = match inputs.explain {
                Some(explain) if personal && input.reason.is_empty() => Cow::Owned(explain(ci, k)),
                _ => Cow::Borrowed(input.reason.as_str()),
            };
            (inputs.products[pi as usize].sku.clone(), why)
        }
        Source::Category(k) => {
            let Target::Category(c) = cand.target else { unreachable!("a category source has a category target") };
            let why = Cow::Borrowed(customer.categories[k].reason.as_str());
            (format!("category:{}", inputs.categories[c as usize].name), why)
        }
        Source::Spend => {
            let k =
                policy.spend_reward.iter().position(|s| Mechanic::SpendReward { min_spend_cents: s.0 } == opt.mechanic);
            let spend = k.and_then(|k| customer.spend.get(k));
            if let Some(sp) = spend {
                (p0, affinity) = (sp.p0, sp.reach);
            }
            let why = Cow::Borrowed(spend.map_or("", |sp| sp.reason.as_str()));
            (format!("basket:{}", opt.discount_cents), why)
        }
    };
    let code = offer_code(inputs.secret, &policy.name, &customer.key, &subject, 0);
    let what = describe(inputs, cand.target, opt);
    let what = format!("{what} until {}", policy.valid_to);
    let reason = if why.is_empty() { what } else { format!("{why}; {what}") };
    PlannedOffer {
        customer: ci as u32,
        rank,
        target: cand.target,
        mechanic: opt.mechanic,
        kind: cand.kind,
        percent: opt.percent,
        discount_cents: opt.discount_cents,
        code,
        p_redeem: opt.p_redeem,
        expected_cost: opt.expected_cost,
        worst_cost: opt.worst_cost,
        incremental_margin: opt.incremental_margin,
        value: opt.value,
        p0,
        affinity,
        band: if personal { response::band(customer.sensitivity) } else { response::BANDS / 2 },
        personal,
        reason,
    }
}

/// A multi-buy's depth, percent: the free units' share, (buy − pay) / buy.
pub fn multi_buy_depth(buy: u32, pay: u32) -> u32 {
    (buy.saturating_sub(pay) * 100 + buy / 2) / buy.max(1)
}

/// A spend reward's depth, percent of its threshold.
pub fn spend_depth(min_spend_cents: i64, reward_cents: i64) -> u32 {
    ((reward_cents * 100 + min_spend_cents / 2) / min_spend_cents.max(1)).clamp(0, 100) as u32
}

/// What learning takes from one planned offer, redeemed or not: its mechanic, depth,
/// band, `p0` and affinity as planned. Amounts off one unit are not learned (their depth
/// differs with each price).
pub fn observation(o: &PlannedOffer, redeemed: bool) -> Option<response::Observation> {
    let (arm, depth_percent) = match o.mechanic {
        Mechanic::Unit if o.percent > 0 => (response::Arm::Percent, o.percent),
        Mechanic::Unit => return None,
        Mechanic::MultiBuy { buy, pay } => (response::Arm::MultiBuy { buy, pay }, multi_buy_depth(buy, pay)),
        Mechanic::SpendReward { min_spend_cents } => {
            (response::Arm::Spend, spend_depth(min_spend_cents, o.discount_cents))
        }
    };
    Some(response::Observation { band: o.band, arm, depth_percent, p0: o.p0, affinity: o.affinity, redeemed })
}

/// Where a candidate came from.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// Index into the customer's (or the generic) product candidates.
    Product(usize),
    /// Index into the customer's category candidates.
    Category(usize),
    /// The policy's spend rewards.
    Spend,
}

/// One option before valuation.
#[derive(Debug, Clone, Copy)]
struct Opt {
    percent: u32,
    discount: i64,
    worst: i64,
    mechanic: Mechanic,
    limits: u64,
    in_total: bool,
}

/// What a category-wide offer may be, from the products it can apply to.
struct CategoryRule {
    /// Deepest percent that keeps the caps and the margin rule on every item of it.
    max_percent: u32,
    /// Dearest item: the worst case of one redemption.
    max_price: i64,
    /// Budget limits any of its items falls under (its cost counts against each).
    limits: u64,
    /// Counted against the total (not every item supplier funded).
    in_total: bool,
}

/// Per category of the inputs, what an offer on it may be; none when it cannot have one
/// (excluded, or an item without a price or cost: its margin cannot be checked).
fn category_rules(inputs: &Inputs<'_>, limit_bits_of: &dyn Fn(&Product) -> u64) -> Vec<Option<CategoryRule>> {
    let policy = inputs.policy;
    inputs
        .categories
        .iter()
        .map(|cat| {
            if policy.exclude_categories.contains(&cat.name) || policy.category_percent_off.is_empty() {
                return None;
            }
            let items: Vec<&Product> =
                inputs.products.iter().filter(|p| p.category == cat.name && policy.allows(p)).collect();
            if items.is_empty() || items.iter().any(|p| p.list_price_cents.is_none() || p.unit_cost_cents.is_none()) {
                return None;
            }
            let max_percent = policy
                .category_percent_off
                .iter()
                .copied()
                .filter(|&pct| {
                    items.iter().all(|p| {
                        let price = p.list_price_cents.unwrap_or(0);
                        policy.discount_allowed(p, (price * i64::from(pct) + 50) / 100)
                    })
                })
                .max()?;
            Some(CategoryRule {
                max_percent,
                max_price: items.iter().filter_map(|p| p.list_price_cents).max().unwrap_or(0),
                limits: items.iter().fold(0, |acc, p| acc | limit_bits_of(p)),
                in_total: !items.iter().all(|p| policy.limits.iter().any(|l| l.supplier_funded && l.scope.contains(p))),
            })
        })
        .collect()
}

/// The offer in words: "20% off Fiore coffee", "3 for the price of 2: Fiore coffee",
/// "10% off one item of Coffee", "4.00 € off when you spend 40.00 € or more".
pub fn describe(inputs: &Inputs<'_>, target: Target, o: &Option_) -> String {
    let off = |o: &Option_| if o.percent > 0 { format!("{}%", o.percent) } else { euros(o.discount_cents) };
    match (target, o.mechanic) {
        (Target::Product(p), Mechanic::MultiBuy { buy, pay }) => {
            format!("{buy} for the price of {pay}: {}", inputs.products[p as usize].name)
        }
        (Target::Product(p), _) => format!("{} off {}", off(o), inputs.products[p as usize].name),
        (Target::Category(c), _) => format!("{} off one item of {}", off(o), inputs.categories[c as usize].name),
        (Target::Basket, Mechanic::SpendReward { min_spend_cents }) => {
            format!("{} off when you spend {} or more in one visit", euros(o.discount_cents), euros(min_spend_cents))
        }
        (Target::Basket, _) => format!("{} off your shopping", euros(o.discount_cents)),
    }
}

/// `1.50 €`: an amount in cents for reasons and reports (the sign kept, as `Money` prints).
pub fn euros(cents: i64) -> String {
    format!("{} €", unico_core::Money::from_cents(cents))
}
