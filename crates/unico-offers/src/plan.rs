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

use crate::assign::{Budgets, Candidate, Kind, Option_, Problem, Target};
use crate::code::offer_code;
use crate::holdout;
use crate::policy::{Basis, Objective, Policy, Product};
use crate::response::{self, Response};
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
    /// Index into the products.
    pub product: u32,
    /// Why it was a candidate.
    pub kind: Kind,
    /// Percent off (0 for an amount off).
    pub percent: u32,
    /// Discount on one unit, cents.
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

/// Share of an at-risk customer's CLV an offer they redeem is assumed to keep (retention
/// objective).
pub const RETENTION_SHARE: f64 = 0.1;

/// Everything the plan reads.
pub struct Inputs<'a> {
    /// The policy.
    pub policy: &'a Policy,
    /// The products candidates point into.
    pub products: &'a [Product],
    /// The customers.
    pub customers: &'a [CustomerInput],
    /// Non-personal candidates (for customers without profiling consent), with
    /// population-average `p0` and affinity.
    pub generic: &'a [CandidateInput],
    /// The response (`g` per band and depth) to value offers with.
    pub response: &'a Response,
    /// The secret offer codes are keyed with.
    pub secret: &'a [u8],
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
    let limit_bits: Vec<u64> = inputs
        .products
        .iter()
        .map(|p| {
            policy
                .limits
                .iter()
                .enumerate()
                .filter(|(_, l)| l.scope.contains(p))
                .fold(0u64, |acc, (j, _)| acc | (1 << j))
        })
        .collect();
    let in_total: Vec<bool> = inputs
        .products
        .iter()
        .map(|p| !policy.limits.iter().any(|l| l.supplier_funded && l.scope.contains(p)))
        .collect();
    let mut customers_in = Vec::new();
    let mut customer_starts = vec![0u32];
    let mut option_starts = vec![0u32];
    let mut candidates: Vec<(Candidate, usize)> = Vec::new(); // with the index of its input
    let mut options: Vec<Option_> = Vec::new();
    for (&i, h) in eligible.iter().zip(&held) {
        if *h {
            continue;
        }
        let c = &inputs.customers[i];
        let personal = c.profiling;
        let list: &[CandidateInput] = if personal { &c.candidates } else { inputs.generic };
        let band = if personal { response::band(c.sensitivity) } else { response::BANDS / 2 };
        let mut seen = HashSet::new();
        for (ci, cand) in list.iter().enumerate() {
            let Some(product) = inputs.products.get(cand.product as usize) else { continue };
            if !policy.allows(product) || c.blocked.binary_search(&cand.product).is_ok() || !seen.insert(cand.product) {
                continue;
            }
            let (Some(price), Some(cost)) = (product.list_price_cents, product.unit_cost_cents) else { continue };
            let index = candidates.len() as u32;
            let before = options.len();
            let mut add = |percent: u32, discount: i64| {
                if !policy.discount_allowed(product, discount) {
                    return;
                }
                // An option worth nothing is never chosen at any budget price: not kept.
                let depth = discount as f64 / price as f64;
                let g = if percent > 0 { inputs.response.g(band, percent) } else { inputs.response.g_at(band, depth) };
                let e = response::effect(cand.p0, cand.affinity, g, price, cost, discount);
                let value = match policy.objective {
                    Objective::IncrementalMargin => e.incremental_margin,
                    Objective::IncrementalRevenue => e.incremental_revenue,
                    Objective::Retention => {
                        e.incremental_margin
                            + (1.0 - c.p_alive.clamp(0.0, 1.0))
                                * e.p_redeem
                                * RETENTION_SHARE
                                * c.clv_cents.max(0) as f64
                    }
                };
                if value <= 0.0 {
                    return;
                }
                options.push(Option_ {
                    candidate: index,
                    discount_cents: discount,
                    percent,
                    value,
                    expected_cost: e.expected_cost,
                    worst_cost: discount,
                    incremental_margin: e.incremental_margin,
                    p_redeem: e.p_redeem,
                    limits: limit_bits[cand.product as usize],
                    in_total: in_total[cand.product as usize],
                });
            };
            for &pct in &policy.percent_off {
                add(pct, (price * i64::from(pct) + 50) / 100);
            }
            for &amount in &policy.amount_off_cents {
                add(0, amount);
            }
            if options.len() > before {
                candidates.push((
                    Candidate {
                        customer: customers_in.len() as u32,
                        target: Target::Product(cand.product),
                        kind: cand.kind,
                        p0: cand.p0,
                        affinity: cand.affinity,
                    },
                    ci,
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
    let mut assignment = problem.solve();
    // One is one: customers with personal offers get a set no one else has, when that costs
    // little of their value (measured in docs/benchmarks.md).
    let diversified = problem.diversify(
        &mut assignment,
        |o| {
            let Target::Product(p) = candidates[o.candidate as usize].0.target;
            (p, o.discount_cents)
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
    for &o in &assignment.chosen {
        let opt = &options[o as usize];
        let (cand, input_index) = &candidates[opt.candidate as usize];
        let ci = customers_in[cand.customer as usize];
        let customer = &inputs.customers[ci];
        let personal = customer.profiling;
        let input = if personal { &customer.candidates[*input_index] } else { &inputs.generic[*input_index] };
        let Target::Product(pi) = cand.target;
        let product = &inputs.products[pi as usize];
        rank = if rank.0 == ci as u32 { (rank.0, rank.1 + 1) } else { (ci as u32, 1) };
        let mut attempt = 0;
        let code = loop {
            let code = offer_code(inputs.secret, &policy.name, &customer.key, &product.sku, attempt);
            if codes.insert(code.clone()) {
                break code;
            }
            attempt += 1;
        };
        let what = if opt.percent > 0 {
            format!("{}% off {} until {}", opt.percent, product.name, policy.valid_to)
        } else {
            format!("{} off {} until {}", euros(opt.discount_cents), product.name, policy.valid_to)
        };
        let reason = if input.reason.is_empty() { what } else { format!("{}; {what}", input.reason) };
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
            product: pi,
            kind: cand.kind,
            percent: opt.percent,
            discount_cents: opt.discount_cents,
            code,
            p_redeem: opt.p_redeem,
            expected_cost: opt.expected_cost,
            worst_cost: opt.worst_cost,
            incremental_margin: opt.incremental_margin,
            value: opt.value,
            p0: cand.p0,
            affinity: cand.affinity,
            band: if personal { response::band(customer.sensitivity) } else { response::BANDS / 2 },
            personal,
            reason,
        });
    }
    plan
}

/// `1.50 €`: an amount in cents for reasons and reports (the sign kept, as `Money` prints).
pub fn euros(cents: i64) -> String {
    format!("{} €", unico_core::Money::from_cents(cents))
}
