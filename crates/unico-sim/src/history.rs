//! A promotion history: the chain's own past campaigns, run during the simulated period.
//!
//! With [`ChainConfig::history`](crate::ChainConfig) set, the chain runs a campaign every
//! six weeks from day 70 on (so every campaign has ten weeks of receipts before it), each
//! valid for two weeks with three percent-off coupons on popular products or on a whole
//! category (10–40 %). Campaigns alternate: two targeted (a random 30 % of the
//! members), then one mass (every member). Members shop with the coupons as with any
//! offer (`shop`'s rules: a coupon on something in the basket is redeemed with probability
//! 0.75 + 0.25·s, otherwise it moves them to buy with probability a·(1 − e^(−6·s·d))), so
//! the receipts carry the redemptions and their discounts.
//!
//! The truth is `truth/history_response.csv`: for each (campaign, member), the planted
//! probability that they redeem at least one of its coupons, computed from their traits
//! (price sensitivity, category affinity) and their visits in the window as they would have
//! been without the coupons — what a perfect model could know — beside what they did.

use crate::catalogue;
use crate::shop::{Offer, OfferValue, SimReceipt, Target, moved_share};
use crate::world::World;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Days between campaign starts.
const EVERY_DAYS: u32 = 42;
/// First campaign's start day.
const FIRST_DAY: u32 = 70;
/// Days a campaign's coupons are valid.
const VALID_DAYS: u32 = 14;
/// Share of members a targeted campaign reaches.
const TARGETED_SHARE: f64 = 0.3;

/// One coupon of a past campaign.
#[derive(Debug, Clone)]
pub struct HistoryCoupon {
    /// The coupon's id.
    pub id: String,
    /// Percent off.
    pub percent: u32,
    /// What it covers: a product or a category.
    pub target: Target,
    /// The products it covers (indices into the catalogue).
    pub products: Vec<usize>,
}

/// One past campaign.
#[derive(Debug, Clone)]
pub struct HistoryCampaign {
    /// The campaign's id.
    pub id: String,
    /// `targeted` or `mass`.
    pub kind: &'static str,
    /// First day valid.
    pub start: jiff::civil::Date,
    /// Last day valid, inclusive.
    pub end: jiff::civil::Date,
    /// Its coupons.
    pub coupons: Vec<HistoryCoupon>,
    /// Share of members who receive it.
    pub share: f64,
}

/// The chain's past campaigns (none when the period is too short).
pub fn campaigns(world: &World) -> Vec<HistoryCampaign> {
    let mut rng = ChaCha8Rng::seed_from_u64(world.config.seed ^ 0x4849_5354_4f52_5921);
    let weights: Vec<f64> = world.products.iter().map(|p| p.weight).collect();
    let total: f64 = weights.iter().sum();
    let mut out = Vec::new();
    let mut day = FIRST_DAY;
    let last = match world.config.history_before_day {
        0 => world.config.days,
        d => d.min(world.config.days),
    };
    while day + VALID_DAYS <= last {
        let n = out.len();
        let kind = if n % 3 == 2 { "mass" } else { "targeted" };
        let id = format!("H{:03}", n + 1);
        let mut coupons = Vec::new();
        for k in 0..3 {
            let percent = [10, 15, 20, 25, 30, 40][rng.random_range(0..6)];
            let coupon_id = format!("{id}-C{}", k + 1);
            if rng.random::<f64>() < 0.25 {
                let ci = rng.random_range(0..world.by_category.len());
                let name = catalogue::categories()[ci].1.to_string();
                coupons.push(HistoryCoupon {
                    id: coupon_id,
                    percent,
                    target: Target::Category(name),
                    products: world.by_category[ci].clone(),
                });
            } else {
                // A popular product, as a chain's coupons usually are.
                let mut pick = rng.random::<f64>() * total;
                let mut p = 0;
                while p + 1 < weights.len() && pick >= weights[p] {
                    pick -= weights[p];
                    p += 1;
                }
                coupons.push(HistoryCoupon {
                    id: coupon_id,
                    percent,
                    target: Target::Product(world.products[p].sku.clone()),
                    products: vec![p],
                });
            }
        }
        out.push(HistoryCampaign {
            id,
            kind,
            start: world.date_of(f64::from(day)),
            end: world.date_of(f64::from(day + VALID_DAYS - 1)),
            coupons,
            share: if kind == "mass" { 1.0 } else { TARGETED_SHARE },
        });
        day += EVERY_DAYS;
    }
    out
}

/// Whether person `pid` (a member) received campaign `c`: a hash of the seed, the person and
/// the campaign, independent of everything else drawn.
pub fn receives(world: &World, pid: u64, c: usize, campaign: &HistoryCampaign) -> bool {
    let h = (pid.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (c as u64 + 1).wrapping_mul(0xC2B2_AE3D_27D4_EB4F))
        ^ world.config.seed.rotate_left(29);
    let h = (h ^ (h >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let h = h ^ (h >> 29);
    ((h >> 11) as f64 / (1u64 << 53) as f64) < campaign.share
}

/// The personal offers a member holds from the campaigns they received (`which`), sent to
/// their first card.
pub fn offers(campaigns: &[HistoryCampaign], which: &[usize], card: &str) -> Vec<Offer> {
    let mut out = Vec::new();
    for &c in which {
        let campaign = &campaigns[c];
        for coupon in &campaign.coupons {
            out.push(Offer {
                code: coupon.id.clone(),
                card: card.to_string(),
                target: coupon.target.clone(),
                value: OfferValue::PercentOff(coupon.percent),
                channel: None,
                valid_from: campaign.start,
                valid_to: campaign.end,
            });
        }
    }
    out
}

/// The planted probability that person `pid` redeems at least one coupon of `campaign`,
/// given their visits without coupons (`baseline`, in time order): each visit in the window
/// is a chance for each coupon not yet used (redeemed with probability 0.75 + 0.25·s when
/// the basket holds a covered product, a·(1 − e^(−6·s·d)) otherwise), as `shop` draws it.
pub fn planted_probability(world: &World, pid: u64, campaign: &HistoryCampaign, baseline: &[SimReceipt]) -> f64 {
    let person = world.person(pid);
    let s = person.price_sensitivity;
    let n_cat = world.by_category.len() as f64;
    let mut none = 1.0;
    for coupon in &campaign.coupons {
        let category = world.products[coupon.products[0]].category_index();
        let affinity = (person.category_prefs[category] * n_cat * 0.5).clamp(0.05, 1.0);
        let moved = affinity * moved_share(s, f64::from(coupon.percent) / 100.0);
        let mut not_used = 1.0;
        for r in baseline.iter().filter(|r| campaign.start <= r.date && r.date <= campaign.end) {
            let held = r.lines.iter().any(|l| coupon.products.contains(&l.product));
            not_used *= if held { 1.0 - (0.75 + 0.25 * s) } else { 1.0 - moved };
        }
        none *= not_used;
    }
    1.0 - none
}
