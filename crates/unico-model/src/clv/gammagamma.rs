//! Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV"; Colombo & Jiang 1999):
//! the value of each transaction is Gamma(p, ν) around the customer's own mean, and ν varies
//! across customers as Gamma(q, γ). Fitted on customers with at least one repeat transaction,
//! on the mean value of their repeat transactions.

use super::grouped::Grouped;
use super::grouped::canonical_rank;
use crate::error::{Error, ErrorKind};
use crate::optimize::minimize_joint;
use crate::special::{digamma, ln_gamma};
use foldhash::HashMap;
use serde::{Deserialize, Serialize};

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
        GammaGamma::fit_rows(customers.into_iter().map(|(x, m)| (x, m, 1.0)), false)
    }

    /// Fits the model on `(repeat transactions, mean repeat value, customers)` rows, grouped
    /// or not, in any order: rows are summed in one canonical order, so the fit is the same
    /// to the last bit however a distributed engine grouped them.
    pub fn fit_grouped(rows: impl IntoIterator<Item = (u32, f64, f64)>) -> Result<GammaGamma, Error> {
        GammaGamma::fit_rows(rows, true)
    }

    fn fit_rows(rows: impl IntoIterator<Item = (u32, f64, f64)>, canonical: bool) -> Result<GammaGamma, Error> {
        let mut index: HashMap<(u32, u64), usize> = HashMap::default();
        let mut distinct: Vec<((u32, u64), f64)> = Vec::new();
        for (x, m, w) in rows {
            if x == 0 || m.is_nan() || m <= 0.0 {
                continue;
            }
            let i = *index.entry((x, m.to_bits())).or_insert_with(|| {
                distinct.push(((x, m.to_bits()), 0.0));
                distinct.len() - 1
            });
            distinct[i].1 += w;
        }
        drop(index);
        // The most common first, ties in a fixed scattered order: of the canonical orders
        // measured, the one that fits about as fast as the order of first appearance (1M
        // customers: 0.7 s against 0.5 s; by key 1.7 s; decision 0029).
        if canonical {
            distinct.sort_unstable_by(|a, b| {
                b.1.total_cmp(&a.1).then(canonical_rank(&a.0).cmp(&canonical_rank(&b.0))).then(a.0.cmp(&b.0))
            });
        }
        let xs: Vec<u32> = distinct.iter().map(|r| r.0.0).collect();
        let ms: Vec<f64> = distinct.iter().map(|r| f64::from_bits(r.0.1)).collect();
        let ws: Vec<f64> = distinct.iter().map(|r| r.1).collect();
        drop(distinct);
        let n: f64 = ws.iter().sum();
        if n < 2.0 {
            return Err(Error::new(ErrorKind::Input, "Gamma-Gamma: fewer than two customers with a repeat purchase"));
        }
        let ln_ms: Vec<f64> = ms.iter().map(|m| m.ln()).collect();
        let max_x = xs.iter().copied().max().unwrap_or(0) as usize;
        // Σ log-likelihood and its gradient with respect to (p, q, γ), ψ the digamma
        // function, in one pass; the terms that depend on x only are tabulated per x.
        let joint = |params: &[f64]| -> (f64, Vec<f64>) {
            let (p, q, v) = (params[0], params[1], params[2]);
            let (ln_v, psi_q) = (v.ln(), digamma(q));
            let base = -ln_gamma(q) + q * ln_v;
            // by_x[x] = (lnΓ(px+q) − lnΓ(px) + px ln x, ψ(px+q) − ψ(px) + ln x, ψ(px+q))
            let by_x: Vec<(f64, f64, f64)> = (0..=max_x)
                .map(|x| {
                    let (x, px) = (x as f64, p * x as f64);
                    if x == 0.0 {
                        return (0.0, 0.0, 0.0);
                    }
                    let psi_pxq = digamma(px + q);
                    (ln_gamma(px + q) - ln_gamma(px) + px * x.ln(), psi_pxq - digamma(px) + x.ln(), psi_pxq)
                })
                .collect();
            let s = Grouped::parallel_sums(xs.len(), &|i| {
                let (w, ln_m) = (ws[i], ln_ms[i]);
                let (shared, d_p, psi_pxq) = by_x[xs[i] as usize];
                let x = f64::from(xs[i]);
                let px = p * x;
                let xmv = x * ms[i] + v;
                let ln_xmv = xmv.ln();
                [
                    w * (shared + base + (px - 1.0) * ln_m - (px + q) * ln_xmv),
                    w * x * (d_p + ln_m - ln_xmv),
                    w * (psi_pxq - psi_q + ln_v - ln_xmv),
                    w * (q / v - (px + q) / xmv),
                ]
            });
            (-s[0] / n, vec![-s[1] / n, -s[2] / n, -s[3] / n])
        };
        let mean = ms.iter().zip(&ws).map(|(m, w)| m * w).sum::<f64>() / n;
        // On many distinct rows, start from the fit of every k-th one (a uniform sample).
        let start = if xs.len() > SAMPLE_ROWS {
            let k = xs.len().div_ceil(SAMPLE_ROWS);
            let sample: Vec<(u32, f64)> =
                (0..xs.len()).step_by(k).flat_map(|i| std::iter::repeat_n((xs[i], ms[i]), ws[i] as usize)).collect();
            let s = GammaGamma::fit(sample)?;
            [s.p, s.q, s.gamma]
        } else {
            [1.0, 2.0, mean]
        };
        let opt = minimize_joint(&joint, &start, "Gamma-Gamma")?;
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
