//! `unico simulate-campaign`: a policy tried on a simulated chain, where the truth is known.
//!
//! The simulator generates a chain whose history ends the day before the policy's window,
//! Unico imports it, builds the model and plans the campaign exactly as `unico plan` does.
//! The same audience (eligible customers outside the holdout) and the same planned budget
//! then go to three other plans: a mass flyer (the same best sellers at one depth for
//! everyone), a segment plan (each RFM segment's most bought products at one depth) and an
//! oracle (Unico's assignment fed the planted truth: who would buy each product anyway in
//! the window, each person's real price sensitivity and affinity). Every plan is replayed
//! in the simulator with and without its offers; the difference is the true incremental
//! margin, the discounts actually given are the cost.

use crate::error::{Code, Context, Error, Result};
use crate::plan::{Prepared, response_for};
use crate::progress::Progress;
use crate::{App, Env, bail};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use unico_offers::assign::{Mechanic, Target as OfferTarget};
use unico_offers::plan::{CandidateInput, CustomerInput, Inputs, Plan, Status, plan};
use unico_offers::policy::Basis;
use unico_offers::response::{self, RHO, Response};
use unico_sim::{Offer, OfferValue, Target, World};

/// A policy to try on a simulated chain.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SimulateRequest {
    /// The policy file (TOML).
    pub policy: PathBuf,
    /// Simulated people.
    pub customers: u64,
    /// Days of history before the campaign.
    pub history_days: u32,
    /// Seed of the simulated chain.
    pub seed: u64,
    /// Keep the simulated chain's data directory here (default: a temporary one).
    pub work: Option<PathBuf>,
    /// Campaigns one after the other, each learning from the ones before.
    pub rounds: u32,
    /// Also write the results as JSON to this file.
    pub out: Option<PathBuf>,
    /// The chain ran its own campaigns in the history period (a promotion history); it is
    /// imported and learned from (`unico learn --history`) before the first round.
    pub history: bool,
}

/// Every round of a simulation.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Simulation {
    /// Simulated people.
    pub customers: u64,
    /// The campaigns, in order.
    pub rounds: Vec<Round>,
}

/// What one plan really did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    /// The plan.
    pub name: String,
    /// Offers made.
    pub offers: usize,
    /// Customers with offers.
    pub customers: usize,
    /// What the plan expected the discounts to cost, cents.
    pub planned_cost_cents: i64,
    /// Offers redeemed in the replay.
    pub redeemed: usize,
    /// Discounts given, cents.
    pub cost_cents: i64,
    /// Revenue with the offers minus without, in the window, cents.
    pub incremental_revenue_cents: i64,
    /// Margin (after the discounts) with the offers minus without, in the window, cents.
    pub incremental_margin_cents: i64,
    /// Over the window and the [`AFTER_DAYS`] after it: what the offers did later too
    /// (pantry loading takes later purchases away; kept customers come back).
    pub incremental_margin_after_cents: i64,
    /// Incremental margin per cent of discount.
    pub roi: f64,
}

/// Days after the window the true margin is also counted over.
pub const AFTER_DAYS: u32 = 91;

/// Per planned offer, replayed: redeemed and the discount given (cents); none when the
/// customer's card is unknown to the simulator.
type Redemption = Option<(bool, i64)>;

/// Offers as the simulator replays them: customer, target, mechanic, percent, discount.
type Planned = Vec<(u32, OfferTarget, Mechanic, u32, i64)>;

/// Tries a policy on a simulated chain: Unico's plan against a mass flyer, a segment plan
/// and the oracle, each replayed with and without its offers (true incremental margin).
/// `on_chain` hears of the simulated chain's generation and import, `on_round` of each
/// campaign as it ends. The simulated data directory's App is opened with `env`.
pub fn simulate_campaign(
    args: &SimulateRequest,
    env: Env,
    progress: &dyn Progress,
    on_chain: &mut dyn FnMut(crate::import::ChainStep<'_>),
    on_round: &mut dyn FnMut(&Round),
) -> Result<Simulation> {
    let text =
        std::fs::read_to_string(&args.policy).with_context(|| format!("cannot read {}", args.policy.display()))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| {
        Error::with_source(Code::PolicyInvalid, format!("{} is not valid TOML", args.policy.display()), e)
    })?;
    let date = |k: &str| -> Result<jiff::civil::Date> {
        table.get("campaign").and_then(|c| c.get(k)).and_then(|v| v.as_str()).and_then(|v| v.parse().ok()).ok_or_else(
            || {
                Error::new(
                    Code::PolicyInvalid,
                    format!("{}: campaign.{k} is missing or not a date", args.policy.display()),
                )
            },
        )
    };
    let (from, to) = (date("valid_from")?, date("valid_to")?);
    if to < from {
        bail!(Code::PolicyInvalid, "{}: campaign.valid_to is before valid_from", args.policy.display());
    }
    let window = (to - from).get_days() as u32 + 1;
    let start = from.checked_sub(jiff::Span::new().days(i64::from(args.history_days)))?;
    let config = unico_sim::ChainConfig {
        customers: args.customers,
        days: args.history_days + window * args.rounds.max(1),
        seed: args.seed,
        start,
        history: args.history,
        history_before_day: args.history_days,
        ..Default::default()
    };
    let tmp;
    let work = match &args.work {
        Some(w) => w.clone(),
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    // The simulated chain's pseudonymisation key comes from the seed, so the same seed
    // gives the same keys, holdout and codes (a real data directory's key is random).
    let root = work.join("data");
    std::fs::create_dir_all(root.join("secrets"))?;
    let key_path = root.join("secrets/pseudonym.key");
    if !key_path.exists() {
        use sha2::Digest;
        let secret = sha2::Sha256::digest(format!("unico simulate-campaign {}", args.seed));
        std::fs::write(&key_path, hex::encode(&secret[..unico_core::SECRET_LEN]))?;
    }
    let app = App::init_with(&root, env)?;
    let source = work.join("chain");
    let last = to.checked_add(jiff::Span::new().days(i64::from(window * (args.rounds.max(1) - 1))))?;
    progress.message(&format!("simulating {} people from {start} to {last} (seed {}) ...", args.customers, args.seed));
    app.load_simulated_chain(&config, &source, progress, on_chain)?;
    if args.history {
        progress.message("learning from the promotion history ...");
        app.learn_history(&crate::plan::HistoryRequest::default(), progress)?;
    }
    let mut world = World::new(&config);
    world.extend_beyond_end(AFTER_DAYS);
    let mut rounds = Vec::new();
    for round in 0..args.rounds.max(1) {
        let shift = jiff::Span::new().days(i64::from(window * round));
        let (from, to) = (from.checked_add(shift)?, to.checked_add(shift)?);
        let r = run_round(&app, &world, &args.policy, from, to, window, round + 1, args.customers, progress)?;
        on_round(&r);
        // Learn from what Unico's offers really did, for the next round.
        let mut model = crate::plan::read_response(&app.model_root())?;
        model.learn_campaign(&format!("simulated {from}"), &r.observations);
        crate::plan::write_response(&app.model_root(), &model)?;
        rounds.push(r);
    }
    let simulation = Simulation { customers: args.customers, rounds };
    if let Some(out) = &args.out {
        let body = if args.rounds <= 1 {
            serde_json::to_value(&simulation.rounds[0])?
        } else {
            serde_json::to_value(&simulation)?
        };
        unico_core::fs::write_atomic(out, &serde_json::to_vec_pretty(&body)?)
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    Ok(simulation)
}

/// One campaign: its plans, what they really did, and what Unico's offers teach.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Round {
    /// Its number, from 1.
    #[serde(skip)]
    pub number: u32,
    /// Simulated people.
    #[serde(skip)]
    pub people: u64,
    /// The campaign's window.
    pub window: Window,
    /// Customers every plan could reach.
    pub audience: usize,
    /// Each plan: Unico's, the mass flyer, the segment plan, the oracles (and Unico with
    /// one-unit offers only, for a policy with other offer types).
    pub plans: Vec<Outcome>,
    /// Unico's true incremental margin over the oracle's.
    pub unico_vs_oracle: f64,
    /// … over the oracle without foresight.
    pub unico_vs_oracle_without_foresight: f64,
    /// … over the mass flyer.
    pub unico_vs_mass_flyer: f64,
    /// Distinct offer sets among customers with personal offers.
    pub distinct_offer_sets_share: f64,
    /// The share of the mass flyer's budget with which Unico's plan matches the flyer's true
    /// incremental margin (none when the flyer adds no margin, or Unico's whole budget does
    /// not match it).
    pub ad_savings: Option<AdSavings>,
    /// Unico's offers by type.
    pub unico_by_offer_type: Vec<OfferTypeOutcome>,
    /// What Unico's offers teach the response model.
    #[serde(skip)]
    pub observations: Vec<unico_offers::response::Observation>,
}

/// What Unico needs to do what the mass flyer does: the seed's "save up to 75 % of the
/// advertising budget", measured on the planted truth. Budgets are the discounts really
/// given in the replay (what the retailer pays), the planned figures beside them.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct AdSavings {
    /// The mass flyer's discounts given, cents.
    pub flyer_cost_cents: i64,
    /// The flyer's planned cost, cents.
    pub flyer_planned_cents: i64,
    /// The flyer's true incremental margin in the window, cents.
    pub flyer_margin_cents: i64,
    /// Unico's discounts given at the smallest budget that matches it, cents.
    pub unico_cost_cents: i64,
    /// Unico's planned cost at that budget, cents.
    pub unico_planned_cents: i64,
    /// Unico's true incremental margin at that budget, cents.
    pub unico_margin_cents: i64,
    /// The policy's budget scaled by this (0–1) is the smallest that matches.
    pub budget_scale: f64,
    /// `unico_cost_cents / flyer_cost_cents`: the share of the flyer's spending needed.
    pub share_of_flyer_budget: f64,
}

/// The smallest budget with which Unico's plan — the same policy with every budget scaled —
/// reaches the mass flyer's true incremental margin, found by bisection on the scale
/// (eight halvings: to 1/256 of the policy's budget), each candidate planned and replayed.
fn ad_savings(
    world: &World,
    p: &Prepared,
    response: &Response,
    flyer: &Outcome,
    from: jiff::civil::Date,
    to: jiff::civil::Date,
) -> Result<Option<AdSavings>> {
    if flyer.incremental_margin_cents <= 0 || flyer.cost_cents <= 0 {
        return Ok(None);
    }
    // A simulation's chain is small: its customers in memory for every plan.
    let customers = p.full_customers()?;
    let at = |scale: f64| -> Result<Outcome> {
        let s = |c: i64| (c as f64 * scale).round() as i64;
        let policy = unico_offers::Policy {
            total_cents: s(p.policy.total_cents),
            worst_case_cents: p.policy.worst_case_cents.map(s),
            limits: p
                .policy
                .limits
                .iter()
                .map(|l| unico_offers::policy::Limit { cents: s(l.cents), ..l.clone() })
                .collect(),
            ..p.policy.clone()
        };
        let scaled = plan(&Inputs {
            policy: &policy,
            products: &p.products,
            categories: &p.categories,
            margin_rate: p.margin_rate,
            customers: &customers,
            generic: &p.generic,
            response,
            secret: &p.secret,
            explain: None,
        });
        let planned: Planned =
            scaled.offers.iter().map(|o| (o.customer, o.target, o.mechanic, o.percent, o.discount_cents)).collect();
        let cost = match p.policy.basis {
            Basis::Expected => scaled.expected_cost,
            Basis::WorstCase => scaled.worst_cost,
        };
        Ok(evaluate(world, p, "Unico at a scaled budget", &planned, cost.round() as i64, from, to)?.0)
    };
    let full = at(1.0)?;
    if full.incremental_margin_cents < flyer.incremental_margin_cents {
        return Ok(None);
    }
    let (mut lo, mut hi, mut best) = (0.0_f64, 1.0_f64, full);
    for _ in 0..8 {
        let mid = (lo + hi) / 2.0;
        let o = at(mid)?;
        if o.incremental_margin_cents >= flyer.incremental_margin_cents {
            hi = mid;
            best = o;
        } else {
            lo = mid;
        }
    }
    Ok(Some(AdSavings {
        flyer_cost_cents: flyer.cost_cents,
        flyer_planned_cents: flyer.planned_cost_cents,
        flyer_margin_cents: flyer.incremental_margin_cents,
        unico_cost_cents: best.cost_cents,
        unico_planned_cents: best.planned_cost_cents,
        unico_margin_cents: best.incremental_margin_cents,
        budget_scale: hi,
        share_of_flyer_budget: best.cost_cents as f64 / flyer.cost_cents as f64,
    }))
}

/// A campaign's window.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Window {
    /// First day.
    pub from: jiff::civil::Date,
    /// Last day.
    pub to: jiff::civil::Date,
}

/// Unico's offers of one type, replayed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OfferTypeOutcome {
    /// Target and mechanic, e.g. `product unit`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Offers made.
    pub offers: usize,
    /// Redemptions the plan expected.
    pub expected_redemptions: f64,
    /// Redemptions in the replay.
    pub redeemed: usize,
    /// Discount given, cents.
    pub discount_cents: i64,
}

#[allow(clippy::too_many_arguments)]
fn run_round(
    app: &App,
    world: &World,
    policy: &std::path::Path,
    from: jiff::civil::Date,
    to: jiff::civil::Date,
    window: u32,
    number: u32,
    people: u64,
    progress: &dyn Progress,
) -> Result<Round> {
    let as_of = from.yesterday()?.to_string();
    // The model sees only the history: the window's receipts are in the lake but after as-of.
    app.build_model(Some(&as_of), None, progress)?;
    let prepared = app.prepare_campaign(policy, None, Some((from, to)), progress)?;
    let response = response_for(&prepared);
    let p = &prepared;
    let ours = p.plan(&response, progress)?;
    let audience: Vec<u32> = ours
        .status
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s, Status::Personal | Status::Generic | Status::NoOffer))
        .map(|(i, _)| i as u32)
        .collect();
    let planned_cost = |plan_cost: f64| plan_cost.round() as i64;
    let budget = match p.policy.basis {
        Basis::Expected => ours.expected_cost,
        Basis::WorstCase => ours.worst_cost,
    };

    let as_planned = |plan: &Plan| -> Planned {
        plan.offers.iter().map(|o| (o.customer, o.target, o.mechanic, o.percent, o.discount_cents)).collect()
    };
    let mut results = Vec::new();
    let (outcome, redeemed) =
        evaluate(world, p, "Unico plan", &as_planned(&ours), planned_cost(ours.expected_cost), from, to)?;
    results.push(outcome);
    let observations: Vec<unico_offers::response::Observation> = ours
        .offers
        .iter()
        .zip(&redeemed)
        .filter_map(|(o, r)| r.and_then(|r| unico_offers::plan::observation(o, r.0)))
        .collect();

    // Mass flyer and segment plan at one depth: the middle of the policy's depths.
    let depth = p.policy.percent_off.get(p.policy.percent_off.len() / 2).copied().unwrap_or(20);
    let k = p.policy.offers_per_customer;
    let allowed = |product: u32| -> Option<i64> {
        let pr = &p.products[product as usize];
        let price = pr.list_price_cents?;
        let discount = (price * i64::from(depth) + 50) / 100;
        (p.policy.allows(pr) && p.policy.discount_allowed(pr, discount)).then_some(discount)
    };
    let share_of: HashMap<u32, f64> = p.best_sellers.iter().copied().collect();
    let flyer_products: Vec<(u32, i64)> =
        p.best_sellers.iter().filter_map(|(pr, _)| allowed(*pr).map(|d| (*pr, d))).take(k).collect();
    let window_f = f64::from(window);
    // The planned cost of a baseline offer, valued like Unico's generic offers (the
    // product's population purchase share, the prior response at a middle band).
    let cost_of = |product: u32, discount: i64| -> f64 {
        match p.policy.basis {
            Basis::WorstCase => discount as f64,
            Basis::Expected => {
                let share = share_of.get(&product).copied().unwrap_or(0.01);
                let p0 = 1.0 - (1.0 - share.min(0.999_999)).powf(window_f / 91.0);
                let g = response.g(response::BANDS / 2, depth);
                discount as f64 * (p0 * RHO + (1.0 - p0) * share * g)
            }
        }
    };
    let mut order = audience.clone();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(p.policy.seed));
    let fill = |offers_of: &dyn Fn(u32) -> Vec<(u32, i64)>| -> (Planned, f64) {
        let (mut out, mut spent) = (Vec::new(), 0.0);
        for &c in &order {
            let list = offers_of(c);
            let cost: f64 = list.iter().map(|(pr, d)| cost_of(*pr, *d)).sum();
            if spent + cost > budget {
                continue;
            }
            spent += cost;
            out.extend(list.into_iter().map(|(pr, d)| (c, OfferTarget::Product(pr), Mechanic::Unit, depth, d)));
        }
        (out, spent)
    };
    let (flyer, flyer_cost) = fill(&|_| flyer_products.clone());
    results.push(evaluate(world, p, "mass flyer", &flyer, flyer_cost.round() as i64, from, to)?.0);
    let ad_savings = ad_savings(world, p, &response, &results[1], from, to)?;
    let segment_offers: HashMap<&str, Vec<(u32, i64)>> = p
        .segment_top
        .iter()
        .map(|(seg, top)| (seg.as_str(), top.iter().filter_map(|pr| allowed(*pr).map(|d| (*pr, d))).take(k).collect()))
        .collect();
    let (segment, segment_cost) =
        fill(&|c| segment_offers.get(p.customers[c as usize].segment.as_str()).cloned().unwrap_or_default());
    results.push(
        evaluate(
            world,
            p,
            "segment plan (RFM segment x top products)",
            &segment,
            segment_cost.round() as i64,
            from,
            to,
        )?
        .0,
    );

    // The oracle: the same candidates and budgets, valued with the planted truth.
    let oracle = oracle_plan(world, p, &ours, from, to, true)?;
    results.push(
        evaluate(
            world,
            p,
            "oracle (planted truth)",
            &as_planned(&oracle),
            planned_cost(oracle.expected_cost),
            from,
            to,
        )?
        .0,
    );
    // The oracle without foresight: every planted parameter (affinity, sensitivity, the
    // response to depth) but Unico's own estimate of who buys anyway — what a perfect model
    // of the customers could reach without knowing the window's draws.
    let informed = oracle_plan(world, p, &ours, from, to, false)?;
    results.push(
        evaluate(
            world,
            p,
            "oracle, no foresight (planted parameters)",
            &as_planned(&informed),
            planned_cost(informed.expected_cost),
            from,
            to,
        )?
        .0,
    );

    // Unico's offers by type: how many, redemptions expected and real, the discount given.
    let mut by_type: std::collections::BTreeMap<String, (usize, f64, usize, i64)> = Default::default();
    for (o, r) in ours.offers.iter().zip(&redeemed) {
        let target = match o.target {
            OfferTarget::Product(_) => "product",
            OfferTarget::Category(_) => "category",
            OfferTarget::Basket => "basket",
        };
        let e = by_type.entry(format!("{target} {}", o.mechanic.as_str())).or_default();
        e.0 += 1;
        e.1 += o.p_redeem;
        if let Some((true, discount)) = r {
            e.2 += 1;
            e.3 += discount;
        }
    }
    // With other offer types than one unit of a product: the same plan without them, on the
    // same budget, for what they add.
    let policy = &p.policy;
    if !(policy.multi_buy.is_empty() && policy.category_percent_off.is_empty() && policy.spend_reward.is_empty()) {
        let customers = p.full_customers()?;
        let unit_only = unico_offers::Policy {
            multi_buy: Vec::new(),
            category_percent_off: Vec::new(),
            spend_reward: Vec::new(),
            ..policy.clone()
        };
        let plain = plan(&Inputs {
            policy: &unit_only,
            products: &p.products,
            categories: &p.categories,
            margin_rate: p.margin_rate,
            customers: &customers,
            generic: &p.generic,
            response: &response,
            secret: &p.secret,
            explain: None,
        });
        results.push(
            evaluate(
                world,
                p,
                "Unico, one-unit product offers only",
                &as_planned(&plain),
                planned_cost(plain.expected_cost),
                from,
                to,
            )?
            .0,
        );
    }

    // One is one: distinct offer sets among customers with personal offers.
    let mut sets: HashMap<u32, Vec<(u64, Mechanic, i64)>> = HashMap::new();
    for o in ours.offers.iter().filter(|o| o.personal) {
        sets.entry(o.customer).or_default().push((o.target.id(), o.mechanic, o.discount_cents));
    }
    let distinct: HashSet<Vec<(u64, Mechanic, i64)>> = sets
        .into_values()
        .map(|mut v| {
            v.sort_unstable();
            v
        })
        .collect();
    let personal = ours.status.iter().filter(|s| **s == Status::Personal).count();
    let distinct_share = distinct.len() as f64 / personal.max(1) as f64;
    let ratio = |a: i64, b: i64| if b > 0 { a as f64 / b as f64 } else { f64::NAN };
    let (u, f, o) = (&results[0], &results[1], &results[3]);
    Ok(Round {
        number,
        people,
        window: Window { from, to },
        audience: audience.len(),
        unico_vs_oracle: ratio(u.incremental_margin_cents, o.incremental_margin_cents),
        unico_vs_oracle_without_foresight: ratio(u.incremental_margin_cents, results[4].incremental_margin_cents),
        unico_vs_mass_flyer: ratio(u.incremental_margin_cents, f.incremental_margin_cents),
        distinct_offer_sets_share: distinct_share,
        ad_savings,
        unico_by_offer_type: by_type
            .into_iter()
            .map(|(kind, (offers, expected_redemptions, redeemed, discount_cents))| OfferTypeOutcome {
                kind,
                offers,
                expected_redemptions,
                redeemed,
                discount_cents,
            })
            .collect(),
        plans: results,
        observations,
    })
}

/// The plan's offers for the simulator, and for each planned offer its index among them
/// (none when the customer's card is unknown to the simulator).
fn to_sim(
    p: &Prepared,
    planned: &Planned,
    from: jiff::civil::Date,
    to: jiff::civil::Date,
) -> (Vec<Offer>, Vec<Option<usize>>) {
    let mut offers = Vec::new();
    let mut index = Vec::with_capacity(planned.len());
    for (i, (c, target, mechanic, pct, discount)) in planned.iter().enumerate() {
        let Some(card) = p.cards.get(&p.customers[*c as usize].key) else {
            index.push(None);
            continue;
        };
        index.push(Some(offers.len()));
        let target = match target {
            OfferTarget::Product(x) => Target::Product(p.products[*x as usize].sku.clone()),
            OfferTarget::Category(x) => Target::Category(p.categories[*x as usize].name.clone()),
            OfferTarget::Basket => Target::Basket,
        };
        let value = match *mechanic {
            Mechanic::MultiBuy { buy, pay } => OfferValue::MultiBuy { buy, pay },
            Mechanic::SpendReward { min_spend_cents } => {
                OfferValue::SpendReward { min_spend_cents, reward_cents: *discount }
            }
            Mechanic::Unit if *pct > 0 => OfferValue::PercentOff(*pct),
            Mechanic::Unit => OfferValue::AmountOffCents(*discount),
        };
        offers.push(Offer {
            code: format!("O{i}"),
            card: card.clone(),
            target,
            value,
            channel: None,
            valid_from: from,
            valid_to: to,
        });
    }
    (offers, index)
}

/// Replays a plan: what it really did, and per planned offer whether it was redeemed and
/// the discount it gave.
fn evaluate(
    world: &World,
    p: &Prepared,
    name: &str,
    planned: &Planned,
    planned_cost_cents: i64,
    from: jiff::civil::Date,
    to: jiff::civil::Date,
) -> Result<(Outcome, Vec<Redemption>)> {
    let (offers, index) = to_sim(p, planned, from, to);
    // One replay over the window and the days after it; the window's figures are its
    // receipts up to the window's last day.
    let later = to.checked_add(jiff::Span::new().days(i64::from(AFTER_DAYS)))?;
    let r = unico_sim::replay(world, &offers, &[], from, later);
    let margin_after: i64 = r.people.iter().map(|x| x.margin_cents - x.baseline_margin_cents).sum();
    let in_window = |rs: &[unico_sim::SimReceipt], f: &dyn Fn(&unico_sim::SimReceipt) -> i64| -> i64 {
        rs.iter().filter(|x| x.date <= to).map(f).sum()
    };
    let paid = |x: &unico_sim::SimReceipt| x.lines.iter().map(|l| l.net_cents).sum::<i64>();
    let margin_of = |x: &unico_sim::SimReceipt| unico_sim::receipt_margin(world, x);
    let margin = in_window(&r.treated, &margin_of) - in_window(&r.baseline, &margin_of);
    let revenue = in_window(&r.treated, &paid) - in_window(&r.baseline, &paid);
    let cost: i64 = r.offers.iter().map(|o| o.discount_cents).sum();
    let customers: HashSet<u32> = planned.iter().map(|o| o.0).collect();
    let redeemed = index.iter().map(|i| i.map(|i| (r.offers[i].redeemed, r.offers[i].discount_cents))).collect();
    Ok((
        Outcome {
            name: name.to_string(),
            offers: offers.len(),
            customers: customers.len(),
            planned_cost_cents,
            redeemed: r.offers.iter().filter(|o| o.redeemed).count(),
            cost_cents: cost,
            incremental_revenue_cents: revenue,
            incremental_margin_cents: margin,
            incremental_margin_after_cents: margin_after,
            roi: if cost > 0 { margin as f64 / cost as f64 } else { 0.0 },
        },
        redeemed,
    ))
}

/// Unico's assignment on the same candidates and budgets, valued with the truth: `p0` is
/// 1 when the person buys the product in the window without offers (from the simulator's
/// counterfactual), the affinity and sensitivity are the planted ones.
/// Unico's assignment on the same candidates fed the planted truth: each person's
/// sensitivity and category affinity, the response to depth and, with `foresight`, who buys
/// each product in the window anyway (0 or 1, read from the simulator's future).
fn oracle_plan(
    world: &World,
    p: &Prepared,
    ours: &Plan,
    from: jiff::civil::Date,
    to: jiff::civil::Date,
    foresight: bool,
) -> Result<Plan> {
    let eligible: Vec<usize> = ours
        .status
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s, Status::Personal | Status::NoOffer))
        .map(|(i, _)| i)
        .collect();
    // What each person buys in the window without offers (receipts with or without their
    // card: the truth, not what the loyalty data sees).
    let mut bought: HashMap<String, HashSet<String>> = HashMap::new();
    for i in eligible.iter().filter(|_| foresight) {
        let Some(card) = p.cards.get(&p.customers[*i].key) else { continue };
        let Some(pid) = world.person_of_card(card) else { continue };
        let r = unico_sim::replay(world, &[], &[pid], from, to);
        let e = bought.entry(card.clone()).or_default();
        for receipt in &r.baseline {
            for l in &receipt.lines {
                e.insert(world.product(l.product).0.to_string());
            }
        }
    }
    let mut customers: Vec<CustomerInput> = p.full_customers()?;
    let mut sensitivity = vec![0.5; customers.len()];
    for &i in &eligible {
        let c = &mut customers[i];
        let Some(card) = p.cards.get(&c.key) else { continue };
        let Some(pid) = world.person_of_card(card) else { continue };
        let mine = bought.get(card);
        for cand in &mut c.candidates {
            let sku = &p.products[cand.product as usize].sku;
            if let Some((s, a)) = world.offer_response(pid, sku) {
                sensitivity[i] = s;
                cand.affinity = a;
                if foresight {
                    cand.p0 = if mine.is_some_and(|m| m.contains(sku)) { 1.0 } else { 0.0 };
                }
            }
        }
        c.sensitivity = sensitivity[i];
    }
    // The planted response by band (the band's middle sensitivity).
    let planted = |band: usize, depth: f64| unico_sim::moved_share((band as f64 + 0.5) / response::BANDS as f64, depth);
    let mut truth = Response::from_fn(&p.policy.percent_off, |band, depth| planted(band, f64::from(depth) / 100.0));
    // A multi-buy moves MULTI_BUY_REACH · affinity · g(depth) of non-buyers in the
    // simulator; the planner reads `a · g / buy`, so its planted g is that reach · buy · g.
    for &(buy, pay) in &p.policy.multi_buy {
        let depth = unico_offers::plan::multi_buy_depth(buy, pay);
        let arm = response::Arm::MultiBuy { buy, pay };
        let d = f64::from(buy - pay) / f64::from(buy);
        truth = truth
            .with_arm(arm, depth, |band| (unico_sim::MULTI_BUY_REACH * f64::from(buy) * planted(band, d)).min(1.0));
    }
    let generic: Vec<CandidateInput> = p.generic.clone();
    Ok(plan(&Inputs {
        policy: &p.policy,
        products: &p.products,
        categories: &p.categories,
        margin_rate: p.margin_rate,
        customers: &customers,
        generic: &generic,
        response: &truth,
        secret: &p.secret,
        explain: None,
    }))
}
