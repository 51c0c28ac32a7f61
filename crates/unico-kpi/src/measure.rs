//! Campaign measurement: what each campaign's treated customers spent against its holdout.
//!
//! The outcome is a customer's whole net spend (and margin) in the campaign's window, not
//! only on the offered products: it counts the extra purchase an offer caused, the discount
//! given on a purchase that would have happened anyway (against it), and anything the offer
//! moved elsewhere in the basket. The arms are compared as randomised (intention to treat:
//! every eligible customer not held out counts as treated, with or without an offer), with
//! the pre-period spend of the same customers as the CUPED covariate, and day by day with
//! the mSPRT so that reading the result every day does not inflate false positives.

use crate::cube::{key_hash, months_up_to};
use crate::days::Grain;
use crate::error::Error;
use crate::stats::{self, Estimate, Moments, Msprt, Sequential};
use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int64Type};
use foldhash::{HashMap, HashMapExt};
use serde::Serialize;
use unico_lake::Lake;

/// Days before a campaign whose spend is its CUPED covariate.
pub const PRE_PERIOD_DAYS: i32 = 56;

/// A campaign to measure.
#[derive(Debug, Clone)]
pub struct Campaign {
    /// Its id.
    pub id: String,
    /// First day (day number).
    pub from: i32,
    /// Last day, inclusive.
    pub to: i32,
    /// Members: customer key and whether they are treated (else held out).
    pub members: Vec<(String, bool)>,
}

/// What one member did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Net spend in the pre-period, cents.
    pub pre_revenue_cents: i64,
    /// Net spend in the campaign's window, by day from its first day, cents.
    pub daily_revenue_cents: Vec<i64>,
    /// Margin in the window, by day, cents.
    pub daily_margin_cents: Vec<i64>,
}

/// Reads every member's pre-period and daily spend from the lake, up to `as_of` (inclusive),
/// in one pass over the months the campaigns touch. Returns one outcome list per campaign,
/// in member order.
pub fn outcomes(
    lake: &Lake,
    campaigns: &[Campaign],
    as_of: i32,
    costs: &HashMap<String, i64>,
) -> Result<Vec<Vec<Outcome>>, Error> {
    let mut out: Vec<Vec<Outcome>> = campaigns
        .iter()
        .map(|c| {
            let days = (c.to.min(as_of) - c.from + 1).max(0) as usize;
            vec![
                Outcome { daily_revenue_cents: vec![0; days], daily_margin_cents: vec![0; days], ..Default::default() };
                c.members.len()
            ]
        })
        .collect();
    let mut by_key: HashMap<u64, Vec<(u32, u32)>> = HashMap::new();
    for (ci, c) in campaigns.iter().enumerate() {
        for (mi, (key, _)) in c.members.iter().enumerate() {
            by_key.entry(key_hash(key)).or_default().push((ci as u32, mi as u32));
        }
    }
    let (Some(first), Some(last)) =
        (campaigns.iter().map(|c| c.from - PRE_PERIOD_DAYS).min(), campaigns.iter().map(|c| c.to.min(as_of)).max())
    else {
        return Ok(out);
    };
    for (month, files) in months_up_to(lake, last)? {
        let start = crate::days::day_of(jiff::civil::date(month.year, month.month, 1));
        if Grain::Month.next(start) <= first {
            continue;
        }
        for file in files {
            unico_lake::read::for_each_batch(
                &file,
                &["local_date", "customer_key", "sku", "quantity", "net_amount_cents"],
                |b| {
                    let date = b.column(0).as_primitive::<Date32Type>();
                    let key = b.column(1).as_string::<i32>();
                    let sku = b.column(2).as_string::<i32>();
                    let qty = b.column(3).as_primitive::<Float64Type>();
                    let net = b.column(4).as_primitive::<Int64Type>();
                    for i in 0..b.num_rows() {
                        let day = date.value(i);
                        if key.is_null(i) || day < first || day > last {
                            continue;
                        }
                        let Some(list) = by_key.get(&key_hash(key.value(i))) else { continue };
                        let n = net.value(i);
                        let cost = costs.get(sku.value(i)).map(|c| (qty.value(i) * *c as f64).round() as i64);
                        for &(ci, mi) in list {
                            let c = &campaigns[ci as usize];
                            let o = &mut out[ci as usize][mi as usize];
                            if day < c.from && day >= c.from - PRE_PERIOD_DAYS {
                                o.pre_revenue_cents += n;
                            } else if day >= c.from && day <= c.to.min(as_of) {
                                let d = (day - c.from) as usize;
                                o.daily_revenue_cents[d] += n;
                                o.daily_margin_cents[d] += n - cost.unwrap_or(n);
                            }
                        }
                    }
                    Ok(())
                },
            )?;
        }
    }
    Ok(out)
}

/// One campaign's (or one of its parts') measured effect.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurement {
    /// Treated customers.
    pub treated: u64,
    /// Held-out customers.
    pub holdout: u64,
    /// Days measured so far.
    pub days: u32,
    /// Mean spend per treated customer in the window, cents.
    pub treated_mean_revenue_cents: f64,
    /// Mean spend per held-out customer, cents.
    pub holdout_mean_revenue_cents: f64,
    /// Uplift in spend per treated customer, plain difference of means (cents).
    pub revenue_uplift: Estimate,
    /// The same with CUPED (cents): the reported estimate.
    pub revenue_uplift_cuped: Estimate,
    /// Uplift in margin per treated customer, with CUPED (cents).
    pub margin_uplift_cuped: Estimate,
    /// Incremental revenue of the campaign: CUPED uplift × treated customers (cents), with
    /// its interval.
    pub incremental_revenue: Estimate,
    /// Incremental margin, likewise (cents).
    pub incremental_margin: Estimate,
    /// Share of the spend variance the pre-period explains (1 − var(CUPED)/var(plain)).
    pub variance_reduction: f64,
    /// The always-valid test on the CUPED revenue uplift, looked at every day.
    pub sequential: Sequential,
    /// The test day by day: each day's look.
    pub daily: Vec<DailyLook>,
    /// The variance W₀ the test's mixture is scaled to (ρ = 1/W₀): that of the difference of
    /// the arms' pre-period spend over as many days as the campaign has, fixed before
    /// looking (cents²).
    pub w0: f64,
}

/// One day's look of the sequential test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DailyLook {
    /// The campaign's day (1 = its first).
    pub day: u32,
    /// The CUPED difference of the arms' mean spend from the first day to this one (cents).
    pub effect_cents: f64,
    /// The always-valid p-value so far.
    pub p_value: f64,
    /// Whether "no effect" is rejected by this day.
    pub rejected: bool,
}

/// Measures one campaign's arms. `level` is the interval's confidence level (e.g. 0.95) and
/// `1 − level` the sequential test's α.
pub fn measure(treated: &[&Outcome], holdout: &[&Outcome], level: f64) -> Measurement {
    let days = treated.iter().chain(holdout).map(|o| o.daily_revenue_cents.len()).max().unwrap_or(0);
    let total = |v: &[i64]| v.iter().sum::<i64>() as f64;
    let pairs = |arm: &[&Outcome], margin: bool| -> Vec<(f64, f64)> {
        arm.iter()
            .map(|o| {
                (
                    if margin { total(&o.daily_margin_cents) } else { total(&o.daily_revenue_cents) },
                    o.pre_revenue_cents as f64,
                )
            })
            .collect()
    };
    let (tr, hr) = (pairs(treated, false), pairs(holdout, false));
    let plain = stats::difference(&Moments::of(tr.iter().map(|p| p.0)), &Moments::of(hr.iter().map(|p| p.0)), level);
    let (cuped, _) = stats::cuped(&tr, &hr, level);
    let (margin, _) = stats::cuped(&pairs(treated, true), &pairs(holdout, true), level);
    let n = treated.len() as f64;
    let scale = |e: &Estimate| Estimate {
        effect: e.effect * n,
        standard_error: e.standard_error * n,
        low: e.low * n,
        high: e.high * n,
        level,
    };
    // The mixture's scale, from data the offers cannot have touched: the variance of the
    // difference of the arms' pre-period spend, scaled to the campaign's length.
    let pre = stats::difference(
        &Moments::of(treated.iter().map(|o| o.pre_revenue_cents as f64)),
        &Moments::of(holdout.iter().map(|o| o.pre_revenue_cents as f64)),
        level,
    );
    let w0 = (pre.standard_error.powi(2) * days as f64 / PRE_PERIOD_DAYS as f64).max(1.0);
    let test = Msprt { rho: 1.0 / w0, alpha: 1.0 - level };
    let (sequential, daily) = sequential(treated, holdout, days, &test);
    Measurement {
        treated: treated.len() as u64,
        holdout: holdout.len() as u64,
        days: days as u32,
        treated_mean_revenue_cents: Moments::of(tr.iter().map(|p| p.0)).mean,
        holdout_mean_revenue_cents: Moments::of(hr.iter().map(|p| p.0)).mean,
        revenue_uplift: plain,
        revenue_uplift_cuped: cuped,
        margin_uplift_cuped: margin,
        incremental_revenue: scale(&cuped),
        incremental_margin: scale(&margin),
        variance_reduction: if plain.standard_error > 0.0 {
            1.0 - (cuped.standard_error / plain.standard_error).powi(2)
        } else {
            0.0
        },
        sequential,
        daily,
        w0,
    }
}

/// The sequential test looked at once a day: on day d, the difference of the arms' mean
/// spend from the first day to d, CUPED-adjusted, with its variance. The final state and
/// each day's look.
pub fn sequential(
    treated: &[&Outcome],
    holdout: &[&Outcome],
    days: usize,
    test: &Msprt,
) -> (Sequential, Vec<DailyLook>) {
    let mut state = Sequential::default();
    let mut daily = Vec::with_capacity(days);
    let mut cum_t: Vec<f64> = vec![0.0; treated.len()];
    let mut cum_h: Vec<f64> = vec![0.0; holdout.len()];
    for d in 0..days {
        for (c, o) in cum_t.iter_mut().zip(treated) {
            *c += o.daily_revenue_cents.get(d).copied().unwrap_or(0) as f64;
        }
        for (c, o) in cum_h.iter_mut().zip(holdout) {
            *c += o.daily_revenue_cents.get(d).copied().unwrap_or(0) as f64;
        }
        let tp: Vec<(f64, f64)> = cum_t.iter().zip(treated).map(|(y, o)| (*y, o.pre_revenue_cents as f64)).collect();
        let hp: Vec<(f64, f64)> = cum_h.iter().zip(holdout).map(|(y, o)| (*y, o.pre_revenue_cents as f64)).collect();
        let (e, _) = stats::cuped(&tp, &hp, 1.0 - test.alpha);
        if e.standard_error > 0.0 {
            state.update(test, &test.look(e.effect, e.standard_error.powi(2)));
        }
        daily.push(DailyLook {
            day: d as u32 + 1,
            effect_cents: e.effect,
            p_value: state.p_value,
            rejected: state.rejected_at.is_some(),
        });
    }
    (state, daily)
}
