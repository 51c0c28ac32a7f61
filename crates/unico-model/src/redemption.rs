//! Who redeems: a response model learned from the retailer's past promotions.
//!
//! For every (customer, past campaign) the customer received, the label is whether they
//! redeemed at least one of its coupons, and the features are what was known **before the
//! campaign started** (its first valid day): every receipt line, redemption and earlier
//! campaign dated on or after the start is ignored — the test `features_never_read_the_campaign_or_after`
//! fails otherwise. The features:
//!
//! | feature | meaning |
//! |---|---|
//! | `recency` | ln(1 + days since the last purchase) |
//! | `frequency` | ln(1 + purchase days in the 365 days before) |
//! | `monetary` | ln(1 + mean spend per purchase day, euros) |
//! | `tenure` | ln(1 + days since the first purchase) |
//! | `p_alive` | BG/NBD probability of being active, fitted on everyone's history as of the start |
//! | `past_campaigns` | ln(1 + earlier campaigns received, ended before the start) |
//! | `past_rate` | redemption rate on those, smoothed towards the chain's rate (2 campaigns of prior) |
//! | `covered_share` | share of the year's spend on what the coupons cover |
//! | `covered_days` | ln(1 + days in the year they bought something the coupons cover) |
//! | `due` | how due a covered product is: days since its last purchase / its mean interval (≤ 3) |
//! | `promo_share` | share of the year's spend bought with a discount (price sensitivity) |
//! | `ecommerce_share` | share of the year's purchase days online (channel) |
//! | `depth` | mean percent off of the coupons (0–1; 0 where unknown) |
//!
//! The model is an L2-regularised logistic regression on standardised features, fitted by
//! argmin's L-BFGS (decision 0027): one weight per feature says what it does, a logistic
//! fit is calibrated on its own training data, and it fits ten million rows in seconds.

use crate::clv::{BgNbd, Summary, TimeUnit};
use crate::error::{Error, ErrorKind};
use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int64Type};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use unico_lake::{Dataset, Lake, read};

/// Names of the features, in the order of [`Example::x`].
pub const FEATURES: [&str; 13] = [
    "recency",
    "frequency",
    "monetary",
    "tenure",
    "p_alive",
    "past_campaigns",
    "past_rate",
    "covered_share",
    "covered_days",
    "due",
    "promo_share",
    "ecommerce_share",
    "depth",
];
/// Number of features.
pub const NF: usize = FEATURES.len();

/// A past campaign, as imported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Campaign {
    /// Its id.
    pub id: String,
    /// Free-text kind (targeted, mass…).
    pub kind: String,
    /// First valid day (days since 1970-01-01, chain's calendar).
    pub start: i32,
    /// Last valid day, inclusive.
    pub end: i32,
    /// Its coupons' ids.
    pub coupons: Vec<String>,
    /// Mean percent off of its coupons (0–100), when known.
    pub percent_off: Option<f64>,
    /// Item indices (into [`History::skus`]) its coupons cover.
    pub items: Vec<u32>,
    /// Each coupon's percent off (when known) and items, in the order of `coupons`.
    pub coupon_terms: Vec<(Option<f64>, Vec<u32>)>,
}

/// One receipt line of a customer, as the features need it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Line {
    /// Day (days since 1970-01-01, chain's calendar).
    pub day: i32,
    /// Item index into [`History::skus`].
    pub item: u32,
    /// Net amount, cents.
    pub net_cents: i64,
    /// Whether the line had a discount.
    pub discounted: bool,
    /// Whether it was bought online.
    pub online: bool,
}

/// The promotion history and the receipts of everyone who received a campaign.
#[derive(Debug, Default)]
pub struct History {
    /// Campaigns by start day.
    pub campaigns: Vec<Campaign>,
    /// Customer keys by index.
    pub keys: Vec<String>,
    /// Skus by item index.
    pub skus: Vec<String>,
    /// Per campaign, the customers who received it (indices into `keys`).
    pub members: Vec<Vec<u32>>,
    /// Per campaign, the customers who redeemed at least one of its coupons, with the day.
    pub redeemed: Vec<HashMap<u32, i32>>,
    /// Per customer, their receipt lines by day.
    pub lines: Vec<Vec<Line>>,
    /// (coupon id, customer) of every redemption that names its coupon.
    pub coupon_redeemed: HashSet<(String, u32)>,
    /// Category index of each item (`u32::MAX` where the product master does not say).
    pub category_of: Vec<u32>,
    /// Number of categories.
    pub categories: usize,
}

fn text(a: &dyn Array, i: usize) -> Option<String> {
    (!a.is_null(i)).then(|| a.as_string::<i32>().value(i).to_string())
}

impl History {
    /// Reads the promotion history and, for everyone who received a campaign, their
    /// receipt lines. Errors when no campaign has been imported.
    pub fn read(lake: &Lake, progress: &dyn Fn(u64, u64)) -> Result<History, Error> {
        let lake = lake.pinned();
        let mut h = History::default();
        let mut coupons_of: BTreeMap<String, Vec<(String, Option<f64>)>> = BTreeMap::new();
        for f in lake.parquet_files(Dataset::Coupons)? {
            read::for_each_batch(&f, &["coupon_id", "campaign_id", "percent_off"], |b| {
                let pct = b.column(2).as_primitive::<Float64Type>();
                for i in 0..b.num_rows() {
                    let (Some(coupon), Some(campaign)) = (text(b.column(0), i), text(b.column(1), i)) else { continue };
                    coupons_of.entry(campaign).or_default().push((coupon, pct.is_valid(i).then(|| pct.value(i))));
                }
                Ok(())
            })?;
        }
        let mut covers: HashMap<String, Vec<String>> = HashMap::new();
        for f in lake.parquet_files(Dataset::CouponProducts)? {
            read::for_each_batch(&f, &["coupon_id", "sku"], |b| {
                for i in 0..b.num_rows() {
                    if let (Some(c), Some(s)) = (text(b.column(0), i), text(b.column(1), i)) {
                        covers.entry(c).or_default().push(s);
                    }
                }
                Ok(())
            })?;
        }
        let mut item_of: HashMap<String, u32> = HashMap::new();
        let mut item = |sku: &str, skus: &mut Vec<String>| -> u32 {
            if let Some(&i) = item_of.get(sku) {
                return i;
            }
            let i = skus.len() as u32;
            skus.push(sku.to_string());
            item_of.insert(sku.to_string(), i);
            i
        };
        for f in lake.parquet_files(Dataset::Campaigns)? {
            read::for_each_batch(&f, &["campaign_id", "kind", "start_date", "end_date"], |b| {
                let (s, e) = (b.column(2).as_primitive::<Date32Type>(), b.column(3).as_primitive::<Date32Type>());
                for i in 0..b.num_rows() {
                    let id = text(b.column(0), i).unwrap_or_default();
                    let coupons = coupons_of.remove(&id).unwrap_or_default();
                    let known: Vec<f64> = coupons.iter().filter_map(|c| c.1).collect();
                    let coupon_terms: Vec<(Option<f64>, Vec<u32>)> = coupons
                        .iter()
                        .map(|c| {
                            let mut items: Vec<u32> =
                                covers.get(&c.0).into_iter().flatten().map(|sku| item(sku, &mut h.skus)).collect();
                            items.sort_unstable();
                            items.dedup();
                            (c.1, items)
                        })
                        .collect();
                    let mut items: Vec<u32> = coupons
                        .iter()
                        .flat_map(|c| covers.get(&c.0).into_iter().flatten())
                        .map(|sku| item(sku, &mut h.skus))
                        .collect();
                    items.sort_unstable();
                    items.dedup();
                    h.campaigns.push(Campaign {
                        id,
                        kind: text(b.column(1), i).unwrap_or_default(),
                        start: s.value(i),
                        end: e.value(i),
                        coupons: coupons.into_iter().map(|c| c.0).collect(),
                        percent_off: (!known.is_empty()).then(|| known.iter().sum::<f64>() / known.len() as f64),
                        items,
                        coupon_terms,
                    });
                }
                Ok(())
            })?;
        }
        if h.campaigns.is_empty() {
            return Err(Error::new(
                ErrorKind::Input,
                "no promotion history in the lake: import campaigns (and their coupons, members and redemptions) first",
            ));
        }
        h.campaigns.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
        let index: HashMap<String, usize> = h.campaigns.iter().enumerate().map(|(i, c)| (c.id.clone(), i)).collect();
        let coupon_campaign: HashMap<String, usize> =
            h.campaigns.iter().enumerate().flat_map(|(i, c)| c.coupons.iter().map(move |k| (k.clone(), i))).collect();
        let mut key_of: HashMap<String, u32> = HashMap::new();
        let mut customer = |key: String, keys: &mut Vec<String>| -> u32 {
            *key_of.entry(key).or_insert_with_key(|k| {
                keys.push(k.clone());
                keys.len() as u32 - 1
            })
        };
        h.members = vec![Vec::new(); h.campaigns.len()];
        h.redeemed = vec![HashMap::new(); h.campaigns.len()];
        for f in lake.parquet_files(Dataset::CampaignMembers)? {
            read::for_each_batch(&f, &["campaign_id", "customer_key"], |b| {
                for i in 0..b.num_rows() {
                    if let (Some(&c), Some(k)) =
                        (text(b.column(0), i).and_then(|id| index.get(&id)), text(b.column(1), i))
                    {
                        let k = customer(k, &mut h.keys);
                        h.members[c].push(k);
                    }
                }
                Ok(())
            })?;
        }
        for m in &mut h.members {
            m.sort_unstable();
            m.dedup();
        }
        for f in lake.parquet_files(Dataset::Redemptions)? {
            read::for_each_batch(&f, &["customer_key", "coupon_id", "campaign_id", "local_date"], |b| {
                let day = b.column(3).as_primitive::<Date32Type>();
                for i in 0..b.num_rows() {
                    let c = text(b.column(2), i)
                        .and_then(|id| index.get(&id).copied())
                        .or_else(|| text(b.column(1), i).and_then(|k| coupon_campaign.get(&k).copied()));
                    let (Some(c), Some(k)) = (c, text(b.column(0), i)) else { continue };
                    // Only members' redemptions are labels; others are kept out.
                    let Some(&k) = key_of.get(&k) else { continue };
                    if let Some(coupon) = text(b.column(1), i) {
                        h.coupon_redeemed.insert((coupon, k));
                    }
                    let d = day.value(i);
                    h.redeemed[c].entry(k).and_modify(|e| *e = (*e).min(d)).or_insert(d);
                }
                Ok(())
            })?;
        }
        h.lines = vec![Vec::new(); h.keys.len()];
        let files = lake.parquet_files(Dataset::Receipts)?;
        let total = files.len() as u64;
        for (n, f) in files.iter().enumerate() {
            read::for_each_batch(
                f,
                &["customer_key", "local_date", "sku", "net_amount_cents", "discount_cents", "channel"],
                |b| {
                    let keys = b.column(0).as_string::<i32>();
                    let days = b.column(1).as_primitive::<Date32Type>();
                    let skus = b.column(2).as_string::<i32>();
                    let net = b.column(3).as_primitive::<Int64Type>();
                    let disc = b.column(4).as_primitive::<Int64Type>();
                    let chan = b.column(5).as_string::<i32>();
                    for i in 0..b.num_rows() {
                        if keys.is_null(i) {
                            continue;
                        }
                        let Some(&c) = key_of.get(keys.value(i)) else { continue };
                        let it = item(skus.value(i), &mut h.skus);
                        h.lines[c as usize].push(Line {
                            day: days.value(i),
                            item: it,
                            net_cents: net.value(i),
                            discounted: disc.value(i) > 0,
                            online: chan.value(i) != "store",
                        });
                    }
                    Ok(())
                },
            )?;
            progress(n as u64 + 1, total);
        }
        for l in &mut h.lines {
            l.sort_by_key(|l| (l.day, l.item));
        }
        let mut category_index: HashMap<String, u32> = HashMap::new();
        h.category_of = vec![u32::MAX; h.skus.len()];
        for f in lake.parquet_files(Dataset::Products)? {
            read::for_each_batch(&f, &["sku", "category"], |b| {
                for i in 0..b.num_rows() {
                    let (Some(sku), Some(cat)) = (text(b.column(0), i), text(b.column(1), i)) else { continue };
                    let Some(&it) = item_of.get(&sku) else { continue };
                    let n = category_index.len() as u32;
                    h.category_of[it as usize] = *category_index.entry(cat).or_insert(n);
                }
                Ok(())
            })?;
        }
        h.categories = category_index.len();
        Ok(h)
    }

    /// The index of a campaign by id.
    pub fn campaign(&self, id: &str) -> Option<usize> {
        self.campaigns.iter().position(|c| c.id == id)
    }

    /// Whether customer `k` redeemed campaign `c`.
    pub fn label(&self, c: usize, k: u32) -> bool {
        self.redeemed[c].contains_key(&k)
    }

    /// The campaigns whose outcome was known before day `day`: they ended before it.
    pub fn ended_before(&self, day: i32) -> Vec<usize> {
        (0..self.campaigns.len()).filter(|&c| self.campaigns[c].end < day).collect()
    }
}

/// One (customer, campaign) row.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// Campaign index.
    pub campaign: usize,
    /// Customer index.
    pub customer: u32,
    /// Features, in [`FEATURES`] order.
    pub x: [f64; NF],
    /// Redeemed at least one coupon.
    pub label: bool,
}

/// What the chain knew of one customer before a campaign started, apart from the model
/// fitted on everyone (`p_alive`) and the chain's redemption rate (`prior_rate`).
pub fn features(h: &History, c: usize, k: u32, p_alive: f64, prior_rate: f64) -> [f64; NF] {
    let campaign = &h.campaigns[c];
    let start = campaign.start;
    let lines: &[Line] = &h.lines[k as usize];
    let before = &lines[..lines.partition_point(|l| l.day < start)];
    let year = &before[before.partition_point(|l| l.day < start - 365)..];
    let mut x = [0.0; NF];
    if let (Some(first), Some(last)) = (before.first(), before.last()) {
        x[0] = f64::from(start - last.day).ln_1p();
        x[3] = f64::from(start - first.day).ln_1p();
    } else {
        x[0] = 366f64.ln_1p();
    }
    let mut days: Vec<i32> = year.iter().map(|l| l.day).collect();
    days.dedup();
    let spend: i64 = year.iter().map(|l| l.net_cents.max(0)).sum();
    x[1] = (days.len() as f64).ln_1p();
    x[2] = if days.is_empty() { 0.0 } else { (spend as f64 / 100.0 / days.len() as f64).ln_1p() };
    x[4] = p_alive;
    // Earlier campaigns: received and over before this one started.
    let (mut got, mut used) = (0u32, 0u32);
    for e in 0..h.campaigns.len() {
        if h.campaigns[e].end < start && h.members[e].binary_search(&k).is_ok() {
            got += 1;
            if h.redeemed[e].get(&k).is_some_and(|d| *d < start) {
                used += 1;
            }
        }
    }
    x[5] = f64::from(got).ln_1p();
    x[6] = (f64::from(used) + 2.0 * prior_rate) / (f64::from(got) + 2.0);
    let covered = |item: u32| campaign.items.binary_search(&item).is_ok();
    let covered_spend: i64 = year.iter().filter(|l| covered(l.item)).map(|l| l.net_cents.max(0)).sum();
    x[7] = if spend > 0 { covered_spend as f64 / spend as f64 } else { 0.0 };
    let mut cdays: Vec<i32> = year.iter().filter(|l| covered(l.item)).map(|l| l.day).collect();
    cdays.dedup();
    x[8] = (cdays.len() as f64).ln_1p();
    // Due: per covered item bought on two days or more, time since last / mean interval.
    let mut due: f64 = 0.0;
    let mut by_item: HashMap<u32, (i32, i32, u32)> = HashMap::new();
    for l in before.iter().filter(|l| covered(l.item)) {
        let e = by_item.entry(l.item).or_insert((l.day, l.day, 0));
        if e.2 == 0 || l.day != e.1 {
            e.2 += 1;
            e.1 = l.day;
        }
    }
    for (first, last, n) in by_item.values() {
        if *n >= 2 && last > first {
            let interval = f64::from(last - first) / f64::from(n - 1);
            due = due.max((f64::from(start - last) / interval).min(3.0));
        }
    }
    x[9] = due;
    let promo: i64 = year.iter().filter(|l| l.discounted).map(|l| l.net_cents.max(0)).sum();
    x[10] = if spend > 0 { promo as f64 / spend as f64 } else { 0.0 };
    let mut online_days: Vec<i32> = year.iter().filter(|l| l.online).map(|l| l.day).collect();
    online_days.dedup();
    x[11] = if days.is_empty() { 0.0 } else { online_days.len() as f64 / days.len() as f64 };
    x[12] = campaign.percent_off.unwrap_or(0.0) / 100.0;
    x
}

/// P(alive) of every customer of the history as of day `start` (before it), from a BG/NBD
/// fitted on their purchase days before it (days). Customers without a purchase get 0.
pub fn p_alive_as_of(h: &History, start: i32) -> Vec<f64> {
    let summaries: Vec<Option<Summary>> = h
        .lines
        .iter()
        .map(|lines| {
            let before = &lines[..lines.partition_point(|l| l.day < start)];
            let t: Vec<(i32, f64)> = before.iter().map(|l| (l.day, l.net_cents as f64 / 100.0)).collect();
            Summary::from_transactions(&t, start - 1, TimeUnit::Days)
        })
        .collect();
    let fitted: Vec<Summary> = summaries.iter().flatten().copied().collect();
    match BgNbd::fit(&fitted, TimeUnit::Days) {
        Ok(m) => summaries.iter().map(|s| s.as_ref().map_or(0.0, |s| m.p_alive(s))).collect(),
        // Too little history to fit: recency alone says it.
        Err(_) => summaries.iter().map(|s| if s.is_some() { 1.0 } else { 0.0 }).collect(),
    }
}

/// The rows of the campaigns `which`: every member with their features as of the start.
/// `prior_rate` is the chain's redemption rate on the campaigns known before each.
pub fn examples(h: &History, which: &[usize]) -> Vec<Example> {
    let mut out = Vec::new();
    let mut alive_at: HashMap<i32, Vec<f64>> = HashMap::new();
    for &c in which {
        let start = h.campaigns[c].start;
        let alive = alive_at.entry(start).or_insert_with(|| p_alive_as_of(h, start));
        let earlier = h.ended_before(start);
        let (n, r) = earlier.iter().fold((0usize, 0usize), |(n, r), &e| {
            (
                n + h.members[e].len(),
                r + h.members[e].iter().filter(|k| h.redeemed[e].get(k).is_some_and(|d| *d < start)).count(),
            )
        });
        let prior = if n > 0 { r as f64 / n as f64 } else { 0.2 };
        for &k in &h.members[c] {
            out.push(Example {
                campaign: c,
                customer: k,
                x: features(h, c, k, alive[k as usize], prior),
                label: h.label(c, k),
            });
        }
    }
    out
}

/// The fitted redemption model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedemptionModel {
    /// Feature names, in order.
    pub features: Vec<String>,
    /// Means used to standardise.
    pub means: Vec<f64>,
    /// Standard deviations used to standardise (1 where constant).
    pub scales: Vec<f64>,
    /// Weights on the standardised features.
    pub weights: Vec<f64>,
    /// Intercept.
    pub intercept: f64,
    /// L2 penalty (per row).
    pub lambda: f64,
    /// Rows it was fitted on.
    pub rows: u64,
    /// Of them, redeemed.
    pub positives: u64,
    /// Campaigns it was fitted on.
    pub campaigns: Vec<String>,
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

struct LogLoss<'a> {
    z: &'a [[f64; NF]],
    y: &'a [bool],
    lambda: f64,
}

impl LogLoss<'_> {
    /// Mean log-loss plus λ/2·|w|² (intercept free), and its gradient; in parallel chunks.
    fn eval(&self, p: &[f64]) -> (f64, Vec<f64>) {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 16);
        let chunk = self.z.len().div_ceil(threads).max(1);
        let parts: Vec<(f64, Vec<f64>)> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .z
                .chunks(chunk)
                .zip(self.y.chunks(chunk))
                .map(|(z, y)| {
                    s.spawn(move || {
                        let mut loss = 0.0;
                        let mut g = vec![0.0; NF + 1];
                        for (x, &y) in z.iter().zip(y) {
                            let eta = p[NF] + x.iter().zip(p).map(|(a, b)| a * b).sum::<f64>();
                            // log(1 + e^eta) − y·eta, stably.
                            let softplus = if eta > 0.0 { eta + (-eta).exp().ln_1p() } else { eta.exp().ln_1p() };
                            loss += softplus - if y { eta } else { 0.0 };
                            let r = sigmoid(eta) - if y { 1.0 } else { 0.0 };
                            for j in 0..NF {
                                g[j] += r * x[j];
                            }
                            g[NF] += r;
                        }
                        (loss, g)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("log-loss worker")).collect()
        });
        let n = self.z.len().max(1) as f64;
        let mut loss = 0.0;
        let mut g = vec![0.0; NF + 1];
        for (l, pg) in parts {
            loss += l;
            g.iter_mut().zip(pg).for_each(|(a, b)| *a += b);
        }
        loss /= n;
        g.iter_mut().for_each(|v| *v /= n);
        for j in 0..NF {
            loss += 0.5 * self.lambda * p[j] * p[j];
            g[j] += self.lambda * p[j];
        }
        (loss, g)
    }
}

impl argmin::core::CostFunction for LogLoss<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, p: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        Ok(self.eval(p).0)
    }
}

impl argmin::core::Gradient for LogLoss<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, p: &Vec<f64>) -> Result<Vec<f64>, argmin::core::Error> {
        Ok(self.eval(p).1)
    }
}

impl RedemptionModel {
    /// Fits the model on `rows` with L2 penalty `lambda` (per row, on standardised
    /// features). Errors when the rows hold no redemption or nothing but redemptions.
    pub fn fit(rows: &[Example], lambda: f64, campaigns: Vec<String>) -> Result<RedemptionModel, Error> {
        use argmin::core::{Executor, State};
        let positives = rows.iter().filter(|r| r.label).count();
        if positives == 0 || positives == rows.len() {
            return Err(Error::new(
                ErrorKind::Input,
                format!(
                    "{} rows, {positives} redeemed: a redemption model needs both customers who redeemed and customers who did not",
                    rows.len()
                ),
            ));
        }
        let n = rows.len() as f64;
        let mut means = vec![0.0; NF];
        let mut scales = [0.0; NF];
        for r in rows {
            means.iter_mut().zip(&r.x).for_each(|(m, x)| *m += x / n);
        }
        for r in rows {
            scales.iter_mut().zip(r.x.iter().zip(&means)).for_each(|(s, (x, m))| *s += (x - m).powi(2) / n);
        }
        let scales: Vec<f64> = scales.iter().map(|v| if v.sqrt() > 1e-12 { v.sqrt() } else { 1.0 }).collect();
        let z: Vec<[f64; NF]> = rows
            .iter()
            .map(|r| {
                let mut z = [0.0; NF];
                for j in 0..NF {
                    z[j] = (r.x[j] - means[j]) / scales[j];
                }
                z
            })
            .collect();
        let y: Vec<bool> = rows.iter().map(|r| r.label).collect();
        let base = positives as f64 / n;
        let mut start = vec![0.0; NF + 1];
        start[NF] = (base / (1.0 - base)).ln();
        let problem = LogLoss { z: &z, y: &y, lambda };
        let fail = |e: argmin::core::Error| Error::new(ErrorKind::Fit, format!("fitting the redemption model: {e}"));
        let solver =
            argmin::solver::quasinewton::LBFGS::new(argmin::solver::linesearch::MoreThuenteLineSearch::new(), 10)
                .with_tolerance_grad(1e-8)
                .map_err(fail)?
                .with_tolerance_cost(1e-12)
                .map_err(fail)?;
        let result = Executor::new(problem, solver).configure(|s| s.param(start).max_iters(500)).run().map_err(fail)?;
        let p = result.state().get_best_param().cloned().ok_or_else(|| Error::new(ErrorKind::Fit, "no solution"))?;
        Ok(RedemptionModel {
            features: FEATURES.iter().map(|s| s.to_string()).collect(),
            means,
            scales,
            weights: p[..NF].to_vec(),
            intercept: p[NF],
            lambda,
            rows: rows.len() as u64,
            positives: positives as u64,
            campaigns,
        })
    }

    /// The probability of a redemption for features `x`.
    pub fn predict(&self, x: &[f64; NF]) -> f64 {
        let eta =
            self.intercept + (0..NF).map(|j| self.weights[j] * (x[j] - self.means[j]) / self.scales[j]).sum::<f64>();
        sigmoid(eta)
    }
}

/// Area under the ROC curve of `scores` for `labels` (ties count half).
pub fn auc(scores: &[f64], labels: &[bool]) -> f64 {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut rank_sum, mut i) = (0.0, 0);
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += (i..=j).filter(|&t| labels[idx[t]]).count() as f64 * mid;
        i = j + 1;
    }
    let pos = labels.iter().filter(|l| **l).count() as f64;
    let neg = labels.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return f64::NAN;
    }
    (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

/// Mean squared error of probabilities against outcomes.
pub fn brier(p: &[f64], labels: &[bool]) -> f64 {
    p.iter().zip(labels).map(|(p, &y)| (p - if y { 1.0 } else { 0.0 }).powi(2)).sum::<f64>() / p.len().max(1) as f64
}

/// One bin of a reliability table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bin {
    /// Lower edge of predicted probability.
    pub from: f64,
    /// Upper edge.
    pub to: f64,
    /// Rows.
    pub rows: u64,
    /// Mean predicted probability.
    pub predicted: f64,
    /// Share that redeemed.
    pub observed: f64,
}

/// The reliability table: rows binned by predicted probability in tenths.
pub fn reliability(p: &[f64], labels: &[bool]) -> Vec<Bin> {
    let mut bins: Vec<Bin> = (0..10)
        .map(|b| Bin { from: b as f64 / 10.0, to: (b + 1) as f64 / 10.0, rows: 0, predicted: 0.0, observed: 0.0 })
        .collect();
    for (p, &y) in p.iter().zip(labels) {
        let b = &mut bins[((p * 10.0) as usize).min(9)];
        b.rows += 1;
        b.predicted += p;
        b.observed += if y { 1.0 } else { 0.0 };
    }
    for b in &mut bins {
        if b.rows > 0 {
            b.predicted /= b.rows as f64;
            b.observed /= b.rows as f64;
        }
    }
    bins.retain(|b| b.rows > 0);
    bins
}

/// Expected calibration error: the rows-weighted mean |predicted − observed| over the bins.
pub fn calibration_error(bins: &[Bin]) -> f64 {
    let n: u64 = bins.iter().map(|b| b.rows).sum();
    bins.iter().map(|b| b.rows as f64 * (b.predicted - b.observed).abs()).sum::<f64>() / n.max(1) as f64
}

/// The RFM rank baseline: quintiles of recency (recent first), frequency and monetary
/// within `rows`, summed (3–15).
pub fn rfm_scores(rows: &[Example]) -> Vec<f64> {
    let quintile = |j: usize, higher_better: bool| -> Vec<f64> {
        let mut idx: Vec<usize> = (0..rows.len()).collect();
        idx.sort_by(|&a, &b| rows[a].x[j].total_cmp(&rows[b].x[j]));
        let mut q = vec![0.0; rows.len()];
        for (r, &i) in idx.iter().enumerate() {
            let v = (r * 5 / rows.len().max(1)) as f64 + 1.0;
            q[i] = if higher_better { v } else { 6.0 - v };
        }
        q
    };
    let (r, f, m) = (quintile(0, false), quintile(1, true), quintile(2, true));
    (0..rows.len()).map(|i| r[i] + f[i] + m[i]).collect()
}

/// The campaigns an evaluation tests on: the latest quarter (at least one) by start, and
/// the campaigns it trains on: those that ended before the first test campaign started.
pub fn split(h: &History) -> (Vec<usize>, Vec<usize>) {
    let n = h.campaigns.len();
    let tests = (n / 4).max(1);
    let test: Vec<usize> = (n - tests..n).collect();
    let first = h.campaigns[test[0]].start;
    (h.ended_before(first), test)
}

/// Distinct customers of a set of rows.
pub fn customers(rows: &[Example]) -> usize {
    rows.iter().map(|r| r.customer).collect::<HashSet<_>>().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(day: i32, item: u32, net: i64, discounted: bool) -> Line {
        Line { day, item, net_cents: net, discounted, online: false }
    }

    /// Two customers, three campaigns (days 100–113, 150–163, 200–213) covering item 0.
    fn history() -> History {
        let campaign = |id: &str, start: i32| Campaign {
            id: id.into(),
            kind: "targeted".into(),
            start,
            end: start + 13,
            coupons: vec![format!("{id}-K")],
            percent_off: Some(20.0),
            items: vec![0],
            coupon_terms: vec![(Some(20.0), vec![0])],
        };
        let lines: Vec<Line> = (0..40).map(|i| line(i * 5, (i % 3) as u32, 500 + i64::from(i), i % 4 == 0)).collect();
        History {
            campaigns: vec![campaign("A", 100), campaign("B", 150), campaign("C", 200)],
            keys: vec!["k0".into(), "k1".into()],
            skus: vec!["s0".into(), "s1".into(), "s2".into()],
            members: vec![vec![0, 1], vec![0, 1], vec![0]],
            redeemed: vec![HashMap::from([(0, 105)]), HashMap::from([(1, 152)]), HashMap::new()],
            lines: vec![lines.clone(), lines[..10].to_vec()],
            coupon_redeemed: HashSet::new(),
            category_of: vec![0, 0, 1],
            categories: 2,
        }
    }

    #[test]
    fn features_never_read_the_campaign_or_after() {
        let h = history();
        let before = features(&h, 1, 0, 0.7, 0.2);
        // Everything dated on or after campaign B's start (day 150) changes: more lines,
        // a redemption of B itself, a membership of C, lines of the covered item.
        let mut later = history();
        later.lines[0].extend((0..30).map(|i| line(150 + i, 0, 9_999, true)));
        later.lines[0].sort_by_key(|l| (l.day, l.item));
        later.redeemed[1].insert(0, 151);
        later.redeemed[2].insert(0, 201);
        assert_eq!(features(&later, 1, 0, 0.7, 0.2), before, "a feature read a day on or after the start");
        // And the features do move with what came before (the test can fail).
        let mut earlier = history();
        earlier.lines[0].push(line(149, 0, 9_999, true));
        earlier.lines[0].sort_by_key(|l| (l.day, l.item));
        let moved = features(&earlier, 1, 0, 0.7, 0.2);
        assert_ne!(moved, before);
        assert_eq!(moved[0], 1f64.ln_1p(), "recency: one day since day 149");
        // Campaign A ended (day 113) before B: it counts as past, redeemed on day 105.
        assert_eq!(before[5], 1f64.ln_1p());
        assert!((before[6] - (1.0 + 0.4) / 3.0).abs() < 1e-12, "(1 redeemed + 2×0.2) / (1 + 2)");
        // A redemption of A dated after B's start (a late till upload) is not known then.
        let mut late = history();
        late.redeemed[0].insert(0, 160);
        assert!((features(&late, 1, 0, 0.7, 0.2)[6] - 0.4 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn examples_use_only_campaigns_over_before_the_start() {
        let h = history();
        assert_eq!(h.ended_before(150), [0]);
        assert_eq!(h.ended_before(114), [0]);
        assert_eq!(h.ended_before(113), Vec::<usize>::new());
        let rows = examples(&h, &[1]);
        assert_eq!(rows.len(), 2);
        assert!(!rows[0].label && rows[1].label, "customer 1 redeemed B");
        let (train, test) = split(&h);
        assert_eq!((train, test), (vec![0, 1], vec![2]));
    }

    #[test]
    fn the_fit_recovers_a_planted_logistic_model() {
        // x ~ N(0,1)-ish by a fixed generator; y ~ Bernoulli(σ(−1 + 1.5 x0 − 0.8 x1)).
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut uniform = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut rows = Vec::new();
        for _ in 0..40_000 {
            let mut x = [0.0; NF];
            for v in x.iter_mut() {
                // Box–Muller.
                *v = (-2.0 * uniform().max(1e-300).ln()).sqrt() * (std::f64::consts::TAU * uniform()).cos();
            }
            let p = sigmoid(-1.0 + 1.5 * x[0] - 0.8 * x[1]);
            rows.push(Example { campaign: 0, customer: 0, x, label: uniform() < p });
        }
        let m = RedemptionModel::fit(&rows, 1e-6, vec![]).unwrap();
        // Weights are on standardised features: multiply back by the scale.
        let w0 = m.weights[0] / m.scales[0];
        let w1 = m.weights[1] / m.scales[1];
        assert!((w0 - 1.5).abs() < 0.06, "{w0}");
        assert!((w1 + 0.8).abs() < 0.05, "{w1}");
        for j in 2..NF {
            assert!((m.weights[j] / m.scales[j]).abs() < 0.06, "feature {j}: {}", m.weights[j]);
        }
        let p: Vec<f64> = rows.iter().map(|r| m.predict(&r.x)).collect();
        let y: Vec<bool> = rows.iter().map(|r| r.label).collect();
        assert!(calibration_error(&reliability(&p, &y)) < 0.02);
        let none = vec![Example { campaign: 0, customer: 0, x: [0.0; NF], label: false }; 10];
        assert!(RedemptionModel::fit(&none, 1e-3, vec![]).is_err(), "nothing redeemed: nothing to learn");
    }

    #[test]
    fn auc_brier_and_reliability_by_hand() {
        let s = [0.1, 0.4, 0.35, 0.8];
        let y = [false, false, true, true];
        // Positive/negative pairs ordered right: (0.35>0.1), (0.8>0.1), (0.8>0.4); wrong: (0.35<0.4).
        assert!((auc(&s, &y) - 0.75).abs() < 1e-12);
        assert!((auc(&[0.5, 0.5], &[true, false]) - 0.5).abs() < 1e-12, "ties count half");
        assert!((brier(&[1.0, 0.0], &[true, true]) - 0.5).abs() < 1e-12);
        let bins = reliability(&[0.1, 0.42, 0.46, 0.8], &y);
        assert_eq!(bins.iter().map(|b| (b.from * 10.0).round() as u32).collect::<Vec<_>>(), [1, 4, 8]);
        assert_eq!(bins.iter().map(|b| b.rows).collect::<Vec<_>>(), [1, 2, 1]);
        assert!((bins[1].predicted - 0.44).abs() < 1e-12 && (bins[1].observed - 0.5).abs() < 1e-12);
        // |0.1 − 0| + 2·|0.44 − 0.5| + |0.8 − 1|, over 4 rows.
        assert!((calibration_error(&bins) - (0.1 + 0.12 + 0.2) / 4.0).abs() < 1e-12);
    }
}
