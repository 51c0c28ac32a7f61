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

/// The normal-mixture sequential probability ratio test (mSPRT) on a running difference.
///
/// A campaign is read day after day on each customer's spend *so far*: the difference
/// between the arms, Z, grows day by day, and so does its variance W. Under "no effect" Z
/// is (by the central limit theorem over customers) a Gaussian process with independent
/// increments and variance W. Against the alternatives "Z drifts by θ per unit of W", mixed
/// over θ ~ N(0, ρ), the likelihood ratio is
/// Λ = (1 + ρW)^(−1/2) · exp(ρ Z² / (2 (1 + ρW))). Under no effect Λ is a non-negative
/// martingale, so P(Λ ever reaches 1/α) ≤ α however often it is computed (Ville's
/// inequality): rejecting when it does keeps the false-positive rate at α with daily looks.
/// 1/Λ is the p-value of one look and their running minimum the always-valid p-value
/// (Johari, Pekelis and Walsh, "Always valid inference", 2017/2022). ρ = 1/W₀ for a
/// variance W₀ fixed before looking (the test is most sensitive when the effect's z-score
/// at W₀ is around 2); it moves the power, never the level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Msprt {
    /// The mixture's precision scale ρ, in 1/outcome units².
    pub rho: f64,
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
}

impl Msprt {
    /// One look at a running difference `z` with variance `w`.
    pub fn look(&self, z: f64, w: f64) -> Look {
        let rw = self.rho * w.max(0.0);
        let log_lr = -0.5 * (1.0 + rw).ln() + self.rho * z * z / (2.0 * (1.0 + rw));
        Look { likelihood_ratio: log_lr.exp(), p_value: (-log_lr).exp().min(1.0) }
    }
}

/// The running state of a sequential test looked at day after day.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sequential {
    /// The always-valid p-value of "no effect": the smallest p-value of all looks so far.
    pub p_value: f64,
    /// Looks so far.
    pub looks: u32,
    /// The first look at which the p-value went under α, if any.
    pub rejected_at: Option<u32>,
}

impl Default for Sequential {
    fn default() -> Self {
        Sequential { p_value: 1.0, looks: 0, rejected_at: None }
    }
}

impl Sequential {
    /// Folds in one look.
    pub fn update(&mut self, test: &Msprt, look: &Look) {
        self.looks += 1;
        self.p_value = self.p_value.min(look.p_value);
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
        // ρ = 1, W = 1, Z = 3: Λ = (1/2)^(1/2) · exp(9/4).
        let test = Msprt { rho: 1.0, alpha: 0.05 };
        let look = test.look(3.0, 1.0);
        assert!((look.likelihood_ratio - (0.5f64).sqrt() * (2.25f64).exp()).abs() < 1e-9);
        assert!((look.p_value - 1.0 / look.likelihood_ratio).abs() < 1e-12);
        // Nothing seen yet: Λ = 1. A z-score of 1.96 at W = 1/ρ is not enough to reject at 5 %
        // (the price of looking any number of times); 4 is.
        assert_eq!(test.look(0.0, 0.0).likelihood_ratio, 1.0);
        assert!(test.look(1.96, 1.0).p_value > 0.05);
        assert!(test.look(4.0, 1.0).p_value < 0.05);
        let mut s = Sequential::default();
        s.update(&test, &test.look(4.0, 1.0));
        s.update(&test, &test.look(0.0, 2.0));
        assert_eq!((s.looks, s.rejected_at), (2, Some(1)), "the p-value never goes back up");
    }
}
