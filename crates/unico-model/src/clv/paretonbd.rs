//! Pareto/NBD (Schmittlein, Morrison & Colombo 1987): purchases Poisson with rate
//! λ ~ Gamma(r, α), lifetime exponential with rate μ ~ Gamma(s, β), in continuous time.
//!
//! The likelihood follows Fader & Hardie's note "A note on deriving the Pareto/NBD model and
//! related expressions" (2005), with the `A0` term through the Gauss hypergeometric function.
//! α and β carry the time unit.

use super::grouped::Grouped;
use super::summary::{Summary, TimeUnit};
use crate::error::{Error, ErrorKind};
use crate::optimize::minimize;
use crate::special::{hyp2f1, ln_gamma, log_add_exp};
use serde::{Deserialize, Serialize};

/// A fitted Pareto/NBD model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ParetoNbd {
    /// Shape of the purchase-rate Gamma.
    pub r: f64,
    /// Scale of the purchase-rate Gamma, in the model's unit.
    pub alpha: f64,
    /// Shape of the dropout-rate Gamma.
    pub s: f64,
    /// Scale of the dropout-rate Gamma, in the model's unit.
    pub beta: f64,
    /// The unit of `alpha`, `beta` and every time.
    pub unit: TimeUnit,
    /// Log-likelihood of the fitting data at the optimum.
    pub log_likelihood: f64,
}

impl ParetoNbd {
    /// Fits the model to the customers' summaries (times in `unit`).
    pub fn fit(summaries: &[Summary], unit: TimeUnit) -> Result<ParetoNbd, Error> {
        let data = Grouped::new(summaries);
        if data.max_x == 0 {
            return Err(Error::new(
                ErrorKind::Input,
                "Pareto/NBD: no customer has bought twice; the model cannot be fitted",
            ));
        }
        let cost = |p: &[f64]| -log_likelihood(&data, p[0], p[1], p[2], p[3]) / data.customers;
        let mean_age = data.age.iter().zip(&data.weight).map(|(t, w)| t * w).sum::<f64>() / data.customers;
        let scale = mean_age.max(1e-3) / 4.0;
        let opt = minimize(&cost, &[1.0, scale, 1.0, scale], "Pareto/NBD")?;
        let [r, alpha, s, beta] = [opt.params[0], opt.params[1], opt.params[2], opt.params[3]];
        Ok(ParetoNbd { r, alpha, s, beta, unit, log_likelihood: -opt.cost * data.customers })
    }

    /// Probability that the customer is still active at the end of their observation.
    pub fn p_alive(&self, s: &Summary) -> f64 {
        let (r, alpha, ss, beta) = (self.r, self.alpha, self.s, self.beta);
        let x = f64::from(s.frequency);
        let a0 = log_a0(r, alpha, ss, beta, x, s.recency, s.age);
        1.0 / (1.0
            + (ss.ln() - (r + ss + x).ln() + (r + x) * (alpha + s.age).ln() + ss * (beta + s.age).ln() + a0).exp())
    }

    /// Expected number of transactions in the next `t` (model unit) for this customer.
    pub fn expected_purchases(&self, s: &Summary, t: f64) -> f64 {
        let (r, alpha, ss, beta) = (self.r, self.alpha, self.s, self.beta);
        let x = f64::from(s.frequency);
        let big_t = s.age;
        let rate = (r + x) * (beta + big_t) / ((alpha + big_t) * (ss - 1.0));
        rate * (1.0 - ((beta + big_t) / (beta + big_t + t)).powf(ss - 1.0)) * self.p_alive(s)
    }
}

/// `ln A0` of the likelihood, as in lifetimes' `_log_A_0`.
fn log_a0(r: f64, alpha: f64, s: f64, beta: f64, x: f64, tx: f64, big_t: f64) -> f64 {
    let (min_ab, max_ab, t) = if alpha < beta { (alpha, beta, r + x) } else { (beta, alpha, s + 1.0) };
    let diff = max_ab - min_ab;
    let rsx = r + s + x;
    let q1 = max_ab + tx;
    let q2 = max_ab + big_t;
    let p1 = hyp2f1(rsx, t, rsx + 1.0, diff / q1);
    let p2 = hyp2f1(rsx, t, rsx + 1.0, diff / q2);
    // ln(p1 / q1^rsx − p2 / q2^rsx); the first term is the larger (q1 <= q2).
    let l1 = p1.ln() - rsx * q1.ln();
    let l2 = p2.ln() - rsx * q2.ln();
    l1 + (-(l2 - l1).exp()).ln_1p()
}

fn log_likelihood(g: &Grouped, r: f64, alpha: f64, s: f64, beta: f64) -> f64 {
    let lg_r = ln_gamma(r);
    let base = r * alpha.ln() + s * beta.ln() - lg_r;
    g.weighted_sum(&|x, tx, big_t| {
        let xf = f64::from(x);
        let a1 = ln_gamma(r + xf) + base;
        let a0 = log_a0(r, alpha, s, beta, xf, tx, big_t);
        let a2 =
            log_add_exp(-(r + xf) * (alpha + big_t).ln() - s * (beta + big_t).ln(), s.ln() + a0 - (r + s + xf).ln());
        a1 + a2
    })
}
