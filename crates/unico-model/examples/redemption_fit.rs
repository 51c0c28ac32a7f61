//! The redemption model's fit at scale: `n` (customer, coupon) rows drawn from a planted
//! logistic model on the thirteen features, fitted as `unico learn --history` fits them.
//! Prints the time, the peak resident memory and the recovered weights; with a second
//! argument, also writes the rows (n × 13 little-endian f64, then n label bytes) for
//! `bench/redemption_vs_sklearn.py` to fit the same rows with scikit-learn.
//!
//! ```sh
//! cargo run --release -p unico-model --example redemption_fit -- 10000000 [rows.bin]
//! ```

use std::io::Write;
use std::time::Instant;
use unico_model::redemption::{Example, NF, RedemptionModel};

/// The planted weights on the raw features (the intercept last).
const PLANTED: [f64; NF + 1] = [-0.4, 0.9, 0.2, -0.3, 1.1, -0.1, 1.5, 0.8, 0.3, 0.4, 0.7, 0.1, 1.2, -2.0];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let made = Instant::now();
    let rows: Vec<Example> = (0..n)
        .map(|i| {
            let mut x = [0.0; NF];
            for v in x.iter_mut() {
                *v = (-2.0 * uniform().max(1e-300).ln()).sqrt() * (std::f64::consts::TAU * uniform()).cos();
            }
            let eta = PLANTED[NF] + x.iter().zip(&PLANTED).map(|(a, b)| a * b).sum::<f64>();
            let p = 1.0 / (1.0 + (-eta).exp());
            Example { campaign: 0, customer: i as u32, x, label: uniform() < p }
        })
        .collect();
    let made = made.elapsed().as_secs_f64();
    if let Some(path) = args.get(2) {
        let mut w = std::io::BufWriter::new(std::fs::File::create(path).expect("create rows file"));
        for r in &rows {
            for v in r.x {
                w.write_all(&v.to_le_bytes()).expect("write");
            }
        }
        for r in &rows {
            w.write_all(&[u8::from(r.label)]).expect("write");
        }
        w.flush().expect("flush");
    }
    let start = Instant::now();
    let m = RedemptionModel::fit(&rows, 1e-3, Vec::new()).expect("fit");
    let fit = start.elapsed().as_secs_f64();
    let raw: Vec<f64> = (0..NF).map(|j| m.weights[j] / m.scales[j]).collect();
    let worst = raw.iter().zip(&PLANTED).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    println!(
        "{n} rows x {NF} features ({:.1} % redeemed): made in {made:.1} s, fitted in {fit:.2} s, peak memory {:.0} MiB; largest error on a planted weight {worst:.3} (L2 shrinks them a little)",
        100.0 * m.positives as f64 / n as f64,
        peak_mib()
    );
    println!(
        "weights on the standardised features: {:?}",
        m.weights.iter().map(|w| (w * 1000.0).round() / 1000.0).collect::<Vec<_>>()
    );
    println!("intercept {:.4}", m.intercept);
}

fn peak_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|k| k.parse::<f64>().ok()))
        .map_or(0.0, |kib| kib / 1024.0)
}
