//! The statistics of campaign measurement: the difference of two means with a confidence
//! interval, CUPED variance reduction with a pre-period covariate, and the mixture
//! sequential probability ratio test (mSPRT) whose p-values and intervals stay valid however
//! often they are looked at.
//!
//! Written by hand: each is a few lines of closed-form arithmetic (Deng et al. 2013 for
//! CUPED; Johari, Pekelis and Walsh 2017 / Johari et al. 2022, "Always valid inference", for
//! the normal-mixture mSPRT), and the crates that offer them pull in much more than they give.

use serde::Serialize;

/// Count, mean and sample variance of a sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Moments {
    /// Observations.
    pub n: u64,
    /// Mean.
    pub mean: f64,
    /// Sample variance (n − 1 in the denominator; 0 below two observations).
    pub variance: f64,
}

impl Moments {
    /// The moments of `xs` (Welford's one pass).
    pub fn of(xs: impl IntoIterator<Item = f64>) -> Moments {
        let (mut n, mut mean, mut m2) = (0u64, 0.0, 0.0);
        for x in xs {
            n += 1;
            let d = x - mean;
            mean += d / n as f64;
            m2 += d * (x - mean);
        }
        Moments { n, mean, variance: if n > 1 { m2 / (n - 1) as f64 } else { 0.0 } }
    }

    /// The variance of the mean.
    pub fn variance_of_mean(&self) -> f64 {
        if self.n == 0 { f64::INFINITY } else { self.variance / self.n as f64 }
    }
}

/// An estimated difference (treated minus control) with its interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    /// Treated mean minus control mean.
    pub effect: f64,
    /// Its standard error.
    pub standard_error: f64,
    /// Lower end of the interval.
    pub low: f64,
    /// Upper end.
    pub high: f64,
    /// The interval's confidence level (e.g. 0.95).
    pub level: f64,
}

/// The standard normal CDF.
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * (1.0 + libm::erf(z / std::f64::consts::SQRT_2))
}

/// The standard normal quantile, by bisection on the CDF (to 1e-12).
pub fn normal_quantile(p: f64) -> f64 {
    assert!(p > 0.0 && p < 1.0, "a probability strictly between 0 and 1");
    let (mut lo, mut hi) = (-40.0f64, 40.0f64);
    while hi - lo > 1e-12 {
        let mid = 0.5 * (lo + hi);
        if normal_cdf(mid) < p { lo = mid } else { hi = mid }
    }
    0.5 * (lo + hi)
}

/// The difference of two means with a two-sided interval at `level`, from the unpooled
/// (Welch) variance and the normal approximation: campaigns hold hundreds to millions of
/// customers per arm, where Student's t and the normal agree to the third digit.
pub fn difference(treated: &Moments, control: &Moments, level: f64) -> Estimate {
    let se = (treated.variance_of_mean() + control.variance_of_mean()).sqrt();
    let z = normal_quantile(0.5 + level / 2.0);
    let effect = treated.mean - control.mean;
    Estimate { effect, standard_error: se, low: effect - z * se, high: effect + z * se, level }
}

/// CUPED: the outcome `y` minus θ·(x − mean x), with x the same customer's pre-period value
/// and θ = cov(x, y) / var(x) over both arms together. The adjusted difference estimates the
/// same effect (x is unaffected by the treatment) with the variance cut by the squared
/// correlation of x and y. Returns the adjusted estimate and θ.
pub fn cuped(treated: &[(f64, f64)], control: &[(f64, f64)], level: f64) -> (Estimate, f64) {
    let theta = cuped_theta(treated.iter().chain(control));
    let mx = Moments::of(treated.iter().chain(control).map(|p| p.1)).mean;
    let adjust = |s: &[(f64, f64)]| Moments::of(s.iter().map(|(y, x)| y - theta * (x - mx)));
    (difference(&adjust(treated), &adjust(control), level), theta)
}

/// θ = cov(x, y) / var(x) of `(y, x)` pairs; 0 when x does not vary.
pub fn cuped_theta<'a>(pairs: impl Iterator<Item = &'a (f64, f64)>) -> f64 {
    let (mut n, mut my, mut mx, mut cxy, mut cxx) = (0.0f64, 0.0, 0.0, 0.0, 0.0);
    for (y, x) in pairs {
        n += 1.0;
        let dx = x - mx;
        mx += dx / n;
        my += (y - my) / n;
        cxy += dx * (y - my);
        cxx += dx * (x - mx);
    }
    if cxx > 0.0 { cxy / cxx } else { 0.0 }
}

/// The normal-mixture mSPRT for a difference of means.
///
/// With the estimate θ̂ (variance V) and a N(0, τ²) mixture over the effect under the
/// alternative, the likelihood ratio against "no effect" is
/// Λ = √(V / (V + τ²)) · exp(τ² θ̂² / (2 V (V + τ²))). Under no effect Λ is a martingale, so
/// P(Λ ever reaches 1/α) ≤ α however often it is computed (Ville's inequality): rejecting
/// when it does keeps the false-positive rate at α with daily looks. 1/Λ is the p-value of
/// one look; the running minimum of those is the always-valid p-value, and
/// θ̂ ± √(V (V + τ²) / τ² · (ln((V + τ²) / V) − 2 ln α)) the always-valid interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Msprt {
    /// The mixture variance τ², in squared outcome units.
    pub tau2: f64,
    /// The level α.
    pub alpha: f64,
}

/// One look of the mSPRT.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Look {
    /// The likelihood ratio Λ.
    pub likelihood_ratio: f64,
    /// 1/Λ, capped at 1.
    pub p_value: f64,
    /// Lower end of the always-valid interval at this look.
    pub low: f64,
    /// Upper end.
    pub high: f64,
}

impl Msprt {
    /// One look at an estimate `effect` with variance `variance`.
    pub fn look(&self, effect: f64, variance: f64) -> Look {
        let (v, t) = (variance.max(f64::MIN_POSITIVE), self.tau2);
        let log_lr = 0.5 * (v / (v + t)).ln() + t * effect * effect / (2.0 * v * (v + t));
        let half = (v * (v + t) / t * (((v + t) / v).ln() - 2.0 * self.alpha.ln())).sqrt();
        Look {
            likelihood_ratio: log_lr.exp(),
            p_value: (-log_lr).exp().min(1.0),
            low: effect - half,
            high: effect + half,
        }
    }
}

/// The running state of a sequential test looked at day after day.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sequential {
    /// The always-valid p-value: the smallest p-value of all looks so far.
    pub p_value: f64,
    /// The always-valid interval: the intersection of every look's interval.
    pub low: f64,
    /// Upper end.
    pub high: f64,
    /// Looks so far.
    pub looks: u32,
    /// The first look at which the p-value went under α, if any.
    pub rejected_at: Option<u32>,
}

impl Default for Sequential {
    fn default() -> Self {
        Sequential { p_value: 1.0, low: f64::NEG_INFINITY, high: f64::INFINITY, looks: 0, rejected_at: None }
    }
}

impl Sequential {
    /// Folds in one look.
    pub fn update(&mut self, test: &Msprt, look: &Look) {
        self.looks += 1;
        self.p_value = self.p_value.min(look.p_value);
        self.low = self.low.max(look.low);
        self.high = self.high.min(look.high);
        if self.rejected_at.is_none() && self.p_value <= test.alpha {
            self.rejected_at = Some(self.looks);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantiles_match_the_tables() {
        assert!((normal_quantile(0.975) - 1.959_963_984_540_054).abs() < 1e-9);
        assert!((normal_quantile(0.95) - 1.644_853_626_951_472_2).abs() < 1e-9);
        assert!((normal_quantile(0.5)).abs() < 1e-9);
    }

    #[test]
    fn moments_and_difference_by_hand() {
        let t = Moments::of([2.0, 4.0, 6.0]);
        assert_eq!((t.n, t.mean, t.variance), (3, 4.0, 4.0));
        let c = Moments::of([1.0, 2.0, 3.0, 4.0]);
        assert_eq!(c.mean, 2.5);
        assert!((c.variance - 5.0 / 3.0).abs() < 1e-12);
        let d = difference(&t, &c, 0.95);
        let se = (4.0 / 3.0 + 5.0 / 12.0f64).sqrt();
        assert!((d.effect - 1.5).abs() < 1e-12 && (d.standard_error - se).abs() < 1e-12);
        assert!((d.high - (1.5 + 1.959_963_984_540_054 * se)).abs() < 1e-9);
    }

    #[test]
    fn cuped_removes_the_variance_the_pre_period_explains() {
        // y = x + effect, with x varying a lot: CUPED sees θ = 1 and an exact difference.
        let t: Vec<(f64, f64)> = (0..50).map(|i| (f64::from(i) * 10.0 + 3.0, f64::from(i) * 10.0)).collect();
        let c: Vec<(f64, f64)> = (0..50).map(|i| (f64::from(i) * 10.0 + 5.0, f64::from(i) * 10.0 + 5.0)).collect();
        let (e, theta) = cuped(&t, &c, 0.95);
        assert!((theta - 1.0).abs() < 0.02, "{theta}");
        let plain = difference(&Moments::of(t.iter().map(|p| p.0)), &Moments::of(c.iter().map(|p| p.0)), 0.95);
        assert!(e.standard_error < plain.standard_error / 10.0);
        assert!((e.effect - 3.0).abs() < 0.2, "{e:?}");
    }

    #[test]
    fn msprt_matches_its_closed_form() {
        // V = 1, τ² = 1, θ̂ = 3: Λ = √(1/2)·exp(9/4).
        let test = Msprt { tau2: 1.0, alpha: 0.05 };
        let look = test.look(3.0, 1.0);
        assert!((look.likelihood_ratio - (0.5f64).sqrt() * (2.25f64).exp()).abs() < 1e-9);
        // At the interval's edge Λ is exactly 1/α.
        let at_edge = test.look(look.high - 3.0, 1.0);
        assert!((at_edge.likelihood_ratio - 20.0).abs() < 1e-6, "{at_edge:?}");
        // The always-valid interval is wider than the fixed-horizon one.
        assert!(look.high - 3.0 > 1.96);
    }
}
