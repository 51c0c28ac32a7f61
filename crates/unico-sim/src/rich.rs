//! Richer shoppers (`ChainConfig::shoppers = Shoppers::Rich`, `unico generate --shoppers rich`):
//! the structure real baskets have beyond staples, category preferences and popularity.
//!
//! - **Household types.** Every person belongs to one of [`HOUSEHOLDS`] types. A type tilts
//!   the category preferences (a log-normal factor per category) and favours about
//!   [`FAVOURED_SHARE`] of the products of *every* category, which it picks ×
//!   [`FAVOURED_BOOST`] more often: people like you predict what you will try, across
//!   categories.
//! - **Brand loyalty and switching.** Each person has a favourite brand in every category
//!   (drawn towards their household's favoured products) and a loyalty `l ~ Beta(2, 2)`:
//!   products of the favourite brand are picked (1 + [`BRAND_BOOST`]·l) times more often.
//!   At each visit, with probability [`SWITCH_PER_VISIT`], they switch the favourite brand
//!   of one category for good (written to `truth/brand_switches.csv`).
//! - **Substitutes.** The best sellers of each category come in pairs (two pastas); each
//!   person prefers one of each pair and picks the other [`AVOIDED`] times as often.
//! - **Complements.** Products of a few categories have a complement in another (pasta and
//!   a sauce from the canned goods, coffee and biscuits, cheese and wine, meat and
//!   vegetables, beer and frozen meals): with the first in the basket, the second is added
//!   with probability [`COMPLEMENT_P`].
//! - **Seasonal products.** A tenth of the non-durable products sell around a peak day of
//!   the year (a Gaussian bump of 20–45 days' width), and hardly at all out of season.
//! - **New products.** A twentieth are launched during the period: none is sold before its
//!   launch day, and they sell with a novelty boost (×4, fading over two months) after it.
//! - **The chain's mass promotions.** One week in four, a whole category is 25 % off for
//!   everyone: shoppers buy more of it that week (its preference ×(1 + 3·s), s the price
//!   sensitivity), and go back to their habits the week after.
//!
//! Everything is in `truth/`: `households.csv`, `household_products.csv`,
//! `product_structure.csv`, `brand_switches.csv`, `chain_promotions.csv`. The structure is
//! drawn from its own random streams (the world's and each person's `Tastes` stream), so the
//! basic shoppers (the default) are byte for byte those of earlier versions.

use crate::catalogue::{self, Product};
use crate::people::{self, Person};
use crate::shop::on_promo;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, LogNormal};

/// Household types.
pub const HOUSEHOLDS: usize = 10;
/// Share of each category's products a household type favours.
pub const FAVOURED_SHARE: f64 = 0.12;
/// How much more often a household picks a product it favours.
pub const FAVOURED_BOOST: f64 = 8.0;
/// Extra weight of the favourite brand at loyalty 1.
pub const BRAND_BOOST: f64 = 12.0;
/// Probability, at each visit, of switching the favourite brand of one category.
pub const SWITCH_PER_VISIT: f64 = 0.01;
/// Relative weight of the substitute a person does not prefer.
pub const AVOIDED: f64 = 0.02;
/// Probability of adding a product's complement to a basket holding it.
pub const COMPLEMENT_P: f64 = 0.4;
/// Percent off during a mass promotion week.
pub const EVENT_PERCENT: u32 = 25;

/// Category pairs (driver, complement).
const COMPLEMENTS: &[(&str, &str)] = &[
    ("Pasta", "Canned"),
    ("Coffee", "Biscuits"),
    ("Cheese", "Wine"),
    ("Meat", "Vegetables"),
    ("Beer", "Frozen meals"),
];

/// The world's side of the rich structure.
#[derive(Debug, Clone)]
pub(crate) struct Structure {
    /// Per household type: probability of a person being of it.
    pub household_weights: Vec<f64>,
    /// Per household type, per category: the preference tilt.
    pub tilt: Vec<Vec<f64>>,
    /// Per product: bit h set if household type h favours it.
    pub favoured: Vec<u16>,
    /// Per product: its brand (index into the catalogue's brands).
    pub brand: Vec<u8>,
    /// Per category: the brands it has products of.
    pub brands_in: Vec<Vec<u8>>,
    /// Per product: the other product of its substitute pair.
    pub substitute: Vec<Option<usize>>,
    /// Per product: its complement.
    pub complement: Vec<Option<usize>>,
    /// Per product: (peak day of the year, width in days) if seasonal.
    pub season: Vec<Option<(f64, f64)>>,
    /// Per product: launch day (from the start) if launched during the period.
    pub launch: Vec<Option<f64>>,
    /// Per household type, per category: cumulative weights of its products (popularity ×
    /// the household's favour), to draw a favourite brand with one number.
    brand_pick: Vec<Vec<Vec<f64>>>,
    /// Per product: seasonal or launched during the period.
    timed: Vec<bool>,
    /// Categories a mass promotion can be on (not durable).
    event_categories: Vec<usize>,
    seed: u64,
}

/// A person's side of the rich structure.
#[derive(Debug, Clone)]
pub(crate) struct Tastes {
    pub household: usize,
    pub loyalty: f64,
    /// Per category: the favourite brand now.
    pub brand: Vec<u8>,
    /// Per category, once drawn from: each product's weight before its season and launch
    /// (popularity × household × brand × substitute), emptied when the brand changes.
    cache: Vec<Vec<f64>>,
    scratch: Vec<f64>,
}

/// A brand switch: (day, category, from, to).
pub(crate) type Switch = (f64, usize, u8, u8);

impl Structure {
    pub(crate) fn new(products: &[Product], by_category: &[Vec<usize>], days: u32, seed: u64) -> Structure {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7269_6368_5f73_686f);
        let cats = catalogue::categories();
        let household_weights: Vec<f64> = (0..HOUSEHOLDS).map(|_| rng.random_range(0.5..1.5)).collect();
        let tilt_dist = LogNormal::new(0.0, 0.8).expect("valid");
        let tilt = (0..HOUSEHOLDS).map(|_| cats.iter().map(|_| tilt_dist.sample(&mut rng)).collect()).collect();
        let favoured: Vec<u16> = products
            .iter()
            .map(|_| {
                (0..HOUSEHOLDS).fold(0u16, |m, h| if rng.random::<f64>() < FAVOURED_SHARE { m | 1 << h } else { m })
            })
            .collect();
        let brand: Vec<u8> = products.iter().map(|p| catalogue::brand_index(p.brand)).collect();
        let mut brands_in: Vec<Vec<u8>> = vec![Vec::new(); by_category.len()];
        for (c, items) in by_category.iter().enumerate() {
            for &p in items {
                if !brands_in[c].contains(&brand[p]) {
                    brands_in[c].push(brand[p]);
                }
            }
            brands_in[c].sort_unstable();
        }
        let n = products.len();
        let mut season = vec![None; n];
        let mut launch = vec![None; n];
        for (p, pr) in products.iter().enumerate() {
            let u: f64 = rng.random();
            let peak: f64 = rng.random_range(1.0..366.0);
            let width: f64 = rng.random_range(20.0..45.0);
            let day: f64 = rng.random_range(0.25..0.85) * f64::from(days);
            // The two best sellers of a category are neither seasonal nor new.
            let rank = by_category[pr.category_index()].iter().position(|&q| q == p).unwrap_or(0);
            if pr.durable || rank < 2 {
                continue;
            }
            if u < 0.10 {
                season[p] = Some((peak, width));
            } else if u < 0.15 {
                launch[p] = Some(day);
            }
        }
        let plain = |p: usize| season[p].is_none() && launch[p].is_none();
        let mut substitute = vec![None; n];
        for items in by_category {
            let pairs: Vec<usize> = items.iter().copied().filter(|&p| plain(p)).collect();
            let top = (pairs.len() as f64 * 0.4) as usize / 2 * 2;
            for pair in pairs[..top].chunks(2) {
                substitute[pair[0]] = Some(pair[1]);
                substitute[pair[1]] = Some(pair[0]);
            }
        }
        let mut complement = vec![None; n];
        for (driver, partner) in COMPLEMENTS {
            let (Some(d), Some(c)) =
                (cats.iter().position(|x| x.1 == *driver), cats.iter().position(|x| x.1 == *partner))
            else {
                continue;
            };
            let partners: Vec<usize> = by_category[c].iter().copied().filter(|&p| plain(p)).collect();
            if partners.is_empty() {
                continue;
            }
            let weights: Vec<f64> = partners.iter().map(|&p| products[p].weight).collect();
            for &p in &by_category[d] {
                complement[p] = Some(partners[people::weighted(&weights, &mut rng)]);
            }
        }
        let event_categories = (0..by_category.len()).filter(|&c| !cats[c].4).collect();
        let timed = (0..n).map(|p| !plain(p)).collect();
        let brand_pick = (0..HOUSEHOLDS)
            .map(|h| {
                by_category
                    .iter()
                    .map(|items| {
                        items
                            .iter()
                            .scan(0.0, |acc, &p| {
                                *acc +=
                                    products[p].weight * if favoured[p] & (1 << h) != 0 { FAVOURED_BOOST } else { 1.0 };
                                Some(*acc)
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();
        Structure {
            household_weights,
            tilt,
            favoured,
            brand,
            brands_in,
            substitute,
            complement,
            season,
            launch,
            brand_pick,
            timed,
            event_categories,
            seed,
        }
    }

    /// The mass promotion of `week` (weeks from the start): its category and percent.
    pub(crate) fn event(&self, week: i64) -> Option<(usize, u32)> {
        if week.rem_euclid(4) != 2 || self.event_categories.is_empty() {
            return None;
        }
        let h = (week as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ self.seed.rotate_left(29);
        let h = (h ^ (h >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        Some((self.event_categories[(h >> 33) as usize % self.event_categories.len()], EVENT_PERCENT))
    }

    /// Whether person `pid` prefers `p` in its substitute pair.
    pub(crate) fn prefers(&self, pid: u64, p: usize) -> bool {
        let Some(q) = self.substitute[p] else { return true };
        let h = (pid.wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ (p.min(q) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .wrapping_add(self.seed);
        let h = (h ^ (h >> 32)).wrapping_mul(0xD6E8_FEB8_6659_FD93);
        let low_preferred = (h >> 40) & 1 == 0;
        low_preferred == (p < q)
    }

    /// Seasonal factor of product `p` on day of the year `doy`.
    pub(crate) fn season_factor(&self, p: usize, doy: f64) -> f64 {
        match self.season[p] {
            None => 1.0,
            Some((peak, width)) => {
                let d = (doy - peak).abs();
                let d = d.min(365.0 - d);
                0.03 + 4.0 * (-(d / width).powi(2)).exp()
            }
        }
    }

    /// How much product `p` sells at day `t` (day of the year `doy`): 0 before its launch,
    /// a novelty boost after it, its season.
    pub(crate) fn timing(&self, p: usize, t: f64, doy: f64) -> f64 {
        let mut w = 1.0;
        if let Some(l) = self.launch[p] {
            if t < l {
                return 0.0;
            }
            w *= 1.0 + 3.0 * (-(t - l) / 60.0).exp();
        }
        w * self.season_factor(p, doy)
    }

    /// How much person `pid` (with `tastes`) leans to product `p` of `category` whatever the
    /// day: household, brand, substitute.
    pub(crate) fn lean(
        &self,
        pid: u64,
        household: usize,
        brand: &[u8],
        loyalty: f64,
        p: usize,
        category: usize,
    ) -> f64 {
        let mut w = 1.0;
        if self.favoured[p] & (1 << household) != 0 {
            w *= FAVOURED_BOOST;
        }
        if brand[category] == self.brand[p] {
            w *= 1.0 + BRAND_BOOST * loyalty;
        }
        if !self.prefers(pid, p) {
            w *= AVOIDED;
        }
        w
    }

    /// Draws person `pid`'s tastes and reshapes their preferences and staples by them.
    pub(crate) fn shape(
        &self,
        products: &[Product],
        by_category: &[Vec<usize>],
        pid: u64,
        person: &mut Person,
        rng: &mut ChaCha8Rng,
    ) {
        let household = people::weighted(&self.household_weights, rng);
        let loyalty = Beta::new(2.0, 2.0).expect("valid").sample(rng);
        for (p, t) in person.category_prefs.iter_mut().zip(&self.tilt[household]) {
            *p *= t;
        }
        let s: f64 = person.category_prefs.iter().sum();
        person.category_prefs.iter_mut().for_each(|p| *p /= s);
        // The favourite brand of each category: the brand of a product drawn towards the
        // household's favoured ones.
        let brand: Vec<u8> = by_category
            .iter()
            .zip(&self.brand_pick[household])
            .map(|(items, cumulative)| {
                let Some(&total) = cumulative.last() else { return 0 };
                let x = rng.random::<f64>() * total;
                let i = cumulative.partition_point(|&c| c <= x).min(items.len() - 1);
                self.brand[items[i]]
            })
            .collect();
        let tastes =
            Tastes { household, loyalty, brand, cache: vec![Vec::new(); by_category.len()], scratch: Vec::new() };
        // Staples: bought all year, so neither seasonal nor new; chosen by the tastes.
        let mut chosen: Vec<usize> = Vec::new();
        for s in person.staples.iter_mut() {
            let c = people::weighted(&person.category_prefs, rng);
            let items: Vec<usize> = by_category[c]
                .iter()
                .copied()
                .filter(|&p| self.season[p].is_none() && self.launch[p].is_none() && !chosen.contains(&p))
                .collect();
            if items.is_empty() {
                chosen.push(s.product);
                continue;
            }
            let weights: Vec<f64> = items
                .iter()
                .map(|&p| products[p].weight * self.lean(pid, household, &tastes.brand, loyalty, p, c))
                .collect();
            s.product = items[people::weighted(&weights, rng)];
            chosen.push(s.product);
        }
        person.staples.retain({
            let mut seen = Vec::new();
            move |s| {
                let fresh = !seen.contains(&s.product);
                seen.push(s.product);
                fresh
            }
        });
        person.tastes = Some(tastes);
    }

    /// The extra items and complements of a rich basket: `items` holds the staples due;
    /// returns the mass promotion of the week, if any.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn fill(
        &self,
        products: &[Product],
        by_category: &[Vec<usize>],
        pid: u64,
        person: &mut Person,
        t: f64,
        doy: f64,
        week: i64,
        chain_seed: u64,
        items: &mut Vec<usize>,
        switches: &mut Vec<Switch>,
        rng: &mut ChaCha8Rng,
    ) -> Option<(usize, u32)> {
        let s = person.price_sensitivity;
        let tastes = person.tastes.as_mut().expect("rich people have tastes");
        if rng.random::<f64>() < SWITCH_PER_VISIT {
            let c = rng.random_range(0..by_category.len());
            let options = &self.brands_in[c];
            if options.len() > 1 {
                let to = options[rng.random_range(0..options.len())];
                if to != tastes.brand[c] {
                    switches.push((t, c, tastes.brand[c], to));
                    tastes.brand[c] = to;
                    tastes.cache[c].clear();
                }
            }
        }
        let event = self.event(week);
        let lambda = (person.basket_mean - 1.0).max(0.0);
        let extra = poisson(lambda, rng);
        let mut event_prefs = None;
        if let Some((c, _)) = event
            && extra > 0
        {
            let mut prefs = person.category_prefs.clone();
            prefs[c] *= 1.0 + 3.0 * s;
            event_prefs = Some(prefs);
        }
        let prefs = event_prefs.as_deref().unwrap_or(&person.category_prefs);
        for _ in 0..extra {
            let c = people::weighted(prefs, rng);
            let cands = &by_category[c];
            if tastes.cache[c].is_empty() {
                let (h, l) = (tastes.household, tastes.loyalty);
                let fresh: Vec<f64> =
                    cands.iter().map(|&p| products[p].weight * self.lean(pid, h, &tastes.brand, l, p, c)).collect();
                tastes.cache[c] = fresh;
            }
            let Tastes { cache, scratch, .. } = &mut *tastes;
            scratch.clear();
            scratch.extend(cands.iter().zip(&cache[c]).map(|(&p, &w)| {
                let w = if self.timed[p] { w * self.timing(p, t, doy) } else { w };
                if on_promo(p, week, chain_seed).is_some() { w * (1.0 + 6.0 * s) } else { w }
            }));
            if scratch.iter().sum::<f64>() <= 0.0 {
                continue;
            }
            let product = cands[people::weighted(scratch, rng)];
            if !items.contains(&product) {
                items.push(product);
            }
        }
        let drivers = items.len();
        for i in 0..drivers {
            if let Some(c) = self.complement[items[i]]
                && rng.random::<f64>() < COMPLEMENT_P
                && !items.contains(&c)
            {
                items.push(c);
            }
        }
        event
    }
}

/// Poisson(λ) by inversion (small means), the draw the basic basket makes.
pub(crate) fn poisson(lambda: f64, rng: &mut ChaCha8Rng) -> u32 {
    let (mut k, mut p, l) = (0u32, 1.0f64, (-lambda).exp());
    loop {
        p *= rng.random::<f64>();
        if p <= l {
            break k;
        }
        k += 1;
    }
}
