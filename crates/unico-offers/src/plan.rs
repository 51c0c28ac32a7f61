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

use crate::assign::{Budgets, Candidate, Kind, Mechanic, Option_, Problem, Target};
use crate::code::offer_code;
use crate::holdout;
use crate::policy::{Basis, Objective, Policy, Product};
use crate::response::{self, Response};
use std::borrow::Cow;
use std::collections::HashSet;

/// One candidate of one customer, before valuation.
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, PartialEq, Default)]
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
#[derive(Debug, Clone, PartialEq, Default)]
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
    pub customers: &'a [CustomerInput],
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
    pub explain: Option<&'a dyn Fn(usize, usize) -> String>,
}

/// Plans the campaign.
pub fn plan(inputs: &Inputs<'_>) -> Plan {
    let policy = inputs.policy;
    let n = inputs.customers.len();
    let mut status = vec![Status::NoOffer; n];
    // Who is in, and the holdout among them.
    let mut eligible = Vec::new();
    for (i, c) in inputs.customers.iter().enumerate() {
        status[i] = if !c.marketing {
            Status::NoConsent
        } else if !policy.includes(&c.segment, c.clv_cents) {
            Status::Excluded
        } else {
            eligible.push(i);
            Status::NoOffer
        };
    }
    let strata: Vec<(&str, String)> = eligible
        .iter()
        .map(|i| {
            let c = &inputs.customers[*i];
            (c.key.as_str(), holdout::stratum(&c.segment, c.store.as_deref()))
        })
        .collect();
    let held = holdout::draw(&strata, policy.holdout_share, policy.seed);
    for (i, h) in eligible.iter().zip(&held) {
        if *h {
            status[*i] = Status::Holdout;
        }
    }

    // Candidates and options, customer by customer.
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
    let mut customers_in = Vec::new();
    let mut customer_starts = vec![0u32];
    let mut option_starts = vec![0u32];
    let mut candidates: Vec<(Candidate, Source)> = Vec::new();
    let mut options: Vec<Option_> = Vec::new();
    for (&i, h) in eligible.iter().zip(&held) {
        if *h {
            continue;
        }
        let c = &inputs.customers[i];
        let personal = c.profiling;
        let list: &[CandidateInput] = if personal { &c.candidates } else { inputs.generic };
        let band = if personal { response::band(c.sensitivity) } else { response::BANDS / 2 };
        let value_of = |e: &response::Effect| match policy.objective {
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
        let mut seen = HashSet::new();
        for (ci, cand) in list.iter().enumerate() {
            let Some(product) = inputs.products.get(cand.product as usize) else { continue };
            if !policy.allows(product) || c.blocked.binary_search(&cand.product).is_ok() || !seen.insert(cand.product) {
                continue;
            }
            let (Some(price), Some(cost)) = (product.list_price_cents, product.unit_cost_cents) else { continue };
            let index = candidates.len() as u32;
            let before = options.len();
            let (limits, total) = (limit_bits[cand.product as usize], in_total[cand.product as usize]);
            let unit = |percent: u32, discount: i64| Opt {
                percent,
                discount,
                worst: discount,
                mechanic: Mechanic::Unit,
                limits,
                in_total: total,
            };
            for &pct in &policy.percent_off {
                let discount = (price * i64::from(pct) + 50) / 100;
                if policy.discount_allowed(product, discount) {
                    let e =
                        response::effect(cand.p0, cand.affinity, inputs.response.g(band, pct), price, cost, discount);
                    push(&mut options, index, unit(pct, discount), e);
                }
            }
            for &discount in &policy.amount_off_cents {
                if policy.discount_allowed(product, discount) {
                    let g = inputs.response.g_at(band, discount as f64 / price as f64);
                    let e = response::effect(cand.p0, cand.affinity, g, price, cost, discount);
                    push(&mut options, index, unit(0, discount), e);
                }
            }
            // A product bought on a cycle: extra units taken now replace later purchases.
            let displaced = match cand.kind {
                Kind::Due | Kind::WinBack => 1.0,
                Kind::Usual => 0.5,
                _ => 0.0,
            };
            for &(buy, pay) in &policy.multi_buy {
                if policy.multi_buy_allowed(product, buy, pay) {
                    let discount = price * i64::from(buy - pay);
                    let arm = response::Arm::MultiBuy { buy, pay };
                    let g = inputs.response.g_arm(band, arm, multi_buy_depth(buy, pay));
                    let e = response::multi_buy_effect(cand.p0, cand.affinity, g, price, cost, buy, pay, displaced);
                    push(
                        &mut options,
                        index,
                        Opt { mechanic: Mechanic::MultiBuy { buy, pay }, ..unit(0, discount) },
                        e,
                    );
                }
            }
            if options.len() > before {
                let target = Target::Product(cand.product);
                candidates.push((
                    Candidate {
                        customer: customers_in.len() as u32,
                        target,
                        kind: cand.kind,
                        p0: cand.p0,
                        affinity: cand.affinity,
                    },
                    Source::Product(ci),
                ));
                option_starts.push(options.len() as u32);
            }
        }
        if personal {
            let mut seen = HashSet::new();
            for (ci, cand) in c.categories.iter().enumerate() {
                if !seen.insert(cand.category) {
                    continue;
                }
                let (Some(rule), Some(cat)) = (
                    categories.get(cand.category as usize).and_then(|r| r.as_ref()),
                    inputs.categories.get(cand.category as usize),
                ) else {
                    continue;
                };
                let index = candidates.len() as u32;
                let before = options.len();
                for &pct in &policy.category_percent_off {
                    if pct > rule.max_percent {
                        continue;
                    }
                    let discount = (cat.price_cents * i64::from(pct) + 50) / 100;
                    let g = inputs.response.g(band, pct);
                    let e = response::effect(cand.p0, cand.affinity, g, cat.price_cents, cat.cost_cents, discount);
                    let o = Opt {
                        percent: pct,
                        discount,
                        worst: (rule.max_price * i64::from(pct) + 50) / 100,
                        mechanic: Mechanic::Unit,
                        limits: rule.limits,
                        in_total: rule.in_total,
                    };
                    push(&mut options, index, o, e);
                }
                if options.len() > before {
                    let target = Target::Category(cand.category);
                    candidates.push((
                        Candidate {
                            customer: customers_in.len() as u32,
                            target,
                            kind: Kind::Category,
                            p0: cand.p0,
                            affinity: cand.affinity,
                        },
                        Source::Category(ci),
                    ));
                    option_starts.push(options.len() as u32);
                }
            }
            // Spend rewards: one candidate, the thresholds its options.
            let index = candidates.len() as u32;
            let before = options.len();
            for (k, &(min_spend, reward)) in policy.spend_reward.iter().enumerate() {
                let Some(s) = c.spend.get(k) else { continue };
                let g = inputs.response.g_arm(band, response::Arm::Spend, spend_depth(min_spend, reward));
                let e = response::spend_reward_effect(s.p0, s.reach, g, reward, s.top_up_cents, inputs.margin_rate);
                let o = Opt {
                    percent: 0,
                    discount: reward,
                    worst: reward,
                    mechanic: Mechanic::SpendReward { min_spend_cents: min_spend },
                    limits: 0,
                    in_total: true,
                };
                push(&mut options, index, o, e);
            }
            if options.len() > before {
                let p0 = c.spend.first().map_or(0.0, |s| s.p0);
                candidates.push((
                    Candidate {
                        customer: customers_in.len() as u32,
                        target: Target::Basket,
                        kind: Kind::Spend,
                        p0,
                        affinity: 1.0,
                    },
                    Source::Spend,
                ));
                option_starts.push(options.len() as u32);
            }
        }
        customers_in.push(i);
        customer_starts.push(candidates.len() as u32);
    }
    // The frequency cap: what other campaigns gave within its window counts against it.
    let caps: Vec<u8> = match policy.frequency_cap_offers {
        None => Vec::new(),
        Some(cap) => customers_in
            .iter()
            .map(|&i| cap.saturating_sub(inputs.customers[i].recent_offers).min(u32::from(u8::MAX)) as u8)
            .collect(),
    };

    let budgets = Budgets {
        expected_basis: policy.basis == Basis::Expected,
        total: policy.total_cents as f64,
        worst_case: policy.worst_case_cents.map(|w| w as f64),
        limits: policy.limits.iter().map(|l| l.cents as f64).collect(),
        per_customer: policy.offers_per_customer,
    };
    let problem = Problem {
        customer_starts: &customer_starts,
        option_starts: &option_starts,
        options: &options,
        budgets: &budgets,
        caps: &caps,
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
    let mut assignment = Problem { budgets: &scaled, ..problem }.solve();
    // One is one: customers with personal offers get a set no one else has, when that costs
    // little of their value (measured in docs/benchmarks.md).
    let diversified = problem.diversify(
        &mut assignment,
        |o| {
            let tag: u64 = match o.mechanic {
                Mechanic::Unit => 0,
                Mechanic::MultiBuy { buy, pay } => 1 + u64::from(buy) * 16 + u64::from(pay),
                Mechanic::SpendReward { .. } => 2,
            };
            (candidates[o.candidate as usize].0.target.id() ^ (tag << 40), o.discount_cents)
        },
        |c| inputs.customers[customers_in[c]].profiling,
        ONE_TO_ONE_MAX_LOSS,
    );

    let mut plan = Plan {
        status,
        multipliers: assignment.multipliers.clone(),
        upper_bound: assignment.upper_bound,
        diversified,
        ..Default::default()
    };
    plan.limit_usage = assignment.usage[2..].to_vec();
    let mut codes = HashSet::new();
    let mut rank = (u32::MAX, 0u32);
    let to = policy.valid_to;
    for &o in &assignment.chosen {
        let opt = &options[o as usize];
        let (cand, source) = &candidates[opt.candidate as usize];
        let ci = customers_in[cand.customer as usize];
        let customer = &inputs.customers[ci];
        let personal = customer.profiling;
        rank = if rank.0 == ci as u32 { (rank.0, rank.1 + 1) } else { (ci as u32, 1) };
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
                let Target::Category(x) = cand.target else { unreachable!("a category source has a category target") };
                let why = Cow::Borrowed(customer.categories[k].reason.as_str());
                (format!("category:{}", inputs.categories[x as usize].name), why)
            }
            Source::Spend => {
                let k = policy
                    .spend_reward
                    .iter()
                    .position(|s| Mechanic::SpendReward { min_spend_cents: s.0 } == opt.mechanic);
                let spend = k.and_then(|k| customer.spend.get(k));
                if let Some(sp) = spend {
                    (p0, affinity) = (sp.p0, sp.reach);
                }
                let why = Cow::Borrowed(spend.map_or("", |sp| sp.reason.as_str()));
                (format!("basket:{}", opt.discount_cents), why)
            }
        };
        let mut attempt = 0;
        let code = loop {
            let code = offer_code(inputs.secret, &policy.name, &customer.key, &subject, attempt);
            if codes.insert(code.clone()) {
                break code;
            }
            attempt += 1;
        };
        let what = describe(inputs, cand.target, opt);
        let what = format!("{what} until {to}");
        let reason = if why.is_empty() { what } else { format!("{why}; {what}") };
        plan.status[ci] = if personal { Status::Personal } else { Status::Generic };
        if opt.in_total {
            plan.expected_cost += opt.expected_cost;
            plan.worst_cost += opt.worst_cost as f64;
        }
        plan.incremental_margin += opt.incremental_margin;
        plan.value += opt.value;
        plan.offers.push(PlannedOffer {
            customer: ci as u32,
            rank: rank.1,
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
        });
    }
    plan
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
