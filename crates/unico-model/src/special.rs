//! Special functions the buy-till-you-die likelihoods need: log-gamma, log-beta and the
//! Gauss hypergeometric function 2F1 on `[0, 1)`.
//!
//! Log-gamma comes from `libm` (a port of the reference C library). 2F1 is summed here as
//! a power series because no maintained Rust crate offers it for real arguments; the sum
//! switches to Euler's transformation `2F1(a,b;c;z) = (1-z)^(c-a-b) 2F1(c-a,c-b;c;z)`
//! when `a + b > c`, which turns slowly growing terms into decaying ones near `z = 1`.

/// `ln Γ(x)` for `x > 0`.
pub fn ln_gamma(x: f64) -> f64 {
    libm::lgamma(x)
}

/// The digamma function ψ(x) = d ln Γ(x) / dx for `x > 0` (recurrence up to 10, then the
/// asymptotic series; absolute error below 1e-12).
pub fn digamma(mut x: f64) -> f64 {
    let mut result = 0.0;
    while x < 10.0 {
        result -= 1.0 / x;
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    result + x.ln()
        - 0.5 * inv
        - inv2 * (1.0 / 12.0 - inv2 * (1.0 / 120.0 - inv2 * (1.0 / 252.0 - inv2 * (1.0 / 240.0 - inv2 / 132.0))))
}

/// `ln B(a, b) = ln Γ(a) + ln Γ(b) − ln Γ(a + b)`.
pub fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// `ln(e^x + e^y)` without overflow.
pub fn log_add_exp(x: f64, y: f64) -> f64 {
    if x == f64::NEG_INFINITY {
        return y;
    }
    let m = x.max(y);
    m + ((x - m).exp() + (y - m).exp()).ln()
}

/// Gauss hypergeometric function `2F1(a, b; c; z)` for real `0 <= z < 1` and `c > 0`.
///
/// Returns NaN when the series does not converge within its term budget (it always does
/// for the arguments the models produce: `z` is a ratio of times and stays below 1).
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    if !(0.0..1.0).contains(&z) {
        return f64::NAN;
    }
    if a + b > c && z > 0.0 {
        return (1.0 - z).powf(c - a - b) * series(c - a, c - b, c, z);
    }
    series(a, b, c, z)
}

/// `2F1(a, b; c; z)` at several `z` (each in `[0, 1)`) into `out`, sharing the series'
/// coefficients: they do not depend on `z`, so each term costs one division for all points
/// instead of one per point (a customer's CLV needs 2F1 at the end of every month).
pub fn hyp2f1_many(a: f64, b: f64, c: f64, zs: &[f64], out: &mut [f64]) {
    assert_eq!(zs.len(), out.len(), "one output per z");
    const LANES: usize = 16;
    let euler = a + b > c;
    let (sa, sb) = if euler { (c - a, c - b) } else { (a, b) };
    for (zs, out) in zs.chunks(LANES).zip(out.chunks_mut(LANES)) {
        let n = zs.len();
        let mut term = [1.0_f64; LANES];
        let mut sum = [1.0_f64; LANES];
        let mut done = [false; LANES];
        let mut remaining = 0;
        for j in 0..n {
            if !(0.0..1.0).contains(&zs[j]) {
                sum[j] = f64::NAN;
                done[j] = true;
            } else if zs[j] == 0.0 {
                done[j] = true;
            } else {
                remaining += 1;
            }
        }
        let mut k = 0.0_f64;
        while remaining > 0 && k < 200_000.0 {
            let coefficient = (sa + k) * (sb + k) / ((c + k) * (k + 1.0));
            let next = (sa + k + 1.0) * (sb + k + 1.0) / ((c + k + 1.0) * (k + 2.0));
            for j in 0..n {
                if done[j] {
                    continue;
                }
                term[j] *= coefficient * zs[j];
                sum[j] += term[j];
                if term[j] == 0.0 || (term[j].abs() <= 1e-16 * sum[j].abs() && next * zs[j] < 1.0) {
                    done[j] = true;
                    remaining -= 1;
                }
            }
            k += 1.0;
        }
        for j in 0..n {
            out[j] = if !done[j] {
                f64::NAN
            } else if euler && zs[j] > 0.0 {
                (1.0 - zs[j]).powf(c - a - b) * sum[j]
            } else {
                sum[j]
            };
        }
    }
}

fn series(a: f64, b: f64, c: f64, z: f64) -> f64 {
    const MAX_TERMS: u32 = 200_000;
    let mut term = 1.0_f64;
    let mut sum = 1.0_f64;
    for k in 0..MAX_TERMS {
        let k = f64::from(k);
        term *= (a + k) * (b + k) / ((c + k) * (k + 1.0)) * z;
        sum += term;
        if term == 0.0 {
            return sum;
        }
        // Stop once terms are negligible and shrinking (the ratio tends to z < 1).
        if term.abs() <= 1e-16 * sum.abs() && (a + k + 1.0) * (b + k + 1.0) / ((c + k + 1.0) * (k + 2.0)) * z < 1.0 {
            return sum;
        }
    }
    f64::NAN
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-300)
    }

    #[test]
    fn hyp2f1_many_agrees_with_one_at_a_time() {
        let zs: Vec<f64> = (0..20).map(|i| f64::from(i) * 0.05).collect();
        for (a, b, c) in [(1.0, 1.0, 2.0), (1.6, 5.0, 4.8), (0.6, 4.0, 3.8), (12.5, 15.9, 15.7), (0.3, 0.2, 1.5)] {
            let mut out = vec![0.0; zs.len()];
            hyp2f1_many(a, b, c, &zs, &mut out);
            for (z, v) in zs.iter().zip(&out) {
                assert!(close(*v, hyp2f1(a, b, c, *z), 1e-13), "2F1({a},{b};{c};{z}): {v} vs {}", hyp2f1(a, b, c, *z));
            }
        }
    }

    #[test]
    fn hyp2f1_matches_closed_forms() {
        // 2F1(1,1;2;z) = -ln(1-z)/z
        for z in [0.01_f64, 0.3, 0.5, 0.9, 0.99] {
            let want = -(1.0 - z).ln() / z;
            assert!(close(hyp2f1(1.0, 1.0, 2.0, z), want, 1e-12), "z={z}");
        }
        // 2F1(a,b;b;z) = (1-z)^-a
        for (a, z) in [(0.3, 0.7_f64), (2.5, 0.95), (7.0, 0.2)] {
            let want = (1.0 - z).powf(-a);
            assert!(close(hyp2f1(a, 1.7, 1.7, z), want, 1e-12), "a={a} z={z}");
        }
        // 2F1(1/2,1/2;3/2;z^2) = asin(z)/z
        for z in [0.2_f64, 0.6, 0.95] {
            let want = z.asin() / z;
            assert!(close(hyp2f1(0.5, 0.5, 1.5, z * z), want, 1e-12), "z={z}");
        }
        assert_eq!(hyp2f1(1.0, 1.0, 2.0, 0.0), 1.0);
        assert!(hyp2f1(1.0, 1.0, 2.0, 1.0).is_nan());
    }

    #[test]
    fn digamma_matches_known_values() {
        // ψ(1) = −γ, ψ(1/2) = −γ − 2 ln 2, ψ(x + 1) = ψ(x) + 1/x.
        let euler = 0.577_215_664_901_532_9;
        assert!((digamma(1.0) + euler).abs() < 1e-12);
        assert!((digamma(0.5) + euler + 2.0 * 2f64.ln()).abs() < 1e-12);
        for x in [0.03, 0.7, 3.3, 12.5, 400.0] {
            assert!((digamma(x + 1.0) - digamma(x) - 1.0 / x).abs() < 1e-10, "x={x}");
        }
    }

    #[test]
    fn log_add_exp_is_stable() {
        assert!(close(log_add_exp(1000.0, 1000.0), 1000.0 + 2f64.ln(), 1e-15));
        assert!(close(log_add_exp(-1000.0, -1001.0), -1000.0 + (1.0 + (-1f64).exp()).ln(), 1e-15));
        assert_eq!(log_add_exp(f64::NEG_INFINITY, 3.0), 3.0);
    }
}
