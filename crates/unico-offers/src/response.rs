//! How a customer responds to an offer, and what the offer really adds.
//!
//! For one customer, one product and a discount of depth `d` (share of the list price) over
//! the campaign window:
//!
//! - `p0`: the probability they buy the product in the window anyway (from their habits and
//!   the recommender's purchase rate). If they do, they redeem the offer with probability
//!   `ρ`: the discount is then given on a purchase that would have happened anyway
//!   (cannibalisation) and is pure cost.
//! - If they would not have bought it, the offer makes them buy with probability
//!   `a · g(d)`: `a` is their affinity for the product (how likely it fits them at all),
//!   `g(d)` the share of such customers that a discount of depth `d` moves. `g` grows with
//!   depth and with the customer's price sensitivity.
//!
//! Expected cost = `d · price · (p0 ρ + (1 − p0) a g(d))`; expected incremental margin =
//! `(1 − p0) a g(d) · (price (1 − d) − cost) − p0 ρ d price`. An offer on something the
//! customer buys every week mostly gives money away; a deep discount on a product they
//! have no affinity for is rarely used. The best offers sit between.
//!
//! `g` starts from a prior (`1 − e^(−κ s d)`, κ = 4) and is learned from the redemptions of
//! past campaigns: per sensitivity band and depth, a posterior on a grid of values of `g`,
//! updated with the likelihood of each observed offer (redeemed or not, given its `p0` and
//! `a`). Planning draws `g` from the posterior (Thompson sampling), so depths the data
//! has not settled yet keep being tried, and converge on what works campaign after campaign.

use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Sensitivity bands: customers are bucketed by their price sensitivity (0–1).
pub const BANDS: usize = 5;
/// Points of the grid the posterior of `g` lives on.
const GRID: usize = 200;
/// Redemption probability when the customer buys the product anyway.
pub const RHO: f64 = 0.8;
/// Prior steepness of the response to depth.
const KAPPA: f64 = 4.0;
/// Weight of the prior, in observations.
const PRIOR_STRENGTH: f64 = 20.0;

/// The band of a sensitivity in `[0, 1]`.
pub fn band(sensitivity: f64) -> usize {
    ((sensitivity.clamp(0.0, 1.0) * BANDS as f64) as usize).min(BANDS - 1)
}

/// The prior mean of `g` for a band and depth (share of price).
pub fn prior_g(band: usize, depth: f64) -> f64 {
    let s = (band as f64 + 0.5) / BANDS as f64;
    1.0 - (-KAPPA * s * depth).exp()
}

/// Which response an offer informs: each mechanic learns its own `g` by depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    /// Percent off one unit (of a product or of a category's item).
    #[default]
    Percent,
    /// A multi-buy, `buy` units for the price of `pay`: those who would not buy are moved
    /// at `a · g / buy`.
    MultiBuy {
        /// Units to buy.
        buy: u32,
        /// Units paid.
        pay: u32,
    },
    /// A spend reward (depth: reward / threshold); the affinity is the customer's reach.
    Spend,
}

impl Arm {
    /// The factor on `a · g` for those who would not have redeemed anyway.
    pub fn scale(self) -> f64 {
        match self {
            Arm::MultiBuy { buy, .. } => 1.0 / f64::from(buy.max(1)),
            _ => 1.0,
        }
    }
}

/// One past offer, as the learning needs it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// Sensitivity band of the customer.
    pub band: usize,
    /// The offer's mechanic.
    #[serde(default)]
    pub arm: Arm,
    /// Depth, percent of the list price (a multi-buy's (buy − pay)/buy, a spend reward's
    /// reward/threshold).
    pub depth_percent: u32,
    /// `p0` at planning time.
    pub p0: f64,
    /// Affinity at planning time (a spend reward's reach).
    pub affinity: f64,
    /// Whether it was redeemed.
    pub redeemed: bool,
}

/// The posterior of `g` for one band and depth: log-density on the grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Posterior {
    log_density: Vec<f64>,
    observations: u64,
}

fn grid(i: usize) -> f64 {
    (i as f64 + 0.5) / GRID as f64
}

impl Posterior {
    fn prior(band: usize, depth_percent: u32) -> Posterior {
        // Beta prior with the prior mean and PRIOR_STRENGTH pseudo-observations.
        let m = prior_g(band, f64::from(depth_percent) / 100.0).clamp(0.01, 0.99);
        let (alpha, beta) = (m * PRIOR_STRENGTH, (1.0 - m) * PRIOR_STRENGTH);
        let log_density =
            (0..GRID).map(|i| (alpha - 1.0) * grid(i).ln() + (beta - 1.0) * (1.0 - grid(i)).ln()).collect();
        Posterior { log_density, observations: 0 }
    }

    fn update(&mut self, o: &Observation) {
        let (p0, a) = (o.p0.clamp(0.0, 1.0), o.affinity.clamp(0.0, 1.0) * o.arm.scale());
        for (i, l) in self.log_density.iter_mut().enumerate() {
            let pi = (p0 * RHO + (1.0 - p0) * a * grid(i)).clamp(1e-9, 1.0 - 1e-9);
            *l += if o.redeemed { pi.ln() } else { (1.0 - pi).ln() };
        }
        self.observations += 1;
    }

    fn weights(&self) -> Vec<f64> {
        let max = self.log_density.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let w: Vec<f64> = self.log_density.iter().map(|l| (l - max).exp()).collect();
        let total: f64 = w.iter().sum();
        w.into_iter().map(|v| v / total).collect()
    }

    fn mean(&self) -> f64 {
        self.weights().iter().enumerate().map(|(i, w)| w * grid(i)).sum()
    }

    fn sample(&self, rng: &mut impl Rng) -> f64 {
        let u: f64 = rng.random();
        let mut acc = 0.0;
        for (i, w) in self.weights().iter().enumerate() {
            acc += w;
            if u <= acc {
                return grid(i);
            }
        }
        grid(GRID - 1)
    }
}

/// What the campaigns so far have taught: a posterior of `g` per band, mechanic and depth.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ResponseModel {
    #[serde(with = "as_list")]
    posteriors: BTreeMap<(usize, Arm, u32), Posterior>,
    /// Campaigns learned from, so none is counted twice.
    #[serde(default)]
    campaigns: Vec<String>,
}

/// JSON maps need string keys: the posteriors are stored as a list.
mod as_list {
    use super::{Arm, Posterior};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    type Map = BTreeMap<(usize, Arm, u32), Posterior>;

    #[derive(Serialize, Deserialize)]
    struct Entry {
        band: usize,
        #[serde(default)]
        arm: Arm,
        depth_percent: u32,
        #[serde(flatten)]
        posterior: Posterior,
    }

    pub fn serialize<S: Serializer>(map: &Map, s: S) -> Result<S::Ok, S::Error> {
        let list: Vec<Entry> = map
            .iter()
            .map(|((band, arm, depth_percent), p)| Entry {
                band: *band,
                arm: *arm,
                depth_percent: *depth_percent,
                posterior: p.clone(),
            })
            .collect();
        list.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Map, D::Error> {
        let list = Vec::<Entry>::deserialize(d)?;
        Ok(list.into_iter().map(|e| ((e.band, e.arm, e.depth_percent), e.posterior)).collect())
    }
}

/// `g` per band for the depths of one campaign: the values planning uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    depths: Vec<u32>,
    /// `g[band][depth index]`.
    g: Vec<Vec<f64>>,
    /// `g` of the other mechanics that past campaigns have informed, by band, arm, depth.
    arms: BTreeMap<(usize, Arm, u32), f64>,
}

impl ResponseModel {
    /// Learns from one campaign's offers, once: a campaign already learned from is
    /// refused (returns false) so that re-running never counts its offers twice.
    pub fn learn_campaign(&mut self, campaign: &str, observations: &[Observation]) -> bool {
        if self.campaigns.iter().any(|c| c == campaign) {
            return false;
        }
        self.learn(observations);
        self.campaigns.push(campaign.to_string());
        true
    }

    /// Campaigns learned from.
    pub fn campaigns(&self) -> &[String] {
        &self.campaigns
    }

    /// Learns from past offers.
    pub fn learn(&mut self, observations: &[Observation]) {
        for o in observations {
            let band = o.band.min(BANDS - 1);
            self.posteriors
                .entry((band, o.arm, o.depth_percent))
                .or_insert_with(|| Posterior::prior(band, o.depth_percent))
                .update(o);
        }
    }

    /// Observations learned from, per (band, mechanic, depth percent).
    pub fn observations(&self) -> BTreeMap<(usize, Arm, u32), u64> {
        self.posteriors.iter().map(|(k, p)| (*k, p.observations)).collect()
    }

    /// Posterior mean of `g` for percent offers (the prior's where nothing was observed).
    pub fn mean(&self, band: usize, depth_percent: u32) -> f64 {
        self.mean_of(band, Arm::Percent, depth_percent)
    }

    /// Posterior mean of `g` for a mechanic (the prior's where nothing was observed).
    pub fn mean_of(&self, band: usize, arm: Arm, depth_percent: u32) -> f64 {
        match self.posteriors.get(&(band, arm, depth_percent)) {
            Some(p) => p.mean(),
            None => Posterior::prior(band, depth_percent).mean(),
        }
    }

    /// One draw of `g` per band for each percent depth and for every other mechanic past
    /// campaigns informed (Thompson sampling); without a generator, the posterior means.
    pub fn response(&self, depths: &[u32], rng: Option<&mut dyn rand::RngCore>) -> Response {
        let mut g = vec![vec![0.0; depths.len()]; BANDS];
        let mut rng = rng;
        for (b, row) in g.iter_mut().enumerate() {
            for (j, d) in depths.iter().enumerate() {
                let prior;
                let post = match self.posteriors.get(&(b, Arm::Percent, *d)) {
                    Some(p) => p,
                    None => {
                        prior = Posterior::prior(b, *d);
                        &prior
                    }
                };
                row[j] = match rng.as_mut() {
                    Some(r) => post.sample(r),
                    None => post.mean(),
                };
            }
        }
        let mut arms = BTreeMap::new();
        for (key, post) in self.posteriors.iter().filter(|(k, _)| k.1 != Arm::Percent) {
            let v = match rng.as_mut() {
                Some(r) => post.sample(r),
                None => post.mean(),
            };
            arms.insert(*key, v);
        }
        Response { depths: depths.to_vec(), g, arms }
    }
}

impl Response {
    /// A response given outright, `g(band, depth percent)` for the campaign's depths (for
    /// an evaluation's oracle, which knows the planted one).
    pub fn from_fn(depths: &[u32], g: impl Fn(usize, u32) -> f64) -> Response {
        Response {
            depths: depths.to_vec(),
            g: (0..BANDS).map(|b| depths.iter().map(|d| g(b, *d)).collect()).collect(),
            arms: BTreeMap::new(),
        }
    }

    /// The same with `g` of a mechanic given outright for every band (an oracle's).
    pub fn with_arm(mut self, arm: Arm, depth_percent: u32, g: impl Fn(usize) -> f64) -> Response {
        for band in 0..BANDS {
            self.arms.insert((band, arm, depth_percent), g(band));
        }
        self
    }

    /// `g` of a mechanic at a depth (percent): learned when past campaigns informed it,
    /// else the percent offers' `g` at that depth.
    pub fn g_arm(&self, band: usize, arm: Arm, depth_percent: u32) -> f64 {
        match self.arms.get(&(band.min(BANDS - 1), arm, depth_percent)) {
            Some(g) => *g,
            None => self.g_at(band, f64::from(depth_percent) / 100.0),
        }
    }

    /// `g` for a band and a depth of the campaign (percent).
    pub fn g(&self, band: usize, depth_percent: u32) -> f64 {
        match self.depths.iter().position(|d| *d == depth_percent) {
            Some(j) => self.g[band.min(BANDS - 1)][j],
            None => prior_g(band, f64::from(depth_percent) / 100.0),
        }
    }

    /// `g` at any depth (share of price): exact at the campaign's depths, interpolated
    /// between them (amounts off have a depth of their own for each price).
    pub fn g_at(&self, band: usize, depth: f64) -> f64 {
        let band = band.min(BANDS - 1);
        if depth <= 0.0 {
            return 0.0;
        }
        let pct = depth * 100.0;
        let mut lo: Option<(f64, f64)> = None;
        let mut hi: Option<(f64, f64)> = None;
        for (j, d) in self.depths.iter().enumerate() {
            let (x, y) = (f64::from(*d), self.g[band][j]);
            if x <= pct && lo.is_none_or(|(lx, _)| x > lx) {
                lo = Some((x, y));
            }
            if x >= pct && hi.is_none_or(|(hx, _)| x < hx) {
                hi = Some((x, y));
            }
        }
        match (lo, hi) {
            (Some((x0, y0)), Some((x1, y1))) if x1 > x0 => y0 + (y1 - y0) * (pct - x0) / (x1 - x0),
            (Some((_, y)), Some(_)) => y,
            // Outside the learned depths: the prior's shape, scaled to the nearest point.
            (None, Some((x1, y1))) => y1 * prior_g(band, depth) / prior_g(band, x1 / 100.0).max(1e-9),
            (Some((x0, y0)), None) => (y0 * prior_g(band, depth) / prior_g(band, x0 / 100.0).max(1e-9)).min(1.0),
            (None, None) => prior_g(band, depth),
        }
    }
}

/// One offer's expected effect, in cents.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Effect {
    /// Probability the offer is redeemed.
    pub p_redeem: f64,
    /// Expected discount given.
    pub expected_cost: f64,
    /// Expected revenue it adds (negative when it mostly discounts what would be bought).
    pub incremental_revenue: f64,
    /// Expected margin it adds.
    pub incremental_margin: f64,
}

/// The effect of a discount of `discount_cents` on one unit of a product priced
/// `price_cents` costing `cost_cents`, for a customer with `p0` and affinity `a`, given
/// `g` at that depth.
pub fn effect(p0: f64, a: f64, g: f64, price_cents: i64, cost_cents: i64, discount_cents: i64) -> Effect {
    let (p0, a, g) = (p0.clamp(0.0, 1.0), a.clamp(0.0, 1.0), g.clamp(0.0, 1.0));
    let (price, cost, discount) = (price_cents as f64, cost_cents as f64, discount_cents as f64);
    let moved = (1.0 - p0) * a * g;
    let anyway = p0 * RHO;
    Effect {
        p_redeem: anyway + moved,
        expected_cost: discount * (anyway + moved),
        incremental_revenue: moved * (price - discount) - anyway * discount,
        incremental_margin: moved * (price - discount - cost) - anyway * discount,
    }
}

/// The effect of "buy `buy`, pay `pay`" on a product priced `price_cents` costing
/// `cost_cents`, redeemed once, for a customer with `p0` and affinity `a`, given `g` at its
/// depth ((buy − pay) / buy). A customer who would buy one unit anyway and takes the deal
/// pays for `pay` units instead of one and takes `buy − 1` more; `displaced` is the share of
/// those extra units that replace later purchases (1 for a product bought on a cycle: the
/// pantry is full, the next purchase comes later). A customer who would not have bought it
/// is moved to take `buy` units at once `buy` times less readily than one unit at the same
/// depth (`a · g / buy`: a multi-buy asks for more; it mostly moves volume among buyers),
/// and pays for `pay`.
#[allow(clippy::too_many_arguments)]
pub fn multi_buy_effect(
    p0: f64,
    a: f64,
    g: f64,
    price_cents: i64,
    cost_cents: i64,
    buy: u32,
    pay: u32,
    displaced: f64,
) -> Effect {
    let (p0, a, g, displaced) = (p0.clamp(0.0, 1.0), a.clamp(0.0, 1.0), g.clamp(0.0, 1.0), displaced.clamp(0.0, 1.0));
    let (price, cost) = (price_cents as f64, cost_cents as f64);
    let (buy, pay) = (f64::from(buy), f64::from(pay));
    let discount = (buy - pay) * price;
    let moved = (1.0 - p0) * a * g / buy;
    let anyway = p0 * RHO;
    let extra = buy - 1.0;
    Effect {
        p_redeem: anyway + moved,
        expected_cost: discount * (anyway + moved),
        incremental_revenue: moved * pay * price + anyway * ((pay - 1.0) * price - displaced * extra * price),
        incremental_margin: moved * (pay * price - buy * cost)
            + anyway * ((pay - 1.0) * price - extra * cost - displaced * extra * (price - cost)),
    }
}

/// The effect of `reward_cents` off a basket of at least a threshold, redeemed once: `p0`
/// is the probability the customer spends that much on one visit in the window anyway
/// (then the reward is pure cost); `reach` the probability that, otherwise, they visit with
/// a basket near enough the threshold to top it up; `g` the share of those the reward's
/// depth (reward / threshold) moves, who then add `top_up_cents` of shopping at the
/// chain's `margin_rate`.
pub fn spend_reward_effect(
    p0: f64,
    reach: f64,
    g: f64,
    reward_cents: i64,
    top_up_cents: f64,
    margin_rate: f64,
) -> Effect {
    let (p0, reach, g) = (p0.clamp(0.0, 1.0), reach.clamp(0.0, 1.0), g.clamp(0.0, 1.0));
    let reward = reward_cents as f64;
    let moved = (1.0 - p0) * reach * g;
    let anyway = p0 * RHO;
    Effect {
        p_redeem: anyway + moved,
        expected_cost: reward * (anyway + moved),
        incremental_revenue: moved * (top_up_cents - reward) - anyway * reward,
        incremental_margin: moved * (top_up_cents * margin_rate - reward) - anyway * reward,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn effects_net_out_cannibalisation() {
        // Someone who buys it anyway: a discount is pure cost.
        let e = effect(1.0, 0.5, 0.5, 500, 300, 100);
        assert!((e.incremental_margin + 80.0).abs() < 1e-9 && (e.expected_cost - 80.0).abs() < 1e-9);
        // Someone who never would, moved with probability a g = 0.25.
        let e = effect(0.0, 0.5, 0.5, 500, 300, 100);
        assert!((e.incremental_margin - 25.0).abs() < 1e-9, "{e:?}");
        assert!((e.incremental_revenue - 100.0).abs() < 1e-9);
    }

    #[test]
    fn a_multi_buy_on_a_staple_bought_anyway_costs_its_free_unit_and_its_pantry_loading() {
        // 3 for 2 at 500 (cost 300) to someone who buys one anyway and would buy the extra
        // two later: they pay 1000 instead of 500 now and 1000 less later.
        let e = multi_buy_effect(1.0, 0.5, 0.5, 500, 300, 3, 2, 1.0);
        assert!((e.incremental_margin - RHO * (500.0 - 600.0 - 400.0)).abs() < 1e-9, "{e:?}");
        assert!((e.expected_cost - RHO * 500.0).abs() < 1e-9);
        // Not a staple: the two extra units are sales of their own.
        let e = multi_buy_effect(1.0, 0.5, 0.5, 500, 300, 3, 2, 0.0);
        assert!((e.incremental_margin - RHO * (500.0 - 600.0)).abs() < 1e-9, "{e:?}");
        // Someone moved (a g / 3 of those who would not buy) buys three and pays two:
        // 1000 − 900.
        let e = multi_buy_effect(0.0, 0.6, 0.5, 500, 300, 3, 2, 1.0);
        assert!((e.incremental_margin - 0.1 * 100.0).abs() < 1e-9 && (e.incremental_revenue - 100.0).abs() < 1e-9);
    }

    #[test]
    fn a_spend_reward_pays_for_the_top_up_it_brings() {
        // 5 € off 40 €: a customer who spends that anyway costs the reward.
        let e = spend_reward_effect(1.0, 0.5, 0.5, 500, 1000.0, 0.3);
        assert!((e.incremental_margin + RHO * 500.0).abs() < 1e-9);
        // Moved with probability 0.25 to add 10 € at 30 % margin: 300 − 500 each.
        let e = spend_reward_effect(0.0, 0.5, 0.5, 500, 1000.0, 0.3);
        assert!((e.incremental_margin - 0.25 * (300.0 - 500.0)).abs() < 1e-9, "{e:?}");
        let e = spend_reward_effect(0.0, 0.5, 0.5, 500, 3000.0, 0.3);
        assert!(e.incremental_margin > 0.0, "a top-up of 30 € pays for 5 €");
    }

    #[test]
    fn the_prior_grows_with_depth_and_sensitivity() {
        assert!(prior_g(0, 0.3) < prior_g(4, 0.3));
        assert!(prior_g(2, 0.1) < prior_g(2, 0.3));
        let m = ResponseModel::default();
        assert!((m.mean(2, 20) - prior_g(2, 0.2)).abs() < 0.02, "{} vs {}", m.mean(2, 20), prior_g(2, 0.2));
    }

    #[test]
    fn learning_recovers_a_planted_response() {
        // Planted: in band 1 a 10 % discount moves 40 % of those with affinity (the prior
        // says about 12 %), 30 % moves 45 %.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let truth = [(10u32, 0.40), (30, 0.45)];
        let mut obs = Vec::new();
        for _ in 0..4000 {
            for (d, g) in truth {
                let p0: f64 = rng.random::<f64>() * 0.3;
                let a: f64 = 0.3 + rng.random::<f64>() * 0.7;
                let p = p0 * RHO + (1.0 - p0) * a * g;
                obs.push(Observation {
                    band: 1,
                    arm: Arm::Percent,
                    depth_percent: d,
                    p0,
                    affinity: a,
                    redeemed: rng.random::<f64>() < p,
                });
            }
        }
        let mut m = ResponseModel::default();
        m.learn(&obs);
        for (d, g) in truth {
            assert!((m.mean(1, d) - g).abs() < 0.04, "depth {d}: {} vs {g}", m.mean(1, d));
        }
        // Thompson draws scatter around the posterior mean.
        let draws: Vec<f64> =
            (0..200).map(|_| m.response(&[10, 30], Some(&mut rng as &mut dyn rand::RngCore)).g(1, 10)).collect();
        let mean = draws.iter().sum::<f64>() / 200.0;
        assert!((mean - m.mean(1, 10)).abs() < 0.02 && draws.iter().any(|d| (d - mean).abs() > 0.002));
    }

    #[test]
    fn multi_buys_and_spend_rewards_learn_their_own_response() {
        // Planted: "3 for 2" moves 60 % of the affinity-weighted non-buyers to take three
        // (a g / 3 = 0.2 a); a 5 % spend reward moves 30 % of those within reach.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let multi = Arm::MultiBuy { buy: 3, pay: 2 };
        let mut obs = Vec::new();
        for _ in 0..6000 {
            let (p0, a): (f64, f64) = (rng.random::<f64>() * 0.2, 0.3 + rng.random::<f64>() * 0.7);
            let p = p0 * RHO + (1.0 - p0) * a * 0.6 / 3.0;
            obs.push(Observation {
                band: 2,
                arm: multi,
                depth_percent: 33,
                p0,
                affinity: a,
                redeemed: rng.random::<f64>() < p,
            });
            let p = p0 * RHO + (1.0 - p0) * a * 0.3;
            obs.push(Observation {
                band: 2,
                arm: Arm::Spend,
                depth_percent: 5,
                p0,
                affinity: a,
                redeemed: rng.random::<f64>() < p,
            });
        }
        let mut m = ResponseModel::default();
        m.learn(&obs);
        assert!((m.mean_of(2, multi, 33) - 0.6).abs() < 0.05, "{}", m.mean_of(2, multi, 33));
        assert!((m.mean_of(2, Arm::Spend, 5) - 0.3).abs() < 0.05, "{}", m.mean_of(2, Arm::Spend, 5));
        // Percent offers at those depths learned nothing; the plan reads each arm's own g.
        assert_eq!(m.mean(2, 33), ResponseModel::default().mean(2, 33));
        let r = m.response(&[10, 20], None);
        assert!((r.g_arm(2, multi, 33) - m.mean_of(2, multi, 33)).abs() < 1e-12);
        assert!(
            (r.g_arm(2, Arm::MultiBuy { buy: 5, pay: 4 }, 20) - r.g(2, 20)).abs() < 1e-12,
            "unlearned: the percent g"
        );
        // A model saved before mechanics were learned reads as percent offers.
        let old =
            r#"{"posteriors":[{"band":1,"depth_percent":20,"log_density":[0.0],"observations":3}],"campaigns":[]}"#;
        let back: ResponseModel = serde_json::from_str(old).unwrap();
        assert_eq!(back.observations()[&(1, Arm::Percent, 20)], 3);
    }

    #[test]
    fn the_learned_model_round_trips_through_json_and_learns_a_campaign_once() {
        let mut m = ResponseModel::default();
        let o = Observation { band: 1, arm: Arm::Percent, depth_percent: 20, p0: 0.1, affinity: 0.5, redeemed: true };
        assert!(m.learn_campaign("spring", &[o, o]));
        assert!(!m.learn_campaign("spring", &[o]), "the same campaign twice");
        let back: ResponseModel = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.observations()[&(1, Arm::Percent, 20)], 2);
    }

    #[test]
    fn interpolation_between_depths() {
        let r = ResponseModel::default().response(&[10, 30], None);
        let (a, b) = (r.g(2, 10), r.g(2, 30));
        let mid = r.g_at(2, 0.2);
        assert!((mid - (a + b) / 2.0).abs() < 1e-12);
        assert!(r.g_at(2, 0.05) < a && r.g_at(2, 0.05) > 0.0);
    }
}
