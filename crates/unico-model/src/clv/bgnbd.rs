//! BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): while alive a
//! customer buys as a Poisson process with rate λ ~ Gamma(r, α); after every purchase they
//! drop out with probability p ~ Beta(a, b).
//!
//! Parameters are fitted by maximum likelihood (equation 6 of the paper); per customer the
//! model gives P(alive) (equation 11) and the expected purchases in the next `t` (equation
//! 10). `α` carries the time unit: α in days is seven times α in weeks.

use super::grouped::Grouped;
use super::summary::{Summary, TimeUnit};
use crate::error::{Error, ErrorKind};
use crate::optimize::minimize_joint;
use crate::special::{hyp2f1, hyp2f1_many, ln_beta, ln_gamma, log_add_exp};
use serde::{Deserialize, Serialize};

/// A fitted BG/NBD model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbd {
    /// Shape of the purchase-rate Gamma.
    pub r: f64,
    /// Scale of the purchase-rate Gamma, in the model's time unit.
    pub alpha: f64,
    /// Dropout Beta, first shape.
    pub a: f64,
    /// Dropout Beta, second shape.
    pub b: f64,
    /// The unit of `alpha` and of every time the model reads or returns.
    pub unit: TimeUnit,
    /// Log-likelihood of the fitting data at the optimum.
    pub log_likelihood: f64,
}

/// Distinct rows above which the fit starts from a sample's fit.
const SAMPLE_ROWS: usize = 50_000;

impl BgNbd {
    /// Fits the model to the customers' summaries (times in `unit`).
    pub fn fit(summaries: &[Summary], unit: TimeUnit) -> Result<BgNbd, Error> {
        Self::fit_grouped(&Grouped::new(summaries), unit)
    }

    /// Fits the model to grouped summaries.
    pub fn fit_grouped(data: &Grouped, unit: TimeUnit) -> Result<BgNbd, Error> {
        if data.is_empty() {
            return Err(Error::new(ErrorKind::Input, "BG/NBD: no customers to fit"));
        }
        if data.max_x == 0 {
            return Err(Error::new(
                ErrorKind::Input,
                "BG/NBD: no customer has bought twice; the model cannot be fitted",
            ));
        }
        let joint = |p: &[f64]| -> (f64, Vec<f64>) {
            let (ll, g) = log_likelihood_and_gradient(data, p[0], p[1], p[2], p[3]);
            (-ll / data.customers, g.iter().map(|g| -g / data.customers).collect())
        };
        // Start from a typical shape with α at the scale of the mean age; on many distinct
        // rows, from the fit of a uniform sample of them (each kept row keeps its weight, an
        // unbiased estimate of the likelihood), so the full data needs few iterations.
        let mean_age = data.age.iter().zip(&data.weight).map(|(t, w)| t * w).sum::<f64>() / data.customers;
        let start = match data.sample(SAMPLE_ROWS) {
            Some(sample) if sample.max_x > 0 => {
                let s = BgNbd::fit_grouped(&sample, unit)?;
                [s.r, s.alpha, s.a, s.b]
            }
            _ => [1.0, mean_age.max(1e-3) / 10.0, 1.0, 1.0],
        };
        let opt = minimize_joint(&joint, &start, "BG/NBD")?;
        let [r, alpha, a, b] = [opt.params[0], opt.params[1], opt.params[2], opt.params[3]];
        Ok(BgNbd { r, alpha, a, b, unit, log_likelihood: -opt.cost * data.customers })
    }

    /// Log-likelihood of one customer.
    pub fn customer_log_likelihood(&self, s: &Summary) -> f64 {
        let g = Grouped::new([s]);
        log_likelihood(&g, self.r, self.alpha, self.a, self.b)
    }

    /// Probability that the customer is still active at the end of their observation.
    pub fn p_alive(&self, s: &Summary) -> f64 {
        if s.frequency == 0 {
            return 1.0;
        }
        let x = f64::from(s.frequency);
        let ratio = ((self.alpha + s.age) / (self.alpha + s.recency)).ln() * (self.r + x);
        1.0 / (1.0 + (self.a / (self.b + x - 1.0)) * ratio.exp())
    }

    /// Expected number of transactions in the next `t` (model unit) for this customer.
    pub fn expected_purchases(&self, s: &Summary, t: f64) -> f64 {
        let mut out = [0.0];
        self.expected_purchases_many(s, &[t], &mut out);
        out[0]
    }

    /// [`Self::expected_purchases`] for several horizons at once (one 2F1 series shared by
    /// all of them).
    pub fn expected_purchases_many(&self, s: &Summary, ts: &[f64], out: &mut [f64]) {
        self.tail_terms(s.frequency, s.age, ts, out);
        let factor = self.purchase_factor(s);
        for v in out.iter_mut() {
            *v = factor * (1.0 - *v);
        }
    }

    /// The part of the expected purchases that depends on `x` and `T` only (not on
    /// recency): `((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x; a+b+x−1; t/(α+T+t))` for each `t`.
    /// Customers sharing `(x, T)` share it, which is what makes scoring a million fast.
    pub fn tail_terms(&self, frequency: u32, age: f64, ts: &[f64], out: &mut [f64]) {
        const LANES: usize = 16;
        let (r, alpha, a, b) = (self.r, self.alpha, self.a, self.b);
        let x = f64::from(frequency);
        let mut zs = [0.0; LANES];
        for (ts, out) in ts.chunks(LANES).zip(out.chunks_mut(LANES)) {
            let n = ts.len();
            for (z, t) in zs.iter_mut().zip(ts) {
                *z = t / (alpha + age + t);
            }
            hyp2f1_many(r + x, b + x, a + b + x - 1.0, &zs[..n], out);
            for (o, z) in out.iter_mut().zip(&zs) {
                *o *= (1.0 - z).powf(r + x);
            }
        }
    }

    /// Expected purchases in the next `t` = `purchase_factor · (1 − tail_terms(t))`.
    pub fn purchase_factor(&self, s: &Summary) -> f64 {
        let (r, alpha, a, b) = (self.r, self.alpha, self.a, self.b);
        let x = f64::from(s.frequency);
        let mut denominator = 1.0;
        if s.frequency > 0 {
            denominator += (a / (b + x - 1.0)) * ((alpha + s.age) / (alpha + s.recency)).powf(r + x);
        }
        (a + b + x - 1.0) / (a - 1.0) / denominator
    }

    /// Expected transactions in a period of length `t` for a customer just acquired.
    pub fn expected_purchases_new(&self, t: f64) -> f64 {
        let (r, alpha, a, b) = (self.r, self.alpha, self.a, self.b);
        let h = hyp2f1(r, b, a + b - 1.0, t / (alpha + t));
        (a + b - 1.0) / (a - 1.0) * (1.0 - (alpha / (alpha + t)).powf(r) * h)
    }
}

/// Σ customers' log-likelihood (paper's equation 6, on the log scale).
fn log_likelihood(g: &Grouped, r: f64, alpha: f64, a: f64, b: f64) -> f64 {
    // Terms that depend on x only are tabulated once per evaluation.
    let max_x = g.max_x as usize;
    let mut by_x = Vec::with_capacity(max_x + 1);
    let (lg_r, lb_ab) = (ln_gamma(r), ln_beta(a, b));
    for x in 0..=max_x {
        let xf = x as f64;
        let shared = ln_gamma(r + xf) - lg_r + r * alpha.ln() + ln_beta(a, b + xf) - lb_ab;
        let dropout = if x > 0 { a.ln() - (b + xf - 1.0).ln() } else { f64::NEG_INFINITY };
        by_x.push((shared, dropout));
    }
    let ln_age: Vec<f64> = g.age_values.iter().map(|t| (alpha + t).ln()).collect();
    let ln_rec: Vec<f64> = g.recency_values.iter().map(|t| (alpha + t).ln()).collect();
    Grouped::parallel_sums(g.len(), &|i| {
        let x = g.x[i];
        let (shared, dropout) = by_x[x as usize];
        let rx = r + f64::from(x);
        let a3 = -rx * ln_age[g.age_index[i] as usize];
        if x == 0 {
            return [g.weight[i] * (shared + a3)];
        }
        let a4 = dropout - rx * ln_rec[g.recency_index[i] as usize];
        [g.weight[i] * (shared + log_add_exp(a3, a4))]
    })[0]
}

/// Gradient of Σ log-likelihood with respect to `(r, α, a, b)`.
#[cfg(test)]
fn gradient(g: &Grouped, r: f64, alpha: f64, a: f64, b: f64) -> [f64; 4] {
    log_likelihood_and_gradient(g, r, alpha, a, b).1
}

/// Σ log-likelihood and its gradient with respect to `(r, α, a, b)` in one pass: the two
/// share the log-sum of every row. Differences of digammas at integer distance are finite
/// sums (ψ(z + x) − ψ(z) = Σ_{k<x} 1/(z + k)), tabulated by x.
fn log_likelihood_and_gradient(g: &Grouped, r: f64, alpha: f64, a: f64, b: f64) -> (f64, [f64; 4]) {
    let max_x = g.max_x as usize;
    // by_x[x] = (shared log-likelihood term, ln(a / (b + x − 1)), d shared / d r, d shared
    // / d a, d shared / d b)
    let mut by_x = Vec::with_capacity(max_x + 1);
    let (lg_r, lb_ab, ln_alpha) = (ln_gamma(r), ln_beta(a, b), alpha.ln());
    let (mut sum_r, mut sum_b, mut sum_ab) = (0.0, 0.0, 0.0);
    for x in 0..=max_x {
        let xf = x as f64;
        let shared = ln_gamma(r + xf) - lg_r + r * ln_alpha + ln_beta(a, b + xf) - lb_ab;
        let dropout = if x > 0 { a.ln() - (b + xf - 1.0).ln() } else { f64::NEG_INFINITY };
        by_x.push((shared, dropout, sum_r + ln_alpha, -sum_ab, sum_b - sum_ab));
        sum_r += 1.0 / (r + xf);
        sum_b += 1.0 / (b + xf);
        sum_ab += 1.0 / (a + b + xf);
    }
    let age: Vec<(f64, f64)> = g.age_values.iter().map(|t| ((alpha + t).ln(), 1.0 / (alpha + t))).collect();
    let rec: Vec<(f64, f64)> = g.recency_values.iter().map(|t| ((alpha + t).ln(), 1.0 / (alpha + t))).collect();
    let s = Grouped::parallel_sums(g.len(), &|i| {
        let x = g.x[i];
        let w = g.weight[i];
        let (shared, dropout, dr_s, da_s, db_s) = by_x[x as usize];
        let xf = f64::from(x);
        let rx = r + xf;
        let (ln_at, inv_at) = age[g.age_index[i] as usize];
        let a3 = -rx * ln_at;
        if x == 0 {
            return [w * (shared + a3), w * (dr_s - ln_at), w * (r / alpha - rx * inv_at), w * da_s, w * db_s];
        }
        let (ln_atx, inv_atx) = rec[g.recency_index[i] as usize];
        let inv_bx = 1.0 / (b + xf - 1.0);
        let a4 = dropout - rx * ln_atx;
        // ln(e^a3 + e^a4) and the weights of its two terms, from one exponential.
        let (hi, e) = if a3 >= a4 { (a3, (a4 - a3).exp()) } else { (a4, (a3 - a4).exp()) };
        let log_sum = hi + (1.0 + e).ln();
        let small = e / (1.0 + e);
        let (w3, w4) = if a3 >= a4 { (1.0 - small, small) } else { (small, 1.0 - small) };
        [
            w * (shared + log_sum),
            w * (dr_s - w3 * ln_at - w4 * ln_atx),
            w * (r / alpha - rx * (w3 * inv_at + w4 * inv_atx)),
            w * (da_s + w4 / a),
            w * (db_s - w4 * inv_bx),
        ]
    });
    (s[0], [s[1], s[2], s[3], s[4]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analytic_gradient_matches_finite_differences() {
        let s: Vec<Summary> = (0..200)
            .map(|i| {
                let x = (i % 7) as u32;
                let age = 10.0 + f64::from(i % 30);
                Summary {
                    frequency: x,
                    recency: if x == 0 { 0.0 } else { age * f64::from(i % 5) / 5.0 },
                    age,
                    monetary: 0.0,
                }
            })
            .collect();
        let g = Grouped::new(&s);
        let p = [0.7, 3.0, 0.9, 2.5];
        let analytic = gradient(&g, p[0], p[1], p[2], p[3]);
        let joint = log_likelihood_and_gradient(&g, p[0], p[1], p[2], p[3]).0;
        let alone = log_likelihood(&g, p[0], p[1], p[2], p[3]);
        assert!((joint - alone).abs() <= 1e-12 * alone.abs(), "{joint} vs {alone}");
        for i in 0..4 {
            let h = 1e-6 * p[i];
            let (mut up, mut down) = (p, p);
            up[i] += h;
            down[i] -= h;
            let numeric = (log_likelihood(&g, up[0], up[1], up[2], up[3])
                - log_likelihood(&g, down[0], down[1], down[2], down[3]))
                / (2.0 * h);
            assert!(
                (analytic[i] - numeric).abs() <= 1e-5 * numeric.abs().max(1.0),
                "{i}: {} vs {numeric}",
                analytic[i]
            );
        }
    }
}
