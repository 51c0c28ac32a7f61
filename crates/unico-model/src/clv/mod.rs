//! Buy-till-you-die models and customer lifetime value.
//!
//! [`summary`] turns a customer's transactions into `(x, t_x, T, m)`; [`grouped`] folds
//! identical summaries for fast likelihoods; [`bgnbd`] and [`paretonbd`] model whether and how
//! often a customer buys, [`gammagamma`] how much; [`lifetime_value`] combines them into a
//! discounted CLV, the same way the `lifetimes` Python package does so results can be compared.

pub mod bgnbd;
pub mod gammagamma;
pub mod grouped;
pub mod paretonbd;
pub mod summary;

pub use bgnbd::BgNbd;
pub use gammagamma::GammaGamma;
pub use grouped::Grouped;
pub use paretonbd::ParetoNbd;
pub use summary::{Summary, TimeUnit};

/// Days in the month CLV discounts by (the `lifetimes` convention for daily data).
pub const CLV_MONTH_DAYS: f64 = 30.0;

/// Discounted customer lifetime value over `months`, in currency units: for each month the
/// expected transactions of that month times the expected spend per transaction, discounted
/// at `monthly_discount` (0.01 = 1 % a month).
pub fn lifetime_value(model: &BgNbd, spend: &GammaGamma, s: &Summary, months: u32, monthly_discount: f64) -> f64 {
    let month = model.unit.from_days(CLV_MONTH_DAYS);
    let ends: Vec<f64> = (1..=months).map(|i| month * f64::from(i)).collect();
    let mut cumulative = vec![0.0; ends.len()];
    model.expected_purchases_many(s, &ends, &mut cumulative);
    discounted_value(spend.expected_spend(s.frequency, s.monetary), &cumulative, monthly_discount)
}

/// `value` times each month's expected transactions (differences of the cumulative
/// expectations at the ends of months 1, 2, …), discounted.
pub fn discounted_value(value: f64, cumulative: &[f64], monthly_discount: f64) -> f64 {
    let mut previous = 0.0;
    let mut clv = 0.0;
    let mut discount = 1.0;
    for c in cumulative {
        discount /= 1.0 + monthly_discount;
        clv += value * (c - previous) * discount;
        previous = *c;
    }
    clv
}
