//! The models reproduce the published CDNOW fits (Fader, Hardie & Lee 2005) within 1 % on
//! every parameter. Data: the public 1/10 sample of 2,357 customers kept in
//! `tests/data/cdnow/` (so a fresh clone tests it), calibration 1997-01-01 to 1997-09-30,
//! weekly unit.

use std::collections::BTreeMap;
use std::path::PathBuf;
use unico_model::clv::{BgNbd, GammaGamma, ParetoNbd, Summary, TimeUnit, lifetime_value};

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/cdnow")
}

fn day(yyyymmdd: &str) -> i32 {
    let d: jiff::civil::Date = format!("{}-{}-{}", &yyyymmdd[0..4], &yyyymmdd[4..6], &yyyymmdd[6..8]).parse().unwrap();
    unico_core::day::day_of(d)
}

/// Calibration summaries of the sample, in weeks.
fn sample_summaries() -> Vec<Summary> {
    let text = std::fs::read_to_string(data().join("CDNOW_sample.txt")).expect("tests/data/cdnow/CDNOW_sample.txt");
    let mut by_customer: BTreeMap<u32, Vec<(i32, f64)>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        by_customer.entry(f[0].parse().unwrap()).or_default().push((day(f[2]), f[4].parse().unwrap()));
    }
    let end = day("19970930");
    by_customer.values().filter_map(|t| Summary::from_transactions(t, end, TimeUnit::Weeks)).collect()
}

fn within(got: f64, published: f64, rel: f64) -> bool {
    ((got - published) / published).abs() <= rel
}

#[test]
fn sample_is_what_the_papers_used() {
    let s = sample_summaries();
    assert_eq!(s.len(), 2357);
    assert_eq!(s.iter().filter(|s| s.frequency > 0).count(), 946);
    // Customer 1 of Hardie's spreadsheet bought on Jan 1 only: T = 272 days = 38.86 weeks.
    assert!(s.iter().all(|s| s.age <= 39.0 && s.recency <= s.age));
}

#[test]
fn bgnbd_reproduces_published_cdnow_fit() {
    let s = sample_summaries();
    let m = BgNbd::fit(&s, TimeUnit::Weeks).unwrap();
    for (name, got, published) in [("r", m.r, 0.243), ("alpha", m.alpha, 4.414), ("a", m.a, 0.793), ("b", m.b, 2.426)] {
        assert!(within(got, published, 0.01), "BG/NBD {name} = {got}, published {published}");
    }
    assert!((m.log_likelihood - -9582.4).abs() < 0.1, "log-likelihood {}", m.log_likelihood);

    // Weekly and daily fits describe the same customers: alpha in days is 7 times weekly.
    let days: Vec<Summary> = s.iter().map(|s| Summary { recency: s.recency * 7.0, age: s.age * 7.0, ..*s }).collect();
    let d = BgNbd::fit(&days, TimeUnit::Days).unwrap();
    assert!(within(d.alpha, 7.0 * m.alpha, 1e-4) && within(d.r, m.r, 1e-4), "{d:?} vs {m:?}");

    // Paper, figure 4 / Hardie's note: a customer with x=2, t_x=30.43, T=38.86 is expected to
    // make 1.226 purchases in the next 39 weeks.
    let c = Summary { frequency: 2, recency: 30.43, age: 38.86, monetary: 0.0 };
    let e = m.expected_purchases(&c, 39.0);
    assert!((e - 1.226).abs() < 0.005, "E[Y(39)] = {e}");
    let p = m.p_alive(&c);
    assert!(p > 0.0 && p < 1.0);
    // Anyone who never repeated is alive under BG/NBD (dropout happens only after a purchase).
    assert_eq!(m.p_alive(&Summary { frequency: 0, recency: 0.0, age: 30.0, monetary: 0.0 }), 1.0);
}

#[test]
fn pareto_nbd_reproduces_published_cdnow_fit() {
    let s = sample_summaries();
    let m = ParetoNbd::fit(&s, TimeUnit::Weeks).unwrap();
    for (name, got, published) in
        [("r", m.r, 0.55), ("alpha", m.alpha, 10.58), ("s", m.s, 0.61), ("beta", m.beta, 11.67)]
    {
        assert!(within(got, published, 0.01), "Pareto/NBD {name} = {got}, published {published}");
    }
    assert!((m.log_likelihood - -9595.0).abs() < 0.1, "log-likelihood {}", m.log_likelihood);
    let c = Summary { frequency: 2, recency: 30.43, age: 38.86, monetary: 0.0 };
    let p = m.p_alive(&c);
    let e = m.expected_purchases(&c, 39.0);
    assert!(p > 0.5 && p < 1.0 && e > 0.5 && e < 2.0, "p={p} e={e}");
    // The longer since the last purchase, the less likely the customer is still active.
    let stale = Summary { recency: 5.0, ..c };
    assert!(m.p_alive(&stale) < p);
}

#[test]
fn gamma_gamma_reproduces_published_cdnow_fit() {
    let s = sample_summaries();
    let g = GammaGamma::fit(s.iter().map(|s| (s.frequency, s.monetary))).unwrap();
    assert_eq!(g.customers, 946);
    for (name, got, published) in [("p", g.p, 6.25), ("q", g.q, 3.74), ("gamma", g.gamma, 15.44)] {
        assert!(within(got, published, 0.01), "Gamma-Gamma {name} = {got}, published {published}");
    }
    // Fader, Hardie & Lee (2005, "RFM and CLV"): the population mean is p·γ/(q−1) ≈ $35.
    let mean = g.expected_spend(0, 0.0);
    assert!((mean - 35.2).abs() < 0.5, "mean spend {mean}");
    // A customer's expected spend lies between the population mean and their own mean.
    let e = g.expected_spend(3, 80.0);
    assert!(e > mean && e < 80.0, "{e}");

    let m = BgNbd::fit(&s, TimeUnit::Weeks).unwrap();
    let active = Summary { frequency: 6, recency: 36.0, age: 38.0, monetary: 50.0 };
    let lapsed = Summary { recency: 4.0, ..active };
    let clv = lifetime_value(&m, &g, &active, 12, 0.01);
    assert!(clv > lifetime_value(&m, &g, &lapsed, 12, 0.01) && clv > 0.0);
}
