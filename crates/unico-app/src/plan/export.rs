//! The campaign directory: `offers.csv`, `customers.csv`, one export per channel
//! (`app.json`, `email.csv`, …) and `campaign.json`, written beside the destination and
//! moved into place whole.

use super::Prepared;
use crate::error::{Context, Result};
use std::collections::HashMap;
use std::path::Path;
use unico_offers::assign::{Mechanic, Target};
use unico_offers::plan::{CategoryInput, CustomerInput, Plan, PlannedOffer};
use unico_offers::policy::Product;

fn cents(v: f64) -> String {
    format!("{}", v.round() as i64)
}

/// Writes the campaign to a temporary directory beside `out` and renames it into place,
/// so a crash never leaves half a campaign.
/// Writes the campaign's files into `dir` (the staging directory [`super::staging`] names).
pub(super) fn write(
    dir: &Path,
    p: &Prepared,
    planned: &Plan,
    granted: &dyn Fn(&str, unico_store::Purpose) -> bool,
) -> Result<()> {
    let (policy, products, categories, customers, cards) =
        (&p.policy, &p.products, &p.categories, &p.customers, &p.cards);
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let id = |c: &CustomerInput| cards.get(&c.key).cloned().unwrap_or_default();

    let mut w = csv::Writer::from_path(dir.join("offers.csv"))?;
    w.write_record([
        "code",
        "customer_id",
        "customer_key",
        "rank",
        "target",
        "sku",
        "product",
        "category",
        "kind",
        "mechanic",
        "percent_off",
        "discount_cents",
        "buy_units",
        "pay_units",
        "min_spend_cents",
        "valid_from",
        "valid_to",
        "p_redeem",
        "expected_cost_cents",
        "worst_cost_cents",
        "expected_incremental_margin_cents",
        "personal",
        "reason",
        "p0",
        "affinity",
        "band",
    ])?;
    let (from, to) = (policy.valid_from.to_string(), policy.valid_to.to_string());
    for o in &planned.offers {
        let c = &customers[o.customer as usize];
        let what = Subject::of(products, categories, o);
        let (buy, pay, min_spend) = mechanic_terms(o.mechanic);
        w.write_record([
            o.code.as_str(),
            &id(c),
            &c.key,
            &o.rank.to_string(),
            what.target,
            what.sku,
            &what.name,
            what.category,
            o.kind.as_str(),
            o.mechanic.as_str(),
            &o.percent.to_string(),
            &o.discount_cents.to_string(),
            &buy.to_string(),
            &pay.to_string(),
            &min_spend.to_string(),
            &from,
            &to,
            &format!("{:.4}", o.p_redeem),
            &cents(o.expected_cost),
            &o.worst_cost.to_string(),
            &cents(o.incremental_margin),
            if o.personal { "yes" } else { "no" },
            &o.reason,
            &format!("{:.6}", o.p0),
            &format!("{:.6}", o.affinity),
            &o.band.to_string(),
        ])?;
    }
    w.flush()?;

    let mut w = csv::Writer::from_path(dir.join("customers.csv"))?;
    w.write_record(["customer_id", "customer_key", "segment", "store_id", "status", "offers"])?;
    let mut count = vec![0u32; customers.len()];
    for o in &planned.offers {
        count[o.customer as usize] += 1;
    }
    for (i, c) in customers.iter().enumerate() {
        w.write_record([
            id(c).as_str(),
            &c.key,
            &c.segment,
            c.store.as_deref().unwrap_or(""),
            planned.status[i].as_str(),
            &count[i].to_string(),
        ])?;
    }
    w.flush()?;

    // One export per channel, to the customers who accept it.
    for channel in &policy.channels {
        let purpose = match channel.as_str() {
            "email" => Some(unico_store::Purpose::Email),
            "sms" => Some(unico_store::Purpose::Sms),
            "app" => Some(unico_store::Purpose::App),
            _ => None,
        };
        let accepted = |c: &CustomerInput| purpose.is_none_or(|p| granted(&c.key, p));
        if channel == "app" {
            let mut by: Vec<AppCustomer> = Vec::new();
            for o in planned.offers.iter().filter(|o| accepted(&customers[o.customer as usize])) {
                let c = &customers[o.customer as usize];
                if by.last().is_none_or(|last| last.index != o.customer) {
                    by.push(AppCustomer { index: o.customer, customer_id: id(c), offers: Vec::new() });
                }
                let what = Subject::of(products, categories, o);
                let (buy, pay, min_spend) = mechanic_terms(o.mechanic);
                by.last_mut().expect("pushed").offers.push(AppOffer {
                    buy_units: buy,
                    category: what.category.to_string(),
                    code: o.code.clone(),
                    discount_cents: o.discount_cents,
                    mechanic: o.mechanic.as_str(),
                    min_spend_cents: min_spend,
                    pay_units: pay,
                    percent_off: o.percent,
                    product: what.name,
                    reason: o.reason.clone(),
                    sku: what.sku.to_string(),
                    target: what.target,
                    valid_from: from.clone(),
                    valid_to: to.clone(),
                });
            }
            std::fs::write(dir.join("app.json"), serde_json::to_vec_pretty(&by)?)?;
        } else {
            let mut w = csv::Writer::from_path(dir.join(format!("{channel}.csv")))?;
            w.write_record(["customer_id", "code", "product", "percent_off", "discount_cents", "valid_to", "message"])?;
            for o in planned.offers.iter().filter(|o| accepted(&customers[o.customer as usize])) {
                let c = &customers[o.customer as usize];
                let what = Subject::of(products, categories, o);
                w.write_record([
                    id(c).as_str(),
                    &o.code,
                    &what.name,
                    &o.percent.to_string(),
                    &o.discount_cents.to_string(),
                    &to,
                    &o.reason,
                ])?;
            }
            w.flush()?;
        }
    }

    let mut by_status: std::collections::BTreeMap<&str, usize> = Default::default();
    for s in &planned.status {
        *by_status.entry(s.as_str()).or_default() += 1;
    }
    let offers = planned.offers.len();
    let distinct = distinct_sets(planned);
    let summary = CampaignFile {
        budget: BudgetUse {
            basis: policy.basis.as_str(),
            expected_cost_cents: planned.expected_cost.round() as i64,
            limits: policy
                .limits
                .iter()
                .zip(&planned.limit_usage)
                .map(|(l, u)| LimitUse {
                    cents: l.cents,
                    scope: l.scope.describe(),
                    supplier_funded: l.supplier_funded,
                    used_cents: u.round() as i64,
                })
                .collect(),
            total_cents: policy.total_cents,
            worst_case_cents: policy.worst_case_cents,
            worst_cost_cents: planned.worst_cost.round() as i64,
        },
        customers: by_status,
        distinct_offer_sets: distinct,
        expected_incremental_margin_cents: planned.incremental_margin.round() as i64,
        multipliers: &planned.multipliers,
        name: &policy.name,
        objective: policy.objective.as_str(),
        objective_cents: planned.value.round() as i64,
        objective_upper_bound_cents: planned.upper_bound.round() as i64,
        offers,
        response_learned_from: p.learned.campaigns(),
        seed: policy.seed,
        valid_from: &from,
        valid_to: &to,
    };
    std::fs::write(dir.join("campaign.json"), serde_json::to_vec_pretty(&summary)?)?;
    for f in std::fs::read_dir(dir)?.flatten() {
        std::fs::File::open(f.path())?.sync_all()?;
    }
    Ok(())
}

/// A customer's offers in `app.json` (the app's import format).
#[derive(serde::Serialize)]
struct AppCustomer {
    #[serde(skip)]
    index: u32,
    customer_id: String,
    offers: Vec<AppOffer>,
}

/// One offer in `app.json`; fields in alphabetical order, the file's order.
#[derive(serde::Serialize)]
struct AppOffer {
    buy_units: u32,
    category: String,
    code: String,
    discount_cents: i64,
    mechanic: &'static str,
    min_spend_cents: i64,
    pay_units: u32,
    percent_off: u32,
    product: String,
    reason: String,
    sku: String,
    target: &'static str,
    valid_from: String,
    valid_to: String,
}

/// `campaign.json`: the campaign's summary; fields in alphabetical order, the file's order.
#[derive(serde::Serialize)]
struct CampaignFile<'a> {
    budget: BudgetUse,
    customers: std::collections::BTreeMap<&'static str, usize>,
    distinct_offer_sets: usize,
    expected_incremental_margin_cents: i64,
    multipliers: &'a [f64],
    name: &'a str,
    objective: &'static str,
    objective_cents: i64,
    objective_upper_bound_cents: i64,
    offers: usize,
    /// The campaigns the response model had learned from (`history:<id>` for the imported
    /// promotion history); empty: the priors.
    response_learned_from: &'a [String],
    seed: u64,
    valid_from: &'a str,
    valid_to: &'a str,
}

/// The budget and what the plan uses of it.
#[derive(serde::Serialize)]
struct BudgetUse {
    basis: &'static str,
    expected_cost_cents: i64,
    limits: Vec<LimitUse>,
    total_cents: i64,
    worst_case_cents: Option<i64>,
    worst_cost_cents: i64,
}

/// One budget limit and what the plan uses of it.
#[derive(serde::Serialize)]
struct LimitUse {
    cents: i64,
    scope: String,
    supplier_funded: bool,
    used_cents: i64,
}

/// What an offer is on, for files and the store.
pub(crate) struct Subject<'a> {
    /// `product`, `category` or `basket`.
    pub(crate) target: &'static str,
    /// The product's sku (empty otherwise).
    pub(crate) sku: &'a str,
    /// The product's name, "any item of Coffee" or "your shopping".
    pub(crate) name: String,
    /// The product's or the offer's category (empty for a basket).
    pub(crate) category: &'a str,
}

impl<'a> Subject<'a> {
    pub(crate) fn of(products: &'a [Product], categories: &'a [CategoryInput], o: &PlannedOffer) -> Subject<'a> {
        match o.target {
            Target::Product(x) => {
                let p = &products[x as usize];
                Subject { target: "product", sku: &p.sku, name: p.name.clone(), category: &p.category }
            }
            Target::Category(x) => {
                let c = &categories[x as usize].name;
                Subject { target: "category", sku: "", name: format!("any item of {c}"), category: c }
            }
            Target::Basket => Subject { target: "basket", sku: "", name: "your shopping".into(), category: "" },
        }
    }
}

/// A mechanic's terms: units to buy, units paid, least basket (cents).
pub(crate) fn mechanic_terms(m: Mechanic) -> (u32, u32, i64) {
    match m {
        Mechanic::Unit => (1, 1, 0),
        Mechanic::MultiBuy { buy, pay } => (buy, pay, 0),
        Mechanic::SpendReward { min_spend_cents } => (1, 1, min_spend_cents),
    }
}

/// Distinct offer sets (what each offer is on, how and how much) among customers who got
/// offers.
pub fn distinct_sets(planned: &Plan) -> usize {
    let mut sets: HashMap<u32, Vec<(u64, Mechanic, i64)>> = HashMap::new();
    for o in &planned.offers {
        sets.entry(o.customer).or_default().push((o.target.id(), o.mechanic, o.discount_cents));
    }
    let mut unique: std::collections::HashSet<Vec<(u64, Mechanic, i64)>> = Default::default();
    for (_, mut s) in sets {
        s.sort_unstable();
        unique.insert(s);
    }
    unique.len()
}
