//! Replaying a period with a set of offers, next to the same period without them.
//!
//! Real data never tells what a customer would have done without the discount; the
//! simulator does. [`replay`] runs the chosen people twice from the first day — with the
//! offers and without — sharing every baseline random draw, and reports the realised
//! receipts, the redemptions, and the true incremental revenue and margin: per offer (what
//! its own lines changed: the discount given on a purchase that would have happened anyway
//! counts against it, an extra unit or a new purchase for it) and per person (everything,
//! including visits kept by a lower chance of lapsing).

use crate::shop::{Offer, SimReceipt, shop};
use crate::world::World;
use std::collections::{BTreeMap, HashMap};

/// The truth about one offer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OfferOutcome {
    /// The offer's code.
    pub code: String,
    /// Whether it was redeemed.
    pub redeemed: bool,
    /// The discount given, cents.
    pub discount_cents: i64,
    /// Net revenue with the offer minus without it, on the offer's lines, cents.
    pub incremental_revenue_cents: i64,
    /// Margin (net minus unit cost) with minus without, on the offer's lines, cents.
    pub incremental_margin_cents: i64,
}

/// The truth about one person over the replayed window.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PersonOutcome {
    /// The person.
    pub person: u64,
    /// Net revenue with the offers, cents.
    pub revenue_cents: i64,
    /// Net revenue without them, cents.
    pub baseline_revenue_cents: i64,
    /// Margin with the offers, cents.
    pub margin_cents: i64,
    /// Margin without them, cents.
    pub baseline_margin_cents: i64,
}

/// A replay's receipts and truth.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    /// Receipts in the window, with the offers.
    pub treated: Vec<SimReceipt>,
    /// Receipts in the window, without them (the counterfactual).
    pub baseline: Vec<SimReceipt>,
    /// One outcome per offer, in the order given.
    pub offers: Vec<OfferOutcome>,
    /// One outcome per replayed person, by person.
    pub people: Vec<PersonOutcome>,
}

/// A receipt's margin: what was paid less the unit costs of what was bought, cents.
pub fn margin(world: &World, r: &SimReceipt) -> i64 {
    r.lines.iter().map(|l| l.net_cents - world.products[l.product].unit_cost_cents * l.quantity).sum()
}

/// Replays `people` (and everyone holding a card an offer was sent to) with and without
/// `offers`, keeping receipts dated from `from` to `to` inclusive.
pub fn replay(
    world: &World,
    offers: &[Offer],
    people: &[u64],
    from: jiff::civil::Date,
    to: jiff::civil::Date,
) -> Replay {
    let mut by_person: BTreeMap<u64, Vec<usize>> = people.iter().map(|p| (*p, Vec::new())).collect();
    let mut out = Replay {
        offers: offers.iter().map(|o| OfferOutcome { code: o.code.clone(), ..Default::default() }).collect(),
        ..Default::default()
    };
    for (i, o) in offers.iter().enumerate() {
        if let Some(pid) = world.person_of_card(&o.card) {
            by_person.entry(pid).or_default().push(i);
        }
    }
    let in_window = |r: &SimReceipt| from <= r.date && r.date <= to;
    for (pid, idx) in by_person {
        let mine: Vec<Offer> = idx.iter().map(|&i| offers[i].clone()).collect();
        let mut treated = Vec::new();
        let mut baseline = Vec::new();
        shop(world, pid, &mine, &mut |r| {
            treated.push(r);
            Ok(())
        })
        .expect("collecting into memory cannot fail");
        shop(world, pid, &[], &mut |r| {
            baseline.push(r);
            Ok(())
        })
        .expect("collecting into memory cannot fail");
        let base_by_id: HashMap<&str, &SimReceipt> = baseline.iter().map(|r| (r.receipt_id.as_str(), r)).collect();
        for r in &treated {
            for l in &r.lines {
                let Some(local) = l.offer else { continue };
                let o = &mut out.offers[idx[local]];
                let cost = world.products[l.product].unit_cost_cents;
                o.redeemed = true;
                o.discount_cents += l.discount_cents;
                let before = base_by_id
                    .get(r.receipt_id.as_str())
                    .and_then(|b| b.lines.iter().find(|bl| bl.product == l.product && bl.offer.is_none()));
                match before {
                    Some(b) => {
                        o.incremental_revenue_cents += l.net_cents - b.net_cents;
                        o.incremental_margin_cents +=
                            (l.net_cents - cost * l.quantity) - (b.net_cents - cost * b.quantity);
                    }
                    None => {
                        o.incremental_revenue_cents += l.net_cents;
                        o.incremental_margin_cents += l.net_cents - cost * l.quantity;
                    }
                }
            }
        }
        let mut p = PersonOutcome { person: pid, ..Default::default() };
        for r in treated.iter().filter(|r| in_window(r)) {
            p.revenue_cents += r.lines.iter().map(|l| l.net_cents).sum::<i64>();
            p.margin_cents += margin(world, r);
        }
        for r in baseline.iter().filter(|r| in_window(r)) {
            p.baseline_revenue_cents += r.lines.iter().map(|l| l.net_cents).sum::<i64>();
            p.baseline_margin_cents += margin(world, r);
        }
        out.people.push(p);
        out.treated.extend(treated.into_iter().filter(|r| in_window(r)));
        out.baseline.extend(baseline.into_iter().filter(|r| in_window(r)));
    }
    out
}
