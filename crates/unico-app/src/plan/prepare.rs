//! Everything a plan is made from: the policy, the product master, every customer's
//! candidates (the recommender's products with their chance of a purchase anyway and the
//! customer's affinity, category-wide offers and spend rewards), consents, cool-downs and
//! frequency caps read from stored campaigns, the learned response and the code key.

use super::shopping::{STATS_DAYS, Shopping, due_in_window};
use super::spill::{Spill, SpillWriter};
use crate::error::{Code, Context, Error, Result};
use crate::progress::{Progress, Unit};
use crate::{App, bail};
use arrow_array::Array;
use std::collections::HashMap;
use std::path::Path;
use unico_core::day::day_of;
use unico_lake::{Dataset, Lake};
use unico_model::habits::Catalogue;
use unico_model::recommend::{self, Reason, Recommender};
use unico_offers::assign::Kind;
use unico_offers::plan::{
    CandidateInput, CategoryCandidate, CategoryInput, CustomerInput, Customers, Inputs, Plan, SpendInput, Step,
    plan_with,
};
use unico_offers::policy::{Policy, Product};
use unico_offers::response::ResponseModel;
use unico_offers::stream::Streaming;

/// A candidate's recommender item and reason (`u32::MAX`: the candidate has its words).
type Why = (u32, Reason);

/// What a customer's plan input holds beyond the fields [`Prepared::customers`] keeps in
/// memory: a record per customer in a temporary file.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Heavy {
    candidates: Vec<CandidateInput>,
    /// Per candidate, its reason, compact (put in words for the chosen offers only).
    whys: Vec<Why>,
    categories: Vec<CategoryCandidate>,
    spend: Vec<SpendInput>,
}

/// A customer's category-wide and spend outlooks, from the first pass over the lines.
type Extras = (Vec<CategoryCandidate>, Vec<SpendInput>);

/// No record.
const NONE: u32 = u32::MAX;

/// Candidates considered per customer (the recommender's best products for them).
pub const CANDIDATES_PER_CUSTOMER: usize = 20;
/// Affinity of a customer whose leaning to a category is average (r = 1 in r / (1 + r)).
const AVERAGE_AFFINITY: f64 = 0.5;
/// Best sellers offered to customers without the profiling consent.
const GENERIC_BEST_SELLERS: usize = 5;

/// The product master as the offers need it.
pub fn products(lake: &Lake) -> Result<Vec<Product>> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    let mut out = Vec::new();
    for file in lake.parquet_files(Dataset::Products)? {
        unico_lake::read::for_each_batch(
            &file,
            &["sku", "name", "category", "brand", "supplier", "list_price_cents", "unit_cost_cents", "department"],
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
                        department: text(7, r),
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

/// The model's profiles as the plan needs them.
fn profiles(model_dir: &Path) -> Result<Vec<ProfileRow>> {
    let mut out = Vec::new();
    let read = unico_model::profiles::for_each_profile(model_dir, |p| {
        out.push(ProfileRow {
            key: p.customer_key,
            segment: p.segment,
            store: p.preferred_store_id,
            clv_cents: p.clv_cents,
            p_alive: p.p_alive,
            discount_share: p.discount_share,
        })
    })
    .context("cannot read the model's profiles")?;
    read.map(|_| out).ok_or_else(|| Error::new(Code::ModelMissing, "no model yet: run `unico model build` first"))
}

/// Everything a plan is made from.
pub struct Prepared {
    /// The policy, checked.
    pub policy: Policy,
    /// The product master.
    pub products: Vec<Product>,
    /// Categories (the catalogue's), for category-wide offers.
    pub categories: Vec<CategoryInput>,
    /// The chain's margin rate on what it sells.
    pub margin_rate: f64,
    /// Names of the recommender's items and of the categories, for the reasons.
    item_names: Vec<String>,
    category_names: Vec<String>,
    /// The model's last day.
    as_of_day: i32,
    /// Every customer, without their candidates, categories and spend outlooks (empty
    /// here): those are in `heavy`, and [`Prepared::full`] puts them back as the plan
    /// reads the customers.
    pub customers: Vec<CustomerInput>,
    /// Per customer (as `customers`): their candidates with their reasons (recommender
    /// item and reason, put in words only for the offers chosen), categories and spend
    /// outlooks, in a temporary file; `heavy_of` numbers each customer's record (`NONE`:
    /// nothing).
    heavy: Spill<Heavy>,
    heavy_of: Vec<u32>,
    /// The non-personal offers (for customers without the profiling consent).
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
    /// Where the plan's options go past its memory budget (the model's spill directory).
    spill_dir: std::path::PathBuf,
}

impl Prepared {
    /// Plans the campaign with the given response, the options of every 16,384 customers
    /// in memory up to 1 GiB and in temporary files after (`unico_offers::stream`), in the
    /// model's spill directory.
    pub fn plan(&self, response: &unico_offers::response::Response, progress: &dyn Progress) -> Result<Plan> {
        let inputs = Inputs {
            policy: &self.policy,
            products: &self.products,
            categories: &self.categories,
            margin_rate: self.margin_rate,
            customers: &self.full(),
            generic: &self.generic,
            response,
            secret: &self.secret,
            explain: Some(&|c, k| self.explain(c, k)),
        };
        let mut offers = Vec::new();
        std::fs::create_dir_all(&self.spill_dir)
            .with_context(|| format!("cannot create {}", self.spill_dir.display()))?;
        let streaming = Streaming { spill_dir: Some(self.spill_dir.clone()), ..Streaming::default() };
        let step = std::sync::Mutex::new(None);
        let report = |s: Step, done: u64, total: u64| {
            let mut current = step.lock().unwrap_or_else(|p| p.into_inner());
            if *current != Some(s) {
                let (what, unit) = match s {
                    Step::Options => ("valuing every customer's options", Unit::Customers),
                    Step::Prices => ("pricing the budgets", Unit::Passes),
                    Step::Offers => ("choosing and writing the offers", Unit::Customers),
                };
                progress.begin(what, unit, total);
                *current = Some(s);
            }
            progress.update(done, total);
        };
        let planned = plan_with(&inputs, &streaming, &mut |o| offers.push(o), &report);
        progress.finish();
        let mut plan = planned.with_context(|| {
            format!("cannot write the plan's options to a temporary file in {}", self.spill_dir.display())
        })?;
        plan.offers = offers;
        Ok(plan)
    }

    /// Every customer as the plan reads them: with their candidates, categories and spend
    /// outlooks, read back from the temporary file range by range.
    pub fn full(&self) -> Full<'_> {
        Full(self)
    }

    /// Every customer with their candidates, in memory: for simulations on small chains,
    /// which change them.
    pub fn full_customers(&self) -> Result<Vec<CustomerInput>> {
        let mut all = Vec::with_capacity(self.customers.len());
        self.full()
            .read(0, self.customers.len(), &mut |_, c| all.push(c.clone()))
            .context("cannot read the customers' candidates back from their temporary file")?;
        Ok(all)
    }

    /// Customer `c`'s record in the temporary file (empty if they have none).
    fn heavy(&self, c: usize, buf: &mut Vec<u8>) -> std::io::Result<Heavy> {
        match self.heavy_of.get(c) {
            Some(&n) if n != NONE => self.heavy.get_with(n, buf),
            _ => Ok(Heavy::default()),
        }
    }

    /// The reason of customer `c`'s candidate `k`, in words (none if the temporary file
    /// cannot be read again: the plan's own read of it has just succeeded).
    fn explain(&self, c: usize, k: usize) -> String {
        let Ok(heavy) = self.heavy(c, &mut Vec::new()) else { return String::new() };
        let Some(&(item, reason)) = heavy.whys.get(k) else { return String::new() };
        if item == u32::MAX {
            return String::new();
        }
        let name = |i: u32| self.item_names.get(i as usize).cloned().unwrap_or_default();
        let why = recommend::reason_words(item, reason, &name, &self.category_names, self.as_of_day);
        match heavy.candidates.get(k).map(|x| x.kind) {
            Some(Kind::WinBack) => format!("we have missed you: {why}"),
            _ => why,
        }
    }

    /// Whether the customer with this key has granted `purpose`.
    pub fn granted(&self, key: &str, purpose: unico_store::Purpose) -> bool {
        self.consents.get(key).is_some_and(|list| list.iter().any(|(q, g)| *q == purpose && *g))
    }
}

/// The customers of a [`Prepared`] with everything the plan reads of them.
pub struct Full<'a>(&'a Prepared);

impl Customers for Full<'_> {
    fn len(&self) -> usize {
        self.0.customers.len()
    }

    fn read(&self, from: usize, to: usize, f: &mut dyn FnMut(usize, &CustomerInput)) -> std::io::Result<()> {
        let mut buf = Vec::new();
        for (i, light) in self.0.customers[from..to].iter().enumerate() {
            let heavy = self.0.heavy(from + i, &mut buf)?;
            let c = CustomerInput {
                candidates: heavy.candidates,
                categories: heavy.categories,
                spend: heavy.spend,
                ..light.clone()
            };
            f(from + i, &c);
        }
        Ok(())
    }
}

/// Reads and checks a policy against the product master: every problem with its line.
/// The rank of `v` among `sorted` values as a share (0–1), ties at their middle: a
/// customer's price sensitivity from their share of spend on promotion.
pub(crate) fn mid_rank(sorted: &[f64], v: f64) -> f64 {
    let below = sorted.partition_point(|s| *s < v);
    let upto = sorted.partition_point(|s| *s <= v);
    ((below + upto) as f64 / 2.0) / sorted.len().max(1) as f64
}

pub(crate) fn read_policy(policy_path: &Path, products: &[Product]) -> Result<Policy> {
    let text =
        std::fs::read_to_string(policy_path).with_context(|| format!("cannot read {}", policy_path.display()))?;
    parse_policy(&text, &policy_path.display().to_string(), products)
}

/// Checks a policy's text against the product master; problems name `file` and their line.
pub(crate) fn parse_policy(text: &str, file: &str, products: &[Product]) -> Result<Policy> {
    Policy::parse(text, products).map_err(|errors| {
        let file = file.to_string();
        let problems = errors
            .into_iter()
            .map(|e| crate::Problem { file: file.clone(), line: e.line, message: e.message })
            .collect::<Vec<_>>();
        Error::with_problems(
            Code::PolicyInvalid,
            format!("the policy {file} has {} problem(s); nothing was planned", problems.len()),
            problems,
        )
    })
}

impl App {
    /// Reads and checks the policy and gathers the customers, their candidates and
    /// consents; `window` replaces the policy's validity (a simulation's later rounds).
    pub fn prepare_campaign(
        &self,
        policy_path: &Path,
        as_of: Option<&str>,
        window: Option<(jiff::civil::Date, jiff::civil::Date)>,
        progress: &dyn Progress,
    ) -> Result<Prepared> {
        prepare(self, policy_path, as_of, window, progress)
    }
}

fn prepare(
    app: &App,
    policy_path: &Path,
    as_of: Option<&str>,
    window: Option<(jiff::civil::Date, jiff::civil::Date)>,
    progress: &dyn Progress,
) -> Result<Prepared> {
    let settings = &app.settings().model;
    let lake = app.lake_view()?;
    let products = products(&lake)?;
    let mut policy = read_policy(policy_path, &products)?;
    if let Some((from, to)) = window {
        (policy.valid_from, policy.valid_to) = (from, to);
    }
    // One build for the whole plan: its parameters and profiles from one version.
    let model_dir = app.model_dir();
    let params = app.model_params_in(&model_dir)?;
    if let Some(d) = as_of
        && d != params.as_of
    {
        bail!(
            Code::ModelMissing,
            "the model was built as of {}; run `unico model build --as-of {d}` first",
            params.as_of
        );
    }
    let as_of: jiff::civil::Date = params.as_of.parse().context("model.json has a bad as_of")?;
    if policy.valid_from <= as_of {
        bail!(
            Code::PolicyInvalid,
            "the campaign starts on {} but the model knows receipts up to {as_of}: offers must start after the data",
            policy.valid_from
        );
    }

    // Customers: profiles, consents and card ids.
    progress.message("reading the model's profiles");
    let profiles = profiles(&model_dir)?;
    // The cool-down: products offered to a customer by campaigns that started within it.
    let since = policy.valid_from.checked_sub(jiff::Span::new().days(i64::from(policy.cooldown_days)))?;
    let this = policy.campaign_id();
    // The frequency cap: offers of other campaigns starting within its window.
    let cap_since =
        policy.valid_from.checked_sub(jiff::Span::new().days(i64::from(policy.frequency_cap_days.max(1) - 1)))?;
    progress
        .message(&format!("reading {} customers' consents, cards and recent offers from the store", profiles.len()));
    let (consents, cards, recent, capped) = app.with_store(async |store| {
        let consents = store.consents_by_key().await?;
        let cards = store.cards().await?;
        let recent = store.offered_since(&since.to_string(), &this).await?;
        let capped = match policy.frequency_cap_offers {
            Some(_) => store.offered_since(&cap_since.to_string(), &this).await?,
            None => Vec::new(),
        };
        Ok((consents, cards, recent, capped))
    })?;
    let mut recent_count: HashMap<String, u32> = HashMap::new();
    for (key, _) in capped {
        *recent_count.entry(key).or_default() += 1;
    }
    let mut recent_by_key: HashMap<String, Vec<String>> = HashMap::new();
    for (key, sku) in recent {
        recent_by_key.entry(key).or_default().push(sku);
    }
    let recent = recent_by_key;
    let consents: HashMap<String, Vec<(unico_store::Purpose, bool)>> = consents.into_iter().collect();
    // A person with several cards: every card's key maps to the least of them, so the
    // holdout is drawn per person (rows come ordered by customer).
    let mut person: HashMap<String, String> = HashMap::new();
    for same in cards.chunk_by(|a, b| a.0 == b.0).filter(|c| c.len() > 1) {
        let least = same.iter().map(|c| c.2.as_str()).min().unwrap_or_default();
        for c in same {
            person.insert(c.2.clone(), least.to_string());
        }
    }
    let cards: HashMap<String, String> = cards.into_iter().map(|(_, card, key)| (key, card)).collect();
    let granted = |key: &str, p: unico_store::Purpose| {
        consents.get(key).is_some_and(|list| list.iter().any(|(q, g)| *q == p && *g))
    };
    let segment_of: HashMap<&str, &str> = profiles.iter().map(|p| (p.key.as_str(), p.segment.as_str())).collect();

    // Candidates: the recommender's best products for each customer.
    let as_of_day = day_of(as_of);
    let parts = app.scan_lines(&lake, as_of, progress)?;
    let catalogue = Catalogue::load(&lake)?;
    let category_of_item: Vec<u32> = parts.skus.iter().map(|s| catalogue.category_of(s)).collect();
    let total = parts.keys.len() as u64;
    progress.message(&format!("fitting the recommender on {total} customers' lines"));
    let model = Recommender::fit(&parts, &category_of_item, &settings.recommend)?;
    let product_index: HashMap<&str, u32> =
        products.iter().enumerate().map(|(i, p)| (p.sku.as_str(), i as u32)).collect();
    let item_product: Vec<Option<u32>> = parts.skus.iter().map(|s| product_index.get(s.as_str()).copied()).collect();
    let window = policy.window_days() as f64;
    let horizon = f64::from(settings.recommend.horizon_days);
    // P(purchase within the window) from P(within the horizon) under a constant rate.
    let in_window = |score: f64| 1.0 - (1.0 - score.clamp(0.0, 0.999_999)).powf(window / horizon);
    let window_days = (day_of(policy.valid_from), day_of(policy.valid_to));
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
    // They go to a temporary file as they come (a record per customer of the lines).
    let spill_dir = app.model_root().join("tmp");
    std::fs::create_dir_all(&spill_dir).with_context(|| format!("cannot create {}", spill_dir.display()))?;
    let spill_error = |e: std::io::Error| {
        Error::new(
            Code::Io,
            format!("cannot write the plan's customers to a temporary file in {}: {e}", spill_dir.display()),
        )
    };
    let mut extras: Option<SpillWriter<Extras>> = None;
    let mut extras_of = Vec::new();
    let mut failed: Option<std::io::Error> = None;
    let stats_since = as_of_day - STATS_DAYS;
    let wants_categories = !policy.category_percent_off.is_empty();
    let wants_spend = !policy.spend_reward.is_empty();
    if wants_categories || wants_spend {
        extras = Some(SpillWriter::new(&spill_dir).map_err(spill_error)?);
        extras_of = vec![NONE; parts.keys.len()];
    }
    let p_alive_of: HashMap<&str, f64> = profiles.iter().map(|p| (p.key.as_str(), p.p_alive)).collect();
    let mut recent_buyers = vec![0u32; parts.skus.len()];
    let mut active = 0u32;
    let since = as_of_day - settings.recommend.horizon_days as i32;
    let mut by_segment: HashMap<&str, HashMap<u32, u32>> = HashMap::new();
    // A bar per pass over the customers' lines (a few minutes each at a billion lines).
    let tick = |done: &mut u64, what: &str| {
        if *done == 0 {
            progress.begin(what, Unit::Customers, total);
        }
        *done += 1;
        if done.is_multiple_of(1 << 16) || *done == total {
            progress.update(*done, total);
        }
    };
    let mut done = 0u64;
    parts.for_each_customer(|c, records| {
        tick(&mut done, "summing each customer's categories and spend");
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
            if let Some(out) = extras.as_mut()
                && failed.is_none()
            {
                let shopping = Shopping::of(records, &category_of_item, stats_since, as_of_day);
                let key = parts.keys[c as usize].as_str();
                let alive = p_alive_of.get(key).copied().unwrap_or(1.0);
                let cats = if wants_categories {
                    shopping.categories(&v, n_categories, window, alive, &catalogue.categories)
                } else {
                    Vec::new()
                };
                let spend = if wants_spend { shopping.spend(&policy.spend_reward, window, alive) } else { Vec::new() };
                match out.push(&(cats, spend)) {
                    Ok(n) => extras_of[c as usize] = n,
                    Err(e) => failed = Some(e),
                }
            }
            category_share[c as usize] = v;
        }
    })?;
    progress.finish();
    if let Some(e) = failed.take() {
        return Err(spill_error(e));
    }
    let extras = extras.map(SpillWriter::finish).transpose().map_err(spill_error)?;
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
    // Each customer's record (candidates and extras) to the temporary file, numbered by
    // their place among the profiles.
    let profile_of: HashMap<&str, u32> = profiles.iter().enumerate().map(|(i, p)| (p.key.as_str(), i as u32)).collect();
    let mut heavy = SpillWriter::<Heavy>::new(&spill_dir).map_err(spill_error)?;
    let mut heavy_of = vec![NONE; profiles.len()];
    let mut buf = Vec::new();
    let mut done = 0u64;
    recommend::recommend_all(
        &parts,
        &model,
        as_of_day,
        CANDIDATES_PER_CUSTOMER,
        false,
        &settings.habits,
        |c, list| {
            tick(&mut done, "recommending each customer's candidates");
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
            let Some(&at) = profile_of.get(key.as_str()) else { return Ok(()) };
            let io =
                |e: std::io::Error| unico_model::Error::new(unico_model::ErrorKind::Io, spill_error(e).to_string());
            let (categories, spend) = match (&extras, extras_of.get(c as usize)) {
                (Some(file), Some(&n)) if n != NONE => file.get_with(n, &mut buf).map_err(io)?,
                _ => Default::default(),
            };
            heavy_of[at as usize] = heavy.push(&Heavy { candidates: out, whys: why, categories, spend }).map_err(io)?;
            Ok(())
        },
    )?;
    progress.finish();
    drop((extras, extras_of, category_share, profile_of));
    let heavy = heavy.finish().map_err(spill_error)?;
    // The lines' partitions (on disk, as big as the card lines) are done with.
    let item_names: Vec<String> = parts.skus.iter().map(|s| catalogue.name_of(s).to_string()).collect();
    drop(parts);
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
    let rank = |v: f64| mid_rank(&shares, v);
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
            blocked: {
                let mut b: Vec<u32> = recent
                    .get(&p.key)
                    .map(|skus| skus.iter().filter_map(|s| product_index.get(s.as_str()).copied()).collect())
                    .unwrap_or_default();
                b.sort_unstable();
                b
            },
            recent_offers: recent_count.get(&p.key).copied().unwrap_or(0),
            person: person.get(&p.key).cloned().unwrap_or_default(),
            ..Default::default()
        })
        .collect();

    let learned = super::read_response(&app.model_root())?;
    let secret = app.offer_secret()?;
    drop(segment_of);
    Ok(Prepared {
        spill_dir,
        heavy,
        heavy_of,
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
