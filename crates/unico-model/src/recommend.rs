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
        }
    }
}

/// Why a product is recommended.
#[derive(Debug, Clone, Copy, PartialEq)]
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
}

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
        let n_items = parts.skus.len();
        let mut customers_of = vec![0u64; n_items];
        parts.for_each_customer(|_, records| {
            for g in records.chunk_by(|a, b| a.item == b.item) {
                customers_of[g[0].item as usize] += 1;
            }
        })?;
        let total: u64 = customers_of.iter().sum();
        if total == 0 {
            return Err(Error::new(ErrorKind::Input, "no purchase with a card to learn recommendations from"));
        }
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
        Ok(Recommender {
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
        let s = &self.settings;
        let first = records.iter().map(|r| r.day).min().unwrap_or(as_of_day);
        let tenure = f64::from((as_of_day - first).max(0) + 1).max(30.0);
        let mut visits: Vec<i32> = records.iter().map(|r| r.day).collect();
        visits.sort_unstable();
        visits.dedup();
        // The customer's products: (item, purchase days, days).
        let mut own: Vec<(u32, u32, Vec<i32>)> = Vec::new();
        for g in records.chunk_by(|a, b| a.item == b.item) {
            let mut days: Vec<i32> = g.iter().map(|r| r.day).collect();
            days.dedup();
            own.push((g[0].item, days.len() as u32, days));
        }
        let rate = own.iter().map(|o| f64::from(o.1)).sum::<f64>() / tenure;

        // Item-item scores of the neighbours of what they bought, and who contributed most.
        let mut cf: foldhash::HashMap<u32, (f64, u32, f64)> = foldhash::HashMap::default();
        for (item, n, _) in &own {
            for &(j, sim) in &self.neighbours[*item as usize] {
                let add = f64::from(*n) * f64::from(sim);
                let e = cf.entry(j).or_insert((0.0, *item, 0.0));
                e.0 += add;
                if add > e.2 {
                    e.1 = *item;
                    e.2 = add;
                }
            }
        }
        let cf_total: f64 = cf.values().map(|v| v.0).sum();
        // The customer's categories: share of their product purchase days.
        let mut cat_days: foldhash::HashMap<u32, f64> = foldhash::HashMap::default();
        let own_total: f64 = own.len() as f64;
        for (item, _, _) in &own {
            *cat_days.entry(self.category_of_item[*item as usize]).or_default() += 1.0 / own_total;
        }
        let w_cat = s.category_weight;
        let prior = |item: u32| -> f64 {
            let p = self.popularity[item as usize];
            let c = if cf_total > 0.0 { cf.get(&item).map_or(0.0, |v| v.0) / cf_total } else { p };
            let cat = cat_days.get(&self.category_of_item[item as usize]).copied().unwrap_or(0.0)
                * self.share_in_category[item as usize];
            s.popularity_weight * p + (1.0 - s.popularity_weight) * ((1.0 - w_cat) * c + w_cat * cat)
        };
        let horizon = f64::from(s.horizon_days);
        let kappa = s.prior_strength;
        let score = |n: f64, pi: f64| {
            let lambda = (n + kappa * pi) / (tenure + kappa / rate.max(1e-9));
            1.0 - (-lambda * horizon).exp()
        };

        let mut out: Vec<Recommendation> = Vec::new();
        if !exclude_purchased {
            for (item, n, days) in &own {
                let reason = match cycle(days, &visits, habits.min_purchases.max(habits.product_min_purchases)) {
                    Some(c) => Reason::Due { cycle_days: c.cycle_days, due_day: c.next_due_day },
                    None => Reason::Usual { purchase_days: *n },
                };
                out.push(Recommendation { item: *item, score: score(f64::from(*n), prior(*item)), reason });
            }
        }
        let bought = |i: u32| own.binary_search_by_key(&i, |o| o.0).is_ok();
        for (&item, &(_, because, _)) in &cf {
            if !bought(item) {
                out.push(Recommendation { item, score: score(0.0, prior(item)), reason: Reason::Similar { because } });
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
                            score: score(0.0, prior(item)),
                            reason: Reason::InCategory { category },
                        });
                    }
                }
            }
        }
        // Best sellers fill the list for customers with little history.
        for &item in self.best_sellers.iter().take(k + own.len()) {
            if !bought(item) && !cf.contains_key(&item) && added.insert(item) {
                out.push(Recommendation { item, score: score(0.0, prior(item)), reason: Reason::Popular });
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
}
