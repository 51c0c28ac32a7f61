//! Planning at scale: N customers × C candidates on synthetic inputs, timed, with the
//! peak resident memory. The customers are made on the fly from their index (each pass
//! reads them again), so the inputs are never in memory all at once.
//!
//! usage: cargo run --release -p unico-offers --example plan_scale -- [customers] [candidates]
//!        [MiB of options kept in memory (default 1024)] [customers per part (default 16384)]

use rand::{Rng, SeedableRng};
use std::time::Instant;
use unico_offers::assign::Kind;
use unico_offers::plan::{CandidateInput, CustomerInput, Customers, Inputs, Status, Step, plan_with};
use unico_offers::policy::{Policy, Product};
use unico_offers::response::ResponseModel;
use unico_offers::stream::Streaming;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).map_or(1_000_000, |v| v.parse().expect("customers"));
    let per: usize = args.get(2).map_or(50, |v| v.parse().expect("candidates"));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let products: Vec<Product> = (0..5000)
        .map(|i| {
            let price = rng.random_range(80..2000);
            Product {
                sku: format!("P{i}"),
                name: format!("product {i}"),
                category: format!("Cat{}", i % 30),
                department: String::new(),
                brand: format!("Brand{}", i % 200),
                supplier: format!("Supplier{}", i % 12),
                list_price_cents: Some(price),
                unit_cost_cents: Some(price * rng.random_range(50..80) / 100),
            }
        })
        .collect();
    let policy = Policy::parse(
        &format!(
            r#"
[campaign]
name = "scale"
valid_from = "2026-03-02"
valid_to = "2026-03-15"
holdout_share = 0.1
offers_per_customer = 3
[budget]
total_cents = {}
basis = "expected"
worst_case_cents = {}
[[budget.limit]]
category = "Cat1"
cents = {}
[[budget.limit]]
supplier = "Supplier3"
cents = {}
supplier_funded = true
[offers]
percent_off = [10, 20, 30]
[margin]
min_margin_after_discount = 0.05
"#,
            n as i64 * 40,
            n as i64 * 200,
            n as i64,
            n as i64 * 2
        ),
        &products,
    )
    .expect("policy");
    let customers = Synthetic { n, per };
    let response = ResponseModel::default().response(&policy.percent_off, None);
    let memory: usize = args.get(3).map_or(1024, |v| v.parse().expect("MiB"));
    let part: usize = args.get(4).map_or(16_384, |v| v.parse().expect("customers per part"));
    let streaming = Streaming { memory_bytes: memory << 20, part_customers: part, ..Streaming::default() };
    // What reading the inputs costs here (made on the fly; the plan reads them three times).
    let t = Instant::now();
    let mut candidates = 0usize;
    customers.read(0, n, &mut |_, c| candidates += c.candidates.len()).expect("made on the fly");
    let read = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut offers = 0usize;
    // When each step began (valuing the options, pricing the budgets, writing the offers).
    let steps = std::sync::Mutex::new(Vec::<(Step, f64)>::new());
    let passes = std::sync::atomic::AtomicU64::new(0);
    let report = |s: Step, done: u64, _: u64| {
        if s == Step::Prices {
            passes.fetch_max(done, std::sync::atomic::Ordering::Relaxed);
        }
        let mut v = steps.lock().expect("steps");
        if v.last().is_none_or(|l| l.0 != s) {
            if let Some(l) = v.last() {
                eprintln!(
                    "{:?} done at {:.1} s, peak memory so far {:.0} MiB",
                    l.0,
                    t.elapsed().as_secs_f64(),
                    peak_mib()
                );
            }
            v.push((s, t.elapsed().as_secs_f64()));
        }
    };
    let p = plan_with(
        &Inputs {
            policy: &policy,
            products: &products,
            categories: &[],
            margin_rate: 0.3,
            customers: &customers,
            generic: &[],
            response: &response,
            secret: b"s",
            explain: None,
        },
        &streaming,
        &mut |_| offers += 1,
        &report,
    )
    .expect("plan");
    let planned = t.elapsed().as_secs_f64();
    let steps = steps.into_inner().expect("steps");
    let took: Vec<String> = steps
        .iter()
        .enumerate()
        .map(|(k, (s, at))| format!("{s:?} {:.1} s", steps.get(k + 1).map_or(planned, |n| n.1) - at))
        .chain(std::iter::once(format!("{} passes", passes.into_inner())))
        .collect();
    let with = p.status.iter().filter(|s| **s == Status::Personal).count();
    println!(
        "{n} customers x {per} candidates: planned in {planned:.1} s ({}; of which reading the made-up inputs 3 x {read:.1} s), peak memory {:.0} MiB ({memory} MiB of options in memory, parts of {part}); {offers} offers to {with} customers; objective {:.0} cents ({:.2} % of the upper bound); expected cost {:.0} of {} cents; multipliers {:?}",
        took.join(", "),
        peak_mib(),
        p.value,
        100.0 * p.value / p.upper_bound,
        p.expected_cost,
        policy.total_cents,
        p.multipliers
    );
}

/// Customers made from their index: the same customer whenever it is read.
struct Synthetic {
    n: usize,
    per: usize,
}

impl Customers for Synthetic {
    fn len(&self) -> usize {
        self.n
    }

    fn read(&self, from: usize, to: usize, f: &mut dyn FnMut(usize, &CustomerInput)) -> std::io::Result<()> {
        for i in from..to {
            let mut rng =
                rand_chacha::ChaCha8Rng::seed_from_u64(0x5eed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let c = CustomerInput {
                key: format!("{i:032x}"),
                segment: ["champions", "loyal", "new", "at_risk"][i % 4].into(),
                store: Some(format!("S{}", i % 40)),
                clv_cents: rng.random_range(0..50_000),
                p_alive: rng.random(),
                sensitivity: rng.random(),
                marketing: true,
                profiling: true,
                candidates: (0..self.per)
                    .map(|_| CandidateInput {
                        product: rng.random_range(0..5000),
                        kind: Kind::CrossSell,
                        p0: rng.random::<f64>().powi(3),
                        affinity: rng.random::<f64>() * 0.6,
                        reason: String::new(),
                    })
                    .collect(),
                blocked: Vec::new(),
                recent_offers: 0,
                categories: Vec::new(),
                spend: Vec::new(),
                person: String::new(),
            };
            f(i, &c);
        }
        Ok(())
    }
}

/// Peak resident memory of this process, MiB (Linux; 0 elsewhere).
fn peak_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|k| k.parse::<f64>().ok()))
        .map_or(0.0, |kib| kib / 1024.0)
}
