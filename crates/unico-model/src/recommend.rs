//! Recommendations: for every customer, the products they are most likely to buy in the
//! coming weeks — their own due repurchases mixed with products they have not bought yet —
//! each with a reason a store manager understands.
//!
//! The score of a product is the probability that the customer buys it within the horizon,
//! `1 - exp(-λ·H)`, from a per-customer, per-product purchase rate `λ` that shrinks what the
//! customer did towards what similar baskets suggest (a Gamma-Poisson posterior mean):
//!
//! `λ = (n + κ·π) / (T + κ / R)`
//!
//! where `n` is the customer's purchase days of the product over `T` days of tenure, `R`
//! their rate of product purchases over all products, `π` the product's share of the
//! customer's predicted basket and `κ` the prior's weight in purchase days. `π` blends
//! three signals: item-item collaborative filtering (cosine similarity between products over
//! the sets of customers who bought them, Deshpande & Karypis 2004, each product keeping its
//! `neighbours` most similar ones), category affinity (the customer's share of distinct
//! products per category × the product's popularity within its category) and global
//! popularity, with the weights in [`RecommendSettings`] chosen by measurement
//! (`bench/recommend_quality.py`). A product bought often keeps a high rate however the prior leans; a product
//! never bought gets the rate its neighbours imply. `--exclude-purchased` keeps only the
//! latter. Why item-item and not ALS is recorded in `docs/decisions/0008-recommendations.md`
//! with the measurements.

use crate::error::{Error, ErrorKind};
use crate::habits::{Catalogue, HabitSettings, cycle};
use crate::lines::{LineRecord, Partitioned};
use serde::{Deserialize, Serialize};

/// Settings of the recommender (`[model.recommend]` in `unico.toml`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RecommendSettings {
    /// Horizon the probabilities refer to, in days.
    pub horizon_days: u32,
    /// Weight of the collaborative prior, in purchase days.
    pub prior_strength: f64,
    /// Similar products kept per product.
    pub neighbours: usize,
    /// Share of global popularity in the prior (the rest is the customer's own mix).
    pub popularity_weight: f64,
    /// Share of category affinity in the customer's own mix (the rest is item-item).
    pub category_weight: f64,
    /// Most products taking part in item-item similarity (the best sellers); the product
    /// matrix takes 4 bytes per pair.
    pub max_items: usize,
    /// Half-life of a purchase in the customer's own counts and in what their purchases
    /// suggest, in days (0: every purchase counts the same however old).
    pub recency_days: f64,
    /// How much a product selling more lately than on average (a launch, a trend) is
    /// raised: its rate is multiplied by (recent share / overall share)^this.
    pub trend_weight: f64,
    /// How much a product's season counts: its rate is multiplied by (share in the same
    /// weeks a year before / overall share)^this (with a year of data).
    pub season_weight: f64,
    /// Share of "people who buy like you" in the collaborative part of the prior (the rest
    /// is item-item): what the customer's most similar shoppers bought.
    pub people_weight: f64,
    /// Most similar shoppers each customer's suggestions come from.
    pub people_neighbours: usize,
    /// Shoppers the most similar are looked for among (a fixed sample; 16 bytes per
    /// product of theirs in memory).
    pub people_pool: usize,
    /// Choose `prior_strength`, `popularity_weight`, `category_weight`, `recency_days`,
    /// `trend_weight` and `season_weight` on a time split of the retailer's own data before recommending ([`tune`]); off,
    /// the values above are used as they are.
    pub tune_on_time_split: bool,
}

impl Default for RecommendSettings {
    fn default() -> Self {
        RecommendSettings {
            horizon_days: 91,
            prior_strength: 3.0,
            neighbours: 50,
            popularity_weight: 0.3,
            category_weight: 0.5,
            max_items: 8000,
            recency_days: 0.0,
            trend_weight: 0.0,
            season_weight: 0.0,
            people_weight: 0.0,
            people_neighbours: 200,
            people_pool: 10_000,
            tune_on_time_split: true,
        }
    }
}

/// Why a product is recommended.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Reason {
    /// Bought regularly: the cycle and the next due day.
    Due {
        /// Estimated cycle, days.
        cycle_days: f64,
        /// Next due day (days since 1970-01-01).
        due_day: i32,
    },
    /// Bought before, without a clear cycle yet.
    Usual {
        /// Purchase days of it.
        purchase_days: u32,
    },
    /// Not bought yet: customers who buy `because` also buy it.
    Similar {
        /// The customer's product that contributed most.
        because: u32,
    },
    /// Not bought yet: a popular product of a category the customer buys from.
    InCategory {
        /// Category index into [`Catalogue::categories`].
        category: u32,
    },
    /// Not bought yet: a best seller.
    Popular,
    /// Not bought yet: selling more lately (new, or coming into season).
    Rising,
    /// Not bought yet: bought by `neighbours` of the shoppers who buy most like them.
    LikeYou {
        /// How many of those shoppers bought it.
        neighbours: u32,
        /// How many shoppers were looked at.
        of: u32,
    },
}

/// One recommended product.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recommendation {
    /// Item index of the pass.
    pub item: u32,
    /// Probability of a purchase within the horizon.
    pub score: f64,
    /// Why.
    pub reason: Reason,
}

/// The fitted recommender: popularity and item-item neighbourhoods.
pub struct Recommender {
    settings: RecommendSettings,
    /// Per item: its share of all customers' distinct products (the popularity prior).
    popularity: Vec<f64>,
    /// Per item: (neighbour, cosine similarity), most similar first.
    neighbours: Vec<Vec<(u32, f32)>>,
    /// Items by popularity, best first.
    best_sellers: Vec<u32>,
    /// Per item: its category.
    category_of_item: Vec<u32>,
    /// Per item: its share of its category's customers (popularity within the category).
    share_in_category: Vec<f64>,
    /// Per category: its items, best sellers first.
    by_category: Vec<Vec<u32>>,
    /// Per item: its share of the last four weeks' purchases over its overall share.
    trend: Vec<f32>,
    /// Per item: its share of the same weeks a year before over its overall share (1
    /// without a year of data).
    season: Vec<f32>,
    /// Items selling most in the last four weeks for their overall share, most first.
    rising: Vec<u32>,
    /// The pool of shoppers "people like you" are found among.
    pool: People,
}

/// A sample of shoppers, as unit vectors of purchase days per product, indexed by product.
#[derive(Default)]
struct People {
    /// Per pool member: their customer index and their products.
    members: Vec<(u32, Vec<u32>)>,
    /// Per item: (pool member, weight of the item in their unit vector).
    postings: Vec<Vec<(u32, f32)>>,
}

impl People {
    fn build(parts: &Partitioned, n_items: usize, last_day: i32, size: usize) -> Result<People, Error> {
        let total = parts.keys.len().max(1) as u64;
        let mut people = People { members: Vec::new(), postings: vec![Vec::new(); n_items] };
        if size == 0 {
            return Ok(people);
        }
        parts.for_each_customer(|c, records| {
            if sampled(c, total, size as u64, 0x5EED_0F9E_0B1E) {
                let mut items = Vec::new();
                let mut weights = Vec::new();
                for g in records.chunk_by(|a, b| a.item == b.item) {
                    let mut days: Vec<i32> = g.iter().map(|r| r.day).filter(|&d| d <= last_day).collect();
                    days.dedup();
                    if !days.is_empty() {
                        items.push(g[0].item);
                        weights.push(days.len() as f64);
                    }
                }
                let norm = weights.iter().map(|w| w * w).sum::<f64>().sqrt();
                if norm > 0.0 {
                    let m = people.members.len() as u32;
                    for (&i, w) in items.iter().zip(&weights) {
                        people.postings[i as usize].push((m, (w / norm) as f32));
                    }
                    people.members.push((c, items));
                }
            }
        })?;
        Ok(people)
    }

    /// The items the `k` pool members most similar to a customer (cosine of purchase days)
    /// bought and the customer did not: (item, summed similarity, members), and how many
    /// members were used.
    fn suggest(&self, customer: u32, own: &[(u32, f64)], k: usize) -> Suggestions {
        if self.members.is_empty() || own.is_empty() || k == 0 {
            return (Vec::new(), 0);
        }
        let norm = own.iter().map(|o| o.1 * o.1).sum::<f64>().sqrt();
        let mut sims = vec![0f32; self.members.len()];
        // Products nearly everyone buys say little about whom a customer is like, and
        // cost the most: they are left out of the similarity.
        let common = self.members.len() / COMMON_SHARE;
        for &(item, n) in own {
            let w = (n / norm) as f32;
            let postings = &self.postings[item as usize];
            if postings.len() > common {
                continue;
            }
            for &(m, x) in postings {
                sims[m as usize] += w * x;
            }
        }
        let mut near: Vec<(u32, f32)> = sims
            .iter()
            .enumerate()
            .filter(|(m, s)| **s > 0.0 && self.members[*m].0 != customer)
            .map(|(m, s)| (m as u32, *s))
            .collect();
        let order = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if near.len() > k {
            near.select_nth_unstable_by(k, order);
            near.truncate(k);
        }
        let mut votes = vec![(0f64, 0u32); self.postings.len()];
        for &(m, sim) in &near {
            for &item in &self.members[m as usize].1 {
                let e = &mut votes[item as usize];
                e.0 += f64::from(sim);
                e.1 += 1;
            }
        }
        for &(item, _) in own {
            votes[item as usize].1 = 0;
        }
        let mut out: Vec<(u32, f64, u32)> =
            votes.iter().enumerate().filter(|(_, v)| v.1 > 0).map(|(i, v)| (i as u32, v.0, v.1)).collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        (out, near.len() as u32)
    }
}

/// Products of "people like you" whose share enters a customer's prior (the most voted).
const LIKE_KEPT: usize = 300;

/// A product bought by more than one in this many of the pool takes no part in the
/// similarity of shoppers.
const COMMON_SHARE: usize = 4;

/// Products suggested by the shoppers most like a customer: (item, summed similarity,
/// shoppers who bought it), most similar first; and how many shoppers were looked at.
type Suggestions = (Vec<(u32, f64, u32)>, u32);

/// Whether customer `c` of `total` falls in a deterministic sample of about `wanted`.
fn sampled(c: u32, total: u64, wanted: u64, salt: u64) -> bool {
    let h = (u64::from(c) ^ salt).wrapping_add(0x9E37_79B9_7F4A_7C15).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let h = (h ^ (h >> 31)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (h ^ (h >> 29)) % total < wanted
}

/// Days of "lately" for [`RecommendSettings::trend_weight`].
const RECENT_DAYS: i32 = 28;
/// Pseudo purchase days that shrink an item's recent or seasonal share to its overall one.
const SHRINK_DAYS: f64 = 200.0;

impl Recommender {
    /// The item's share of all customers' distinct products.
    pub fn popularity(&self, item: u32) -> f64 {
        self.popularity.get(item as usize).copied().unwrap_or(0.0)
    }

    /// Items by popularity, best first.
    pub fn best_sellers(&self) -> &[u32] {
        &self.best_sellers
    }

    /// Learns popularity and item-item similarities from every customer's history.
    pub fn fit(
        parts: &Partitioned,
        category_of_item: &[u32],
        settings: &RecommendSettings,
    ) -> Result<Recommender, Error> {
        Recommender::fit_until(parts, category_of_item, settings, i32::MAX)
    }

    /// [`Recommender::fit`] on the lines up to `last_day` (inclusive) only.
    pub fn fit_until(
        parts: &Partitioned,
        category_of_item: &[u32],
        settings: &RecommendSettings,
        last_day: i32,
    ) -> Result<Recommender, Error> {
        let n_items = parts.skus.len();
        let mut customers_of = vec![0u64; n_items];
        parts.for_each_customer(|_, records| {
            for g in records.chunk_by(|a, b| a.item == b.item) {
                if g[0].day <= last_day {
                    customers_of[g[0].item as usize] += 1;
                }
            }
        })?;
        let total: u64 = customers_of.iter().sum();
        if total == 0 {
            return Err(Error::new(ErrorKind::Input, "no purchase with a card to learn recommendations from"));
        }
        // Two more passes over the lines, only when the trend or the season counts.
        let (trend, season, rising) = if settings.trend_weight > 0.0 || settings.season_weight > 0.0 {
            timing(parts, n_items, last_day, settings.horizon_days as i32)?
        } else {
            (vec![1.0; n_items], vec![1.0; n_items], Vec::new())
        };
        let popularity: Vec<f64> = customers_of.iter().map(|&c| c as f64 / total as f64).collect();
        let mut best_sellers: Vec<u32> = (0..n_items as u32).collect();
        best_sellers.sort_by(|&a, &b| customers_of[b as usize].cmp(&customers_of[a as usize]).then(a.cmp(&b)));

        // Dense co-occurrence over the best sellers (index into `kept`).
        let kept: Vec<u32> = best_sellers.iter().copied().take(settings.max_items).collect();
        let mut slot = vec![u32::MAX; n_items];
        for (s, &i) in kept.iter().enumerate() {
            slot[i as usize] = s as u32;
        }
        let m = kept.len();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
        let mut co = vec![0u32; m * m];
        for p in 0..parts.partitions() {
            let records = parts.load(p)?;
            let customers: Vec<&[LineRecord]> = records.chunk_by(|a, b| a.customer == b.customer).collect();
            let chunk = customers.len().div_ceil(threads).max(1);
            let partials: Vec<Vec<u32>> = std::thread::scope(|scope| {
                let handles: Vec<_> = customers
                    .chunks(chunk)
                    .map(|part| {
                        let slot = &slot;
                        scope.spawn(move || {
                            let mut local = vec![0u32; m * m];
                            let mut items: Vec<u32> = Vec::new();
                            for records in part {
                                items.clear();
                                items.extend(
                                    records
                                        .chunk_by(|a, b| a.item == b.item)
                                        .filter(|g| g[0].day <= last_day)
                                        .map(|g| slot[g[0].item as usize])
                                        .filter(|&s| s != u32::MAX),
                                );
                                for &a in &items {
                                    let row = &mut local[a as usize * m..(a as usize + 1) * m];
                                    for &b in &items {
                                        row[b as usize] += 1;
                                    }
                                }
                            }
                            local
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().expect("co-occurrence worker")).collect()
            });
            for local in partials {
                co.iter_mut().zip(local).for_each(|(c, l)| *c += l);
            }
        }
        let mut neighbours = vec![Vec::new(); n_items];
        for (a, &ia) in kept.iter().enumerate() {
            let na = f64::from(co[a * m + a]);
            let mut row: Vec<(u32, f32)> = (0..m)
                .filter(|&b| b != a && co[a * m + b] > 0)
                .map(|b| {
                    let nb = f64::from(co[b * m + b]);
                    (kept[b], (f64::from(co[a * m + b]) / (na * nb).sqrt()) as f32)
                })
                .collect();
            row.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
            row.truncate(settings.neighbours);
            neighbours[ia as usize] = row;
        }
        let n_cat = category_of_item.iter().copied().max().map_or(0, |m| m as usize + 1);
        let mut per_cat = vec![0u64; n_cat];
        for (i, &c) in customers_of.iter().enumerate() {
            per_cat[category_of_item[i] as usize] += c;
        }
        let share_in_category = customers_of
            .iter()
            .enumerate()
            .map(|(i, &c)| c as f64 / per_cat[category_of_item[i] as usize].max(1) as f64)
            .collect();
        let mut by_category = vec![Vec::new(); n_cat];
        for &item in &best_sellers {
            by_category[category_of_item[item as usize] as usize].push(item);
        }
        let pool_size = if settings.people_weight > 0.0 { settings.people_pool } else { 0 };
        let pool = People::build(parts, n_items, last_day, pool_size)?;
        Ok(Recommender {
            pool,
            trend,
            season,
            rising,
            by_category,
            settings: settings.clone(),
            popularity,
            neighbours,
            best_sellers,
            category_of_item: category_of_item.to_vec(),
            share_in_category,
        })
    }

    /// The top `k` products for one customer from their records (sorted by item and day),
    /// as of `as_of_day`.
    pub fn recommend(
        &self,
        records: &[LineRecord],
        as_of_day: i32,
        k: usize,
        exclude_purchased: bool,
        habits: &HabitSettings,
    ) -> Vec<Recommendation> {
        self.recommend_inner(&self.settings, records, as_of_day, k, exclude_purchased, habits, None)
    }

    /// What the shoppers most like this customer bought, from their records.
    fn like_you(&self, s: &RecommendSettings, records: &[LineRecord]) -> Suggestions {
        let customer = records.first().map_or(u32::MAX, |r| r.customer);
        let mut counts: Vec<(u32, f64)> = Vec::new();
        for g in records.chunk_by(|a, b| a.item == b.item) {
            let mut days: Vec<i32> = g.iter().map(|r| r.day).collect();
            days.dedup();
            counts.push((g[0].item, days.len() as f64));
        }
        self.pool.suggest(customer, &counts, s.people_neighbours)
    }

    /// [`Recommender::recommend`] with weights `s` (what [`tune`] tries) and, when known,
    /// what people like the customer bought.
    #[allow(clippy::too_many_arguments)]
    fn recommend_inner(
        &self,
        s: &RecommendSettings,
        records: &[LineRecord],
        as_of_day: i32,
        k: usize,
        exclude_purchased: bool,
        habits: &HabitSettings,
        known: Option<&Suggestions>,
    ) -> Vec<Recommendation> {
        let first = records.iter().map(|r| r.day).min().unwrap_or(as_of_day);
        let days_known = f64::from((as_of_day - first).max(0) + 1).max(30.0);
        // With a half-life h, a purchase d days old counts 2^(−d/h), and the tenure is the
        // integral of the same weight over the days known.
        let decay = if s.recency_days > 0.0 { std::f64::consts::LN_2 / s.recency_days } else { 0.0 };
        let weight = |day: i32| if decay > 0.0 { (-decay * f64::from((as_of_day - day).max(0))).exp() } else { 1.0 };
        let tenure = if decay > 0.0 {
            ((1.0 - (-decay * days_known).exp()) / decay).max(30.0_f64.min(days_known))
        } else {
            days_known
        };
        let mut visits: Vec<i32> = records.iter().map(|r| r.day).collect();
        visits.sort_unstable();
        visits.dedup();
        // The customer's products: (item, purchase days, days, weighted purchase days).
        let mut own: Vec<(u32, u32, Vec<i32>, f64)> = Vec::new();
        for g in records.chunk_by(|a, b| a.item == b.item) {
            let mut days: Vec<i32> = g.iter().map(|r| r.day).collect();
            days.dedup();
            let weighted = days.iter().map(|&d| weight(d)).sum();
            own.push((g[0].item, days.len() as u32, days, weighted));
        }
        let rate = own.iter().map(|o| o.3).sum::<f64>() / tenure;

        // Item-item scores of the neighbours of what they bought, and who contributed most.
        let mut cf: foldhash::HashMap<u32, (f64, u32, f64)> = foldhash::HashMap::default();
        for (item, _, _, n) in &own {
            for &(j, sim) in &self.neighbours[*item as usize] {
                let add = *n * f64::from(sim);
                let e = cf.entry(j).or_insert((0.0, *item, 0.0));
                e.0 += add;
                if add > e.2 {
                    e.1 = *item;
                    e.2 = add;
                }
            }
        }
        let cf_total: f64 = cf.values().map(|v| v.0).sum();
        // What the shoppers most like them bought.
        let computed;
        let (like_you, looked_at) = match known {
            _ if s.people_weight <= 0.0 => (&[][..], 0),
            Some(known) => (&known.0[..], known.1),
            None => {
                computed = self.like_you(s, records);
                (&computed.0[..], computed.1)
            }
        };
        let like_total: f64 = like_you.iter().map(|v| v.1).sum();
        // The most voted only: a product further down has too small a share to matter.
        let mut like: Vec<(u32, f64)> = like_you
            .iter()
            .take(LIKE_KEPT)
            .map(|&(i, v, _)| (i, if like_total > 0.0 { v / like_total } else { 0.0 }))
            .collect();
        like.sort_unstable_by_key(|l| l.0);
        // The customer's categories: share of their product purchase days.
        let mut cat_days: foldhash::HashMap<u32, f64> = foldhash::HashMap::default();
        let own_total: f64 = own.len() as f64;
        for (item, _, _, _) in &own {
            *cat_days.entry(self.category_of_item[*item as usize]).or_default() += 1.0 / own_total;
        }
        let w_cat = s.category_weight;
        let prior = |item: u32| -> f64 {
            let p = self.popularity[item as usize];
            let c = if cf_total > 0.0 { cf.get(&item).map_or(0.0, |v| v.0) / cf_total } else { p };
            let c = if like_total > 0.0 {
                (1.0 - s.people_weight) * c
                    + s.people_weight * like.binary_search_by_key(&item, |l| l.0).map_or(0.0, |i| like[i].1)
            } else {
                c
            };
            let cat = cat_days.get(&self.category_of_item[item as usize]).copied().unwrap_or(0.0)
                * self.share_in_category[item as usize];
            s.popularity_weight * p + (1.0 - s.popularity_weight) * ((1.0 - w_cat) * c + w_cat * cat)
        };
        let horizon = f64::from(s.horizon_days);
        let kappa = s.prior_strength;
        let timed = s.trend_weight > 0.0 || s.season_weight > 0.0;
        let when = |item: u32| -> f64 {
            if !timed {
                return 1.0;
            }
            let i = item as usize;
            f64::from(self.trend[i]).powf(s.trend_weight) * f64::from(self.season[i]).powf(s.season_weight)
        };
        let score_of = |item: u32, n: f64, pi: f64| {
            let lambda = (n + kappa * pi) / (tenure + kappa / rate.max(1e-9)) * when(item);
            1.0 - (-lambda * horizon).exp()
        };

        let mut out: Vec<Recommendation> = Vec::new();
        if !exclude_purchased {
            for (item, n, days, weighted) in &own {
                let reason = match cycle(days, &visits, habits.min_purchases.max(habits.product_min_purchases)) {
                    Some(c) => Reason::Due { cycle_days: c.cycle_days, due_day: c.next_due_day },
                    None => Reason::Usual { purchase_days: *n },
                };
                out.push(Recommendation { item: *item, score: score_of(*item, *weighted, prior(*item)), reason });
            }
        }
        let bought = |i: u32| own.binary_search_by_key(&i, |o| o.0).is_ok();
        for (&item, &(_, because, _)) in &cf {
            if !bought(item) {
                out.push(Recommendation {
                    item,
                    score: score_of(item, 0.0, prior(item)),
                    reason: Reason::Similar { because },
                });
            }
        }
        // The products the shoppers most like them bought (the most voted: the others'
        // prior is lower and cannot reach the top k).
        for &(item, _, n) in like_you.iter().take(4 * k) {
            if !cf.contains_key(&item) {
                out.push(Recommendation {
                    item,
                    score: score_of(item, 0.0, prior(item)),
                    reason: Reason::LikeYou { neighbours: n, of: looked_at },
                });
            }
        }
        // Within a category the prior of a product not bought and not suggested by its
        // neighbours grows with its popularity, so the category's k best sellers among
        // them are the only ones that can reach the top k.
        let mut added: foldhash::HashSet<u32> = out.iter().map(|r| r.item).collect();
        if w_cat > 0.0 {
            for &category in cat_days.keys() {
                let fresh = self.by_category[category as usize]
                    .iter()
                    .copied()
                    .filter(|&i| !bought(i) && !cf.contains_key(&i))
                    .take(k);
                for item in fresh {
                    if added.insert(item) {
                        out.push(Recommendation {
                            item,
                            score: score_of(item, 0.0, prior(item)),
                            reason: Reason::InCategory { category },
                        });
                    }
                }
            }
        }
        // Best sellers fill the list for customers with little history.
        for &item in self.best_sellers.iter().take(k + own.len()) {
            if !bought(item) && !cf.contains_key(&item) && added.insert(item) {
                out.push(Recommendation { item, score: score_of(item, 0.0, prior(item)), reason: Reason::Popular });
            }
        }
        // Products selling more lately: candidates when their timing counts.
        if timed {
            for &item in self.rising.iter().take(k + own.len()) {
                if !bought(item) && !cf.contains_key(&item) && added.insert(item) {
                    out.push(Recommendation { item, score: score_of(item, 0.0, prior(item)), reason: Reason::Rising });
                }
            }
        }
        let order = |a: &Recommendation, b: &Recommendation| b.score.total_cmp(&a.score).then(a.item.cmp(&b.item));
        if out.len() > k {
            out.select_nth_unstable_by(k, order);
            out.truncate(k);
        }
        out.sort_by(order);
        // The candidates can number the whole range: keep only the k returned.
        out.shrink_to_fit();
        out
    }
}

/// Per item its trend and season ratios, and the items by trend.
type Timing = (Vec<f32>, Vec<f32>, Vec<u32>);

/// Per item: the trend ratio (share of the last [`RECENT_DAYS`] days' purchase days over the
/// overall share) and the season ratio (share of the `horizon` days a year before the
/// coming ones over the overall share), each shrunk towards 1 by [`SHRINK_DAYS`] and kept
/// within 1/50–50; and the items by trend, most first (those bought lately only).
fn timing(parts: &Partitioned, n_items: usize, last_day: i32, horizon: i32) -> Result<Timing, Error> {
    let (mut first, mut end) = (i32::MAX, i32::MIN);
    parts.for_each_customer(|_, records| {
        for r in records.iter().filter(|r| r.day <= last_day) {
            first = first.min(r.day);
            end = end.max(r.day);
        }
    })?;
    let (mut all, mut recent, mut ahead) = (vec![0u64; n_items], vec![0u64; n_items], vec![0u64; n_items]);
    let year_ago = (end - 365, end - 365 + horizon);
    parts.for_each_customer(|_, records| {
        for g in records.chunk_by(|a, b| a.item == b.item) {
            let i = g[0].item as usize;
            let mut last = i32::MIN;
            for r in g.iter().filter(|r| r.day <= last_day) {
                if r.day == last {
                    continue;
                }
                last = r.day;
                all[i] += 1;
                recent[i] += u64::from(r.day > end - RECENT_DAYS);
                ahead[i] += u64::from(r.day > year_ago.0 && r.day <= year_ago.1);
            }
        }
    })?;
    let ratio = |counts: &[u64]| -> Vec<f32> {
        let (t_all, t) = (all.iter().sum::<u64>().max(1) as f64, counts.iter().sum::<u64>() as f64);
        (0..n_items)
            .map(|i| {
                let p = all[i] as f64 / t_all;
                if p <= 0.0 {
                    return 1.0;
                }
                let shrunk = (counts[i] as f64 + SHRINK_DAYS * p) / (t + SHRINK_DAYS);
                (shrunk / p).clamp(0.02, 50.0) as f32
            })
            .collect()
    };
    let trend = ratio(&recent);
    let season = if first <= year_ago.0 { ratio(&ahead) } else { vec![1.0; n_items] };
    let mut rising: Vec<u32> = (0..n_items as u32).filter(|&i| recent[i as usize] > 0).collect();
    rising.sort_by(|&a, &b| {
        let score = |i: u32| f64::from(trend[i as usize]) * recent[i as usize] as f64;
        score(b).total_cmp(&score(a)).then(a.cmp(&b))
    });
    rising.truncate(200);
    Ok((trend, season, rising))
}

/// What [`tune`] chose, and how well, on the retailer's own data.
#[derive(Debug, Clone, Serialize)]
pub struct Tuning {
    /// The settings chosen (the given ones where nothing did better).
    pub settings: RecommendSettings,
    /// Last day of the tuning's training lines (days since 1970-01-01); the validation
    /// weeks are the `horizon_days` after it, up to the as-of day.
    pub cut_day: i32,
    /// Customers the weights were judged on (bought before the cut and after it).
    pub customers: usize,
    /// Precision@k on the validation weeks with the given settings.
    pub precision_given: f64,
    /// Precision@k on the validation weeks with the chosen ones.
    pub precision_chosen: f64,
    /// Settings tried.
    pub trials: usize,
}

/// Times [`tune`] goes round the grid.
const TUNING_ROUNDS: usize = 1;

/// The values [`tune`] tries for each weight, one weight at a time.
const GRID: [(&str, &[f64]); 7] = [
    ("recency_days", &[0.0, 30.0, 60.0, 120.0, 240.0, 480.0]),
    ("trend_weight", &[0.0, 0.25, 0.5, 1.0]),
    ("season_weight", &[0.0, 0.25, 0.5, 1.0]),
    ("prior_strength", &[0.5, 1.0, 3.0, 10.0, 30.0]),
    ("popularity_weight", &[0.0, 0.1, 0.3, 0.5, 0.8]),
    ("category_weight", &[0.0, 0.25, 0.5, 0.75, 1.0]),
    ("people_weight", &[0.0, 0.25, 0.5, 0.75, 1.0]),
];

fn set(s: &mut RecommendSettings, name: &str, v: f64) {
    match name {
        "recency_days" => s.recency_days = v,
        "prior_strength" => s.prior_strength = v,
        "popularity_weight" => s.popularity_weight = v,
        "trend_weight" => s.trend_weight = v,
        "season_weight" => s.season_weight = v,
        "people_weight" => s.people_weight = v,
        _ => s.category_weight = v,
    }
}

/// Chooses the blend's weights (the prior's strength, its mix of item-item, category and
/// popularity, the recency half-life, the trend and the season) on a time split of the lines up to `as_of_day`:
/// the recommender is fitted on the lines up to `as_of_day − horizon_days` and every
/// candidate setting is judged by precision@k on what a sample of at most `max_customers`
/// customers bought in the `horizon_days` after that, trying one weight at a time over a
/// grid. Lines after `as_of_day` are never read: the weeks a caller tests on
/// play no part. With fewer than 30 customers to judge on, the given settings stay.
#[allow(clippy::too_many_arguments)]
pub fn tune(
    parts: &Partitioned,
    category_of_item: &[u32],
    settings: &RecommendSettings,
    habits: &HabitSettings,
    as_of_day: i32,
    k: usize,
    exclude_purchased: bool,
    max_customers: usize,
) -> Result<Tuning, Error> {
    let cut = as_of_day - settings.horizon_days as i32;
    let mut tuning = Tuning {
        settings: settings.clone(),
        cut_day: cut,
        customers: 0,
        precision_given: 0.0,
        precision_chosen: 0.0,
        trials: 0,
    };
    // The sample: every customer whose hashed index falls under the share wanted.
    let total = parts.keys.len().max(1) as u64;
    let wanted = max_customers as u64;
    let mut sample: Vec<(Vec<LineRecord>, Vec<u32>)> = Vec::new();
    parts.for_each_customer(|c, records| {
        let h = u64::from(c).wrapping_add(0x9E37_79B9_7F4A_7C15).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        if (h ^ (h >> 31)) % total >= wanted {
            return;
        }
        let train: Vec<LineRecord> = records.iter().copied().filter(|r| r.day <= cut).collect();
        if train.is_empty() {
            return;
        }
        let mut truth: Vec<u32> = records
            .iter()
            .filter(|r| r.day > cut && r.day <= as_of_day)
            .map(|r| r.item)
            .filter(|i| !exclude_purchased || train.binary_search_by_key(i, |r| r.item).is_err())
            .collect();
        truth.sort_unstable();
        truth.dedup();
        if !truth.is_empty() {
            sample.push((train, truth));
        }
    })?;
    tuning.customers = sample.len();
    if sample.len() < 30 {
        return Ok(tuning);
    }
    // The pool of people like them, the trends and the seasons are built whatever the
    // given weights: the tuning tries them.
    let with_people = RecommendSettings {
        people_weight: settings.people_weight.max(1.0),
        trend_weight: settings.trend_weight.max(1.0),
        season_weight: settings.season_weight.max(1.0),
        ..settings.clone()
    };
    let model = match Recommender::fit_until(parts, category_of_item, &with_people, cut) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::Input => return Ok(tuning),
        Err(e) => return Err(e),
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    let chunk = sample.len().div_ceil(threads);
    // What people like each customer bought does not depend on the weights tried.
    let suggestions: Vec<Suggestions> = std::thread::scope(|scope| {
        let handles: Vec<_> = sample
            .chunks(chunk)
            .map(|part| {
                let model = &model;
                let with_people = &with_people;
                scope
                    .spawn(move || part.iter().map(|(train, _)| model.like_you(with_people, train)).collect::<Vec<_>>())
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("tuning worker")).collect()
    });
    let precision = |s: &RecommendSettings| -> f64 {
        let hits: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = sample
                .chunks(chunk)
                .zip(suggestions.chunks(chunk))
                .map(|(part, known)| {
                    let model = &model;
                    scope.spawn(move || {
                        part.iter()
                            .zip(known)
                            .map(|((train, truth), known)| {
                                model
                                    .recommend_inner(s, train, cut, k, exclude_purchased, habits, Some(known))
                                    .iter()
                                    .filter(|r| truth.binary_search(&r.item).is_ok())
                                    .count()
                            })
                            .sum::<usize>()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("tuning worker")).sum()
        });
        hits as f64 / (k * sample.len()) as f64
    };
    let mut best = settings.clone();
    let mut best_p = precision(&best);
    tuning.precision_given = best_p;
    tuning.trials = 1;
    for _round in 0..TUNING_ROUNDS {
        for (name, values) in GRID {
            for &v in values {
                let mut trial = best.clone();
                set(&mut trial, name, v);
                if trial == best {
                    continue;
                }
                let p = precision(&trial);
                tuning.trials += 1;
                if p > best_p + 1e-12 {
                    best = trial;
                    best_p = p;
                }
            }
        }
    }
    tuning.settings = best;
    tuning.precision_chosen = best_p;
    Ok(tuning)
}

/// Customers the blend's weights are judged on when tuning (a sample; see [`tune`]).
pub const TUNING_CUSTOMERS: usize = 2000;

/// The recommender `unico recommend` uses: the blend's weights chosen on a time split when
/// the settings ask for it (`tune_on_time_split`, on [`TUNING_CUSTOMERS`] customers), then
/// fitted on every line of `parts`.
#[allow(clippy::too_many_arguments)]
pub fn tune_and_fit(
    parts: &Partitioned,
    category_of_item: &[u32],
    settings: &RecommendSettings,
    habits: &HabitSettings,
    as_of_day: i32,
    k: usize,
    exclude_purchased: bool,
) -> Result<(Option<Tuning>, Recommender), Error> {
    let tuning = if settings.tune_on_time_split {
        Some(tune(parts, category_of_item, settings, habits, as_of_day, k, exclude_purchased, TUNING_CUSTOMERS)?)
    } else {
        None
    };
    let weights = tuning.as_ref().map_or(settings, |t| &t.settings);
    let model = Recommender::fit(parts, category_of_item, weights)?;
    Ok((tuning, model))
}

/// Recommends for every customer, in parallel within each partition, and hands each
/// customer's list to `sink` (customer index, recommendations) in partition order.
pub fn recommend_all(
    parts: &Partitioned,
    model: &Recommender,
    as_of_day: i32,
    k: usize,
    exclude_purchased: bool,
    habits: &HabitSettings,
    mut sink: impl FnMut(u32, &[Recommendation]) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut failed: Option<Error> = None;
    crate::lines::map_customers(
        parts,
        |r| model.recommend(r, as_of_day, k, exclude_purchased, habits),
        |customer, list| {
            if failed.is_none()
                && let Err(e) = sink(customer, &list)
            {
                failed = Some(e);
            }
        },
    )?;
    if let Some(e) = failed {
        return Err(e);
    }
    Ok(())
}

/// The reason in words, e.g. "buys Lavazza coffee about every 12 days; due 2025-10-03".
pub fn reason_text(rec: &Recommendation, parts: &Partitioned, catalogue: &Catalogue, as_of_day: i32) -> String {
    reason_words(
        rec.item,
        rec.reason,
        &|item| catalogue.name_of(&parts.skus[item as usize]).to_string(),
        &catalogue.categories,
        as_of_day,
    )
}

/// [`reason_text`] from the item, its reason, the items' names and the categories' names:
/// for callers that keep only those (a campaign renders the reasons of the offers it
/// chose, not of every candidate).
pub fn reason_words(
    item: u32,
    reason: Reason,
    name: &dyn Fn(u32) -> String,
    categories: &[String],
    as_of_day: i32,
) -> String {
    match reason {
        Reason::Due { cycle_days, due_day } => {
            let when = if due_day < as_of_day {
                format!("overdue by {} days", as_of_day - due_day)
            } else if due_day == as_of_day {
                "due today".to_string()
            } else {
                format!("due {}", unico_core::day::date_of(due_day))
            };
            format!("buys {} about every {} days; {when}", name(item), cycle_days.round().max(1.0))
        }
        Reason::Usual { purchase_days } => {
            if purchase_days == 1 {
                format!("bought {} once", name(item))
            } else {
                format!("bought {} on {purchase_days} days", name(item))
            }
        }
        Reason::Similar { because } => format!("customers who buy {} also buy it", name(because)),
        Reason::InCategory { category } => format!(
            "popular in {}, a category they buy from",
            categories.get(category as usize).map_or("their categories", |c| c.as_str())
        ),
        Reason::Popular => "one of the chain's best sellers".to_string(),
        Reason::Rising => "selling more and more lately (new, or coming into season)".to_string(),
        Reason::LikeYou { neighbours, of } => {
            format!("people who buy like them buy it ({neighbours} of the {of} most alike)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(customer: u32, item: u32, day: i32) -> LineRecord {
        LineRecord { customer, item, day, net_cents: 100 }
    }

    fn parts(records: Vec<LineRecord>, items: usize) -> Partitioned {
        let customers = records.iter().map(|r| r.customer).max().unwrap_or(0) as usize + 1;
        Partitioned::from_records(
            (0..customers).map(|c| format!("k{c}")).collect(),
            (0..items).map(|i| format!("sku{i}")).collect(),
            records,
        )
    }

    #[test]
    fn similar_baskets_suggest_what_the_customer_has_not_bought() {
        // Customers 0–9 buy items 0 and 1 together; customers 10–19 buy 2 and 3 together.
        // Customer 20 bought item 0 only (on four days): item 1 must come before 2 and 3.
        let mut r = Vec::new();
        for c in 0..10 {
            r.extend([rec(c, 0, 1), rec(c, 1, 1)]);
        }
        for c in 10..20 {
            r.extend([rec(c, 2, 1), rec(c, 3, 1)]);
        }
        r.extend([rec(20, 0, 5), rec(20, 0, 12), rec(20, 0, 19), rec(20, 0, 26)]);
        let p = parts(r.clone(), 4);
        let model = Recommender::fit(&p, &vec![0; p.skus.len()], &RecommendSettings::default()).unwrap();
        let mine: Vec<LineRecord> = r.iter().copied().filter(|x| x.customer == 20).collect();
        let top = model.recommend(&mine, 30, 2, true, &HabitSettings::default());
        assert_eq!(top[0].item, 1);
        assert_eq!(top[0].reason, Reason::Similar { because: 0 });
        // Excluding purchases never returns item 0; including them ranks it first: bought
        // on four days outweighs a suggestion.
        assert!(top.iter().all(|t| t.item != 0));
        let all = model.recommend(&mine, 30, 4, false, &HabitSettings::default());
        assert_eq!(all[0].item, 0);
        assert!(all.windows(2).all(|w| w[0].score >= w[1].score));
        assert!(all.iter().all(|t| t.score > 0.0 && t.score < 1.0));
    }

    #[test]
    fn a_product_is_recommended_once_whatever_suggests_it() {
        // Item 2 is the best seller of category 0 and item 0 the next; customer 20 bought
        // item 1 of the same category, never with either: both come from category affinity
        // and from the best sellers, and must be listed once each.
        let mut r: Vec<LineRecord> = (0..10).map(|c| rec(c, 2, 1)).collect();
        r.extend((10..15).map(|c| rec(c, 0, 1)));
        r.push(rec(20, 1, 3));
        let p = parts(r.clone(), 3);
        let model = Recommender::fit(&p, &[0, 0, 0], &RecommendSettings::default()).unwrap();
        let mine: Vec<LineRecord> = r.iter().copied().filter(|x| x.customer == 20).collect();
        let top = model.recommend(&mine, 30, 3, true, &HabitSettings::default());
        assert_eq!(top.iter().map(|t| t.item).collect::<Vec<_>>(), [2, 0], "{top:?}");
        assert_eq!(top[0].reason, Reason::InCategory { category: 0 });
    }

    #[test]
    fn a_regular_purchase_is_due_and_ranks_first() {
        // Customer 0 buys item 2 every 7 days and item 1 once.
        let mut r: Vec<LineRecord> = (0..8).map(|w| rec(0, 2, w * 7)).collect();
        r.push(rec(0, 1, 7));
        r.extend([rec(1, 1, 2), rec(1, 0, 2), rec(2, 0, 4)]);
        r.sort_unstable();
        let p = parts(r.clone(), 3);
        let model = Recommender::fit(&p, &vec![0; p.skus.len()], &RecommendSettings::default()).unwrap();
        let mine: Vec<LineRecord> = r.iter().copied().filter(|x| x.customer == 0).collect();
        let top = model.recommend(&mine, 52, 3, false, &HabitSettings::default());
        assert_eq!(top[0].item, 2);
        let Reason::Due { cycle_days, due_day } = top[0].reason else { panic!("{:?}", top[0]) };
        assert_eq!((cycle_days, due_day), (7.0, 56));
        let catalogue = Catalogue::default();
        assert_eq!(reason_text(&top[0], &p, &catalogue, 52), "buys sku2 about every 7 days; due 1970-02-26");
        assert_eq!(reason_text(&top[0], &p, &catalogue, 60), "buys sku2 about every 7 days; overdue by 4 days");
    }

    #[test]
    fn people_who_buy_like_you_suggest_what_they_bought() {
        // Customers 0–19 buy items 0–3, customers 20–59 items 4–7 and 60–99 items 8–11
        // (those sell more); customer 100 bought items 0 and 1. With item-item similarity
        // off, what shoppers like them bought (2 and 3) comes before the best sellers.
        let mut r = Vec::new();
        for c in 0..100 {
            let items = if c < 20 {
                0..4
            } else if c < 60 {
                4..8
            } else {
                8..12
            };
            r.extend(items.map(|i| rec(c, i, 1 + i as i32)));
        }
        r.extend([rec(100, 0, 3), rec(100, 1, 4)]);
        let p = parts(r.clone(), 12);
        let settings = RecommendSettings {
            neighbours: 0,
            people_weight: 1.0,
            people_neighbours: 10,
            popularity_weight: 0.0,
            category_weight: 0.0,
            ..Default::default()
        };
        let model = Recommender::fit(&p, &[0; 12], &settings).unwrap();
        let mine: Vec<LineRecord> = r.iter().copied().filter(|x| x.customer == 100).collect();
        let top = model.recommend(&mine, 30, 2, true, &HabitSettings::default());
        assert_eq!(top.iter().map(|t| t.item).collect::<Vec<_>>(), [2, 3], "{top:?}");
        assert_eq!(top[0].reason, Reason::LikeYou { neighbours: 10, of: 10 });
        let catalogue = Catalogue::default();
        assert_eq!(
            reason_text(&top[0], &p, &catalogue, 30),
            "people who buy like them buy it (10 of the 10 most alike)"
        );
        // Without the people part, the best sellers win.
        let model = Recommender::fit(&p, &[0; 12], &RecommendSettings { people_weight: 0.0, ..settings }).unwrap();
        let top = model.recommend(&mine, 30, 2, true, &HabitSettings::default());
        assert!(top.iter().all(|t| t.item >= 4), "{top:?}");
    }

    /// Every customer buys items 0 and 1 every 20 days until day 99, items 2 and 3 from
    /// day 100 to 290, and 0 and 1 again from day 291 to 380.
    fn shifting_tastes(until: i32) -> Partitioned {
        let mut r = Vec::new();
        for c in 0..60 {
            for day in (0..=380).step_by(20) {
                if day > until {
                    break;
                }
                let items: [u32; 2] = if (100..=290).contains(&day) { [2, 3] } else { [0, 1] };
                r.extend(items.iter().map(|&i| rec(c, i, day + (c % 3) as i32)));
            }
        }
        parts(r, 4)
    }

    #[test]
    fn the_blend_is_tuned_on_the_weeks_before_the_as_of_day_only() {
        let settings = RecommendSettings { people_weight: 0.0, ..Default::default() };
        let habits = HabitSettings::default();
        let tune_at =
            |p: &Partitioned, as_of: i32| tune(p, &[0; 4], &settings, &habits, as_of, 2, false, 1000).unwrap();
        // As of day 290 the tuning trains to day 199 (old 0 and 1, recent 2 and 3, on five
        // days each) and judges on days 200–290, when 2 and 3 were bought: recency wins.
        let all = shifting_tastes(i32::MAX);
        let at_290 = tune_at(&all, 290);
        assert_eq!(at_290.cut_day, 199);
        assert_eq!(at_290.customers, 60);
        assert!(at_290.settings.recency_days > 0.0, "{at_290:?}");
        assert_eq!(at_290.precision_chosen, 1.0);
        assert_eq!(at_290.precision_given, 0.0);
        // The weeks after day 290, where tastes turn back, change nothing: the tuning is
        // the same whether they are in the data or not…
        let before = tune_at(&shifting_tastes(290), 290);
        assert_eq!(format!("{before:?}"), format!("{at_290:?}"));
        // …though they would have changed it: judged on them, no recency helps.
        let at_380 = tune_at(&all, 380);
        assert_eq!(at_380.settings.recency_days, 0.0, "{at_380:?}");
        assert_eq!(at_380.precision_chosen, 0.0, "{at_380:?}");
    }
}
