//! `unico plan`: a campaign from a policy file, the model and the customer master.

use crate::model::scan_lines;
use crate::settings::DataDir;
use anyhow::{Context, Result, bail};
use arrow_array::Array;
use rand::SeedableRng;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use unico_lake::{Dataset, Lake};
use unico_model::build;
use unico_model::features::date_to_day;
use unico_model::habits::Catalogue;
use unico_model::recommend::{self, Reason, Recommender};
use unico_offers::assign::{Kind, Mechanic, Target};
use unico_offers::plan::{
    CandidateInput, CategoryCandidate, CategoryInput, CustomerInput, Inputs, Plan, PlannedOffer, SpendInput, Status,
    plan,
};
use unico_offers::policy::{Policy, Product};
use unico_offers::response::{Arm, ResponseModel};

/// A candidate's recommender item and reason (`u32::MAX`: the candidate has its words).
type Why = (u32, Reason);

/// Candidates considered per customer (the recommender's best products for them).
pub const CANDIDATES_PER_CUSTOMER: usize = 20;
/// Affinity of a customer whose leaning to a category is average (r = 1 in r / (1 + r)).
const AVERAGE_AFFINITY: f64 = 0.5;
/// Best sellers offered to customers without the profiling consent.
const GENERIC_BEST_SELLERS: usize = 5;
/// The learned response to offers, in the model directory.
pub const RESPONSE_FILE: &str = "offers-response.json";

#[derive(clap::Args)]
pub struct PlanArgs {
    /// The policy file (TOML); see docs/offers.md.
    #[arg(long)]
    policy: PathBuf,
    /// The day the model was built as of (default: the model's); the plan refuses a model
    /// built as of another day.
    #[arg(long)]
    as_of: Option<String>,
    /// Directory to write the campaign to (created; must not hold a campaign already).
    #[arg(long)]
    out: PathBuf,
    /// Write the files only: do not store the campaign for the app and the tills (a trial).
    #[arg(long)]
    dry_run: bool,
}

/// The product master as the offers need it.
pub fn products(lake: &Lake) -> Result<Vec<Product>> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    let mut out = Vec::new();
    for file in lake.parquet_files(Dataset::Products)? {
        unico_lake::read::for_each_batch(
            &file,
            &["sku", "name", "category", "brand", "supplier", "list_price_cents", "unit_cost_cents"],
            |b| {
                let text = |i: usize, row: usize| -> String {
                    let c = b.column(i).as_string::<i32>();
                    if c.is_valid(row) { c.value(row).to_string() } else { String::new() }
                };
                let int = |i: usize, row: usize| -> Option<i64> {
                    let c = b.column(i).as_primitive::<Int64Type>();
                    c.is_valid(row).then(|| c.value(row))
                };
                for r in 0..b.num_rows() {
                    out.push(Product {
                        sku: text(0, r),
                        name: text(1, r),
                        category: text(2, r),
                        brand: text(3, r),
                        supplier: text(4, r),
                        list_price_cents: int(5, r),
                        unit_cost_cents: int(6, r),
                    });
                }
                Ok(())
            },
        )?;
    }
    Ok(out)
}

struct ProfileRow {
    key: String,
    segment: String,
    store: Option<String>,
    clv_cents: i64,
    p_alive: f64,
    discount_share: f64,
}

fn profiles(dir: &DataDir, clv_months: u32) -> Result<Vec<ProfileRow>> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};
    let path = dir.model_dir().join(build::PROFILES_FILE);
    let clv = format!("clv_{clv_months}_months_cents");
    let mut out = Vec::new();
    unico_lake::read::for_each_batch(
        &path,
        &["customer_key", "segment", "preferred_store_id", clv.as_str(), "p_alive", "discount_share"],
        |b| {
            let key = b.column(0).as_string::<i32>();
            let seg = b.column(1).as_string::<i32>();
            let store = b.column(2).as_string::<i32>();
            let clv = b.column(3).as_primitive::<Int64Type>();
            let alive = b.column(4).as_primitive::<Float64Type>();
            let share = b.column(5).as_primitive::<Float64Type>();
            for r in 0..b.num_rows() {
                out.push(ProfileRow {
                    key: key.value(r).to_string(),
                    segment: seg.value(r).to_string(),
                    store: store.is_valid(r).then(|| store.value(r).to_string()),
                    clv_cents: clv.value(r),
                    p_alive: alive.value(r),
                    discount_share: share.value(r),
                });
            }
            Ok(())
        },
    )
    .with_context(|| format!("cannot read the profiles {}: run `unico model build` first", path.display()))?;
    Ok(out)
}

/// Everything a plan is made from.
pub struct Prepared {
    pub policy: Policy,
    pub products: Vec<Product>,
    /// Categories (the catalogue's), for category-wide offers.
    pub categories: Vec<CategoryInput>,
    /// The chain's margin rate on what it sells.
    pub margin_rate: f64,
    /// Per customer (as `customers`), per candidate: the recommender's item and reason,
    /// put in words only for the offers chosen (a sentence per candidate of every customer
    /// was most of the plan's memory).
    whys: Vec<Vec<Why>>,
    /// Names of the recommender's items and of the categories, for the reasons.
    item_names: Vec<String>,
    category_names: Vec<String>,
    /// The model's last day.
    as_of_day: i32,
    pub customers: Vec<CustomerInput>,
    pub generic: Vec<CandidateInput>,
    /// Card number by lake key.
    pub cards: HashMap<String, String>,
    /// Consents by lake key.
    pub consents: HashMap<String, Vec<(unico_store::Purpose, bool)>>,
    /// The learned response to offers.
    pub learned: ResponseModel,
    /// The key offer codes are made with.
    pub secret: Vec<u8>,
    /// Per RFM segment, the products its members bought most (by customers), best first.
    pub segment_top: HashMap<String, Vec<u32>>,
    /// The chain's best sellers (products), best first, with the share of active customers
    /// who bought each in the last horizon.
    pub best_sellers: Vec<(u32, f64)>,
}

impl Prepared {
    /// Plans the campaign with the given response.
    pub fn plan(&self, response: &unico_offers::response::Response) -> Plan {
        plan(&Inputs {
            policy: &self.policy,
            products: &self.products,
            categories: &self.categories,
            margin_rate: self.margin_rate,
            customers: &self.customers,
            generic: &self.generic,
            response,
            secret: &self.secret,
            explain: Some(&|c, k| self.explain(c, k)),
        })
    }

    /// The reason of customer `c`'s candidate `k`, in words.
    fn explain(&self, c: usize, k: usize) -> String {
        let Some(&(item, reason)) = self.whys.get(c).and_then(|w| w.get(k)) else { return String::new() };
        if item == u32::MAX {
            return String::new();
        }
        let name = |i: u32| self.item_names.get(i as usize).cloned().unwrap_or_default();
        let why = recommend::reason_words(item, reason, &name, &self.category_names, self.as_of_day);
        match self.customers[c].candidates.get(k).map(|x| x.kind) {
            Some(Kind::WinBack) => format!("we have missed you: {why}"),
            _ => why,
        }
    }

    /// Whether the customer with this key has granted `purpose`.
    pub fn granted(&self, key: &str, purpose: unico_store::Purpose) -> bool {
        self.consents.get(key).is_some_and(|list| list.iter().any(|(q, g)| *q == purpose && *g))
    }
}

/// Reads and checks the policy (errors printed with their lines) and gathers the customers,
/// their candidates and consents.
pub fn prepare(dir: &DataDir, policy_path: &Path, as_of: Option<&str>) -> Result<Prepared> {
    prepare_window(dir, policy_path, as_of, None)
}

/// [`prepare`], with the policy's validity window replaced (a simulation's later rounds).
pub fn prepare_window(
    dir: &DataDir,
    policy_path: &Path,
    as_of: Option<&str>,
    window: Option<(jiff::civil::Date, jiff::civil::Date)>,
) -> Result<Prepared> {
    let settings = &dir.settings.model;
    let lake = Lake::open(dir.lake_dir())?;
    let products = products(&lake)?;
    let text =
        std::fs::read_to_string(policy_path).with_context(|| format!("cannot read {}", policy_path.display()))?;
    let mut policy = match Policy::parse(&text, &products) {
        Ok(p) => p,
        Err(errors) => {
            for e in &errors {
                eprintln!("{}:{}: {}", policy_path.display(), e.line, e.message);
            }
            bail!("the policy {} has {} problem(s); nothing was planned", policy_path.display(), errors.len());
        }
    };
    if let Some((from, to)) = window {
        (policy.valid_from, policy.valid_to) = (from, to);
    }
    let params = build::read_params(&dir.model_dir()).context("run `unico model build` first")?;
    if let Some(d) = as_of
        && d != params.as_of
    {
        bail!("the model was built as of {}; run `unico model build --as-of {d}` first", params.as_of);
    }
    let as_of: jiff::civil::Date = params.as_of.parse().context("model.json has a bad as_of")?;
    if policy.valid_from <= as_of {
        bail!(
            "the campaign starts on {} but the model knows receipts up to {as_of}: offers must start after the data",
            policy.valid_from
        );
    }

    // Customers: profiles, consents and card ids.
    let profiles = profiles(dir, settings.clv_months)?;
    let rt = crate::customers::runtime()?;
    let store = dir.store(&rt)?;
    let consents = rt.block_on(store.consents_by_key());
    let cards = rt.block_on(store.cards());
    // The cool-down: products offered to a customer by campaigns that started within it.
    let since = policy.valid_from.checked_sub(jiff::Span::new().days(i64::from(policy.cooldown_days)))?;
    let this = format!("{} {}", policy.name, policy.valid_from);
    let recent = rt.block_on(store.offered_since(&since.to_string(), &this));
    // The frequency cap: offers of other campaigns starting within its window.
    let cap_since =
        policy.valid_from.checked_sub(jiff::Span::new().days(i64::from(policy.frequency_cap_days.max(1) - 1)))?;
    let capped = match policy.frequency_cap_offers {
        Some(_) => rt.block_on(store.offered_since(&cap_since.to_string(), &this)),
        None => Ok(Vec::new()),
    };
    rt.block_on(store.close());
    let mut recent_count: HashMap<String, u32> = HashMap::new();
    for (key, _) in capped? {
        *recent_count.entry(key).or_default() += 1;
    }
    let mut recent_by_key: HashMap<String, Vec<String>> = HashMap::new();
    for (key, sku) in recent? {
        recent_by_key.entry(key).or_default().push(sku);
    }
    let recent = recent_by_key;
    let consents: HashMap<String, Vec<(unico_store::Purpose, bool)>> = consents?.into_iter().collect();
    let cards: HashMap<String, String> = cards?.into_iter().map(|(_, card, key)| (key, card)).collect();
    let granted = |key: &str, p: unico_store::Purpose| {
        consents.get(key).is_some_and(|list| list.iter().any(|(q, g)| *q == p && *g))
    };
    let segment_of: HashMap<&str, &str> = profiles.iter().map(|p| (p.key.as_str(), p.segment.as_str())).collect();

    // Candidates: the recommender's best products for each customer.
    let as_of_day = date_to_day(as_of);
    let parts = scan_lines(dir, &lake, as_of)?;
    let catalogue = Catalogue::load(&lake)?;
    let category_of_item: Vec<u32> = parts.skus.iter().map(|s| catalogue.category_of(s)).collect();
    let model = Recommender::fit(&parts, &category_of_item, &settings.recommend)?;
    let product_index: HashMap<&str, u32> =
        products.iter().enumerate().map(|(i, p)| (p.sku.as_str(), i as u32)).collect();
    let item_product: Vec<Option<u32>> = parts.skus.iter().map(|s| product_index.get(s.as_str()).copied()).collect();
    let window = policy.window_days() as f64;
    let horizon = f64::from(settings.recommend.horizon_days);
    // P(purchase within the window) from P(within the horizon) under a constant rate.
    let in_window = |score: f64| 1.0 - (1.0 - score.clamp(0.0, 0.999_999)).powf(window / horizon);
    let window_days = (date_to_day(policy.valid_from), date_to_day(policy.valid_to));
    let trial: Vec<u32> = policy.trial.iter().filter_map(|s| product_index.get(s.as_str()).copied()).collect();
    // Affinity for a product: how strongly the customer leans to its category, their share
    // of wallet there relative to an even spread over the categories the chain sells
    // (r = share × categories), as r / (1 + r): 0.5 for an average leaning, towards 1 for
    // their favourite categories, towards 0 for categories they never buy.
    let n_categories = {
        let mut sold: Vec<u32> = category_of_item.clone();
        sold.sort_unstable();
        sold.dedup();
        sold.len().max(1) as f64
    };
    // One pass over every customer's lines for what the candidates need: category shares of
    // wallet, recent buyers per product (best sellers' reach) and what each segment buys.
    let mut category_share: Vec<Vec<(u32, f32)>> = vec![Vec::new(); parts.keys.len()];
    // Category-wide offers and spend rewards: per customer, how often they shop each of
    // their main categories and what their shopping days come to, over the last
    // STATS_DAYS.
    let mut item_count = vec![0u64; parts.skus.len()];
    let mut extras: HashMap<String, (Vec<CategoryCandidate>, Vec<SpendInput>)> = HashMap::new();
    let stats_since = as_of_day - STATS_DAYS;
    let wants_categories = !policy.category_percent_off.is_empty();
    let wants_spend = !policy.spend_reward.is_empty();
    let p_alive_of: HashMap<&str, f64> = profiles.iter().map(|p| (p.key.as_str(), p.p_alive)).collect();
    let mut recent_buyers = vec![0u32; parts.skus.len()];
    let mut active = 0u32;
    let since = as_of_day - settings.recommend.horizon_days as i32;
    let mut by_segment: HashMap<&str, HashMap<u32, u32>> = HashMap::new();
    parts.for_each_customer(|c, records| {
        let mut items: Vec<u32> = records.iter().map(|r| r.item).collect();
        items.sort_unstable();
        items.dedup();
        if let Some(seg) = segment_of.get(parts.keys[c as usize].as_str()) {
            let counts = by_segment.entry(seg).or_default();
            for i in &items {
                *counts.entry(*i).or_default() += 1;
            }
        }
        let mut recent: Vec<u32> = records.iter().filter(|r| r.day > since).map(|r| r.item).collect();
        recent.sort_unstable();
        recent.dedup();
        active += u32::from(!recent.is_empty());
        for i in recent {
            recent_buyers[i as usize] += 1;
        }
        let mut spend: HashMap<u32, i64> = HashMap::new();
        let mut total = 0i64;
        for r in records {
            *spend.entry(category_of_item[r.item as usize]).or_default() += r.net_cents.max(0);
            total += r.net_cents.max(0);
            item_count[r.item as usize] += 1;
        }
        if total > 0 {
            let mut v: Vec<(u32, f32)> =
                spend.into_iter().map(|(k, x)| (k, (x as f64 / total as f64) as f32)).collect();
            v.sort_unstable_by_key(|e| e.0);
            if wants_categories || wants_spend {
                let shopping = Shopping::of(records, &category_of_item, stats_since, as_of_day);
                let key = parts.keys[c as usize].clone();
                let alive = p_alive_of.get(key.as_str()).copied().unwrap_or(1.0);
                let cats = if wants_categories {
                    shopping.categories(&v, n_categories, window, alive, &catalogue.categories)
                } else {
                    Vec::new()
                };
                let spend = if wants_spend { shopping.spend(&policy.spend_reward, window, alive) } else { Vec::new() };
                extras.insert(key, (cats, spend));
            }
            category_share[c as usize] = v;
        }
    })?;
    // Categories for category-wide offers: the typical item of each (weighted by lines sold),
    // and the chain's margin rate on what is sold, for what a spend reward's top-up earns.
    let mut sums = vec![(0.0f64, 0.0f64, 0.0f64); catalogue.categories.len()];
    for (item, n) in item_count.iter().enumerate() {
        let Some(p) = item_product[item] else { continue };
        let (Some(price), Some(cost)) = (products[p as usize].list_price_cents, products[p as usize].unit_cost_cents)
        else {
            continue;
        };
        let s = &mut sums[category_of_item[item] as usize];
        let w = *n as f64;
        (s.0, s.1, s.2) = (s.0 + w, s.1 + w * price as f64, s.2 + w * cost as f64);
    }
    let categories: Vec<CategoryInput> = catalogue
        .categories
        .iter()
        .zip(&sums)
        .map(|(name, (w, price, cost))| CategoryInput {
            name: name.clone(),
            price_cents: if *w > 0.0 { (price / w).round() as i64 } else { 0 },
            cost_cents: if *w > 0.0 { (cost / w).round() as i64 } else { 0 },
        })
        .collect();
    let (sold, earned) = sums.iter().fold((0.0, 0.0), |(a, b), (_, price, cost)| (a + price, b + price - cost));
    let margin_rate = if sold > 0.0 { earned / sold } else { 0.0 };
    let affinity_in = |c: u32, cat: u32| -> f64 {
        let shares = &category_share[c as usize];
        let share = shares.binary_search_by_key(&cat, |e| e.0).map_or(0.0, |i| f64::from(shares[i].1));
        let r = share * n_categories;
        (r / (1.0 + r)).clamp(0.02, 0.95)
    };
    let affinity_of = |c: u32, item: u32| affinity_in(c, category_of_item[item as usize]);
    // Customers slipping away: their own products become win-back offers.
    let lapsing: std::collections::HashSet<&str> =
        profiles.iter().filter(|p| p.p_alive < 0.5).map(|p| p.key.as_str()).collect();
    let mut candidates: HashMap<String, (Vec<CandidateInput>, Vec<Why>)> = HashMap::new();
    recommend::recommend_all(
        &parts,
        &model,
        as_of_day,
        CANDIDATES_PER_CUSTOMER,
        false,
        &settings.habits,
        |c, list| {
            let key = &parts.keys[c as usize];
            let mut out = Vec::with_capacity(list.len() + trial.len());
            // The recommender's reason of each candidate, kept compact: only the chosen
            // offers' reasons are put in words (`Prepared::explain`).
            let mut why = Vec::with_capacity(list.len() + trial.len());
            for r in list {
                let Some(product) = item_product[r.item as usize] else { continue };
                let kind = match r.reason {
                    Reason::Due { .. } | Reason::Usual { .. } if lapsing.contains(key.as_str()) => Kind::WinBack,
                    Reason::Due { .. } => Kind::Due,
                    Reason::Usual { .. } => Kind::Usual,
                    _ => Kind::CrossSell,
                };
                // A product with a purchase cycle: the chance the next purchase falls in the
                // window, given it has not happened by the model's last day (log-normal
                // spread around the cycle); else the purchase rate over the window.
                let p0 = match r.reason {
                    Reason::Due { cycle_days, due_day } => {
                        due_in_window(cycle_days, due_day, as_of_day, window_days.0, window_days.1)
                    }
                    _ => in_window(r.score),
                };
                out.push(CandidateInput {
                    product,
                    kind,
                    p0,
                    affinity: affinity_of(c, r.item).max(r.score),
                    reason: String::new(),
                });
                why.push((r.item, r.reason));
            }
            for &t in &trial {
                if !out.iter().any(|c| c.product == t) {
                    let p = &products[t as usize];
                    out.push(CandidateInput {
                        product: t,
                        kind: Kind::Trial,
                        p0: 0.0,
                        affinity: affinity_in(c, catalogue.category_of(&p.sku)),
                        reason: format!("new from {} to try", if p.brand.is_empty() { &p.supplier } else { &p.brand }),
                    });
                    why.push((u32::MAX, Reason::Popular)); // has its words
                }
            }
            candidates.insert(key.clone(), (out, why));
            Ok(())
        },
    )?;
    // Non-personal offers: the trial products and the chain's best sellers, valued with
    // the share of customers who bought each in the last horizon (the same for everyone).
    let segment_top: HashMap<String, Vec<u32>> = by_segment
        .into_iter()
        .map(|(seg, counts)| {
            let mut v: Vec<(u32, u32)> =
                counts.into_iter().filter_map(|(i, n)| item_product[i as usize].map(|p| (p, n))).collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            (seg.to_string(), v.into_iter().take(50).map(|(p, _)| p).collect())
        })
        .collect();
    let best_sellers: Vec<(u32, f64)> = model
        .best_sellers()
        .iter()
        .filter_map(|&i| {
            item_product[i as usize].map(|p| (p, f64::from(recent_buyers[i as usize]) / f64::from(active.max(1))))
        })
        .take(200)
        .collect();
    let mut generic: Vec<CandidateInput> = trial
        .iter()
        .map(|&t| CandidateInput {
            product: t,
            kind: Kind::Trial,
            p0: 0.0,
            affinity: AVERAGE_AFFINITY,
            reason: "new to try".into(),
        })
        .collect();
    for &item in model.best_sellers().iter() {
        if generic.len() >= trial.len() + GENERIC_BEST_SELLERS {
            break;
        }
        if let Some(product) = item_product[item as usize]
            && policy.allows(&products[product as usize])
            && !generic.iter().any(|g| g.product == product)
        {
            let pop = f64::from(recent_buyers[item as usize]) / f64::from(active.max(1));
            generic.push(CandidateInput {
                product,
                kind: Kind::CrossSell,
                p0: in_window(pop),
                // An unprofiled customer leans to no category: the scale's average.
                affinity: AVERAGE_AFFINITY,
                reason: "one of our best sellers".into(),
            });
        }
    }

    // Sensitivity: each customer's rank of discount share.
    let mut shares: Vec<f64> = profiles.iter().map(|p| p.discount_share).collect();
    shares.sort_by(f64::total_cmp);
    let rank = |v: f64| {
        let below = shares.partition_point(|s| *s < v);
        let upto = shares.partition_point(|s| *s <= v);
        ((below + upto) as f64 / 2.0) / shares.len().max(1) as f64
    };
    let mut whys: Vec<Vec<Why>> = Vec::with_capacity(profiles.len());
    let customers: Vec<CustomerInput> = profiles
        .iter()
        .map(|p| CustomerInput {
            key: p.key.clone(),
            segment: p.segment.clone(),
            store: p.store.clone(),
            clv_cents: p.clv_cents,
            p_alive: p.p_alive,
            sensitivity: rank(p.discount_share),
            marketing: granted(&p.key, unico_store::Purpose::Marketing),
            profiling: granted(&p.key, unico_store::Purpose::Profiling),
            candidates: {
                let (list, why) = candidates.remove(&p.key).unwrap_or_default();
                whys.push(why);
                list
            },
            blocked: {
                let mut b: Vec<u32> = recent
                    .get(&p.key)
                    .map(|skus| skus.iter().filter_map(|s| product_index.get(s.as_str()).copied()).collect())
                    .unwrap_or_default();
                b.sort_unstable();
                b
            },
            recent_offers: recent_count.get(&p.key).copied().unwrap_or(0),
            ..Default::default()
        })
        .map(|mut c| {
            if let Some((cats, spend)) = extras.remove(&c.key) {
                (c.categories, c.spend) = (cats, spend);
            }
            c
        })
        .collect();

    let learned = read_response(&dir.model_dir())?;
    let secret = dir.offer_secret()?;
    drop(segment_of);
    let item_names: Vec<String> = parts.skus.iter().map(|s| catalogue.name_of(s).to_string()).collect();
    Ok(Prepared {
        whys,
        item_names,
        category_names: catalogue.categories.clone(),
        as_of_day,
        policy,
        products,
        categories,
        margin_rate,
        customers,
        generic,
        cards,
        consents,
        learned,
        secret,
        segment_top,
        best_sellers,
    })
}

/// The response a plan values offers with: one Thompson draw from the learned model,
/// seeded by the policy.
pub fn response_for(p: &Prepared) -> unico_offers::response::Response {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(p.policy.seed);
    p.learned.response(&p.policy.percent_off, Some(&mut rng))
}

/// `unico plan`.
pub fn run(data: &Path, args: &PlanArgs) -> Result<()> {
    let started = Instant::now();
    let dir = DataDir::open(data)?;
    if args.out.join("campaign.json").exists() {
        bail!("{} already holds a campaign; choose another --out", args.out.display());
    }
    let prepared = prepare(&dir, &args.policy, args.as_of.as_deref())?;
    let id = format!("{} {}", prepared.policy.name, prepared.policy.valid_from);
    let rt = crate::customers::runtime()?;
    let store = dir.store(&rt)?;
    if !args.dry_run && rt.block_on(store.has_campaign(&id))? {
        bail!("the campaign {id:?} is already stored; rename it in the policy, or plan with --dry-run");
    }
    let p = &prepared;
    let planned = p.plan(&response_for(p));
    let granted = |key: &str, purpose: unico_store::Purpose| p.granted(key, purpose);
    write(&args.out, &p.policy, &p.products, &p.categories, &p.customers, &p.cards, &planned, &granted)?;
    if !args.dry_run {
        let (campaign, offers, members) = to_store(&id, &args.policy, &args.out, p, &planned)?;
        let stored = rt.block_on(store.store_campaign(&campaign, &offers, &members));
        rt.block_on(store.close());
        if let Err(e) = stored {
            // Nothing half-done: the files go too.
            let _ = std::fs::remove_dir_all(&args.out);
            return Err(e).context("cannot store the campaign; nothing was planned");
        }
    } else {
        rt.block_on(store.close());
    }
    print_summary(&p.policy, &p.customers, &planned, &args.out);
    if args.dry_run {
        println!("  dry run: not stored for the app and the tills");
    } else {
        println!("  stored as {id:?}: the app shows the offers, the tills accept the codes");
    }
    eprintln!("planned in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The campaign as the operational store keeps it.
fn to_store(
    id: &str,
    policy_path: &Path,
    out: &Path,
    p: &Prepared,
    planned: &Plan,
) -> Result<(
    unico_store::campaigns::Campaign,
    Vec<unico_store::campaigns::StoredOffer>,
    Vec<unico_store::campaigns::Member>,
)> {
    use unico_store::campaigns::{Campaign, Member, StoredOffer};
    let campaign = Campaign {
        id: id.to_string(),
        name: p.policy.name.clone(),
        valid_from: p.policy.valid_from.to_string(),
        valid_to: p.policy.valid_to.to_string(),
        seed: p.policy.seed as i64,
        policy: std::fs::read_to_string(policy_path)?,
        summary: std::fs::read_to_string(out.join("campaign.json"))?,
    };
    let offers = planned
        .offers
        .iter()
        .map(|o| {
            let what = Subject::of(&p.products, &p.categories, o);
            let (buy, pay, min_spend) = mechanic_terms(o.mechanic);
            StoredOffer {
                code: o.code.clone(),
                customer_key: p.customers[o.customer as usize].key.clone(),
                rank: i64::from(o.rank),
                sku: what.sku.to_string(),
                target: what.target.to_string(),
                category: (what.target == "category").then(|| what.category.to_string()),
                mechanic: o.mechanic.as_str().to_string(),
                buy_units: i64::from(buy),
                pay_units: i64::from(pay),
                min_spend_cents: min_spend,
                kind: o.kind.as_str().to_string(),
                percent_off: i64::from(o.percent),
                discount_cents: o.discount_cents,
                valid_from: campaign.valid_from.clone(),
                valid_to: campaign.valid_to.clone(),
                p_redeem: o.p_redeem,
                expected_cost_cents: o.expected_cost.round() as i64,
                expected_incremental_margin_cents: o.incremental_margin.round() as i64,
                personal: o.personal,
                reason: o.reason.clone(),
                p0: o.p0,
                affinity: o.affinity,
                band: o.band as i64,
            }
        })
        .collect();
    let members = p
        .customers
        .iter()
        .zip(&planned.status)
        .filter(|(_, s)| matches!(s, Status::Personal | Status::Generic | Status::Holdout | Status::NoOffer))
        .map(|(c, s)| Member {
            customer_key: c.key.clone(),
            status: s.as_str().to_string(),
            segment: c.segment.clone(),
            store_id: c.store.clone(),
            offer_type: if c.profiling { "personal" } else { "generic" }.to_string(),
        })
        .collect();
    Ok((campaign, offers, members))
}

/// Days of history the category and spend figures of a customer are taken over.
const STATS_DAYS: i32 = 182;
/// Categories per customer considered for category-wide offers (their largest shares).
const CATEGORY_CANDIDATES: usize = 5;

/// A customer's shopping over the last [`STATS_DAYS`]: what each day came to and the days
/// they bought in each category.
struct Shopping {
    /// Days observed (from their first purchase in the period), at least 1.
    span_days: f64,
    /// Net spend of each shopping day, cents (a day's receipts together: one trip).
    days: Vec<i64>,
    /// (category, days with a purchase in it), by category.
    category_days: Vec<(u32, u32)>,
}

impl Shopping {
    fn of(records: &[unico_model::lines::LineRecord], category_of_item: &[u32], since: i32, as_of: i32) -> Shopping {
        let recent: Vec<&unico_model::lines::LineRecord> = records.iter().filter(|r| r.day > since).collect();
        let first = recent.iter().map(|r| r.day).min().unwrap_or(as_of);
        let mut by_day: std::collections::BTreeMap<i32, i64> = Default::default();
        let mut pairs: Vec<(u32, i32)> = Vec::with_capacity(recent.len());
        for r in &recent {
            *by_day.entry(r.day).or_default() += r.net_cents;
            pairs.push((category_of_item[r.item as usize], r.day));
        }
        pairs.sort_unstable();
        pairs.dedup();
        let mut category_days: Vec<(u32, u32)> = Vec::new();
        for (cat, _) in pairs {
            match category_days.last_mut() {
                Some((c, n)) if *c == cat => *n += 1,
                _ => category_days.push((cat, 1)),
            }
        }
        Shopping {
            span_days: f64::from((as_of - first + 1).max(1)),
            days: by_day.into_values().filter(|v| *v > 0).collect(),
            category_days,
        }
    }

    /// Their main categories as candidates: `p0` from how often they shop each (a Poisson
    /// rate over the window), the affinity from their share of wallet (as for products)
    /// times the chance they shop at all in the window (P(alive) and their trip rate): an
    /// offer cannot move someone who does not come.
    fn categories(
        &self,
        shares: &[(u32, f32)],
        n_categories: f64,
        window: f64,
        p_alive: f64,
        names: &[String],
    ) -> Vec<CategoryCandidate> {
        let comes = p_alive.clamp(0.0, 1.0) * (1.0 - (-(self.days.len() as f64) / self.span_days * window).exp());
        let mut by_share: Vec<(u32, f32)> = shares.to_vec();
        by_share.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        by_share
            .into_iter()
            .filter(|(c, _)| names.get(*c as usize).is_some_and(|n| n != unico_model::habits::UNKNOWN_CATEGORY))
            .take(CATEGORY_CANDIDATES)
            .map(|(cat, share)| {
                let days = self.category_days.iter().find(|(c, _)| *c == cat).map_or(0, |(_, n)| *n);
                let rate = f64::from(days) / self.span_days;
                let r = f64::from(share) * n_categories;
                let name = &names[cat as usize];
                let reason = match days {
                    0 => format!("you used to buy {name}"),
                    1 => format!("you bought {name} lately"),
                    _ => format!("you shop for {name} about every {:.0} days", self.span_days / f64::from(days)),
                };
                CategoryCandidate {
                    category: cat,
                    p0: p_alive.clamp(0.0, 1.0) * (1.0 - (-rate * window).exp()),
                    affinity: (r / (1.0 + r)).clamp(0.02, 0.95) * comes,
                    reason,
                }
            })
            .collect()
    }

    /// For each spend reward (threshold, reward): the chance one of the window's trips
    /// reaches the threshold anyway; the chance one falls short by at most half of it (near
    /// enough to top up); and what such a trip would add to reach it. Both chances are
    /// weighed by P(alive): a customer who has left makes no trip.
    fn spend(&self, rewards: &[(i64, i64)], window: f64, p_alive: f64) -> Vec<SpendInput> {
        let alive = p_alive.clamp(0.0, 1.0);
        let n = self.days.len();
        if n == 0 {
            return vec![SpendInput::default(); rewards.len()];
        }
        let trips = n as f64 / self.span_days * window;
        let mut sorted = self.days.clone();
        sorted.sort_unstable();
        let median = sorted[n / 2];
        rewards
            .iter()
            .map(|&(min, _)| {
                let over = sorted.iter().filter(|d| **d >= min).count() as f64 / n as f64;
                let near: Vec<i64> = sorted.iter().copied().filter(|d| *d >= min / 2 && *d < min).collect();
                let near_share = near.len() as f64 / n as f64;
                let top_up = if near.is_empty() {
                    min as f64 / 4.0
                } else {
                    min as f64 - near.iter().sum::<i64>() as f64 / near.len() as f64
                };
                SpendInput {
                    p0: alive * (1.0 - (1.0 - over).powf(trips)),
                    reach: alive * (1.0 - (1.0 - near_share).powf(trips)),
                    top_up_cents: top_up,
                    reason: format!("your shopping usually comes to about {}", unico_offers::plan::euros(median)),
                }
            })
            .collect()
    }
}

/// The learned response model (the prior when no campaign was learned from yet).
pub fn read_response(model_dir: &Path) -> Result<ResponseModel> {
    let path = model_dir.join(RESPONSE_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| format!("{} is damaged", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ResponseModel::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn cents(v: f64) -> String {
    format!("{}", v.round() as i64)
}

/// Writes the campaign to a temporary directory beside `out` and renames it into place,
/// so a crash never leaves half a campaign.
#[allow(clippy::too_many_arguments)]
fn write(
    out: &Path,
    policy: &Policy,
    products: &[Product],
    categories: &[CategoryInput],
    customers: &[CustomerInput],
    cards: &HashMap<String, String>,
    planned: &Plan,
    granted: &dyn Fn(&str, unico_store::Purpose) -> bool,
) -> Result<()> {
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let tmp = tempfile::Builder::new().prefix(".campaign-").tempdir_in(parent)?;
    let id = |c: &CustomerInput| cards.get(&c.key).cloned().unwrap_or_default();

    let mut w = csv::Writer::from_path(tmp.path().join("offers.csv"))?;
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

    let mut w = csv::Writer::from_path(tmp.path().join("customers.csv"))?;
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
            let mut by: Vec<serde_json::Value> = Vec::new();
            let mut current: Option<(u32, Vec<serde_json::Value>)> = None;
            let flush = |cur: Option<(u32, Vec<serde_json::Value>)>, by: &mut Vec<serde_json::Value>| {
                if let Some((ci, offers)) = cur {
                    let c = &customers[ci as usize];
                    by.push(serde_json::json!({ "customer_id": id(c), "offers": offers }));
                }
            };
            for o in planned.offers.iter().filter(|o| accepted(&customers[o.customer as usize])) {
                if current.as_ref().is_none_or(|(ci, _)| *ci != o.customer) {
                    flush(current.take(), &mut by);
                    current = Some((o.customer, Vec::new()));
                }
                let what = Subject::of(products, categories, o);
                let (buy, pay, min_spend) = mechanic_terms(o.mechanic);
                current.as_mut().expect("set").1.push(serde_json::json!({
                    "code": o.code, "target": what.target, "sku": what.sku, "product": what.name,
                    "category": what.category, "mechanic": o.mechanic.as_str(), "percent_off": o.percent,
                    "discount_cents": o.discount_cents, "buy_units": buy, "pay_units": pay,
                    "min_spend_cents": min_spend, "valid_from": from, "valid_to": to, "reason": o.reason,
                }));
            }
            flush(current, &mut by);
            std::fs::write(tmp.path().join("app.json"), serde_json::to_vec_pretty(&by)?)?;
        } else {
            let mut w = csv::Writer::from_path(tmp.path().join(format!("{channel}.csv")))?;
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
    let summary = serde_json::json!({
        "name": policy.name,
        "valid_from": from,
        "valid_to": to,
        "seed": policy.seed,
        "objective": policy.objective.as_str(),
        "budget": {
            "total_cents": policy.total_cents,
            "basis": policy.basis.as_str(),
            "worst_case_cents": policy.worst_case_cents,
            "expected_cost_cents": planned.expected_cost.round() as i64,
            "worst_cost_cents": planned.worst_cost.round() as i64,
            "limits": policy.limits.iter().zip(&planned.limit_usage).map(|(l, u)| serde_json::json!({
                "scope": l.scope.describe(), "cents": l.cents, "used_cents": u.round() as i64, "supplier_funded": l.supplier_funded,
            })).collect::<Vec<_>>(),
        },
        "expected_incremental_margin_cents": planned.incremental_margin.round() as i64,
        "objective_cents": planned.value.round() as i64,
        "objective_upper_bound_cents": planned.upper_bound.round() as i64,
        "offers": offers,
        "customers": by_status,
        "distinct_offer_sets": distinct,
        "multipliers": planned.multipliers,
    });
    std::fs::write(tmp.path().join("campaign.json"), serde_json::to_vec_pretty(&summary)?)?;
    let kept = tmp.keep();
    if out.exists() {
        // An empty directory given as --out: replace it.
        std::fs::remove_dir(out).with_context(|| format!("{} exists and is not empty", out.display()))?;
    }
    std::fs::rename(&kept, out).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(())
}

/// What an offer is on, for files and the store.
struct Subject<'a> {
    /// `product`, `category` or `basket`.
    target: &'static str,
    /// The product's sku (empty otherwise).
    sku: &'a str,
    /// The product's name, "any item of Coffee" or "your shopping".
    name: String,
    /// The product's or the offer's category (empty for a basket).
    category: &'a str,
}

impl<'a> Subject<'a> {
    fn of(products: &'a [Product], categories: &'a [CategoryInput], o: &PlannedOffer) -> Subject<'a> {
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
fn mechanic_terms(m: Mechanic) -> (u32, u32, i64) {
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

fn print_summary(policy: &Policy, customers: &[CustomerInput], planned: &Plan, out: &Path) {
    let count = |s: Status| planned.status.iter().filter(|x| **x == s).count();
    let with = count(Status::Personal) + count(Status::Generic);
    println!("campaign {:?}, {} to {}: {}", policy.name, policy.valid_from, policy.valid_to, out.display());
    println!(
        "  {} customers: {} with personal offers, {} non-personal only (no profiling consent), {} held out, {} outside the policy, {} without marketing consent, {} with no offer worth its cost",
        customers.len(),
        count(Status::Personal),
        count(Status::Generic),
        count(Status::Holdout),
        count(Status::Excluded),
        count(Status::NoConsent),
        count(Status::NoOffer)
    );
    println!(
        "  {} offers, {} distinct offer sets among {} customers",
        planned.offers.len(),
        distinct_sets(planned),
        with
    );
    println!(
        "  budget {} (basis {}): expected cost {}, worst case {}; expected incremental margin {}",
        unico_offers::plan::euros(policy.total_cents),
        policy.basis.as_str(),
        unico_offers::plan::euros(planned.expected_cost.round() as i64),
        unico_offers::plan::euros(planned.worst_cost.round() as i64),
        unico_offers::plan::euros(planned.incremental_margin.round() as i64)
    );
}

#[derive(clap::Args)]
pub struct LearnArgs {
    /// The campaign directory `unico plan` wrote.
    #[arg(long)]
    campaign: PathBuf,
    /// The redeemed offers: a CSV with a `code` column (from the tills or the web shop).
    #[arg(long)]
    redemptions: PathBuf,
}

/// `unico learn`: updates the response model with a campaign's outcome — every percent-off
/// offer it sent, redeemed or not. A campaign is learned from once.
pub fn learn(data: &Path, args: &LearnArgs) -> Result<()> {
    use unico_offers::response::Observation;
    let dir = DataDir::open(data)?;
    let campaign: serde_json::Value = serde_json::from_slice(
        &std::fs::read(args.campaign.join("campaign.json"))
            .with_context(|| format!("{} is not a campaign directory (no campaign.json)", args.campaign.display()))?,
    )?;
    let id = format!(
        "{} {}",
        campaign["name"].as_str().unwrap_or_default(),
        campaign["valid_from"].as_str().unwrap_or_default()
    );
    // The offers sent, by normalised code.
    let mut sent: HashMap<String, (Observation, bool)> = HashMap::new();
    let mut r = csv::Reader::from_path(args.campaign.join("offers.csv"))?;
    let h = r.headers()?.clone();
    let col = |n: &str| h.iter().position(|x| x == n).with_context(|| format!("offers.csv has no {n} column"));
    let (ci, pi, p0i, ai, bi) = (col("code")?, col("percent_off")?, col("p0")?, col("affinity")?, col("band")?);
    let di = col("discount_cents")?;
    // Offer types (campaigns planned before them have none of these columns: one-unit offers).
    let opt = |n: &str| h.iter().position(|x| x == n);
    let (mi, bui, pai, msi) = (opt("mechanic"), opt("buy_units"), opt("pay_units"), opt("min_spend_cents"));
    // Every code of the campaign with its discount on one unit, for the store's redemptions.
    let mut codes: HashMap<String, (String, i64)> = HashMap::new();
    for rec in r.records() {
        let rec = rec?;
        codes.insert(unico_offers::code::normalise(&rec[ci]), (rec[ci].to_string(), rec[di].parse()?));
        let percent: u32 = rec[pi].parse()?;
        let num = |i: Option<usize>| -> Result<i64> { Ok(i.map(|i| rec[i].parse()).transpose()?.unwrap_or(0)) };
        let (arm, depth_percent) = match mi.map(|i| &rec[i]) {
            Some("multi_buy") => {
                let (buy, pay) = (num(bui)? as u32, num(pai)? as u32);
                (Arm::MultiBuy { buy, pay }, unico_offers::plan::multi_buy_depth(buy, pay))
            }
            Some("spend_reward") => (Arm::Spend, unico_offers::plan::spend_depth(num(msi)?, rec[di].parse()?)),
            // Amounts off one unit: their depth differs by price, not learned per depth.
            _ if percent == 0 => continue,
            _ => (Arm::Percent, percent),
        };
        let o = Observation {
            band: rec[bi].parse()?,
            arm,
            depth_percent,
            p0: rec[p0i].parse()?,
            affinity: rec[ai].parse()?,
            redeemed: false,
        };
        sent.insert(unico_offers::code::normalise(&rec[ci]), (o, false));
    }
    // The redemptions; unknown codes go to the rejects file with their line.
    let mut r = csv::Reader::from_path(&args.redemptions)
        .with_context(|| format!("cannot read {}", args.redemptions.display()))?;
    let h = r.headers()?.clone();
    let Some(code_col) = h.iter().position(|x| x.trim().eq_ignore_ascii_case("code")) else {
        bail!("{} has no code column", args.redemptions.display());
    };
    let at_col = h.iter().position(|x| x.trim().eq_ignore_ascii_case("redeemed_at"));
    let discount_col = h.iter().position(|x| x.trim().eq_ignore_ascii_case("discount_cents"));
    let campaign_end = campaign["valid_to"].as_str().unwrap_or_default().to_string();
    // (code, when, discount) of every redemption, recorded in the store for the KPIs.
    let mut to_store: Vec<(String, String, i64)> = Vec::new();
    let mut seen_codes: std::collections::HashSet<String> = std::collections::HashSet::new();
    let rejects_path = dir.root.join("rejects").join(format!(
        "redemptions-{}.csv",
        id.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect::<String>()
    ));
    let mut rejects: Vec<(u64, String, String)> = Vec::new();
    let (mut redeemed, mut lines) = (0u64, 0u64);
    for (i, rec) in r.records().enumerate() {
        let line = i as u64 + 2;
        lines += 1;
        let rec = rec.with_context(|| format!("{} line {line}", args.redemptions.display()))?;
        let code = rec.get(code_col).unwrap_or_default();
        let normal = unico_offers::code::normalise(code);
        if !seen_codes.insert(normal.clone()) {
            rejects.push((line, code.to_string(), "redeemed twice".into()));
            continue;
        }
        let Some((stored_code, planned_discount)) = codes.get(&normal) else {
            rejects.push((line, code.to_string(), "not an offer of this campaign".into()));
            continue;
        };
        let at = at_col.and_then(|i| rec.get(i)).filter(|s| !s.trim().is_empty()).unwrap_or(&campaign_end);
        let discount = match discount_col.and_then(|i| rec.get(i)).filter(|s| !s.trim().is_empty()) {
            Some(d) => match d.trim().parse::<i64>() {
                Ok(d) => d,
                Err(_) => {
                    rejects.push((line, code.to_string(), format!("discount_cents {d:?} is not a whole number")));
                    continue;
                }
            },
            None => *planned_discount,
        };
        to_store.push((stored_code.clone(), at.trim().to_string(), discount));
        redeemed += 1;
        if let Some((_, r)) = sent.get_mut(&normal) {
            *r = true; // amounts off are recorded, not learned per depth
        }
    }
    if !rejects.is_empty() {
        let mut w = csv::Writer::from_path(&rejects_path)?;
        w.write_record(["line", "code", "reason"])?;
        for (line, code, why) in &rejects {
            w.write_record([line.to_string().as_str(), code, why])?;
        }
        w.flush()?;
    }
    let observations: Vec<Observation> = sent.into_values().map(|(o, r)| Observation { redeemed: r, ..o }).collect();
    let mut model = read_response(&dir.model_dir())?;
    if !model.learn_campaign(&id, &observations) {
        bail!("the campaign {id:?} was already learned from; nothing changed");
    }
    // The redemptions go to the store (each code once: a code redeemed at a till already
    // stays as it was), where the KPIs count them.
    let rt = crate::customers::runtime()?;
    let store = dir.store(&rt)?;
    let mut recorded = 0;
    for (code, at, discount) in &to_store {
        recorded += u64::from(rt.block_on(store.redeem_offer(code, at, *discount))?);
    }
    rt.block_on(store.close());
    let path = dir.model_dir().join(RESPONSE_FILE);
    std::fs::create_dir_all(dir.model_dir())?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(&model)?)?;
    std::fs::rename(&tmp, &path)?;
    println!(
        "learned from {id:?}: {} offers, {redeemed} redeemed ({recorded} recorded in the store; {} redemption lines, {} rejected{})",
        observations.len(),
        lines,
        rejects.len(),
        if rejects.is_empty() { String::new() } else { format!(": {}", rejects_path.display()) }
    );
    println!("share of customers moved by a discount (g), by price-sensitivity band and depth:");
    for ((band, arm, depth), n) in model.observations() {
        let what = match arm {
            Arm::Percent => String::new(),
            Arm::MultiBuy { buy, pay } => format!(" ({buy} for {pay})"),
            Arm::Spend => " (spend reward)".to_string(),
        };
        println!("  band {} depth {depth:>2}%{what}: {:.3} ({n} offers)", band + 1, model.mean_of(band, arm, depth));
    }
    Ok(())
}

/// Spread of the next purchase around the cycle (log-normal σ): a quartile is about a
/// quarter of a cycle early or late.
const CYCLE_SPREAD: f64 = 0.4;

/// P(the next purchase falls in `[from, to]` | it has not happened by `as_of`), with the
/// gap from the last purchase (`due_day − cycle`) log-normal around the cycle. An overdue
/// product keeps a high chance: a third of receipts carry no card, so a purchase the data
/// does not show is likelier than a habit dropped (measured in the simulator: treating
/// long-overdue products as probably abandoned cut Unico's share of the oracle's margin
/// from 67–77 % to 58–63 %).
pub fn due_in_window(cycle_days: f64, due_day: i32, as_of: i32, from: i32, to: i32) -> f64 {
    if cycle_days <= 0.0 {
        return 0.0;
    }
    let last = f64::from(due_day) - cycle_days;
    // P(gap <= d), for a purchase d days after the last one.
    let cdf = |day: f64| {
        let d = day - last;
        if d <= 0.0 {
            return 0.0;
        }
        let z = (d / cycle_days).ln() / CYCLE_SPREAD;
        0.5 * (1.0 + libm::erf(z / std::f64::consts::SQRT_2))
    };
    let survived = 1.0 - cdf(f64::from(as_of) + 0.5);
    if survived <= 1e-12 {
        return 1.0;
    }
    ((cdf(f64::from(to) + 0.5) - cdf(f64::from(from) - 0.5)) / survived).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::due_in_window;

    #[test]
    fn the_chance_of_a_due_purchase_in_the_window() {
        // Bought every 14 days, last on day 0: due day 14. Window days 12..=18, known to day 10.
        let due = due_in_window(14.0, 14, 10, 12, 18);
        assert!(due > 0.5 && due <= 1.0, "{due}");
        // Just bought (due on day 40): almost no chance in the same window.
        assert!(due_in_window(14.0, 40, 30, 12, 18) < 0.01);
        // A window after the due date catches less than one around it.
        assert!(due_in_window(14.0, 14, 10, 26, 32) < due);
        // Long overdue: a purchase is taken as imminent (likely made without the card).
        let late = due_in_window(14.0, 14, 60, 61, 67);
        assert!(late > due && late <= 1.0, "{late}");
        // A wider window never has a lower chance.
        assert!(due_in_window(14.0, 14, 10, 12, 30) >= due);
    }
}
