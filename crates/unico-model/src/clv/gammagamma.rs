//! Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV"; Colombo & Jiang 1999):
//! the value of each transaction is Gamma(p, ν) around the customer's own mean, and ν varies
//! across customers as Gamma(q, γ). Fitted on customers with at least one repeat transaction,
//! on the mean value of their repeat transactions.

use super::grouped::Grouped;
use crate::error::{Error, ErrorKind};
use crate::optimize::minimize_with_gradient;
use crate::special::{digamma, ln_gamma};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A fitted Gamma-Gamma model. Values are in currency units (not cents): the model is
/// scale-equivariant, γ scales with the currency unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaGamma {
    /// Shape of the per-transaction value.
    pub p: f64,
    /// Shape of the across-customer Gamma.
    pub q: f64,
    /// Scale of the across-customer Gamma, in currency units.
    pub gamma: f64,
    /// Log-likelihood of the fitting data at the optimum.
    pub log_likelihood: f64,
    /// Customers the model was fitted on (those with a repeat transaction).
    pub customers: u64,
}

/// Distinct rows above which the fit starts from a sample's fit.
const SAMPLE_ROWS: usize = 50_000;

impl GammaGamma {
    /// Fits the model on `(repeat transactions, mean repeat value)` pairs; pairs with no
    /// repeat transaction or a non-positive mean are skipped.
    pub fn fit(customers: impl IntoIterator<Item = (u32, f64)>) -> Result<GammaGamma, Error> {
        let mut index: HashMap<(u32, u64), usize> = HashMap::new();
        let (mut xs, mut ms, mut ws) = (Vec::new(), Vec::new(), Vec::new());
        for (x, m) in customers {
            if x == 0 || m.is_nan() || m <= 0.0 {
                continue;
            }
            let i = *index.entry((x, m.to_bits())).or_insert_with(|| {
                xs.push(f64::from(x));
                ms.push(m);
                ws.push(0.0);
                xs.len() - 1
            });
            ws[i] += 1.0;
        }
        let n: f64 = ws.iter().sum();
        if n < 2.0 {
            return Err(Error::new(ErrorKind::Input, "Gamma-Gamma: fewer than two customers with a repeat purchase"));
        }
        let ll = |p: f64, q: f64, v: f64| -> f64 {
            let base = -ln_gamma(q) + q * v.ln();
            Grouped::parallel_sums(xs.len(), &|i| {
                let (x, m) = (xs[i], ms[i]);
                [ws[i]
                    * (ln_gamma(p * x + q) - ln_gamma(p * x) + base + (p * x - 1.0) * m.ln() + p * x * x.ln()
                        - (p * x + q) * (x * m + v).ln())]
            })[0]
        };
        // d LL / d (p, q, γ), with ψ the digamma function.
        let grad = |p: &[f64]| -> Vec<f64> {
            let (p, q, v) = (p[0], p[1], p[2]);
            let (psi_q, ln_v) = (digamma(q), v.ln());
            let g = Grouped::parallel_sums(xs.len(), &|i| {
                let (x, m, w) = (xs[i], ms[i], ws[i]);
                let psi_pxq = digamma(p * x + q);
                let ln_xmv = (x * m + v).ln();
                [
                    w * x * (psi_pxq - digamma(p * x) + m.ln() + x.ln() - ln_xmv),
                    w * (psi_pxq - psi_q + ln_v - ln_xmv),
                    w * (q / v - (p * x + q) / (x * m + v)),
                ]
            });
            g.iter().map(|g| -g / n).collect()
        };
        let mean = ms.iter().zip(&ws).map(|(m, w)| m * w).sum::<f64>() / n;
        // On many distinct rows, start from the fit of every k-th one (a uniform sample).
        let start = if xs.len() > SAMPLE_ROWS {
            let k = xs.len().div_ceil(SAMPLE_ROWS);
            let sample: Vec<(u32, f64)> = (0..xs.len())
                .step_by(k)
                .flat_map(|i| std::iter::repeat_n((xs[i] as u32, ms[i]), ws[i] as usize))
                .collect();
            let s = GammaGamma::fit(sample)?;
            [s.p, s.q, s.gamma]
        } else {
            [1.0, 2.0, mean]
        };
        let opt = minimize_with_gradient(&|p: &[f64]| -ll(p[0], p[1], p[2]) / n, Some(&grad), &start, "Gamma-Gamma")?;
        let (p, q, gamma) = (opt.params[0], opt.params[1], opt.params[2]);
        Ok(GammaGamma { p, q, gamma, log_likelihood: -opt.cost * n, customers: n as u64 })
    }

    /// Expected value of one future transaction of a customer with `x` repeat transactions
    /// of mean value `m` (the population mean when `x` is 0).
    pub fn expected_spend(&self, x: u32, m: f64) -> f64 {
        let x = f64::from(x);
        if x == 0.0 {
            return self.p * self.gamma / (self.q - 1.0);
        }
        self.p * (self.gamma + x * m) / (self.p * x + self.q - 1.0)
    }
}
